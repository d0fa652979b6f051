"""Channels, states, the conversation record and the manual state model."""

from __future__ import annotations

import difflib
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, TypeVar

import msgspec

from ocac.errors import InvalidName, Refused
from ocac.instants import format_instant


class Channel(StrEnum):
    """A contact channel; the value is the canonical spelling."""

    CHAT = "chat"
    VOICE = "voice"
    SMS = "sms"
    TEAMS = "teams"
    PERSISTENT_CHAT = "persistent-chat"
    SOCIAL = "social"
    CASE = "case"


class State(StrEnum):
    """A conversation state; `closed` is final."""

    OPEN = "open"
    ACTIVE = "active"
    WAITING = "waiting"
    WRAP_UP = "wrap-up"
    CLOSED = "closed"


class Action(StrEnum):
    """What a history record records: a sweep's move, or a change made by hand or by import."""

    SWEEP = "sweep"
    TOUCH = "touch"
    SET_STATE = "set-state"
    ADD = "add"
    IMPORT = "import"
    RECORD_DELETED = "record-deleted"
    RECORD_UNDELETED = "record-undeleted"
    CONFIG = "config"


class Reason(StrEnum):
    """Why the sweep moved a conversation, in the names admins know from the service."""

    AUTO_CLOSED_BY_SYSTEM = "AutoClosedBySystem"
    AUTO_CLOSED_FROM_WAITING = "AutoClosedFromWaitingState"
    RECORD_DELETED = "RecordDeleted"


WAITING_CHANNELS = frozenset({Channel.PERSISTENT_CHAT, Channel.SMS, Channel.SOCIAL, Channel.TEAMS})
"""Channels whose conversations can wait (and whose workstreams can auto-close them)."""

NETWORKS: dict[str, Channel] = {
    "whatsapp": Channel.SOCIAL,
    "line": Channel.SOCIAL,
    "wechat": Channel.SOCIAL,
    "facebook": Channel.SOCIAL,
    "twitter": Channel.SOCIAL,
    "apple-messages": Channel.SOCIAL,
    "google-business-messages": Channel.SOCIAL,
    "custom-messaging": Channel.SOCIAL,
    "voice-call": Channel.VOICE,
}
"""The services a channel runs on whose rules may differ from the channel's (a WhatsApp rule, say)."""

NOT_CLOSED = frozenset(s for s in State if s is not State.CLOSED)
"""Every state but closed: what listings show unless asked for closed conversations."""

RULE_STATES = (State.OPEN, State.ACTIVE, State.WRAP_UP)
"""States that the channel-state configuration has rules for."""

MANUAL_TRANSITIONS: dict[State, tuple[State, ...]] = {
    State.OPEN: (State.ACTIVE, State.CLOSED),
    State.ACTIVE: (State.WRAP_UP, State.OPEN, State.WAITING, State.CLOSED),
    State.WAITING: (State.ACTIVE, State.OPEN, State.CLOSED),
    State.WRAP_UP: (State.CLOSED,),
    State.CLOSED: (),
}
"""The conversation state model: which states a manual change may go to."""

AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class Conversation(msgspec.Struct, omit_defaults=True, gc=False):
    """The fields of a stored conversation that ocac understands."""

    id: str
    channel: Channel
    state: State
    modified_on: AwareDatetime
    workstream: str | None = None
    record_id: str | None = None
    created_on: AwareDatetime | None = None
    network: str | None = None
    """The service a messaging conversation runs on (`whatsapp`, `facebook`…), where rules may differ."""


KNOWN_FIELDS = Conversation.__struct_fields__

_E = TypeVar("_E", Channel, State)


def _normalise(text: str) -> str:
    return "-".join(text.strip().lower().replace("_", " ").replace("-", " ").split())


def _parse_name(text: str, kind: type[_E], what: str) -> _E:
    key = _normalise(text)
    for member in kind:
        if member.value == key or _normalise(member.value).replace("-", "") == key.replace("-", ""):
            return member
    choices = [m.value for m in kind]
    close = difflib.get_close_matches(key, choices, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise InvalidName(f"unknown {what} {text!r}: {hint}use one of {', '.join(choices)}")


def parse_channel(text: str) -> Channel:
    """Parse a channel name, forgiving case and `_`, `-` or space separators."""
    return _parse_name(text, Channel, "channel")


def parse_target(text: str) -> tuple[Channel, str | None]:
    """A channel, or a network and the channel it belongs to (`whatsapp` → social, whatsapp)."""
    key = _normalise(text)
    for network, channel in NETWORKS.items():
        if key == network or key.replace("-", "") == network.replace("-", ""):
            return channel, network
    try:
        return parse_channel(text), None
    except InvalidName:
        choices = [c.value for c in Channel] + list(NETWORKS)
        close = difflib.get_close_matches(key, choices, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise InvalidName(f"unknown channel {text!r}: {hint}use one of {', '.join(choices)}") from None


_GUID = re.compile(r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$")


def workstream_key(value: str) -> str:
    """A workstream reference as stored and compared: a GUID in lower case without braces, a name as it is."""
    match = _GUID.match(value.strip())
    return match.group(1).lower() if match else value


def parse_state(text: str) -> State:
    """Parse a state name, forgiving case and `_`, `-` or space separators."""
    return _parse_name(text, State, "state")


def can_wait(channel: Channel) -> bool:
    """Whether conversations on `channel` can be in the waiting state."""
    return channel in WAITING_CHANNELS


def waiting_problem(channel: Channel, state: State) -> str | None:
    """Why a `channel` conversation cannot be in `state`, or None: the one rule about waiting."""
    if state is State.WAITING and not can_wait(channel):
        allowed = ", ".join(sorted(WAITING_CHANNELS))
        return f"{channel} conversations cannot be waiting (only {allowed} can)"
    return None


def touched(conversation: Conversation, now: datetime, *, force: bool = False) -> Conversation:
    """The conversation after an activity (monitor, consult, transfer, message) at `now`."""
    if conversation.state is State.CLOSED:
        raise Refused(f"conversation '{conversation.id}' is closed: closed is final")
    _check_forward(conversation, now, force)
    return msgspec.structs.replace(conversation, modified_on=now)


def _check_forward(conversation: Conversation, now: datetime, force: bool) -> None:
    """A change stamped before the conversation's last change turns its clock back: only on purpose."""
    if now < conversation.modified_on and not force:
        raise Refused(
            f"--now {format_instant(now)} is before conversation '{conversation.id}' last changed "
            f"({format_instant(conversation.modified_on)}): the clock would run backwards; add --force to do it anyway"
        )


def moved(conversation: Conversation, target: State, now: datetime, *, force: bool = False) -> Conversation:
    """The conversation after a manual change to `target` at `now`, as the state model allows."""
    _check_forward(conversation, now, force)
    allowed = MANUAL_TRANSITIONS[conversation.state]
    if target not in allowed:
        names = ", ".join(allowed) or "none: closed is final"
        raise Refused(f"cannot move '{conversation.id}' from {conversation.state} to {target}: allowed: {names}")
    problem = waiting_problem(conversation.channel, target)
    if problem:
        raise Refused(problem)
    return msgspec.structs.replace(conversation, state=target, modified_on=now)
