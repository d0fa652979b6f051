"""The shared store generator (tools/generator.py): seeded, loadable by ocac, varied where it should be."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import generator
from generator import Generator, Style, Weighted
from ocac.instants import parse_instant
from ocac.model import WAITING_CHANNELS, Channel, State
from ocac.store import open_store
from ocac.store.base import Selection

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WORKSTREAMS = {"sms": ("Contoso SMS",), "teams": ("Contoso IT Helpdesk",), "voice": ("Contoso Support Line",)}


def _store(seed: int | str, count: int = 2000) -> dict[str, object]:
    return Generator(seed).store(count, NOW, deleted=3, workstreams=WORKSTREAMS)


def _conversations(document: dict[str, object]) -> list[dict[str, object]]:
    items = document["conversations"]
    assert isinstance(items, list)
    return items


def test_the_same_seed_gives_the_same_store_and_another_seed_another() -> None:
    first = generator.store_bytes(_store(7))
    assert generator.store_bytes(_store(7)) == first
    assert generator.store_bytes(_store(8)) != first
    assert generator.store_bytes(Generator(random.Random(7)).store(2000, NOW, deleted=3, workstreams=WORKSTREAMS)) == (
        first
    )


def test_its_channels_states_and_waiting_rule_are_ocacs() -> None:
    assert set(generator.CHANNELS) == {c.value for c in Channel}
    assert set(generator.STATES) == {s.value for s in State}
    assert generator.WAITING_CHANNELS == {c.value for c in WAITING_CHANNELS}


@pytest.mark.parametrize("pretty", [True, False], ids=["pretty", "compact"])
def test_every_conversation_loads_in_ocacs_json_store(tmp_path: Path, pretty: bool) -> None:
    document = _store(11)
    path = tmp_path / "store.json"
    path.write_bytes(generator.store_bytes(document, pretty=pretty))
    store = open_store(str(path), lock_timeout=5)
    try:
        loaded = {c.id: c for c in store.select(Selection())}
        assert sorted(store.deleted_records()) == document["deleted_records"]
    finally:
        store.close()
    items = _conversations(document)
    assert len(loaded) == len(items)
    for item in items:
        conversation = loaded[str(item["id"])]
        assert (conversation.channel, conversation.state) == (item["channel"], item["state"])
        assert conversation.modified_on == parse_instant(str(item["modified_on"]))
        assert conversation.workstream == item.get("workstream")
        assert conversation.record_id == item.get("record_id")


def test_waiting_only_on_the_channels_that_can_wait() -> None:
    items = _conversations(_store(3, 5000))
    pairs = Counter((str(c["channel"]), str(c["state"])) for c in items)
    waiting = {channel for channel, state in pairs if state == "waiting"}
    assert waiting == generator.WAITING_CHANNELS
    assert {state for _, state in pairs} == set(generator.STATES)
    assert all(c.get("workstream") for c in items if c["state"] == "waiting" and c["channel"] in WORKSTREAMS)
    with pytest.raises(ValueError, match="cannot be waiting"):
        Generator(1).conversation(0, NOW, channel="chat", state="waiting")
    drawn = [Generator(seed).conversation(0, NOW, state="waiting")["channel"] for seed in range(50)]
    assert set(drawn) <= generator.WAITING_CHANNELS


def test_offsets_and_fractions_vary_and_ages_stay_under_the_maximum() -> None:
    stamps = [str(c["modified_on"]) for c in _conversations(_store(5))]
    offsets = Counter("Z" if s.endswith("Z") else s[-6:] for s in stamps)
    assert set(offsets) == set(generator.OFFSET_WEIGHTS)
    digits = Counter(len(s.split(".")[1].rstrip("Z").split("+")[0].split("-")[0]) if "." in s else 0 for s in stamps)
    assert set(digits) == {0, 3, 6}
    ages = [NOW - parse_instant(s) for s in stamps]
    assert all(timedelta(0) <= age < generator.DEFAULT_MAX_AGE for age in ages)


def test_written_instants_are_the_instant_at_each_style() -> None:
    instant = NOW - timedelta(days=1, microseconds=123_456)
    assert generator.write_instant(instant) == "2026-11-24T11:59:59Z"
    assert generator.write_instant(instant, Style("+05:30", "milliseconds")) == "2026-11-24T17:29:59.876+05:30"
    assert generator.write_instant(instant, Style("-03:30", "microseconds")) == "2026-11-24T08:29:59.876544-03:30"
    assert generator.write_instant(instant, Style("+00:00")) == "2026-11-24T11:59:59+00:00"
    gen = Generator(9)
    for _ in range(200):
        style = gen.style()
        age = gen.age(timedelta(days=3), style)
        assert parse_instant(gen.instant(NOW, age, style)) == NOW - age  # on the style's grid: exact


def test_conversations_carry_unknown_fields() -> None:
    items = _conversations(_store(13))
    known = {"id", "channel", "state", "modified_on", "workstream", "record_id", "created_on"}
    assert all("priority" in c for c in items)
    seen = Counter(key for c in items for key in c if key not in known)
    assert {"priority", "language", "customer", "tags", "sentiment", "x_legacy_ref", "queue"} <= set(seen)
    assert any(c.get("x_legacy_ref", 0) is None for c in items)
    names = [str(c["customer"]["name"]) for c in items if isinstance(c.get("customer"), dict)]  # type: ignore[index]
    assert any('"' in name or "\\" in name for name in names)
    assert any(not name.isascii() for name in names)


def test_weighted_tables_draw_as_random_choices() -> None:
    table = Weighted([("a", 5), ("b", 1), ("c", 94)])
    ours, theirs = random.Random(4), random.Random(4)
    assert [table.pick(ours) for _ in range(500)] == [
        theirs.choices(["a", "b", "c"], [5, 1, 94])[0] for _ in range(500)
    ]
