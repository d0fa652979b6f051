"""The numbers behind `ocac status`: counts, what is due, the oldest open conversations, the last sweep."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import msgspec

from ocac.audit import SweepSummary
from ocac.durations import format_minutes
from ocac.instants import ahead, format_instant, minutes_between
from ocac.model import Channel, State
from ocac.policy import Policy
from ocac.store import Store


class Summary(msgspec.Struct, frozen=True):
    """Counts, due figures, the oldest open conversation per channel, the last sweep."""

    now: datetime
    interval_minutes: int
    counts: dict[Channel, dict[State, int]]
    due_now: int
    due_next: int
    oldest: dict[Channel, tuple[str, int]]
    last_sweep: SweepSummary | None
    config: Path | None = None
    """The configuration file used, or None for the built-in defaults."""

    @property
    def now_text(self) -> str:
        return format_instant(self.now)

    @property
    def interval_text(self) -> str:
        return format_minutes(self.interval_minutes)

    @property
    def sweep_age_minutes(self) -> int | None:
        """Minutes since the last sweep, or None when none is recorded."""
        return None if self.last_sweep is None else minutes_between(self.last_sweep.at, self.now)

    def to_json(self) -> dict[str, object]:
        return {
            "now": self.now_text,
            "config": None if self.config is None else str(self.config),
            "counts": {str(c): {str(s): n for s, n in row.items()} for c, row in self.counts.items()},
            "due_now": self.due_now,
            "due_next_sweep": self.due_next,
            "interval_minutes": self.interval_minutes,
            "oldest_open": {str(c): {"id": i, "idle_minutes": m} for c, (i, m) in self.oldest.items()},
            "last_sweep": None
            if self.last_sweep is None
            else self.last_sweep.to_json() | {"age_minutes": self.sweep_age_minutes},
        }


def summarise(store: Store, policy: Policy, now: datetime, interval_minutes: int, config: Path | None) -> Summary:
    """The status of the floor at `now`."""
    counts: dict[Channel, dict[State, int]] = {}
    for (channel, state), n in sorted(store.counts().items()):
        counts.setdefault(channel, {})[state] = n
    due_now = sum(store.count_due(policy, now).values())
    due_next = sum(store.count_due(policy, ahead(now, interval_minutes)).values())
    oldest = {c: (i, minutes_between(m, now)) for c, (i, m) in sorted(store.oldest_open().items())}
    return Summary(now, interval_minutes, counts, due_now, due_next, oldest, store.last_sweep(), config)
