"""kill -9: whatever the instant a writer dies, the store is the old or the new one, its history agrees,
and the next writer cleans up what was left.

The kills are aimed, not timed: `_support.hooked_argv` runs ocac with a hook at each step of a file
store's commit (`_support.PHASES`), so every step is hit on every run, in a second or so. A few kills
at random instants remain as a check on what the hooks do not model; `tests/reliability/soak.py`
runs many more.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import subprocess
import sys
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from ocac import fsutil
from ocac.audit import audit_for
from ocac.config import load_config
from ocac.model import Channel, Conversation, State
from ocac.policy import Policy
from ocac.store import Selection, trail
from ocac.store.trail import trail_path

from ._scenarios import kill_campaign, prepare_campaign
from ._support import (
    AFTER_RENAME,
    BASE_NOW,
    BEFORE_RENAME,
    ENV,
    PHASES,
    Change,
    as_shown,
    assert_clean_failure,
    committed,
    fmt,
    history_shown,
    hold_lock,
    hooked_argv,
    kill,
    last_sweep,
    ocac_argv,
    opened,
    prepare_change,
    recover_in_process,
    run,
    run_killed_at,
    start_paused_at,
    store_run,
    tail_records,
    temp_files,
    trail_bytes,
    trail_tail,
    wait_until_it_opens,
    write_store_and_config,
)

pytestmark = pytest.mark.slow
if sys.platform != "linux":  # pragma: no cover
    pytestmark = [pytestmark, pytest.mark.skip(reason="kill -9 and flock semantics are tested on Linux")]

NOW = fmt(BASE_NOW)


def _change(tmp_path: Path, kind: str, count: int = 400) -> Change:
    change = prepare_change(tmp_path / kind, kind, count=count, seed=61 if kind == "sweep" else 63)
    os.chmod(change.store_path, 0o640)
    os.chmod(trail_path(change.store_path), 0o600)
    return change


def _modes(change: Change) -> tuple[int, int]:
    return (
        stat.S_IMODE(change.store_path.stat().st_mode), stat.S_IMODE(trail_path(change.store_path).stat().st_mode)
    )  # fmt: skip


def _run_records(change: Change) -> int:
    """How many records the change writes: one per moved conversation, or the import's one."""
    if change.kind == "import":
        return 1
    with closing(opened(change.store_path)) as store:
        return len(store.due(load_config(change.config_path).policy, change.now))


# ----------------------------------------------------------------------------- each step of a commit


@pytest.mark.parametrize("phase", list(PHASES))
@pytest.mark.parametrize("kind", ["sweep", "import"])
def test_kill_at_each_step_of_the_commit(tmp_path: Path, kind: str, phase: str) -> None:
    change = _change(tmp_path, kind)
    records = _run_records(change)
    run_killed_at(phase, change.store_path, change.config_path, *change.args)

    # The store is the old or the new version, byte for byte, with its permissions.
    outcome = change.check_agreement()
    assert outcome == ("old" if phase in BEFORE_RENAME else "new"), (phase, PHASES[phase])
    assert _modes(change) == (0o640, 0o600)
    shown, _ = history_shown(change.store_path)
    assert shown == as_shown(committed(change.store_path)), "history shows what the store does not commit"

    # What the kill left: a temporary file until the rename; from the append on, records without a
    # commit line (uncommitted before the rename, the store's own unsealed run after it).
    assert bool(temp_files(change.store_path)) == (phase in BEFORE_RENAME)
    left = tail_records(change.store_path)
    runs = {r["run_id"] for r in left}
    if phase in ("temp-created", "records-not-appended"):
        assert trail_bytes(change.store_path) == change.before_trail
    elif phase == "record-torn":
        assert left == [] and trail_tail(change.store_path), "expected a torn first record"
    elif phase == "records-half-appended":
        assert len(left) < records and len(runs) <= 1 and trail_tail(change.store_path)[-1:] != b"\n"
    elif phase == "not-renamed":
        assert len(left) == records and len(runs) == 1 and runs != {store_run(change.before)}
    elif phase in AFTER_RENAME:
        assert len(left) == records and runs == {store_run(change.store_path.read_bytes())}

    # The next writer (one that changes nothing) cleans up: no temporary file, no uncommitted record.
    recover_in_process(change.store_path)
    assert change.check_agreement() == outcome, "recovery changed what is committed"
    assert not temp_files(change.store_path)
    assert tail_records(change.store_path) == [], "records without a commit line survived the next writer"
    assert _modes(change) == (0o640, 0o600)

    # Run again, the change is completed exactly once.
    store_before, trail_before = change.store_path.read_bytes(), trail_bytes(change.store_path)
    change.apply_in_process()
    assert change.check_agreement() == "new"
    if outcome == "new":  # nothing left to do: the store is not rewritten; a sweep still records that it ran
        assert change.store_path.read_bytes() == store_before
        added = trail_bytes(change.store_path)[len(trail_before) :]
        assert trail_bytes(change.store_path).startswith(trail_before)
        assert [json.loads(line)["commit"] for line in added.splitlines()] == ([True] if kind == "sweep" else [])
    assert not temp_files(change.store_path) and trail_tail(change.store_path) == b""
    assert len(committed(change.store_path)) == len(change.before_history) + records
    if kind == "sweep":  # a sweep with nothing left to move still records that it ran (one commit line)
        summary = last_sweep(change.store_path)
        assert summary is not None and summary.at == change.now
        assert summary.moved == (0 if outcome == "new" else records)
    shown, _ = history_shown(change.store_path)
    assert shown == as_shown(committed(change.store_path))


@pytest.mark.parametrize("phase", ["commit-not-appended"])
def test_the_last_sweep_is_known_after_a_kill_past_its_rename(tmp_path: Path, phase: str) -> None:
    """The store reflects the sweep: `status` and `store info` must name it, before and after recovery."""
    change = _change(tmp_path, "sweep")
    moved = _run_records(change)
    run_killed_at(phase, change.store_path, change.config_path, *change.args)
    run_id = store_run(change.store_path.read_bytes())
    expected = (run_id, change.now, moved)
    summary = last_sweep(change.store_path)
    assert summary is not None
    assert (summary.run_id, summary.at, summary.moved) == expected, "a reader names an older sweep"
    recover_in_process(change.store_path)  # the next writer is not a sweep: it seals the run
    summary = last_sweep(change.store_path)
    assert summary is not None
    assert (summary.run_id, summary.at, summary.moved) == expected, "the sealed sweep lost its summary"


@pytest.mark.parametrize("phase", ["record-torn", "records-half-appended", "commit-torn"])
def test_a_torn_line_does_not_outlive_the_next_writer(tmp_path: Path, phase: str) -> None:
    """A line the killed writer tore is its own: once the next writer recovers, readers have nothing to warn of."""
    change = _change(tmp_path, "sweep")
    run_killed_at(phase, change.store_path, change.config_path, *change.args)
    recover_in_process(change.store_path)
    assert trail_tail(change.store_path) == b"", "the next writer left a torn line at the end of the trail"
    damaged = []
    for number, line in enumerate(trail_bytes(change.store_path).splitlines(), start=1):
        try:
            json.loads(line)
        except ValueError:
            damaged.append(number)
    assert damaged == [], f"the trail keeps the killed writer's torn line(s) {damaged}"
    _, warnings = history_shown(change.store_path)
    assert warnings == "", warnings


# ------------------------------------------------------------------- many sweeps, each killed somewhere


STEP = timedelta(minutes=10)


def _spread_store(path: Path, size: int) -> None:
    """Chats (20m rule) and voice calls (2h rule) whose ages are spread so that every step moves some."""
    conversations = []
    for i in range(size):
        if i % 5:
            channel, state, age = "chat", "open", timedelta(minutes=21 - (i % 200))
        else:
            channel, state, age = "voice", "active", timedelta(minutes=121 - (i % 300))
        conversations.append({
            "id": f"conv-{i:05d}", "channel": channel, "state": state, "modified_on": fmt(BASE_NOW - age),
            "queue": f"Queue {i % 7}", "customer": {"name": f"Customer {i}", "score": 1.50e3}, "tags": ["a", "b"],
        })  # fmt: skip
    path.write_text(json.dumps({"conversations": conversations}, indent=2), encoding="utf-8")


def test_successive_sweeps_each_killed_at_another_step(tmp_path: Path) -> None:
    """Each sweep finds what the last kill left: the committed history only ever grows, and agrees."""
    store_path, config_path = tmp_path / "conversations.json", tmp_path / "config.toml"
    config_path.write_text("")
    _spread_store(store_path, 600)
    kept: list[tuple[str, str | None, str | None]] = []
    phases = [  # old and new outcomes in turn; the torn first record last (see the test after this one)
        "temp-created", "renamed", "records-half-appended", "commit-not-appended", "not-renamed", "commit-torn",
        "store-half-written", "records-not-appended", "record-torn",
    ]  # fmt: skip
    assert sorted(phases) == sorted(PHASES)
    for step, phase in enumerate(phases):
        now = BASE_NOW + step * STEP
        before = store_path.read_bytes()
        before_history = committed(store_path)
        with closing(opened(store_path)) as store:
            due = {t.id: t for t in store.due(Policy(), now)}
        assert due, f"step {step} has nothing to move"
        run_killed_at(phase, store_path, config_path, "sweep", "run", "-q", "--now", fmt(now))

        after_history = committed(store_path)
        assert after_history[: len(before_history)] == before_history, f"{phase}: committed history was lost"
        added = after_history[len(before_history) :]
        if phase in BEFORE_RENAME:
            assert store_path.read_bytes() == before, phase
            assert added == [], phase
            continue
        run_id = store_run(store_path.read_bytes())
        assert {r.run_id for r in added} == {run_id}, phase
        assert sorted((r.id, r.from_state, r.to_state) for r in added) == sorted(
            (t.id, t.from_state, t.to_state) for t in due.values()
        ), phase  # fmt: skip
        with closing(opened(store_path)) as store:
            for record in added:
                stored = store.get(str(record.id))
                assert stored is not None
                assert (stored.conversation.state, stored.conversation.modified_on) == (record.to_state, now)
        kept.extend((r.run_id, r.id, r.to_state) for r in added)

    # A last, uninterrupted sweep cleans up; every committed record is still there, and the store
    # is what they say: each conversation in the state its last record moved it to, at that instant.
    final_now = BASE_NOW + len(phases) * STEP
    result = run(ocac_argv(store_path, config_path, "sweep", "run", "-q", "--now", fmt(final_now)))
    assert result.returncode == 0, result.stderr
    assert not temp_files(store_path) and trail_tail(store_path) == b""
    records = committed(store_path)
    assert [(r.run_id, r.id, r.to_state) for r in records[: len(kept)]] == kept
    last = {r.id: r for r in records}
    with closing(opened(store_path)) as store:
        for conversation in store.select(Selection()):
            record = last.get(conversation.id)
            if record is not None:
                assert (conversation.state, conversation.modified_on) == (record.to_state, record.at)
    closed = [r.id for r in records if r.to_state == "closed"]
    assert len(closed) == len(set(closed)), "a conversation was closed twice"
    shown, _ = history_shown(store_path)
    assert shown == as_shown(records)


def test_a_torn_first_record_does_not_hide_a_later_committed_run(tmp_path: Path) -> None:
    """A sweep dies in its first record; the next one dies after its rename; then a third writer writes.

    The second sweep is committed (the store reflects it), so its records must stay in the history.
    """
    change = _change(tmp_path, "sweep")
    run_killed_at("record-torn", change.store_path, change.config_path, *change.args)
    later = fmt(change.now + timedelta(hours=1))
    run_killed_at("commit-not-appended", change.store_path, change.config_path, "sweep", "run", "-q", "--now", later)
    run_id = store_run(change.store_path.read_bytes())
    second = [r for r in committed(change.store_path) if r.run_id == run_id]
    assert second, "the committed sweep's records are not shown"
    with closing(opened(change.store_path)) as store:
        store.add(Conversation("third", Channel.CHAT, State.OPEN, change.now), audit_for(change.now))
    assert [r for r in committed(change.store_path) if r.run_id == run_id] == second, (
        "the committed sweep's records vanished from the history"
    )


# ---------------------------------------------------------------------------------- random instants


@pytest.mark.parametrize("kind", ["sweep", "import"])
def test_kill_at_random_instants(tmp_path: Path, kind: str) -> None:
    """A few kills spread over the command's measured lifetime (the soak runs many more)."""
    campaign = prepare_campaign(_change(tmp_path, kind, count=5000), timings=1)
    tally = kill_campaign(campaign, kills=3, phases=False, seed=62 if kind == "sweep" else 64)
    print(f"\n{kind} on 5k conversations ({campaign.duration:.2f}s a run), 3 kill -9: {tally.line()}")
    assert tally["old"] + tally["new"] == 3


# ------------------------------------------------------------------------------------------- locks


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return write_store_and_config(tmp_path, 300, seed=7)


def test_the_lock_of_a_killed_holder_does_not_block_the_next_run(files: tuple[Path, Path]) -> None:
    store_path, config_path = files
    cases = (
        (store_path, ("sweep", "run", "--now", NOW), ("sweep", "run", "--now", NOW)),
        (config_path, ("config", "set", "chat", "open", "25m"), ("config", "set", "chat", "open", "30m")),
    )
    for path, args, again in cases:
        lock = path.with_name(path.name + ".lock")
        holder = hold_lock(path, "test")
        blocked = run(ocac_argv(store_path, config_path, "--lock-timeout", "0.2", *args))
        assert_clean_failure(blocked, 3, "locked by another process", f"(pid {holder.pid})", "--lock-timeout")
        kill(holder)
        assert lock.exists()  # the lock file stays; the kernel lock is gone with its holder
        result = run(ocac_argv(store_path, config_path, "--lock-timeout", "0", *args))  # no waiting at all
        assert result.returncode == 0, result.stderr

        # A holder that wrote no pid (here: this test) is not named after the dead process whose pid is in the file.
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            blocked = run(ocac_argv(store_path, config_path, "--lock-timeout", "0", *again))
            line = assert_clean_failure(blocked, 3, "locked by another process", str(lock))
            assert "(pid" not in line, line
        finally:
            os.close(fd)
    assert load_config(config_path).policy.rules[Channel.CHAT, State.OPEN].minutes == 25
    assert last_sweep(store_path) is not None


def test_a_waiting_sweep_takes_over_from_a_killed_one(tmp_path: Path) -> None:
    """Kill a sweep that holds the lock (records appended, store not renamed) while a second one waits."""
    change = _change(tmp_path, "sweep", count=2000)
    first = start_paused_at("not-renamed", change.store_path, change.config_path, *change.args)
    try:
        assert tail_records(change.store_path), "the first sweep appended nothing before its pause"
        second = subprocess.Popen(
            ocac_argv(change.store_path, change.config_path, "--lock-timeout", "60", "sweep", "run", "--json",
                      "--now", NOW),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
        )  # fmt: skip
        lock = change.store_path.with_name(change.store_path.name + ".lock")
        wait_until_it_opens(second, lock)  # it waits on the lock the first one holds
        assert second.poll() is None
    finally:
        kill(first)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    result = json.loads(out)
    assert result["applied"] and result["run_id"] == store_run(change.store_path.read_bytes())
    assert change.check_agreement() == "new"
    assert not temp_files(change.store_path) and trail_tail(change.store_path) == b""
    runs = {json.loads(line)["run_id"] for line in trail_bytes(change.store_path).splitlines()}
    assert runs == {r.run_id for r in change.before_history} | {result["run_id"]}, "the killed run's records remain"


# -------------------------------------------------------------------------------- leftovers of a crash


TEMP = ".{name}.0123456789ab.tmp"


@pytest.mark.parametrize(
    "args",
    [
        ("sweep", "run", "--now", NOW),
        ("sweep", "run", "--now", "2026-01-01T00:00:00Z"),
        ("conversations", "add", "--channel", "chat", "--id", "new-one", "--now", NOW),
        ("records", "delete", "INC-000001"),
    ],
    ids=["sweep", "sweep-with-nothing-due", "add", "records-delete"],
)
def test_the_next_store_writer_removes_a_killed_writers_temp_file(
    files: tuple[Path, Path], args: tuple[str, ...]
) -> None:
    store_path, config_path = files
    leftover = store_path.parent / TEMP.format(name=store_path.name)
    leftover.write_bytes(b'{"conversations": [')  # half a store, as a killed writer leaves it
    others = [
        store_path.parent / ".other.json.0123456789ab.tmp",  # another file's
        store_path.parent / f".{store_path.name}.b.json.0123456789ab.tmp",  # a store named conversations.json.b.json
        store_path.parent / f".{store_path.name}.0123456789AB.tmp",  # not ocac's name: 12 lowercase hex digits
    ]
    for other in others:
        other.write_text("not ours")
    result = run(ocac_argv(store_path, config_path, *args))
    assert result.returncode == 0, result.stderr
    assert not leftover.exists()
    assert all(other.exists() for other in others), "a temporary file that is not the store's was removed"


def test_readers_leave_a_killed_writers_temp_file_alone(files: tuple[Path, Path]) -> None:
    store_path, config_path = files
    leftover = store_path.parent / TEMP.format(name=store_path.name)
    leftover.write_bytes(b"{")
    for args in (("conversations", "list", "--json", "--now", NOW), ("history", "--json")):
        result = run(ocac_argv(store_path, config_path, *args))
        assert result.returncode == 0, result.stderr
    assert leftover.exists()  # only a lock holder may decide it is stale


def test_the_next_config_writer_removes_a_killed_writers_temp_file(files: tuple[Path, Path]) -> None:
    store_path, config_path = files
    leftover = config_path.parent / TEMP.format(name=config_path.name)
    leftover.write_text("[rules.chat]\nopen = ")
    result = run(ocac_argv(store_path, config_path, "config", "set", "chat", "open", "25m"))
    assert result.returncode == 0, result.stderr
    assert not leftover.exists(), "config edits never clean up after a killed config edit"


@pytest.mark.parametrize("phase", ["temp-created", "store-half-written", "not-renamed", "renamed"])
def test_kill_config_set_at_each_step(files: tuple[Path, Path], phase: str) -> None:
    """The config is the old or the new file, with its mode; the next edit cleans up and applies it."""
    store_path, config_path = files
    os.chmod(config_path, 0o640)
    before = config_path.read_bytes()
    args = ("config", "set", "voice", "active", "3h")
    run_killed_at(phase, store_path, config_path, *args)
    data = config_path.read_bytes()
    assert (data != before) == (phase == "renamed"), "the config is neither the old nor the new file"
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o640
    assert load_config(config_path).policy.rules is not None
    assert bool(temp_files(config_path)) == (phase != "renamed")
    config_path.write_bytes(before)
    final = run(ocac_argv(store_path, config_path, *args))
    assert final.returncode == 0, final.stderr
    assert not temp_files(config_path)
    assert '[rules.voice]\nactive = "3h"' in config_path.read_text()
    if phase == "renamed":
        assert data == config_path.read_bytes()


def test_hooks_name_real_steps() -> None:
    """The hook script patches what ocac calls: a renamed or removed function would make it a no-op."""
    for owner, name in ((fsutil.AtomicFile, "prepare"), (fsutil.AtomicFile, "write"), (fsutil.AtomicFile, "commit"),
                        (fsutil, "_fsync_folder"), (trail.Trail, "append"), (trail.Trail, "_append")):  # fmt: skip
        assert callable(getattr(owner, name)), name
    assert hooked_argv("renamed", "kill", None, None, "history")[-1] == "history"
