"""ocac.dataverse: reading msdyn_ocliveworkitem exports and the channel-state records both ways."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
import tomlkit
from hypothesis import given
from hypothesis import strategies as st

from conftest import SAMPLE
from ocac.config import matrix, policy_from_document
from ocac.dataverse import (
    CHANNEL_CODES,
    ConfigImport,
    export_records,
    read_config_records,
    read_conversations,
)
from ocac.errors import ImportFileError
from ocac.interchange import Incoming
from ocac.model import RULE_STATES, Channel, State
from ocac.policy import DEFAULT_RULES, Policy, Rule, rule_is_configurable

EXPORT = SAMPLE / "dataverse-conversations.json"
PERSISTENT = "b2c7e4a9-31f5-4d8e-a6b0-7c9d2e1f3a85"
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
FILE = Path("export.json")

# The sample's rows by title, written down from the generator's table (not from the code under test).
EXPECTED_ROWS: dict[str, tuple[Channel, State, str | None]] = {
    "Where is my order?": (Channel.CHAT, State.ACTIVE, "6a3f2c1e-8d4b-4f0a-9c2e-1b7d5e9a0c31"),
    "Promo code not applied": (Channel.CHAT, State.OPEN, "6a3f2c1e-8d4b-4f0a-9c2e-1b7d5e9a0c31"),
    "Change delivery address": (Channel.CHAT, State.WRAP_UP, "6a3f2c1e-8d4b-4f0a-9c2e-1b7d5e9a0c31"),
    "Invoice copy": (Channel.CHAT, State.CLOSED, "6a3f2c1e-8d4b-4f0a-9c2e-1b7d5e9a0c31"),
    "Return label follow-up": (Channel.PERSISTENT_CHAT, State.WAITING, PERSISTENT),
    "Exchange for a larger size": (Channel.PERSISTENT_CHAT, State.ACTIVE, PERSISTENT),
    "Router keeps rebooting": (Channel.VOICE, State.ACTIVE, "0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e62"),
    "Billing dispute": (Channel.VOICE, State.WRAP_UP, "0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e62"),
    "Callback request": (Channel.VOICE, State.OPEN, "0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e62"),
    "Delivery window confirmation": (Channel.SMS, State.WAITING, "4d1c9b8a-7e6f-4a5b-9c3d-2e1f0a9b8c74"),
    "Appointment reminder reply": (Channel.SMS, State.CLOSED, "4d1c9b8a-7e6f-4a5b-9c3d-2e1f0a9b8c74"),
    "VPN access for new laptop": (Channel.TEAMS, State.WAITING, "9e8f7a6b-5c4d-4e3f-a2b1-0c9d8e7f6a53"),
    "Software licence request": (Channel.TEAMS, State.ACTIVE, "9e8f7a6b-5c4d-4e3f-a2b1-0c9d8e7f6a53"),
    "Warranty question": (Channel.SOCIAL, State.WAITING, "c5d4e3f2-a1b0-4c9d-8e7f-6a5b4c3d2e16"),
    "Complaint about late delivery": (Channel.SOCIAL, State.ACTIVE, "c5d4e3f2-a1b0-4c9d-8e7f-6a5b4c3d2e16"),
    "Public mention: outage": (Channel.SOCIAL, State.CLOSED, "c5d4e3f2-a1b0-4c9d-8e7f-6a5b4c3d2e16"),
    "Store opening hours": (Channel.SOCIAL, State.OPEN, "c5d4e3f2-a1b0-4c9d-8e7f-6a5b4c3d2e16"),
    "Booking a repair": (Channel.SOCIAL, State.WRAP_UP, "c5d4e3f2-a1b0-4c9d-8e7f-6a5b4c3d2e16"),
    "Gift card balance": (Channel.SOCIAL, State.CLOSED, None),
    "Order in Chinese": (Channel.SOCIAL, State.WAITING, "c5d4e3f2-a1b0-4c9d-8e7f-6a5b4c3d2e16"),
    "CAS-04711-K3P8T2": (Channel.CASE, State.ACTIVE, "e7f6a5b4-c3d2-4e1f-9a0b-8c7d6e5f4a97"),
    "CAS-03390-M5N2W7": (Channel.CASE, State.CLOSED, "e7f6a5b4-c3d2-4e1f-9a0b-8c7d6e5f4a97"),
}


def _sample(persistent: set[str] | None = None) -> dict[str, Incoming]:
    items = read_conversations(EXPORT, EXPORT.read_bytes(), {PERSISTENT} if persistent is None else persistent)
    return {msgspec.json.decode(item.extra["msdyn_title"]): item for item in items}


def _row(**fields: Any) -> dict[str, Any]:
    """A valid live-chat row, changed by `fields` (None removes a field)."""
    row: dict[str, Any] = {
        "activityid": "aaaa-0002",
        "statuscode": 2,
        "msdyn_modifiedon": "2026-11-25T11:00:00Z",
        "modifiedon": "2026-11-25T11:00:05Z",
        "createdon": "2026-11-24T09:00:00Z",
        "_msdyn_liveworkstreamid_value": "6a3f2c1e-8d4b-4f0a-9c2e-1b7d5e9a0c31",
        "msdyn_channel": "192360000",
        "msdyn_title": "Hello",
    }
    for name, value in fields.items():
        if value is None:
            row.pop(name, None)
        else:
            row[name] = value
    return row


def _read(*rows: object, persistent: set[str] | None = None) -> list[Incoming]:
    data = json.dumps({"value": list(rows)}).encode()
    return read_conversations(FILE, data, persistent or set())


def _error(*rows: object, persistent: set[str] | None = None) -> str:
    with pytest.raises(ImportFileError) as caught:
        _read(*rows, persistent=persistent)
    return str(caught.value)


# ---------------------------------------------------------------------------
# The sample export
# ---------------------------------------------------------------------------


def test_sample_rows_map_to_the_expected_channel_state_and_workstream() -> None:
    items = _sample()
    assert len(items) == 22
    got = {
        title: (i.conversation.channel, i.conversation.state, i.conversation.workstream) for title, i in items.items()
    }
    assert got == EXPECTED_ROWS


def test_sample_counts_by_channel_and_state() -> None:
    counts = Counter((i.conversation.channel, i.conversation.state) for i in _sample().values())
    assert counts[Channel.SOCIAL, State.WAITING] == 2
    assert counts[Channel.PERSISTENT_CHAT, State.WAITING] == 1
    assert sum(counts.values()) == 22


def test_without_the_persistent_workstream_the_waiting_live_chat_row_is_refused() -> None:
    with pytest.raises(ImportFileError) as caught:
        _sample(persistent=set())
    assert str(caught.value) == (
        f"{EXPORT}: row 14 (activityid fece6b98-9a32-4eae-b86c-67b35a0ac810): statuscode: 3 (waiting), "
        "but chat conversations cannot wait (only persistent-chat, sms, social and teams): "
        f"if workstream {PERSISTENT} is persistent chat, pass --persistent-workstream {PERSISTENT}"
    )


@pytest.mark.parametrize("spelling", [PERSISTENT.upper(), "{" + PERSISTENT + "}", f"  {PERSISTENT} "])
def test_persistent_workstream_ids_compare_as_guids(spelling: str) -> None:
    items = _sample(persistent={spelling})
    assert items["Return label follow-up"].conversation.channel is Channel.PERSISTENT_CHAT


def test_persistent_workstream_turns_only_live_chat_into_persistent_chat() -> None:
    voice = "0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e62"
    items = _sample(persistent={PERSISTENT, voice})
    assert items["Router keeps rebooting"].conversation.channel is Channel.VOICE


def test_modified_on_prefers_msdyn_modifiedon_and_falls_back_to_modifiedon() -> None:
    items = _sample()
    # msdyn_modifiedon 11:56:02, modifiedon 11:56:04: the Omnichannel one wins.
    assert items["Callback request"].conversation.modified_on == datetime(2026, 11, 25, 11, 56, 2, tzinfo=UTC)
    assert NOW - items["Where is my order?"].conversation.modified_on == timedelta(minutes=7, seconds=12)
    # No msdyn_modifiedon on these two rows.
    assert items["Billing dispute"].conversation.modified_on == datetime(2026, 11, 24, 8, 51, 2, tzinfo=UTC)
    assert items["Gift card balance"].conversation.modified_on == datetime(2026, 10, 8, 12, 0, 2, tzinfo=UTC)
    assert items["Invoice copy"].conversation.created_on == datetime(2026, 11, 23, 4, 30, 5, tzinfo=UTC)


def test_other_fields_are_kept_and_mapped_ones_are_not() -> None:
    item = _sample()["Warranty question"]
    extra = {name: msgspec.json.decode(value) for name, value in item.extra.items()}
    assert extra == {
        "@odata.etag": extra["@odata.etag"],
        "statecode@OData.Community.Display.V1.FormattedValue": "Active",
        "statecode": 0,
        "statuscode@OData.Community.Display.V1.FormattedValue": "Waiting",
        "msdyn_modifiedon@OData.Community.Display.V1.FormattedValue": "11/19/2026 11:16 AM",
        "modifiedon@OData.Community.Display.V1.FormattedValue": "11/19/2026 11:16 AM",
        "createdon@OData.Community.Display.V1.FormattedValue": "11/17/2026 1:56 AM",
        "_msdyn_liveworkstreamid_value@OData.Community.Display.V1.FormattedValue": "Contoso Social",
        "_msdyn_liveworkstreamid_value@Microsoft.Dynamics.CRM.associatednavigationproperty": "msdyn_liveworkstreamid",
        "_msdyn_liveworkstreamid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "msdyn_liveworkstream",
        "msdyn_channel@OData.Community.Display.V1.FormattedValue": "WhatsApp",
        "msdyn_channel": "192300000",
        "msdyn_title": "Warranty question",
        "subject": extra["subject"],
    }
    assert isinstance(extra["@odata.etag"], str) and isinstance(extra["subject"], str)


# ---------------------------------------------------------------------------
# Synthetic rows
# ---------------------------------------------------------------------------


def test_a_good_row() -> None:
    [item] = _read(_row(msdyn_title=None, subject="Hi", statecode=0))
    conversation = item.conversation
    assert (conversation.id, conversation.channel, conversation.state) == ("aaaa-0002", Channel.CHAT, State.ACTIVE)
    assert conversation.modified_on == datetime(2026, 11, 25, 11, tzinfo=UTC)
    assert conversation.created_on == datetime(2026, 11, 24, 9, tzinfo=UTC)
    assert conversation.workstream == "6a3f2c1e-8d4b-4f0a-9c2e-1b7d5e9a0c31"
    assert conversation.record_id is None
    assert {k: msgspec.json.decode(v) for k, v in item.extra.items()} == {
        "msdyn_channel": "192360000", "subject": "Hi", "statecode": 0,
    }  # fmt: skip


def test_a_bare_list_of_rows_is_accepted() -> None:
    data = json.dumps([_row(), _row(activityid="aaaa-0003")]).encode()
    assert [i.conversation.id for i in read_conversations(FILE, data, set())] == ["aaaa-0002", "aaaa-0003"]


def test_optional_fields_may_be_null_or_absent() -> None:
    [item] = _read(_row(createdon=None, _msdyn_liveworkstreamid_value=None, msdyn_modifiedon=None))
    assert item.conversation.created_on is None and item.conversation.workstream is None
    assert item.conversation.modified_on == datetime(2026, 11, 25, 11, 0, 5, tzinfo=UTC)
    [item] = _read(_row(createdon=None) | {"createdon": None, "_msdyn_liveworkstreamid_value": None, "x": None})
    assert item.conversation.workstream is None and "x" not in item.extra  # nulls are not kept


def test_known_field_names_in_a_row_do_not_shadow_ocac_fields() -> None:
    [item] = _read(_row(id="other", channel="voice", state="closed"))
    assert item.conversation.id == "aaaa-0002" and item.conversation.channel is Channel.CHAT
    assert not {"id", "channel", "state"} & set(item.extra)


def test_numeric_channel_code_and_spaces_between_codes() -> None:
    [item] = _read(_row(msdyn_channel=192370000))
    assert item.conversation.channel is Channel.VOICE
    [item] = _read(_row(msdyn_channel=" 192370000 , 192440000"))
    assert item.conversation.channel is Channel.VOICE


@pytest.mark.parametrize(
    ("code", "channel"),
    [
        ("192360000", Channel.CHAT), ("192370000", Channel.VOICE), ("192440000", Channel.VOICE),
        ("192340000", Channel.SMS), ("19241000", Channel.TEAMS), ("192350000", Channel.CASE),
        ("192300000", Channel.SOCIAL), ("192310000", Channel.SOCIAL), ("192320000", Channel.SOCIAL),
        ("192330000", Channel.SOCIAL), ("192350001", Channel.SOCIAL), ("192450000", Channel.SOCIAL),
        ("192450001", Channel.SOCIAL),
    ],
)  # fmt: skip
def test_every_channel_code(code: str, channel: Channel) -> None:
    [item] = _read(_row(msdyn_channel=code, statuscode=1))
    assert item.conversation.channel is channel


PREFIX = "export.json: row 2 (activityid aaaa-0002): "
RFC = "use RFC 3339 with an offset, e.g. 2026-11-25T12:00:00Z or 2026-11-25T14:00:00+02:00"
CANNOT_WAIT = "conversations cannot wait (only persistent-chat, sms, social and teams)"
KNOWN = ", ".join(CHANNEL_CODES)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"statuscode": 7}, "statuscode: unknown value 7: use 1 (open), 2 (active), 3 (waiting), 4 (closed), "
                            "5 (wrap-up)"),
        ({"statuscode": "2"}, 'statuscode: expected a whole number, found "2"'),
        ({"statuscode": True}, "statuscode: expected a whole number, found true"),
        ({"statuscode": None}, "missing 'statuscode'"),
        ({"msdyn_channel": "999"}, f"msdyn_channel: unknown channel code '999': known codes are {KNOWN}"),
        ({"msdyn_channel": "192360000,"}, f"msdyn_channel: empty code in '192360000,': known codes are {KNOWN}"),
        ({"msdyn_channel": None}, "missing 'msdyn_channel'"),
        ({"msdyn_channel": ["192360000"]},
         'msdyn_channel: expected a string of option codes such as "192360000", found ["192360000"]'),
        (
            {"msdyn_channel": "192360000,192370000"},
            "msdyn_channel: codes '192360000,192370000' are different channels (chat, voice): "
            "a conversation has one channel",
        ),
        ({"msdyn_modifiedon": "yesterday"}, "invalid msdyn_modifiedon 'yesterday': " + RFC),
        ({"msdyn_modifiedon": "2026-11-25T11:00:00"},
         "msdyn_modifiedon '2026-11-25T11:00:00' has no offset: " + RFC),
        ({"msdyn_modifiedon": 20261125}, "msdyn_modifiedon: expected a string, found 20261125"),
        ({"msdyn_modifiedon": None, "modifiedon": None}, "missing 'msdyn_modifiedon' (and 'modifiedon')"),
        ({"msdyn_modifiedon": None, "modifiedon": "soon"}, "invalid modifiedon 'soon': " + RFC),
        ({"createdon": "2026-13-01T00:00:00Z"}, "invalid createdon '2026-13-01T00:00:00Z': " + RFC),
        ({"_msdyn_liveworkstreamid_value": 7}, "_msdyn_liveworkstreamid_value: expected a string, found 7"),
        (
            {"statuscode": 3, "msdyn_channel": "192370000"},
            "statuscode: 3 (waiting), but voice " + CANNOT_WAIT,
        ),
        (
            {"statuscode": 3, "msdyn_channel": "192350000"},
            "statuscode: 3 (waiting), but case " + CANNOT_WAIT,
        ),
        (
            {"statuscode": 3, "_msdyn_liveworkstreamid_value": None},
            "statuscode: 3 (waiting), but chat " + CANNOT_WAIT
            + ": a live-chat row without a workstream cannot be persistent chat",
        ),
    ],
)  # fmt: skip
def test_a_bad_row_is_named_with_its_number_activityid_and_field(change: dict[str, Any], message: str) -> None:
    good = _row(activityid="aaaa-0001")
    assert _error(good, _row(**change)) == PREFIX + message


def test_null_fields_count_as_missing() -> None:
    bad = _row() | {"statuscode": None}
    assert _error(bad) == "export.json: row 1 (activityid aaaa-0002): missing 'statuscode'"


def test_rows_without_a_usable_activityid_are_named_by_number() -> None:
    assert _error(_row(activityid="a1"), _row(activityid=None)) == "export.json: row 2: missing 'activityid'"
    assert _error(_row(activityid=" ")) == "export.json: row 1: activityid: must not be empty"
    assert _error(_row(activityid=5)) == "export.json: row 1: activityid: expected a string, found 5"
    assert _error(_row(), 42) == "export.json: row 2: expected an object, found 42"


def test_duplicate_activityids_are_refused() -> None:
    assert _error(_row(), _row(activityid="b"), _row()) == (
        "export.json: row 3 (activityid aaaa-0002): duplicate activityid: row 1 has it too"
    )


def test_waiting_live_chat_in_a_persistent_workstream_is_persistent_chat() -> None:
    workstream = "6a3f2c1e-8d4b-4f0a-9c2e-1b7d5e9a0c31"
    [item] = _read(_row(statuscode=3), persistent={workstream})
    assert (item.conversation.channel, item.conversation.state) == (Channel.PERSISTENT_CHAT, State.WAITING)
    assert _error(_row(statuscode=3)).endswith(f"pass --persistent-workstream {workstream}")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "export.json is not valid JSON (Input data was truncated)"),
        (b'{"rows": []}', "export.json: expected a Web API export, an object with 'value' "
                          "(a list of msdyn_ocliveworkitem rows), or a bare list"),
        (b'{"value": {}}', "export.json: Expected `array`, got `object`: expected a list of msdyn_ocliveworkitem rows"),
        (b'"text"', "export.json: Expected `object | array`, got `str`: expected a list of msdyn_ocliveworkitem rows"),
    ],
)  # fmt: skip
def test_a_file_that_is_not_an_export(data: bytes, message: str) -> None:
    with pytest.raises(ImportFileError) as caught:
        read_conversations(FILE, data, set())
    assert str(caught.value) == message


def test_an_empty_export_is_no_rows() -> None:
    assert read_conversations(FILE, b'{"value": []}', set()) == []


def test_a_bad_row_anywhere_rejects_the_file() -> None:
    rows = [_row(activityid=f"id-{n}") for n in range(50)]
    rows[37]["statuscode"] = 0
    assert _error(*rows).startswith("export.json: row 38 (activityid id-37): statuscode: unknown value 0")


_CODES_BY_CHANNEL: dict[Channel, list[str]] = {}
for _code, _channel in CHANNEL_CODES.items():
    _CODES_BY_CHANNEL.setdefault(_channel, []).append(_code)


@given(
    channel=st.sampled_from(sorted(_CODES_BY_CHANNEL)),
    picks=st.lists(st.integers(0, 10), min_size=1, max_size=4),
    pad=st.sampled_from(["", " ", "  "]),
)
def test_codes_of_one_channel_always_parse_to_it(channel: Channel, picks: list[int], pad: str) -> None:
    codes = _CODES_BY_CHANNEL[channel]
    text = ",".join(pad + codes[i % len(codes)] + pad for i in picks)
    [item] = _read(_row(msdyn_channel=text, statuscode=1))
    assert item.conversation.channel is channel


@given(st.lists(st.sampled_from(sorted(CHANNEL_CODES)), min_size=2, max_size=5))
def test_codes_of_two_channels_never_parse(codes: list[str]) -> None:
    channels = {CHANNEL_CODES[c] for c in codes}
    text = ",".join(codes)
    if len(channels) == 1:
        [item] = _read(_row(msdyn_channel=text, statuscode=1))
        assert item.conversation.channel in channels
    else:
        assert "are different channels" in _error(_row(msdyn_channel=text, statuscode=1))


# ---------------------------------------------------------------------------
# msdyn_occhannelstateconfiguration
# ---------------------------------------------------------------------------

NAMES = {
    Channel.CHAT: ("Live chat", "192360000"), Channel.VOICE: ("Voice", "192370000"),
    Channel.SMS: ("SMS", "192340000"), Channel.TEAMS: ("Teams", "19241000"),
    Channel.PERSISTENT_CHAT: ("Persistent chat", "192360000"), Channel.SOCIAL: ("Social", "192330000"),
    Channel.CASE: ("Case", "192350000"),
}  # fmt: skip
REFERENCE = {  # the reference rules: open / active / wrap-up minutes
    Channel.CHAT: (20, None, 15), Channel.VOICE: (43200, 120, 1440), Channel.SMS: (43200, 43200, 1440),
    Channel.TEAMS: (43200, 43200, 1440), Channel.PERSISTENT_CHAT: (43200, None, 1440),
    Channel.SOCIAL: (43200, 43200, 1440), Channel.CASE: (None, None, None),
}  # fmt: skip


def _expected_records(overrides: dict[tuple[Channel, str], int | None] | None = None) -> list[dict[str, object]]:
    records: list[dict[str, object]] = []
    for channel in Channel:
        name, code = NAMES[channel]
        for (label, state_code), minutes in zip(
            [("Open", 0), ("Active", 1), ("Wrap-up", 4)], REFERENCE[channel], strict=True
        ):
            minutes = (overrides or {}).get((channel, label), minutes)
            records.append({
                "msdyn_name": f"{name} - {label}", "msdyn_channel": code,
                "msdyn_ocliveworkitemstate": state_code, "msdyn_autocloseliveworkitemafter": minutes,
            })  # fmt: skip
    return records


def test_export_of_the_built_in_rules() -> None:
    assert export_records(Policy()) == _expected_records()


def test_export_of_the_sample_config() -> None:
    import tomllib

    policy = policy_from_document(tomllib.loads((SAMPLE / "config.toml").read_text()))
    expected = _expected_records({(Channel.SMS, "Open"): 14 * 1440, (Channel.TEAMS, "Active"): 7 * 1440})
    assert export_records(policy) == expected


def _records(*records: object) -> bytes:
    return json.dumps({"value": list(records)}).encode()


def _record(name: str | None, code: object, state: object, minutes: object = 60) -> dict[str, object]:
    record = {
        "msdyn_channel": code, "msdyn_ocliveworkitemstate": state, "msdyn_autocloseliveworkitemafter": minutes,
    }  # fmt: skip
    return record if name is None else {"msdyn_name": name, **record}


def _apply(document: tomlkit.TOMLDocument, data: bytes) -> ConfigImport:
    edit = ConfigImport(read_config_records(FILE, data))
    edit(document)
    return edit


def test_import_sets_only_cells_that_differ_and_skips_what_has_no_rule() -> None:
    document = tomlkit.parse('[rules.voice]\nactive = "3h"  # kept comment\n')
    data = _records(
        _record("Voice - Active", "192370000", 1, 180),  # equal to the current 3h
        _record("Voice - Open", "192440000", 0, 60),
        _record("Live chat - Open", "192360000", 0, None),
        _record("Live chat - Active", "192360000", 1, None),  # equal to the default never
        _record("SMS - Waiting", "192340000", 2, 60),
        _record("SMS - Closed", "192340000", 3, 60),
        _record("Case - Open", "192350000", 0, 60),
        _record("Persistent chat - Wrap-up", 192360000, 4, 30),
    )
    edit = _apply(document, data)
    assert [(c.channel, c.state, c.old, c.new) for c in edit.changes] == [
        (Channel.VOICE, State.OPEN, 43200, 60),
        (Channel.CHAT, State.OPEN, 20, None),
        (Channel.PERSISTENT_CHAT, State.WRAP_UP, 1440, 30),
    ]
    assert [(r.number, r.skipped) for r in edit.skipped] == [
        (5, rule_is_configurable(Channel.SMS, State.WAITING)),
        (6, rule_is_configurable(Channel.SMS, State.CLOSED)),
        (7, rule_is_configurable(Channel.CASE, State.OPEN)),
    ]
    assert tomlkit.dumps(document) == (
        '[rules.voice]\nactive = "3h"  # kept comment\nopen = "1h"\n\n'
        '[rules.chat]\nopen = "never"\n\n[rules.persistent-chat]\nwrap-up = "30m"\n'
    )


def test_records_for_one_cell_must_agree() -> None:
    data = _records(
        _record("Facebook - Active", "192330000", 1, 60),
        _record("WhatsApp - Active", "192300000", 1, 60),  # agrees: fine
        _record(None, "192450001", 1, 90),
    )
    with pytest.raises(ImportFileError) as caught:
        read_config_records(FILE, data)
    assert str(caught.value) == (
        "export.json: record 3: social active is 1h30m here but 1h in record 1 ('Facebook - Active'): "
        "ocac has one rule per channel and state; make them agree"
    )


def test_skipped_records_need_not_agree() -> None:
    data = _records(_record("A", "192350000", 0, 60), _record("B", "192350000", 0, 90))
    assert [r.skipped is not None for r in read_config_records(FILE, data)] == [True, True]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (_record("X", "192370000", 9), "export.json: record 1 ('X'): msdyn_ocliveworkitemstate: unknown value 9: "
                                       "use 0 (open), 1 (active), 2 (waiting), 3 (closed), 4 (wrap-up)"),
        (_record("X", "192370000", "1"), "export.json: record 1 ('X'): msdyn_ocliveworkitemstate: expected a whole "
                                         'number, found "1"'),
        (_record("X", "1", 1), f"export.json: record 1 ('X'): msdyn_channel: unknown channel code '1': known codes "
                               f"are {KNOWN}"),
        (_record("X", "192370000", 1, -5), "export.json: record 1 ('X'): msdyn_autocloseliveworkitemafter: -5 minutes "
                                           "is out of range (0 to 2147483647, or null for never)"),
        (_record("X", "192370000", 1, "2h"), "export.json: record 1 ('X'): msdyn_autocloseliveworkitemafter: expected "
                                             'a whole number, found "2h"'),
        (_record("X", "192370000", 1, 1.5), "export.json: record 1 ('X'): msdyn_autocloseliveworkitemafter: expected "
                                            "a whole number, found 1.5"),
        ({"msdyn_name": "X", "msdyn_channel": "192370000", "msdyn_ocliveworkitemstate": 1},
         "export.json: record 1 ('X'): missing 'msdyn_autocloseliveworkitemafter' (minutes, or null for never)"),
        (_record("Persistent chat - Open", "192370000", 0), "export.json: record 1 ('Persistent chat - Open'): "
         "msdyn_name says persistent chat but msdyn_channel is voice: persistent chat records carry the live-chat "
         "code 192360000"),
        (_record(None, None, 1), "export.json: record 1: missing 'msdyn_channel'"),
        ({"msdyn_name": 3}, "export.json: record 1: msdyn_name: expected a string, found 3"),
        ([], "export.json: record 1: expected an object, found []"),
    ],
)  # fmt: skip
def test_bad_records(record: object, message: str) -> None:
    with pytest.raises(ImportFileError) as caught:
        read_config_records(FILE, _records(record))
    assert str(caught.value) == message


def test_persistent_chat_is_recognised_by_name_in_any_case() -> None:
    [record] = read_config_records(FILE, json.dumps([_record(" PERSISTENT CHAT open", "192360000", 0)]).encode())
    assert (record.channel, record.state, record.minutes) == (Channel.PERSISTENT_CHAT, State.OPEN, 60)


_CONFIGURABLE = [(c, s) for c in Channel for s in RULE_STATES if rule_is_configurable(c, s) is None]


@given(st.lists(st.one_of(st.none(), st.integers(0, 2_147_483_647)), min_size=len(_CONFIGURABLE),
                max_size=len(_CONFIGURABLE)))  # fmt: skip
def test_export_then_import_into_an_empty_config_gives_the_same_matrix(minutes: list[int | None]) -> None:
    rules = dict(DEFAULT_RULES)
    for (channel, state), value in zip(_CONFIGURABLE, minutes, strict=True):
        rules[channel, state] = Rule(channel, state, value, DEFAULT_RULES[channel, state].target, "config")
    policy = Policy(rules=rules)
    document = tomlkit.document()
    _apply(document, json.dumps({"value": export_records(policy)}).encode())
    after = policy_from_document(tomlkit.parse(tomlkit.dumps(document)).unwrap())
    assert [(c.channel, c.state, c.minutes, c.target) for c in matrix(after)] == [
        (c.channel, c.state, c.minutes, c.target) for c in matrix(policy)
    ]
    # And importing the same records again changes nothing.
    assert _apply(document, json.dumps({"value": export_records(policy)}).encode()).changes == []


def test_a_case_row_links_its_regarding_record_so_records_delete_can_close_it() -> None:
    [case] = _read(_row(msdyn_channel="192350000", _regardingobjectid_value="INC-0042"))
    assert (case.conversation.channel, case.conversation.record_id) == (Channel.CASE, "INC-0042")
    [chat] = _read(_row(_regardingobjectid_value="INC-0042"))
    assert chat.conversation.record_id is None  # only case conversations close with their record
