"""`ocac history`: the committed audit trail, filtered by id, time and count."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ocac import history, store


def conv(cid: str, channel: str, state: str, modified_on: str) -> dict[str, object]:
    return {"id": cid, "channel": channel, "state": state, "modified_on": modified_on}


@pytest.fixture
def swept(cli: Any, store_path: Path) -> list[dict[str, Any]]:
    """Three sweeps: at 12:00 (a, v), at 12:30 (b), the next day (v again). Returns what they applied."""
    store_path.write_text(json.dumps({"conversations": [
        conv("a", "chat", "open", "2026-11-25T11:00:00Z"),
        conv("v", "voice", "active", "2026-11-25T09:00:00Z"),
        conv("b", "chat", "open", "2026-11-25T12:00:00Z"),
    ]}))  # fmt: skip
    applied = []
    for now in ("2026-11-25T12:00:00Z", "2026-11-25T12:30:00Z", "2026-11-26T12:01:00+00:00"):
        result = cli("sweep", "run", "--json", "--now", now)
        assert result.exit_code == 0, result.stderr
        document = json.loads(result.stdout)
        applied += [t | {"run_id": document["run_id"], "at": document["now"]} for t in document["transitions"]]
    assert [(t["id"], t["to"]) for t in applied] == [("a", "closed"), ("v", "wrap-up"), ("b", "closed"),
                                                      ("v", "closed")]  # fmt: skip
    return applied


def entries(cli: Any, *args: str) -> list[dict[str, Any]]:
    result = cli("history", "--json", *args)
    assert result.exit_code == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def test_json_lists_every_applied_transition(cli, swept: list[dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    keys = ("run_id", "at", "id", "channel", "from", "to", "reason", "rule", "threshold_minutes", "idle_minutes")
    assert entries(cli) == [{k: t[k] for k in keys} for t in swept]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--id", "v"), [("v", "wrap-up"), ("v", "closed")]),
        (("--id", "nobody"), []),
        (("--since", "2026-11-25T12:30:00Z"), [("b", "closed"), ("v", "closed")]),
        (("--since", "2026-11-25T14:30:01+02:00"), [("v", "closed")]),
        (("--since", "2026-11-27T00:00:00Z"), []),
        (("--limit", "1"), [("v", "closed")]),
        (("--limit", "3"), [("v", "wrap-up"), ("b", "closed"), ("v", "closed")]),
        (("--limit", "0"), []),
        (("--id", "v", "--limit", "1"), [("v", "closed")]),
        (("--id", "a", "--since", "2026-11-25T12:00:01Z"), []),
    ],
)
def test_filters(cli, swept: list[dict[str, Any]], args: tuple[str, ...], expected: list[tuple[str, str]]) -> None:  # type: ignore[no-untyped-def]
    assert [(e["id"], e["to"]) for e in entries(cli, *args)] == expected


def test_text(cli, swept: list[dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    result = cli("history", "--id", "v")
    assert result.exit_code == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines() if line.strip()]
    assert lines[0] == ["at", "id", "channel", "from", "→", "to", "reason", "rule", "idle"]
    assert lines[2:] == [
        ["2026-11-25T12:00:00Z", "v", "voice", "active", "→", "wrap-up", "AutoClosedBySystem", "voice/active", "3h"],
        ["2026-11-26T12:01:00Z", "v", "voice", "wrap-up", "→", "closed", "AutoClosedBySystem", "voice/wrap-up",
         "1d"],
    ]
    none = cli("history", "--id", "nobody")
    assert (none.exit_code, none.stdout, none.stderr.strip()) == (0, "", "no history entries match")


def test_bad_since_exits_2(cli, swept: list[dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    result = cli("history", "--since", "2026-11-25T12:00:00")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("ocac: error: --since '2026-11-25T12:00:00' has no offset")


def test_uncommitted_entries_are_not_shown(cli, swept: list[dict[str, Any]], store_path: Path) -> None:  # type: ignore[no-untyped-def]
    log = store.history_path(store_path)
    size = log.stat().st_size
    history.append(log, b'{"run_id":"died","at":"2026-11-27T00:00:00Z","id":"a","channel":"chat","from":"open",'
                        b'"to":"closed","reason":"AutoClosedBySystem","rule":"chat/open","threshold_minutes":20,'
                        b'"idle_minutes":21}\n')  # fmt: skip
    assert [e["run_id"] for e in entries(cli)] == [t["run_id"] for t in swept]
    assert log.stat().st_size > size  # reading does not repair; the next writer does


def test_no_history_yet(cli, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert entries(cli) == []
    result = cli("history")
    assert (result.exit_code, result.stdout, result.stderr.strip()) == (0, "", "no history entries match")


def test_dataverse_format(cli, swept: list[dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    result = cli("history", "--format", "dataverse", "--json", "--id", "v")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"value": [
        {"activityid": "v", "statuscode": 5, "msdyn_closurereason": 192350010,
         "msdyn_closurereason@OData.Community.Display.V1.FormattedValue": "AutoClosedBySystem",
         "msdyn_modifiedon": "2026-11-25T12:00:00Z", "ocac_run_id": swept[1]["run_id"], "ocac_rule": "voice/active"},
        {"activityid": "v", "statuscode": 4, "msdyn_closurereason": 192350010,
         "msdyn_closurereason@OData.Community.Display.V1.FormattedValue": "AutoClosedBySystem",
         "msdyn_modifiedon": "2026-11-26T12:01:00Z", "ocac_run_id": swept[3]["run_id"], "ocac_rule": "voice/wrap-up"},
    ]}  # fmt: skip
    text = cli("history", "--format", "dataverse", "--id", "a")
    rows = [line.split() for line in text.stdout.splitlines() if line.strip()]
    assert rows[0] == ["activityid", "statuscode", "msdyn_closurereason", "msdyn_modifiedon"]
    assert rows[-1] == ["a", "4", "192350010", "2026-11-25T12:00:00Z"]
    assert "unknown --format 'xml'" in cli("history", "--format", "xml").stderr
