"""`ocac records delete/undelete/list`: a deleted record closes its open and active case conversations at the
next sweep."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ocac.model import Action
from ocac.store.trail import trail_path

from ._support import deleted_records, history, snapshot, states

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
    result = cli("records", "delete", "INC-1", "--now", "2026-11-25T11:59:00Z")
    assert (result.exit_code, result.stdout) == (0, ""), result.stderr
    assert result.stderr == "record 'INC-1' marked deleted; the next sweep closes 2 case conversation(s)\n"
    assert deleted_records(cases) == ["INC-1", "OLD-9"]
    assert json.loads(cases.read_text())["source"] == {"system": "crm"}  # what ocac does not know is kept

    assert sweep_moves(cli) == [
        ("active", "active", "closed", "RecordDeleted"),
        ("open", "open", "closed", "RecordDeleted"),
    ]
    assert {k: v[0] for k, v in states(cases).items()} == {
        "open": "closed", "active": "closed", "closed": "closed", "other": "open", "none": "active", "chat": "active",
    }  # fmt: skip
    listed = cli("history", "--json")
    assert [(e["action"], e["id"], e["reason"], e["rule"]) for e in json.loads(listed.stdout)] == [
        ("record-deleted", None, None, None),
        ("sweep", "active", "RecordDeleted", "case/record-deleted"),
        ("sweep", "open", "RecordDeleted", "case/record-deleted"),
    ]  # fmt: skip
    assert json.loads(listed.stdout)[0]["detail"] == {"record_id": "INC-1", "linked": 2}
    assert sweep_moves(cli) == []


def test_delete_again_changes_nothing(cli, cases: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("records", "delete", "INC-1").exit_code == 0
    before, trail = snapshot(cases), trail_path(cases).read_bytes()
    again = cli("records", "delete", "INC-1")
    assert (again.exit_code, again.stdout) == (0, "")
    assert again.stderr == "record 'INC-1' already deleted; the next sweep closes 2 case conversation(s)\n"
    assert (snapshot(cases), trail_path(cases).read_bytes()) == (before, trail)


def test_delete_of_a_record_no_conversation_links_warns(cli, cases: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("records", "delete", "NOBODY")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == (
        "ocac: warning: no conversation links NOBODY\n"
        "record 'NOBODY' marked deleted; the next sweep closes 0 case conversation(s)\n"
    )
    assert deleted_records(cases) == ["NOBODY", "OLD-9"]  # marked all the same: the import may come later
    assert sweep_moves(cli) == []


def test_a_closed_or_other_channel_link_does_not_count(cli, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    store_path.write_text(json.dumps({"conversations": [
        conv("closed", "case", "closed", record_id="INC-7"), conv("chat", "chat", "open", record_id="INC-7"),
    ]}))  # fmt: skip
    result = cli("records", "delete", "INC-7")
    assert result.stderr.splitlines()[0] == "ocac: warning: no conversation links INC-7"


def test_dry_run_says_what_the_next_sweep_would_close_and_writes_nothing(cli, cases: Path) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(cases)
    result = cli("records", "delete", "INC-1", "--dry-run")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == (
        "dry run: record 'INC-1' would be marked deleted; the next sweep would close 2 case conversation(s); "
        "nothing written\n"
    )
    nobody = cli("records", "delete", "NOBODY", "--dry-run")
    assert nobody.stderr == (
        "ocac: warning: no conversation links NOBODY\n"
        "dry run: record 'NOBODY' would be marked deleted; the next sweep would close 0 case conversation(s); "
        "nothing written\n"
    )
    already = cli("records", "delete", "OLD-9", "--dry-run")
    assert already.stderr == (
        "ocac: warning: no conversation links OLD-9\n"
        "dry run: record 'OLD-9' is already deleted; the next sweep would close 0 case conversation(s); "
        "nothing written\n"
    )
    assert snapshot(cases) == before
    assert not trail_path(cases).exists()


def test_undelete_takes_a_deletion_back(cli, cases: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("records", "delete", "INC-1", "--now", "2026-11-25T11:59:00Z").exit_code == 0
    result = cli("records", "undelete", "INC-1", "--now", "2026-11-25T11:59:30Z")
    assert (result.exit_code, result.stdout) == (0, ""), result.stderr
    assert result.stderr == "record 'INC-1' is no longer marked deleted (2 open case conversation(s))\n"
    assert deleted_records(cases) == ["OLD-9"]
    assert sweep_moves(cli) == []  # the case conversations stay as they were
    [deleted, undeleted] = history(cases)
    assert (deleted.kind, undeleted.kind) == (Action.RECORD_DELETED, Action.RECORD_UNDELETED)
    assert (undeleted.at, undeleted.detail) == (datetime(2026, 11, 25, 11, 59, 30, tzinfo=UTC),
                                                {"record_id": "INC-1", "linked": 2})  # fmt: skip


def test_undelete_of_a_record_not_deleted_changes_nothing(cli, cases: Path) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(cases)
    result = cli("records", "undelete", "INC-2")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "record 'INC-2' was not marked deleted: nothing to undo\n"
    assert snapshot(cases) == before
    assert not trail_path(cases).exists()


def test_undelete_does_not_reopen_what_a_sweep_closed(cli, cases: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("records", "delete", "INC-1").exit_code == 0
    assert len(sweep_moves(cli)) == 2
    result = cli("records", "undelete", "INC-1")
    assert result.stderr == "record 'INC-1' is no longer marked deleted (0 open case conversation(s))\n"
    assert (states(cases)["open"][0], states(cases)["active"][0]) == ("closed", "closed")  # closed is final


def test_list(cli, cases: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("records", "delete", "INC-2").exit_code == 0
    text = cli("records", "list")
    assert (text.exit_code, text.stdout, text.stderr) == (0, "INC-2\nOLD-9\n", "")
    as_json = cli("records", "list", "--json")
    assert json.loads(as_json.stdout) == ["INC-2", "OLD-9"]


def test_delete_into_a_missing_store_creates_it(cli, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("records", "delete", "R1")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[0] == "ocac: warning: no conversation links R1"
    [record] = history(store_path)
    assert record.kind is Action.RECORD_DELETED
    # The store names the run it reflects, which commits that run's records in the trail.
    assert json.loads(store_path.read_text()) == {
        "conversations": [], "deleted_records": ["R1"], "ocac": {"run": record.run_id},
    }  # fmt: skip
