"""The databases select exactly what the reference `policy.plan` selects, on random stores and policies.

Hypothesis draws stores (every channel and state, workstreams, linked records, instants with
offsets and fractions, some exactly at a threshold), configurations (overrides, `never`,
workstreams with waiting auto-close and wrap-up blocks, deleted records) and instants; the
SQLite and PostgreSQL stores must give the same transitions as `plan()` over the same
conversations in memory, in the same order, with and without a limit and a selection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import store_location
from ocac.audit import Audit
from ocac.model import NETWORKS, RULE_STATES, Channel, Conversation, State, waiting_problem
from ocac.policy import DEFAULT_RULES, Policy, Rule, Workstream, cutoffs, order_key, plan
from ocac.store import Dump, Incoming, Selection, Store, open_store
from ocac.store.sql import within_cell

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WORKSTREAMS = ("Alpha", "Beta", "Gamma")
GUIDS = {"Alpha": "0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e62", "Beta": "6a3f2c1e-8d4b-4f0a-9c2e-1b7d5e9a0c31"}
REFERENCES = (*WORKSTREAMS, *GUIDS.values())
"""What a conversation's workstream may say: a name, or a workstream's id."""
RECORDS = ("R1", "R2", "R3")
THRESHOLDS = (0, 1, 15, 20, 120, 1440)

offsets = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))])
ages = st.one_of(
    st.sampled_from(THRESHOLDS).map(lambda m: timedelta(minutes=m)),  # exactly at a threshold: not due
    st.sampled_from(THRESHOLDS).map(lambda m: timedelta(minutes=m, microseconds=1)),  # just past it: due
    st.integers(min_value=-600, max_value=3 * 1440 * 60).map(lambda s: timedelta(seconds=s)),
)


@st.composite
def conversations(draw: st.DrawFn) -> list[Conversation]:
    count = draw(st.integers(min_value=0, max_value=40))
    items = []
    for index in range(count):
        channel = draw(st.sampled_from(list(Channel)))
        state = draw(st.sampled_from([s for s in State if waiting_problem(channel, s) is None]))
        modified = (NOW - draw(ages)).astimezone(draw(offsets))
        networks = [n for n, c in NETWORKS.items() if c is channel]
        items.append(Conversation(
            f"c{index:03d}", channel, state, modified,
            workstream=draw(st.none() | st.sampled_from(REFERENCES)),
            record_id=draw(st.none() | st.sampled_from(RECORDS)),
            network=draw(st.none() | st.sampled_from(networks or ["whatsapp"])),
        ))  # fmt: skip
    return items


minutes = st.none() | st.sampled_from(THRESHOLDS)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    rules = dict(DEFAULT_RULES)
    for channel in Channel:
        if channel is Channel.CASE:
            continue
        for state in RULE_STATES:
            if draw(st.booleans()):
                default = DEFAULT_RULES[channel, state]
                rules[channel, state] = Rule(channel, state, draw(minutes), default.target, "config")
    network_rules = {}
    for network in draw(st.lists(st.sampled_from(list(NETWORKS)), unique=True, max_size=3)):
        channel = NETWORKS[network]
        for state in RULE_STATES:
            if draw(st.booleans()):
                default = DEFAULT_RULES[channel, state]
                network_rules[network, state] = Rule(channel, state, draw(minutes), default.target, "config", network)
    streams = {}
    for name in draw(st.lists(st.sampled_from(WORKSTREAMS), unique=True)):
        channel = draw(st.sampled_from([Channel.SMS, Channel.TEAMS, Channel.SOCIAL, Channel.PERSISTENT_CHAT]))
        stream_id = GUIDS.get(name) if draw(st.booleans()) else None
        streams[name] = Workstream(name, channel, draw(minutes), draw(minutes), stream_id)
    return Policy(rules, streams, network_rules)


selections = st.builds(
    Selection,
    st.frozensets(st.sampled_from(list(Channel)), max_size=2),
    st.frozensets(st.sampled_from(list(State)), max_size=2),
    st.none() | st.frozensets(st.sampled_from(REFERENCES), max_size=2),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with closing(open_store(store_location(request.param, tmp_path, request), 5)) as store:
        yield store


def _load(store: Store, items: list[Conversation], deleted: list[str]) -> None:
    dump = Dump([Incoming(c) for c in items], deleted, [], None, len(items))
    store.fill(dump, replace=True, progress=lambda n: None)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    items=conversations(),
    policy=policies(),
    deleted=st.lists(st.sampled_from(RECORDS), unique=True),
    shift=st.integers(min_value=-1440, max_value=1440),
    selection=selections,
    limit=st.none() | st.integers(min_value=0, max_value=5),
)
def test_the_database_selects_what_plan_selects(
    database: Store,
    items: list[Conversation],
    policy: Policy,
    deleted: list[str],
    shift: int,
    selection: Selection,
    limit: int | None,
) -> None:
    _load(database, items, deleted)
    at = NOW + timedelta(minutes=shift)
    expected = sorted(plan(items, policy, at, set(deleted)), key=order_key)
    assert _key(database.due(policy, at)) == _key(expected)
    chosen = [t for t in expected if selection.matches(_by_id(items, t.id))]
    assert _key(database.due(policy, at, selection=selection, limit=limit)) == _key(chosen[:limit])
    counts: dict[Channel, int] = {}
    for t in expected:
        counts[t.channel] = counts.get(t.channel, 0) + 1
    assert database.count_due(policy, at) == counts


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(items=conversations(), policy=policies(), deleted=st.lists(st.sampled_from(RECORDS), unique=True))
def test_the_database_sweep_moves_what_plan_moves(
    database: Store, items: list[Conversation], policy: Policy, deleted: list[str]
) -> None:
    _load(database, items, deleted)
    expected = sorted(plan(items, policy, NOW, set(deleted)), key=order_key)
    outcome = database.sweep(policy, Audit("run", NOW, "tester@host"))
    assert _key(outcome.transitions) == _key(expected)
    moved = {t.id: t.to_state for t in expected}
    for conversation in database.select(Selection()):
        original = _by_id(items, conversation.id)
        assert conversation.state is moved.get(conversation.id, original.state)
        assert conversation.modified_on == (NOW if conversation.id in moved else original.modified_on)


def _by_id(items: list[Conversation], conversation_id: str) -> Conversation:
    return next(c for c in items if c.id == conversation_id)


def _key(transitions: object) -> list[tuple[object, ...]]:
    return [
        (t.id, t.from_state, t.to_state, t.reason, t.rule, t.threshold_minutes, t.idle_minutes, t.modified_on)
        for t in transitions  # type: ignore[attr-defined]
    ]


@settings(max_examples=200, deadline=None)
@given(items=conversations(), policy=policies(), selection=selections, shift=st.integers(-1440, 1440))
def test_a_cell_is_tested_with_what_the_selection_leaves_of_it(
    items: list[Conversation], policy: Policy, selection: Selection, shift: int
) -> None:
    """`within_cell` drops what a cell fixes (channel, state) and the cells a selection leaves out."""
    for cell in cutoffs(policy, NOW + timedelta(minutes=shift)):
        narrowed = within_cell(cell, selection)
        for conversation in items:
            if cell.holds(conversation, set(RECORDS)):
                assert selection.matches(conversation) == (narrowed is not None and narrowed.matches(conversation))
