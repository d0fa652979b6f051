"""Several ocac processes on one store at once: nothing lost, nothing applied twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ocac import history, store
from ocac.instants import format_instant
from ocac.model import State

pytestmark = pytest.mark.slow

TIMEOUT = 60


def spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ocac", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=dict(os.environ),
    )  # fmt: skip


def finish(process: subprocess.Popen[bytes]) -> tuple[int, bytes, bytes]:
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return process.returncode, out, err


def write_store(path: Path, conversations: list[dict[str, object]]) -> None:
    path.write_text(json.dumps({"conversations": conversations}, indent=2), encoding="utf-8")


def test_parallel_changes_lose_nothing(store_path: Path) -> None:
    base = datetime(2026, 11, 25, 12, tzinfo=UTC)
    write_store(store_path, [
        {"id": f"t{i}", "channel": "teams", "state": "open", "modified_on": "2026-11-25T00:00:00Z", "n": i}
        for i in range(8)
    ])  # fmt: skip
    stamps = {f"t{i}": format_instant(base + timedelta(seconds=i)) for i in range(8)}
    processes = [spawn("conversations", "touch", cid, "--now", stamp) for cid, stamp in stamps.items()]
    processes += [spawn("conversations", "add", "--channel", "sms", "--id", f"new{i}", "--now", format_instant(base))
                  for i in range(3)]  # fmt: skip
    processes += [spawn("conversations", "set-state", "t0", "active", "--now", format_instant(base))]
    results = [finish(p) for p in processes]
    assert [code for code, _, _ in results] == [0] * len(processes), [err for _, _, err in results]

    document = store.load(store_path, writable=True)
    by_id = {c.id: c for c in document.conversations}
    assert len(by_id) == 11
    for cid, stamp in stamps.items():
        if cid != "t0":  # t0 was touched and set active: whichever came last set modified_on
            assert format_instant(by_id[cid].modified_on) == stamp, cid
    assert by_id["t0"].state is State.ACTIVE
    assert {f"new{i}" for i in range(3)} <= set(by_id)
    for index, conversation in enumerate(document.conversations):  # unknown fields kept through every rewrite
        if conversation.id.startswith("t"):
            assert store.fields_of(document, index)["n"] == int(conversation.id[1:])
    assert [p.name for p in store_path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_cron_sweep_watch_and_touches_at_once(store_path: Path, config_path: Path) -> None:
    """A watch loop, cron-style sweeps and an agent touching conversations, all on one store."""
    start = datetime.now(UTC)
    chat_due_at = start - timedelta(minutes=20)
    conversations: list[dict[str, object]] = []
    # 60 chats that become due one by one over the next 5 seconds (and 20 already due), and 20 voice
    # calls that become due for wrap-up likewise; the agent touches some of them, the last to become due
    # first, so that some touches come in time and others find the conversation closed.
    for i in range(80):
        modified = chat_due_at + timedelta(milliseconds=80 * (i - 20))
        conversations.append({"id": f"c{i:02d}", "channel": "chat", "state": "open",
                              "modified_on": format_instant(modified), "i": i})  # fmt: skip
    for i in range(20):
        modified = start - timedelta(hours=2) + timedelta(milliseconds=150 * (i - 5))
        conversations.append({"id": f"v{i:02d}", "channel": "voice", "state": "active",
                              "modified_on": format_instant(modified)})  # fmt: skip
    write_store(store_path, conversations)
    original = {str(c["id"]): c for c in conversations}

    watch = spawn("sweep", "watch", "--interval", "1s", "--iterations", "3", "--json")
    cron_outputs: list[bytes] = []
    touched: dict[str, str] = {}  # id → the --now of a touch that succeeded
    refused: list[str] = []
    targets = [f"c{i:02d}" for i in range(79, 19, -5)] + [f"v{i:02d}" for i in range(19, 0, -6)]
    deadline = time.monotonic() + 30
    cron: subprocess.Popen[bytes] | None = None
    for number, cid in enumerate(targets):
        if number % 5 == 0:
            if cron is not None:
                code, out, err = finish(cron)
                assert code == 0, err
                cron_outputs.append(out)
            cron = spawn("sweep", "run", "--json")
        stamp = format_instant(datetime.now(UTC))
        code, _, err = finish(spawn("conversations", "touch", cid, "--now", stamp))
        if code == 0:
            touched[cid] = stamp
        else:
            assert code == 2 and b"is closed" in err, err
            refused.append(cid)
        assert time.monotonic() < deadline
    assert cron is not None
    code, out, err = finish(cron)
    assert code == 0, err
    cron_outputs.append(out)
    code, watch_out, watch_err = finish(watch)
    assert code == 0, watch_err
    assert b"watch stopped: 3 sweep(s)" in watch_err

    # What every sweep reported applying…
    runs = [json.loads(out) for out in cron_outputs] + [json.loads(line) for line in watch_out.splitlines()]
    assert len(runs) == len(cron_outputs) + 3
    reported = [(run["run_id"], t["id"], t["from"], t["to"]) for run in runs for t in run["transitions"]]
    # …is exactly the committed history: nothing lost, nothing applied twice.
    document = store.load(store_path, writable=True)
    entries = list(history.read(store.history_path(store_path), document.meta.last_sweep))
    assert sorted((e.run_id, e.id, e.from_state, e.to_state) for e in entries) == sorted(reported)
    assert store.history_path(store_path).stat().st_size == document.meta.last_sweep.history_size  # type: ignore[union-attr]
    closed = Counter(e.id for e in entries if e.to_state == "closed")
    assert [cid for cid, n in closed.items() if n > 1] == []
    assert len({(e.id, e.from_state) for e in entries}) == len(entries)
    assert len(entries) > 20  # the already-due chats at least

    # The store is what happened: each conversation's state is its last history entry's target
    # (touches do not change states), and its clock is that sweep's or a later touch's.
    last = {e.id: e for e in entries}
    by_id = {c.id: c for c in document.conversations}
    assert list(by_id) == list(original)
    for cid, conversation in by_id.items():
        entry = last.get(cid)
        if entry is None:
            assert str(conversation.state) == original[cid]["state"], cid
            expected_clock = touched.get(cid, original[cid]["modified_on"])
            assert format_instant(conversation.modified_on) == expected_clock, cid
            continue
        assert str(conversation.state) == entry.to_state, cid
        if cid in touched:  # a touch stamped before a sweep may still take the lock after it
            assert format_instant(conversation.modified_on) in (touched[cid], format_instant(entry.at)), cid
            assert conversation.state is not State.CLOSED or closed[cid] == 1
        else:
            assert conversation.modified_on == entry.at, cid
    for cid in refused:  # a touch is refused only once the conversation was closed by a sweep
        assert by_id[cid].state is State.CLOSED and closed[cid] == 1
    for index, conversation in enumerate(document.conversations):
        if conversation.id.startswith("c"):
            assert store.fields_of(document, index)["i"] == int(conversation.id[1:])
    assert [p.name for p in store_path.parent.iterdir() if p.name.endswith(".tmp")] == []
