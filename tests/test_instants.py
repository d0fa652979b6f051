"""Instants: RFC 3339 with a required offset, compared as instants, written in UTC with Z."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocac.errors import InvalidTime
from ocac.instants import ACCEPTED, format_instant, minutes_between, parse_instant, shift

NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-25T12:00:00Z",
        "2026-11-25T12:00:00z",
        "2026-11-25t12:00:00z",
        "2026-11-25T12:00:00+00:00",
        "2026-11-25T14:00:00+02:00",
        "2026-11-25T07:00:00-05:00",
        "2026-11-25 12:00:00Z",
        " 2026-11-25T12:00Z ",
        "2026-11-26T00:30:00+12:30",
    ],
)
def test_offsets_compare_as_instants(text: str) -> None:
    value = parse_instant(text)
    assert value == NOON
    assert value.utcoffset() == timedelta(0)


def test_order_is_by_instant_not_by_wall_clock() -> None:
    later_wall_clock = parse_instant("2026-11-25T13:59:59+02:00")
    assert later_wall_clock < parse_instant("2026-11-25T12:00:00Z")
    assert parse_instant("2026-11-25T12:00:00.5Z") - parse_instant("2026-11-25T14:00:00+02:00") == timedelta(
        milliseconds=500
    )


@pytest.mark.parametrize("text", ["2026-11-25T12:00:00", "2026-11-25", "2026-11-25T12:00"])
def test_an_offset_is_required(text: str) -> None:
    with pytest.raises(InvalidTime) as caught:
        parse_instant(text, "--now")
    assert str(caught.value) == f"--now '{text}' has no offset: {ACCEPTED}"


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-25T25:00:00Z", "1700000000"])
def test_garbage_is_refused_with_what_is_accepted(text: str) -> None:
    with pytest.raises(InvalidTime) as caught:
        parse_instant(text)
    assert str(caught.value) == f"invalid time '{text}': {ACCEPTED}"


@pytest.mark.parametrize("text", ["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00"])
def test_instants_outside_utc_years_are_refused(text: str) -> None:
    with pytest.raises(InvalidTime, match="is outside the years 1 to 9999 in UTC$"):
        parse_instant(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (NOON, "2026-11-25T12:00:00Z"),
        (datetime(2026, 11, 25, 14, tzinfo=timezone(timedelta(hours=2))), "2026-11-25T12:00:00Z"),
        (datetime(2026, 11, 25, 23, 30, tzinfo=timezone(timedelta(hours=-5))), "2026-11-26T04:30:00Z"),
        (NOON.replace(microsecond=250000), "2026-11-25T12:00:00.250000Z"),
    ],
)
def test_format_is_utc_with_z(value: datetime, text: str) -> None:
    assert format_instant(value) == text


_OFFSETS = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
_INSTANTS = st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=_OFFSETS)


@given(_INSTANTS)
def test_format_and_parse_round_trip(value: datetime) -> None:
    text = format_instant(value)
    assert text.endswith("Z") and "+" not in text
    assert parse_instant(text) == value
    assert parse_instant(value.isoformat()) == value


@given(st.text(max_size=40))
def test_arbitrary_text_raises_only_invalid_time(text: str) -> None:
    try:
        value = parse_instant(text)
    except InvalidTime as error:
        assert "\n" not in str(error)
    else:
        assert value.tzinfo is UTC


def test_minutes_between_rounds_towards_minus_infinity() -> None:
    assert minutes_between(NOON, NOON + timedelta(seconds=59)) == 0
    assert minutes_between(NOON, NOON + timedelta(minutes=20)) == 20
    assert minutes_between(NOON, NOON - timedelta(seconds=1)) == -1
    other_zone = datetime(2026, 11, 25, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    assert minutes_between(NOON, other_zone) == 30


def test_shift_returns_none_outside_the_representable_years() -> None:
    assert shift(NOON, 90) == NOON + timedelta(minutes=90)
    assert shift(datetime(8000, 1, 1, tzinfo=UTC), 2_147_483_647) is None
    assert shift(datetime(1, 1, 1, tzinfo=UTC), -1) is None
