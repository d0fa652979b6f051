"""`sweep watch` as a process: ticks, Ctrl-C, busy locks and configuration reloads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ocac import fsutil, store
from ocac.instants import format_instant


def _write_store(path: Path, idle_minutes: int) -> None:
    stamp = datetime.now(UTC) - timedelta(minutes=idle_minutes)
    conversations = [
        {"id": "chat-1", "channel": "chat", "state": "open", "modified_on": format_instant(stamp)},
        {"id": "voice-1", "channel": "voice", "state": "closed", "modified_on": format_instant(stamp)},
    ]
    path.write_text(json.dumps({"conversations": conversations}))


def _watch(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ocac", "sweep", "watch", "--interval", "1s", *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_watch_sweeps_on_every_tick_and_stops_after_iterations(store_path: Path) -> None:
    _write_store(store_path, idle_minutes=30)
    done = subprocess.run(
        [sys.executable, "-m", "ocac", "sweep", "watch", "--interval", "1s", "--iterations", "2", "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    sweeps = [json.loads(line) for line in done.stdout.splitlines()]
    assert [len(s["transitions"]) for s in sweeps] == [1, 0]  # the second tick finds nothing left
    assert sweeps[0]["transitions"][0]["id"] == "chat-1"
    assert "watch stopped: 2 sweep(s), 1 conversation(s) moved, 0 skipped" in done.stderr
    assert store.load(store_path).conversations[0].state == "closed"


def test_ctrl_c_stops_with_a_summary_and_exit_0(store_path: Path) -> None:
    _write_store(store_path, idle_minutes=30)
    watcher = _watch()
    assert watcher.stdout is not None
    first = watcher.stdout.readline()  # the first sweep has been printed: the loop is running
    assert "sweep 1 at" in first
    watcher.send_signal(signal.SIGINT)
    _, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, err
    assert "watch stopped: 1 sweep(s), 1 conversation(s) moved, 0 skipped" in err
    assert "Traceback" not in err


def test_a_busy_lock_skips_the_tick_and_the_watch_goes_on(store_path: Path) -> None:
    _write_store(store_path, idle_minutes=30)
    with fsutil.locked(store_path, 1, "store"):
        done = subprocess.run(
            [sys.executable, "-m", "ocac", "--lock-timeout", "0.1", "sweep", "watch", "--interval", "1s",
             "--iterations", "2"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("skipped: store") == 2
    assert "is locked by another ocac process" in done.stderr
    assert "watch stopped: 0 sweep(s), 0 conversation(s) moved, 2 skipped" in done.stderr
    assert store.load(store_path).conversations[0].state == "open"  # nothing was lost or half-done


def test_a_config_change_takes_effect_at_the_next_sweep(store_path: Path, config_path: Path) -> None:
    _write_store(store_path, idle_minutes=10)  # chat open: 20m by default, so not yet due
    watcher = _watch("--iterations", "3")
    assert watcher.stdout is not None
    assert "nothing due" in watcher.stdout.readline()
    edit = subprocess.run(
        [sys.executable, "-m", "ocac", "config", "set", "chat", "open", "5m"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert edit.returncode == 0, edit.stderr
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    assert "chat-1" in out
    assert store.load(store_path).conversations[0].state == "closed"


def test_shell_completion_script_is_available() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ocac", "--show-completion", "bash"],
        capture_output=True, text=True, timeout=30, check=False, env={**os.environ, "SHELL": "/bin/bash"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "complete" in done.stdout and "ocac" in done.stdout.lower()
