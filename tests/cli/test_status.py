"""`ocac status`: counts by channel and state, what is due, the oldest open conversations, the last sweep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLE_NOW

T = "2026-11-25T12:00:00Z"


def conv(cid: str, channel: str, state: str, modified_on: str) -> dict[str, object]:
    return {"id": cid, "channel": channel, "state": state, "modified_on": modified_on}


@pytest.fixture
def small(store_path: Path) -> Path:
    store_path.write_text(json.dumps({"conversations": [
        conv("c1", "chat", "open", "2026-11-25T11:30:00Z"),    # due now
        conv("c2", "chat", "open", "2026-11-25T11:42:00Z"),    # due at 12:02
        conv("c3", "chat", "closed", "2026-01-01T00:00:00Z"),  # closed: counted, never oldest
        conv("v1", "voice", "active", "2026-11-25T11:00:00+01:00"),  # 10:00Z, due at 12:00: not yet
        conv("s1", "sms", "waiting", "2026-11-20T00:00:00Z"),  # no workstream: never
    ]}))  # fmt: skip
    return store_path


def status_json(cli: Any, *args: str) -> dict[str, Any]:
    result = cli("status", "--json", "--now", T, *args)
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_json(cli, small: Path) -> None:  # type: ignore[no-untyped-def]
    assert status_json(cli) == {
        "now": T,
        "counts": {"chat": {"open": 2, "closed": 1}, "voice": {"active": 1}, "sms": {"waiting": 1}},
        "due_now": 1,
        "due_next_sweep": 3,
        "interval_minutes": 5,
        "oldest_open": {
            "chat": {"id": "c1", "idle_minutes": 30},
            "sms": {"id": "s1", "idle_minutes": 7920},
            "voice": {"id": "v1", "idle_minutes": 120},
        },
        "last_sweep": None,
    }


def test_json_interval_and_last_sweep(cli, small: Path) -> None:  # type: ignore[no-untyped-def]
    assert status_json(cli, "--interval", "1h")["due_next_sweep"] == 3
    assert status_json(cli, "--interval", "1m")["due_next_sweep"] == 2
    swept = cli("sweep", "run", "--json", "--now", T)
    run_id = json.loads(swept.stdout)["run_id"]
    document = status_json(cli)
    assert document["last_sweep"] == {"run_id": run_id, "at": T, "moved": 1}
    assert document["counts"]["chat"] == {"open": 1, "closed": 2}
    assert document["due_now"] == 0


@pytest.mark.parametrize("interval", ["0", "never", "soon"])
def test_bad_interval_exits_2(cli, small: Path, interval: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("status", "--interval", interval, "--now", T)
    assert result.exit_code == 2 and result.stdout == "" and result.stderr.startswith("ocac: error: ")


def test_text(cli, small: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("status", "--now", T)
    assert result.exit_code == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines() if line.strip()]
    assert lines[0] == ["status", "at", T]
    assert ["channel", "open", "active", "waiting", "wrap-up", "closed", "total"] in lines
    assert ["chat", "2", "-", "-", "-", "1", "3"] in lines
    assert ["case", "-", "-", "-", "-", "-", "0"] in lines
    text = [" ".join(line) for line in lines]
    assert "due now: 1; due by the next sweep (+5m): 3" in text
    assert "oldest open chat: c1 (idle 30m)" in text
    assert "oldest open sms: s1 (idle 5d 12h)" in text
    assert text[-1] == "last sweep: none recorded in this store"


def test_text_fits_80_columns(cli, sample_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "80")
    assert cli("sweep", "run", "-q", "--now", SAMPLE_NOW).exit_code == 0
    result = cli("status", "--now", SAMPLE_NOW)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) > 10
    too_wide = [line for line in lines if len(line) > 80]
    assert too_wide == []
    assert any(line.startswith("last sweep: 2026-11-25T12:00:00Z, moved 69") for line in lines)
    assert any("persistent-chat" in line for line in lines)


def test_empty_store(cli, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    document = status_json(cli)
    assert (document["counts"], document["due_now"], document["oldest_open"], document["last_sweep"]) == (
        {}, 0, {}, None,
    )  # fmt: skip
    assert not store_path.exists()
