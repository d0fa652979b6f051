"""Dataverse interchange: the service's conversations, channel-state records and workstreams.

Every shape read and every column's meaning is in docs/dataverse.md; in short:

- `msdyn_ocliveworkitems` (conversations) pages: `read_conversations`. A row's channel is the
  first code of its multi-select `msdyn_channel` that names a conversation channel; rows
  whose status or channel ocac has no name for are skipped and reported, not refused.
- `msdyn_occhannelstateconfigurations` (the auto-close time of each channel and state):
  `read_config_records` and `ConfigImport` one way, `export_records` and `batch_body` (the
  PATCH requests that write them back) the other. The table has no channel column: the
  channel comes from the expanded channel configuration, else from the record's name.
- `msdyn_liveworkstreams` (workstreams): `read_workstreams` and `WorkstreamImport`.
- `history_row`: a sweep's move in the service's status and reason codes.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from ocac.audit import AuditRecord
from ocac.config import (
    StateRecord,
    is_guid,
    policy_from_document,
    set_rule,
    set_state_record,
    set_workstream,
    state_records_from_document,
    unset_rule,
)
from ocac.durations import MAX_MINUTES, format_minutes
from ocac.errors import ImportFileError, InvalidInput
from ocac.instants import format_instant, parse_instant
from ocac.interchange import json_list
from ocac.model import KNOWN_FIELDS, NETWORKS, RULE_STATES, Channel, Conversation, State, can_wait, workstream_key
from ocac.policy import Policy, Workstream, rule_is_configurable, workstream_problem
from ocac.store.base import Incoming

if TYPE_CHECKING:
    from tomlkit import TOMLDocument

# ---------------------------------------------------------------------------
# The service's option codes
# ---------------------------------------------------------------------------


class StreamSource(msgspec.Struct, frozen=True):
    """One option of the service's channel choice (`msdyn_streamsource`) and what it is to ocac."""

    label: str
    channel: Channel | None
    """None: a channel that only rides along with a conversation (video, co-browse, screen sharing)."""
    network: str | None = None


STREAM_SOURCES: Mapping[int, StreamSource] = {
    192360000: StreamSource("Live chat", Channel.CHAT),
    192370000: StreamSource("Voice", Channel.VOICE),
    192440000: StreamSource("Voice call", Channel.VOICE, "voice-call"),
    192340000: StreamSource("SMS", Channel.SMS),
    19241000: StreamSource("Microsoft Teams", Channel.TEAMS),  # eight digits, as the service has it
    192350000: StreamSource("Entity Records", Channel.CASE),
    192300000: StreamSource("WhatsApp", Channel.SOCIAL, "whatsapp"),
    192310000: StreamSource("LINE", Channel.SOCIAL, "line"),
    192320000: StreamSource("WeChat", Channel.SOCIAL, "wechat"),
    192330000: StreamSource("Facebook", Channel.SOCIAL, "facebook"),
    192350001: StreamSource("Twitter", Channel.SOCIAL, "twitter"),
    192450000: StreamSource("Apple Messages for Business", Channel.SOCIAL, "apple-messages"),
    192450001: StreamSource("Google's Business Messages", Channel.SOCIAL, "google-business-messages"),
    192350002: StreamSource("Custom", Channel.SOCIAL, "custom-messaging"),
    192380000: StreamSource("Video", None),
    192390000: StreamSource("Co-browse", None),
    192400000: StreamSource("Screen sharing", None),
}
"""`msdyn_streamsource` (a workstream's or channel configuration's channel; the codes of a
conversation's `msdyn_channel`) and the ocac channel and network of each."""

PERSISTENT_CHAT_MODE = 192350001
"""`msdyn_liveworkstream.msdyn_conversationmode` of a persistent-chat workstream (192350000: live chat)."""

STATUS_CODES: Mapping[int, State] = {
    1: State.OPEN, 2: State.ACTIVE, 3: State.WAITING, 4: State.CLOSED, 5: State.WRAP_UP,
}  # fmt: skip
"""`msdyn_ocliveworkitem.statuscode`; 6 (Resolved) and 7 (Scheduled) are the service's own."""

INTERNAL_STATUSES: Mapping[int, str] = {6: "Resolved", 7: "Scheduled"}
"""Statuses the service keeps "for internal use only": ocac has no state for them."""

CONFIG_STATES: Mapping[int, State] = {
    0: State.OPEN, 1: State.ACTIVE, 2: State.WAITING, 3: State.CLOSED, 4: State.WRAP_UP,
}  # fmt: skip
"""`msdyn_occhannelstateconfiguration.msdyn_ocliveworkitemstate`."""

STATE_LABELS: Mapping[State, str] = {
    State.OPEN: "Open", State.ACTIVE: "Active", State.WAITING: "Waiting",
    State.CLOSED: "Closed", State.WRAP_UP: "Wrap-up",
}  # fmt: skip

TARGET_LABELS: Mapping[str, str] = {
    "chat": "Live Chat", "voice": "Voice", "voice-call": "Voice call", "sms": "SMS", "teams": "Teams",
    "persistent-chat": "Persistent Chat", "social": "Social", "whatsapp": "WhatsApp", "line": "LINE",
    "wechat": "WeChat", "facebook": "Facebook", "twitter": "Twitter",
    "apple-messages": "Apple Messages for Business", "google-business-messages": "Google's Business Messages",
    "custom-messaging": "Custom messaging", "case": "Entity Records",
}  # fmt: skip
"""The channel part of a channel-state record's `msdyn_name` ("Live Chat - Open"), by channel or network."""

_NULL = b"null"
_GUID_HELP = "a GUID such as 6283ab63-5778-e911-8196-000d3af7d71e"


class _RowError(Exception):
    """A problem in one row or record; the caller adds the file and the row."""


class _Skipped(Exception):
    """A row left out by a documented rule; the message says which."""


def _codes_help(codes: Mapping[int, State]) -> str:
    return ", ".join(f"{code} ({state})" for code, state in codes.items())


def _rows(path: Path, data: bytes, what: str) -> tuple[list[msgspec.Raw], dict[str, msgspec.Raw]]:
    """The rows of a Web API document (`{"value": [...]}`) or of a bare JSON list, and the document's entries."""
    return json_list(
        path, data, key="value", item_type=msgspec.Raw, what=what,
        shape=f"a Web API response, an object with 'value' (a list of {what}), or a bare list",
    )  # fmt: skip


def _object(raw: msgspec.Raw) -> dict[str, msgspec.Raw]:
    try:
        return msgspec.json.decode(raw, type=dict[str, msgspec.Raw])
    except msgspec.ValidationError:
        raise _RowError(f"expected an object, found {_show(raw)}") from None


def _show(raw: msgspec.Raw) -> str:
    text = bytes(raw).decode("utf-8", "replace")
    return text if len(text) <= 60 else text[:57] + "..."


def _present(row: Mapping[str, msgspec.Raw], name: str) -> bool:
    return name in row and bytes(row[name]) != _NULL


def _required(row: Mapping[str, msgspec.Raw], name: str) -> Any:
    if not _present(row, name):
        raise _RowError(f"missing '{name}'")
    return msgspec.json.decode(row[name])


def _string(row: Mapping[str, msgspec.Raw], name: str) -> str:
    value = _required(row, name)
    if not isinstance(value, str):
        raise _RowError(f"{name}: expected a string, found {_show(row[name])}")
    return value


def _integer(row: Mapping[str, msgspec.Raw], name: str) -> int:
    value = _required(row, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _RowError(f"{name}: expected a whole number, found {_show(row[name])}")
    return value


def _optional_integer(row: Mapping[str, msgspec.Raw], name: str, most: int, unit: str) -> int | None:
    """A whole number in 0..most, or None when null or absent."""
    if not _present(row, name):
        return None
    value = _integer(row, name)
    if not 0 <= value <= most:
        raise _RowError(f"{name}: {value} is out of range (0 to {most} {unit})")
    return value


def _guid(row: Mapping[str, msgspec.Raw], name: str) -> str:
    """A GUID column, normalised as ocac stores GUIDs (lower case, no braces)."""
    value = workstream_key(_string(row, name))
    if not is_guid(value):
        raise _RowError(f"{name}: expected {_GUID_HELP}, found {_show(row[name])}")
    return value


def _annotation(row: Mapping[str, msgspec.Raw], name: str) -> str | None:
    """The FormattedValue the service adds to `name` when asked for annotations (a lookup's name)."""
    raw = row.get(f"{name}@OData.Community.Display.V1.FormattedValue")
    value = None if raw is None else msgspec.json.decode(raw)
    return value if isinstance(value, str) and value.strip() else None


def _instant(row: Mapping[str, msgspec.Raw], name: str) -> datetime:
    return parse_instant(_string(row, name), name)


# ---------------------------------------------------------------------------
# msdyn_ocliveworkitem: conversations
# ---------------------------------------------------------------------------

WORKSTREAM = "_msdyn_liveworkstreamid_value"
"""A conversation's workstream (its GUID)."""

RECORD_LOOKUPS = ("_regardingobjectid_value", "_msdyn_issueid_value", "_msdyn_routableobjectid_value")
"""Where a case (entity records) conversation names its record, in order of preference: ocac's `record_id`."""

CONSUMED_FIELDS = frozenset({
    "activityid", "statecode", "statuscode", "msdyn_statuschangereason", "msdyn_modifiedon", "modifiedon",
    "createdon",
})  # fmt: skip
"""Columns that become ocac's fields or that ocac's state replaces: not kept, and neither are their annotations."""

MOST_IDS_SHOWN = 20
"""How many ids of skipped rows a warning lists (`--json` lists them all)."""


class SkippedRow(msgspec.Struct, frozen=True):
    """A row left out by a documented rule."""

    id: str
    reason: str


class ConversationPage(msgspec.Struct, frozen=True):
    """One file of a conversation export: its conversations, the rows skipped, and its link to the next page."""

    incoming: list[Incoming]
    skipped: list[SkippedRow] = msgspec.field(default_factory=list)
    next_link: str | None = None

    def warnings(self, path: Path) -> list[str]:
        """One line per reason rows were skipped for, with their count and ids."""
        by_reason: dict[str, list[str]] = {}
        for row in self.skipped:
            by_reason.setdefault(row.reason, []).append(row.id)
        lines = []
        for reason, ids in by_reason.items():
            shown = ", ".join(ids[:MOST_IDS_SHOWN])
            more = f" and {len(ids) - MOST_IDS_SHOWN} more (--json lists them all)" if len(ids) > MOST_IDS_SHOWN else ""
            lines.append(f"{path}: skipped {len(ids)} row(s), {reason}: {shown}{more}")
        return lines


class _Context(msgspec.Struct, frozen=True):
    policy: Policy
    persistent: frozenset[str]
    """GUIDs of live-chat workstreams given as persistent chat (--persistent-workstream)."""


class _StreamRef(msgspec.Struct, frozen=True):
    """A row's workstream: what ocac stores, the GUID, and the configured workstream if any."""

    stored: str | None
    guid: str | None
    stream: Workstream | None


def read_conversations(
    path: Path, data: bytes, *, policy: Policy | None = None, persistent_workstreams: frozenset[str] = frozenset()
) -> ConversationPage:
    """Parse one page of an `msdyn_ocliveworkitems` export; the first bad row rejects the file.

    Workstreams are matched with `policy`'s by id, else by the name the row's annotation
    gives; a live-chat row whose workstream is persistent chat (configured so, or in
    `persistent_workstreams`) is persistent-chat.
    """
    context = _Context(policy or Policy(), frozenset(workstream_key(g) for g in persistent_workstreams))
    rows, top = _rows(path, data, "msdyn_ocliveworkitem rows")
    page = ConversationPage([], [], _next_link(path, top))
    first_row: dict[str, int] = {}
    for index, raw in enumerate(rows):
        where = f"row {index + 1}"
        try:
            row = _object(raw)
            where = _where(row, where)
            item = _conversation(row, context)
        except _Skipped as skipped:
            page.skipped.append(SkippedRow(_string(row, "activityid"), str(skipped)))
            continue
        except (_RowError, InvalidInput) as error:  # InvalidInput: timestamps
            raise ImportFileError(f"{path}: {where}: {error}") from None
        key = item.conversation.id
        if key in first_row:
            raise ImportFileError(f"{path}: {where}: duplicate activityid: row {first_row[key]} has it too")
        first_row[key] = index + 1
        page.incoming.append(item)
    return page


def _whole(path: Path, data: bytes, what: str) -> list[msgspec.Raw]:
    """The rows of a response that must be whole: one with a nextLink is refused (these tables are small)."""
    rows, top = _rows(path, data, what)
    if _next_link(path, top) is not None:
        raise ImportFileError(
            f"{path} is one page of a longer response (it has @odata.nextLink): fetch every page and give their "
            "'value' lists as one file"
        )
    return rows


def _next_link(path: Path, top: Mapping[str, msgspec.Raw]) -> str | None:
    raw = top.get("@odata.nextLink")
    value = None if raw is None else msgspec.json.decode(raw)
    if value is not None and not isinstance(value, str):
        raise ImportFileError(f"{path}: @odata.nextLink: expected the next page's URL, found {value!r}")
    return value or None


def _where(row: Mapping[str, msgspec.Raw], where: str) -> str:
    if _present(row, "activityid"):
        value = msgspec.json.decode(row["activityid"])
        if isinstance(value, str) and value.strip():
            return f"{where} (activityid {value})"
    return where


def _conversation(row: Mapping[str, msgspec.Raw], context: _Context) -> Incoming:
    activity = _string(row, "activityid")
    if not activity.strip():
        raise _RowError("activityid: must not be empty")
    state = _state(row)
    source = _conversation_source(row)
    ref = _workstream_ref(row, context.policy)
    channel = _channel(source, ref, context.persistent)
    _check_waiting(channel, state, ref)
    record_field = next((name for name in RECORD_LOOKUPS if _present(row, name)), None)
    record = workstream_key(_string(row, record_field)) if channel is Channel.CASE and record_field else None
    modified_field = "msdyn_modifiedon" if _present(row, "msdyn_modifiedon") else "modifiedon"
    if not _present(row, modified_field):
        raise _RowError("missing 'msdyn_modifiedon' (and 'modifiedon')")
    conversation = Conversation(
        id=activity,
        channel=channel,
        state=state,
        modified_on=_instant(row, modified_field),
        workstream=ref.stored,
        record_id=record,
        created_on=_instant(row, "createdon") if _present(row, "createdon") else None,
        network=source.network,
    )
    dropped = {WORKSTREAM} if ref.stored == ref.guid else set()
    if record is not None and record_field is not None:
        dropped.add(record_field)
    return Incoming(conversation, _kept(row, dropped))


def _state(row: Mapping[str, msgspec.Raw]) -> State:
    status = _integer(row, "statuscode")
    if status in INTERNAL_STATUSES:
        raise _Skipped("statuscode 6 (Resolved) or 7 (Scheduled): the service's internal statuses have no ocac state")
    if status not in STATUS_CODES:
        raise _Skipped(f"statuscode not a conversation status ocac knows ({_codes_help(STATUS_CODES)})")
    return STATUS_CODES[status]


def channel_codes(value: object) -> list[int]:
    """The codes of a multi-select `msdyn_channel`: a string of comma-separated codes (or one number); [] for none."""
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if not isinstance(value, str):
        raise _RowError(f'msdyn_channel: expected a string of option codes such as "192360000", found {value!r}')
    if not value.strip():
        return []
    codes = [code.strip() for code in value.split(",")]
    for code in codes:
        if not (code.isascii() and code.isdigit()):
            what = f"'{code}' is not an option code" if code else "empty code"
            raise _RowError(f'msdyn_channel: {what} in "{value}": expected codes such as "192360000,192380000"')
    return [int(code) for code in codes]


def conversation_source(codes: Sequence[int]) -> StreamSource | None:
    """The first code that names a conversation channel decides; video, co-browse and screen sharing ride along."""
    for code in codes:
        source = STREAM_SOURCES.get(code)
        if source is not None and source.channel is not None:
            return source
    return None


def _conversation_source(row: Mapping[str, msgspec.Raw]) -> StreamSource:
    codes = channel_codes(msgspec.json.decode(row["msdyn_channel"])) if _present(row, "msdyn_channel") else []
    if not codes:
        raise _Skipped("msdyn_channel is null or empty: the row names no channel")
    source = conversation_source(codes)
    if source is None:
        raise _Skipped("msdyn_channel names no conversation channel (only video, co-browse, screen sharing or codes "
                       "ocac does not know)")  # fmt: skip
    return source


def _workstream_ref(row: Mapping[str, msgspec.Raw], policy: Policy) -> _StreamRef:
    """By id if a configured workstream has it; else by the name the row's annotation gives (unless the
    workstream of that name has another id); else the GUID."""
    if not _present(row, WORKSTREAM):
        return _StreamRef(None, None, None)
    guid = workstream_key(_string(row, WORKSTREAM))
    stream = policy.workstream(guid)
    if stream is not None:
        return _StreamRef(guid, guid, stream)
    name = _annotation(row, WORKSTREAM)
    named = policy.workstreams.get(name) if name is not None else None
    if named is not None and named.id is None:
        return _StreamRef(named.name, guid, named)
    return _StreamRef(guid, guid, None)


def _channel(source: StreamSource, ref: _StreamRef, persistent: frozenset[str]) -> Channel:
    assert source.channel is not None
    if source.channel is not Channel.CHAT:
        return source.channel
    configured = ref.stream is not None and ref.stream.channel is Channel.PERSISTENT_CHAT
    given = ref.guid is not None and ref.guid in persistent
    return Channel.PERSISTENT_CHAT if configured or given else Channel.CHAT


def _check_waiting(channel: Channel, state: State, ref: _StreamRef) -> None:
    if state is not State.WAITING or can_wait(channel):
        return
    hint = ""
    if channel is Channel.CHAT:
        hint = (
            f": if workstream {ref.guid} is persistent chat, import it ('ocac workstream import --format dataverse "
            f"FILE') or pass --persistent-workstream {ref.guid}"
            if ref.guid
            else ": a live-chat row without a workstream cannot be persistent chat"
        )
    raise _RowError(
        f"statuscode: 3 (waiting), but {channel} conversations cannot wait "
        f"(only persistent-chat, sms, social and teams){hint}"
    )


def _kept(row: Mapping[str, msgspec.Raw], dropped: set[str]) -> dict[str, msgspec.Raw]:
    """The columns kept beside ocac's fields: all but the consumed ones (and their annotations), and nulls."""
    return {
        name: value
        for name, value in row.items()
        if name.partition("@")[0] not in CONSUMED_FIELDS
        and name not in dropped
        and name not in KNOWN_FIELDS
        and bytes(value) != _NULL
    }


# ---------------------------------------------------------------------------
# msdyn_occhannelstateconfiguration: the channel-state records
# ---------------------------------------------------------------------------

STATE_RECORD_ID = "msdyn_occhannelstateconfigurationid"
CHANNEL_CONFIGURATION = "_msdyn_occhannelconfigurationid_value"
EXPANDED_CHANNEL_CONFIGURATION = "msdyn_occhannelconfigurationid"
"""The lookup to the channel's record, expanded (`$expand=msdyn_occhannelconfigurationid`)."""
AUTO_CLOSE_AFTER = "msdyn_autocloseliveworkitemafter"
STATE_RECORDS = "msdyn_occhannelstateconfigurations"
API_PATH = "/api/data/v9.2/"


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


def _named(label: str, target: str) -> tuple[str, StreamSource]:
    channel, network = (NETWORKS[target], target) if target in NETWORKS else (Channel(target), None)
    return _words(label), StreamSource(label, channel, network)


NAME_TARGETS: Mapping[str, StreamSource] = (
    {_words(source.label): source for source in STREAM_SOURCES.values()}
    | dict(_named(label, target) for target, label in TARGET_LABELS.items())
    | dict(_named(label, target) for label, target in (
        ("Chat", "chat"), ("Teams", "teams"), ("Records", "case"), ("Case", "case"),
        ("Apple Messages", "apple-messages"), ("Google Business Messages", "google-business-messages"),
        ("Custom messaging", "custom-messaging"),
    ))
    | {"cobrowse": STREAM_SOURCES[192390000]}
)  # fmt: skip
"""What the channel part of a record's name names, in lower-case words (the longest match wins)."""


def target_of_name(name: str) -> StreamSource | None:
    """The channel the start of a record's name names, e.g. "Live Chat - Open" → live chat."""
    words = _words(name).split()
    for count in range(len(words), 0, -1):
        source = NAME_TARGETS.get(" ".join(words[:count]))
        if source is not None:
            return source
    return None


def _is_persistent_name(name: str | None) -> bool:
    return name is not None and _words(name).startswith("persistent chat")


def _persistent(channel: Channel | None, name: str | None) -> Channel | None:
    """A live-chat record named "Persistent Chat - …" is persistent chat's."""
    if not _is_persistent_name(name) or channel is Channel.PERSISTENT_CHAT:
        return channel
    if channel is not Channel.CHAT:
        raise _RowError(f"msdyn_name says persistent chat but its channel is {channel}: "
                        "persistent chat records belong to the live-chat channel")  # fmt: skip
    return Channel.PERSISTENT_CHAT


def _named_cell(name: str) -> tuple[Channel | None, str | None] | None:
    source = target_of_name(name)
    if source is None:
        return None
    try:
        return _persistent(source.channel, name), source.network
    except _RowError:
        return None


def record_name(channel: Channel, network: str | None, state: State) -> str:
    """ocac's `msdyn_name` for a cell, in the service's style, e.g. `Live Chat - Open`."""
    return f"{TARGET_LABELS[network or channel]} - {STATE_LABELS[state]}"


class ConfigRecord(msgspec.Struct, frozen=True):
    """One channel-state record as read: its cell, minutes and ids, or why it is skipped."""

    number: int
    name: str | None
    channel: Channel | None
    network: str | None
    state: State
    minutes: int | None
    record_id: str | None = None
    channel_configuration: str | None = None
    skipped: str | None = None
    """Why ocac has no rule for this record (waiting, closed, case, video…), or None."""
    target: str = ""
    """The channel or network as messages name it."""

    @property
    def key(self) -> str:
        """The cell, as the configuration keeps it: `chat/open`, `whatsapp/wrap-up`."""
        return f"{self.target}/{self.state}"

    @property
    def label(self) -> str:
        """`record 3 ('Voice - Active')`, as messages name it."""
        return f"record {self.number}" + (f" ('{self.name}')" if self.name else "")

    def kept(self) -> StateRecord | None:
        """What the configuration keeps of the service's record, so that export can write to it."""
        if self.record_id is None or self.skipped is not None:
            return None
        return StateRecord(self.key, self.record_id, self.channel_configuration, self.name)


def read_config_records(path: Path, data: bytes) -> list[ConfigRecord]:
    """Parse `msdyn_occhannelstateconfiguration` records; the first bad record rejects the file.

    Two records for the same cell must agree; the second is skipped.
    """
    records: list[ConfigRecord] = []
    seen: dict[str, ConfigRecord] = {}
    for index, raw in enumerate(_whole(path, data, "msdyn_occhannelstateconfiguration records")):
        where = f"record {index + 1}"
        try:
            row = _object(raw)
            name = _string(row, "msdyn_name") if _present(row, "msdyn_name") else None
            where = f"{where} ('{name}')" if name is not None else where
            record = _config_record(index + 1, name, row)
        except _RowError as error:
            raise ImportFileError(f"{path}: {where}: {error}") from None
        records.append(_once(path, record, seen))
    return records


def _once(path: Path, record: ConfigRecord, seen: dict[str, ConfigRecord]) -> ConfigRecord:
    """The record, or the record skipped because an earlier one sets its cell; disagreeing ones are refused."""
    if record.skipped is not None:
        return record
    other = seen.setdefault(record.key, record)
    if other is record:
        return record
    if other.minutes != record.minutes:
        raise ImportFileError(
            f"{path}: {record.label}: {record.target} {record.state} is {format_minutes(record.minutes)} here but "
            f"{format_minutes(other.minutes)} in {other.label}: ocac has one rule per channel or network and state; "
            "make them agree"
        )
    return msgspec.structs.replace(record, skipped=f"the same cell as {other.label}, with the same duration")


def _config_record(number: int, name: str | None, row: Mapping[str, msgspec.Raw]) -> ConfigRecord:
    channel, network, target = _config_target(row, name)
    code = _integer(row, "msdyn_ocliveworkitemstate")
    if code not in CONFIG_STATES:
        raise _RowError(f"msdyn_ocliveworkitemstate: unknown value {code}: use {_codes_help(CONFIG_STATES)}")
    state = CONFIG_STATES[code]
    if AUTO_CLOSE_AFTER not in row:
        raise _RowError(f"missing '{AUTO_CLOSE_AFTER}' (minutes, or null for never)")
    minutes = _optional_integer(row, AUTO_CLOSE_AFTER, MAX_MINUTES, "minutes, or null for never")
    record_id = _guid(row, STATE_RECORD_ID) if _present(row, STATE_RECORD_ID) else None
    skipped = f"{target} has no conversations of its own" if channel is None else rule_is_configurable(channel, state)
    return ConfigRecord(
        number, name, channel, network, state, minutes, record_id, _channel_configuration(row), skipped, target
    )


def _config_target(row: Mapping[str, msgspec.Raw], name: str | None) -> tuple[Channel | None, str | None, str]:
    """The record's channel, network and label: from its expanded channel configuration, else from its name."""
    code = _expanded_stream_source(row)
    source = STREAM_SOURCES.get(code) if code is not None else None
    if source is None and name is not None:
        source = target_of_name(name)
    if source is None:
        unknown = f"its channel code {code} is not one ocac knows, and " if code is not None else ""
        raise _RowError(
            f"cannot tell its channel: {unknown}its msdyn_name names no channel ocac knows; expand its channel "
            f"configuration ({EXPANDED_CHANNEL_CONFIGURATION} with msdyn_streamsource) or name it as the service "
            "does, e.g. 'Live Chat - Open', 'WhatsApp - Wrap-up'"
        )
    channel = _persistent(source.channel, name)
    label = source.network or (str(channel) if channel is not None else source.label.lower())
    return channel, source.network, label


def _expanded(row: Mapping[str, msgspec.Raw]) -> dict[str, Any] | None:
    if not _present(row, EXPANDED_CHANNEL_CONFIGURATION):
        return None
    value = msgspec.json.decode(row[EXPANDED_CHANNEL_CONFIGURATION])
    if not isinstance(value, dict):
        raise _RowError(f"{EXPANDED_CHANNEL_CONFIGURATION}: expected the expanded channel configuration, an object")
    return value


def _expanded_stream_source(row: Mapping[str, msgspec.Raw]) -> int | None:
    expanded = _expanded(row)
    code = None if expanded is None else expanded.get("msdyn_streamsource")
    if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
        raise _RowError(f"{EXPANDED_CHANNEL_CONFIGURATION}.msdyn_streamsource: expected a channel code, found {code!r}")
    return code


def _channel_configuration(row: Mapping[str, msgspec.Raw]) -> str | None:
    if _present(row, CHANNEL_CONFIGURATION):
        return _guid(row, CHANNEL_CONFIGURATION)
    expanded = _expanded(row) or {}
    value = expanded.get(EXPANDED_CHANNEL_CONFIGURATION)
    if isinstance(value, str) and is_guid(workstream_key(value)):
        return workstream_key(value)
    return None


class CellChange(msgspec.Struct, frozen=True):
    """One rule the import changes (a network's: its effective duration)."""

    channel: Channel
    network: str | None
    state: State
    old: int | None
    new: int | None
    record: ConfigRecord

    @property
    def name(self) -> str:
        """`whatsapp open`, `voice active`."""
        return f"{self.network or self.channel} {self.state}"

    def to_json(self) -> dict[str, object]:
        """The row `config import --json` prints."""
        return {
            "channel": str(self.channel), "network": self.network, "state": str(self.state),
            "old": format_minutes(self.old), "new": format_minutes(self.new),
            "old_minutes": self.old, "new_minutes": self.new, "record": self.record.number,
        }  # fmt: skip


class ConfigImport(msgspec.Struct):
    """The edit that makes every record's cell take the record's duration, and keeps the records' ids.

    A network's record sets the network's own rule only where it differs from its channel's,
    so that a stock configuration's records import back to no overrides. Pass it to
    `ocac.config.edit_config`; afterwards `changes` holds what it set.
    """

    records: list[ConfigRecord]
    changes: list[CellChange] = msgspec.field(default_factory=list)
    kept_ids: int = 0
    """How many records' ids the edit added or changed in the configuration."""

    @property
    def applied(self) -> list[ConfigRecord]:
        """The records that set a cell."""
        return [record for record in self.records if record.skipped is None]

    @property
    def skipped(self) -> list[ConfigRecord]:
        """The records that have no ocac rule, or repeat another's."""
        return [record for record in self.records if record.skipped is not None]

    @property
    def unchanged(self) -> int:
        """Cells the records set to what they already were."""
        return len({record.key for record in self.applied}) - len(self.changes)

    def __call__(self, document: TOMLDocument) -> None:
        self.changes.clear()
        before = policy_from_document(document.unwrap())
        for record in self.applied:
            if record.network is None:
                self._set_channel(document, before, record)
        channels = policy_from_document(document.unwrap())
        for record in self.applied:
            if record.network is not None:
                self._set_network(document, before, channels, record)
        self._keep_ids(document)

    def _set_channel(self, document: TOMLDocument, before: Policy, record: ConfigRecord) -> None:
        assert record.channel is not None
        old = before.rules[record.channel, record.state].minutes
        if old != record.minutes:
            set_rule(record.channel, record.state, record.minutes)(document)
            self.changes.append(CellChange(record.channel, None, record.state, old, record.minutes, record))

    def _set_network(self, document: TOMLDocument, before: Policy, channels: Policy, record: ConfigRecord) -> None:
        channel, network, state = record.channel, record.network, record.state
        assert channel is not None and network is not None
        override = channels.network_rules.get((network, state))
        if record.minutes == channels.rules[channel, state].minutes:
            if override is not None:
                unset_rule(channel, state, network)(document)
        elif override is None or override.minutes != record.minutes:
            set_rule(channel, state, record.minutes, network)(document)
        old_rule = before.rule(channel, state, network)
        old = old_rule.minutes if old_rule is not None else None
        if old != record.minutes:
            self.changes.append(CellChange(channel, network, state, old, record.minutes, record))

    def _keep_ids(self, document: TOMLDocument) -> None:
        self.kept_ids = 0
        current = state_records_from_document(document.unwrap())
        for record in self.applied:
            kept = record.kept()
            if kept is not None and current.get(kept.key) != kept:
                set_state_record(kept)(document)
                self.kept_ids += 1


def _export_cells() -> list[tuple[Channel, str | None, State]]:
    """Every cell that can have a rule: each channel's, each followed by its networks'."""
    cells = []
    for channel in Channel:
        for network in (None, *(n for n, owner in NETWORKS.items() if owner is channel)):
            cells += [(channel, network, s) for s in RULE_STATES if rule_is_configurable(channel, s) is None]
    return cells


def export_records(policy: Policy, kept: Mapping[str, StateRecord] | None = None) -> list[dict[str, object]]:
    """The effective rules as channel-state records, with the service's ids where the configuration keeps them.

    Every channel's cells; a network's only where it has a rule of its own or a kept record.
    Only columns the table has: a record with an id can be written back as it is.
    """
    kept = kept or {}
    state_codes = {state: code for code, state in CONFIG_STATES.items()}
    records: list[dict[str, object]] = []
    for channel, network, state in _export_cells():
        key = f"{network or channel}/{state}"
        known = kept.get(key)
        if network is not None and known is None and (network, state) not in policy.network_rules:
            continue
        rule = policy.rule(channel, state, network)
        assert rule is not None
        record: dict[str, object] = {}
        if known is not None:
            record[STATE_RECORD_ID] = known.id
            if known.channel_configuration is not None:
                record[CHANNEL_CONFIGURATION] = known.channel_configuration
        record["msdyn_name"] = _export_name(channel, network, state, known)
        record["msdyn_ocliveworkitemstate"] = state_codes[state]
        record[AUTO_CLOSE_AFTER] = rule.minutes
        records.append(record)
    return records


def _export_name(channel: Channel, network: str | None, state: State, known: StateRecord | None) -> str:
    """The service's name when it names the same cell (so the file imports back), else ocac's."""
    if known is not None and known.name is not None and _named_cell(known.name) == (channel, network):
        return known.name
    return record_name(channel, network, state)


class Patch(msgspec.Struct, frozen=True):
    """One PATCH request that writes a cell's duration to the service's record."""

    name: str
    record_id: str
    minutes: int | None

    @property
    def url(self) -> str:
        """The record's path on the service (after the organisation's URL)."""
        return f"{API_PATH}{STATE_RECORDS}({self.record_id})"

    def body(self) -> str:
        """The request's JSON body: the one column it changes."""
        return msgspec.json.encode({AUTO_CLOSE_AFTER: self.minutes}).decode()

    def to_json(self) -> dict[str, object]:
        """The request as `config export --patch --json` lists it."""
        return {
            "name": self.name, "method": "PATCH", "url": self.url, "headers": dict(PATCH_HEADERS),
            "body": {AUTO_CLOSE_AFTER: self.minutes},
        }  # fmt: skip


PATCH_HEADERS = (("Content-Type", "application/json"), ("If-Match", "*"))
"""`If-Match: *`: a PATCH to a record that does not exist fails instead of creating one."""


def patches(records: Sequence[Mapping[str, object]]) -> tuple[list[Patch], list[str]]:
    """The PATCH requests of exported records that have an id, and the names of those that have none."""
    found, missing = [], []
    for record in records:
        name, minutes, record_id = record["msdyn_name"], record[AUTO_CLOSE_AFTER], record.get(STATE_RECORD_ID)
        assert isinstance(name, str) and (minutes is None or isinstance(minutes, int))
        if isinstance(record_id, str):
            found.append(Patch(name, record_id, minutes))
        else:
            missing.append(name)
    return found, missing


def batch_body(requests: Sequence[Patch]) -> tuple[str, str]:
    """An OData `$batch` body with the requests in one change set (all or none apply), and its boundary."""
    digest = hashlib.sha256("\n".join(f"{p.record_id} {p.minutes}" for p in requests).encode()).hexdigest()[:16]
    batch, changeset = f"batch_ocac_{digest}", f"changeset_ocac_{digest}"
    lines = [f"--{batch}", f"Content-Type: multipart/mixed;boundary={changeset}", ""]
    for number, request in enumerate(requests, 1):
        lines += [
            f"--{changeset}", "Content-Type: application/http", "Content-Transfer-Encoding: binary",
            f"Content-ID: {number}", "", f"PATCH {request.url} HTTP/1.1",
            *(f"{name}: {value}" for name, value in PATCH_HEADERS), "", request.body(),
        ]  # fmt: skip
    lines += [f"--{changeset}--", "", f"--{batch}--", ""]
    return "\r\n".join(lines), batch


# ---------------------------------------------------------------------------
# msdyn_liveworkstream: workstreams
# ---------------------------------------------------------------------------

MOST_BLOCK = 43200
"""The most `msdyn_blockcapacityforwrapup` (minutes) and `…inseconds` hold, as the reference gives their range."""


class WorkstreamRecord(msgspec.Struct, frozen=True):
    """One workstream as read: its settings in minutes, what was left out and why."""

    number: int
    name: str
    id: str
    channel: Channel | None
    auto_close_after: int | None = None
    wrap_up_block: int | None = None
    skipped: str | None = None
    """Why the whole workstream is left out (a channel without conversations), or None."""
    notes: tuple[str, ...] = ()
    """Settings left out, and why."""

    @property
    def label(self) -> str:
        """`record 2 ('Contoso SMS')`."""
        return f"record {self.number} ('{self.name}')"

    def workstream(self) -> Workstream:
        """The workstream ocac configures from this record."""
        assert self.channel is not None
        return Workstream(self.name, self.channel, self.auto_close_after, self.wrap_up_block, self.id)


def read_workstreams(path: Path, data: bytes) -> list[WorkstreamRecord]:
    """Parse an `msdyn_liveworkstreams` response; the first bad record rejects the file."""
    records: list[WorkstreamRecord] = []
    names: dict[str, int] = {}
    ids: dict[str, int] = {}
    for index, raw in enumerate(_whole(path, data, "msdyn_liveworkstream records")):
        where = f"record {index + 1}"
        try:
            row = _object(raw)
            name = _string(row, "msdyn_name")
            where = f"{where} ('{name}')"
            record = _workstream_record(index + 1, name, row)
        except _RowError as error:
            raise ImportFileError(f"{path}: {where}: {error}") from None
        for seen, value, what in ((names, record.name, "msdyn_name"), (ids, record.id, "msdyn_liveworkstreamid")):
            if value in seen:
                raise ImportFileError(f"{path}: {where}: duplicate {what}: record {seen[value]} has it too")
            seen[value] = record.number
        records.append(record)
    return records


def _workstream_record(number: int, name: str, row: Mapping[str, msgspec.Raw]) -> WorkstreamRecord:
    if not name.strip():
        raise _RowError("msdyn_name: must not be empty")
    stream_id = _guid(row, "msdyn_liveworkstreamid")
    code = _integer(row, "msdyn_streamsource")
    source = STREAM_SOURCES.get(code)
    if source is None or source.channel is None:
        why = f"channel code {code} is not one ocac knows" if source is None else f"{source.label} has no conversations"
        return WorkstreamRecord(number, name, stream_id, None, skipped=f"msdyn_streamsource: {why}")
    channel = source.channel
    mode = _integer(row, "msdyn_conversationmode") if _present(row, "msdyn_conversationmode") else None
    if channel is Channel.CHAT and mode == PERSISTENT_CHAT_MODE:
        channel = Channel.PERSISTENT_CHAT
    auto_close, notes = _auto_close(row, channel)
    return WorkstreamRecord(number, name, stream_id, channel, auto_close, _wrap_up_block(row), notes=notes)


def _auto_close(row: Mapping[str, msgspec.Raw], channel: Channel) -> tuple[int | None, tuple[str, ...]]:
    """`msdyn_autocloseafterinactivity` in minutes (null or 0: none), where the channel can wait."""
    column = "msdyn_autocloseafterinactivity"
    minutes = _optional_integer(row, column, MAX_MINUTES, "minutes") or None
    problem = workstream_problem(channel, minutes)
    if problem is not None:
        return None, (f"{column} {format_minutes(minutes)}: {problem}",)
    return minutes, ()


def _wrap_up_block(row: Mapping[str, msgspec.Raw]) -> int | None:
    """The wrap-up block in minutes: from the seconds column when present (rounded up), else the minutes one."""
    seconds = _optional_integer(row, "msdyn_blockcapacityforwrapupinseconds", MOST_BLOCK, "seconds")
    if seconds is not None:
        return math.ceil(seconds / 60) or None
    return _optional_integer(row, "msdyn_blockcapacityforwrapup", MOST_BLOCK, "minutes, 30 days") or None


class WorkstreamChange(msgspec.Struct, frozen=True):
    """A workstream the import adds or changes."""

    old: Workstream | None
    new: Workstream
    record: WorkstreamRecord

    def line(self, verb: str) -> str:
        """`added: workstream 'Contoso SMS' (sms, …)` or `updated: workstream 'X': id - → …`."""
        if self.old is None:
            settings = ", ".join(f"{key} {value}" for key, value in _settings(self.new).items())
            return f"{verb}: workstream '{self.new.name}' ({settings})"
        old, new = _settings(self.old), _settings(self.new)
        changed = [f"{key} {old[key]} → {new[key]}" for key in new if old[key] != new[key]]
        return f"{verb}: workstream '{self.new.name}': {'; '.join(changed)}"

    def to_json(self) -> dict[str, object]:
        """The row `workstream import --json` prints."""
        return {"name": self.new.name, "record": self.record.number, "added": self.old is None,
                "old": _workstream_json(self.old), "new": _workstream_json(self.new)}  # fmt: skip


def _settings(stream: Workstream) -> dict[str, str]:
    block = format_minutes(stream.wrap_up_block) if stream.wrap_up_block is not None else "none"
    return {
        "channel": str(stream.channel), "auto-close after": format_minutes(stream.auto_close_after),
        "wrap-up block": block, "id": stream.id or "none",
    }  # fmt: skip


def _workstream_json(stream: Workstream | None) -> dict[str, object] | None:
    if stream is None:
        return None
    return {"channel": str(stream.channel), "id": stream.id, "auto_close_after_minutes": stream.auto_close_after,
            "wrap_up_block_minutes": stream.wrap_up_block}  # fmt: skip


class WorkstreamImport(msgspec.Struct):
    """The edit that upserts every record's workstream by name, with its id; pass it to `edit_config`."""

    path: Path
    records: list[WorkstreamRecord]
    changes: list[WorkstreamChange] = msgspec.field(default_factory=list)

    @property
    def imported(self) -> list[WorkstreamRecord]:
        """The records that configure a workstream."""
        return [record for record in self.records if record.skipped is None]

    @property
    def unchanged(self) -> int:
        """Workstreams already configured as the records say."""
        return len(self.imported) - len(self.changes)

    def __call__(self, document: TOMLDocument) -> None:
        self.changes.clear()
        current = policy_from_document(document.unwrap())
        for record in self.imported:
            self._check_id_free(current, record)
            new, old = record.workstream(), current.workstreams.get(record.name)
            if new != old:
                set_workstream(new.name, new.channel, new.auto_close_after, new.wrap_up_block, new.id)(document)
                self.changes.append(WorkstreamChange(old, new, record))

    def _check_id_free(self, current: Policy, record: WorkstreamRecord) -> None:
        for other in current.workstreams.values():
            if other.id == record.id and other.name != record.name:
                raise ImportFileError(
                    f"{self.path}: {record.label}: workstream '{other.name}' already has id {record.id}: if the "
                    f"service renamed it, remove it first ('ocac workstream remove \"{other.name}\"')"
                )


# ---------------------------------------------------------------------------
# The audit trail in the service's terms
# ---------------------------------------------------------------------------

STATUS_CHANGE_REASONS: Mapping[str, int] = {
    "AutoClosedBySystem": 192350010,
    "AutoClosedFromWaitingState": 192350009,
}
"""`msdyn_ocliveworkitem.msdyn_statuschangereason` of the service's own auto-close reasons.

`msdyn_closurereason` is a column of the session table, where these numbers mean other
things. ocac's RecordDeleted has no code: for unified routing the service deletes the
conversation together with its record, so no row would carry one.
"""

STATE_CODES: Mapping[State, int] = {State.CLOSED: 1, State.WRAP_UP: 0, State.OPEN: 0, State.ACTIVE: 0, State.WAITING: 0}
"""`statecode` of a conversation in each state: 1 Closed; wrap-up is an open conversation (status 5)."""


def history_row(record: AuditRecord) -> dict[str, object]:
    """A sweep's move as the service records it on `msdyn_ocliveworkitem`."""
    target = State(record.to_state) if record.to_state else None
    status = {state: code for code, state in STATUS_CODES.items()}.get(target) if target else None
    reason = STATUS_CHANGE_REASONS.get(record.reason or "") if target is State.CLOSED else None
    row: dict[str, object] = {
        "activityid": record.id,
        "statecode": STATE_CODES.get(target) if target else None,
        "statuscode": status,
        "msdyn_statuschangereason": reason,
    }
    if reason is not None:
        row["msdyn_statuschangereason@OData.Community.Display.V1.FormattedValue"] = record.reason
    row |= {
        "modifiedon": format_instant(record.at),
        "ocac_reason": record.reason,
        "ocac_rule": record.rule,
        "ocac_run_id": record.run_id,
    }
    return row
