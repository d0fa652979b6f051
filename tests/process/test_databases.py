"""The database stores as processes: several sweeps at once (as several hosts' cron would run them)
while agents touch conversations, a sweeper killed with -9, and a PostgreSQL server stopped mid-sweep.

Invariants, whatever the interleaving: every due conversation is moved exactly once, with exactly
one history record; every acknowledged touch stands (no sweep undoes it); and the store and its
history agree (a conversation a sweep closed has its record, and no record names a move the
store does not show).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from conftest import ROOT
from ocac.audit import HistoryQuery
from ocac.model import Action, Channel, Conversation, State
from ocac.store import Dump, Incoming, Selection, open_store
from postgresql_server import PostgreSQLServer, ThrowawayServer, create_schema

T = "2026-11-25T12:00:00Z"
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
DEADLINE = 120.0


def ocac(store: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "ocac", "--store", store, "--lock-timeout", "60", *args]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def fill(store: str, due: int, fresh: int) -> None:
    """`due` chat conversations idle 30 minutes (due at T), `fresh` idle 5 (not due)."""
    items = [Incoming(Conversation(f"due-{i:06d}", Channel.CHAT, State.OPEN, NOW - timedelta(minutes=30)))
             for i in range(due)]  # fmt: skip
    items += [Incoming(Conversation(f"fresh-{i:06d}", Channel.CHAT, State.OPEN, NOW - timedelta(minutes=5)))
              for i in range(fresh)]  # fmt: skip
    with closing(open_store(store, 30)) as target:
        target.fill(Dump(items, [], [], None, len(items)), replace=False, progress=lambda n: None)


def wait_all(processes: list[subprocess.Popen[bytes]]) -> list[tuple[int, bytes, bytes]]:
    results = []
    for process in processes:
        out, err = process.communicate(timeout=DEADLINE)
        results.append((process.returncode, out, err))
    return results


def check_agreement(store: str) -> tuple[set[str], Counter[str]]:
    """The closed conversations and the sweep records agree one to one; returns both."""
    with closing(open_store(store, 30)) as opened:
        closed = {c.id for c in opened.select(Selection(states=frozenset({State.CLOSED})))}
        records = Counter(r.id or "" for r in opened.history(HistoryQuery(actions=frozenset({Action.SWEEP}))))
    assert set(records) == closed, (len(records), len(closed))
    assert all(n == 1 for n in records.values()), [i for i, n in records.items() if n > 1][:5]
    return closed, records


def concurrent_sweeps_and_touches(store: str, sweepers: int) -> None:
    due, fresh = 1500, 300
    fill(store, due, fresh)
    targets = [f"due-{i:06d}" for i in range(0, due, 250)] + [f"fresh-{i:06d}" for i in range(0, fresh, 75)]
    processes = [subprocess.Popen(ocac(store, "sweep", "run", "--now", T, "--json"), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=environment()) for _ in range(sweepers)]  # fmt: skip
    touchers = [subprocess.Popen(ocac(store, "conversations", "touch", cid, "--now", T), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=environment()) for cid in targets]  # fmt: skip
    swept = wait_all(processes)
    touched = wait_all(touchers)
    assert all(code == 0 for code, _, _ in swept), [err for _, _, err in swept]
    moved = sum(json.loads(out)["moved"] for _, out, _ in swept)
    closed, _ = check_agreement(store)
    acknowledged = {cid for cid, (code, _, _) in zip(targets, touched, strict=True) if code == 0}
    refused = {cid for cid, (code, _, err) in zip(targets, touched, strict=True) if code == 2 and b"closed" in err}
    assert acknowledged | refused == set(targets), [err for code, _, err in touched if code not in (0, 2)][:3]
    with closing(open_store(store, 30)) as opened:
        for cid in acknowledged:  # a touch that was acknowledged stands: no sweep moved it afterwards
            stored = opened.get(cid)
            assert stored is not None and (stored.conversation.state, stored.conversation.modified_on) == (
                State.OPEN, NOW,
            ), cid  # fmt: skip
    assert refused <= closed  # a touch was refused only because a sweep had closed the conversation
    assert moved == len(closed) == due - len(acknowledged & {t for t in targets if t.startswith("due")})


def test_three_sqlite_sweeps_at_once_with_touches(tmp_path: Path) -> None:
    concurrent_sweeps_and_touches(str(tmp_path / "s.sqlite"), 3)


def test_four_postgresql_sweeps_at_once_with_touches(postgresql_server: PostgreSQLServer) -> None:
    store = create_schema(postgresql_server.url(), f"t_{uuid.uuid4().hex[:16]}")
    concurrent_sweeps_and_touches(store, 4)


def poll(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def kill_mid_sweep_then_finish(store: str, started: Callable[[], bool]) -> int:
    """Start a sweep, kill -9 it once `started` says it is under way; check agreement; sweep again."""
    sweep = subprocess.Popen(ocac(store, "sweep", "run", "--now", T, "--quiet"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=environment())  # fmt: skip
    poll(lambda: started() or sweep.poll() is not None, "the sweep to start writing")
    os.kill(sweep.pid, signal.SIGKILL)
    sweep.communicate(timeout=DEADLINE)
    closed_before, _ = check_agreement(store)
    again = subprocess.run(ocac(store, "sweep", "run", "--now", T, "--json"), capture_output=True,
                           timeout=DEADLINE, env=environment())  # fmt: skip
    assert again.returncode == 0, again.stderr
    closed_after, _ = check_agreement(store)
    assert closed_before <= closed_after
    return len(closed_before)


def test_a_sqlite_sweep_killed_with_9_leaves_all_or_nothing(tmp_path: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    fill(store, 30_000, 1000)
    wal = tmp_path / "s.sqlite-wal"
    moved_before = kill_mid_sweep_then_finish(store, lambda: wal.exists() and wal.stat().st_size > 1 << 20)
    assert moved_before in (0, 30_000)  # one transaction: nothing or everything
    assert len(check_agreement(store)[0]) == 30_000


@pytest.fixture(scope="module")
def own_server() -> Iterator[ThrowawayServer]:
    """A server of this module's own: its tests stop it."""
    server = ThrowawayServer()
    server.start()
    yield server
    server.cleanup()


def history_rows(url: str) -> Callable[[], bool]:
    def any_committed() -> bool:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=5) as db:
                row = db.execute("SELECT count(*) FROM ocac_history WHERE action = 'sweep'").fetchone()
                return bool(row and row[0])
        except psycopg.Error:
            return False

    return any_committed


def test_a_postgresql_sweeper_killed_with_9_mid_batch_leaves_whole_batches(own_server: ThrowawayServer) -> None:
    store = create_schema(own_server.url(), "killed")
    fill(store, 30_000, 1000)
    moved_before = kill_mid_sweep_then_finish(store, history_rows(store))
    assert moved_before % 10_000 == 0 and moved_before < 30_000  # whole batches of 10 000, and not all
    assert len(check_agreement(store)[0]) == 30_000


def test_a_server_stopped_mid_sweep_is_a_clear_error_then_a_normal_sweep(own_server: ThrowawayServer) -> None:
    store = create_schema(own_server.url(), "stopped")
    fill(store, 30_000, 1000)
    sweep = subprocess.Popen(ocac(store, "sweep", "run", "--now", T), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=environment())  # fmt: skip
    poll(history_rows(store), "the first batch")
    own_server.stop("immediate")
    _, err = sweep.communicate(timeout=DEADLINE)
    own_server.start()
    if sweep.returncode == 0:
        pytest.skip("the sweep finished before the server stopped (a very fast machine)")
    assert sweep.returncode == 6
    lines = err.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ocac: error: cannot reach PostgreSQL (host ")
    moved_before = len(check_agreement(store)[0])
    assert moved_before % 10_000 == 0
    again = subprocess.run(ocac(store, "sweep", "run", "--now", T, "--json"), capture_output=True,
                           timeout=DEADLINE, env=environment())  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["moved"] == 30_000 - moved_before
    assert len(check_agreement(store)[0]) == 30_000
