"""Dataverse interchange: Omnichannel's conversation table and its channel-state configuration.

Conversations come from a Web API export of `msdyn_ocliveworkitem` (`{"value": [rows]}`):

- `activityid` is the id, `statuscode` the state (1 open, 2 active, 3 waiting, 4 closed,
  5 wrap-up), `msdyn_modifiedon` (or, when absent, `modifiedon`) the modified time,
  `createdon` the created time and `_msdyn_liveworkstreamid_value` the workstream (its GUID).
- `msdyn_channel` is a multi-select option set, a string of comma-separated codes; all the
  codes of a row must name one channel (`CHANNEL_CODES`). Dataverse has no code for
  persistent chat: a live-chat row whose workstream is one of the persistent workstreams
  given to `read_conversations` is persistent-chat.
- Every other field (`msdyn_title`, `statecode`, OData annotations…) and `msdyn_channel`
  itself (which says which social network a social conversation is on) are kept as they
  are in the store; fields whose value is null are dropped (the TOML store cannot hold null).

The configuration goes out and comes back as `msdyn_occhannelstateconfiguration` records:
`msdyn_channel` (one code per channel, `EXPORT_CODES`), `msdyn_ocliveworkitemstate`
(0 open, 1 active, 2 waiting, 3 closed, 4 wrap-up), `msdyn_autocloseliveworkitemafter`
(minutes; null is never) and `msdyn_name` ("Voice - Active"). Persistent chat is exported
with the live-chat code and told apart by its name, "Persistent chat - …".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from ocac.audit import AuditRecord
from ocac.durations import MAX_MINUTES, format_minutes
from ocac.errors import ImportFileError, InvalidInput
from ocac.instants import format_instant, parse_instant
from ocac.interchange import json_list
from ocac.model import KNOWN_FIELDS, RULE_STATES, Channel, Conversation, State, can_wait
from ocac.policy import Policy, rule_is_configurable
from ocac.store.base import Incoming

if TYPE_CHECKING:
    from tomlkit import TOMLDocument

CHANNEL_CODES: Mapping[str, Channel] = {
    "192360000": Channel.CHAT,  # live chat
    "192370000": Channel.VOICE,  # voice call
    "192440000": Channel.VOICE,  # voice
    "192340000": Channel.SMS,
    "19241000": Channel.TEAMS,  # Microsoft Teams
    "192350000": Channel.CASE,  # entity records
    "192300000": Channel.SOCIAL,  # WhatsApp
    "192310000": Channel.SOCIAL,  # LINE
    "192320000": Channel.SOCIAL,  # WeChat
    "192330000": Channel.SOCIAL,  # Facebook
    "192350001": Channel.SOCIAL,  # Twitter
    "192450000": Channel.SOCIAL,  # Apple Messages for Business
    "192450001": Channel.SOCIAL,  # Google's Business Messages
}
"""Omnichannel's `msdyn_channel` option codes and the ocac channel each one is."""

EXPORT_CODES: Mapping[Channel, str] = {
    Channel.CHAT: "192360000",
    Channel.VOICE: "192370000",
    Channel.SMS: "192340000",
    Channel.TEAMS: "19241000",
    Channel.PERSISTENT_CHAT: "192360000",  # no code of its own: the record's name tells
    Channel.SOCIAL: "192330000",  # Facebook stands for every social channel
    Channel.CASE: "192350000",
}
"""The code an exported record carries for each channel."""

CHANNEL_LABELS: Mapping[Channel, str] = {
    Channel.CHAT: "Live chat",
    Channel.VOICE: "Voice",
    Channel.SMS: "SMS",
    Channel.TEAMS: "Teams",
    Channel.PERSISTENT_CHAT: "Persistent chat",
    Channel.SOCIAL: "Social",
    Channel.CASE: "Case",
}
"""The channel part of an exported record's `msdyn_name`."""

PERSISTENT_PREFIX = "persistent chat"
"""A configuration record whose name starts with this (any case) is persistent chat."""

STATUS_CODES: Mapping[int, State] = {
    1: State.OPEN, 2: State.ACTIVE, 3: State.WAITING, 4: State.CLOSED, 5: State.WRAP_UP,
}  # fmt: skip
"""`msdyn_ocliveworkitem.statuscode`."""

CONFIG_STATES: Mapping[int, State] = {
    0: State.OPEN, 1: State.ACTIVE, 2: State.WAITING, 3: State.CLOSED, 4: State.WRAP_UP,
}  # fmt: skip
"""`msdyn_occhannelstateconfiguration.msdyn_ocliveworkitemstate`."""

STATE_LABELS: Mapping[State, str] = {
    State.OPEN: "Open", State.ACTIVE: "Active", State.WAITING: "Waiting",
    State.CLOSED: "Closed", State.WRAP_UP: "Wrap-up",
}  # fmt: skip

REGARDING = "_regardingobjectid_value"
"""The record a case (entity records) conversation is about: ocac's `record_id`."""

CONSUMED_FIELDS = frozenset(
    {"activityid", "statuscode", "msdyn_modifiedon", "modifiedon", "createdon", "_msdyn_liveworkstreamid_value"}
)
"""Row fields that become ocac's fields and are not kept beside them."""

_NULL = b"null"


class _RowError(Exception):
    """A problem in one row or record; the caller adds the file and the row."""


def _codes_help(codes: Mapping[int, State]) -> str:
    return ", ".join(f"{code} ({state})" for code, state in codes.items())


def _decode(raw: msgspec.Raw) -> Any:
    return msgspec.json.decode(raw)


def _rows(path: Path, data: bytes, what: str) -> list[msgspec.Raw]:
    """The rows of a Web API document (`{"value": [...]}`) or of a bare JSON list."""
    rows, _ = json_list(
        path, data, key="value", item_type=msgspec.Raw, what=what,
        shape=f"a Web API export, an object with 'value' (a list of {what}), or a bare list",
    )  # fmt: skip
    return rows


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
    return _decode(row[name])


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


def _channel(row: Mapping[str, msgspec.Raw]) -> Channel:
    """`msdyn_channel`: codes (a string, comma-separated, or a number) that name one channel."""
    name = "msdyn_channel"
    value = _required(row, name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _RowError(f'{name}: expected a string of option codes such as "192360000", found {_show(row[name])}')
    codes = [code.strip() for code in value.split(",")]
    channels: dict[Channel, None] = {}
    for code in codes:
        if code not in CHANNEL_CODES:
            what = f"unknown channel code '{code}'" if code else f"empty code in '{value}'"
            raise _RowError(f"{name}: {what}: known codes are {', '.join(CHANNEL_CODES)}")
        channels[CHANNEL_CODES[code]] = None
    if len(channels) > 1:
        names = ", ".join(channels)
        raise _RowError(f"{name}: codes '{value}' are different channels ({names}): a conversation has one channel")
    return next(iter(channels))


def _instant(row: Mapping[str, msgspec.Raw], name: str) -> datetime:
    return parse_instant(_string(row, name), name)


def guid_key(value: str) -> str:
    """A GUID as compared: lower case, without braces or surrounding space."""
    return value.strip().strip("{}").strip().lower()


def read_conversations(path: Path, data: bytes, persistent_workstreams: set[str]) -> list[Incoming]:
    """Parse a Web API export of `msdyn_ocliveworkitem`; the first bad row rejects the file.

    Live-chat rows whose workstream GUID is in `persistent_workstreams` are persistent-chat.
    """
    persistent = {guid_key(guid) for guid in persistent_workstreams}
    incoming: list[Incoming] = []
    first_row: dict[str, int] = {}
    for index, raw in enumerate(_rows(path, data, "msdyn_ocliveworkitem rows")):
        where = f"row {index + 1}"
        try:
            row = _object(raw)
            where = _where(row, where)
            item = _conversation(row, persistent)
        except _RowError as error:
            raise ImportFileError(f"{path}: {where}: {error}") from None
        except InvalidInput as error:  # timestamps
            raise ImportFileError(f"{path}: {where}: {error}") from None
        key = item.conversation.id
        if key in first_row:
            raise ImportFileError(f"{path}: {where}: duplicate activityid: row {first_row[key]} has it too")
        first_row[key] = index + 1
        incoming.append(item)
    return incoming


def _where(row: Mapping[str, msgspec.Raw], where: str) -> str:
    if _present(row, "activityid"):
        value = _decode(row["activityid"])
        if isinstance(value, str) and value.strip():
            return f"{where} (activityid {value})"
    return where


def _conversation(row: Mapping[str, msgspec.Raw], persistent: set[str]) -> Incoming:
    activity = _string(row, "activityid")
    if not activity.strip():
        raise _RowError("activityid: must not be empty")
    status = _integer(row, "statuscode")
    if status not in STATUS_CODES:
        raise _RowError(f"statuscode: unknown value {status}: use {_codes_help(STATUS_CODES)}")
    state = STATUS_CODES[status]
    channel = _channel(row)
    workstream = (
        _string(row, "_msdyn_liveworkstreamid_value") if _present(row, "_msdyn_liveworkstreamid_value") else None
    )
    if channel is Channel.CHAT and workstream is not None and guid_key(workstream) in persistent:
        channel = Channel.PERSISTENT_CHAT
    if state is State.WAITING and not can_wait(channel):
        hint = ""
        if channel is Channel.CHAT:
            hint = (
                f": if workstream {workstream} is persistent chat, pass --persistent-workstream {workstream}"
                if workstream
                else ": a live-chat row without a workstream cannot be persistent chat"
            )
        raise _RowError(
            f"statuscode: 3 (waiting), but {channel} conversations cannot wait "
            f"(only persistent-chat, sms, social and teams){hint}"
        )
    modified_field = "msdyn_modifiedon" if _present(row, "msdyn_modifiedon") else "modifiedon"
    if not _present(row, modified_field):
        raise _RowError("missing 'msdyn_modifiedon' (and 'modifiedon')")
    record = _string(row, REGARDING) if channel is Channel.CASE and _present(row, REGARDING) else None
    conversation = Conversation(
        id=activity,
        channel=channel,
        state=state,
        modified_on=_instant(row, modified_field),
        workstream=workstream,
        record_id=record,
        created_on=_instant(row, "createdon") if _present(row, "createdon") else None,
    )
    extra = {
        name: value
        for name, value in row.items()
        if name not in CONSUMED_FIELDS and name not in KNOWN_FIELDS and bytes(value) != _NULL
    }
    return Incoming(conversation, extra)


# ---------------------------------------------------------------------------
# msdyn_occhannelstateconfiguration
# ---------------------------------------------------------------------------


def record_name(channel: Channel, state: State) -> str:
    """An exported record's `msdyn_name`, e.g. `Voice - Active`."""
    return f"{CHANNEL_LABELS[channel]} - {STATE_LABELS[state]}"


def export_records(policy: Policy) -> list[dict[str, object]]:
    """The effective channel × (open, active, wrap-up) matrix as configuration records."""
    state_codes = {state: code for code, state in CONFIG_STATES.items()}
    records: list[dict[str, object]] = []
    for channel in Channel:
        for state in RULE_STATES:
            records.append({
                "msdyn_name": record_name(channel, state),
                "msdyn_channel": EXPORT_CODES[channel],
                "msdyn_ocliveworkitemstate": state_codes[state],
                "msdyn_autocloseliveworkitemafter": policy.rules[channel, state].minutes,
            })  # fmt: skip
    return records


@dataclass(frozen=True)
class ConfigRecord:
    """One configuration record as read: its cell and minutes, or why it is skipped."""

    number: int
    name: str | None
    channel: Channel
    state: State
    minutes: int | None
    skipped: str | None
    """Why ocac has no rule for this cell (waiting, closed, case), or None."""

    @property
    def label(self) -> str:
        """`record 3 ('Voice - Active')`, as messages name it."""
        return f"record {self.number}" + (f" ('{self.name}')" if self.name else "")


def read_config_records(path: Path, data: bytes) -> list[ConfigRecord]:
    """Parse `msdyn_occhannelstateconfiguration` records; the first bad record rejects the file.

    Two records for the same ocac cell (two social networks, say) must agree.
    """
    records: list[ConfigRecord] = []
    seen: dict[tuple[Channel, State], ConfigRecord] = {}
    for index, raw in enumerate(_rows(path, data, "msdyn_occhannelstateconfiguration records")):
        where = f"record {index + 1}"
        try:
            row = _object(raw)
            name = _string(row, "msdyn_name") if _present(row, "msdyn_name") else None
            if name is not None:
                where = f"{where} ('{name}')"
            record = _config_record(index + 1, name, row)
        except _RowError as error:
            raise ImportFileError(f"{path}: {where}: {error}") from None
        cell = (record.channel, record.state)
        other = seen.get(cell)
        if record.skipped is None and other is not None and other.minutes != record.minutes:
            raise ImportFileError(
                f"{path}: {record.label}: {record.channel} {record.state} is "
                f"{format_minutes(record.minutes)} here but {format_minutes(other.minutes)} in "
                f"{other.label}: ocac has one rule per channel and state; make them agree"
            )
        seen.setdefault(cell, record)
        records.append(record)
    return records


def _config_record(number: int, name: str | None, row: Mapping[str, msgspec.Raw]) -> ConfigRecord:
    channel = _channel(row)
    if name is not None and name.strip().lower().startswith(PERSISTENT_PREFIX):
        if channel is not Channel.CHAT:
            raise _RowError(
                f"msdyn_name says persistent chat but msdyn_channel is {channel}: "
                f"persistent chat records carry the live-chat code {EXPORT_CODES[Channel.CHAT]}"
            )
        channel = Channel.PERSISTENT_CHAT
    code = _integer(row, "msdyn_ocliveworkitemstate")
    if code not in CONFIG_STATES:
        raise _RowError(f"msdyn_ocliveworkitemstate: unknown value {code}: use {_codes_help(CONFIG_STATES)}")
    state = CONFIG_STATES[code]
    after = "msdyn_autocloseliveworkitemafter"
    if after not in row:
        raise _RowError(f"missing '{after}' (minutes, or null for never)")
    minutes = None if bytes(row[after]) == _NULL else _integer(row, after)
    if minutes is not None and not 0 <= minutes <= MAX_MINUTES:
        raise _RowError(f"{after}: {minutes} minutes is out of range (0 to {MAX_MINUTES}, or null for never)")
    return ConfigRecord(number, name, channel, state, minutes, rule_is_configurable(channel, state))


@dataclass(frozen=True)
class CellChange:
    """One rule the import changes."""

    channel: Channel
    state: State
    old: int | None
    new: int | None
    record: ConfigRecord

    def to_json(self) -> dict[str, object]:
        """The row `config import --json` prints."""
        return {
            "channel": str(self.channel), "state": str(self.state),
            "old": format_minutes(self.old), "new": format_minutes(self.new),
            "old_minutes": self.old, "new_minutes": self.new, "record": self.record.number,
        }  # fmt: skip


@dataclass
class ConfigImport:
    """The edit that sets every record's cell whose minutes differ from the effective ones.

    Pass it to `ocac.config.edit_config`; afterwards `changes` holds what it set. It compares
    with the document it is given, under the configuration's lock.
    """

    records: list[ConfigRecord]
    changes: list[CellChange] = field(default_factory=list)

    def __call__(self, document: TOMLDocument) -> None:
        from ocac.config import policy_from_document, set_rule

        self.changes.clear()
        current = policy_from_document(document.unwrap())
        done: set[tuple[Channel, State]] = set()
        for record in self.records:
            cell = (record.channel, record.state)
            if record.skipped is not None or cell in done:
                continue
            done.add(cell)
            old = current.rules[cell].minutes
            if old != record.minutes:
                set_rule(record.channel, record.state, record.minutes)(document)
                self.changes.append(CellChange(record.channel, record.state, old, record.minutes, record))

    @property
    def skipped(self) -> list[ConfigRecord]:
        """The records that have no ocac rule."""
        return [record for record in self.records if record.skipped is not None]


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
