"""Hostile and broken input: only ocac's own errors come out, never a crash.

Property tests (Hypothesis) over the duration grammar, channel and state names, timestamps,
arbitrary JSON for the store loader, arbitrary TOML for the store and config loaders, and
`--now` at the edges of time through the commands. Then the time rules: a conversation in the
future is not swept and is flagged; `--now` without an offset is refused by every command.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import tomlkit
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ocac.audit import HistoryQuery, audit_for
from ocac.config import edit_config, load_config
from ocac.durations import MAX_MINUTES, format_minutes, parse_minutes, parse_seconds
from ocac.errors import ImportFileError, InvalidDuration, InvalidName, InvalidTime, OcacError
from ocac.instants import format_instant, parse_instant
from ocac.interchange import ReadOptions, read_json
from ocac.listing import select
from ocac.model import Channel, State, parse_channel, parse_state
from ocac.policy import Policy, explain, plan
from ocac.status import summarise
from ocac.store import Selection, open_store
from ocac.store.trail import trail_path
from ocac.sweep import run_sweep

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
FEWER = settings(SETTINGS, max_examples=60)


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A folder for property tests (tmp_path is shared by every example of one test)."""
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


# ------------------------------------------------------------------------------------ durations

_digits = st.sampled_from(["0", "1", "7", "9", "15", "20", "90", "1440", "2147483647", "2147483648", "9" * 30,
                           "٣", "²", "০১", "1.5", "0.25", "00", "1e3", "-5", "+5", "½"])  # fmt: skip
_units = st.sampled_from(["", "m", "M", "min", "mins", "h", "H", "hr", "hours", "d", "day", "w", "weeks", "s",
                          "sec", "seconds", "y", "mo", "ms", "µs", "ｍ", "minute"])  # fmt: skip
_part = st.builds(lambda n, sp, u: f"{n}{sp}{u}", _digits, st.sampled_from(["", " ", "\t", "\u00a0"]), _units)
_unit_text = st.lists(_part, min_size=1, max_size=4).map(" ".join)
_iso_text = st.builds(
    lambda p, d, t, h, m, s: f"{p}{d}{t}{h}{m}{s}",
    st.sampled_from(["P", "p", "PT", "", "-P"]),
    st.sampled_from(["", "1D", "30D", "2W", "1Y", "1M", "0.5D", "99999999999999999999D"]),
    st.sampled_from(["", "T", "t"]),
    st.sampled_from(["", "2H", "1.5H", "H"]),
    st.sampled_from(["", "30M", "0M", "M"]),
    st.sampled_from(["", "60S", "1S", "0.001S"]),
)
_WORDS = st.sampled_from(["never", "NEVER", " off ", "none", "nan", "inf", "infinity", ""])
DURATION_TEXT = st.one_of(_unit_text, _iso_text, st.text(max_size=30), _WORDS)


@SETTINGS
@given(DURATION_TEXT)
def test_durations_parse_or_raise_invalid_duration(text: str) -> None:
    try:
        minutes = parse_minutes(text)
    except InvalidDuration as error:
        assert "\n" not in str(error)
        return
    if minutes is None:
        assert text.strip().lower() in ("never", "none", "off")
        return
    assert isinstance(minutes, int) and 0 <= minutes <= MAX_MINUTES
    assert parse_minutes(format_minutes(minutes)) == minutes


@SETTINGS
@given(DURATION_TEXT)
def test_seconds_parse_or_raise_invalid_duration(text: str) -> None:
    try:
        seconds = parse_seconds(text)
    except InvalidDuration:
        return
    assert isinstance(seconds, Decimal) and seconds.is_finite() and seconds >= 0


@SETTINGS
@given(st.integers(min_value=0, max_value=MAX_MINUTES))
def test_every_minute_count_round_trips(minutes: int) -> None:
    assert parse_minutes(format_minutes(minutes)) == minutes
    assert parse_minutes(str(minutes)) == minutes


# -------------------------------------------------------------------------------------- names


def _spellings(value: str) -> st.SearchStrategy[str]:
    return st.builds(
        lambda upper, sep, pad: pad + (value.upper() if upper else value).replace("-", sep) + pad,
        st.booleans(), st.sampled_from(["-", "_", " ", ""]), st.sampled_from(["", " "]),
    )  # fmt: skip


@SETTINGS
@given(st.one_of(st.text(max_size=40), st.sampled_from(list(Channel)).flatmap(_spellings)))
def test_channel_names_parse_or_raise_invalid_name(text: str) -> None:
    try:
        channel = parse_channel(text)
    except InvalidName as error:
        assert "\n" not in str(error)
        return
    assert channel in Channel


@SETTINGS
@given(st.one_of(st.text(max_size=40), st.sampled_from(list(State)).flatmap(_spellings)))
def test_state_names_parse_or_raise_invalid_name(text: str) -> None:
    try:
        state = parse_state(text)
    except InvalidName:
        return
    assert state in State


@SETTINGS
@given(st.sampled_from(list(Channel) + list(State)).flatmap(lambda v: st.tuples(st.just(v), _spellings(v))))
def test_forgiving_spellings_of_every_name_parse(pair: tuple[str, str]) -> None:
    value, spelling = pair
    parser = parse_channel if value in list(Channel) else parse_state
    assert parser(spelling) == value


# --------------------------------------------------------------------------------- timestamps

_OFFSETS = ["Z", "z", "+00:00", "-00:00", "+01:00", "+02:00", "-04:00", "-05:00", "+05:30", "+05:45", "+14:00",
            "-12:00", "+23:59", "-23:59", "+24:00", "+0100", "+01", "+01:00:30", ""]  # fmt: skip


@st.composite
def timestamp_text(draw: st.DrawFn) -> tuple[str, datetime | None]:
    """RFC 3339-ish text and the instant it means (None: it must be refused)."""
    year = draw(st.one_of(st.sampled_from([1, 2, 1970, 2000, 2024, 2025, 2026, 9998, 9999]), st.integers(1, 9999)))
    month = draw(st.integers(1, 12))
    day = draw(st.one_of(st.integers(1, 28), st.sampled_from([29, 30, 31])))
    hour, minute, second = draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 59))
    digits = draw(st.integers(0, 9))
    fraction = "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=digits, max_size=digits)))
    offset = draw(st.sampled_from(_OFFSETS))
    separator = draw(st.sampled_from(["T", "t", " "]))
    text = f"{year:04d}-{month:02d}-{day:02d}{separator}{hour:02d}:{minute:02d}:{second:02d}"
    text += f".{fraction}" if fraction else ""
    text += offset
    try:
        local = datetime(year, month, day, hour, minute, second, int((fraction + "000000")[:6] or 0))
    except ValueError:
        return text, None  # 29 February of a common year, 31 April…
    if offset in ("", "+24:00"):
        return text, None
    sign = -1 if offset.startswith("-") else 1
    body = offset[1:].replace(":", "") if offset not in ("Z", "z") else "0000"
    delta = timedelta(hours=int(body[:2]), minutes=int(body[2:4] or 0), seconds=int(body[4:6] or 0))
    try:
        return text, (local - sign * delta).replace(tzinfo=UTC)
    except OverflowError:
        return text, None  # outside the years 1 to 9999 in UTC


@SETTINGS
@given(timestamp_text())
def test_timestamps_parse_to_the_instant_or_are_refused(case: tuple[str, datetime | None]) -> None:
    text, expected = case
    try:
        instant = parse_instant(text, "--now")
    except InvalidTime as error:
        assert expected is None, f"{text!r} was refused: {error}"
        assert "\n" not in str(error)
        return
    assert expected is not None, f"{text!r} should have been refused, got {instant}"
    assert instant == expected and instant.utcoffset() == timedelta(0)
    assert parse_instant(format_instant(instant)) == instant


@SETTINGS
@given(st.text(max_size=40))
def test_any_text_parses_or_raises_invalid_time(text: str) -> None:
    try:
        instant = parse_instant(text)
    except InvalidTime:
        return
    assert instant.tzinfo is not None


_ZONES = [ZoneInfo(name) for name in ("Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia")]


@SETTINGS
@given(
    st.sampled_from(_ZONES),
    st.sampled_from([datetime(2026, 3, 29, 1, 0), datetime(2026, 10, 25, 1, 0), datetime(2026, 3, 8, 6, 0),
                     datetime(2026, 11, 1, 5, 0), datetime(2026, 4, 5, 14, 0), datetime(2011, 12, 29, 9, 0)]),
    st.integers(-180, 180),
)  # fmt: skip
def test_offsets_around_dst_changes_are_instants(zone: ZoneInfo, base: datetime, minutes: int) -> None:
    instant = (base + timedelta(minutes=minutes)).replace(tzinfo=UTC)
    local = instant.astimezone(zone)
    assert parse_instant(local.isoformat()) == instant
    assert parse_instant(local.replace(tzinfo=None).isoformat() + "Z") != instant or local.utcoffset() == timedelta(0)


# ------------------------------------------------------------------------- the store, as JSON

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
_EDGE_STAMPS = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z",
                "9999-12-31T23:59:59.999999Z", "2026-11-25T12:00:00Z", "2026-11-25T11:00:00+14:00",
                "2026-11-25T11:59:59.5-00:30", "2024-02-29T23:59:59+01:00"]  # fmt: skip
_BAD_STAMPS = ["2026-11-25T12:00:00", "2026-02-29T00:00:00Z", "2026-11-25", "", "now"]


def _mostly(good: st.SearchStrategy[object], bad: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """Good values most of the time, so that whole documents load and go further than the loader."""
    return st.integers(0, 9).flatmap(lambda n: bad if n == 0 else good)


_STAMPS = _mostly(
    st.one_of(st.sampled_from(_EDGE_STAMPS), timestamp_text().map(lambda case: case[0])),
    st.one_of(st.sampled_from(_BAD_STAMPS), JSON),
)
_CHANNEL = _mostly(st.sampled_from([str(c) for c in Channel]), st.one_of(st.sampled_from(["Chat", "email", ""]), JSON))
_STATE = _mostly(st.sampled_from([str(s) for s in State]), st.one_of(st.sampled_from(["Open", "wrap_up", ""]), JSON))


@st.composite
def conversation_json(draw: st.DrawFn) -> dict[str, object]:
    item: dict[str, object] = {}
    fields = {
        "id": _mostly(st.text(min_size=1, max_size=4), st.one_of(st.sampled_from(["a\nb", "\x1b[31mred", ""]), JSON)),
        "channel": _CHANNEL,
        "state": _STATE,
        "modified_on": _STAMPS,
        "created_on": _STAMPS,
        "workstream": _mostly(st.sampled_from(["Contoso SMS", "W"]), JSON),
        "record_id": _mostly(st.sampled_from(["R1", "R2"]), JSON),
        "extra": JSON,
    }
    for name, strategy in fields.items():
        if draw(st.integers(0, 19)) < (19 if name in ("id", "channel", "state", "modified_on") else 6):
            item[name] = draw(strategy)
    return item


@st.composite
def store_json(draw: st.DrawFn) -> object:
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    conversations = draw(st.lists(conversation_json(), max_size=4))
    for number, item in enumerate(conversations):
        if draw(st.integers(0, 9)) and "id" in item:
            item["id"] = f"c{number}"  # unique, mostly, so that whole documents load
    document: dict[str, object] = {"conversations": conversations}
    if draw(st.booleans()):
        document["deleted_records"] = draw(_mostly(st.lists(st.sampled_from(["R1", "R2"])), JSON))
    if draw(st.booleans()):
        marker = {"run_id": "r", "at": "2026-11-25T12:00:00Z", "moved": draw(st.integers(-5, 5)),
                  "history_size": draw(st.one_of(st.integers(-1000, 1000), JSON))}  # fmt: skip
        document["ocac"] = draw(st.one_of(st.just({"last_sweep": marker}), JSON))
    if draw(st.booleans()):
        document[draw(st.text(max_size=5))] = draw(JSON)
    return document


CONFIG_WITH_STREAM = '[workstreams."Contoso SMS"]\nchannel = "sms"\nauto_close_after = "2d"\nwrap_up_block = "3h"\n'
NOWS = [
    datetime(2026, 11, 25, 12, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
]


def exercise(path: Path, config: Path | None = None) -> None:
    """Everything ocac does with a store, at ordinary and extreme instants: only OcacError may come out."""
    policy = load_config(config).policy if config else Policy()
    store = open_store(str(path), 5)
    conversations = list(store.select(Selection()))
    deleted = frozenset(store.deleted_records())
    for conversation in conversations:
        stored = store.get(conversation.id)
        assert stored is not None
        json.dumps(stored.fields, default=str)
    store.counts(), store.oldest_open(), store.workstreams(), store.info(), store.last_sweep()
    store.history(HistoryQuery())
    for now in NOWS:
        listing = select(store, policy, now, Selection())
        json.dumps([row.to_json() for row in listing.rows])
        [row.sort_key() for row in listing.rows]
        select(store, policy, now, Selection(), due_by=now, limit=2)
        summarise(store, policy, now, 5, None).to_json()
        assert {t.id for t in store.due(policy, now)} == {t.id for t in plan(conversations, policy, now, deleted)}
        store.count_due(policy, now)
        for conversation in conversations:
            explain(conversation, policy, deleted)
    store.close()
    result = run_sweep(open_store(str(path), 5), policy, audit_for(NOWS[0]), dry_run=False, config=None)
    reloaded = open_store(str(path), 5)  # what ocac writes, ocac reads
    assert sum(1 for _ in reloaded.select(Selection())) == len(conversations)
    assert len(reloaded.history(HistoryQuery())) >= len(result.transitions)
    if path.suffix == ".json":
        with contextlib.suppress(ImportFileError):  # a store is an import file too (stricter on stamps)
            read_json(path, path.read_bytes(), ReadOptions())


def _try(path: Path, config: Path | None = None) -> None:
    try:
        exercise(path, config)
    except OcacError as error:
        assert "Traceback" not in str(error)


@SETTINGS
@given(store_json())
def test_arbitrary_json_in_the_store_is_loaded_or_refused_as_ocac_error(scratch: Path, document: object) -> None:
    path = scratch / "conversations.json"
    path.write_text(json.dumps(document))
    trail_path(path).unlink(missing_ok=True)
    config = scratch / "config.toml"
    config.write_text(CONFIG_WITH_STREAM)
    _try(path, config)


@pytest.mark.parametrize("stamp", _EDGE_STAMPS)
@pytest.mark.parametrize(
    "channel, state", [("chat", "open"), ("voice", "wrap-up"), ("sms", "waiting"), ("case", "open")]
)
def test_stamps_at_the_edges_of_time_in_the_store(tmp_path: Path, stamp: str, channel: str, state: str) -> None:
    path = tmp_path / "conversations.json"
    item = {"id": "x", "channel": channel, "state": state, "modified_on": stamp, "created_on": stamp,
            "workstream": "Contoso SMS", "record_id": "R1"}  # fmt: skip
    path.write_text(json.dumps({"conversations": [item], "deleted_records": ["R1"]}))
    config = tmp_path / "config.toml"
    config.write_text(CONFIG_WITH_STREAM)
    exercise(path, config)


@FEWER
@given(st.binary(max_size=200))
def test_arbitrary_bytes_in_the_store_are_refused_as_ocac_error(scratch: Path, data: bytes) -> None:
    path = scratch / "conversations.json"
    path.write_bytes(data)
    _try(path)


# ------------------------------------------------------------------------------ TOML documents

TOML_SCALAR = st.one_of(
    st.text(max_size=10),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True),
    st.booleans(),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(timezone(timedelta(hours=2)))
    ),
    st.dates(),
    st.times(),
)
TOML_VALUE = st.recursive(
    TOML_SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def toml_text(document: dict[str, object]) -> str:
    try:
        return tomlkit.dumps(document)
    except Exception:  # tomlkit cannot spell every value (e.g. mixed nested tables): skip those
        assume(False)
        raise


_DURATION_VALUE = st.one_of(DURATION_TEXT, st.integers(-5, 2**40), TOML_SCALAR)


@st.composite
def config_document(draw: st.DrawFn) -> dict[str, object]:
    channels = st.one_of(st.sampled_from([str(c) for c in Channel] + ["Chat", "email"]), st.text(max_size=6))
    states = st.one_of(st.sampled_from([str(s) for s in State] + ["Open"]), st.text(max_size=6))
    document: dict[str, object] = {}
    if draw(st.booleans()):
        rules = draw(st.dictionaries(channels, st.dictionaries(states, _DURATION_VALUE, max_size=3), max_size=3))
        document["rules"] = draw(st.one_of(st.just(rules), TOML_VALUE))
    if draw(st.booleans()):
        body = st.fixed_dictionaries(
            {}, optional={"channel": st.one_of(channels, TOML_SCALAR), "auto_close_after": _DURATION_VALUE,
                          "wrap_up_block": _DURATION_VALUE, "colour": TOML_SCALAR},
        )  # fmt: skip
        document["workstreams"] = draw(st.dictionaries(st.text(max_size=8), body, max_size=3))
    if draw(st.integers(0, 4)) == 0:
        document[draw(st.text(max_size=6))] = draw(TOML_VALUE)
    return document


def _no_op(document: object) -> None:
    pass


def _config_ok_or_ocac_error(path: Path) -> None:
    try:
        load_config(path)
    except OcacError:
        pass  # the command line shows it on one line: see test_files
    try:
        edit_config(path, _no_op, lock_timeout=5, dry_run=True)
    except OcacError:
        pass


@SETTINGS
@given(config_document())
def test_arbitrary_toml_config_is_loaded_or_refused_as_ocac_error(scratch: Path, document: dict[str, object]) -> None:
    path = scratch / "config.toml"
    path.write_text(toml_text(document))
    _config_ok_or_ocac_error(path)


@FEWER
@given(st.text(max_size=200))
def test_arbitrary_text_as_config_is_loaded_or_refused_as_ocac_error(scratch: Path, text: str) -> None:
    path = scratch / "config.toml"
    path.write_text(text)
    _config_ok_or_ocac_error(path)


@st.composite
def toml_store(draw: st.DrawFn) -> dict[str, object]:
    def value(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
        return st.one_of(strategy, TOML_SCALAR)

    conversation = st.fixed_dictionaries(
        {},
        optional={
            "id": value(st.sampled_from(["a", "b", "a"])), "channel": value(_CHANNEL.filter(lambda v: v is not None)),
            "state": value(st.sampled_from([str(s) for s in State])),
            "modified_on": value(st.sampled_from(["2026-11-25T12:00:00Z", "0001-01-01T00:00:00+01:00"])),
            "created_on": TOML_SCALAR, "note": TOML_VALUE,
        },
    )  # fmt: skip
    document: dict[str, object] = {"conversations": draw(st.lists(conversation, max_size=4))}
    if draw(st.booleans()):
        document["deleted_records"] = draw(value(st.lists(st.text(max_size=3), max_size=2)))
    if draw(st.booleans()):
        document["ocac"] = draw(TOML_VALUE)
    return document


@SETTINGS
@given(toml_store())
def test_arbitrary_toml_store_is_loaded_or_refused_as_ocac_error(scratch: Path, document: dict[str, object]) -> None:
    path = scratch / "conversations.toml"
    text = toml_text(document)
    path.write_text(text)
    trail_path(path).unlink(missing_ok=True)
    _try(path)


@FEWER
@given(st.text(max_size=200))
def test_arbitrary_text_as_toml_store_is_loaded_or_refused_as_ocac_error(scratch: Path, text: str) -> None:
    path = scratch / "conversations.toml"
    path.write_text(text)
    _try(path)


# --------------------------------------------------------------------- --now through the commands

TINY_STORE = {
    "conversations": [
        {"id": "old", "channel": "chat", "state": "open", "modified_on": "0001-01-01T00:00:00+01:00"},
        {"id": "late", "channel": "voice", "state": "wrap-up", "modified_on": "9999-12-31T23:00:00Z"},
        {"id": "mid", "channel": "sms", "state": "waiting", "modified_on": "2026-11-25T12:00:00+02:00",
         "workstream": "Contoso SMS"},
    ]
}  # fmt: skip


def _one_line_or_ok(result: Any, *, allowed: tuple[int, ...] = (0, 2)) -> None:
    code = result.exit_code
    assert code in allowed, (code, result.stdout, result.stderr)
    if code:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ocac: error: "), result.stderr


NOW_TEXT = st.one_of(
    timestamp_text().map(lambda case: case[0]),
    st.sampled_from(["9999-12-31T23:59:59Z", "9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00Z", "now"]),
)


@FEWER
@given(NOW_TEXT, st.sampled_from(["1d", "2147483647", "0", "never"]))
def test_now_at_the_edges_of_time_through_every_command(
    cli: Any, store_path: Path, config_path: Path, now: str, within: str
) -> None:
    store_path.write_text(json.dumps(TINY_STORE))
    config_path.write_text(CONFIG_WITH_STREAM)
    before = store_path.read_bytes(), config_path.read_bytes()
    for args in (
        ("sweep", "run", "--dry-run", "--now", now),
        ("conversations", "list", "--json", "--now", now),
        ("conversations", "list", "--due-within", within, "--now", now),
        ("conversations", "show", "old", "--now", now),
        ("conversations", "show", "late", "--json", "--now", now),
        ("status", "--json", "--now", now),
        ("status", "--interval", within, "--now", now),
        ("config", "set", "chat", "open", "30m", "--dry-run", "--now", now),
        ("workstream", "set", "Contoso SMS", "--auto-close-after", "1d", "--dry-run", "--now", now),
    ):
        _one_line_or_ok(cli(*args))
    assert (store_path.read_bytes(), config_path.read_bytes()) == before


@FEWER
@given(NOW_TEXT)
def test_sweeps_at_the_edges_of_time_write_a_store_that_loads(
    cli: Any, store_path: Path, config_path: Path, now: str
) -> None:
    store_path.write_text(json.dumps(TINY_STORE))
    trail_path(store_path).unlink(missing_ok=True)
    config_path.write_text(CONFIG_WITH_STREAM)
    result = cli("sweep", "run", "--json", "--now", now)
    _one_line_or_ok(result)
    assert sum(1 for _ in open_store(str(store_path), 5).select(Selection())) == 3
    shown = cli("history", "--json")
    assert shown.exit_code == 0, shown.stderr
    if result.exit_code == 0:
        assert len(json.loads(shown.stdout)) == json.loads(result.stdout)["moved"]


# ------------------------------------------------------------------------------------------ time


def test_a_conversation_in_the_future_is_not_swept_and_is_flagged(
    cli: Any, store_path: Path, config_path: Path
) -> None:
    config_path.write_text("")
    store_path.write_text(json.dumps({"conversations": [
        {"id": "future", "channel": "chat", "state": "open", "modified_on": "2026-11-26T12:00:00+02:00"},
        {"id": "past", "channel": "chat", "state": "open", "modified_on": "2026-11-25T10:00:00Z"},
    ]}))  # fmt: skip
    now = "2026-11-25T12:00:00Z"
    swept = cli("sweep", "run", "--json", "--now", now)
    assert swept.exit_code == 0, swept.stderr
    assert [t["id"] for t in json.loads(swept.stdout)["transitions"]] == ["past"]
    future = open_store(str(store_path), 5).get("future")
    assert future is not None and future.conversation.state is State.OPEN
    shown = cli("conversations", "show", "future", "--now", now)
    assert shown.exit_code == 0, shown.stderr
    assert "warning: modified_on is after 2026-11-25T12:00:00Z: it is not swept until then" in shown.stdout
    listed = cli("conversations", "list", "--json", "--all", "--now", now)  # "past" is closed now
    flags = {row["id"]: row["in_future"] for row in json.loads(listed.stdout)}
    assert flags == {"future": True, "past": False}
    table = cli("conversations", "list", "--now", now)
    assert "(future!)" in next(line for line in table.stdout.splitlines() if line.startswith("future"))
    later = cli("sweep", "run", "--json", "--now", "2026-11-26T10:21:00Z")  # 1 minute past due
    assert [t["id"] for t in json.loads(later.stdout)["transitions"]] == ["future"]


NOW_COMMANDS = [
    ("sweep", "run"),
    ("sweep", "run", "--dry-run"),
    ("conversations", "list"),
    ("conversations", "show", "past"),
    ("conversations", "add", "--channel", "chat"),
    ("conversations", "touch", "past"),
    ("conversations", "set-state", "past", "active"),
    ("status",),
    ("config", "set", "chat", "open", "30m"),
    ("workstream", "set", "W", "--channel", "sms"),
]


@pytest.mark.parametrize("command", NOW_COMMANDS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("now", ["2026-11-25T12:00:00", "2026-11-25 12:00", "2026-11-25"])
def test_now_without_an_offset_is_refused(
    cli: Any, store_path: Path, config_path: Path, command: tuple[str, ...], now: str
) -> None:
    store_path.write_text(json.dumps({"conversations": [
        {"id": "past", "channel": "chat", "state": "open", "modified_on": "2026-11-25T10:00:00Z"}]}))  # fmt: skip
    before = store_path.read_bytes(), config_path.read_bytes()
    result = cli(*command, "--now", now)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.strip() == (
        f"ocac: error: --now {now!r} has no offset: use RFC 3339 with an offset, "
        "e.g. 2026-11-25T12:00:00Z or 2026-11-25T14:00:00+02:00"
    )
    assert (store_path.read_bytes(), config_path.read_bytes()) == before


@pytest.mark.parametrize(
    "args, words",
    [
        (("conversations", "add", "--channel", "chat", "--modified-on", "2026-11-25T12:00:00"), "has no offset"),
        (("history", "--since", "2026-11-25T12:00:00"), "use RFC 3339 (2026-11-25T12:00:00Z)"),  # or a date, or 2d
        (("history", "--until", "2026-11-25 12:00"), "use RFC 3339 (2026-11-25T12:00:00Z)"),
    ],
)
def test_other_times_without_an_offset_are_refused(
    cli: Any, store_path: Path, args: tuple[str, ...], words: str
) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not store_path.exists()
