"""ocac.dataverse: the service's conversations, channel-state records and workstreams, read and written.

Inputs are built from the shapes the service's reference documents (MicrosoftDocs/
dynamics-365-customer-engagement, ce/customer-service/): its GET response of channel-state
records verbatim, rows with annotations, nulls, etags and nextLinks.
"""

from __future__ import annotations

import email
import email.policy
import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
import tomlkit
from hypothesis import given
from hypothesis import strategies as st

from conftest import SAMPLE
from ocac.config import StateRecord, load_config, matrix, policy_from_document
from ocac.dataverse import (
    STREAM_SOURCES,
    ConfigImport,
    ConversationPage,
    WorkstreamImport,
    batch_body,
    channel_codes,
    conversation_source,
    export_records,
    patches,
    read_config_records,
    read_conversations,
    read_workstreams,
    record_name,
    target_of_name,
)
from ocac.errors import ConfigError, ImportFileError
from ocac.model import NETWORKS, RULE_STATES, Channel, State
from ocac.policy import DEFAULT_RULES, Policy, Rule, Workstream, rule_is_configurable
from ocac.store.base import Incoming

FILE = Path("export.json")
EXPORT = SAMPLE / "dataverse-conversations.json"
WORKSTREAMS = SAMPLE / "dataverse-workstreams.json"
PERSISTENT = "b2c7e4a9-31f5-4d8e-a6b0-7c9d2e1f3a85"
WEB_CHAT = "6a3f2c1e-8d4b-4f0a-9c2e-1b7d5e9a0c31"
FORMATTED = "@OData.Community.Display.V1.FormattedValue"

# The GET response of develop/auto-close-conversation.md (2024), verbatim: its trailing comma
# after the last record makes it invalid JSON, so tests use it less that comma.
REFERENCE_GET_AS_PRINTED = """\
{ 
   "@odata.context":"[Organization URI]/api/data/v9.1/$metadata#msdyn_occhannelstateconfigurations",
   "value":[ 
      { 
         "@odata.etag":"W/\\"1379367\\"",
         "_organizationid_value":"11bb11bb-cc22-dd33-ee44-55ff55ff55ff",
         "msdyn_name":"Live Chat - Open",
         "statecode":0,
         "statuscode":1,
         "_msdyn_occhannelconfigurationid_value":"836717fd-5578-e911-8196-000d3af7d71e",
         "msdyn_autocloseliveworkitemafter":20,
         "modifiedon":"2019-10-01T13:41:51Z",
         "_modifiedby_value":"d6e088ce-8866-4b3d-8ea2-150ad72e2b79",
         "msdyn_ocliveworkitemstate":0,
         "msdyn_showconfirmationonsessionclose":false,
         "versionnumber":1379367,
         "msdyn_occhannelstateconfigurationid":"6283ab63-5778-e911-8196-000d3af7d71e",
         "createdon":"2019-10-01T13:41:51Z",
         "_createdby_value":"d6e088ce-8866-4b3d-8ea2-150ad72e2b79",
         "_modifiedonbehalfby_value":null,
         "importsequencenumber":null,
         "overriddencreatedon":null,
         "_createdonbehalfby_value":null,
         "utcconversiontimezonecode":null,
         "timezoneruleversionnumber":null
      },
      { 
         "@odata.etag":"W/\\"1379368\\"",
         "_organizationid_value":"11bb11bb-cc22-dd33-ee44-55ff55ff55ff",
         "msdyn_name":"Live Chat - Active",
         "statecode":0,
         "statuscode":1,
         "_msdyn_occhannelconfigurationid_value":"836717fd-5578-e911-8196-000d3af7d71e",
         "msdyn_autocloseliveworkitemafter":null,
         "modifiedon":"2019-10-01T13:41:51Z",
         "_modifiedby_value":"d6e088ce-8866-4b3d-8ea2-150ad72e2b79",
         "msdyn_ocliveworkitemstate":1,
         "msdyn_showconfirmationonsessionclose":true,
         "versionnumber":1379368,
         "msdyn_occhannelstateconfigurationid":"e2737c9a-5778-e911-8196-000d3af7d71e",
         "createdon":"2019-10-01T13:41:51Z",
         "_createdby_value":"d6e088ce-8866-4b3d-8ea2-150ad72e2b79",
         "_modifiedonbehalfby_value":null,
         "importsequencenumber":null,
         "overriddencreatedon":null,
         "_createdonbehalfby_value":null,
         "utcconversiontimezonecode":null,
         "timezoneruleversionnumber":null
      },
   ]
}
"""  # noqa: W291 - the reference's trailing spaces, kept
REFERENCE_GET = REFERENCE_GET_AS_PRINTED.replace("      },\n   ]", "      }\n   ]")
OPEN_RECORD = "6283ab63-5778-e911-8196-000d3af7d71e"
ACTIVE_RECORD = "e2737c9a-5778-e911-8196-000d3af7d71e"
LIVE_CHAT_CONFIGURATION = "836717fd-5578-e911-8196-000d3af7d71e"


def _document(*rows: object, **top: object) -> bytes:
    return json.dumps({"@odata.context": "[Organization URI]/api/data/v9.2/$metadata#x", "value": list(rows)} | top
                      ).encode()  # fmt: skip


# ---------------------------------------------------------------------------
# Conversations
# ---------------------------------------------------------------------------


def _row(**fields: Any) -> dict[str, Any]:
    """A live-chat row as the service writes it with annotations; `fields` change it (None removes a field)."""
    row: dict[str, Any] = {
        "@odata.etag": 'W/"48215361"',
        "activityid": "4a95902a-db14-4e47-94be-09abf93fe42e",
        f"statecode{FORMATTED}": "Active",
        "statecode": 0,
        f"statuscode{FORMATTED}": "Active",
        "statuscode": 2,
        f"msdyn_modifiedon{FORMATTED}": "11/25/2026 11:00 AM",
        "msdyn_modifiedon": "2026-11-25T11:00:00Z",
        "modifiedon": "2026-11-25T11:00:05Z",
        "createdon": "2026-11-24T09:00:00Z",
        f"_msdyn_liveworkstreamid_value{FORMATTED}": "Contoso Web Chat",
        "_msdyn_liveworkstreamid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "msdyn_liveworkstream",
        "_msdyn_liveworkstreamid_value": WEB_CHAT,
        f"msdyn_channel{FORMATTED}": "Live chat",
        "msdyn_channel": "192360000",
        "msdyn_title": "Hello",
        "_regardingobjectid_value": None,
    }
    for name, value in fields.items():
        if value is None:
            row.pop(name, None)
        else:
            row[name] = value
    return row


def _page(
    *rows: object, policy: Policy | None = None, persistent: frozenset[str] = frozenset(), **top: object
) -> ConversationPage:
    return read_conversations(FILE, _document(*rows, **top), policy=policy, persistent_workstreams=persistent)


def _read(*rows: object, **options: Any) -> list[Incoming]:
    page = _page(*rows, **options)
    assert page.skipped == []
    return page.incoming


def _error(*rows: object, **options: Any) -> str:
    with pytest.raises(ImportFileError) as caught:
        _page(*rows, **options)
    return str(caught.value)


def _kept(item: Incoming) -> dict[str, Any]:
    return {name: msgspec.json.decode(value) for name, value in item.extra.items()}


def _stream(name: str, channel: Channel, stream_id: str | None = None, **settings: int) -> Policy:
    return Policy(workstreams={name: Workstream(name, channel, id=stream_id, **settings)})


def test_a_row_with_annotations() -> None:
    [item] = _read(_row())
    conversation = item.conversation
    assert (conversation.id, conversation.channel, conversation.state) == (
        "4a95902a-db14-4e47-94be-09abf93fe42e", Channel.CHAT, State.ACTIVE,
    )  # fmt: skip
    assert conversation.modified_on == datetime(2026, 11, 25, 11, tzinfo=UTC)
    assert conversation.created_on == datetime(2026, 11, 24, 9, tzinfo=UTC)
    assert (conversation.workstream, conversation.network, conversation.record_id) == (WEB_CHAT, None, None)
    # statecode, statuscode, the times and their annotations are consumed; nulls are dropped
    assert _kept(item) == {
        "@odata.etag": 'W/"48215361"',
        f"_msdyn_liveworkstreamid_value{FORMATTED}": "Contoso Web Chat",
        "_msdyn_liveworkstreamid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "msdyn_liveworkstream",
        f"msdyn_channel{FORMATTED}": "Live chat",
        "msdyn_channel": "192360000",
        "msdyn_title": "Hello",
    }


def test_status_change_reason_is_consumed_with_the_state() -> None:
    [item] = _read(_row(msdyn_statuschangereason=192350004, **{f"msdyn_statuschangereason{FORMATTED}": "x"}))
    assert not any(name.startswith("msdyn_statuschangereason") for name in item.extra)


def test_a_bare_list_and_modifiedon_when_msdyn_modifiedon_is_missing() -> None:
    data = json.dumps([_row(msdyn_modifiedon=None, createdon=None)]).encode()
    [item] = read_conversations(FILE, data).incoming
    assert item.conversation.modified_on == datetime(2026, 11, 25, 11, 0, 5, tzinfo=UTC)
    assert item.conversation.created_on is None


def test_known_field_names_in_a_row_do_not_shadow_ocac_fields() -> None:
    [item] = _read(_row(id="other", channel="voice", state="closed", network="x", workstream="y"))
    assert item.conversation.id.startswith("4a95") and item.conversation.channel is Channel.CHAT
    assert not {"id", "channel", "state", "network", "workstream"} & set(item.extra)


CODES = [
    (192360000, Channel.CHAT, None), (192370000, Channel.VOICE, None), (192440000, Channel.VOICE, "voice-call"),
    (192340000, Channel.SMS, None), (19241000, Channel.TEAMS, None), (192350000, Channel.CASE, None),
    (192300000, Channel.SOCIAL, "whatsapp"), (192310000, Channel.SOCIAL, "line"),
    (192320000, Channel.SOCIAL, "wechat"), (192330000, Channel.SOCIAL, "facebook"),
    (192350001, Channel.SOCIAL, "twitter"), (192450000, Channel.SOCIAL, "apple-messages"),
    (192450001, Channel.SOCIAL, "google-business-messages"), (192350002, Channel.SOCIAL, "custom-messaging"),
]  # fmt: skip


@pytest.mark.parametrize(("code", "channel", "network"), CODES)
def test_every_conversation_channel_code(code: int, channel: Channel, network: str | None) -> None:
    for value in (str(code), code):
        [item] = _read(_row(msdyn_channel=value, statuscode=1))
        assert (item.conversation.channel, item.conversation.network) == (channel, network)


@pytest.mark.parametrize(
    ("value", "channel", "network"),
    [
        ("192360000,192380000", Channel.CHAT, None),  # live chat with video
        ("192380000,192390000,192360000", Channel.CHAT, None),  # video and co-browse never decide
        ("192370000,192440000", Channel.VOICE, None),  # the first conversation code decides
        ("192440000,192370000", Channel.VOICE, "voice-call"),
        (" 192330000 , 192300000", Channel.SOCIAL, "facebook"),
        ("192999999,192340000", Channel.SMS, None),  # an unknown code is passed over
        ("192360000,192340000", Channel.CHAT, None),
    ],
)
def test_a_multi_select_channel_is_read_by_its_first_conversation_code(
    value: str, channel: Channel, network: str | None
) -> None:
    [item] = _read(_row(msdyn_channel=value, statuscode=1))
    assert (item.conversation.channel, item.conversation.network) == (channel, network)
    assert _kept(item)["msdyn_channel"] == value  # the whole multi-select is kept


KNOWN_CODES = sorted(STREAM_SOURCES)


@given(st.lists(st.one_of(st.sampled_from(KNOWN_CODES), st.integers(0, 999_999_999)), min_size=1, max_size=6))
def test_the_channel_of_any_codes_is_the_first_conversation_code(codes: list[int]) -> None:
    expected = next((STREAM_SOURCES[c] for c in codes if c in STREAM_SOURCES and STREAM_SOURCES[c].channel), None)
    assert conversation_source(channel_codes(",".join(map(str, codes)))) == expected
    page = _page(_row(msdyn_channel=",".join(map(str, codes)), statuscode=1))
    if expected is None:
        assert [row.id for row in page.skipped] == ["4a95902a-db14-4e47-94be-09abf93fe42e"] and not page.incoming
    else:
        [item] = page.incoming
        assert (item.conversation.channel, item.conversation.network) == (expected.channel, expected.network)


NO_CHANNEL = "msdyn_channel is null or empty: the row names no channel"
NOT_A_CONVERSATION = (
    "msdyn_channel names no conversation channel (only video, co-browse, screen sharing or codes ocac does not know)"
)
INTERNAL = "statuscode 6 (Resolved) or 7 (Scheduled): the service's internal statuses have no ocac state"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"statuscode": 6}, INTERNAL),
        ({"statuscode": 7}, INTERNAL),
        ({"statuscode": 9}, "statuscode not a conversation status ocac knows (1 (open), 2 (active), 3 (waiting), "
                            "4 (closed), 5 (wrap-up))"),
        ({"msdyn_channel": None}, NO_CHANNEL),
        ({"msdyn_channel": ""}, NO_CHANNEL),
        ({"msdyn_channel": "192380000"}, NOT_A_CONVERSATION),
        ({"msdyn_channel": "192380000,192400000"}, NOT_A_CONVERSATION),
        ({"msdyn_channel": "192999999"}, NOT_A_CONVERSATION),
    ],
)  # fmt: skip
def test_rows_ocac_has_no_name_for_are_skipped_and_the_others_imported(change: dict[str, Any], reason: str) -> None:
    rows = [_row(activityid="a1"), _row(activityid="a2", **change) | {k: None for k, v in change.items() if v is None}]
    page = _page(*rows)
    assert [item.conversation.id for item in page.incoming] == ["a1"]
    assert [(row.id, row.reason) for row in page.skipped] == [("a2", reason)]
    assert page.warnings(FILE) == [f"export.json: skipped 1 row(s), {reason}: a2"]


def test_skipped_rows_are_counted_by_reason_and_long_lists_are_cut() -> None:
    rows = [_row(activityid=f"r{n}", statuscode=6) for n in range(25)] + [_row(activityid="v", msdyn_channel=None)]
    rows[-1]["msdyn_channel"] = None
    page = _page(*rows)
    ids = ", ".join(f"r{n}" for n in range(20))
    assert page.warnings(FILE) == [
        f"export.json: skipped 25 row(s), {INTERNAL}: {ids} and 5 more (--json lists them all)",
        f"export.json: skipped 1 row(s), {NO_CHANNEL}: v",
    ]
    assert len(page.skipped) == 26


PREFIX = "export.json: row 2 (activityid aaaa-0002): "
RFC = "use RFC 3339 with an offset, e.g. 2026-11-25T12:00:00Z or 2026-11-25T14:00:00+02:00"
CANNOT_WAIT = "conversations cannot wait (only persistent-chat, sms, social and teams)"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"statuscode": "2"}, 'statuscode: expected a whole number, found "2"'),
        ({"statuscode": True}, "statuscode: expected a whole number, found true"),
        ({"statuscode": None}, "missing 'statuscode'"),
        ({"msdyn_channel": ["192360000"]},
         "msdyn_channel: expected a string of option codes such as \"192360000\", found ['192360000']"),
        ({"msdyn_channel": "192360000,"},
         'msdyn_channel: empty code in "192360000,": expected codes such as "192360000,192380000"'),
        ({"msdyn_channel": "live chat"},
         "msdyn_channel: 'live chat' is not an option code in \"live chat\": expected codes such as "
         '"192360000,192380000"'),
        ({"msdyn_modifiedon": "yesterday"}, "invalid msdyn_modifiedon 'yesterday': " + RFC),
        ({"msdyn_modifiedon": "2026-11-25T11:00:00"}, "msdyn_modifiedon '2026-11-25T11:00:00' has no offset: " + RFC),
        ({"msdyn_modifiedon": None, "modifiedon": None}, "missing 'msdyn_modifiedon' (and 'modifiedon')"),
        ({"createdon": "2026-13-01T00:00:00Z"}, "invalid createdon '2026-13-01T00:00:00Z': " + RFC),
        ({"_msdyn_liveworkstreamid_value": 7}, "_msdyn_liveworkstreamid_value: expected a string, found 7"),
        ({"statuscode": 3, "msdyn_channel": "192370000"}, "statuscode: 3 (waiting), but voice " + CANNOT_WAIT),
        ({"statuscode": 3, "msdyn_channel": "192350000"}, "statuscode: 3 (waiting), but case " + CANNOT_WAIT),
        ({"statuscode": 3, "_msdyn_liveworkstreamid_value": None},
         "statuscode: 3 (waiting), but chat " + CANNOT_WAIT
         + ": a live-chat row without a workstream cannot be persistent chat"),
        ({"statuscode": 3},
         "statuscode: 3 (waiting), but chat " + CANNOT_WAIT + f": if workstream {WEB_CHAT} is persistent chat, "
         f"import it ('ocac workstream import --format dataverse FILE') or pass --persistent-workstream {WEB_CHAT}"),
    ],
)  # fmt: skip
def test_a_bad_row_is_named_with_its_number_activityid_and_column(change: dict[str, Any], message: str) -> None:
    assert _error(_row(activityid="aaaa-0001"), _row(activityid="aaaa-0002", **change)) == PREFIX + message


def test_rows_without_a_usable_activityid_are_named_by_number() -> None:
    assert _error(_row(activityid="a1"), _row(activityid=None)) == "export.json: row 2: missing 'activityid'"
    assert _error(_row(activityid=" ")) == "export.json: row 1: activityid: must not be empty"
    assert _error(_row(activityid=5)) == "export.json: row 1: activityid: expected a string, found 5"
    assert _error(_row(), 42) == "export.json: row 2: expected an object, found 42"


def test_duplicate_activityids_are_refused() -> None:
    assert _error(_row(), _row(activityid="b"), _row()) == (
        "export.json: row 3 (activityid 4a95902a-db14-4e47-94be-09abf93fe42e): duplicate activityid: row 1 has it too"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "export.json is not valid JSON (Input data was truncated)"),
        (b'{"rows": []}', "export.json: expected a Web API response, an object with 'value' "
                          "(a list of msdyn_ocliveworkitem rows), or a bare list"),
        (b'{"value": [], "@odata.nextLink": 5}', "export.json: @odata.nextLink: expected the next page's URL, "
                                                 "found 5"),
    ],
)  # fmt: skip
def test_a_file_that_is_not_an_export(data: bytes, message: str) -> None:
    with pytest.raises(ImportFileError) as caught:
        read_conversations(FILE, data)
    assert str(caught.value).startswith(message)


def test_a_page_reports_its_next_link() -> None:
    link = "[Organization URI]/api/data/v9.2/msdyn_ocliveworkitems?$skiptoken=%3Ccookie%20pagenumber=%222%22"
    assert _page(_row(), **{"@odata.nextLink": link}).next_link == link
    assert _page(_row()).next_link is None


# Workstreams --------------------------------------------------------------------


def test_a_workstream_configured_with_the_id_stores_the_guid() -> None:
    policy = _stream("Contoso Web Chat", Channel.CHAT, WEB_CHAT)
    [item] = _read(_row(_msdyn_liveworkstreamid_value="{" + WEB_CHAT.upper() + "}"), policy=policy)
    assert item.conversation.workstream == WEB_CHAT
    assert "_msdyn_liveworkstreamid_value" not in item.extra  # it is what `workstream` holds
    assert policy.workstream(item.conversation.workstream) is not None


def test_a_workstream_configured_by_name_matches_through_the_annotation() -> None:
    policy = _stream("Contoso Web Chat", Channel.CHAT)
    [item] = _read(_row(), policy=policy)
    assert item.conversation.workstream == "Contoso Web Chat"
    assert _kept(item)["_msdyn_liveworkstreamid_value"] == WEB_CHAT  # the GUID stays beside the name
    assert policy.workstream(item.conversation.workstream) is not None


def test_an_unconfigured_workstream_is_stored_as_its_guid() -> None:
    [item] = _read(_row(), policy=_stream("Other", Channel.CHAT))
    assert item.conversation.workstream == WEB_CHAT
    [item] = _read(_row(**{f"_msdyn_liveworkstreamid_value{FORMATTED}": None}), policy=_stream("X", Channel.CHAT))
    assert item.conversation.workstream == WEB_CHAT


def test_a_name_whose_workstream_has_another_id_does_not_match() -> None:
    other = "0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e62"
    [item] = _read(_row(), policy=_stream("Contoso Web Chat", Channel.CHAT, other))
    assert item.conversation.workstream == WEB_CHAT


def test_the_id_wins_over_the_annotation() -> None:
    policy = Policy(workstreams={
        "A": Workstream("A", Channel.CHAT, id=WEB_CHAT),
        "Contoso Web Chat": Workstream("Contoso Web Chat", Channel.SMS),
    })  # fmt: skip
    [item] = _read(_row(), policy=policy)
    assert item.conversation.workstream == WEB_CHAT


@pytest.mark.parametrize(
    "policy",
    [
        _stream("Contoso Chat", Channel.PERSISTENT_CHAT, WEB_CHAT),  # by id
        _stream("Contoso Web Chat", Channel.PERSISTENT_CHAT),  # by the annotation's name
    ],
)
def test_live_chat_in_a_persistent_chat_workstream_is_persistent_chat(policy: Policy) -> None:
    [item] = _read(_row(statuscode=3), policy=policy)
    assert (item.conversation.channel, item.conversation.state) == (Channel.PERSISTENT_CHAT, State.WAITING)


@pytest.mark.parametrize("spelling", [WEB_CHAT.upper(), "{" + WEB_CHAT + "}", f"  {WEB_CHAT} "])
def test_persistent_workstream_option_compares_guids(spelling: str) -> None:
    [item] = _read(_row(statuscode=3), persistent=frozenset({spelling}))
    assert item.conversation.channel is Channel.PERSISTENT_CHAT


def test_only_live_chat_becomes_persistent_chat() -> None:
    policy = _stream("Contoso Web Chat", Channel.PERSISTENT_CHAT, WEB_CHAT)
    [item] = _read(_row(msdyn_channel="192340000"), policy=policy, persistent=frozenset({WEB_CHAT}))
    assert item.conversation.channel is Channel.SMS


# Case records -------------------------------------------------------------------

INCIDENT = "39DD0B31-ED8B-E511-80D2-00155D2A68D4"


@pytest.mark.parametrize(
    ("lookups", "record", "used"),
    [
        ({"_regardingobjectid_value": INCIDENT}, INCIDENT.lower(), "_regardingobjectid_value"),
        ({"_msdyn_issueid_value": "{" + INCIDENT + "}"}, INCIDENT.lower(), "_msdyn_issueid_value"),
        ({"_msdyn_routableobjectid_value": INCIDENT}, INCIDENT.lower(), "_msdyn_routableobjectid_value"),
        ({"_regardingobjectid_value": "INC-1", "_msdyn_issueid_value": INCIDENT}, "INC-1", "_regardingobjectid_value"),
        ({"_msdyn_issueid_value": "INC-2", "_msdyn_routableobjectid_value": INCIDENT}, "INC-2",
         "_msdyn_issueid_value"),
    ],
)  # fmt: skip
def test_a_case_row_links_its_record(lookups: dict[str, str], record: str, used: str) -> None:
    [item] = _read(_row(msdyn_channel="192350000", **lookups))
    assert (item.conversation.channel, item.conversation.record_id) == (Channel.CASE, record)
    assert used not in item.extra and set(lookups) - {used} <= set(item.extra)


def test_only_case_rows_link_a_record() -> None:
    [chat] = _read(_row(_regardingobjectid_value=INCIDENT))
    assert chat.conversation.record_id is None and _kept(chat)["_regardingobjectid_value"] == INCIDENT


# The sample ---------------------------------------------------------------------

SAMPLE_ROWS: dict[str, tuple[Channel, State, str | None, str | None]] = {
    # title: channel, state, workstream as stored with the sample config (names: it has no ids), network
    "Where is my order?": (Channel.CHAT, State.ACTIVE, "Contoso Web Chat", None),
    "Promo code not applied": (Channel.CHAT, State.OPEN, "Contoso Web Chat", None),
    "Change delivery address": (Channel.CHAT, State.WRAP_UP, "Contoso Web Chat", None),
    "Invoice copy": (Channel.CHAT, State.CLOSED, "Contoso Web Chat", None),
    "Return label follow-up": (Channel.PERSISTENT_CHAT, State.WAITING, "Contoso Chat", None),
    "Exchange for a larger size": (Channel.PERSISTENT_CHAT, State.ACTIVE, "Contoso Chat", None),
    "Router keeps rebooting": (Channel.VOICE, State.ACTIVE, "Contoso Support Line", None),
    "Billing dispute": (Channel.VOICE, State.WRAP_UP, "Contoso Support Line", "voice-call"),
    "Callback request": (Channel.VOICE, State.OPEN, "Contoso Support Line", None),
    "Delivery window confirmation": (Channel.SMS, State.WAITING, "Contoso SMS", None),
    "Appointment reminder reply": (Channel.SMS, State.CLOSED, "Contoso SMS", None),
    "VPN access for new laptop": (Channel.TEAMS, State.WAITING, "Contoso IT Helpdesk", None),
    "Software licence request": (Channel.TEAMS, State.ACTIVE, "Contoso IT Helpdesk", None),
    "Warranty question": (Channel.SOCIAL, State.WAITING, "Contoso Social", "whatsapp"),
    "Complaint about late delivery": (Channel.SOCIAL, State.ACTIVE, "Contoso Social", "facebook"),
    "Public mention: outage": (Channel.SOCIAL, State.CLOSED, "Contoso Social", "twitter"),
    "Store opening hours": (Channel.SOCIAL, State.OPEN, "Contoso Social", "apple-messages"),
    "Booking a repair": (Channel.SOCIAL, State.WRAP_UP, "Contoso Social", "google-business-messages"),
    "Gift card balance": (Channel.SOCIAL, State.CLOSED, None, "line"),
    "Order in Chinese": (Channel.SOCIAL, State.WAITING, "Contoso Social", "wechat"),
    "CAS-04711-K3P8T2": (Channel.CASE, State.ACTIVE, "Contoso Case Routing", None),
    "CAS-03390-M5N2W7": (Channel.CASE, State.CLOSED, "Contoso Case Routing", None),
}


def test_the_sample_export_with_the_sample_config() -> None:
    policy = load_config(SAMPLE / "config.toml").policy
    page = read_conversations(EXPORT, EXPORT.read_bytes(), policy=policy)
    got = {
        _kept(item)["msdyn_title"]: (c.channel, c.state, c.workstream, c.network)
        for item in page.incoming
        for c in [item.conversation]
    }
    assert got == SAMPLE_ROWS
    assert (page.skipped, page.next_link) == ([], None)
    cases = {c.record_id for i in page.incoming for c in [i.conversation] if c.channel is Channel.CASE}
    assert all(record is not None and len(record) == 36 for record in cases) and len(cases) == 2


def test_the_sample_export_without_configured_workstreams_needs_the_persistent_one() -> None:
    with pytest.raises(ImportFileError) as caught:
        read_conversations(EXPORT, EXPORT.read_bytes())
    assert "fece6b98-9a32-4eae-b86c-67b35a0ac810" in str(caught.value)
    page = read_conversations(EXPORT, EXPORT.read_bytes(), persistent_workstreams=frozenset({PERSISTENT}))
    assert {i.conversation.workstream for i in page.incoming} >= {PERSISTENT, WEB_CHAT}


ROW_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 200_000_000), st.text(max_size=12),
    st.sampled_from(["192360000", "192360000,192380000", "2026-11-25T11:00:00Z", WEB_CHAT, ""]),
    st.lists(st.integers(), max_size=2),
)  # fmt: skip
ROW_KEYS = st.sampled_from([
    "activityid", "statuscode", "msdyn_channel", "msdyn_modifiedon", "modifiedon", "createdon",
    "_msdyn_liveworkstreamid_value", "_regardingobjectid_value", f"_msdyn_liveworkstreamid_value{FORMATTED}",
])  # fmt: skip


@given(st.lists(st.dictionaries(ROW_KEYS, ROW_VALUES), max_size=4))
def test_any_rows_import_skip_or_are_refused_with_a_message(changes: list[dict[str, Any]]) -> None:
    rows = [_row(activityid=f"id-{n}") | change for n, change in enumerate(changes)]
    try:
        page = _page(*rows, policy=_stream("Contoso Web Chat", Channel.PERSISTENT_CHAT))
    except ImportFileError as error:
        assert str(error).startswith("export.json: row ")
        return
    assert len(page.incoming) + len(page.skipped) == len(rows)


# ---------------------------------------------------------------------------
# Channel-state records
# ---------------------------------------------------------------------------


def _state(name: str | None, state: int, minutes: int | None = 60, **columns: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "@odata.etag": 'W/"1379367"', "statecode": 0, "statuscode": 1,
        "msdyn_ocliveworkitemstate": state, "msdyn_autocloseliveworkitemafter": minutes,
    }  # fmt: skip
    if name is not None:
        record["msdyn_name"] = name
    return record | columns


def _expanded(code: int, configuration: str = LIVE_CHAT_CONFIGURATION) -> dict[str, Any]:
    return {"msdyn_occhannelconfigurationid": {
        "@odata.etag": 'W/"100"', "msdyn_streamsource": code, "msdyn_occhannelconfigurationid": configuration,
    }}  # fmt: skip


def _records(*records: object) -> list[Any]:
    return read_config_records(FILE, _document(*records))


def test_the_reference_get_response_is_read_as_it_is() -> None:
    open_, active = read_config_records(FILE, REFERENCE_GET.encode())
    assert (open_.channel, open_.network, open_.state, open_.minutes) == (Channel.CHAT, None, State.OPEN, 20)
    assert (active.channel, active.state, active.minutes) == (Channel.CHAT, State.ACTIVE, None)
    assert (open_.record_id, active.record_id) == (OPEN_RECORD, ACTIVE_RECORD)
    assert open_.kept() == StateRecord("chat/open", OPEN_RECORD, LIVE_CHAT_CONFIGURATION, "Live Chat - Open")
    assert open_.skipped is None and active.skipped is None


def test_the_reference_get_response_as_printed_is_not_json() -> None:
    with pytest.raises(ImportFileError) as caught:
        read_config_records(FILE, REFERENCE_GET_AS_PRINTED.encode())
    assert str(caught.value).startswith("export.json is not valid JSON (")


@pytest.mark.parametrize(
    ("name", "channel", "network"),
    [
        ("Live Chat - Open", Channel.CHAT, None), ("Chat - Open", Channel.CHAT, None),
        ("Persistent Chat - Wrap Up", Channel.PERSISTENT_CHAT, None),
        ("PERSISTENT CHAT open", Channel.PERSISTENT_CHAT, None),
        ("Voice - Active", Channel.VOICE, None), ("Voice call - Active", Channel.VOICE, "voice-call"),
        ("SMS - Open", Channel.SMS, None), ("Teams - Open", Channel.TEAMS, None),
        ("Microsoft Teams - Open", Channel.TEAMS, None), ("WhatsApp - Open", Channel.SOCIAL, "whatsapp"),
        ("LINE - Open", Channel.SOCIAL, "line"), ("WeChat - Open", Channel.SOCIAL, "wechat"),
        ("Facebook - Open", Channel.SOCIAL, "facebook"), ("Twitter - Open", Channel.SOCIAL, "twitter"),
        ("Apple Messages for Business - Open", Channel.SOCIAL, "apple-messages"),
        ("Google's Business Messages - Open", Channel.SOCIAL, "google-business-messages"),
        ("Custom messaging - Open", Channel.SOCIAL, "custom-messaging"), ("Social - Open", Channel.SOCIAL, None),
        ("Entity Records - Open", Channel.CASE, None),
    ],
)  # fmt: skip
def test_the_channel_from_the_name_as_the_service_writes_it(name: str, channel: Channel, network: str | None) -> None:
    [record] = _records(_state(name, 0))
    assert (record.channel, record.network) == (channel, network)


@given(
    cell=st.sampled_from([(c, None) for c in Channel] + [(c, n) for n, c in NETWORKS.items()]),
    state=st.sampled_from(list(State)),
)
def test_every_name_ocac_writes_reads_back(cell: tuple[Channel, str | None], state: State) -> None:
    channel, network = cell
    source = target_of_name(record_name(channel, network, state))
    assert source is not None and source.network == network
    assert source.channel is channel or (channel is Channel.PERSISTENT_CHAT and source.channel is Channel.CHAT)


def test_the_expanded_channel_configuration_decides_over_the_name() -> None:
    [record] = _records(_state("Messaging - Open", 0, **_expanded(192300000)))
    assert (record.channel, record.network, record.channel_configuration) == (
        Channel.SOCIAL, "whatsapp", LIVE_CHAT_CONFIGURATION,
    )  # fmt: skip
    [record] = _records(_state("Persistent Chat - Open", 0, **_expanded(192360000)))
    assert record.channel is Channel.PERSISTENT_CHAT


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (_state("Live Chat - Waiting", 2), rule_is_configurable(Channel.CHAT, State.WAITING)),
        (_state("SMS - Closed", 3), rule_is_configurable(Channel.SMS, State.CLOSED)),
        (_state("Entity Records - Open", 0), rule_is_configurable(Channel.CASE, State.OPEN)),
        (_state("Video - Open", 0), "video has no conversations of its own"),
        (_state("X", 0, **_expanded(192400000)), "screen sharing has no conversations of its own"),
    ],
)
def test_records_without_an_ocac_rule_are_skipped(record: dict[str, Any], reason: str | None) -> None:
    [read] = _records(record)
    assert read.skipped == reason and read.kept() is None


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (_state("Instagram - Open", 0), "export.json: record 1 ('Instagram - Open'): cannot tell its channel: its "
         "msdyn_name names no channel ocac knows; expand its channel configuration (msdyn_occhannelconfigurationid "
         "with msdyn_streamsource) or name it as the service does, e.g. 'Live Chat - Open', 'WhatsApp - Wrap-up'"),
        (_state("Instagram - Open", 0, **_expanded(192460000)), "export.json: record 1 ('Instagram - Open'): cannot "
         "tell its channel: its channel code 192460000 is not one ocac knows, and its msdyn_name names no channel"),
        (_state(None, 0), "export.json: record 1: cannot tell its channel"),
        (_state("Persistent Chat - Open", 0, **_expanded(192370000)), "export.json: record 1 ('Persistent Chat - "
         "Open'): msdyn_name says persistent chat but its channel is voice: persistent chat records belong to the "
         "live-chat channel"),
        (_state("Voice - Open", 9), "export.json: record 1 ('Voice - Open'): msdyn_ocliveworkitemstate: unknown "
         "value 9: use 0 (open), 1 (active), 2 (waiting), 3 (closed), 4 (wrap-up)"),
        (_state("Voice - Open", 0, -5), "export.json: record 1 ('Voice - Open'): msdyn_autocloseliveworkitemafter: -5 "
         "is out of range (0 to 2147483647 minutes, or null for never)"),
        (_state("Voice - Open", 0, "2h"), "export.json: record 1 ('Voice - Open'): msdyn_autocloseliveworkitemafter: "
         'expected a whole number, found "2h"'),
        ({"msdyn_name": "Voice - Open", "msdyn_ocliveworkitemstate": 0}, "export.json: record 1 ('Voice - Open'): "
         "missing 'msdyn_autocloseliveworkitemafter' (minutes, or null for never)"),
        (_state("Voice - Open", 0, msdyn_occhannelstateconfigurationid="6283ab63"), "export.json: record 1 ('Voice - "
         "Open'): msdyn_occhannelstateconfigurationid: expected a GUID such as 6283ab63-5778-e911-8196-000d3af7d71e, "
         'found "6283ab63"'),
        (_state("Voice - Open", 0, msdyn_occhannelconfigurationid="x"), "export.json: record 1 ('Voice - Open'): "
         "msdyn_occhannelconfigurationid: expected the expanded channel configuration, an object"),
        ({"msdyn_name": 3}, "export.json: record 1: msdyn_name: expected a string, found 3"),
        ([], "export.json: record 1: expected an object, found []"),
    ],
)  # fmt: skip
def test_bad_records(record: object, message: str) -> None:
    with pytest.raises(ImportFileError) as caught:
        _records(record)
    assert str(caught.value).startswith(message)


def test_two_records_for_one_cell_must_agree_and_the_second_is_skipped() -> None:
    one, two = _records(_state("WhatsApp - Open", 0, 60), _state("WhatsApp - Open", 0, 60))
    assert (one.skipped, two.skipped) == (None, "the same cell as record 1 ('WhatsApp - Open'), with the same duration")
    with pytest.raises(ImportFileError) as caught:
        _records(_state("Facebook - Open", 0, 60), _state("X", 0, 90, **_expanded(192330000)))
    assert str(caught.value) == (
        "export.json: record 2 ('X'): facebook open is 1h30m here but 1h in record 1 ('Facebook - Open'): ocac has "
        "one rule per channel or network and state; make them agree"
    )
    # different networks are different cells
    assert [r.skipped for r in _records(_state("Facebook - Open", 0, 60), _state("LINE - Open", 0, 90))] == [None] * 2


def _import(document: tomlkit.TOMLDocument, data: bytes) -> ConfigImport:
    edit = ConfigImport(read_config_records(FILE, data))
    edit(document)
    return edit


def _policy(document: tomlkit.TOMLDocument) -> Policy:
    return policy_from_document(tomllib.loads(tomlkit.dumps(document)))


def test_import_sets_channel_rules_and_keeps_the_ids() -> None:
    document = tomlkit.parse('[rules.chat]\nopen = "30m"  # kept comment\n')
    edit = _import(document, REFERENCE_GET.encode())
    assert [(c.name, c.old, c.new) for c in edit.changes] == [("chat open", 30, 20)]
    assert (edit.unchanged, edit.kept_ids) == (1, 2)
    assert tomlkit.dumps(document) == (
        '[rules.chat]\nopen = "20m"  # kept comment\n\n'
        '[dataverse.state_records."chat/open"]\n'
        f'id = "{OPEN_RECORD}"\nchannel_configuration = "{LIVE_CHAT_CONFIGURATION}"\nname = "Live Chat - Open"\n\n'
        '[dataverse.state_records."chat/active"]\n'
        f'id = "{ACTIVE_RECORD}"\nchannel_configuration = "{LIVE_CHAT_CONFIGURATION}"\nname = "Live Chat - Active"\n'
    )
    assert _import(document, REFERENCE_GET.encode()).kept_ids == 0  # kept already


def test_a_network_gets_a_rule_only_where_it_differs_from_its_channel() -> None:
    document = tomlkit.parse('[rules.facebook]\nopen = "7d"\n')
    edit = _import(document, _document(
        _state("WhatsApp - Open", 0, 7 * 1440), _state("Facebook - Open", 0, 30 * 1440),
        _state("WhatsApp - Active", 1, 30 * 1440), _state("Voice call - Active", 1, 90),
    ))  # fmt: skip
    assert [(c.name, c.old, c.new) for c in edit.changes] == [
        ("whatsapp open", 43200, 10080),
        ("facebook open", 10080, 43200),
        ("voice-call active", 120, 90),
    ]
    policy = _policy(document)
    assert set(policy.network_rules) == {("whatsapp", State.OPEN), ("voice-call", State.ACTIVE)}
    assert policy.rule(Channel.SOCIAL, State.OPEN, "whatsapp").minutes == 7 * 1440  # type: ignore[union-attr]
    assert policy.rule(Channel.SOCIAL, State.OPEN, "facebook").minutes == 30 * 1440  # type: ignore[union-attr]
    assert edit.unchanged == 1


def test_a_network_record_compares_with_the_channel_rule_the_same_file_sets() -> None:
    document = tomlkit.document()
    _import(document, _document(_state("WhatsApp - Open", 0, 60), _state("Social - Open", 0, 60)))
    assert tomlkit.dumps(document) == '[rules.social]\nopen = "1h"\n'


def test_stock_export_has_one_record_per_channel_cell_and_no_ids() -> None:
    records = export_records(Policy())
    cells = [(c, s) for c in Channel for s in RULE_STATES if rule_is_configurable(c, s) is None]
    assert len(records) == len(cells) == 18
    assert records[0] == {
        "msdyn_name": "Live Chat - Open", "msdyn_ocliveworkitemstate": 0, "msdyn_autocloseliveworkitemafter": 20,
    }  # fmt: skip
    assert [r["msdyn_name"] for r in records if str(r["msdyn_name"]).startswith("Social")] == [
        "Social - Open", "Social - Active", "Social - Wrap-up",
    ]  # fmt: skip
    assert patches(records) == ([], [str(r["msdyn_name"]) for r in records])


def test_export_carries_kept_ids_and_the_networks_that_have_them() -> None:
    kept = {
        "chat/open": StateRecord("chat/open", OPEN_RECORD, LIVE_CHAT_CONFIGURATION, "Live Chat - Open"),
        "whatsapp/open": StateRecord("whatsapp/open", ACTIVE_RECORD, None, "Odd name"),
    }
    rules = {("facebook", State.WRAP_UP): Rule(Channel.SOCIAL, State.WRAP_UP, 5, State.CLOSED, "config", "facebook")}
    records = export_records(Policy(network_rules=rules), kept)
    assert records[0] == {
        "msdyn_occhannelstateconfigurationid": OPEN_RECORD,
        "_msdyn_occhannelconfigurationid_value": LIVE_CHAT_CONFIGURATION,
        "msdyn_name": "Live Chat - Open", "msdyn_ocliveworkitemstate": 0, "msdyn_autocloseliveworkitemafter": 20,
    }  # fmt: skip
    networks = [r for r in records if r["msdyn_name"] in ("WhatsApp - Open", "Facebook - Wrap-up")]
    assert networks == [
        {"msdyn_occhannelstateconfigurationid": ACTIVE_RECORD, "msdyn_name": "WhatsApp - Open",  # a name that
         "msdyn_ocliveworkitemstate": 0, "msdyn_autocloseliveworkitemafter": 43200},  # would not read back: ocac's
        {"msdyn_name": "Facebook - Wrap-up", "msdyn_ocliveworkitemstate": 4, "msdyn_autocloseliveworkitemafter": 5},
    ]  # fmt: skip
    assert len(records) == 20


_CELLS = [(c, None, s) for c in Channel for s in RULE_STATES if rule_is_configurable(c, s) is None] + [
    (c, n, s) for n, c in NETWORKS.items() for s in RULE_STATES if rule_is_configurable(c, s) is None
]
_MINUTES = st.one_of(st.none(), st.integers(0, 2_147_483_647))


@given(st.dictionaries(st.sampled_from(_CELLS), _MINUTES, max_size=12))
def test_export_then_import_into_an_empty_config_gives_the_same_rules(cells: dict[Any, int | None]) -> None:
    rules, network_rules = dict(DEFAULT_RULES), {}
    for (channel, network, state), minutes in cells.items():
        rule = Rule(channel, state, minutes, DEFAULT_RULES[channel, state].target, "config", network)
        if network is None:
            rules[channel, state] = rule
        else:
            network_rules[network, state] = rule
    policy = Policy(rules, {}, network_rules)
    data = json.dumps({"value": export_records(policy)}).encode()
    document = tomlkit.document()
    _import(document, data)
    after = _policy(document)
    for channel, network, state in _CELLS:
        assert after.rule(channel, state, network) is not None
        assert after.rule(channel, state, network).minutes == policy.rule(channel, state, network).minutes  # type: ignore[union-attr]
    assert [(c.name, c.minutes) for c in matrix(after) if c.network is None] == [
        (c.name, c.minutes) for c in matrix(policy) if c.network is None
    ]
    assert _import(document, data).changes == []  # and importing it again changes nothing


def test_a_batch_of_patches_is_one_change_set_of_crlf_requests() -> None:
    requests, missing = patches(export_records(Policy(), {
        "chat/open": StateRecord("chat/open", OPEN_RECORD), "chat/active": StateRecord("chat/active", ACTIVE_RECORD),
    }))  # fmt: skip
    assert len(missing) == 16
    body, boundary = batch_body(requests)
    assert boundary.startswith("batch_ocac_") and body.endswith(f"--{boundary}--\r\n")
    assert "\n" not in body.replace("\r\n", "")
    message = email.message_from_bytes(
        f"Content-Type: multipart/mixed;boundary={boundary}\r\n\r\n".encode() + body.encode(),
        policy=email.policy.HTTP,
    )
    [changeset] = message.get_payload()  # type: ignore[misc]
    parts = changeset.get_payload()
    assert [part["Content-ID"] for part in parts] == ["1", "2"]
    assert [part["Content-Type"] for part in parts] == ["application/http"] * 2
    first = parts[0].get_payload().split("\r\n")
    assert first == [
        f"PATCH /api/data/v9.2/msdyn_occhannelstateconfigurations({OPEN_RECORD}) HTTP/1.1",
        "Content-Type: application/json", "If-Match: *", "", '{"msdyn_autocloseliveworkitemafter":20}',
    ]  # fmt: skip
    assert parts[1].get_payload().split("\r\n")[-1] == '{"msdyn_autocloseliveworkitemafter":null}'
    assert requests[0].to_json() == {
        "name": "Live Chat - Open", "method": "PATCH",
        "url": f"/api/data/v9.2/msdyn_occhannelstateconfigurations({OPEN_RECORD})",
        "headers": {"Content-Type": "application/json", "If-Match": "*"},
        "body": {"msdyn_autocloseliveworkitemafter": 20},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[dataverse.state_records."chat/open"]\nid = "nope"\n', 'dataverse.state_records."chat/open".id: expected a '
         "GUID such as 6283ab63-5778-e911-8196-000d3af7d71e"),
        ('[dataverse.state_records."chat/open"]\nname = "x"\n', 'dataverse.state_records."chat/open": missing \'id\''),
        (f'[dataverse.state_records."chat/closed"]\nid = "{OPEN_RECORD}"\n', 'dataverse.state_records."chat/closed": '
         "closed is final"),
        (f'[dataverse.state_records."whatsap/open"]\nid = "{OPEN_RECORD}"\n', 'dataverse.state_records."whatsap/open":'
         " unknown channel 'whatsap': did you mean 'whatsapp'?"),
        (f'[dataverse.state_records.chat]\nid = "{OPEN_RECORD}"\n', "dataverse.state_records.\"chat\": expected a "
         'channel or network and a state, such as "chat/open"'),
        (f'[dataverse.state_records."chat/open"]\nid = "{OPEN_RECORD}"\nidd = 1\n',
         "dataverse.state_records.\"chat/open\".idd: unknown key: did you mean 'id'?"),
        ("[dataverse]\nrecords = 1\n", "dataverse.records: unknown key"),
    ],
)  # fmt: skip
def test_the_kept_records_are_validated(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"config {path}: {message}")


def test_kept_records_load_normalised(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[dataverse.state_records."persistent-chat/wrap-up"]\nid = "{{{OPEN_RECORD.upper()}}}"\n')
    assert load_config(path).state_records == {
        "persistent-chat/wrap-up": StateRecord("persistent-chat/wrap-up", OPEN_RECORD)
    }


# ---------------------------------------------------------------------------
# Workstreams
# ---------------------------------------------------------------------------


def _workstream(name: str = "Contoso SMS", code: int = 192340000, **columns: Any) -> dict[str, Any]:
    return {
        "@odata.etag": 'W/"48100051"', "msdyn_liveworkstreamid": "4d1c9b8a-7e6f-4a5b-9c3d-2e1f0a9b8c74",
        "msdyn_name": name, f"msdyn_streamsource{FORMATTED}": "SMS", "msdyn_streamsource": code,
        "msdyn_conversationmode": None, "msdyn_autocloseafterinactivity": 2880,
        "msdyn_blockcapacityforwrapup": None, "statecode": 0, "statuscode": 1,
    } | columns  # fmt: skip


def _streams(*records: object) -> list[Any]:
    return read_workstreams(FILE, _document(*records))


def test_the_sample_workstreams_are_the_sample_config_with_ids() -> None:
    records = read_workstreams(WORKSTREAMS, WORKSTREAMS.read_bytes())
    configured = load_config(SAMPLE / "config.toml").policy.workstreams
    for record in records:
        stream = configured[record.name]
        assert record.workstream() == Workstream(
            stream.name, stream.channel, stream.auto_close_after, stream.wrap_up_block, record.id
        )
    [web_chat] = [r for r in records if r.notes]
    assert web_chat.name == "Contoso Web Chat" and web_chat.notes[0].startswith("msdyn_autocloseafterinactivity 15m: ")


@pytest.mark.parametrize(
    ("columns", "block"),
    [
        ({"msdyn_blockcapacityforwrapupinseconds": 30}, 1), ({"msdyn_blockcapacityforwrapupinseconds": 61}, 2),
        ({"msdyn_blockcapacityforwrapupinseconds": 3600, "msdyn_blockcapacityforwrapup": 5}, 60),
        ({"msdyn_blockcapacityforwrapupinseconds": 0, "msdyn_blockcapacityforwrapup": 5}, None),
        ({"msdyn_blockcapacityforwrapupinseconds": None, "msdyn_blockcapacityforwrapup": 45}, 45),
        ({"msdyn_blockcapacityforwrapup": 43200}, 43200), ({"msdyn_blockcapacityforwrapup": 0}, None),
        ({}, None),
    ],
)  # fmt: skip
def test_the_wrap_up_block(columns: dict[str, Any], block: int | None) -> None:
    [record] = _streams(_workstream(**columns))
    assert record.wrap_up_block == block


@pytest.mark.parametrize(
    ("columns", "channel", "auto_close", "notes"),
    [
        ({}, Channel.SMS, 2880, 0),
        ({"msdyn_autocloseafterinactivity": 0}, Channel.SMS, None, 0),
        ({"msdyn_autocloseafterinactivity": None}, Channel.SMS, None, 0),
        ({"msdyn_streamsource": 192360000}, Channel.CHAT, None, 1),
        ({"msdyn_streamsource": 192360000, "msdyn_conversationmode": 192350001}, Channel.PERSISTENT_CHAT, 2880, 0),
        ({"msdyn_streamsource": 192360000, "msdyn_conversationmode": 192350000}, Channel.CHAT, None, 1),
        ({"msdyn_streamsource": 192340000, "msdyn_conversationmode": 192350001}, Channel.SMS, 2880, 0),
        ({"msdyn_streamsource": 192440000}, Channel.VOICE, None, 1),
        ({"msdyn_streamsource": 192350002}, Channel.SOCIAL, 2880, 0),
        ({"msdyn_streamsource": 192350000}, Channel.CASE, None, 1),
    ],
)  # fmt: skip
def test_the_channel_and_the_waiting_auto_close(
    columns: dict[str, Any], channel: Channel, auto_close: int | None, notes: int
) -> None:
    [record] = _streams(_workstream(**columns))
    assert (record.channel, record.auto_close_after, len(record.notes)) == (channel, auto_close, notes)


@pytest.mark.parametrize(
    ("code", "reason"),
    [(192380000, "msdyn_streamsource: Video has no conversations"),
     (192999999, "msdyn_streamsource: channel code 192999999 is not one ocac knows")],
)  # fmt: skip
def test_workstreams_of_channels_without_conversations_are_skipped(code: int, reason: str) -> None:
    [record] = _streams(_workstream(msdyn_streamsource=code))
    assert (record.channel, record.skipped) == (None, reason)


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"msdyn_blockcapacityforwrapup": 43201},
         "msdyn_blockcapacityforwrapup: 43201 is out of range (0 to 43200 minutes, 30 days)"),
        ({"msdyn_blockcapacityforwrapupinseconds": -1},
         "msdyn_blockcapacityforwrapupinseconds: -1 is out of range (0 to 43200 seconds)"),
        ({"msdyn_autocloseafterinactivity": 2_147_483_648},
         "msdyn_autocloseafterinactivity: 2147483648 is out of range (0 to 2147483647 minutes)"),
        ({"msdyn_autocloseafterinactivity": "2d"},
         'msdyn_autocloseafterinactivity: expected a whole number, found "2d"'),
        ({"msdyn_liveworkstreamid": "42"}, "msdyn_liveworkstreamid: expected a GUID such as "
                                            '6283ab63-5778-e911-8196-000d3af7d71e, found "42"'),
        ({"msdyn_streamsource": None}, "missing 'msdyn_streamsource'"),
        ({"msdyn_conversationmode": "persistent"},
         'msdyn_conversationmode: expected a whole number, found "persistent"'),
    ],
)  # fmt: skip
def test_bad_workstream_records_are_named(columns: dict[str, Any], message: str) -> None:
    with pytest.raises(ImportFileError) as caught:
        _streams(_workstream(name="A"), _workstream(name="Contoso SMS", **columns))
    assert str(caught.value) in (f"export.json: record 2 ('Contoso SMS'): {message}",)


def test_a_workstream_is_named_and_listed_once() -> None:
    other_id = "0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e62"
    with pytest.raises(ImportFileError) as caught:
        _streams(_workstream(), _workstream(msdyn_liveworkstreamid=other_id))
    assert str(caught.value) == "export.json: record 2 ('Contoso SMS'): duplicate msdyn_name: record 1 has it too"
    with pytest.raises(ImportFileError) as caught:
        _streams(_workstream(), _workstream(name="B"))
    assert str(caught.value) == "export.json: record 2 ('B'): duplicate msdyn_liveworkstreamid: record 1 has it too"
    with pytest.raises(ImportFileError) as caught:
        _streams({"msdyn_name": " "})
    assert str(caught.value) == "export.json: record 1 (' '): msdyn_name: must not be empty"


def test_import_upserts_by_name_with_the_id() -> None:
    document = tomlkit.parse('[workstreams."Contoso SMS"]\nchannel = "sms"  # ours\nauto_close_after = "1d"\n')
    edit = WorkstreamImport(FILE, _streams(_workstream(), _workstream(name="New", msdyn_liveworkstreamid=WEB_CHAT)))
    edit(document)
    assert [(c.new.name, c.old is None) for c in edit.changes] == [("Contoso SMS", False), ("New", True)]
    assert edit.changes[0].line("updated") == (
        "updated: workstream 'Contoso SMS': auto-close after 1d → 2d; id none → 4d1c9b8a-7e6f-4a5b-9c3d-2e1f0a9b8c74"
    )
    assert edit.changes[1].line("added") == (
        f"added: workstream 'New' (channel sms, auto-close after 2d, wrap-up block none, id {WEB_CHAT})"
    )
    policy = _policy(document)
    assert policy.workstreams["Contoso SMS"] == Workstream(
        "Contoso SMS", Channel.SMS, 2880, None, "4d1c9b8a-7e6f-4a5b-9c3d-2e1f0a9b8c74"
    )
    assert '"sms"  # ours' in tomlkit.dumps(document)
    edit(document)
    assert (edit.changes, edit.unchanged) == ([], 2)


def test_import_refuses_an_id_another_workstream_has() -> None:
    document = tomlkit.parse(f'[workstreams.Old]\nchannel = "sms"\nid = "{"4d1c9b8a-7e6f-4a5b-9c3d-2e1f0a9b8c74"}"\n')
    with pytest.raises(ImportFileError) as caught:
        WorkstreamImport(FILE, _streams(_workstream()))(document)
    assert str(caught.value) == (
        "export.json: record 1 ('Contoso SMS'): workstream 'Old' already has id 4d1c9b8a-7e6f-4a5b-9c3d-2e1f0a9b8c74: "
        "if the service renamed it, remove it first ('ocac workstream remove \"Old\"')"
    )


# ---------------------------------------------------------------------------
# Any input: read, skipped, or refused with a message naming the record
# ---------------------------------------------------------------------------

ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 3_000_000_000), st.text(max_size=30),
    st.sampled_from(["WhatsApp - Open", "Persistent Chat - Wrap Up", OPEN_RECORD, "{" + WEB_CHAT.upper() + "}"]),
    st.dictionaries(st.sampled_from(["msdyn_streamsource", "msdyn_occhannelconfigurationid"]),
                    st.one_of(st.integers(192300000, 192460000), st.text(max_size=5)), max_size=2),
)  # fmt: skip
STATE_COLUMNS = st.sampled_from([
    "msdyn_name", "msdyn_ocliveworkitemstate", "msdyn_autocloseliveworkitemafter", "msdyn_occhannelconfigurationid",
    "msdyn_occhannelstateconfigurationid", "_msdyn_occhannelconfigurationid_value",
])  # fmt: skip
WORKSTREAM_COLUMNS = st.sampled_from([
    "msdyn_name", "msdyn_liveworkstreamid", "msdyn_streamsource", "msdyn_conversationmode",
    "msdyn_autocloseafterinactivity", "msdyn_blockcapacityforwrapup", "msdyn_blockcapacityforwrapupinseconds",
])  # fmt: skip


@given(st.lists(st.dictionaries(STATE_COLUMNS, ANY_VALUE, max_size=3), min_size=1, max_size=3))
def test_any_channel_state_records_are_read_or_refused_with_a_message(changes: list[dict[str, Any]]) -> None:
    rows = [_state("Voice - Open", 0) | change for change in changes]
    try:
        records = _records(*rows)
    except ImportFileError as error:
        assert str(error).startswith("export.json: record ")
        return
    assert len(records) == len(rows)
    for record in records:
        assert record.minutes is None or 0 <= record.minutes <= 2_147_483_647
        assert record.skipped is not None or record.channel is not None


@given(st.lists(st.dictionaries(WORKSTREAM_COLUMNS, ANY_VALUE, max_size=3), min_size=1, max_size=3))
def test_any_workstream_records_are_read_or_refused_with_a_message(changes: list[dict[str, Any]]) -> None:
    rows = [_workstream(name=f"W{n}", msdyn_liveworkstreamid=f"{n:08d}-0000-4000-8000-000000000000") | change
            for n, change in enumerate(changes)]  # fmt: skip
    try:
        records = _streams(*rows)
    except ImportFileError as error:
        assert str(error).startswith("export.json: record ")
        return
    for record in records:
        assert record.wrap_up_block is None or 1 <= record.wrap_up_block <= 43200
        if record.skipped is None:
            assert record.workstream().channel is record.channel


def test_a_paged_response_of_records_or_workstreams_is_refused() -> None:
    link = {"@odata.nextLink": "[Organization URI]/api/data/v9.2/x?$skiptoken=2"}
    message = (
        "export.json is one page of a longer response (it has @odata.nextLink): fetch every page and give their "
        "'value' lists as one file"
    )
    for read, row in ((read_config_records, _state("Voice - Open", 0)), (read_workstreams, _workstream())):
        with pytest.raises(ImportFileError) as caught:
            read(FILE, _document(row, **link))
        assert str(caught.value) == message
