"""Selecting and describing conversations for `conversations list/show` and `status`. Pure."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ocac.instants import format_instant, minutes_between, shift
from ocac.model import Channel, Conversation, State
from ocac.policy import Policy, Transition, Verdict, explain, plan

_NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Filters:
    """What `conversations list` selects."""

    channels: frozenset[Channel] = frozenset()
    states: frozenset[State] = frozenset()
    workstream: str | None = None
    due_by: datetime | None = None
    """Only conversations eligible at this instant (`--due`, `--due-within`)."""
    limit: int | None = None

    def matches(self, conversation: Conversation) -> bool:
        """Whether the conversation passes the channel, state and workstream filters."""
        return (
            (not self.channels or conversation.channel in self.channels)
            and (not self.states or conversation.state in self.states)
            and (self.workstream is None or conversation.workstream == self.workstream)
        )


@dataclass(frozen=True)
class Row:
    """A conversation with its verdict at `now`."""

    conversation: Conversation
    verdict: Verdict
    now: datetime

    @property
    def idle_minutes(self) -> int:
        """Minutes since the last change (negative when modified_on is in the future)."""
        return minutes_between(self.conversation.modified_on, self.now)

    @property
    def in_future(self) -> bool:
        """modified_on is after `now`: the clock or the data is wrong; never swept until then."""
        return self.conversation.modified_on > self.now

    def sort_key(self) -> tuple[int, datetime, str]:
        """Soonest due first; never-due last. Aware instants compare correctly across offsets."""
        due = self.verdict.due_at
        if due is None:
            return (1, _NEVER, self.conversation.id)
        return (0, due, self.conversation.id)

    def to_json(self) -> dict[str, object]:
        """The object `conversations list --json` prints."""
        c, v = self.conversation, self.verdict
        return {
            "id": c.id,
            "channel": str(c.channel),
            "state": str(c.state),
            "modified_on": format_instant(c.modified_on),
            "workstream": c.workstream,
            "record_id": c.record_id,
            "idle_minutes": self.idle_minutes,
            "due_at": format_instant(v.due_at) if v.due_at else None,
            "due": v.is_due(self.now),
            "target": str(v.target) if v.target else None,
            "reason": str(v.reason) if v.reason else None,
            "rule": v.rule,
            "threshold_minutes": v.threshold_minutes,
            "in_future": self.in_future,
        }


def select(
    conversations: Sequence[Conversation],
    policy: Policy,
    now: datetime,
    filters: Filters,
    deleted_records: set[str] | frozenset[str] = frozenset(),
) -> list[Row]:
    """The rows `conversations list` shows, soonest due first."""
    if filters.due_by is not None:
        return _select_due(conversations, policy, now, filters, deleted_records)
    rows = (Row(c, explain(c, policy, deleted_records), now) for c in conversations if filters.matches(c))
    if filters.limit is not None:
        return heapq.nsmallest(filters.limit, rows, key=Row.sort_key)
    return sorted(rows, key=Row.sort_key)


def _select_due(
    conversations: Sequence[Conversation],
    policy: Policy,
    now: datetime,
    filters: Filters,
    deleted_records: set[str] | frozenset[str],
) -> list[Row]:
    """Due conversations: ordered from the plan's thresholds, explained only once selected."""
    assert filters.due_by is not None
    due = [
        t
        for t in plan(conversations, policy, filters.due_by, deleted_records)
        if filters.matches(conversations[t.index])
    ]

    def key(transition: Transition) -> tuple[int, datetime, str]:
        due_at = shift(transition.modified_on, transition.threshold_minutes)
        return (0, due_at, transition.id) if due_at else (1, _NEVER, transition.id)

    chosen = heapq.nsmallest(filters.limit, due, key=key) if filters.limit is not None else sorted(due, key=key)
    return [Row(c, explain(c, policy, deleted_records), now) for c in (conversations[t.index] for t in chosen)]
