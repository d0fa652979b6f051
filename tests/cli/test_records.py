"""`ocac records delete/list`: a deleted record closes its open and active case conversations at the next sweep."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from ocac import store
from ocac.model import State

T = "2026-11-25T12:00:00Z"


def conv(cid: str, channel: str, state: str, **extra: object) -> dict[str, object]:
    return {"id": cid, "channel": channel, "state": state, "modified_on": "2026-11-25T11:58:00Z", **extra}


@pytest.fixture
def cases(store_path: Path) -> Path:
    store_path.write_text(json.dumps({"conversations": [
        conv("open", "case", "open", record_id="INC-1"),
        conv("active", "case", "active", record_id="INC-1"),
        conv("closed", "case", "closed", record_id="INC-1"),
        conv("other", "case", "open", record_id="INC-2"),
        conv("none", "case", "active"),
        conv("chat", "chat", "active", record_id="INC-1"),
    ], "deleted_records": ["OLD-9"], "source": {"system": "crm"}}, indent=2))  # fmt: skip
    return store_path


def sweep_moves(cli: Any) -> list[tuple[str, str, str, str]]:
    result = cli("sweep", "run", "--json", "--now", T)
    assert result.exit_code == 0, result.stderr
    return [(t["id"], t["from"], t["to"], t["reason"]) for t in json.loads(result.stdout)["transitions"]]


def test_delete_then_sweep_closes_linked_open_and_active_cases(cli, cases: Path) -> None:  # type: ignore[no-untyped-def]
    assert sweep_moves(cli) == []  # nothing is due before the record goes
    result = cli("records", "delete", "INC-1")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip() == "record 'INC-1' marked deleted; the next sweep closes 2 case conversation(s)"
    assert store.load(cases).deleted_records == {"INC-1", "OLD-9"}
    assert json.loads(cases.read_text())["source"] == {"system": "crm"}

    assert sweep_moves(cli) == [
        ("open", "open", "closed", "RecordDeleted"),
        ("active", "active", "closed", "RecordDeleted"),
    ]
    states = {c.id: c.state for c in store.load(cases).conversations}
    assert states == {
        "open": State.CLOSED, "active": State.CLOSED, "closed": State.CLOSED, "other": State.OPEN,
        "none": State.ACTIVE, "chat": State.ACTIVE,
    }  # fmt: skip
    history = cli("history", "--json")
    assert [(e["id"], e["reason"], e["rule"]) for e in json.loads(history.stdout)] == [
        ("open", "RecordDeleted", "case/record-deleted"), ("active", "RecordDeleted", "case/record-deleted"),
    ]  # fmt: skip
    assert sweep_moves(cli) == []


def test_delete_again_changes_nothing(cli, cases: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("records", "delete", "INC-1").exit_code == 0
    info = os.stat(cases)
    before = (cases.read_bytes(), info.st_ino, info.st_mtime_ns)
    again = cli("records", "delete", "INC-1")
    assert again.exit_code == 0
    assert again.stderr.strip() == "record 'INC-1' already deleted; the next sweep closes 2 case conversation(s)"
    info = os.stat(cases)
    assert (cases.read_bytes(), info.st_ino, info.st_mtime_ns) == before


def test_delete_of_a_record_no_conversation_links(cli, cases: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("records", "delete", "NOBODY")
    assert result.exit_code == 0
    assert result.stderr.strip() == "record 'NOBODY' marked deleted; the next sweep closes 0 case conversation(s)"
    assert sweep_moves(cli) == []


def test_list(cli, cases: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("records", "delete", "INC-2").exit_code == 0
    text = cli("records", "list")
    assert (text.exit_code, text.stdout) == (0, "INC-2\nOLD-9\n")
    as_json = cli("records", "list", "--json")
    assert json.loads(as_json.stdout) == ["INC-2", "OLD-9"]


def test_delete_into_a_missing_store_creates_it(cli, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("records", "delete", "R1").exit_code == 0
    assert json.loads(store_path.read_text()) == {"conversations": [], "deleted_records": ["R1"]}
