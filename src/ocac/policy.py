"""The auto-close policy: rules, defaults, and what is due at an instant. Pure: no I/O, no clock."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Set
from datetime import datetime, timedelta
from typing import Any

import msgspec

from ocac.instants import ahead, minutes_between, shift
from ocac.model import RULE_STATES, WAITING_CHANNELS, Channel, Conversation, Reason, State

DAY = 1440


class Rule(msgspec.Struct, frozen=True):
    """After `minutes` in `state` (None: never), a `channel` conversation moves to `target`.

    A rule with a `network` applies to the conversations of that network only (a WhatsApp
    rule on the social channel); the channel's rule applies to the others.
    """

    channel: Channel
    state: State
    minutes: int | None
    target: State
    source: str = "default"
    network: str | None = None

    @property
    def name(self) -> str:
        """How history and explanations name the rule, e.g. `voice/active` or `whatsapp/open`."""
        return f"{self.network or self.channel}/{self.state}"


def _defaults() -> dict[tuple[Channel, State], Rule]:
    closed = State.CLOSED
    table: dict[Channel, tuple[int | None, int | None, int | None]] = {
        Channel.CHAT: (20, None, 15),
        Channel.VOICE: (30 * DAY, 120, DAY),
        Channel.SMS: (30 * DAY, 30 * DAY, DAY),
        Channel.TEAMS: (30 * DAY, 30 * DAY, DAY),
        Channel.SOCIAL: (30 * DAY, 30 * DAY, DAY),
        Channel.PERSISTENT_CHAT: (30 * DAY, None, DAY),
        Channel.CASE: (None, None, None),
    }
    rules = {}
    for channel, minutes in table.items():
        for state, value in zip(RULE_STATES, minutes, strict=True):
            target = State.WRAP_UP if (channel, state) == (Channel.VOICE, State.ACTIVE) else closed
            rules[channel, state] = Rule(channel, state, value, target)
    return rules


DEFAULT_RULES: Mapping[tuple[Channel, State], Rule] = _defaults()
"""The built-in channel-state table."""


def rule_is_configurable(channel: Channel, state: State) -> str | None:
    """Why (channel, state) cannot have a rule, or None when it can."""
    if state is State.CLOSED:
        instead = "" if channel is Channel.CASE else f"; set a {channel} open, active or wrap-up rule instead"
        return f"closed is final: closed conversations are never moved{instead}"
    if channel is Channel.CASE:
        return "case conversations close when their linked record is deleted: use 'ocac records delete RECORD_ID'"
    if state is State.WAITING and channel not in WAITING_CHANNELS:
        return (
            f"{channel} conversations never wait (only {', '.join(sorted(WAITING_CHANNELS))} do): "
            f"set the {channel} open, active or wrap-up rule instead"
        )
    if state is State.WAITING:
        return (
            "waiting conversations close after their workstream's inactivity time: "
            "use 'ocac workstream set NAME --channel CH --auto-close-after DURATION'"
        )
    return None


class Workstream(msgspec.Struct, frozen=True):
    """A named workstream: its waiting auto-close time, its optional wrap-up block time, its GUID."""

    name: str
    channel: Channel
    auto_close_after: int | None = None
    wrap_up_block: int | None = None
    id: str | None = None
    """The service's id (a GUID): conversations may name their workstream by it instead of by name."""

    @property
    def keys(self) -> frozenset[str]:
        """What a conversation's `workstream` may say to mean this workstream: its name or its id."""
        return frozenset({self.name} if self.id is None else {self.name, self.id})


def workstream_problem(channel: Channel, auto_close_after: int | None) -> str | None:
    """Why a workstream setting is not allowed on `channel`, or None."""
    if auto_close_after is not None and channel not in WAITING_CHANNELS:
        allowed = ", ".join(sorted(WAITING_CHANNELS))
        return (
            f"'auto close after inactivity' exists only for {allowed} workstreams, "
            f"not for {channel}: {channel} conversations never wait"
        )
    return None


class Policy(msgspec.Struct, frozen=True, dict=True):  # dict: a cached_property needs an instance __dict__
    """The effective configuration: the full rule matrix, rules of networks, and workstreams."""

    rules: Mapping[tuple[Channel, State], Rule] = msgspec.field(default_factory=lambda: DEFAULT_RULES)
    workstreams: Mapping[str, Workstream] = msgspec.field(default_factory=dict)
    network_rules: Mapping[tuple[str, State], Rule] = msgspec.field(default_factory=dict)

    def rule(self, channel: Channel, state: State, network: str | None = None) -> Rule | None:
        """The rule of (channel, state) for a conversation on `network`, or None where the table has no cell."""
        if network is not None:
            override = self.network_rules.get((network, state))
            if override is not None and override.channel is channel:
                return override
        return self.rules.get((channel, state))

    def workstream(self, key: str | None) -> Workstream | None:
        """The workstream a conversation names, by name or by id."""
        if key is None:
            return None
        return self._workstreams_by_key.get(key)

    @functools.cached_property
    def _workstreams_by_key(self) -> dict[str, Workstream]:
        index = {stream.id: stream for stream in self.workstreams.values() if stream.id is not None}
        return index | {stream.name: stream for stream in self.workstreams.values()}

    def networks_of(self, channel: Channel, state: State) -> dict[str, Rule]:
        """The networks of `channel` whose `state` rule differs from the channel's."""
        return {n: r for (n, s), r in self.network_rules.items() if s is state and r.channel is channel}


class Verdict(msgspec.Struct, frozen=True):
    """What the policy says of one conversation: what applies, and when it becomes due."""

    applies: str
    """The rule, workstream setting or record that decides, in words."""
    rule: str | None
    threshold_minutes: int | None
    target: State | None
    reason: Reason | None
    due_at: datetime | None
    """The instant after which the conversation is eligible; None when it never is."""
    never_because: str | None = None

    def is_due(self, now: datetime) -> bool:
        """Eligible at `now`: idle strictly more than the threshold."""
        return self.due_at is not None and self.due_at < now


def _never(applies: str, because: str, rule: str | None = None) -> Verdict:
    return Verdict(applies, rule, None, None, None, None, never_because=because)


def explain(conversation: Conversation, policy: Policy, deleted_records: Set[str] = frozenset()) -> Verdict:
    """Which rule or setting applies to `conversation`, its threshold, target and due instant."""
    channel, state = conversation.channel, conversation.state
    if state is State.CLOSED:
        return _never("closed is final", "the conversation is closed")
    if channel is Channel.CASE and state in (State.OPEN, State.ACTIVE):
        return _explain_case(conversation, deleted_records)
    if state is State.WAITING:
        return _explain_waiting(conversation, policy)
    rule = policy.rule(channel, state, conversation.network)
    if rule is None:
        return _never(f"no rule for {channel}/{state}", f"{channel} has no {state} rule")
    applies = f"rule {rule.name} ({rule.source})"
    threshold = rule.minutes
    if threshold is not None and state is State.WRAP_UP:
        block = _wrap_up_block(conversation, policy)
        if block is not None and block > threshold:
            stream = policy.workstream(conversation.workstream)
            assert stream is not None
            applies = f"workstream '{stream.name}' wrap-up block (longer than {applies})"
            threshold = block
    if threshold is None:
        return _never(applies, f"rule {rule.name} is set to never", rule.name)
    reason = Reason.AUTO_CLOSED_BY_SYSTEM
    return Verdict(
        applies, rule.name, threshold, rule.target, reason,
        shift(conversation.modified_on, threshold),
    )  # fmt: skip


def _wrap_up_block(conversation: Conversation, policy: Policy) -> int | None:
    stream = policy.workstream(conversation.workstream)
    return stream.wrap_up_block if stream else None


def _explain_case(conversation: Conversation, deleted_records: Iterable[str]) -> Verdict:
    record = conversation.record_id
    if record is not None and record in deleted_records:
        return Verdict(
            f"linked record '{record}' was deleted", RECORD_DELETED_RULE, 0,
            State.CLOSED, Reason.RECORD_DELETED, conversation.modified_on,
        )  # fmt: skip
    because = f"it closes when its linked record '{record}' is deleted" if record else "it has no linked record"
    return _never("case conversations close with their record", because)


def _explain_waiting(conversation: Conversation, policy: Policy) -> Verdict:
    key = conversation.workstream
    if key is None:
        return _never("waiting needs a workstream", "the conversation has no workstream")
    stream = policy.workstream(key)
    if stream is None:
        return _never(f"workstream '{key}'", f"workstream '{key}' is not configured")
    name = stream.name
    applies = f"workstream '{name}' auto-close after inactivity"
    if stream.auto_close_after is None:
        return _never(applies, f"workstream '{name}' has no auto-close after inactivity")
    return Verdict(
        applies, f"workstream:{name}", stream.auto_close_after, State.CLOSED,
        Reason.AUTO_CLOSED_FROM_WAITING,
        shift(conversation.modified_on, stream.auto_close_after),
    )  # fmt: skip


class Transition(msgspec.Struct, frozen=True, gc=False):
    """One planned move of one conversation, named by its id."""

    id: str
    channel: Channel
    from_state: State
    to_state: State
    reason: Reason
    rule: str
    threshold_minutes: int
    idle_minutes: int
    modified_on: datetime
    """The stamp the plan saw: a store moves the conversation only if it is still this (and the state)."""
    conversation: Conversation | None = None
    """The conversation as the plan saw it, for listings."""

    @property
    def due_at(self) -> datetime:
        """The instant after which the conversation was eligible."""
        return ahead(self.modified_on, self.threshold_minutes)


def order_key(transition: Transition) -> tuple[float, str]:
    """How moves are listed and applied: soonest due first, then by id.

    Seconds since 1970 rather than the due instant itself: comparing aware datetimes with
    different offsets converts both on every comparison, which made sorting a million slow.
    """
    return transition.modified_on.timestamp() + transition.threshold_minutes * 60, transition.id


class Cutoff(msgspec.Struct, frozen=True):
    """One cell of the policy at an instant: which conversations are due, and where they go.

    A conversation belongs to the cell when its channel (any, if None) and state match, its
    workstream is one of `workstreams` (when given) and none of `other_workstreams`, its
    network likewise, and (for `record_deleted`) its linked record is deleted. It is due when
    its `modified_on` is strictly before `before`. Cells never overlap, so a database can
    select each with one index range scan.
    """

    channel: Channel | None
    state: State
    before: datetime
    target: State
    reason: Reason
    rule: str
    threshold_minutes: int
    workstreams: frozenset[str] | None = None
    other_workstreams: frozenset[str] = frozenset()
    networks: frozenset[str] | None = None
    other_networks: frozenset[str] = frozenset()
    record_deleted: bool = False

    def holds(self, conversation: Conversation, deleted_records: Set[str] = frozenset()) -> bool:
        """Whether `conversation` is in this cell (whatever its `modified_on`)."""
        return (
            (self.channel is None or conversation.channel is self.channel)
            and conversation.state is self.state
            and _in(conversation.workstream, self.workstreams, self.other_workstreams)
            and _in(conversation.network, self.networks, self.other_networks)
            and (not self.record_deleted or conversation.record_id in deleted_records)
        )

    def transition(self, conversation: Conversation, now: datetime) -> Transition:
        """The move of a conversation of this cell, due at `now`."""
        return Transition(
            conversation.id, conversation.channel, conversation.state, self.target, self.reason, self.rule,
            self.threshold_minutes, minutes_between(conversation.modified_on, now), conversation.modified_on,
            conversation,
        )  # fmt: skip


def _in(value: str | None, only: frozenset[str] | None, others: frozenset[str]) -> bool:
    return (only is None or value in only) and value not in others


def cutoffs(policy: Policy, now: datetime) -> list[Cutoff]:
    """Every cell of `policy` in which a conversation can be due at `now`, with its cutoff instant.

    Pure, and equivalent to `explain(c).is_due(now)` for every conversation `c` (a property
    test holds it to that); cells whose cutoff falls before the year 1 are left out, since
    nothing in them can be due.
    """
    cells: list[Cutoff | None] = []
    for (channel, state), rule in policy.rules.items():
        if channel is Channel.CASE or state not in RULE_STATES:
            continue
        networks = policy.networks_of(channel, state)
        for network, override in networks.items():
            cells.extend(_rule_cells(policy, override, now, networks=frozenset({network})))
        cells.extend(_rule_cells(policy, rule, now, other_networks=frozenset(networks)))
    for stream in policy.workstreams.values():
        if stream.auto_close_after is not None:
            cells.append(_cell(
                now, None, State.WAITING, stream.auto_close_after, State.CLOSED, Reason.AUTO_CLOSED_FROM_WAITING,
                f"workstream:{stream.name}", workstreams=stream.keys,
            ))  # fmt: skip
    for state in (State.OPEN, State.ACTIVE):
        cells.append(_cell(
            now, Channel.CASE, state, 0, State.CLOSED, Reason.RECORD_DELETED, RECORD_DELETED_RULE,
            record_deleted=True,
        ))  # fmt: skip
    return [cell for cell in cells if cell is not None]


RECORD_DELETED_RULE = "case/record-deleted"


def _rule_cells(policy: Policy, rule: Rule, now: datetime, **networks: frozenset[str]) -> list[Cutoff | None]:
    """A rule's cell (none if it never fires); a wrap-up rule's is split off per workstream whose longer block wins."""
    if rule.minutes is None:
        return []
    reason = Reason.AUTO_CLOSED_BY_SYSTEM
    if rule.state is not State.WRAP_UP:
        return [_cell(now, rule.channel, rule.state, rule.minutes, rule.target, reason, rule.name, **networks)]
    longer = [
        stream for stream in policy.workstreams.values()
        if stream.wrap_up_block is not None and stream.wrap_up_block > rule.minutes
    ]  # fmt: skip
    cells = [
        _cell(
            now,
            rule.channel,
            rule.state,
            stream.wrap_up_block,
            rule.target,
            reason,
            rule.name,
            workstreams=stream.keys,
            **networks,
        )  # fmt: skip
        for stream in longer
        if stream.wrap_up_block is not None
    ]
    taken = frozenset().union(*(stream.keys for stream in longer))
    cells.append(
        _cell(now, rule.channel, rule.state, rule.minutes, rule.target, reason, rule.name,
              other_workstreams=taken, **networks)
    )  # fmt: skip
    return cells


def _cell(
    now: datetime,
    channel: Channel | None,
    state: State,
    minutes: int,
    target: State,
    reason: Reason,
    rule: str,
    **selector: Any,
) -> Cutoff | None:
    try:
        before = now - timedelta(minutes=minutes)
    except OverflowError:
        return None  # a cutoff before the year 1: nothing is that old
    return Cutoff(channel, state, before, target, reason, rule, minutes, **selector)


class _Cutoff(msgspec.Struct, frozen=True):
    before: datetime | None
    """Due when modified_on is strictly before this; None: nothing can be due."""
    target: State
    reason: Reason
    rule: str
    threshold: int


def _cutoff(now: datetime, verdict: Verdict) -> _Cutoff:
    assert verdict.target is not None and verdict.reason is not None
    threshold = verdict.threshold_minutes or 0
    try:
        before: datetime | None = now - timedelta(minutes=threshold)
    except OverflowError:
        before = None
    return _Cutoff(before, verdict.target, verdict.reason, verdict.rule or "", threshold)


def plan(
    conversations: Iterable[Conversation],
    policy: Policy,
    now: datetime,
    deleted_records: Set[str] = frozenset(),
) -> list[Transition]:
    """Every transition a sweep at `now` makes: one for each conversation that is due, in store order.

    The reference: `explain(c).is_due(now)` for every `c`, but with one cutoff instant per
    verdict instead of per-conversation arithmetic, since stores hold millions of conversations.
    The cells whose verdict depends on nothing but (channel, state) are looked up first.
    """
    cutoffs: dict[tuple[Channel, State, str | None, str | None], _Cutoff | None] = {}
    simple = _simple_cutoffs(policy, now)
    transitions: list[Transition] = []
    append = transitions.append
    closed = State.CLOSED
    minute = timedelta(minutes=1)
    for conversation in conversations:
        state = conversation.state
        if state is closed:
            continue
        cell = (conversation.channel, state)
        if cell in simple:
            cutoff = simple[cell]
        else:
            key = _cutoff_key(conversation, policy, deleted_records)
            if key in cutoffs:
                cutoff = cutoffs[key]
            else:
                verdict = explain(conversation, policy, deleted_records)
                cutoff = cutoffs[key] = _cutoff(now, verdict) if verdict.target else None
        if cutoff is None or cutoff.before is None:
            continue
        modified_on = conversation.modified_on
        if modified_on < cutoff.before:
            append(
                Transition(
                    conversation.id,
                    conversation.channel,
                    state,
                    cutoff.target,
                    cutoff.reason,
                    cutoff.rule,
                    cutoff.threshold,
                    (now - modified_on) // minute,
                    modified_on,
                    conversation,
                )  # fmt: skip
            )
    return transitions


def _simple_cutoffs(policy: Policy, now: datetime) -> dict[tuple[Channel, State], _Cutoff | None]:
    """Cutoffs of the cells whose verdict depends on (channel, state) alone."""
    cells: dict[tuple[Channel, State], _Cutoff | None] = {}
    for channel, state in policy.rules:
        if channel is Channel.CASE or (state is State.WRAP_UP and policy.workstreams):
            continue  # case: its record decides; wrap-up: a workstream's block may
        if policy.networks_of(channel, state):
            continue  # a network's rule may
        verdict = explain(Conversation("", channel, state, now), policy)
        cells[channel, state] = _cutoff(now, verdict) if verdict.target else None
    return cells


def _cutoff_key(
    conversation: Conversation, policy: Policy, deleted_records: Set[str]
) -> tuple[Channel, State, str | None, str | None]:
    """Conversations with equal keys share a verdict (up to their own modified_on)."""
    channel, state = conversation.channel, conversation.state
    if channel is Channel.CASE and state in (State.OPEN, State.ACTIVE):  # as in explain()
        record = conversation.record_id
        return channel, state, "deleted" if record in deleted_records else None, None
    network = conversation.network if policy.network_rules else None
    if state is State.WAITING or (state is State.WRAP_UP and policy.workstreams):
        return channel, state, conversation.workstream, network
    return channel, state, None, network
