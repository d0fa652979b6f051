"""The duration grammar: what parses to how many minutes, what is refused and how it is spelled."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ocac.durations import (
    ACCEPTED,
    MAX_MINUTES,
    format_idle,
    format_minutes,
    parse_minutes,
    parse_seconds,
)
from ocac.errors import InvalidDuration, InvalidInput


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("20m", 20),
        ("15min", 15),
        ("2h", 120),
        ("1d", 1440),
        ("30d", 43200),
        ("1h30m", 90),
        ("1h 30m", 90),
        (" 1 h 30 m ", 90),
        ("90", 90),
        ("0", 0),
        ("0m", 0),
        ("2w", 20160),
        ("1.5h", 90),
        ("120s", 2),
        ("2 hours", 120),
        ("1 day", 1440),
        ("2H", 120),
        ("PT2H", 120),
        ("pt2h", 120),
        ("P30D", 43200),
        ("P1DT2H30M", 1590),
        ("P1W", 10080),
        ("PT90M", 90),
        ("PT0S", 0),
        ("PT1.5H", 90),
        (str(MAX_MINUTES), MAX_MINUTES),
        (f"{MAX_MINUTES}m", MAX_MINUTES),
        (format_minutes(MAX_MINUTES), MAX_MINUTES),
    ],
)
def test_accepted_spellings(text: str, minutes: int) -> None:
    assert parse_minutes(text) == minutes


@pytest.mark.parametrize("text", ["none", "never", "off", "NEVER", " Off ", "None"])
def test_never_words_mean_no_auto_close(text: str) -> None:
    assert parse_minutes(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "-5",
        "-5m",
        "2x",
        "",
        "   ",
        "h",
        "1h30",
        "m20",
        "1e3m",
        "1,5h",
        "30s",
        "0.5m",
        "1m30s",
        "P1M",
        "P1Y",
        "P",
        "PT",
        "P1DT",
        "P1H",
        "PT1D",
        "never-ever",
        "²",  # a digit for str.isdigit, not for Decimal
        "٣",  # an Arabic-Indic digit: only ASCII digits are accepted
        "٣m",
        "60.0000000000000000000000000000000001s",  # more digits than Decimal's default precision
    ],
)
def test_refused_spellings_say_what_is_accepted(text: str) -> None:
    with pytest.raises(InvalidDuration) as caught:
        parse_minutes(text)
    assert str(caught.value).endswith(ACCEPTED)
    assert "\n" not in str(caught.value)


def test_refusals_name_the_problem() -> None:
    with pytest.raises(InvalidDuration, match=r"^invalid duration '2x': use minutes"):
        parse_minutes("2x")
    with pytest.raises(InvalidDuration, match=r"^empty duration: "):
        parse_minutes("")
    with pytest.raises(InvalidDuration, match=r"^duration '30s' is not a whole number of minutes: "):
        parse_minutes("30s")
    with pytest.raises(InvalidDuration, match=r"\(months and years have no fixed length\)"):
        parse_minutes("P1M")


@pytest.mark.parametrize(
    "text",
    [str(MAX_MINUTES + 1), f"{MAX_MINUTES + 1}m", "4000000w", "9" * 40, "9" * 40 + "w", "P" + "9" * 40 + "D"],
)
def test_overflow_is_refused_with_the_bound(text: str) -> None:
    with pytest.raises(InvalidDuration) as caught:
        parse_minutes(text)
    assert str(caught.value) == f"duration '{text}' is too long: the most is {MAX_MINUTES} minutes"


def test_invalid_duration_is_bad_input() -> None:
    assert issubclass(InvalidDuration, InvalidInput)
    assert InvalidDuration.exit_code == 2


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (None, "never"),
        (0, "0m"),
        (1, "1m"),
        (59, "59m"),
        (60, "1h"),
        (90, "1h30m"),
        (1440, "1d"),
        (1441, "1d1m"),
        (1500, "1d1h"),
        (43200, "30d"),
        (2 * 1440 + 61, "2d1h1m"),
        (MAX_MINUTES, "1491308d2h7m"),
    ],
)
def test_format_is_the_shortest_exact_form(minutes: int | None, text: str) -> None:
    assert format_minutes(minutes) == text


_SHORTEST = re.compile(r"(?:([1-9]\d*)d)?(?:([1-9]|1\d|2[0-3])h)?(?:([1-9]|[1-5]\d)m)?")


@given(st.integers(min_value=0, max_value=MAX_MINUTES))
@example(0)
@example(MAX_MINUTES)
def test_format_round_trips(minutes: int) -> None:
    text = format_minutes(minutes)
    assert parse_minutes(text) == minutes
    # days, then hours below 24, then minutes below 60, no zero parts (only "0m" for nothing)
    assert text == "0m" or _SHORTEST.fullmatch(text), text


@given(
    st.integers(min_value=0, max_value=2 * 10**6),
    st.integers(min_value=0, max_value=10**4),
    st.integers(min_value=0, max_value=10**5),
)
def test_unit_and_iso_compositions_add_up(days: int, hours: int, minutes: int) -> None:
    total = days * 1440 + hours * 60 + minutes
    for text in (f"{days}d{hours}h{minutes}m", f"P{days}DT{hours}H{minutes}M", f"{days} days {hours}h {minutes} min"):
        if total <= MAX_MINUTES:
            assert parse_minutes(text) == total
        else:
            with pytest.raises(InvalidDuration, match="too long"):
                parse_minutes(text)


_GRAMMAR_ALPHABET = st.sampled_from(list("0123456789.,-+ pPtTwWdDhHmMsSinoevr²٣\u00a0") + ["min", "never", "e"])


def _parses_or_refuses(text: str) -> None:
    try:
        result = parse_minutes(text)
    except InvalidDuration as error:
        assert str(error) and "\n" not in str(error)
        return
    assert result is None or 0 <= result <= MAX_MINUTES


@given(st.text())
def test_arbitrary_text_raises_only_invalid_duration(text: str) -> None:
    _parses_or_refuses(text)


@given(st.lists(_GRAMMAR_ALPHABET, max_size=30).map("".join))
@example("9" * 60)
@example("1" * 30 + ".5s")
def test_near_grammar_text_raises_only_invalid_duration(text: str) -> None:
    _parses_or_refuses(text)


def test_parse_seconds_keeps_seconds_and_reads_bare_numbers_as_minutes() -> None:
    assert parse_seconds("1s") == 1
    assert parse_seconds("1m30s") == 90
    assert parse_seconds("PT0.5S") == Decimal("0.5")
    assert parse_seconds("2") == 120
    with pytest.raises(InvalidDuration):
        parse_seconds("never")


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (0, "0m"),
        (45, "45m"),
        (60, "1h"),
        (61, "1h 1m"),
        (1440, "1d"),
        (1500, "1d 1h"),
        (1480, "1d 40m"),
        (1501, "1d 1h"),
        (-5, "-5m"),
    ],
)
def test_format_idle(minutes: int, text: str) -> None:
    assert format_idle(minutes) == text
