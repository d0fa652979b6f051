"""The Dataverse commands: `conversations import --format dataverse`, `config export` and `config import`."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest

from conftest import SAMPLE, SAMPLE_NOW
from ocac.config import load_config, matrix
from ocac.model import Action, Channel, State
from ocac.policy import rule_is_configurable

from ._support import conversations, fields, history, snapshot, states

EXPORT = SAMPLE / "dataverse-conversations.json"
PERSISTENT = "b2c7e4a9-31f5-4d8e-a6b0-7c9d2e1f3a85"
WAITING_REASON = rule_is_configurable(Channel.SOCIAL, State.WAITING)
CLOSED_REASON = rule_is_configurable(Channel.SMS, State.CLOSED)


def _cells(path: Path) -> list[tuple[str, str, int | None, str]]:
    """The effective matrix of a config file: channel, state, minutes, target."""
    return [(str(c.channel), str(c.state), c.minutes, str(c.target)) for c in matrix(load_config(path).policy)]


def _write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------
# conversations import --format dataverse
# ---------------------------------------------------------------------------


def test_import_the_sample_export(cli: Any, store_path: Path) -> None:
    result = cli("conversations", "import", "--format", "dataverse", str(EXPORT), "--persistent-workstream", PERSISTENT)
    assert result.exit_code == 0, result.output
    assert result.stderr == "imported 22 conversation(s): 22 added, 0 updated, 0 unchanged\n"
    counts = Counter((str(c.channel), str(c.state)) for c in conversations(store_path))
    assert counts == {
        ("chat", "active"): 1, ("chat", "open"): 1, ("chat", "wrap-up"): 1, ("chat", "closed"): 1,
        ("persistent-chat", "waiting"): 1, ("persistent-chat", "active"): 1,
        ("voice", "active"): 1, ("voice", "wrap-up"): 1, ("voice", "open"): 1,
        ("sms", "waiting"): 1, ("sms", "closed"): 1, ("teams", "waiting"): 1, ("teams", "active"): 1,
        ("social", "waiting"): 2, ("social", "active"): 1, ("social", "closed"): 2, ("social", "open"): 1,
        ("social", "wrap-up"): 1, ("case", "active"): 1, ("case", "closed"): 1,
    }  # fmt: skip
    stored = fields(store_path, "fece6b98-9a32-4eae-b86c-67b35a0ac810")
    assert stored["channel"] == "persistent-chat" and stored["state"] == "waiting"
    assert stored["workstream"] == PERSISTENT
    assert stored["msdyn_title"] == "Return label follow-up"
    assert stored["_msdyn_liveworkstreamid_value@OData.Community.Display.V1.FormattedValue"] == "Contoso Chat"
    assert not {"activityid", "statecode", "statuscode"} & set(stored)
    assert "_msdyn_liveworkstreamid_value" not in stored  # the GUID is what `workstream` holds
    [record] = history(store_path)
    assert record.kind is Action.IMPORT and record.detail is not None
    assert (record.detail["source"], record.detail["added"]) == (str(EXPORT), 22)


def test_the_imported_sample_sweeps_as_the_reference_rules_say(cli: Any) -> None:
    cli("conversations", "import", "--format", "dataverse", str(EXPORT), "--persistent-workstream", PERSISTENT)
    result = cli("sweep", "run", "--dry-run", "--now", SAMPLE_NOW, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["considered"], document["moved"]) == (22, 6)
    moves = sorted((t["id"][:8], t["to"]) for t in document["transitions"])
    # chat open 26m > 20m, chat wrap-up 18m > 15m, voice active 2h41m > 2h, voice wrap-up 1d3h > 1d,
    # social open 31d > 30d, social active 33d > 30d; the waiting rows' workstreams are not configured.
    assert moves == [
        ("36efaf6b", "closed"), ("5856c32a", "closed"), ("65bc44ab", "closed"),
        ("67d1191f", "closed"), ("9f642b78", "wrap-up"), ("fe03c0e4", "closed"),
    ]  # fmt: skip


def test_reimporting_the_same_export_changes_nothing(cli: Any, store_path: Path) -> None:
    args = ("conversations", "import", "--format", "dataverse", str(EXPORT), "--persistent-workstream", PERSISTENT)
    assert cli(*args).exit_code == 0
    before, records = snapshot(store_path), history(store_path)
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert result.stderr == "imported 22 conversation(s): 0 added, 0 updated, 22 unchanged\n"
    assert snapshot(store_path) == before
    assert history(store_path) == records  # nothing changed: nothing recorded


def test_import_without_the_persistent_workstream_is_refused_and_writes_nothing(cli: Any, store_path: Path) -> None:
    result = cli("conversations", "import", "--format", "dataverse", str(EXPORT))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"ocac: error: {EXPORT}: row 14 (activityid fece6b98-9a32-4eae-b86c-67b35a0ac810): statuscode: 3 (waiting), "
        "but chat conversations cannot wait (only persistent-chat, sms, social and teams): "
        f"if workstream {PERSISTENT} is persistent chat, import it ('ocac workstream import --format dataverse "
        f"FILE') or pass --persistent-workstream {PERSISTENT}\n"
    )
    assert not store_path.exists()


def test_a_bad_last_row_leaves_the_store_untouched(cli: Any, sample_store: Path, tmp_path: Path) -> None:
    rows = json.loads(EXPORT.read_text())["value"]
    rows[-1]["statuscode"] = "4"  # a column of the wrong type
    bad = _write(tmp_path / "bad.json", {"value": rows})
    before = sample_store.read_bytes()
    result = cli(
        "conversations", "import", "--format", "dataverse", str(bad), "--persistent-workstream", PERSISTENT, "--replace"
    )
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"ocac: error: {bad}: row 22 (activityid {rows[-1]['activityid']}): statuscode: expected a whole number, "
        'found "4"\n'
    )
    assert sample_store.read_bytes() == before
    assert len(states(sample_store)) == 300


def test_import_into_a_toml_store_keeps_other_fields_and_drops_nulls(cli: Any, tmp_path: Path) -> None:
    toml_store = tmp_path / "store.toml"
    row = {
        "activityid": "a-1", "statuscode": 1, "msdyn_channel": "192340000", "createdon": None,
        "msdyn_modifiedon": "2026-11-25T10:00:00+01:00", "_msdyn_liveworkstreamid_value": None,
        "msdyn_title": None, "subject": "SMS from +1 555 0100", "statecode": 0,
    }  # fmt: skip
    export = _write(tmp_path / "export.json", {"value": [row]})
    result = cli("--store", str(toml_store), "conversations", "import", "--format", "dataverse", str(export))
    assert result.exit_code == 0, result.output
    # statecode is not kept: ocac's state replaces it (a conversation ocac closes keeps no statecode 0)
    assert fields(toml_store, "a-1") == {
        "id": "a-1", "channel": "sms", "state": "open", "modified_on": "2026-11-25T09:00:00Z",
        "msdyn_channel": "192340000", "subject": "SMS from +1 555 0100",
    }  # fmt: skip


def test_import_of_a_file_that_does_not_exist(cli: Any, tmp_path: Path) -> None:
    result = cli("conversations", "import", "--format", "dataverse", str(tmp_path / "nope.json"))
    assert result.exit_code == 2
    assert result.stderr == f"ocac: error: import file {tmp_path / 'nope.json'} does not exist\n"


# ---------------------------------------------------------------------------
# config export
# ---------------------------------------------------------------------------

LABELS = [
    ("Live Chat", (20, None, 15)), ("Voice", (43200, 120, 1440)), ("SMS", (43200, 43200, 1440)),
    ("Teams", (43200, 43200, 1440)), ("Persistent Chat", (43200, None, 1440)), ("Social", (43200, 43200, 1440)),
]  # fmt: skip
"""The built-in rules' records: case has none (its conversations close with their record)."""


def _reference_records(overrides: dict[str, int | None] | None = None) -> list[dict[str, object]]:
    """One record per channel and open, active and wrap-up state, with only columns the table has (no ids:
    none is kept)."""
    records: list[dict[str, object]] = []
    for label, minutes in LABELS:
        for (state, number), value in zip([("Open", 0), ("Active", 1), ("Wrap-up", 4)], minutes, strict=True):
            name = f"{label} - {state}"
            records.append({
                "msdyn_name": name, "msdyn_ocliveworkitemstate": number,
                "msdyn_autocloseliveworkitemafter": (overrides or {}).get(name, value),
            })  # fmt: skip
    return records


def test_export_json_of_the_built_in_rules(cli: Any, config_path: Path) -> None:
    result = cli("config", "export", "--format", "dataverse", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"value": _reference_records()}
    assert result.stderr == ""
    assert config_path.read_text() == ""


def test_export_json_of_the_sample_config(cli: Any, sample_store: Path) -> None:
    result = cli("config", "export", "--format", "dataverse", "--json")
    assert result.exit_code == 0, result.output
    expected = _reference_records({"SMS - Open": 20160, "Teams - Active": 10080})
    assert json.loads(result.stdout) == {"value": expected}
    assert result.stderr == ""


def test_export_off_a_terminal_prints_the_json_document(cli: Any, sample_store: Path) -> None:
    # CliRunner's stdout is not a terminal: `config export … > file` gets what 'config import' reads.
    # (The table a terminal gets is in test_terminal.py.)
    result = cli("config", "export", "--format", "dataverse")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == cli("config", "export", "--format", "dataverse", "--json").stdout
    assert json.loads(result.stdout) == {"value": _reference_records({"SMS - Open": 20160, "Teams - Active": 10080})}


@pytest.mark.parametrize("command", ["export", "import"])
def test_only_the_dataverse_format_is_known(cli: Any, command: str, tmp_path: Path, config_path: Path) -> None:
    file = [str(_write(tmp_path / "x.json", []))] if command == "import" else []
    args = ["config", command, "--format", "csv", *file]
    result = cli(*args)
    assert (result.exit_code, result.stdout) == (2, "")  # a usage error: the choices are in --help
    assert config_path.read_text() == ""


@pytest.mark.parametrize("command", ["export", "import"])
def test_format_is_required(cli: Any, command: str) -> None:
    result = cli("config", command, *(["f.json"] if command == "import" else []))
    assert result.exit_code == 2
    assert "--format" in result.stderr


# ---------------------------------------------------------------------------
# config import
# ---------------------------------------------------------------------------


def test_round_trip_changes_nothing(cli: Any, sample_store: Path, config_path: Path, tmp_path: Path) -> None:
    exported = tmp_path / "states.json"
    exported.write_text(cli("config", "export", "--format", "dataverse", "--json").stdout)
    before, cells = config_path.read_bytes(), _cells(config_path)
    result = cli("config", "import", "--format", "dataverse", str(exported))
    assert result.exit_code == 0, result.output
    assert result.stderr == "imported 18 record(s): 0 changed, 18 unchanged, 0 skipped; nothing to write\n"
    assert config_path.read_bytes() == before  # comments and layout included
    assert _cells(config_path) == cells


def test_round_trip_into_an_empty_config(cli: Any, tmp_path: Path, config_path: Path) -> None:
    exported = tmp_path / "states.json"
    sample_config = SAMPLE / "config.toml"
    result = cli("--config", str(sample_config), "config", "export", "--format", "dataverse", "--json")
    exported.write_text(result.stdout)
    result = cli("config", "import", "--format", "dataverse", str(exported))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "set: sms open: 30d → 14d",
        "set: teams active: 30d → 7d",
        f"imported 18 record(s) into {config_path}: 2 changed, 16 unchanged, 0 skipped",
    ]
    assert config_path.read_text() == '[rules.sms]\nopen = "14d"\n\n[rules.teams]\nactive = "7d"\n'
    assert _cells(config_path) == _cells(sample_config)


def _record(name: str, state: int, minutes: int | None, **columns: object) -> dict[str, object]:
    """A channel-state record without the expansion: its name says its channel."""
    return {"msdyn_name": name, "msdyn_ocliveworkitemstate": state, "msdyn_autocloseliveworkitemafter": minutes
            } | columns  # fmt: skip


RECORDS = [
    _record("Voice - Active", 1, 180),
    _record("Live chat - Open", 0, None),  # any case
    _record("WhatsApp - Waiting", 2, 60),
    _record("SMS - Closed", 3, 5),
    _record("Social - Open", 0, 43200),
]


def test_import_sets_changed_cells_and_never(cli: Any, tmp_path: Path, config_path: Path) -> None:
    records = _write(tmp_path / "states.json", RECORDS)  # a bare list is accepted too
    result = cli("config", "import", "--format", "dataverse", str(records))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"skipped: record 3 ('WhatsApp - Waiting'): whatsapp waiting: {WAITING_REASON}",
        f"skipped: record 4 ('SMS - Closed'): sms closed: {CLOSED_REASON}",
        "set: voice active: 2h → 3h",
        "set: chat open: 20m → never",
        f"imported 5 record(s) into {config_path}: 2 changed, 1 unchanged, 2 skipped",
    ]
    assert config_path.read_text() == '[rules.voice]\nactive = "3h"\n\n[rules.chat]\nopen = "never"\n'
    cells = {(c[0], c[1]): c[2] for c in _cells(config_path)}
    assert cells["voice", "active"] == 180 and cells["chat", "open"] is None


def test_a_channel_column_in_a_record_is_ignored(cli: Any, tmp_path: Path, config_path: Path) -> None:
    # The table has no msdyn_channel (ocac's old exports wrote one, Facebook's code on its "Social" records):
    # the name decides, so this is social's rule, not Facebook's.
    records = _write(tmp_path / "states.json", [_record("Social - Open", 0, 60, msdyn_channel="192330000")])
    result = cli("config", "import", "--format", "dataverse", str(records))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "set: social open: 30d → 1h",
        f"imported 1 record(s) into {config_path}: 1 changed, 0 unchanged, 0 skipped",
    ]
    assert config_path.read_text() == '[rules.social]\nopen = "1h"\n'
    assert load_config(config_path).policy.network_rules == {}


def test_import_dry_run_writes_nothing(cli: Any, tmp_path: Path, config_path: Path) -> None:
    records = _write(tmp_path / "states.json", {"value": RECORDS})
    result = cli("config", "import", "--format", "dataverse", str(records), "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[2:] == [
        "would set: voice active: 2h → 3h",
        "would set: chat open: 20m → never",
        f"dry run: 5 record(s): 2 to change, 1 unchanged, 2 skipped; {config_path} not written",
    ]
    assert config_path.read_text() == ""


def test_import_json(cli: Any, tmp_path: Path, config_path: Path) -> None:
    records = _write(tmp_path / "states.json", {"value": RECORDS})
    result = cli("config", "import", "--format", "dataverse", str(records), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "dry_run": False, "written": True, "config": str(config_path), "records": 5, "unchanged": 1,
        "changes": [
            {"channel": "voice", "network": None, "state": "active", "old": "2h", "new": "3h", "old_minutes": 120,
             "new_minutes": 180, "record": 1},
            {"channel": "chat", "network": None, "state": "open", "old": "20m", "new": "never", "old_minutes": 20,
             "new_minutes": None, "record": 2},
        ],
        "ids_kept": 0,
        "skipped": [
            {"record": 3, "name": "WhatsApp - Waiting", "channel": "social", "network": "whatsapp",
             "state": "waiting", "reason": WAITING_REASON},
            {"record": 4, "name": "SMS - Closed", "channel": "sms", "network": None, "state": "closed",
             "reason": CLOSED_REASON},
        ],
    }  # fmt: skip
    assert result.stderr == ""
    assert _cells(config_path)[3] == ("voice", "open", 43200, "closed")


def test_one_bad_record_rejects_the_file(cli: Any, sample_store: Path, config_path: Path, tmp_path: Path) -> None:
    records = _write(tmp_path / "states.json", {"value": [*RECORDS, _record("Teams - Open", 7, 60)]})
    before = config_path.read_bytes()
    result = cli("config", "import", "--format", "dataverse", str(records))
    assert result.exit_code == 2
    assert result.stderr == (
        f"ocac: error: {records}: record 6 ('Teams - Open'): msdyn_ocliveworkitemstate: unknown value 7: "
        "use 0 (open), 1 (active), 2 (waiting), 3 (closed), 4 (wrap-up)\n"
    )
    assert config_path.read_bytes() == before


def test_import_refuses_an_invalid_config_file(cli: Any, tmp_path: Path, config_path: Path) -> None:
    config_path.write_text("[rules.chat]\nopen = 'soon'\n")
    records = _write(tmp_path / "states.json", RECORDS)
    result = cli("config", "import", "--format", "dataverse", str(records))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"ocac: error: config {config_path}: rules.chat.open: invalid duration 'soon'")
    assert config_path.read_text() == "[rules.chat]\nopen = 'soon'\n"


def test_import_then_export_reflects_the_import(cli: Any, tmp_path: Path) -> None:
    assert cli("config", "import", "--format", "dataverse", str(_write(tmp_path / "s.json", RECORDS))).exit_code == 0
    result = cli("config", "export", "--format", "dataverse", "--json")
    assert (result.exit_code, result.stderr) == (0, "")
    # ocac's names ("Live Chat - Open"): the records had no id, so nothing of theirs is kept
    assert msgspec.json.decode(result.stdout) == {
        "value": _reference_records({"Voice - Active": 180, "Live Chat - Open": None})
    }


def test_import_of_a_config_file_that_does_not_exist(cli: Any, tmp_path: Path) -> None:
    result = cli("config", "import", "--format", "dataverse", str(tmp_path / "nope.json"))
    assert result.exit_code == 2
    assert result.stderr == f"ocac: error: import file {tmp_path / 'nope.json'} does not exist\n"


def test_a_persistent_chat_state_round_trips_through_its_name(cli: Any, tmp_path: Path, config_path: Path) -> None:
    shutil.copy(SAMPLE / "config.toml", config_path)
    records = _write(tmp_path / "states.json", [_record("Persistent chat - Active", 1, 600)])
    result = cli("config", "import", "--format", "dataverse", str(records))
    assert result.exit_code == 0, result.output
    cells = {(c[0], c[1]): c[2] for c in _cells(config_path)}
    assert cells["persistent-chat", "active"] == 600 and cells["chat", "active"] is None
    assert load_config(config_path).policy.rules[Channel.PERSISTENT_CHAT, State.ACTIVE].source == "config"
