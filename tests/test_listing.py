"""`ocac.listing.select`: what `conversations list` shows, in which order, with which totals, at `now`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import json_store
from ocac.listing import Listing, select
from ocac.model import NOT_CLOSED, Channel, Reason, State
from ocac.policy import Policy, Workstream
from ocac.store import Selection, Store, open_store

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
GUID = "0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e62"
POLICY = Policy(workstreams={"SMS Support": Workstream("SMS Support", Channel.SMS, 60, None, GUID)})
SMS_SUPPORT = POLICY.workstreams["SMS Support"].keys


def conv(cid: str, channel: str, state: str, modified_on: str, **extra: str) -> dict[str, str]:
    return {"id": cid, "channel": channel, "state": state, "modified_on": modified_on, **extra}


FLOOR = [
    conv("c-due", "chat", "open", "2026-11-25T11:30:00Z"),  # due at 11:50
    conv("c-soon", "chat", "open", "2026-11-25T11:50:00Z"),  # due at 12:10
    conv("c-closed", "chat", "closed", "2026-01-01T00:00:00Z"),  # never
    conv("v-act", "voice", "active", "2026-11-25T12:00:00+01:00"),  # 11:00Z, due at 13:00
    conv("s-wait", "sms", "waiting", "2026-11-24T12:00:00Z", workstream="SMS Support"),  # due 11-24 13:00
    conv("s-guid", "sms", "open", "2026-11-25T11:00:00Z", workstream=GUID),  # due 12-25 11:00
    conv("k-case", "case", "open", "2026-11-01T00:00:00Z", record_id="CAS-1"),  # never: record not deleted
    conv("f-future", "chat", "open", "2026-11-25T13:00:00Z"),  # an hour ahead: due at 13:20
]
# Soonest due first, then the never-due by id.
ORDER = ["s-wait", "c-due", "c-soon", "v-act", "f-future", "s-guid", "k-case"]
ORDER_ALL = ["s-wait", "c-due", "c-soon", "v-act", "f-future", "s-guid", "c-closed", "k-case"]
OPEN = Selection(states=NOT_CLOSED)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with json_store(tmp_path / "s.json", FLOOR) as opened:
        yield opened


def ids(listing: Listing) -> list[str]:
    return [row.conversation.id for row in listing.rows]


def test_closed_conversations_are_left_out_unless_asked(store: Store) -> None:
    assert ids(select(store, POLICY, NOW, OPEN)) == ORDER
    assert ids(select(store, POLICY, NOW, Selection())) == ORDER_ALL
    assert ids(select(store, POLICY, NOW, Selection(states=frozenset({State.CLOSED})))) == ["c-closed"]


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (Selection(frozenset({Channel.CHAT}), NOT_CLOSED), ["c-due", "c-soon", "f-future"]),
        (Selection(frozenset({Channel.CHAT, Channel.VOICE}), NOT_CLOSED), ["c-due", "c-soon", "v-act", "f-future"]),
        (Selection(frozenset({Channel.TEAMS})), []),
        (Selection(states=frozenset({State.WAITING})), ["s-wait"]),
        (
            Selection(states=frozenset({State.OPEN, State.CLOSED})),
            ["c-due", "c-soon", "f-future", "s-guid", "c-closed", "k-case"],
        ),
        (Selection(workstreams=SMS_SUPPORT), ["s-wait", "s-guid"]),  # named by name or by id
        (Selection(workstreams=frozenset({"SMS Support"})), ["s-wait"]),
        (Selection(frozenset({Channel.SMS}), frozenset({State.OPEN}), SMS_SUPPORT), ["s-guid"]),
    ],
)
def test_filters_select_by_channel_state_and_workstream(
    store: Store, selection: Selection, expected: list[str]
) -> None:
    listing = select(store, POLICY, NOW, selection)
    assert (ids(listing), listing.total, listing.cut) == (expected, len(expected), False)


@pytest.mark.parametrize(
    ("due_by", "selection", "expected"),
    [
        (NOW, OPEN, ["s-wait", "c-due"]),
        (NOW + timedelta(minutes=10), OPEN, ["s-wait", "c-due"]),  # c-soon is due strictly after 12:10
        (NOW + timedelta(minutes=11), OPEN, ["s-wait", "c-due", "c-soon"]),
        (NOW + timedelta(hours=2), OPEN, ["s-wait", "c-due", "c-soon", "v-act", "f-future"]),
        (NOW, Selection(frozenset({Channel.CHAT}), NOT_CLOSED), ["c-due"]),
        (NOW, Selection(states=frozenset({State.CLOSED})), []),
    ],
)
def test_due_by_keeps_what_a_sweep_then_would_move(
    store: Store, due_by: datetime, selection: Selection, expected: list[str]
) -> None:
    listing = select(store, POLICY, NOW, selection, due_by=due_by)
    assert (ids(listing), listing.total) == (expected, len(expected))


def test_a_due_row_says_what_the_unfiltered_row_says(store: Store) -> None:
    """The due path builds its verdicts from the store's transitions: the same JSON as explain()'s."""
    due = select(store, POLICY, NOW, OPEN, due_by=NOW + timedelta(hours=2))
    every = {row.conversation.id: row.to_json() for row in select(store, POLICY, NOW, OPEN).rows}
    assert [row.to_json() for row in due.rows] == [every[i] for i in ids(due)]


@pytest.mark.parametrize(
    ("selection", "due_by", "limit", "expected", "total"),
    [
        (OPEN, None, 2, ["s-wait", "c-due"], 7),
        (Selection(), None, 3, ["s-wait", "c-due", "c-soon"], 8),
        (OPEN, None, 7, ORDER, 7),
        (OPEN, None, 50, ORDER, 7),
        (OPEN, NOW + timedelta(hours=2), 2, ["s-wait", "c-due"], 5),  # the total is counted by the store
        (OPEN, NOW + timedelta(hours=2), 5, ["s-wait", "c-due", "c-soon", "v-act", "f-future"], 5),
        (OPEN, NOW, 5, ["s-wait", "c-due"], 2),
        (OPEN, NOW, 0, [], 2),
    ],
)
def test_a_limit_keeps_the_soonest_due_and_counts_all_that_matched(
    store: Store, selection: Selection, due_by: datetime | None, limit: int, expected: list[str], total: int
) -> None:
    listing = select(store, POLICY, NOW, selection, due_by=due_by, limit=limit)
    assert (ids(listing), listing.total) == (expected, total)
    assert listing.cut is (total > len(expected))


def test_a_zero_limit_still_counts_what_matched(store: Store) -> None:
    listing = select(store, POLICY, NOW, OPEN, limit=0)
    assert (ids(listing), listing.total, listing.cut) == ([], 7, True)


def test_without_count_a_cut_due_listing_has_no_total_and_reads_no_count(store: Store) -> None:
    def no_count(*args: object, **kwargs: object) -> dict[object, int]:
        raise AssertionError("count_due called")

    store.count_due = no_count  # type: ignore[method-assign]
    later = NOW + timedelta(hours=2)
    cut = select(store, POLICY, NOW, OPEN, due_by=later, limit=2, count=False)
    assert (ids(cut), cut.total, cut.cut) == (["s-wait", "c-due"], None, False)
    whole = select(store, POLICY, NOW, OPEN, due_by=later, limit=50, count=False)
    assert (len(whole.rows), whole.total) == (5, 5)  # nothing cut: the rows are the total


def test_a_row_reads_its_idle_time_and_due_instant_at_now(store: Store) -> None:
    rows = {row.conversation.id: row for row in select(store, POLICY, NOW, Selection()).rows}
    assert rows["c-due"].to_json() == {
        "id": "c-due", "channel": "chat", "state": "open", "modified_on": "2026-11-25T11:30:00Z",
        "workstream": None, "record_id": None, "network": None, "idle_minutes": 30,
        "due_at": "2026-11-25T11:50:00Z", "due": True, "target": "closed", "reason": "AutoClosedBySystem",
        "rule": "chat/open", "threshold_minutes": 20, "in_future": False,
    }  # fmt: skip
    wait = rows["s-wait"]
    assert (wait.idle_minutes, wait.verdict.due_at, wait.verdict.reason, wait.verdict.rule) == (
        1440, datetime(2026, 11, 24, 13, tzinfo=UTC), Reason.AUTO_CLOSED_FROM_WAITING, "workstream:SMS Support",
    )  # fmt: skip
    voice = rows["v-act"]  # written with +01:00: read as the instant 11:00Z
    assert (voice.idle_minutes, voice.verdict.due_at, voice.verdict.target) == (
        60, datetime(2026, 11, 25, 13, tzinfo=UTC), State.WRAP_UP,
    )  # fmt: skip
    for never in ("c-closed", "k-case"):
        assert (rows[never].verdict.due_at, rows[never].to_json()["due"], rows[never].to_json()["target"]) == (
            None, False, None,
        )  # fmt: skip


def test_the_same_row_is_due_later_and_idler_at_a_later_now(store: Store) -> None:
    later = NOW + timedelta(minutes=15)
    row = next(r for r in select(store, POLICY, later, OPEN).rows if r.conversation.id == "c-soon")
    assert (row.idle_minutes, row.verdict.is_due(later), row.to_json()["due"]) == (25, True, True)


def test_a_conversation_in_the_future_has_negative_idle_time_and_is_not_due(store: Store) -> None:
    rows = {row.conversation.id: row for row in select(store, POLICY, NOW, OPEN).rows}
    future = rows["f-future"]
    assert (future.in_future, future.idle_minutes, future.verdict.due_at) == (
        True, -60, datetime(2026, 11, 25, 13, 20, tzinfo=UTC),
    )  # fmt: skip
    assert (future.to_json()["due"], future.to_json()["in_future"]) == (False, True)
    assert [i for i, row in rows.items() if row.in_future] == ["f-future"]
    # once the clock passes its stamp it is an ordinary conversation
    assert (
        next(
            r for r in select(store, POLICY, NOW + timedelta(hours=2), OPEN).rows if r.conversation.id == "f-future"
        ).in_future
        is False
    )


def test_idle_minutes_round_down_and_only_a_later_stamp_is_in_the_future(tmp_path: Path) -> None:
    with json_store(tmp_path / "s.json", [
        conv("past", "chat", "open", "2026-11-25T11:59:30Z"),
        conv("ahead", "chat", "open", "2026-11-25T12:00:30Z"),
        conv("exact", "chat", "open", "2026-11-25T12:00:00Z"),
    ]) as store:  # fmt: skip
        rows = {row.conversation.id: row for row in select(store, POLICY, NOW, OPEN).rows}
    assert [(i, rows[i].idle_minutes, rows[i].in_future) for i in ("past", "exact", "ahead")] == [
        ("past", 0, False), ("exact", 0, False), ("ahead", -1, True),
    ]  # fmt: skip


def test_an_empty_store_lists_nothing(tmp_path: Path) -> None:
    with closing(open_store(str(tmp_path / "missing.json"), 5)) as store:
        assert select(store, POLICY, NOW, OPEN, limit=3) == Listing([], 0)
        assert select(store, POLICY, NOW, OPEN, due_by=NOW, limit=3) == Listing([], 0)


CHANNELS = [Channel.CHAT, Channel.VOICE, Channel.SMS, Channel.CASE]
STATES = [State.OPEN, State.ACTIVE, State.WRAP_UP, State.CLOSED]
random_floor = st.lists(
    st.tuples(st.sampled_from(CHANNELS), st.sampled_from(STATES), st.integers(-120, 3 * 1440)), max_size=12
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("listing") / "s.json"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(floor=random_floor, limit=st.integers(1, 14), due=st.booleans(), chat_only=st.booleans())
def test_a_limit_is_a_prefix_of_the_unlimited_order_with_the_same_total(
    scratch: Path, floor: list[tuple[Channel, State, int]], limit: int, due: bool, chat_only: bool
) -> None:
    conversations: list[dict[str, Any]] = [
        conv(f"c{n:02d}", channel, state, (NOW - timedelta(minutes=ago)).isoformat())
        for n, (channel, state, ago) in enumerate(floor)
    ]
    selection = Selection(frozenset({Channel.CHAT}) if chat_only else frozenset(), NOT_CLOSED)
    due_by = NOW if due else None
    with json_store(scratch, conversations) as store:
        every = select(store, Policy(), NOW, selection, due_by=due_by)
        some = select(store, Policy(), NOW, selection, due_by=due_by, limit=limit)
    assert len(some.rows) <= limit
    assert ids(some) == ids(every)[:limit]
    assert some.total == every.total == len(every.rows)
    keys = [row.sort_key() for row in every.rows]
    assert keys == sorted(keys)
