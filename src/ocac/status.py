"""The numbers behind `ocac status`. Pure."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from ocac.durations import format_minutes
from ocac.instants import ahead, format_instant, minutes_between
from ocac.model import Channel, State
from ocac.policy import Policy, plan
from ocac.store.document import Document, SweepMarker


@dataclass(frozen=True)
class Summary:
    """Counts, due figures, the oldest open conversation per channel, the last sweep."""

    now: datetime
    interval_minutes: int
    counts: dict[Channel, dict[State, int]]
    due_now: int
    due_next: int
    oldest: dict[Channel, tuple[str, int]]
    last_sweep: SweepMarker | None

    @property
    def now_text(self) -> str:
        return format_instant(self.now)

    @property
    def interval_text(self) -> str:
        return format_minutes(self.interval_minutes)

    @property
    def last_sweep_text(self) -> str:
        if self.last_sweep is None:
            return "last sweep: none recorded in this store"
        return f"last sweep: {self.last_sweep.at}, moved {self.last_sweep.moved} (run {self.last_sweep.run_id})"

    def to_json(self) -> dict[str, object]:
        return {
            "now": self.now_text,
            "counts": {str(c): {str(s): n for s, n in row.items()} for c, row in self.counts.items()},
            "due_now": self.due_now,
            "due_next_sweep": self.due_next,
            "interval_minutes": self.interval_minutes,
            "oldest_open": {str(c): {"id": i, "idle_minutes": m} for c, (i, m) in self.oldest.items()},
            "last_sweep": None if self.last_sweep is None else {
                "run_id": self.last_sweep.run_id, "at": self.last_sweep.at, "moved": self.last_sweep.moved,
            },
        }  # fmt: skip


def summarise(document: Document, policy: Policy, now: datetime, interval_minutes: int) -> Summary:
    """The status of the floor at `now`."""
    counts: dict[Channel, dict[State, int]] = defaultdict(lambda: defaultdict(int))
    oldest: dict[Channel, tuple[str, datetime]] = {}
    for conversation in document.conversations:
        counts[conversation.channel][conversation.state] += 1
        if conversation.state is State.CLOSED:
            continue
        best = oldest.get(conversation.channel)
        if best is None or conversation.modified_on < best[1]:
            oldest[conversation.channel] = (conversation.id, conversation.modified_on)
    deleted = document.deleted_records
    due_now = len(plan(document.conversations, policy, now, deleted))
    due_next = len(plan(document.conversations, policy, ahead(now, interval_minutes), deleted))
    return Summary(
        now, interval_minutes,
        {c: dict(row) for c, row in counts.items()}, due_now, due_next,
        {c: (i, minutes_between(m, now)) for c, (i, m) in sorted(oldest.items())},
        document.meta.last_sweep,
    )  # fmt: skip
