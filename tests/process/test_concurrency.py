"""Many ocac processes on one store and one config at once: nothing lost, nothing applied twice, bounded in time.

`test_writers_and_readers_at_once` runs sweeps (with a moving --now), touch, set-state, add, import,
config set and workstream set, plus readers, for a bounded time; every change is audited, so the
committed trail replayed from the initial store must give the final store exactly, and hold exactly
the changes the commands acknowledged (see `_scenarios.concurrency`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ocac.config import load_config
from ocac.errors import OcacError
from ocac.instants import format_instant, parse_instant
from ocac.model import Action, State
from ocac.store import Selection

from ._scenarios import REFUSALS, concurrency, replay
from ._support import (
    ENV,
    WAIT,
    as_shown,
    assert_clean_failure,
    by_run,
    committed,
    generate_store,
    history_shown,
    hold_lock,
    kill,
    ocac_argv,
    opened,
    run,
    snapshot,
    temp_files,
    trail_tail,
    write_store_and_config,
)

pytestmark = pytest.mark.slow
if sys.platform != "linux":  # pragma: no cover
    pytestmark = [pytestmark, pytest.mark.skip(reason="flock semantics are tested on Linux")]

SECONDS = 5
NOW = "2026-11-25T12:00:00Z"


def test_writers_and_readers_at_once(tmp_path: Path) -> None:
    report = concurrency(tmp_path, seconds=SECONDS, count=3000, seed=6)
    print(f"\nconcurrency: {report.line()}")
    assert report.most_at_once >= 6
    assert report.sweeps_committed >= 1
    assert report.commands >= 8 * 3  # every worker ran at least three commands


def spawn(store_path: Path, config_path: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ocac_argv(store_path, config_path, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, env=ENV,
    )  # fmt: skip


def finish(process: subprocess.Popen[bytes]) -> tuple[int, bytes, bytes]:
    try:
        out, err = process.communicate(timeout=WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return process.returncode, out, err


def test_cron_sweeps_a_watch_loop_and_touches_at_once(tmp_path: Path) -> None:
    """A watch loop, cron-style sweeps and an agent touching conversations, all on one store, on the real clock."""
    store_path, config_path = tmp_path / "conversations.json", tmp_path / "config.toml"
    config_path.write_text("")  # the defaults: chats close after 20m open, voice calls wrap up after 2h active
    start = datetime.now(UTC)
    chat_due_at = start - timedelta(minutes=20)
    conversations: list[dict[str, object]] = []
    # 60 chats that become due one by one over the next 3 seconds (and 20 already due), and 20 voice
    # calls that become due for wrap-up likewise; the agent touches some of them, the last to become due
    # first, so that some touches come in time and others find the conversation closed.
    for i in range(80):
        modified = chat_due_at + timedelta(milliseconds=50 * (i - 20))
        conversations.append({"id": f"c{i:02d}", "channel": "chat", "state": "open",
                              "modified_on": format_instant(modified), "i": i})  # fmt: skip
    for i in range(20):
        modified = start - timedelta(hours=2) + timedelta(milliseconds=100 * (i - 5))
        conversations.append({"id": f"v{i:02d}", "channel": "voice", "state": "active",
                              "modified_on": format_instant(modified)})  # fmt: skip
    store_path.write_text(json.dumps({"conversations": conversations}, indent=2))
    original = {str(c["id"]): c for c in conversations}

    watch = spawn(store_path, config_path, "sweep", "watch", "--interval", "1s", "--iterations", "3", "--json")
    targets = [f"c{i:02d}" for i in range(79, 19, -7)] + [f"v{i:02d}" for i in range(19, 0, -7)]
    cron_outputs, touches = _agent_with_cron(store_path, config_path, targets)
    code, watch_out, watch_err = finish(watch)
    assert code == 0, watch_err
    assert b"watch stopped: 3 sweep(s)" in watch_err

    # What every sweep reported applying is exactly the committed sweep records: nothing lost,
    # nothing applied twice; and a touch is there if and only if it was acknowledged.
    runs = [json.loads(out) for out in cron_outputs] + [json.loads(line) for line in watch_out.splitlines()]
    assert len(runs) == len(cron_outputs) + 3
    records = committed(store_path)
    swept = by_run(r for r in records if r.kind is Action.SWEEP)
    reported = {run["run_id"]: run for run in runs if run["moved"]}
    assert set(swept) == set(reported)
    for run_id, run_records in swept.items():
        assert sorted((r.id, r.from_state, r.to_state) for r in run_records) == sorted(
            (t["id"], t["from"], t["to"]) for t in reported[run_id]["transitions"]
        )  # fmt: skip
    assert {r.kind for r in records} <= {Action.SWEEP, Action.TOUCH}
    assert sum(len(r) for r in swept.values()) > 20  # the already-due chats at least
    closed = Counter(r.id for r in records if r.to_state == "closed")
    assert [cid for cid, n in closed.items() if n > 1] == []
    assert trail_tail(store_path) == b"" and not temp_files(store_path)
    shown, warnings = history_shown(store_path)
    assert shown == as_shown(records) and warnings == ""

    # The store is what happened: the records, replayed from the initial store, give it exactly.
    initial = {cid: (str(c["state"]), parse_instant(str(c["modified_on"]))) for cid, c in original.items()}
    current, timelines = replay(initial, records)
    assert current == snapshot(store_path.read_bytes())
    touched = {str(r.id): r.at for r in records if r.kind is Action.TOUCH}
    for cid, (stamp, outcome) in touches.items():  # each touch is there if and only if it was acknowledged
        timeline = timelines[cid]
        if outcome == "applied":
            assert touched.get(cid) == stamp or any(at == stamp for _, at in timeline), cid
        else:
            assert cid not in touched, cid
            assert timeline[-1][0] == State.CLOSED if outcome == "closed" else any(at > stamp for _, at in timeline)
    raw = {item["id"]: item for item in json.loads(store_path.read_text())["conversations"]}
    assert all(raw[cid].get("i") == original[cid].get("i") for cid in original)  # unknown fields kept


def _agent_with_cron(
    store_path: Path, config_path: Path, targets: list[str]
) -> tuple[list[bytes], dict[str, tuple[datetime, str]]]:
    """An agent touches each target in turn, stamped with the clock, while a cron sweep starts every fourth touch.

    Returns the cron sweeps' outputs, and each touch's --now and outcome (applied, or a refusal).
    """
    cron_outputs: list[bytes] = []
    touches: dict[str, tuple[datetime, str]] = {}
    cron: subprocess.Popen[bytes] | None = None
    for number, cid in enumerate(targets):
        if number % 4 == 0:
            if cron is not None:
                code, out, err = finish(cron)
                assert code == 0, err
                cron_outputs.append(out)
            cron = spawn(store_path, config_path, "sweep", "run", "--json")
        stamp = datetime.now(UTC)
        code, _, err = finish(spawn(store_path, config_path, "conversations", "touch", cid, "--now",
                                    format_instant(stamp)))  # fmt: skip
        refusal = [key for key in ("closed", "backwards") if REFUSALS[key].encode() in err]
        assert code == 0 or (code == 2 and refusal), err
        touches[cid] = (stamp, "applied" if code == 0 else refusal[0])
    assert cron is not None
    code, out, err = finish(cron)
    assert code == 0, err
    cron_outputs.append(out)
    return cron_outputs, touches


# ------------------------------------------------------------------------------------------- locks


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return write_store_and_config(tmp_path, 500, seed=8)


def _first_id(store_path: Path, state: str) -> str:
    with closing(opened(store_path)) as store:
        return min(c.id for c in store.select(Selection()) if c.state == state and c.channel != "case")


def _run_all(argvs: list[list[str]]) -> list[subprocess.CompletedProcess[str]]:
    """Run the commands all at once; their results in order."""
    processes = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV) for argv in argvs
    ]
    results = []
    for argv, process in zip(argvs, processes, strict=True):
        out, err = process.communicate(timeout=WAIT)
        results.append(subprocess.CompletedProcess(argv, process.returncode, out, err))
    return results


def test_a_lock_not_had_in_time_is_exit_3_and_changes_nothing(tmp_path: Path, files: tuple[Path, Path]) -> None:
    store_path, config_path = files
    incoming = tmp_path / "incoming.json"
    incoming.write_text(json.dumps([{"id": "x-1", "channel": "chat", "state": "open", "modified_on": NOW}]))
    open_id, active_id = _first_id(store_path, "open"), _first_id(store_path, "active")
    store_commands = [
        ("sweep", "run", "--now", NOW),
        ("conversations", "touch", open_id, "--now", NOW),
        ("conversations", "set-state", active_id, "open", "--now", NOW),
        ("conversations", "add", "--channel", "chat", "--id", "x-2", "--now", NOW),
        ("conversations", "import", str(incoming)),
        ("records", "delete", "INC-000000"),
    ]
    config_commands = [
        ("config", "set", "chat", "open", "25m"),
        ("workstream", "remove", "Contoso SMS"),
        ("config", "reset", "--yes"),
    ]
    readers = [
        ("conversations", "list", "--json", "--now", NOW), ("history", "--json"), ("status", "--json", "--now", NOW),
        ("sweep", "run", "--dry-run", "--now", NOW),
    ]  # fmt: skip
    for path, commands in ((store_path, store_commands), (config_path, config_commands)):
        before_store, before_config = store_path.read_bytes(), config_path.read_bytes()
        before_trail = trail_tail(store_path), committed(store_path)
        holder = hold_lock(path, "test")
        try:
            began = time.monotonic()
            results = _run_all([ocac_argv(store_path, config_path, "--lock-timeout", "0.3", *a) for a in commands])
            for args, result in zip(commands, results, strict=True):
                assert_clean_failure(result, 3, "is locked by another process", f"(pid {holder.pid})",
                                     "gave up after 0.3s")  # fmt: skip
                assert store_path.read_bytes() == before_store, args
                assert config_path.read_bytes() == before_config, args
            assert time.monotonic() - began < WAIT
            assert not temp_files(store_path) and not temp_files(config_path)
            assert (trail_tail(store_path), committed(store_path)) == before_trail
            if path != store_path:
                continue
            # readers take no lock
            results = _run_all([ocac_argv(store_path, config_path, "--lock-timeout", "0.3", *a) for a in readers])
            for args, result in zip(readers, results, strict=True):
                assert (result.returncode, result.stderr) == (0, ""), args
        finally:
            kill(holder)
    result = run(ocac_argv(store_path, config_path, "sweep", "run", "--now", NOW))
    assert result.returncode == 0, result.stderr


def test_a_config_edit_while_the_store_is_locked_stands_and_says_it_is_not_in_the_history(
    files: tuple[Path, Path],
) -> None:
    store_path, config_path = files
    before_store = store_path.read_bytes()
    holder = hold_lock(store_path, "test")
    try:
        result = run(ocac_argv(store_path, config_path, "--lock-timeout", "0.3", "config", "set", "chat", "open",
                               "25m"))  # fmt: skip
    finally:
        kill(holder)
    assert result.returncode == 0, result.stderr
    assert "ocac: warning: the edit stands, but it is not in the store's history" in result.stderr
    assert '[rules.chat]\nopen = "25m"' in config_path.read_text()
    assert store_path.read_bytes() == before_store
    assert [r for r in committed(store_path) if r.kind is Action.CONFIG] == []


def _keep_writing(
    argv: Callable[[int], list[str]],
    key: str,
    writes: dict[str, int],
    stop: threading.Event,
    failures: list[BaseException],
) -> None:
    """Run the n-th command of `argv` until `stop`, counting in `writes[key]`; a failure stops it."""
    while not stop.is_set():
        result = run(argv(writes[key]))
        if result.returncode != 0:
            failures.append(AssertionError(result.stderr))
            return
        writes[key] += 1


def test_in_process_readers_never_see_a_partial_store_or_config(files: tuple[Path, Path]) -> None:
    """Tight read loops while sweeps and config edits replace the files underneath."""
    store_path, config_path = files
    store_path.write_bytes(generate_store(10_000, seed=9))
    before = len(snapshot(store_path.read_bytes()))
    stop = threading.Event()
    failures: list[BaseException] = []
    writes = {"store": 0, "config": 0}

    def sweep(number: int) -> list[str]:
        minute = 7 * (number + 1)
        now = f"2026-11-25T{12 + minute // 60 % 12:02d}:{minute % 60:02d}:00Z"
        return ocac_argv(store_path, config_path, "sweep", "run", "--quiet", "--now", now)

    def edit(number: int) -> list[str]:
        return ocac_argv(store_path, config_path, "config", "set", "chat", "open", ["20m", "25m", "30m"][number % 3])

    def write_store() -> None:
        _keep_writing(sweep, "store", writes, stop, failures)

    def write_config() -> None:
        _keep_writing(edit, "config", writes, stop, failures)

    threads = [threading.Thread(target=write_store), threading.Thread(target=write_config)]
    for thread in threads:
        thread.start()
    reads = 0
    deadline = time.monotonic() + 2
    try:
        while (time.monotonic() < deadline or min(writes.values()) < 2) and not failures:
            assert time.monotonic() < deadline + WAIT, f"the writers did too little: {writes}"
            try:
                with closing(opened(store_path)) as store:
                    count = sum(1 for _ in store.select(Selection()))
                load_config(config_path)
            except OcacError as error:  # a partial file would be a StoreError or ConfigError
                failures.append(error)
                break
            assert count == before
            reads += 1
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=WAIT)
    if failures:
        raise failures[0]
    print(f"\n{reads} in-process reads during {writes['store']} store and {writes['config']} config rewrites")
    assert writes["store"] >= 2 and writes["config"] >= 2 and reads >= 20
    assert trail_tail(store_path) == b""
    shown, warnings = history_shown(store_path)
    assert shown == as_shown(committed(store_path)) and warnings == ""
