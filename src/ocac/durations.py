"""The duration grammar: `20m`, `1h30m`, `90`, `PT2H`, `never`… Minutes are the unit of record."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation, localcontext

from ocac.errors import InvalidDuration

MAX_MINUTES = 2_147_483_647
NEVER_WORDS = frozenset({"none", "never", "off"})
ACCEPTED = "use minutes (90), units (20m, 15min, 2h, 1d, 1h30m, 2w), ISO 8601 (PT2H, P30D) or never/none/off"

_UNIT_SECONDS = {
    "w": 604800, "wk": 604800, "week": 604800, "weeks": 604800,
    "d": 86400, "day": 86400, "days": 86400,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
}  # fmt: skip
_NUMBER = r"\d+(?:\.\d+)?"
_PART = re.compile(rf"\s*({_NUMBER})\s*([a-z]+)\s*", re.ASCII)
_ISO = re.compile(
    rf"p(?:(?P<w>{_NUMBER})w)?(?:(?P<d>{_NUMBER})d)?"
    rf"(?:t(?:(?P<h>{_NUMBER})h)?(?:(?P<m>{_NUMBER})m)?(?:(?P<s>{_NUMBER})s)?)?",
    re.ASCII,
)
_ISO_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_seconds(text: str) -> Decimal:
    """Parse a finite duration into seconds (used for intervals such as `1s`)."""
    raw = text.strip().lower()
    if not raw:
        raise InvalidDuration(f"empty duration: {ACCEPTED}")
    if raw.startswith("-"):
        raise InvalidDuration(f"invalid duration {text!r}: durations are never negative; {ACCEPTED}")
    with localcontext(prec=len(raw) + 10):  # exact: enough digits for any number in `raw`
        if raw.isascii() and raw.isdigit():
            return Decimal(raw) * 60
        if raw.startswith("p"):
            return _parse_iso(text, raw)
        return _parse_units(text, raw)


def _parse_units(text: str, raw: str) -> Decimal:
    total = Decimal(0)
    position = 0
    while position < len(raw):
        match = _PART.match(raw, position)
        if match is None or match.group(2) not in _UNIT_SECONDS:
            raise InvalidDuration(f"invalid duration {text!r}: {ACCEPTED}")
        total += _number(text, match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    return total


def _parse_iso(text: str, raw: str) -> Decimal:
    match = _ISO.fullmatch(raw)
    if match is None or raw in ("p", "pt") or raw.endswith("t"):
        hint = " (months and years have no fixed length)" if re.search(r"\d[my]", raw) else ""
        raise InvalidDuration(f"invalid ISO 8601 duration {text!r}{hint}: {ACCEPTED}")
    return sum(
        (_number(text, value) * _ISO_SECONDS[unit] for unit, value in match.groupdict().items() if value),
        Decimal(0),
    )


def _number(text: str, digits: str) -> Decimal:
    try:
        return Decimal(digits)
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise InvalidDuration(f"invalid number in duration {text!r}: {ACCEPTED}") from None


def parse_minutes(text: str) -> int | None:
    """Parse an auto-close duration into whole minutes; `None` means never."""
    if text.strip().lower() in NEVER_WORDS:
        return None
    seconds = parse_seconds(text)
    if seconds >= (MAX_MINUTES + 1) * 60:  # checked first: divmod of a huge Decimal raises
        raise InvalidDuration(f"duration {text!r} is too long: the most is {MAX_MINUTES} minutes")
    minutes, remainder = divmod(seconds, 60)
    if remainder:
        raise InvalidDuration(f"duration {text!r} is not a whole number of minutes: {ACCEPTED}")
    return int(minutes)


def format_minutes(minutes: int | None) -> str:
    """The shortest exact spelling in days, hours and minutes (`1440` → `1d`, `90` → `1h30m`).

    `None` (no auto-close) is spelled `never`.
    """
    if minutes is None:
        return "never"
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (mins, "m")) if n) or "0m"


def format_idle(minutes: int) -> str:
    """A compact age for tables: the two largest non-zero units (`2d 3h`, `1d 40m`, `45m`)."""
    if minutes < 0:
        return f"-{format_idle(-minutes)}"
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (mins, "m")) if n]
    return " ".join(parts[:2]) or "0m"
