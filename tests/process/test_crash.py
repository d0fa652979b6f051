"""kill -9 of `sweep run` at random instants: the store is the old or the new one, and history agrees."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ocac import history, store
from ocac.instants import format_instant
from ocac.model import Conversation
from ocac.policy import Policy, plan

pytestmark = pytest.mark.slow

T0 = datetime(2026, 11, 25, 12, tzinfo=UTC)
SIZE = 3000
KILLS = 20
STEP = timedelta(minutes=10)


def build_store(path: Path, size: int = SIZE) -> None:
    """Chats (20m rule) and voice calls (2h rule) whose ages are spread so that every step moves some."""
    conversations = []
    for i in range(size):
        if i % 5:
            channel, state, age = "chat", "open", timedelta(minutes=21 - (i % 200))
        else:
            channel, state, age = "voice", "active", timedelta(minutes=121 - (i % 300))
        conversations.append({
            "id": f"conv-{i:05d}", "channel": channel, "state": state, "modified_on": format_instant(T0 - age),
            "queue": f"Queue {i % 7}", "customer": {"name": f"Customer {i}", "score": 1.50e3}, "tags": ["a", "b"],
        })  # fmt: skip
    path.write_text(json.dumps({"conversations": conversations}, indent=2), encoding="utf-8")


def committed(path: Path) -> list[history.Entry]:
    return list(history.read(store.history_path(path), store.load(path).meta.last_sweep))


def temp_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.endswith(".tmp"))


def run_sweep(path: Path, now: datetime, kill_after: float | None = None) -> tuple[int, bool]:
    """`sweep run --now NOW` as a process, killed with SIGKILL after `kill_after` seconds unless None.

    Returns the exit status and whether the process had already finished when the kill came.
    """
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "ocac", "--store", str(path), "sweep", "run", "-q", "--now", format_instant(now)],
            stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        finished = True
        if kill_after is not None:
            time.sleep(kill_after)
            finished = process.poll() is not None
            process.send_signal(signal.SIGKILL)
        code = process.wait(timeout=30)
        err.seek(0)
        message = err.read().decode(errors="replace")
    assert code in ((0, -signal.SIGKILL) if kill_after is not None else (0,)), message
    assert code != 0 or message == "", message
    return code, finished


@dataclass
class Outcomes:
    old: int = 0
    new: int = 0
    finished_before_kill: int = 0
    uncommitted_history: int = 0
    temp_left: int = 0


def states(conversations: list[Conversation]) -> list[tuple[str, str, datetime]]:
    return [(c.id, str(c.state), c.modified_on) for c in conversations]


def test_kill_9_during_sweeps(store_path: Path) -> None:
    build_store(store_path)

    # How long an uninterrupted run takes here, on a copy, to aim the kills.
    probe = store_path.with_name("probe.json")
    probe.write_bytes(store_path.read_bytes())
    clock = time.monotonic()
    run_sweep(probe, T0)
    duration = time.monotonic() - clock

    rng = random.Random(20261125)
    outcomes = Outcomes()
    log = store.history_path(store_path)
    all_committed: list[tuple[str, str, str]] = []
    for step in range(KILLS):
        now = T0 + step * STEP
        before_bytes = store_path.read_bytes()
        before = store.load(store_path)
        before_history = committed(store_path)
        due = {t.id: t for t in plan(before.conversations, Policy(), now, before.deleted_records)}

        if step == KILLS - 1:
            kill_after = None  # the last one runs to the end
        elif step == 0:
            kill_after = 0.0  # killed before it can have done anything
        else:
            kill_after = rng.uniform(0.2, 1.2) * duration
        code, finished = run_sweep(store_path, now, kill_after)
        outcomes.finished_before_kill += kill_after is not None and finished and code == 0

        # The store parses, and is the old version or the new one.
        after_bytes = store_path.read_bytes()
        after = store.load(store_path)
        after_history = committed(store_path)
        if after_bytes == before_bytes:
            outcomes.old += 1
            assert after_history == before_history
        else:
            outcomes.new += 1
            marker = after.meta.last_sweep
            assert marker is not None
            assert before.meta.last_sweep is None or marker.run_id != before.meta.last_sweep.run_id
            assert (marker.at, marker.moved) == (format_instant(now), len(due))
            expected = [
                (c.id, str(due[c.id].to_state), now) if c.id in due else (c.id, str(c.state), c.modified_on)
                for c in before.conversations
            ]
            assert states(after.conversations) == expected
            # History committed by that run == the conversations the store shows as moved by it.
            assert after_history[: len(before_history)] == before_history
            new_entries = after_history[len(before_history) :]
            assert {e.run_id for e in new_entries} == {marker.run_id}
            moved = [(c.id, str(c.state)) for c, old in zip(after.conversations, before.conversations, strict=True)
                     if (c.state, c.modified_on) != (old.state, old.modified_on)]  # fmt: skip
            assert [(e.id, e.to_state) for e in new_entries] == moved
            assert all(e.at == now for e in new_entries)
            all_committed.extend((e.run_id, e.id, e.to_state) for e in new_entries)
        marker = after.meta.last_sweep
        outcomes.uncommitted_history += history.size(log) > (marker.history_size if marker else 0)
        outcomes.temp_left += bool(temp_files(store_path))

    assert outcomes.old >= 1 and outcomes.new >= 1, outcomes

    # The next run cleans up whatever a killed one left, and store and history agree.
    final_now = T0 + KILLS * STEP
    run_sweep(store_path, final_now)
    assert temp_files(store_path) == []
    document = store.load(store_path)
    marker = document.meta.last_sweep
    assert marker is not None and history.size(log) == marker.history_size
    entries = committed(store_path)
    assert [(e.run_id, e.id, e.to_state) for e in entries[: len(all_committed)]] == all_committed
    last = {e.id: e for e in entries}
    for conversation in document.conversations:
        entry = last.get(conversation.id)
        if entry is not None:
            assert (str(conversation.state), conversation.modified_on) == (entry.to_state, entry.at)
    closed = Counter(e.id for e in entries if e.to_state == "closed")
    assert [cid for cid, n in closed.items() if n > 1] == []
    assert outcomes.new + outcomes.old == KILLS


def test_stale_temp_file_is_removed_by_the_next_run(store_path: Path) -> None:
    build_store(store_path, 50)
    leftover = store_path.with_name(f".{store_path.name}.deadbeef0000.tmp")
    leftover.write_bytes(b'{"conversations": [')  # a writer killed half-way
    run_sweep(store_path, T0 - timedelta(days=1))  # nothing due: it still cleans up under the lock
    assert not leftover.exists()
    assert os.path.exists(store_path)


KILL_POINTS = {
    # History not yet appended (the new store is being written beside the old one, concurrently).
    "before history": "from ocac import history as m; name = 'append'; after = False",
    # History appended, store not yet renamed: the history has a tail the store does not know.
    "before rename": "from ocac import history as m; name = 'append'; after = True",
    # Renamed into place, folder not yet fsynced.
    "after rename": "from ocac import fsutil as m; name = '_fsync_folder'; after = False",
}
KILLER = """
import os, signal, sys
{point}
real = getattr(m, name)
def hook(*args, **kwargs):
    if after:
        real(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
setattr(m, name, hook)
from ocac.cli import main
sys.argv = ["ocac", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_kill_at_each_step_of_the_commit(store_path: Path, point: str) -> None:
    build_store(store_path, 400)
    run_sweep(store_path, T0)  # a committed sweep first, so that history has a committed part
    before_bytes = store_path.read_bytes()
    before = store.load(store_path)
    before_history = committed(store_path)
    log = store.history_path(store_path)
    size = history.size(log)
    now = T0 + STEP
    due = plan(before.conversations, Policy(), now, before.deleted_records)
    assert due

    code = subprocess.run(
        [sys.executable, "-c", KILLER.format(point=KILL_POINTS[point]), "--store", str(store_path), "sweep", "run",
         "-q", "--now", format_instant(now)],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=30, check=False,
    ).returncode  # fmt: skip
    assert code == -signal.SIGKILL

    if point == "after rename":
        assert store_path.read_bytes() != before_bytes
        entries = committed(store_path)
        assert [e.id for e in entries[len(before_history) :]] == [t.id for t in due]
        assert history.size(log) == store.load(store_path).meta.last_sweep.history_size  # type: ignore[union-attr]
    else:
        assert store_path.read_bytes() == before_bytes
        assert committed(store_path) == before_history
        tail = [json.loads(line) for line in log.read_bytes()[size:].splitlines()]
        if point == "before history":
            assert tail == []
        else:  # appended but never committed: not shown, and rolled back by the next writer
            assert [line["id"] for line in tail] == [t.id for t in due]
            assert len({line["run_id"] for line in tail}) == 1

    # The next run repairs what is left and applies every due move exactly once.
    run_sweep(store_path, now)
    assert temp_files(store_path) == []
    document = store.load(store_path)
    assert history.size(log) == document.meta.last_sweep.history_size  # type: ignore[union-attr]
    entries = committed(store_path)
    assert entries[: len(before_history)] == before_history
    assert sorted(e.id for e in entries[len(before_history) :]) == sorted(t.id for t in due)
    by_id = {c.id: c for c in document.conversations}
    for t in due:
        assert (by_id[t.id].state, by_id[t.id].modified_on) == (t.to_state, now)
