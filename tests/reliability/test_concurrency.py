"""Concurrency: many ocac processes on one store and one config at once, bounded in time.

`test_writers_and_readers_at_once` runs sweeps (with a moving --now), touch, set-state, add,
import, config set and workstream set, plus readers, for a bounded time, and checks every
acknowledged change conversation by conversation (see `_scenarios.concurrency`).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from ocac import store
from ocac.config import load_config
from ocac.errors import OcacError

from ._scenarios import concurrency
from ._support import (
    CONFIG,
    assert_clean_failure,
    generate_store,
    history_tail,
    ocac_argv,
    run,
    snapshot,
    temp_files,
)
from .test_crash import hold_lock, kill

SECONDS = 12
NOW = "2026-11-25T12:00:00Z"


def test_writers_and_readers_at_once(tmp_path: Path) -> None:
    report = concurrency(tmp_path, seconds=SECONDS, count=3000, seed=6)
    print(f"\nconcurrency: {report.line()}")
    assert report.most_at_once >= 6
    assert report.sweeps_committed >= 1
    assert report.commands >= 8 * 3  # every worker ran at least three commands


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    store_path, config_path = tmp_path / "conversations.json", tmp_path / "config.toml"
    store_path.write_bytes(generate_store(500, seed=8))
    config_path.write_text(CONFIG)
    return store_path, config_path


def _first_id(store_path: Path, state: str) -> str:
    return next(c.id for c in store.load(store_path).conversations if c.state == state and c.channel != "case")


def test_a_lock_not_had_in_time_is_exit_3_and_changes_nothing(tmp_path: Path, files: tuple[Path, Path]) -> None:
    store_path, config_path = files
    incoming = tmp_path / "incoming.json"
    incoming.write_text(json.dumps([{"id": "x-1", "channel": "chat", "state": "open", "modified_on": NOW}]))
    open_id, active_id = _first_id(store_path, "open"), _first_id(store_path, "active")
    store_commands = [
        ("sweep", "run", "--now", NOW),
        ("conversations", "touch", open_id, "--now", NOW),
        ("conversations", "set-state", open_id, "active", "--now", NOW),
        ("conversations", "set-state", active_id, "open", "--now", NOW),
        ("conversations", "add", "--channel", "chat", "--id", "x-2", "--now", NOW),
        ("conversations", "import", str(incoming)),
        ("records", "delete", "INC-000000"),
    ]
    config_commands = [
        ("config", "set", "chat", "open", "25m"),
        ("config", "unset", "sms", "open"),
        ("workstream", "set", "New", "--channel", "sms", "--auto-close-after", "1d"),
        ("workstream", "remove", "Contoso SMS"),
        ("config", "reset", "--yes"),
    ]
    for path, commands in ((store_path, store_commands), (config_path, config_commands)):
        before_store, before_config = store_path.read_bytes(), config_path.read_bytes()
        holder = hold_lock(path, "test")
        try:
            for args in commands:
                began = time.monotonic()
                result = run(ocac_argv(store_path, config_path, "--lock-timeout", "0.3", *args))
                assert_clean_failure(result, 3, "is locked by another ocac process", "gave up after 0.3s")
                assert time.monotonic() - began < 10
                assert store_path.read_bytes() == before_store, args
                assert config_path.read_bytes() == before_config, args
                assert not temp_files(store_path) and not temp_files(config_path)
            if path != store_path:
                continue
            # readers do not take the lock
            for args in (("conversations", "list", "--json", "--now", NOW), ("config", "show", "--json"),
                         ("history", "--json"), ("status", "--json", "--now", NOW),
                         ("sweep", "run", "--dry-run", "--now", NOW)):  # fmt: skip
                result = run(ocac_argv(store_path, config_path, "--lock-timeout", "0.3", *args))
                assert result.returncode == 0, (args, result.stderr)
        finally:
            kill(holder)
    result = run(ocac_argv(store_path, config_path, "sweep", "run", "--now", NOW))
    assert result.returncode == 0, result.stderr


def test_in_process_readers_never_see_a_partial_store_or_config(files: tuple[Path, Path]) -> None:
    """Tight read loops while sweeps, imports and config edits replace the files underneath."""
    store_path, config_path = files
    store_path.write_bytes(generate_store(20_000, seed=9))
    before = len(snapshot(store_path.read_bytes()))
    stop = threading.Event()
    failures: list[BaseException] = []
    writes = {"store": 0, "config": 0}

    def write_store() -> None:
        minute = 0
        while not stop.is_set():
            minute += 7
            now = f"2026-11-25T{12 + minute // 60 % 12:02d}:{minute % 60:02d}:00Z"
            result = run(ocac_argv(store_path, config_path, "sweep", "run", "--quiet", "--now", now))
            if result.returncode != 0:
                failures.append(AssertionError(result.stderr))
                return
            writes["store"] += 1

    def write_config() -> None:
        values = ["20m", "25m", "30m"]
        while not stop.is_set():
            value = values[writes["config"] % 3]
            result = run(ocac_argv(store_path, config_path, "config", "set", "chat", "open", value))
            if result.returncode != 0:
                failures.append(AssertionError(result.stderr))
                return
            writes["config"] += 1

    threads = [threading.Thread(target=write_store), threading.Thread(target=write_config)]
    for thread in threads:
        thread.start()
    reads = 0
    deadline = time.monotonic() + 6
    try:
        while time.monotonic() < deadline and not failures:
            try:
                document = store.load(store_path)
                load_config(config_path)
            except OcacError as error:  # a partial file would be a StoreError or ConfigError
                failures.append(error)
                break
            assert len(document.conversations) == before
            reads += 1
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    if failures:
        raise failures[0]
    print(f"\n{reads} in-process reads during {writes['store']} store and {writes['config']} config rewrites")
    assert writes["store"] >= 2 and writes["config"] >= 2 and reads >= 20
    assert history_tail(store_path) == 0
