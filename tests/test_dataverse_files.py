"""The Dataverse commands on the service's real files: config import/export (--patch), workstream import,
conversations import (pages, skipped rows), and the bundled samples together."""

from __future__ import annotations

import json
import shutil
import tomllib
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLE, SAMPLE_NOW
from ocac.config import load_config
from ocac.model import Channel, State
from ocac.store import Selection, open_store
from test_dataverse import (
    ACTIVE_RECORD,
    FORMATTED,
    LIVE_CHAT_CONFIGURATION,
    OPEN_RECORD,
    REFERENCE_GET,
    REFERENCE_GET_AS_PRINTED,
    _expanded,
    _row,
    _state,
    _workstream,
)

CONVERSATIONS = SAMPLE / "dataverse-conversations.json"
WORKSTREAMS = SAMPLE / "dataverse-workstreams.json"
WHATSAPP_CONFIGURATION = "a1b2c3d4-0000-4000-8000-000000000001"
FACEBOOK_CONFIGURATION = "a1b2c3d4-0000-4000-8000-000000000002"
WHATSAPP_OPEN = "11111111-0000-4000-8000-000000000001"
FACEBOOK_OPEN = "11111111-0000-4000-8000-000000000002"


def _write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document) if not isinstance(document, str) else document, encoding="utf-8")
    return path


def _page(path: Path, *rows: object, next_link: str | None = None) -> Path:
    document: dict[str, Any] = {"@odata.context": "[Organization URI]/api/data/v9.2/$metadata#msdyn_ocliveworkitems"}
    document["value"] = list(rows)
    if next_link is not None:
        document["@odata.nextLink"] = next_link
    return _write(path, document)


def _stored(store: Path) -> dict[str, Any]:
    with closing(open_store(str(store), 5)) as opened:
        return {c.id: c for c in opened.select(Selection())}


def _fields(store: Path, conversation_id: str) -> dict[str, Any]:
    with closing(open_store(str(store), 5)) as opened:
        stored = opened.get(conversation_id)
        assert stored is not None
        return dict(stored.fields)


def _fail(result: Any) -> str:
    assert (result.exit_code, result.stdout) == (2, ""), result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("ocac: error: ")
    return str(line)


# ---------------------------------------------------------------------------
# config import / export
# ---------------------------------------------------------------------------


def test_the_reference_get_response_imports_and_exports_with_its_ids(
    cli: Any, tmp_path: Path, config_path: Path
) -> None:
    states = _write(tmp_path / "states.json", REFERENCE_GET)
    result = cli("config", "import", "--format", "dataverse", str(states))
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"imported 2 record(s) into {config_path}: 0 changed, 2 unchanged, 0 skipped; "
        "2 record id(s) kept for 'config export --patch'\n"
    )
    assert tomllib.loads(config_path.read_text()) == {"dataverse": {"state_records": {
        "chat/open": {"id": OPEN_RECORD, "channel_configuration": LIVE_CHAT_CONFIGURATION, "name": "Live Chat - Open"},
        "chat/active": {"id": ACTIVE_RECORD, "channel_configuration": LIVE_CHAT_CONFIGURATION,
                        "name": "Live Chat - Active"},
    }}}  # fmt: skip
    exported = json.loads(cli("config", "export", "--format", "dataverse").stdout)["value"]
    assert exported[:2] == [
        {"msdyn_occhannelstateconfigurationid": OPEN_RECORD,
         "_msdyn_occhannelconfigurationid_value": LIVE_CHAT_CONFIGURATION, "msdyn_name": "Live Chat - Open",
         "msdyn_ocliveworkitemstate": 0, "msdyn_autocloseliveworkitemafter": 20},
        {"msdyn_occhannelstateconfigurationid": ACTIVE_RECORD,
         "_msdyn_occhannelconfigurationid_value": LIVE_CHAT_CONFIGURATION, "msdyn_name": "Live Chat - Active",
         "msdyn_ocliveworkitemstate": 1, "msdyn_autocloseliveworkitemafter": None},
    ]  # fmt: skip
    allowed = {
        "msdyn_occhannelstateconfigurationid", "_msdyn_occhannelconfigurationid_value", "msdyn_name",
        "msdyn_ocliveworkitemstate", "msdyn_autocloseliveworkitemafter",
    }  # fmt: skip
    assert all(set(record) <= allowed for record in exported)  # only columns the table has


def test_the_reference_get_response_as_printed_is_refused_and_nothing_written(
    cli: Any, tmp_path: Path, config_path: Path
) -> None:
    states = _write(tmp_path / "states.json", REFERENCE_GET_AS_PRINTED)
    message = _fail(cli("config", "import", "--format", "dataverse", str(states)))
    assert message.startswith(f"ocac: error: {states} is not valid JSON (")
    assert config_path.read_text() == ""


def test_patch_prints_a_batch_body_and_how_to_send_it(cli: Any, tmp_path: Path) -> None:
    cli("config", "import", "--format", "dataverse", str(_write(tmp_path / "s.json", REFERENCE_GET)))
    cli("config", "set", "chat", "open", "45m")
    result = cli("config", "export", "--format", "dataverse", "--patch")
    assert result.exit_code == 0, result.output
    body = result.stdout_bytes.decode()  # stdout would show CRLF as LF
    boundary = body.split("\r\n", 1)[0].removeprefix("--")
    assert body.endswith(f"--{boundary}--\r\n") and "\n" not in body.replace("\r\n", "")
    assert f"PATCH /api/data/v9.2/msdyn_occhannelstateconfigurations({OPEN_RECORD}) HTTP/1.1\r\n" in body
    assert 'If-Match: *\r\n\r\n{"msdyn_autocloseliveworkitemafter":45}\r\n' in body
    assert body.count("PATCH ") == 2
    warning, summary, command = result.stderr.splitlines()
    assert warning.startswith("ocac: warning: 16 record(s) left out, since ocac keeps no service id for them")
    assert summary == "2 PATCH request(s) in one change set (all or none apply): send the file with"
    assert command == (
        '  curl -X POST "$ORG/api/data/v9.2/\\$batch" -H "Authorization: Bearer $TOKEN" '
        f'-H "Content-Type: multipart/mixed;boundary={boundary}" -H "OData-Version: 4.0" '
        '-H "OData-MaxVersion: 4.0" -H "Accept: application/json" --data-binary @FILE'
    )
    listed = json.loads(cli("config", "export", "--format", "dataverse", "--patch", "--json").stdout)
    assert [(r["url"], r["body"]) for r in listed] == [
        (f"/api/data/v9.2/msdyn_occhannelstateconfigurations({OPEN_RECORD})", {"msdyn_autocloseliveworkitemafter": 45}),
        (f"/api/data/v9.2/msdyn_occhannelstateconfigurations({ACTIVE_RECORD})",
         {"msdyn_autocloseliveworkitemafter": None}),
    ]  # fmt: skip


def test_patch_without_any_known_record_is_refused(cli: Any) -> None:
    message = _fail(cli("config", "export", "--format", "dataverse", "--patch"))
    assert message.startswith("ocac: error: no record has the service's id, so there is nothing to PATCH")


def _network_records() -> list[dict[str, Any]]:
    """WhatsApp closes open conversations after 7 days, Facebook after the social default of 30."""
    return [
        _state("WhatsApp - Open", 0, 7 * 1440, msdyn_occhannelstateconfigurationid=WHATSAPP_OPEN,
               **_expanded(192300000, WHATSAPP_CONFIGURATION)),
        _state("Facebook - Open", 0, 30 * 1440, msdyn_occhannelstateconfigurationid=FACEBOOK_OPEN,
               **_expanded(192330000, FACEBOOK_CONFIGURATION)),
        _state("WhatsApp - Waiting", 2, 60, **_expanded(192300000, WHATSAPP_CONFIGURATION)),
    ]  # fmt: skip


def test_networks_hold_and_apply_rules_of_their_own(cli: Any, tmp_path: Path, config_path: Path) -> None:
    states = _write(tmp_path / "states.json", {"value": _network_records()})
    result = cli("config", "import", "--format", "dataverse", str(states))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "skipped: record 3 ('WhatsApp - Waiting'): whatsapp waiting: "
        "waiting conversations close after their workstream's inactivity time: "
        "use 'ocac workstream set NAME --channel CH --auto-close-after DURATION'",
        "set: whatsapp open: 30d → 7d",
        f"imported 3 record(s) into {config_path}: 1 changed, 1 unchanged, 1 skipped; "
        "2 record id(s) kept for 'config export --patch'",
    ]
    assert tomllib.loads(config_path.read_text())["rules"] == {"whatsapp": {"open": "7d"}}
    shown = json.loads(cli("config", "show", "--json").stdout)
    assert [(r["channel"], r["network"], r["duration"]) for r in shown if r["state"] == "open"][-3:] == [
        ("social", None, "30d"), ("social", "whatsapp", "7d"), ("case", None, "never"),
    ]  # fmt: skip
    rows = [
        _row(activityid="wa", statuscode=1, msdyn_channel="192300000", msdyn_modifiedon="2026-11-17T11:00:00Z"),
        _row(activityid="fb", statuscode=1, msdyn_channel="192330000", msdyn_modifiedon="2026-11-17T11:00:00Z"),
    ]
    assert (
        cli("conversations", "import", "--format", "dataverse", str(_page(tmp_path / "p.json", *rows))).exit_code == 0
    )
    swept = json.loads(cli("sweep", "run", "--now", SAMPLE_NOW, "--json").stdout)
    assert [(t["id"], t["rule"]) for t in swept["transitions"]] == [("wa", "whatsapp/open")]


def test_a_network_export_imports_back_to_the_same_configuration(cli: Any, tmp_path: Path, config_path: Path) -> None:
    cli("config", "import", "--format", "dataverse", str(_write(tmp_path / "s.json", _network_records())))
    before = config_path.read_bytes()
    exported = _write(tmp_path / "back.json", cli("config", "export", "--format", "dataverse").stdout)
    names = [r["msdyn_name"] for r in json.loads(exported.read_text())["value"]]
    assert "WhatsApp - Open" in names and "Facebook - Open" in names and "WhatsApp - Active" not in names
    result = cli("config", "import", "--format", "dataverse", str(exported))
    assert result.exit_code == 0, result.output
    assert result.stderr.endswith("0 changed, 20 unchanged, 0 skipped; nothing to write\n")
    assert config_path.read_bytes() == before
    fresh = tmp_path / "fresh.toml"
    fresh.touch()
    assert cli("--config", str(fresh), "config", "import", "--format", "dataverse", str(exported)).exit_code == 0
    assert load_config(fresh).policy == load_config(config_path).policy


def test_a_stock_export_imports_back_to_no_overrides(cli: Any, tmp_path: Path, config_path: Path) -> None:
    exported = _write(tmp_path / "stock.json", cli("config", "export", "--format", "dataverse").stdout)
    result = cli("config", "import", "--format", "dataverse", str(exported))
    assert result.stderr == "imported 18 record(s): 0 changed, 18 unchanged, 0 skipped; nothing to write\n"
    assert config_path.read_text() == ""


def test_a_record_whose_channel_cannot_be_told_is_refused(cli: Any, tmp_path: Path, config_path: Path) -> None:
    states = _write(tmp_path / "s.json", [_state("Open conversations", 0)])
    message = _fail(cli("config", "import", "--format", "dataverse", str(states)))
    assert message.startswith(f"ocac: error: {states}: record 1 ('Open conversations'): cannot tell its channel")
    assert config_path.read_text() == ""


# ---------------------------------------------------------------------------
# workstream import
# ---------------------------------------------------------------------------


def test_workstream_import_into_an_empty_config(cli: Any, config_path: Path) -> None:
    result = cli("workstream", "import", "--format", "dataverse", str(WORKSTREAMS))
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("left out: record 1 ('Contoso Web Chat'): msdyn_autocloseafterinactivity 15m: ")
    assert lines[1] == (
        "added: workstream 'Contoso Web Chat' (channel chat, auto-close after never, wrap-up block none, "
        "id 6a3f2c1e-8d4b-4f0a-9c2e-1b7d5e9a0c31)"
    )
    assert lines[-1] == f"imported 7 workstream(s) into {config_path}: 7 added, 0 updated, 0 unchanged, 0 skipped"
    streams = load_config(config_path).policy.workstreams
    assert streams["Contoso Chat"].channel is Channel.PERSISTENT_CHAT
    assert (streams["Contoso Support Line"].wrap_up_block, streams["Contoso SMS"].auto_close_after) == (90, 2880)


def test_workstream_import_into_the_sample_config_adds_only_the_ids(cli: Any, config_path: Path) -> None:
    shutil.copy(SAMPLE / "config.toml", config_path)
    result = cli("workstream", "import", "--format", "dataverse", str(WORKSTREAMS), "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == (
        f"dry run: 7 workstream(s): 0 added, 7 updated, 0 unchanged, 0 skipped; {config_path} not written"
    )
    assert config_path.read_bytes() == (SAMPLE / "config.toml").read_bytes()
    assert cli("workstream", "import", "--format", "dataverse", str(WORKSTREAMS)).exit_code == 0
    added = [line for line in config_path.read_text().splitlines() if line not in
             (SAMPLE / "config.toml").read_text().splitlines()]  # fmt: skip
    assert len(added) == 7 and all(line.startswith('id = "') for line in added)
    result = cli("workstream", "import", "--format", "dataverse", str(WORKSTREAMS), "--json")
    document = json.loads(result.stdout)
    assert (document["written"], document["unchanged"], document["changes"]) == (False, 7, [])
    assert [item["record"] for item in document["left_out"]] == [1]


def test_a_bad_workstream_record_rejects_the_file(cli: Any, tmp_path: Path, config_path: Path) -> None:
    shutil.copy(SAMPLE / "config.toml", config_path)
    bad = _write(tmp_path / "ws.json", {"value": [_workstream(name="A", msdyn_liveworkstreamid=OPEN_RECORD),
                                                  _workstream(msdyn_blockcapacityforwrapup=50000)]})  # fmt: skip
    message = _fail(cli("workstream", "import", "--format", "dataverse", str(bad)))
    assert message == (
        f"ocac: error: {bad}: record 2 ('Contoso SMS'): msdyn_blockcapacityforwrapup: 50000 is out of range "
        "(0 to 43200 minutes, 30 days)"
    )
    assert config_path.read_bytes() == (SAMPLE / "config.toml").read_bytes()


def test_a_workstream_renamed_in_the_service_is_refused(cli: Any, tmp_path: Path, config_path: Path) -> None:
    config_path.write_text('[workstreams."Old SMS"]\nchannel = "sms"\nid = "4d1c9b8a-7e6f-4a5b-9c3d-2e1f0a9b8c74"\n')
    message = _fail(cli("workstream", "import", "--format", "dataverse", str(_write(tmp_path / "w.json",
                                                                                    [_workstream()]))))  # fmt: skip
    assert "workstream 'Old SMS' already has id 4d1c9b8a-7e6f-4a5b-9c3d-2e1f0a9b8c74" in message


# ---------------------------------------------------------------------------
# conversations import
# ---------------------------------------------------------------------------


def test_rows_without_a_state_or_channel_are_skipped_and_reported(cli: Any, tmp_path: Path, store_path: Path) -> None:
    rows = [
        _row(activityid="ok"), _row(activityid="resolved", statuscode=6), _row(activityid="scheduled", statuscode=7),
        _row(activityid="video", msdyn_channel="192380000") | {f"msdyn_channel{FORMATTED}": "Video"},
        _row(activityid="none") | {"msdyn_channel": None},
    ]  # fmt: skip
    page = _page(tmp_path / "page.json", *rows)
    result = cli("conversations", "import", "--format", "dataverse", str(page))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"ocac: warning: {page}: skipped 2 row(s), statuscode 6 (Resolved) or 7 (Scheduled): the service's internal "
        "statuses have no ocac state: resolved, scheduled",
        f"ocac: warning: {page}: skipped 1 row(s), msdyn_channel names no conversation channel (only video, "
        "co-browse, screen sharing or codes ocac does not know): video",
        f"ocac: warning: {page}: skipped 1 row(s), msdyn_channel is null or empty: the row names no channel: none",
        "imported 1 conversation(s): 1 added, 0 updated, 0 unchanged",
    ]
    assert list(_stored(store_path)) == ["ok"]
    document = json.loads(cli("conversations", "import", "--format", "dataverse", str(page), "--json").stdout)
    assert document["skipped"] == ["resolved", "scheduled", "video", "none"]


def test_malformed_json_is_a_clean_exit_2(cli: Any, tmp_path: Path, store_path: Path) -> None:
    broken = _write(tmp_path / "broken.json", '{"value": [' + json.dumps(_row()) + ",]}")
    message = _fail(cli("conversations", "import", "--format", "dataverse", str(broken)))
    assert message.startswith(f"ocac: error: {broken} is not valid JSON (")
    assert not store_path.exists()


NEXT = "[Organization URI]/api/data/v9.2/msdyn_ocliveworkitems?$skiptoken=%3Ccookie%20pagenumber=%22{}%22"


def test_pages_are_one_import(cli: Any, tmp_path: Path, store_path: Path) -> None:
    first = _page(tmp_path / "1.json", _row(activityid="a"), _row(activityid="b"), next_link=NEXT.format(2))
    second = _page(tmp_path / "2.json", _row(activityid="c"), next_link=NEXT.format(3))
    last = _page(tmp_path / "3.json", _row(activityid="d"))
    result = cli("conversations", "import", "--format", "dataverse", str(last), str(first), str(second))
    assert result.exit_code == 0, result.output
    assert sorted(_stored(store_path)) == ["a", "b", "c", "d"]


def test_an_export_without_its_last_page_is_refused(cli: Any, tmp_path: Path, store_path: Path) -> None:
    first = _page(tmp_path / "1.json", _row(activityid="a"), next_link=NEXT.format(2))
    second = _page(tmp_path / "2.json", _row(activityid="c"), next_link=NEXT.format(3))
    assert _fail(cli("conversations", "import", "--format", "dataverse", str(first))) == (
        f"ocac: error: {first} is one page of a longer export (it has @odata.nextLink): fetch the remaining pages "
        "(GET each page's @odata.nextLink until a page has none) and give every page file to one import"
    )
    assert _fail(cli("conversations", "import", "--format", "dataverse", str(first), str(second))) == (
        "ocac: error: every file given has @odata.nextLink, so the export's last page is missing: fetch the page "
        f"the last one links to (and any after it) and give every page file to one import ({first}, {second})"
    )
    assert not store_path.exists()


def test_an_id_on_two_pages_is_refused(cli: Any, tmp_path: Path, store_path: Path) -> None:
    first = _page(tmp_path / "1.json", _row(activityid="a"), next_link=NEXT.format(2))
    second = _page(tmp_path / "2.json", _row(activityid="a"))
    message = _fail(cli("conversations", "import", "--format", "dataverse", str(first), str(second)))
    assert message == f"ocac: error: {second}: id 'a' is also in {first}: an id may appear once"


def test_a_waiting_conversation_in_a_workstream_configured_by_name_closes(
    cli: Any, tmp_path: Path, store_path: Path, config_path: Path
) -> None:
    """The GUID of the row never matched a workstream configured by name: waiting conversations never closed."""
    config_path.write_text('[workstreams."Contoso SMS"]\nchannel = "sms"\nauto_close_after = "1d"\n')
    row = _row(activityid="w", statuscode=3, msdyn_channel="192340000", msdyn_modifiedon="2026-11-23T11:00:00Z",
               _msdyn_liveworkstreamid_value="4D1C9B8A-7E6F-4A5B-9C3D-2E1F0A9B8C74",
               **{f"_msdyn_liveworkstreamid_value{FORMATTED}": "Contoso SMS"})  # fmt: skip
    assert cli("conversations", "import", "--format", "dataverse", str(_page(tmp_path / "p.json", row))).exit_code == 0
    swept = json.loads(cli("sweep", "run", "--now", SAMPLE_NOW, "--json").stdout)
    assert [(t["id"], t["to"], t["reason"]) for t in swept["transitions"]] == [
        ("w", "closed", "AutoClosedFromWaitingState")
    ]


def test_the_samples_work_together(cli: Any, store_path: Path, config_path: Path) -> None:
    """sample-data's workstreams, config and conversations: the README's sweep, waiting conversations closing."""
    shutil.copy(SAMPLE / "config.toml", config_path)
    assert cli("workstream", "import", "--format", "dataverse", str(WORKSTREAMS)).exit_code == 0
    result = cli("conversations", "import", "--format", "dataverse", str(CONVERSATIONS))
    assert result.stderr == "imported 22 conversation(s): 22 added, 0 updated, 0 unchanged\n"
    stored = _stored(store_path)
    assert stored["fece6b98-9a32-4eae-b86c-67b35a0ac810"].channel is Channel.PERSISTENT_CHAT  # no option needed
    assert {c.workstream for c in stored.values()} >= {"b2c7e4a9-31f5-4d8e-a6b0-7c9d2e1f3a85"}
    swept = json.loads(cli("sweep", "run", "--now", SAMPLE_NOW, "--json").stdout)
    titles = {c.id: _fields(store_path, c.id)["msdyn_title"] for c in stored.values()}
    moved = sorted((titles[t["id"]], t["to"]) for t in swept["transitions"])
    readme = (SAMPLE / "README.md").read_text()
    table = readme.split("| `msdyn_title` | moves to |\n| --- | --- |\n", 1)[1].split("\n\n", 1)[0]
    assert moved == [tuple(line.strip("| ").split(" | ")) for line in table.splitlines()]
    waiting = {t["id"] for t in swept["transitions"] if t["from"] == "waiting"}
    assert {titles[i] for i in waiting} == {
        "Return label follow-up", "Delivery window confirmation", "VPN access for new laptop",
    }  # fmt: skip


def test_a_closed_conversation_keeps_no_state_column_that_contradicts_it(
    cli: Any, tmp_path: Path, store_path: Path
) -> None:
    row = _row(activityid="c1", statuscode=1, msdyn_modifiedon="2026-11-25T10:00:00Z")
    cli("conversations", "import", "--format", "dataverse", str(_page(tmp_path / "p.json", row)))
    cli("sweep", "run", "--now", SAMPLE_NOW)
    fields = _fields(store_path, "c1")
    assert fields["state"] == "closed"
    assert not {name for name in fields if name.partition("@")[0] in ("statecode", "statuscode")}
    history = json.loads(cli("history", "--format", "dataverse", "--json").stdout)["value"]
    assert [(r["activityid"], r["statecode"], r["statuscode"], r["msdyn_statuschangereason"]) for r in history] == [
        ("c1", 1, 4, 192350010)
    ]


@pytest.mark.parametrize("state", [State.OPEN, State.ACTIVE])
def test_a_case_conversation_closes_when_its_issue_is_deleted(
    cli: Any, tmp_path: Path, store_path: Path, state: State
) -> None:
    issue = "39dd0b31-ed8b-e511-80d2-00155d2a68d4"
    row = _row(activityid="case", statuscode=1 if state is State.OPEN else 2, msdyn_channel="192350000",
               _msdyn_issueid_value=issue.upper())  # fmt: skip
    cli("conversations", "import", "--format", "dataverse", str(_page(tmp_path / "p.json", row)))
    assert cli("records", "delete", issue).exit_code == 0
    swept = json.loads(cli("sweep", "run", "--now", SAMPLE_NOW, "--json").stdout)
    assert [(t["id"], t["reason"]) for t in swept["transitions"]] == [("case", "RecordDeleted")]
