"""The audit trail: JSON Lines beside the store; only what the store's marker covers is committed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ocac import history, store
from ocac.errors import StoreError
from ocac.store.document import SweepMarker

AT = datetime(2026, 11, 25, 12, tzinfo=UTC)


def entry(run_id: str, cid: str, to: str = "closed") -> history.Entry:
    return history.Entry(
        run_id=run_id, at=AT, id=cid, channel="chat", from_state="open", to_state=to,
        reason="AutoClosedBySystem", rule="chat/open", threshold_minutes=20, idle_minutes=21,
    )  # fmt: skip


def marker(size: int, run_id: str = "r1") -> SweepMarker:
    return SweepMarker(run_id, "2026-11-25T12:00:00Z", 1, size)


def test_history_path_is_beside_the_store(tmp_path: Path) -> None:
    assert store.history_path(tmp_path / "conversations.json") == tmp_path / "conversations.history.jsonl"
    assert store.history_path(tmp_path / "floor.toml") == tmp_path / "floor.history.jsonl"


def test_entries_are_json_lines_with_the_documented_names() -> None:
    data = history.encode_entries([entry("r1", "a"), entry("r1", "b", "wrap-up")])
    lines = data.decode().splitlines()
    assert data.endswith(b"\n") and len(lines) == 2
    assert json.loads(lines[1]) == {
        "run_id": "r1", "at": "2026-11-25T12:00:00Z", "id": "b", "channel": "chat", "from": "open",
        "to": "wrap-up", "reason": "AutoClosedBySystem", "rule": "chat/open", "threshold_minutes": 20,
        "idle_minutes": 21,
    }  # fmt: skip


def test_read_returns_only_what_the_marker_commits(tmp_path: Path) -> None:
    log = tmp_path / "s.history.jsonl"
    first = history.encode_entries([entry("r1", "a"), entry("r1", "b")])
    history.append(log, first)
    history.append(log, history.encode_entries([entry("r2", "c")]))  # never committed
    assert history.size(log) > len(first)
    committed = list(history.read(log, marker(len(first))))
    assert [(e.run_id, e.id) for e in committed] == [("r1", "a"), ("r1", "b")]
    assert committed[0].at == AT and committed[0].to_state == "closed"
    assert list(history.read(log, None)) == []  # a store that records no sweep commits no history
    assert list(history.read(tmp_path / "missing.jsonl", marker(10))) == []
    assert history.size(tmp_path / "missing.jsonl") == 0


def test_recover_cuts_off_one_uncommitted_sweep(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "s.history.jsonl"
    first = history.encode_entries([entry("r1", "a")])
    history.append(log, first + history.encode_entries([entry("r2", "b"), entry("r2", "c")]))
    history.recover(log, marker(len(first)))
    assert log.read_bytes() == first
    history.recover(log, marker(len(first)))  # nothing more to do
    assert log.read_bytes() == first
    assert capsys.readouterr().err == ""


def test_recover_without_marker_empties_a_single_uncommitted_sweep(tmp_path: Path) -> None:
    log = tmp_path / "s.history.jsonl"
    history.append(log, history.encode_entries([entry("r1", "a")]))
    history.recover(log, None)
    assert log.read_bytes() == b""


def test_recover_leaves_a_tail_of_several_sweeps_and_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "s.history.jsonl"
    data = history.encode_entries([entry("r1", "a"), entry("r2", "b")])
    history.append(log, data)
    history.recover(log, None)
    assert log.read_bytes() == data
    err = capsys.readouterr().err
    assert err.startswith("ocac: warning: ") and "2 sweeps" in err


def test_recover_warns_when_history_is_shorter_than_the_store_expects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "s.history.jsonl"
    history.append(log, b"{}\n")
    history.recover(log, marker(100))
    assert log.read_bytes() == b"{}\n"
    err = capsys.readouterr().err
    assert err.startswith("ocac: warning: ") and "rotated" in err


def test_corrupt_committed_line_names_the_file_and_line(tmp_path: Path) -> None:
    log = tmp_path / "s.history.jsonl"
    good = history.encode_entries([entry("r1", "a")])
    log.write_bytes(good + b"\n" + b'{"run_id": 1}\n')
    with pytest.raises(StoreError) as caught:
        list(history.read(log, marker(log.stat().st_size)))
    assert str(log) in str(caught.value) and "line 3" in str(caught.value)


def test_append_creates_and_appends_whole_lines(tmp_path: Path) -> None:
    log = tmp_path / "s.history.jsonl"
    history.append(log, b"one\n")
    history.append(log, b"two\n")
    assert log.read_bytes() == b"one\ntwo\n"
