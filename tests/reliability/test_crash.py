"""Crash safety: kill -9 at random instants leaves the old or the new store, never anything else.

The campaigns (see `_scenarios.kill_campaign`) run a sweep and an import on ~50k conversations
and kill them with SIGKILL after a delay from a seeded RNG, spread over the command's measured
lifetime, plus kills aimed at the write and at the history append. Run with `-s` to see the
tallies. `soak.py` runs the same campaigns for longer.
"""

from __future__ import annotations

import os
import select
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ocac import store
from ocac.config import load_config

from ._scenarios import kill_campaign, prepare_campaign
from ._support import (
    BASE_NOW,
    CONFIG,
    ENV,
    PYTHON,
    assert_clean_failure,
    committed_history,
    generate_store,
    history_tail,
    ocac_argv,
    run,
    snapshot,
    temp_files,
)

NOW = "2026-11-25T12:00:00Z"


def test_kill_sweep_at_random_instants(tmp_path: Path) -> None:
    campaign = prepare_campaign(tmp_path / "sweep", "sweep", count=50_000, seed=61)
    tally = kill_campaign(campaign, kills=36, aimed=14, seed=62)
    print(f"\nsweep run on 50k conversations ({campaign.duration:.2f}s a run), 50 kill -9: {tally.line()}")
    assert tally["old"] + tally["new"] == 50
    assert tally["old"] >= 1
    assert tally["left a temp file"] >= 1, "no kill landed during the write"
    # The kills aimed at the history append should leave an uncommitted tail now and then; the
    # next command cut it off (asserted inside the campaign).


def test_kill_import_at_random_instants(tmp_path: Path) -> None:
    campaign = prepare_campaign(tmp_path / "import", "import", count=50_000, seed=63)
    tally = kill_campaign(campaign, kills=15, aimed=5, seed=64)
    print(f"\nimport of 5k into 50k conversations ({campaign.duration:.2f}s a run), 20 kill -9: {tally.line()}")
    assert tally["old"] + tally["new"] == 20
    assert tally["old"] >= 1
    assert tally["left a temp file"] >= 1, "no kill landed during the write"


# ---------------------------------------------------------------------------------------- locks


def hold_lock(path: Path, what: str) -> subprocess.Popen[bytes]:
    """A process that holds `path`'s ocac lock until it is killed; returns once it holds it."""
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from ocac.fsutil import locked\n"
        f"with locked(Path(sys.argv[1]), 5, {what!r}):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(600)\n"
    )
    process = subprocess.Popen([PYTHON, "-c", code, str(path)], stdout=subprocess.PIPE, env=ENV)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    assert ready and process.stdout.readline() == b"held\n", "the lock holder did not start"
    return process


def kill(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    if process.stdout:
        process.stdout.close()


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    store_path, config_path = tmp_path / "conversations.json", tmp_path / "config.toml"
    store_path.write_bytes(generate_store(300, seed=7))
    config_path.write_text(CONFIG)
    return store_path, config_path


def test_lock_of_a_killed_holder_does_not_block_the_next_run(files: tuple[Path, Path]) -> None:
    store_path, config_path = files
    cases = ((store_path, ("sweep", "run", "--now", NOW)), (config_path, ("config", "set", "chat", "open", "25m")))
    for path, args in cases:
        holder = hold_lock(path, "test")
        blocked = run(ocac_argv(store_path, config_path, "--lock-timeout", "0.2", *args))
        assert_clean_failure(blocked, 3, "locked by another ocac process", "--lock-timeout")
        kill(holder)
        assert path.with_name(path.name + ".lock").exists()  # the lock file stays; the kernel lock is gone
        began = time.monotonic()
        result = run(ocac_argv(store_path, config_path, "--lock-timeout", "5", *args))
        assert result.returncode == 0, result.stderr
        assert time.monotonic() - began < 5, "the next run waited for the dead holder"
    assert load_config(config_path).policy.rules[next(iter(load_config(config_path).policy.rules))] is not None
    assert store.load(store_path).meta.last_sweep is not None


def test_a_waiting_sweep_takes_over_from_a_killed_one(tmp_path: Path) -> None:
    """Kill a sweep while a second one waits on its lock: the second completes the job."""
    campaign = prepare_campaign(tmp_path / "takeover", "sweep", count=50_000, seed=65)
    from ._scenarios import check_agreement, classify, reset

    reset(campaign)
    first = subprocess.Popen(campaign.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    limit = time.monotonic() + 60
    while not temp_files(campaign.store_path) and first.poll() is None and time.monotonic() < limit:
        time.sleep(0.0005)  # the first holds the lock once it writes its temporary file
    second = subprocess.Popen(
        [*campaign.argv[:3], "--lock-timeout", "30", *campaign.argv[3:]],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV,
    )  # fmt: skip
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    _, err = second.communicate(timeout=120)
    assert first.stderr is not None
    first.stderr.close()
    assert second.returncode == 0, err
    assert classify(campaign) == "new"
    check_agreement(campaign)
    assert not temp_files(campaign.store_path)
    assert history_tail(campaign.store_path) == 0


# --------------------------------------------------------------------------- leftovers of a crash


TEMP = ".{name}.0123456789ab.tmp"


@pytest.mark.parametrize(
    "args",
    [
        ("sweep", "run", "--now", NOW),
        ("conversations", "add", "--channel", "chat", "--id", "new-one", "--now", NOW),
        ("records", "delete", "INC-000001"),
    ],
    ids=["sweep", "add", "records-delete"],
)
def test_the_next_store_writer_removes_a_killed_writers_temp_file(
    files: tuple[Path, Path], args: tuple[str, ...]
) -> None:
    store_path, config_path = files
    leftover = store_path.parent / TEMP.format(name=store_path.name)
    leftover.write_bytes(b'{"conversations": [')  # half a store, as a killed writer leaves it
    unrelated = store_path.parent / ".other.json.0123456789ab.tmp"
    unrelated.write_text("not ours")
    result = run(ocac_argv(store_path, config_path, *args))
    assert result.returncode == 0, result.stderr
    assert not leftover.exists()
    assert unrelated.exists(), "a temporary file of another file was removed"


def test_readers_leave_a_killed_writers_temp_file_alone(files: tuple[Path, Path]) -> None:
    store_path, config_path = files
    leftover = store_path.parent / TEMP.format(name=store_path.name)
    leftover.write_bytes(b"{")
    result = run(ocac_argv(store_path, config_path, "conversations", "list", "--json", "--now", NOW))
    assert result.returncode == 0, result.stderr
    assert leftover.exists()  # only a lock holder may decide it is stale


def test_the_next_config_writer_removes_a_killed_writers_temp_file(files: tuple[Path, Path]) -> None:
    store_path, config_path = files
    leftover = config_path.parent / TEMP.format(name=config_path.name)
    leftover.write_text("[rules.chat]\nopen = ")
    result = run(ocac_argv(store_path, config_path, "config", "set", "chat", "open", "25m"))
    assert result.returncode == 0, result.stderr
    assert not leftover.exists(), "config edits never clean up after a killed config edit"


def test_kill_config_set_at_random_instants(files: tuple[Path, Path]) -> None:
    """The config is the old or the new file whatever the instant; leftovers go with the next edit."""
    import random

    store_path, config_path = files
    os.chmod(config_path, 0o640)
    before = config_path.read_bytes()
    argv = ocac_argv(store_path, config_path, "config", "set", "voice", "active", "3h")
    began = time.monotonic()
    reference = run(argv)
    duration = time.monotonic() - began
    assert reference.returncode == 0, reference.stderr
    after = config_path.read_bytes()
    assert after != before
    rng = random.Random(66)
    outcomes = {"old": 0, "new": 0}
    for _ in range(12):
        config_path.write_bytes(before)
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
        try:
            process.wait(timeout=rng.uniform(0, duration))
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        data = config_path.read_bytes()
        assert data in (before, after)
        outcomes["old" if data == before else "new"] += 1
        assert stat.S_IMODE(config_path.stat().st_mode) == 0o640
        load_config(config_path)
    print(f"\nconfig set, 12 kill -9: {outcomes}")
    config_path.write_bytes(before)
    final = run(argv)
    assert final.returncode == 0, final.stderr
    assert config_path.read_bytes() == after
    assert not temp_files(config_path)


def test_history_agrees_with_the_store_after_a_crash_between_append_and_rename(files: tuple[Path, Path]) -> None:
    """Simulated exactly: history appended, store not renamed; readers and the next sweep agree."""
    store_path, config_path = files
    from ocac import fsutil

    real_commit = fsutil.AtomicFile.commit

    class Crash(BaseException):
        pass

    def crash(self: fsutil.AtomicFile) -> None:
        raise Crash

    from ocac.sweep import run_sweep

    before = snapshot(store_path.read_bytes())
    fsutil.AtomicFile.commit = crash  # type: ignore[method-assign]
    try:
        with pytest.raises(Crash):
            run_sweep(store_path, load_config(config_path).policy, BASE_NOW, dry_run=False, lock_timeout=5)
    finally:
        fsutil.AtomicFile.commit = real_commit  # type: ignore[method-assign]
    assert history_tail(store_path) > 0
    assert snapshot(store_path.read_bytes()) == before
    shown = run(ocac_argv(store_path, config_path, "history", "--json"))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "[]", "history shows a sweep the store never committed"
    result = run(ocac_argv(store_path, config_path, "sweep", "run", "--json", "--now", NOW))
    assert result.returncode == 0, result.stderr
    assert history_tail(store_path) == 0
    entries = committed_history(store_path)
    after = snapshot(store_path.read_bytes())
    assert {e.id for e in entries} == {k for k in after if after[k][0] != before[k][0]}
    assert len({e.run_id for e in entries}) == 1


if sys.platform != "linux":  # pragma: no cover
    pytestmark = pytest.mark.skip(reason="kill -9 and flock semantics are tested on Linux")
