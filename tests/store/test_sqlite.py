"""The SQLite store's own promises: how it is chosen, WAL and BEGIN IMMEDIATE, its schema, its indexes,
and that a file which is not an ocac database is refused and left alone."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from ocac.audit import Audit, HistoryQuery
from ocac.errors import StoreError
from ocac.instants import parse_instant
from ocac.interchange import Format, read_import_files
from ocac.model import Channel, Conversation, State
from ocac.policy import Policy, Workstream, cutoffs
from ocac.store import Dump, Incoming, Selection, open_store
from ocac.store.sqlite import MIGRATIONS, SCHEMA_VERSION, Q, SqliteStore, _due_query, _statements

T = "2026-11-25T12:00:00Z"


def add(cli: Any, store: Path | str, cid: str = "a") -> None:
    result = cli("--store", str(store), "conversations", "add", "--channel", "chat", "--id", cid, "--now", T)
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("name", ["s.sqlite", "s.sqlite3", "s.db", "S.DB"])
def test_a_path_with_a_database_suffix_is_a_sqlite_store(tmp_path: Path, name: str) -> None:
    assert isinstance(open_store(str(tmp_path / name), 1), SqliteStore)


def test_a_sqlite_url_names_an_absolute_path(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "by-url.sqlite"
    add(cli, f"sqlite://{path}")
    assert path.exists()
    relative = cli("--store", "sqlite://relative.db", "status")
    assert (relative.exit_code, relative.stderr) == (
        2, "ocac: error: store 'sqlite://relative.db': a sqlite URL needs an absolute path: sqlite:///ABSOLUTE/PATH\n"
    )  # fmt: skip


def test_the_schema_is_made_on_the_first_write_in_wal_mode(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    listed = cli("--store", str(path), "conversations", "list", "--json", "--now", T)
    assert (listed.exit_code, listed.stdout) == (0, "[]\n")
    assert not path.exists()  # reading makes nothing
    add(cli, path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT max(version) FROM ocac_migrations").fetchone()[0] == SCHEMA_VERSION
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"ocac_conversations", "ocac_history", "ocac_deleted_records", "ocac_sweeps"} <= tables


def test_a_writer_waits_lock_timeout_then_exits_3_and_readers_are_not_blocked(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    add(cli, path)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the database
    try:
        result = cli("--store", str(path), "--lock-timeout", "0.2", "conversations", "touch", "a", "--now",
                     "2026-11-25T12:05:00Z")  # fmt: skip
        assert result.exit_code == 3
        assert result.stderr == (
            f"ocac: error: store {path} is locked by another writer; gave up after 0.2s: "
            "try again, or raise --lock-timeout\n"
        )
        shown = cli("--store", str(path), "conversations", "show", "a", "--json", "--now", T)
        assert shown.exit_code == 0, shown.stderr  # WAL: a reader does not wait for the writer
    finally:
        other.execute("ROLLBACK")
        other.close()
    stored = open_store(str(path), 1).get("a")
    assert stored is not None and stored.conversation.modified_on == parse_instant(T)


BAD_FILES = {
    "a JSON store named .db": b'{"conversations": []}',
    "garbage": b"\x00\x01garbage that is not a database",
    "text": b"SQLite format 2 - not quite",
}


@pytest.mark.parametrize("content", list(BAD_FILES))
@pytest.mark.parametrize(
    "command",
    [("status",), ("conversations", "add", "--channel", "chat", "--now", T), ("sweep", "run", "--now", T)],
    ids=["read", "add", "sweep"],
)
def test_a_file_that_is_not_an_ocac_database_is_refused_and_left_alone(
    cli: Any, tmp_path: Path, content: str, command: tuple[str, ...]
) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(BAD_FILES[content])
    result = cli("--store", str(path), *command)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"ocac: error: store {path} is not a SQLite database")
    assert len(result.stderr.splitlines()) == 1
    assert path.read_bytes() == BAD_FILES[content]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "s.db"]


def test_a_fifo_named_as_a_database_is_refused_at_once(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    os.mkfifo(path)
    result = cli("--store", str(path), "status")
    assert result.exit_code == 4 and "not a regular file" in result.stderr


def test_a_database_with_a_newer_schema_is_refused(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    add(cli, path)
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO ocac_migrations (version, applied_at) VALUES (99, 'later')")
    for command in (("status",), ("conversations", "touch", "a", "--now", T)):
        result = cli("--store", str(path), *command)
        assert result.exit_code == 2
        assert "has schema version 99, newer than this ocac knows (4): upgrade ocac" in result.stderr


def _indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ocac_conversations_%'")
        return {row[0] for row in rows}


def database_at(path: Path, version: int) -> None:
    """A database as ocac's schema ``version`` made it, with conversations a, b (chat) and k (an open case whose
    record R is deleted), and history: a added, a touched, b added, then a record about x, no longer stored."""
    with sqlite3.connect(path) as db:
        db.execute(Q["create-migrations"])
        for number in range(1, version + 1):
            for name in MIGRATIONS[number]:
                for statement in _statements(Q[name]):
                    db.execute(statement)
            db.execute(Q["record-migration"], (number, "2026-11-01T00:00:00Z"))
        now = parse_micros(T)
        rows = (("a", "chat", "open", now, None), ("b", "chat", "open", now, None), ("k", "case", "open", 0, "R"))
        db.executemany(
            "INSERT INTO ocac_conversations (id, channel, state, modified_us, record_id) VALUES (?, ?, ?, ?, ?)", rows
        )
        db.execute("INSERT INTO ocac_deleted_records VALUES ('R')")
        for cid, action in (("a", "add"), ("a", "touch"), ("b", "add"), ("x", "add")):
            db.execute("INSERT INTO ocac_history (run_id, action, at_us, conversation_id) VALUES ('old', ?, 0, ?)",
                       (action, cid))  # fmt: skip


def parse_micros(text: str) -> int:
    return int(parse_instant(text).timestamp() * 1_000_000)


def test_a_version_1_database_is_migrated_forward_on_the_next_write(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    database_at(path, 1)
    assert "ocac_conversations_cell" in _indexes(path)
    status = cli("--store", str(path), "status", "--json", "--now", T)
    assert status.exit_code == 0, status.stderr  # a reader reads version 1 as it is
    due = cli("--store", str(path), "conversations", "list", "--due", "--json", "--now", T)
    assert [c["id"] for c in json.loads(due.stdout)] == ["k"], due.stderr  # by the record index of version 1
    old_history = cli("--store", str(path), "history", "--id", "a", "--json")
    assert [e["action"] for e in json.loads(old_history.stdout)] == ["add", "touch"], old_history.stderr
    touched = cli("--store", str(path), "conversations", "touch", "a", "--now", "2026-11-25T12:05:00Z")
    assert touched.exit_code == 0, touched.stderr
    assert _indexes(path) == {
        "ocac_conversations_due", "ocac_conversations_workstream", "ocac_conversations_open_case",
        "ocac_conversations_channel",
    }  # fmt: skip
    with sqlite3.connect(path) as db:
        versions = [row[0] for row in db.execute("SELECT version FROM ocac_migrations ORDER BY version")]
        assert versions == list(range(1, SCHEMA_VERSION + 1))
        history_indexes = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ocac_history'"
        )
        assert [row[0] for row in history_indexes] == ["ocac_history_at"]  # the chains replace the conversation index
    again = cli("--store", str(path), "status", "--json", "--now", T)
    assert json.loads(again.stdout)["counts"] == json.loads(status.stdout)["counts"]
    assert [c.id for c in open_store(str(path), 1).select(Selection())] == ["a", "b", "k"]
    due_again = cli("--store", str(path), "conversations", "list", "--due", "--json", "--now", T)
    assert due_again.stdout == due.stdout  # by the index of open case conversations
    for cid, actions in (("a", ["add", "touch", "touch"]), ("b", ["add"]), ("x", ["add"]), ("k", [])):
        listed = cli("--store", str(path), "history", "--id", cid, "--json")
        assert [e["action"] for e in json.loads(listed.stdout)] == actions, (cid, listed.stderr)


def test_other_applications_tables_are_left_alone(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE conversations (id TEXT, note TEXT)")
        db.execute("INSERT INTO conversations VALUES ('theirs', 'kept')")
    add(cli, path, "ours")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT * FROM conversations").fetchall() == [("theirs", "kept")]
    assert [c.id for c in open_store(str(path), 1).select(Selection())] == ["ours"]


def test_the_history_table_is_append_only(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    add(cli, path)
    with sqlite3.connect(path) as db:
        for statement in ("UPDATE ocac_history SET by = 'x'", "DELETE FROM ocac_history"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(statement)


def test_every_cell_is_selected_with_an_index_range_scan(tmp_path: Path) -> None:
    policy = Policy(workstreams={"W": Workstream("W", Channel.SMS, 60, 3000)})
    store = SqliteStore(tmp_path / "s.sqlite", 1)
    now = parse_instant(T)
    store.fill(Dump([Incoming(Conversation("a", Channel.CHAT, State.OPEN, now))], [], [], None), replace=False,
               progress=lambda n: None)  # fmt: skip
    db = sqlite3.connect(store.path)
    db.execute("ANALYZE")
    for cell in cutoffs(policy, now):
        query, values = _due_query(cell, None, 50, SCHEMA_VERSION)
        plan = " | ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {query}", values))
        assert "USING INDEX ocac_conversations_" in plan or "USING COVERING INDEX ocac_conversations_" in plan, (
            cell.rule, plan,
        )  # fmt: skip
        assert "SCAN c" not in plan, (cell.rule, plan)  # never a scan of the whole table
    for name, values in (("channel-counts", ()), ("not-closed-counts", ()), ("oldest-in-cell", ("chat", "open"))):
        plan = " | ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {Q[name]}", values))
        assert "USING COVERING INDEX ocac_conversations_" in plan, (name, plan)  # status reads no rows
        assert name != "oldest-in-cell" or "TEMP B-TREE" not in plan, plan  # the first entry of a range, not a sort


def test_unknown_fields_are_kept_as_json_text(tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps([{"id": "a", "channel": "chat", "state": "open", "modified_on": T,
                                   "customer": {"name": "Zoë"}, "score": 1.5}]))  # fmt: skip
    store = SqliteStore(tmp_path / "s.sqlite", 1)
    imported = read_import_files([source], Format.JSON, set())
    audit = Audit("r", parse_instant(T), "x")
    store.import_conversations(imported.conversations, [], audit, replace=False, dry_run=False, source="in.json")
    with sqlite3.connect(store.path) as db:
        (extra,) = db.execute("SELECT extra FROM ocac_conversations").fetchone()
    assert json.loads(extra) == {"customer": {"name": "Zoë"}, "score": 1.5}


def test_counts_read_one_state_while_a_writer_adds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SqliteStore(tmp_path / "s.sqlite", 1)
    now = parse_instant(T)
    store.fill(Dump([Incoming(Conversation("a", Channel.CHAT, State.OPEN, now))], [], [], None), replace=False,
               progress=lambda n: None)  # fmt: skip
    original = store._rows

    def a_writer_adds_between_reads(sql: str, params: Any = ()) -> list[Any]:
        rows = original(sql, params)
        with sqlite3.connect(store.path) as other:  # another process adds a conversation meanwhile
            other.execute("INSERT OR IGNORE INTO ocac_conversations (id, channel, state, modified_us) "
                          "VALUES ('b', 'chat', 'open', 0)")  # fmt: skip
        return rows

    monkeypatch.setattr(store, "_rows", a_writer_adds_between_reads)
    assert store.counts() == {(Channel.CHAT, State.OPEN): 1}  # not "1 closed" from two different states
    monkeypatch.undo()
    assert store.counts() == {(Channel.CHAT, State.OPEN): 2}


def test_a_sweep_that_fails_half_way_through_its_update_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    now = parse_instant("2026-11-25T12:00:00Z")
    early = [now.replace(hour=10, minute=i) for i in range(6)]
    items = [Incoming(Conversation(f"c{i}", Channel.CHAT, State.OPEN, at)) for i, at in enumerate(early)]
    store = open_store(str(path), 1)
    store.fill(Dump(items, [], [], None, len(items)), replace=False, progress=lambda n: None)
    with sqlite3.connect(path) as db:  # the fourth row's update fails after three have been made
        db.execute("CREATE TRIGGER fail_c3 BEFORE UPDATE ON ocac_conversations WHEN OLD.id = 'c3' "
                   "BEGIN SELECT RAISE(FAIL, 'c3 refuses'); END")  # fmt: skip
    with pytest.raises(StoreError, match="c3 refuses"):
        store.sweep(Policy(), Audit("failing", now, "test"))
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM ocac_conversations WHERE state <> 'open'").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM ocac_history").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM ocac_sweeps").fetchone() == (0,)


def test_a_reader_follows_a_migration_made_by_another_process(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    database_at(path, 2)  # version 2: deleted-record cells read the record index
    now = parse_instant(T)
    reader = open_store(str(path), 1)  # a long-lived reader, as `sweep watch` or `status` are
    assert [t.id for t in reader.due(Policy(), now)] == ["k"]
    touched = cli("--store", str(path), "conversations", "touch", "a", "--now", T)  # migrates to version 3
    assert touched.exit_code == 0, touched.stderr
    assert "ocac_conversations_record" not in _indexes(path)
    assert [t.id for t in reader.due(Policy(), now)] == ["k"]  # by the index the database has now
    assert reader.count_due(Policy(), now) == {Channel.CASE: 1}
    reader.close()


def test_a_conversations_history_is_read_by_its_chain_not_a_scan(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    add(cli, path, "a")
    store = SqliteStore(path, 1)
    with closing(store):
        connection = store._reader()
        assert connection is not None
        for query in (HistoryQuery(id="a"), HistoryQuery(id="a", limit=5, newest_first=True)):
            captured: list[str] = []
            connection.set_trace_callback(captured.append)
            assert [r.id for r in store.history(query)] == ["a"]
            connection.set_trace_callback(None)
            sql = next(text for text in captured if "FROM ocac_history" in text and "WITH RECURSIVE" in text)
            plan = [row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}")]
            assert not any(step.startswith(("SCAN ocac_history", "SCAN h")) for step in plan), (query, plan)
            assert "SEARCH ocac_history USING INTEGER PRIMARY KEY (rowid=?)" in plan, (query, plan)
