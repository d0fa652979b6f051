"""Instants: RFC 3339 timestamps with an offset, compared as instants and written in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from ocac.durations import parse_seconds
from ocac.errors import InvalidInput, InvalidTime

ACCEPTED = "use RFC 3339 with an offset, e.g. 2026-11-25T12:00:00Z or 2026-11-25T14:00:00+02:00"


def parse_instant(text: str, what: str = "time") -> datetime:
    """Parse an RFC 3339 timestamp; one without an offset is refused, since it is ambiguous."""
    raw = text.strip().upper()  # RFC 3339 allows a lower-case t and z
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidTime(f"invalid {what} {text!r}: {ACCEPTED}") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidTime(f"{what} {text!r} has no offset: {ACCEPTED}")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidTime(f"{what} {text!r} is outside the years 1 to 9999 in UTC") from None


def parse_when(text: str, now: datetime, what: str) -> datetime:
    """An instant for a filter: RFC 3339, a date (midnight UTC), or a duration ago (`1h`, `2d`) from `now`."""
    raw = text.strip()
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        pass
    else:
        if len(raw) == 10:
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
    if raw[:1].isdigit() and not any(c in raw for c in "-:T") or raw.upper().startswith("P"):
        try:
            seconds = parse_seconds(raw)
        except InvalidInput:
            raise InvalidTime(f"invalid {what} {text!r}: {WHEN_ACCEPTED}") from None
        try:
            return now - timedelta(seconds=float(seconds))
        except OverflowError:
            raise InvalidTime(f"{what} {text!r} reaches before the year 1") from None
    try:
        return parse_instant(raw, what)
    except InvalidTime:
        raise InvalidTime(f"invalid {what} {text!r}: {WHEN_ACCEPTED}") from None


WHEN_ACCEPTED = "use RFC 3339 (2026-11-25T12:00:00Z), a date (2026-11-25, midnight UTC) or a time ago (1h, 2d)"


def wall_clock() -> datetime:
    """This host's clock, to the second (stamps stay readable, idle times whole). For the shell only."""
    return datetime.now(UTC).replace(microsecond=0)


def format_instant(value: datetime) -> str:
    """RFC 3339 in UTC with `Z`, with fractions only when there are some.

    A stored stamp such as 0001-01-01T00:00:00+01:00 has no UTC spelling; it keeps its offset.
    """
    try:
        text = value.astimezone(UTC).isoformat()
    except OverflowError:
        return value.isoformat()
    return text.removesuffix("+00:00") + "Z"


def minutes_between(earlier: datetime, later: datetime) -> int:
    """Whole minutes from `earlier` to `later`, rounded towards minus infinity."""
    return (later - earlier) // timedelta(minutes=1)


def shift(instant: datetime, minutes: int) -> datetime | None:
    """`instant` moved by `minutes`, or `None` when that leaves the representable years."""
    try:
        return instant + timedelta(minutes=minutes)
    except OverflowError:
        return None


LATEST = datetime.max.replace(tzinfo=UTC)
EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)


def ahead(instant: datetime, minutes: int) -> datetime:
    """`instant` plus `minutes`, or the last representable instant when that is past the year 9999."""
    return shift(instant, minutes) or LATEST
