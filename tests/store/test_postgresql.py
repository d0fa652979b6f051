"""The PostgreSQL store's own promises, against a real server: connecting and failing to, passwords
never shown, the sweep lock between hosts, batches that move only rows still as planned, the server's
clock, index range scans, and tables beside other applications'."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ocac.audit import Audit, HistoryQuery
from ocac.errors import LockTimeout, StoreError, StoreUnavailable
from ocac.model import NOT_CLOSED, Action, Channel, Conversation, State
from ocac.policy import Policy, Workstream, cutoffs
from ocac.store import Dump, Incoming, Selection, open_store
from ocac.store import postgresql as pg
from postgresql_server import PostgreSQLServer, ThrowawayServer, create_schema, url_with_search_path

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
T = "2026-11-25T12:00:00Z"


@pytest.fixture
def url(postgresql_server: PostgreSQLServer) -> str:
    return create_schema(postgresql_server.url(), f"t_{uuid.uuid4().hex[:16]}")


@pytest.fixture(params=["libpq", "psycopg"])
def driver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each of the store's connectors in turn (OCAC_POSTGRESQL_DRIVER)."""
    monkeypatch.setenv("OCAC_POSTGRESQL_DRIVER", request.param)
    return str(request.param)


def test_the_driver_is_libpq_unless_psycopg_is_asked_for(url: str, driver: str) -> None:
    with closing(open_store(url, 1)) as store:
        assert isinstance(store, pg.PostgresStore)
        kind = type(store._connect())
        assert (kind.__module__.split(".")[0], kind.__name__) == (
            ("ocac", "Connection") if driver == "libpq" else ("psycopg", "Connection")
        )


def load(url: str, count: int, *, minutes: int = 30) -> None:
    items = [Incoming(Conversation(f"c{i:05d}", Channel.CHAT, State.OPEN, NOW - timedelta(minutes=minutes + i % 7)))
             for i in range(count)]  # fmt: skip
    with closing(open_store(url, 5)) as store:
        store.fill(Dump(items, [], [], None, count), replace=False, progress=lambda n: None)


def test_a_postgresql_url_chooses_the_postgresql_store(url: str) -> None:
    assert open_store(url, 1).backend == "postgresql"
    assert open_store(url.replace("postgresql://", "postgres://", 1), 1).backend == "postgresql"


@pytest.mark.usefixtures("driver")
def test_an_unreachable_server_is_exit_6_with_one_line_naming_host_and_database(cli: Any, tmp_path: Path) -> None:
    url = f"postgresql://ocac:hunter2@/inventory?host={tmp_path}&port=1"  # no server listens there
    for command in (("status",), ("sweep", "run", "--now", T), ("conversations", "add", "--channel", "chat")):
        result = cli("--store", url, *command)
        assert result.exit_code == 6, (command, result.stderr)
        assert result.stderr.startswith(f"ocac: error: cannot reach PostgreSQL (host {tmp_path}, database inventory): ")
        assert len(result.stderr.splitlines()) == 1
        assert "hunter2" not in result.stderr + result.stdout


@pytest.mark.usefixtures("driver")
def test_a_missing_database_is_exit_6(cli: Any, postgresql_server: PostgreSQLServer) -> None:
    result = cli("--store", postgresql_server.url("no_such_database"), "status")
    assert result.exit_code == 6
    assert "database no_such_database" in result.stderr


@pytest.mark.usefixtures("driver")
def test_the_password_is_masked_wherever_the_url_is_shown(cli: Any, url: str) -> None:
    with_password = url.replace("postgresql://postgres@", "postgresql://postgres:s3cret@", 1)  # trust: not checked
    info = cli("--store", with_password, "store", "info", "--json")
    assert info.exit_code == 0, info.stderr
    assert json.loads(info.stdout)["location"].startswith("postgresql://postgres:***@/")
    assert "s3cret" not in info.stdout
    query_password = f"{url}&password=s3cret"
    shown = cli("--store", query_password, "store", "info")
    assert "s3cret" not in shown.stdout and "password=***" in shown.stdout


def test_tables_live_beside_other_applications_tables(cli: Any, url: str) -> None:
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE TABLE conversations (id text, note text)")
        db.execute("INSERT INTO conversations VALUES ('theirs', 'kept')")
    added = cli("--store", url, "conversations", "add", "--channel", "chat", "--id", "ours", "--now", T)
    assert added.exit_code == 0, added.stderr
    with psycopg.connect(url, autocommit=True) as db:
        assert db.execute("SELECT * FROM conversations").fetchall() == [("theirs", "kept")]
        assert db.execute("SELECT id FROM ocac_conversations").fetchall() == [("ours",)]


def test_the_history_table_is_append_only(url: str) -> None:
    with closing(open_store(url, 5)) as store:
        store.add(Conversation("a", Channel.CHAT, State.OPEN, NOW), Audit("add", NOW, "x"))
    with psycopg.connect(url, autocommit=True) as db:
        for statement in ("UPDATE ocac_history SET by = 'x'", "DELETE FROM ocac_history", "TRUNCATE ocac_history"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                db.execute(statement)


def test_a_second_hosts_sweep_stands_down_while_one_runs(cli: Any, url: str) -> None:
    load(url, 3)
    with psycopg.connect(url, autocommit=True) as other, other.transaction():
        taken = other.execute("SELECT pg_try_advisory_xact_lock(%s, hashtext(current_schema()))", (pg.SWEEP_LOCK,))
        assert taken.fetchone() == (True,)
        result = cli("--store", url, "sweep", "run", "--now", T, "--json")
        assert result.exit_code == 0, result.stderr
        document = json.loads(result.stdout)
        assert (document["moved"], document["applied"]) == (0, False)
        assert document["skipped"].startswith("another sweep is in progress")
        plain = cli("--store", url, "sweep", "run", "--now", T)
        assert plain.exit_code == 0 and "sweep skipped: another sweep is in progress" in plain.stderr
    done = cli("--store", url, "sweep", "run", "--now", T, "--json")
    assert json.loads(done.stdout)["moved"] == 3  # the lock went with the other transaction


def test_stores_in_two_schemas_of_one_database_sweep_independently(postgresql_server: PostgreSQLServer) -> None:
    first, second = (create_schema(postgresql_server.url(), f"t_{uuid.uuid4().hex[:16]}") for _ in range(2))
    load(first, 2)
    load(second, 3)
    with psycopg.connect(first, autocommit=True) as other, other.transaction():
        other.execute("SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", (pg.SWEEP_LOCK,))
        with closing(open_store(second, 5)) as store:
            outcome = store.sweep(Policy(), Audit("other-schema", NOW, "x"))
        assert (outcome.skipped, len(outcome.transitions)) == (None, 3)  # not held up by the first store's sweep
        with closing(open_store(first, 5)) as store:
            assert store.sweep(Policy(), Audit("held", NOW, "x")).skipped is not None


@pytest.mark.usefixtures("driver")
def test_a_mass_sweep_moves_in_batches_with_their_history(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    load(url, 25)
    monkeypatch.setattr(pg, "BATCH", 10)
    batches: list[int] = []
    original = pg._move_batch

    def counting(*args: Any) -> Any:
        batch = original(*args)
        batches.append(sum(batch.counts.values()))
        return batch

    monkeypatch.setattr(pg, "_move_batch", counting)
    with closing(open_store(url, 5)) as store:
        outcome = store.sweep(Policy(), Audit("mass", NOW, "x"))
    assert batches == [10, 10, 5]  # three transactions, soonest due first
    assert len(outcome.transitions) == outcome.count == 25
    with closing(open_store(url, 5)) as store:
        assert len(store.history(HistoryQuery(actions=frozenset({Action.SWEEP})))) == 25
        assert {c.state for c in store.select(Selection())} == {State.CLOSED}


def test_while_batches_run_the_sweep_lock_holds_no_table(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A migration or `store copy --replace` must not queue behind a whole mass sweep."""
    load(url, 5)
    monkeypatch.setattr(pg, "BATCH", 2)
    held: list[list[tuple[str, str]]] = []
    original = pg._move_batch

    def looking(*args: Any) -> Any:
        with psycopg.connect(url, autocommit=True) as other:
            held.append(other.execute(
                "SELECT l.relation::regclass::text, l.mode FROM pg_locks l WHERE l.locktype = 'relation' AND l.pid = "
                "(SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = hashtext(current_schema())::oid)"
            ).fetchall())  # fmt: skip
        return original(*args)

    monkeypatch.setattr(pg, "_move_batch", looking)
    with closing(open_store(url, 5)) as store:
        assert store.sweep(Policy(), Audit("mass", NOW, "x")).count == 5
    assert held == [[], [], []]


@pytest.mark.parametrize(("sqlstate", "kind"), [("40P01", StoreUnavailable), ("40001", StoreUnavailable),
                                                ("28P01", StoreUnavailable), ("55P03", LockTimeout),
                                                ("23505", StoreError), ("22012", StoreError)])  # fmt: skip
def test_server_errors_map_to_exit_codes_by_sqlstate_as_psycopg_classes_them(
    url: str, sqlstate: str, kind: type[Exception]
) -> None:
    store = pg.PostgresStore(url, 1)
    assert type(store._error(pg.libpq.Error("refused", sqlstate))) is kind
    assert type(store._error(psycopg.errors.lookup(sqlstate)("refused"))) is kind


def test_a_touch_committed_while_the_batch_waits_for_its_row_wins_over_the_sweep(url: str) -> None:
    load(url, 3)
    later = NOW + timedelta(minutes=1)
    with psycopg.connect(url) as agent:  # an agent's touch, not yet committed: it holds the row
        agent.execute("UPDATE ocac_conversations SET modified_on = %s WHERE id = 'c00000'", (later,))
        with ThreadPoolExecutor(1) as pool:
            sweeping = pool.submit(sweep_once, url, Audit("late", NOW, "x"))
            wait_until_blocked(agent, sweeping)
            agent.commit()  # the batch's update now sees the touched row, which is no longer as selected
            outcome = sweeping.result(timeout=30)
    assert sorted(t.id for t in outcome.transitions) == ["c00001", "c00002"]
    with closing(open_store(url, 5)) as store:
        touched = store.get("c00000")
        assert touched is not None and (touched.conversation.state, touched.conversation.modified_on) == (
            State.OPEN, later,
        )  # fmt: skip
        assert sorted(r.id or "" for r in store.history(HistoryQuery(actions=frozenset({Action.SWEEP})))) == [
            "c00001", "c00002",
        ]  # fmt: skip


def sweep_once(url: str, audit: Audit) -> Any:
    with closing(open_store(url, 30)) as store:
        return store.sweep(Policy(), audit)


def wait_until_blocked(agent: psycopg.Connection[Any], sweeping: Future[Any]) -> None:
    """Wait until the sweep's batch waits for a row lock that ``agent`` holds."""
    with psycopg.connect(agent.info.dsn, autocommit=True) as watcher:
        for _ in range(3000):
            assert not sweeping.done(), sweeping.result()
            blocked = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                (agent.info.backend_pid,),
            ).fetchone()
            if blocked and blocked[0]:
                return
            time.sleep(0.01)
    raise AssertionError("the sweep never waited for the touched row")


def test_the_instant_of_a_change_is_the_servers_clock() -> None:
    server = ThrowawayServer()
    server.start()
    try:
        store = open_store(create_schema(server.url(), "clock"), 5)
        with psycopg.connect(server.url(), autocommit=True) as db:
            server_now = db.execute("SELECT statement_timestamp()").fetchone()[0]  # type: ignore[index]
        assert abs(store.clock() - server_now) < timedelta(seconds=5)
        assert store.clock().microsecond == 0
        server.stop("immediate")  # the clock is asked of the server, not of this host
        with pytest.raises(StoreUnavailable):
            store.clock()
    finally:
        server.cleanup()


def test_every_cell_is_selected_with_an_index_scan(url: str) -> None:
    load(url, 3000)
    policy = Policy(workstreams={"W": Workstream("W", Channel.SMS, 60, 3000)})
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("ANALYZE ocac_conversations")
        for cell in cutoffs(policy, NOW):
            p = pg.Params("%s")
            query = pg._due_query(cell, None, 50, p)
            plan = " | ".join(row[0] for row in db.execute(f"EXPLAIN {query}", p.values))
            assert "Index" in plan and "Seq Scan on ocac_conversations" not in plan, (cell.rule, plan)


def test_a_due_listing_leaves_out_of_each_cell_what_the_cell_fixes() -> None:
    """At 1M a planner given the CLI's `state IN (…)` beside a cell's `state = …` read whole cells
    through a bitmap and sorted them (~100 ms cold): a cell is given only what it does not fix,
    and the cells a selection excludes are not read at all."""
    policy = Policy(workstreams={"W": Workstream("W", Channel.SMS, 60, 3000)})
    cells = cutoffs(policy, NOW)
    listing = pg._listing_query(cells, Selection(states=NOT_CLOSED), 50)
    assert listing is not None and "c.state IN (%s" not in listing[0]
    assert listing[0].count("UNION ALL") == len(cells) - 1
    only_sms = pg._listing_query(cells, Selection(channels=frozenset({Channel.SMS}), states=NOT_CLOSED), 50)
    assert only_sms is not None  # a cell of any channel is the only one still to test it
    assert only_sms[0].count("c.channel IN (%s") == sum(cell.channel is None for cell in cells)
    assert only_sms[0].count("UNION ALL") == sum(cell.channel in (Channel.SMS, None) for cell in cells) - 1
    assert pg._listing_query(cells, Selection(states=frozenset({State.CLOSED})), 50) is None


def test_a_listing_takes_ties_by_code_point_whatever_the_databases_collation(
    postgresql_server: PostgreSQLServer,
) -> None:
    """`order_due` (and the file stores, and SQLite) order ids by code point; en-US puts a-2 before B-1."""
    name = f"icu_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgresql_server.url(), autocommit=True) as admin:
        try:
            admin.execute(
                f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C' "
                "LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
            )
        except psycopg.Error as error:
            pytest.skip(f"this server has no ICU collations: {error}")
    stamp = NOW - timedelta(hours=1)
    ids = ["b", "a-2", "B-1", "A"]
    items = [Incoming(Conversation(i, Channel.CHAT, State.OPEN, stamp)) for i in ids]
    with closing(open_store(postgresql_server.url(name), 5)) as store:
        store.fill(Dump(items, [], [], None, len(items)), replace=False, progress=lambda n: None)
        listed = store.due(Policy(), NOW, selection=Selection(states=NOT_CLOSED), limit=2)
    assert [t.id for t in listed] == sorted(ids)[:2] == ["A", "B-1"]


def test_a_sweep_batch_reads_each_cell_by_its_index_in_order(url: str) -> None:
    load(url, 3000)
    policy = Policy(workstreams={"W": Workstream("W", Channel.SMS, 60, 3000)})
    cells = cutoffs(policy, NOW)
    with psycopg.connect(url) as db:
        db.execute("ANALYZE ocac_conversations")
        db.execute(pg.Q["batch-plan"])
        for start in (pg._Resume(0, None), pg._Resume(1, (NOW, "c00042"))):
            query, values = pg._batch_query(cells, start, Audit("plan", NOW, "x"), 10_000, details=False)
            plan = "\n".join(row[0] for row in db.execute(f"EXPLAIN {query}", values))
            for bad in (
                "Seq Scan on ocac_conversations",
                "Bitmap",
                "Hash Join",
                "Merge Join",
                "Merge Append",
                "Parallel",
            ):
                assert bad not in plan, (bad, plan)
            # The cells one after the other (a plain Append), the batch's LIMIT straight above them
            lines = plan.splitlines()
            append = next(i for i, line in enumerate(lines) if "->  Append" in line)
            assert "->  Limit" in lines[append - 1], plan
            assert plan.count(" Scan using ocac_conversations_") == len(cells) - start.cell, plan
            assert "Tid Scan on ocac_conversations" in plan, plan  # the update finds each row where it was read


@pytest.mark.parametrize("details", [True, False], ids=["rows", "counts"])
def test_batches_resume_where_the_last_one_stopped_across_cells(
    url: str, monkeypatch: pytest.MonkeyPatch, details: bool
) -> None:
    items = [
        Incoming(Conversation(f"{state}{i}", Channel.CHAT, state, NOW - timedelta(minutes=40 + i)))
        for state in (State.OPEN, State.WRAP_UP)
        for i in range(5)
    ] + [Incoming(Conversation("fresh", Channel.CHAT, State.OPEN, NOW - timedelta(minutes=5)))]
    with closing(open_store(url, 5)) as store:
        store.fill(Dump(items, [], [], None, len(items)), replace=False, progress=lambda n: None)
    monkeypatch.setattr(pg, "BATCH", 4)
    batches: list[dict[tuple[str, str, str], int]] = []
    original = pg._move_batch

    def recording(*args: Any) -> Any:
        batch = original(*args)
        batches.append(batch.counts)
        assert len(batch.rows) == (sum(batch.counts.values()) if details else 0)
        return batch

    monkeypatch.setattr(pg, "_move_batch", recording)
    with closing(open_store(url, 5)) as store:
        outcome = store.sweep(Policy(), Audit("cells", NOW, "x"), details=details)
        history = store.history(HistoryQuery(actions=frozenset({Action.SWEEP})))
    assert [sum(b.values()) for b in batches] == [4, 4, 2]  # the second batch ends one cell and starts the next
    assert {key for b in batches for key in b} == {("chat", "closed", "AutoClosedBySystem")}
    assert outcome.count == 10
    assert sorted(r.id or "" for r in history) == sorted(i.conversation.id for i in items[:-1])  # once each
    expected = [f"{s}{i}" for s in ("wrap-up", "open") for i in range(4, -1, -1)] if details else []
    assert [t.id for t in outcome.transitions] == expected


def test_a_full_batch_whose_rows_all_changed_meanwhile_does_not_end_the_sweep(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [
        Incoming(Conversation(f"c{i}", Channel.CHAT, State.OPEN, NOW - timedelta(minutes=40 + i))) for i in range(10)
    ]
    with closing(open_store(url, 5)) as store:
        store.fill(Dump(items, [], [], None, len(items)), replace=False, progress=lambda n: None)
    monkeypatch.setattr(pg, "BATCH", 4)
    oldest = ["c9", "c8", "c7", "c6"]  # the first batch's rows
    later = NOW + timedelta(minutes=1)
    with psycopg.connect(url) as agent:  # an import touches them while the first batch waits for their locks
        agent.execute("UPDATE ocac_conversations SET modified_on = %s WHERE id = ANY(%s)", (later, oldest))
        with ThreadPoolExecutor(1) as pool:
            sweeping = pool.submit(sweep_once, url, Audit("busy", NOW, "x"))
            wait_until_blocked(agent, sweeping)
            agent.commit()
            outcome = sweeping.result(timeout=30)
    assert sorted(t.id for t in outcome.transitions) == [f"c{i}" for i in range(6)]  # the rest, in this sweep
    with closing(open_store(url, 5)) as store:
        assert {c.id: c.state for c in store.select(Selection())} == {
            f"c{i}": State.OPEN if f"c{i}" in oldest else State.CLOSED for i in range(10)
        }


def test_a_version_1_store_is_migrated_forward_on_the_next_write(cli: Any, url: str) -> None:
    load(url, 3)
    with psycopg.connect(url, autocommit=True) as db:  # what version 1 had: a table the sweep planned into, …
        db.execute("CREATE TABLE ocac_sweep_moves (run_id text NOT NULL, due timestamptz NOT NULL, id text NOT NULL)")
        db.execute("DROP INDEX ocac_conversations_open_case")
        db.execute(
            "CREATE INDEX ocac_conversations_record ON ocac_conversations (record_id) WHERE record_id IS NOT NULL"
        )
        db.execute("CREATE INDEX ocac_conversations_cell ON ocac_conversations (channel, state)")
        db.execute("DELETE FROM ocac_migrations WHERE version > 1")
    status = cli("--store", url, "status", "--json", "--now", T)
    assert status.exit_code == 0, status.stderr  # a reader reads version 1 as it is
    swept = cli("--store", url, "sweep", "run", "--now", T, "--json")
    assert swept.exit_code == 0, swept.stderr
    assert json.loads(swept.stdout)["moved"] == 3
    with psycopg.connect(url, autocommit=True) as db:
        assert [row[0] for row in db.execute("SELECT version FROM ocac_migrations ORDER BY version")] == [1, 2, 3]
        gone = db.execute(
            "SELECT to_regclass('ocac_sweep_moves'), to_regclass('ocac_conversations_record'), "
            "to_regclass('ocac_conversations_cell')"
        )
        assert gone.fetchone() == (None, None, None)
        assert db.execute("SELECT to_regclass('ocac_conversations_open_case') IS NOT NULL").fetchone() == (True,)


def test_a_search_path_names_the_schema(postgresql_server: PostgreSQLServer) -> None:
    base = postgresql_server.url()
    first, second = create_schema(base, "tenant_a"), create_schema(base, "tenant_b")
    load(first, 2)
    with closing(open_store(second, 5)) as store:
        assert store.counts() == {}
    assert url_with_search_path(base, "tenant_a") == first


@pytest.fixture
def own_server() -> Iterator[ThrowawayServer]:
    server = ThrowawayServer()
    server.start()
    yield server
    server.cleanup()


@pytest.mark.usefixtures("driver")
def test_a_server_gone_mid_command_is_exit_6_and_the_next_run_works(cli: Any, own_server: ThrowawayServer) -> None:
    url = create_schema(own_server.url(), "gone")
    load(url, 5)
    own_server.stop("immediate")
    result = cli("--store", url, "sweep", "run", "--now", T)
    assert result.exit_code == 6 and result.stderr.count("\n") == 1
    own_server.start()
    again = cli("--store", url, "sweep", "run", "--now", T, "--json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["moved"] == 5


@pytest.mark.parametrize("timeout", ["0.2", "0"])
@pytest.mark.usefixtures("driver")
def test_a_writer_waits_lock_timeout_for_a_locked_row_then_exits_3(cli: Any, url: str, timeout: str) -> None:
    load(url, 1)
    with psycopg.connect(url, autocommit=True) as other, other.transaction():
        other.execute("SELECT 1 FROM ocac_conversations WHERE id = 'c00000' FOR UPDATE")  # an agent's open change
        result = cli("--store", url, "--lock-timeout", timeout, "conversations", "touch", "c00000", "--now", T)
        assert result.exit_code == 3, result.stderr  # 0 is "do not wait", never PostgreSQL's "wait forever"
        assert "is locked by another writer; gave up after" in result.stderr
    touched = cli("--store", url, "conversations", "touch", "c00000", "--now", T)
    assert touched.exit_code == 0, touched.stderr


@pytest.mark.usefixtures("driver")
def test_ctrl_c_stops_a_lock_wait_on_the_server_too(url: str) -> None:
    """An admin's Ctrl-C ends the command at once, and the server stops waiting for the row."""
    load(url, 1)
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ocac' AND wait_event_type = 'Lock'"
    with psycopg.connect(url, autocommit=True) as other, psycopg.connect(url, autocommit=True) as watch:
        with other.transaction():
            other.execute("SELECT 1 FROM ocac_conversations WHERE id = 'c00000' FOR UPDATE")  # an agent's change
            command = ["--store", url, "--lock-timeout", "300", "conversations", "touch", "c00000", "--now", T]
            process = subprocess.Popen([sys.executable, "-c", INTERACTIVE, *command], stderr=subprocess.PIPE, text=True)
            try:
                until(lambda: watch.execute(waiting).fetchone() == (1,), "the touch waits for the row")
                process.send_signal(signal.SIGINT)
                _, stderr = process.communicate(timeout=30)  # not the 300 s of --lock-timeout
            finally:
                process.kill()
                process.communicate()
            assert process.returncode != 0 and "Traceback" not in stderr, stderr
            until(lambda: watch.execute(waiting).fetchone() == (0,), "the server stops waiting")


INTERACTIVE = """import runpy, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.argv = ["ocac", *sys.argv[1:]]
runpy.run_module("ocac", run_name="__main__")
"""
"""ocac as from a terminal: a shell starts a background job (a test runner, say) with SIGINT
ignored, which its children inherit; Python then never turns SIGINT into KeyboardInterrupt."""


def until(condition: Any, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.02)


@pytest.mark.usefixtures("driver")
def test_each_write_transaction_bounds_its_lock_wait_itself(url: str) -> None:
    """Behind a transaction-pooling PgBouncer a session's SET can land on another server connection."""
    load(url, 1)
    with closing(open_store(url, 0.2)) as store, psycopg.connect(url, autocommit=True) as other:
        assert isinstance(store, pg.PostgresStore)
        store._connect().execute("RESET lock_timeout")  # this session's setting is gone
        with other.transaction():
            other.execute("SELECT 1 FROM ocac_conversations WHERE id = 'c00000' FOR UPDATE")
            with pytest.raises(LockTimeout):
                store.change("c00000", lambda c: c, Action.TOUCH, Audit("t", NOW, "x"))
