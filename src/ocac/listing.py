"""Selecting and describing conversations for `conversations list` and `show`."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import UTC, datetime

import msgspec

from ocac.instants import format_instant, minutes_between
from ocac.model import Conversation
from ocac.policy import Policy, Transition, Verdict, explain
from ocac.store import Selection, Store

_NEVER = datetime.max.replace(tzinfo=UTC)


class Row(msgspec.Struct, frozen=True):
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
            "network": c.network,
            "idle_minutes": self.idle_minutes,
            "due_at": format_instant(v.due_at) if v.due_at else None,
            "due": v.is_due(self.now),
            "target": str(v.target) if v.target else None,
            "reason": str(v.reason) if v.reason else None,
            "rule": v.rule,
            "threshold_minutes": v.threshold_minutes,
            "in_future": self.in_future,
        }


class Listing(msgspec.Struct, frozen=True):
    """The rows a listing shows, and how many matched before a limit cut them (None: not counted)."""

    rows: list[Row]
    total: int | None

    @property
    def cut(self) -> bool:
        """Whether a limit left matching conversations out (as far as they were counted)."""
        return self.total is not None and self.total > len(self.rows)


def select(
    store: Store,
    policy: Policy,
    now: datetime,
    selection: Selection,
    *,
    due_by: datetime | None = None,
    limit: int | None = None,
    count: bool = True,
) -> Listing:
    """What `conversations list` shows, soonest due first.

    With `due_by`, only conversations a sweep at that instant would move: the store selects
    them with its indexes and reads about `limit` of them; counting those a limit leaves out
    reads every due one, so `count=False` skips it (the total is then None when cut).
    """
    if due_by is not None:
        transitions = store.due(policy, due_by, selection=selection, limit=limit)
        total: int | None = len(transitions)
        if limit is not None and len(transitions) >= limit:
            total = sum(store.count_due(policy, due_by, selection=selection).values()) if count else None
        return Listing([_due_row(t, now) for t in transitions], total)
    deleted = frozenset(store.deleted_records())
    rows = (Row(c, explain(c, policy, deleted), now) for c in store.select(selection))
    if limit is None:
        chosen = sorted(rows, key=Row.sort_key)
        return Listing(chosen, len(chosen))
    if limit == 0:  # nsmallest would not read a row: count them for the "0 of N" footer
        return Listing([], sum(1 for _ in rows))
    seen = 0

    def counted() -> Iterator[Row]:
        nonlocal seen
        for row in rows:
            seen += 1
            yield row

    chosen = heapq.nsmallest(limit, counted(), key=Row.sort_key)
    return Listing(chosen, seen)


def _due_row(transition: Transition, now: datetime) -> Row:
    """A due conversation's row, its verdict read off the cell that selected it."""
    assert transition.conversation is not None
    verdict = Verdict(
        f"rule {transition.rule}", transition.rule, transition.threshold_minutes, transition.to_state,
        transition.reason, transition.due_at,
    )  # fmt: skip
    return Row(transition.conversation, verdict, now)
