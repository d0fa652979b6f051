"""Channel and state names, the conversation record and the manual state model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocac.errors import InvalidName
from ocac.model import (
    MANUAL_TRANSITIONS,
    RULE_STATES,
    WAITING_CHANNELS,
    Channel,
    Conversation,
    State,
    can_wait,
    parse_channel,
    parse_state,
)

CHANNELS = "chat, voice, sms, teams, persistent-chat, social, case"
STATES = "open, active, waiting, wrap-up, closed"


@pytest.mark.parametrize(
    ("text", "channel"),
    [
        ("chat", Channel.CHAT),
        ("CHAT", Channel.CHAT),
        (" Voice ", Channel.VOICE),
        ("SMS", Channel.SMS),
        ("Teams", Channel.TEAMS),
        ("social", Channel.SOCIAL),
        ("case", Channel.CASE),
        ("persistent-chat", Channel.PERSISTENT_CHAT),
        ("persistent_chat", Channel.PERSISTENT_CHAT),
        ("Persistent Chat", Channel.PERSISTENT_CHAT),
        ("PERSISTENT-CHAT", Channel.PERSISTENT_CHAT),
        ("persistent__chat", Channel.PERSISTENT_CHAT),
        ("persistentchat", Channel.PERSISTENT_CHAT),
    ],
)
def test_parse_channel_forgives_case_and_separators(text: str, channel: Channel) -> None:
    assert parse_channel(text) is channel


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("open", State.OPEN),
        ("Active", State.ACTIVE),
        ("WAITING", State.WAITING),
        ("Wrap-up", State.WRAP_UP),
        ("wrap_up", State.WRAP_UP),
        ("WRAP UP", State.WRAP_UP),
        ("wrap-up", State.WRAP_UP),
        ("wrapup", State.WRAP_UP),
        (" closed ", State.CLOSED),
    ],
)
def test_parse_state_forgives_case_and_separators(text: str, state: State) -> None:
    assert parse_state(text) is state


@pytest.mark.parametrize("channel", list(Channel))
def test_every_channel_parses_in_every_spelling(channel: Channel) -> None:
    for text in (
        channel.value,
        channel.value.upper(),
        channel.value.replace("-", "_"),
        channel.value.replace("-", " "),
    ):
        assert parse_channel(text) is channel


@pytest.mark.parametrize("state", list(State))
def test_every_state_parses_in_every_spelling(state: State) -> None:
    for text in (state.value, state.value.upper(), state.value.replace("-", "_"), state.value.replace("-", " ")):
        assert parse_state(text) is state


def test_unknown_names_suggest_and_list_the_valid_ones() -> None:
    with pytest.raises(InvalidName) as caught:
        parse_channel("voic")
    assert str(caught.value) == f"unknown channel 'voic': did you mean 'voice'? use one of {CHANNELS}"
    with pytest.raises(InvalidName) as caught:
        parse_state("wating")
    assert str(caught.value) == f"unknown state 'wating': did you mean 'waiting'? use one of {STATES}"
    with pytest.raises(InvalidName) as caught:
        parse_state("Wrap_Upp")
    assert str(caught.value) == f"unknown state 'Wrap_Upp': did you mean 'wrap-up'? use one of {STATES}"


def test_unknown_names_without_a_close_match_just_list_the_valid_ones() -> None:
    with pytest.raises(InvalidName) as caught:
        parse_channel("email")
    assert str(caught.value) == f"unknown channel 'email': use one of {CHANNELS}"
    with pytest.raises(InvalidName) as caught:
        parse_state("")
    assert str(caught.value) == f"unknown state '': use one of {STATES}"


def test_a_name_with_a_newline_is_echoed_on_one_line() -> None:
    with pytest.raises(InvalidName) as caught:
        parse_channel("chat\nvoice")
    assert "\n" not in str(caught.value)


@given(st.text())
def test_arbitrary_text_raises_only_invalid_name(text: str) -> None:
    for parse, kind in ((parse_channel, Channel), (parse_state, State)):
        try:
            result = parse(text)
        except InvalidName as error:
            assert "\n" not in str(error)
            assert str(error).endswith(", ".join(m.value for m in kind))
        else:
            assert result in list(kind)


@given(st.sampled_from(list(State)), st.lists(st.sampled_from(["-", "_", " "]), min_size=1, max_size=3))
def test_separators_are_interchangeable(state: State, separators: list[str]) -> None:
    for separator in separators:
        assert parse_state(f"  {state.value.replace('-', separator).title()} ") is state


def test_waiting_channels_and_rule_states() -> None:
    assert {Channel.PERSISTENT_CHAT, Channel.SMS, Channel.SOCIAL, Channel.TEAMS} == WAITING_CHANNELS
    assert [c for c in Channel if can_wait(c)] == [Channel.SMS, Channel.TEAMS, Channel.PERSISTENT_CHAT, Channel.SOCIAL]
    assert (State.OPEN, State.ACTIVE, State.WRAP_UP) == RULE_STATES


def test_manual_transitions() -> None:
    assert set(MANUAL_TRANSITIONS) == set(State)
    assert MANUAL_TRANSITIONS[State.CLOSED] == ()
    assert MANUAL_TRANSITIONS[State.WRAP_UP] == (State.CLOSED,)
    assert State.WRAP_UP not in MANUAL_TRANSITIONS[State.OPEN]
    assert State.WAITING in MANUAL_TRANSITIONS[State.ACTIVE]
    for state, targets in MANUAL_TRANSITIONS.items():
        assert state not in targets
        assert state is State.CLOSED or State.CLOSED in targets


def test_conversation_decodes_with_offsets_and_omits_defaults() -> None:
    raw = b'{"id": "c1", "channel": "sms", "state": "wrap-up", "modified_on": "2026-11-25T14:00:00.5+02:00"}'
    conversation = msgspec.json.decode(raw, type=Conversation)
    assert conversation.modified_on == datetime(2026, 11, 25, 12, 0, 0, 500000, tzinfo=UTC)
    assert conversation.modified_on.utcoffset() == timedelta(hours=2)
    assert conversation.state is State.WRAP_UP and conversation.channel is Channel.SMS
    assert msgspec.json.decode(msgspec.json.encode(conversation), type=Conversation) == conversation
    assert set(msgspec.to_builtins(conversation)) == {"id", "channel", "state", "modified_on"}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"id": "c1", "channel": "sms", "state": "open", "modified_on": "2026-11-25T12:00:00"}',
        b'{"id": "c1", "channel": "email", "state": "open", "modified_on": "2026-11-25T12:00:00Z"}',
        b'{"id": "c1", "channel": "sms", "state": "wrap_up", "modified_on": "2026-11-25T12:00:00Z"}',
        b'{"id": "c1", "channel": "sms", "state": "open"}',
    ],
)
def test_conversation_refuses_naive_times_and_unknown_names(raw: bytes) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(raw, type=Conversation)


def test_conversation_accepts_any_offset() -> None:
    when = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-5)))
    conversation = Conversation("c", Channel.CHAT, State.OPEN, when)
    assert conversation.modified_on == datetime(2026, 1, 1, 5, tzinfo=UTC)
