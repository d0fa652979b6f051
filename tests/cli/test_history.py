"""`ocac history`: the committed audit trail (every change, not only sweeps), its filters and its formats."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from ocac.audit import actor
from ocac.store.trail import trail_path

from ._support import fail, words

BY = actor()

CONFIG = """\
[workstreams."SMS"]
channel = "sms"
auto_close_after = "2h"
"""


def conv(cid: str, channel: str, state: str, modified_on: str, **extra: str) -> dict[str, object]:
    return {"id": cid, "channel": channel, "state": state, "modified_on": modified_on, **extra}


Entry = tuple[str, str | None, str | None]
"""(action, id, to state) of a history record."""

# What the `trail` fixture leaves in the history, oldest first.
TRAIL: list[Entry] = [
    ("sweep", "v", "wrap-up"),  # 12:00 (v was due at 11:00, a at 11:20)
    ("sweep", "a", "closed"),  # 12:00
    ("record-deleted", None, None),  # 12:10: R1
    ("touch", "w", "waiting"),  # 12:20
    ("sweep", "k", "closed"),  # 12:30, RecordDeleted (due since 11:00)
    ("sweep", "b", "closed"),  # 12:30 (due at 12:20)
    ("config", None, None),  # 12:40
    ("sweep", "w", "closed"),  # the next day at 12:01, AutoClosedFromWaitingState (due at 14:20)
    ("sweep", "v", "closed"),  # the next day at 12:01 (due at 12:00)
]


@pytest.fixture
def trail(cli: Any, store_path: Path, config_path: Path) -> list[dict[str, Any]]:
    """Three sweeps with a record deletion, a touch and a configuration edit between them.

    Returns the sweeps' `--json` documents."""
    store_path.write_text(json.dumps({"conversations": [
        conv("a", "chat", "open", "2026-11-25T11:00:00Z"),
        conv("v", "voice", "active", "2026-11-25T09:00:00Z"),
        conv("b", "chat", "open", "2026-11-25T12:00:00Z"),
        conv("k", "case", "open", "2026-11-25T11:00:00Z", record_id="R1"),
        conv("w", "sms", "waiting", "2026-11-25T10:30:00Z", workstream="SMS"),
    ]}))  # fmt: skip
    config_path.write_text(CONFIG)
    sweeps = []

    def run(*args: str) -> None:
        result = cli(*args)
        assert result.exit_code == 0, result.stderr
        if args[:2] == ("sweep", "run"):
            sweeps.append(json.loads(result.stdout))

    run("sweep", "run", "--json", "--now", "2026-11-25T12:00:00Z")
    run("records", "delete", "R1", "--now", "2026-11-25T12:10:00Z")
    run("conversations", "touch", "w", "--now", "2026-11-25T12:20:00Z")
    run("sweep", "run", "--json", "--now", "2026-11-25T12:30:00Z")
    run("config", "set", "chat", "wrap-up", "30m", "--now", "2026-11-25T12:40:00Z")
    run("sweep", "run", "--json", "--now", "2026-11-26T12:01:00+00:00")
    moved = [(t["id"], t["to"]) for s in sweeps for t in s["transitions"]]
    assert moved == [(i, to) for action, i, to in TRAIL if action == "sweep"]
    return sweeps


def records(cli: Any, *args: str) -> list[dict[str, Any]]:
    result = cli("history", "--json", *args)
    assert result.exit_code == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def entries(cli: Any, *args: str) -> list[Entry]:
    return [(r["action"], r["id"], r["to"]) for r in records(cli, *args)]


def test_json_lists_every_change_with_every_field(cli, trail: list[dict[str, Any]], config_path: Path) -> None:  # type: ignore[no-untyped-def]
    rows = records(cli)
    assert [(r["action"], r["id"], r["to"]) for r in rows] == TRAIL
    first, second, third = (s["run_id"] for s in trail)
    assert rows[0] == {
        "run_id": first, "action": "sweep", "at": "2026-11-25T12:00:00Z", "by": BY, "id": "v", "channel": "voice",
        "from": "active", "to": "wrap-up", "reason": "AutoClosedBySystem", "rule": "voice/active",
        "threshold_minutes": 120, "idle_minutes": 180, "detail": None,
    }  # fmt: skip
    assert rows[2] | {"run_id": None} == {
        "run_id": None, "action": "record-deleted", "at": "2026-11-25T12:10:00Z", "by": BY, "id": None,
        "channel": None, "from": None, "to": None, "reason": None, "rule": None, "threshold_minutes": None,
        "idle_minutes": None, "detail": {"record_id": "R1", "linked": 1},
    }  # fmt: skip
    assert {k: rows[3][k] for k in ("action", "at", "id", "channel", "from", "to", "detail")} == {
        "action": "touch", "at": "2026-11-25T12:20:00Z", "id": "w", "channel": "sms", "from": "waiting",
        "to": "waiting", "detail": {"activity": "message"},
    }  # fmt: skip
    assert (rows[4]["run_id"], rows[4]["reason"], rows[4]["rule"]) == (second, "RecordDeleted", "case/record-deleted")
    assert {k: rows[6][k] for k in ("action", "at", "id", "detail")} == {
        "action": "config", "at": "2026-11-25T12:40:00Z", "id": None,
        "detail": {"config": str(config_path), "change": "chat wrap-up: 15m → 30m"},
    }  # fmt: skip
    assert (rows[7]["run_id"], rows[7]["reason"], rows[7]["rule"], rows[7]["threshold_minutes"]) == (
        third, "AutoClosedFromWaitingState", "workstream:SMS", 120,
    )  # fmt: skip
    # The JSON matches what each sweep reported, field for field.
    reported = [t | {"run_id": s["run_id"], "at": s["now"]} for s in trail for t in s["transitions"]]
    swept = [r for r in rows if r["action"] == "sweep"]
    keys = ("run_id", "at", "id", "channel", "from", "to", "reason", "rule", "threshold_minutes", "idle_minutes")
    assert [{k: r[k] for k in keys} for r in swept] == [{k: t[k] for k in keys} for t in reported]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--id", "v"), [0, 8]),
        (("--id", "nobody"), []),
        (("--since", "2026-11-25T12:30:00Z"), [4, 5, 6, 7, 8]),
        (("--since", "2026-11-25T14:30:01+02:00"), [6, 7, 8]),
        (("--since", "2026-11-26"), [7, 8]),  # a date: midnight UTC
        (("--since", "2026-11-27T00:00:00Z"), []),
        (("--until", "2026-11-25T12:10:00Z"), [0, 1, 2]),
        (("--until", "2026-11-25"), []),
        (("--since", "2026-11-25T12:10:00Z", "--until", "2026-11-25T12:30:00Z"), [2, 3, 4, 5]),
        (("--since", "1d", "--now", "2026-11-26T12:30:00Z"), [4, 5, 6, 7, 8]),  # a time ago, judged at --now
        (("--since", "30m", "--now", "2026-11-26T12:30:00Z"), [7, 8]),
        (("--until", "1d", "--now", "2026-11-26T12:20:00Z"), [0, 1, 2, 3]),
        (("--action", "sweep"), [0, 1, 4, 5, 7, 8]),
        (("--action", "touch", "--action", "config"), [3, 6]),
        (("--action", "record-deleted"), [2]),
        (("--action", "import"), []),
        (("--channel", "VOICE"), [0, 8]),
        (("--channel", "chat", "--channel", "case"), [1, 4, 5]),
        (("--reason", "RecordDeleted"), [4]),
        (("--reason", "autoclosedfromwaitingstate"), [7]),
        (("--reason", "AutoClosedBySystem", "--channel", "chat"), [1, 5]),
        (("--limit", "1"), [8]),
        (("--limit", "3"), [6, 7, 8]),
        (("--limit", "0"), []),
        (("--reverse",), [8, 7, 6, 5, 4, 3, 2, 1, 0]),
        (("--reverse", "--limit", "2"), [8, 7]),  # the last two, newest first
        (("--id", "v", "--limit", "1"), [8]),
        (("--id", "a", "--since", "2026-11-25T12:00:01Z"), []),
        (("--action", "sweep", "--channel", "chat", "--since", "2026-11-25T12:15:00Z"), [5]),
    ],
)
def test_filters(cli, trail: list[dict[str, Any]], args: tuple[str, ...], expected: list[int]) -> None:  # type: ignore[no-untyped-def]
    assert entries(cli, *args) == [TRAIL[i] for i in expected]


def test_text(cli, trail: list[dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    result = cli("history", "--since", "2026-11-25T12:10:00Z", "--until", "2026-11-25T12:40:00Z")
    assert (result.exit_code, result.stderr) == (0, "")
    lines = words(result.stdout)
    assert lines[0] == ["at", "action", "id", "channel", "from", "→", "to", "reason", "rule", "idle", "by"]
    assert lines[2:] == [
        ["2026-11-25T12:10:00Z", "record-deleted", "record", "R1", BY],
        ["2026-11-25T12:20:00Z", "touch", "w", "sms", "waiting", "→", "waiting", BY],
        ["2026-11-25T12:30:00Z", "sweep", "k", "case", "open", "→", "closed", "RecordDeleted", "case/record-deleted",
         "1h", "30m", BY],
        ["2026-11-25T12:30:00Z", "sweep", "b", "chat", "open", "→", "closed", "AutoClosedBySystem", "chat/open", "30m",
         BY],
        ["2026-11-25T12:40:00Z", "config", "chat", "wrap-up:", "15m", "→", "30m", BY],
    ]  # fmt: skip


def test_nothing_matches(cli, trail: list[dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    none = cli("history", "--id", "nobody")
    assert (none.exit_code, none.stdout, none.stderr) == (0, "", "no history records match\n")


def test_csv_has_a_header_and_every_cell(cli, trail: list[dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    result = cli("history", "--csv", "--id", "v")
    assert (result.exit_code, result.stderr) == (0, "")
    assert list(csv.reader(io.StringIO(result.stdout))) == [
        ["at", "action", "id", "channel", "from → to", "reason", "rule", "idle", "by"],
        ["2026-11-25T12:00:00Z", "sweep", "v", "voice", "active → wrap-up", "AutoClosedBySystem", "voice/active", "3h",
         BY],
        ["2026-11-26T12:01:00Z", "sweep", "v", "voice", "wrap-up → closed", "AutoClosedBySystem", "voice/wrap-up",
         "1d 1m", BY],
    ]  # fmt: skip
    empty = cli("history", "--csv", "--id", "nobody")
    assert (empty.exit_code, empty.stdout, empty.stderr) == (0, "at,action,id,channel,from → to,reason,rule,idle,by\n",
                                                             "")  # fmt: skip


def test_json_and_csv_cannot_be_combined(cli, trail: list[dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    assert fail(cli("history", "--json", "--csv")) == "ocac: error: --json and --csv cannot be combined: pick one"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--since", "2026-11-25T12:00:00"),
            "invalid --since '2026-11-25T12:00:00': use RFC 3339 (2026-11-25T12:00:00Z), a date (2026-11-25, midnight "
            "UTC) or a time ago (1h, 2d)",
        ),
        (
            ("--until", "yesterday"),
            "invalid --until 'yesterday': use RFC 3339 (2026-11-25T12:00:00Z), a date (2026-11-25, midnight UTC) or a "
            "time ago (1h, 2d)",
        ),
        (
            ("--reason", "Bored"),
            "unknown --reason 'Bored': use one of AutoClosedBySystem, AutoClosedFromWaitingState, RecordDeleted",
        ),
        (("--channel", "fax"), "unknown channel 'fax'"),
    ],
)
def test_bad_filters_exit_2(cli, trail: list[dict[str, Any]], args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    assert fail(cli("history", *args)).startswith(f"ocac: error: {message}")


@pytest.mark.parametrize("args", [("--action", "sweeps"), ("--format", "xml"), ("--limit", "-1")])
def test_bad_choices_are_usage_errors(cli, trail: list[dict[str, Any]], args: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    result = cli("history", *args)
    assert (result.exit_code, result.stdout) == (2, "")


def test_uncommitted_records_are_not_shown(cli, trail: list[dict[str, Any]], store_path: Path) -> None:  # type: ignore[no-untyped-def]
    log = trail_path(store_path)
    with log.open("ab") as handle:  # what a writer killed before its store's rename leaves behind
        handle.write(b'{"run_id":"died","action":"sweep","at":"2026-11-27T00:00:00Z","id":"a","channel":"chat",'
                     b'"from":"open","to":"closed","reason":"AutoClosedBySystem","rule":"chat/open",'
                     b'"threshold_minutes":20,"idle_minutes":21}\n')  # fmt: skip
    size = log.stat().st_size
    assert entries(cli) == TRAIL
    assert log.stat().st_size == size  # reading does not repair; the next writer does


def test_every_kind_of_change_is_recorded(cli, store_path: Path, config_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "in.json"
    source.write_text(json.dumps([conv("i1", "case", "active", "2026-11-25T11:00:00Z", record_id="R2")]))
    steps = [
        ("conversations", "add", "--channel", "voice", "--id", "n1", "--now", "2026-11-25T12:00:00Z"),
        ("conversations", "import", str(source), "--now", "2026-11-25T12:01:00Z"),
        ("conversations", "touch", "n1", "--now", "2026-11-25T12:02:00Z"),
        ("conversations", "set-state", "n1", "active", "--now", "2026-11-25T12:03:00Z"),
        ("records", "delete", "R2", "--now", "2026-11-25T12:04:00Z"),
        ("records", "undelete", "R2", "--now", "2026-11-25T12:05:00Z"),
        ("config", "set", "voice", "active", "1h", "--now", "2026-11-25T12:06:00Z"),
        ("workstream", "set", "Line", "--channel", "voice", "--now", "2026-11-25T12:07:00Z"),
        ("sweep", "run", "--now", "2026-11-26T12:00:00Z"),
    ]
    for step in steps:
        result = cli(*step)
        assert result.exit_code == 0, (step, result.stderr)
    rows = records(cli)
    assert [(r["action"], r["at"]) for r in rows] == [
        ("add", "2026-11-25T12:00:00Z"), ("import", "2026-11-25T12:01:00Z"), ("touch", "2026-11-25T12:02:00Z"),
        ("set-state", "2026-11-25T12:03:00Z"), ("record-deleted", "2026-11-25T12:04:00Z"),
        ("record-undeleted", "2026-11-25T12:05:00Z"), ("config", "2026-11-25T12:06:00Z"),
        ("config", "2026-11-25T12:07:00Z"), ("sweep", "2026-11-26T12:00:00Z"),
    ]  # fmt: skip
    assert (rows[-1]["id"], rows[-1]["to"], rows[-1]["threshold_minutes"]) == ("n1", "wrap-up", 60)
    assert rows[-2]["detail"] == {"config": str(config_path), "change": "workstream 'Line'"}
    assert {r["by"] for r in rows} == {BY}
    assert len({r["run_id"] for r in rows}) == len(rows)  # one run per change


def test_no_history_yet(cli, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert records(cli) == []
    result = cli("history")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "no history records match\n")
    assert not store_path.exists()


# --- --format dataverse -------------------------------------------------------------------------------------


def test_dataverse_json_has_the_service_codes_of_sweep_moves_only(cli, trail: list[dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    first, second, third = (s["run_id"] for s in trail)
    result = cli("history", "--format", "dataverse", "--json")
    assert (result.exit_code, result.stderr) == (0, "")
    document = json.loads(result.stdout)
    assert list(document) == ["value"]
    rows = {(row["activityid"], row["modifiedon"]): row for row in document["value"]}
    assert list(rows) == [
        ("v", "2026-11-25T12:00:00Z"), ("a", "2026-11-25T12:00:00Z"), ("k", "2026-11-25T12:30:00Z"),
        ("b", "2026-11-25T12:30:00Z"), ("w", "2026-11-26T12:01:00Z"), ("v", "2026-11-26T12:01:00Z"),
    ]  # fmt: skip
    assert rows["v", "2026-11-25T12:00:00Z"] == {
        "activityid": "v", "statecode": 0, "statuscode": 5, "msdyn_statuschangereason": None,
        "modifiedon": "2026-11-25T12:00:00Z", "ocac_reason": "AutoClosedBySystem", "ocac_rule": "voice/active",
        "ocac_run_id": first,
    }  # fmt: skip
    assert rows["v", "2026-11-26T12:01:00Z"] == {
        "activityid": "v", "statecode": 1, "statuscode": 4, "msdyn_statuschangereason": 192350010,
        "msdyn_statuschangereason@OData.Community.Display.V1.FormattedValue": "AutoClosedBySystem",
        "modifiedon": "2026-11-26T12:01:00Z", "ocac_reason": "AutoClosedBySystem", "ocac_rule": "voice/wrap-up",
        "ocac_run_id": third,
    }  # fmt: skip
    assert rows["w", "2026-11-26T12:01:00Z"] == {
        "activityid": "w", "statecode": 1, "statuscode": 4, "msdyn_statuschangereason": 192350009,
        "msdyn_statuschangereason@OData.Community.Display.V1.FormattedValue": "AutoClosedFromWaitingState",
        "modifiedon": "2026-11-26T12:01:00Z", "ocac_reason": "AutoClosedFromWaitingState",
        "ocac_rule": "workstream:SMS", "ocac_run_id": third,
    }  # fmt: skip
    assert rows["k", "2026-11-25T12:30:00Z"] == {  # the service has no code for ocac's RecordDeleted
        "activityid": "k", "statecode": 1, "statuscode": 4, "msdyn_statuschangereason": None,
        "modifiedon": "2026-11-25T12:30:00Z", "ocac_reason": "RecordDeleted", "ocac_rule": "case/record-deleted",
        "ocac_run_id": second,
    }  # fmt: skip


def test_dataverse_table_and_csv(cli, trail: list[dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    text = cli("history", "--format", "dataverse", "--id", "v")
    assert (text.exit_code, text.stderr) == (0, "")
    assert words(text.stdout) == [
        ["activityid", "statecode", "statuscode", "msdyn_statuschangereason", "modifiedon"],
        [words(text.stdout)[1][0]],  # the rule under the heading
        ["v", "0", "5", "2026-11-25T12:00:00Z"],
        ["v", "1", "4", "192350010", "2026-11-26T12:01:00Z"],
    ]
    as_csv = cli("history", "--format", "dataverse", "--csv", "--action", "touch", "--action", "sweep", "--id", "v")
    assert as_csv.stdout == (
        "activityid,statecode,statuscode,msdyn_statuschangereason,modifiedon\n"
        "v,0,5,,2026-11-25T12:00:00Z\n"
        "v,1,4,192350010,2026-11-26T12:01:00Z\n"
    )
    only_other_changes = cli("history", "--format", "dataverse", "--json", "--action", "touch")
    assert json.loads(only_other_changes.stdout) == {"value": []}
