"""What a configuration change would do to the store: pure, like the policy it compares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ocac.instants import ahead as later
from ocac.model import Conversation
from ocac.policy import Policy, plan

HORIZONS = (("now", timedelta(0)), ("within_1h", timedelta(hours=1)), ("within_1d", timedelta(days=1)))
EXAMPLES = 5


@dataclass(frozen=True)
class Horizon:
    """Due counts at one horizon under the current and the new policy."""

    name: str
    before: int
    after: int
    newly_due: list[str]
    no_longer_due: list[str]

    def to_json(self) -> dict[str, object]:
        """The horizon as JSON."""
        return {
            "before": self.before, "after": self.after, "difference": self.after - self.before,
            "examples_newly_due": self.newly_due, "examples_no_longer_due": self.no_longer_due,
        }  # fmt: skip


def impact(
    conversations: Sequence[Conversation],
    before: Policy,
    after: Policy,
    now: datetime,
    deleted_records: set[str] | frozenset[str] = frozenset(),
) -> list[Horizon]:
    """How many conversations are due now, within an hour and within a day, before and after."""
    horizons = []
    for name, ahead in HORIZONS:
        instant = later(now, ahead // timedelta(minutes=1))  # clamped at the year 9999
        old = {t.id for t in plan(conversations, before, instant, deleted_records)}
        new = {t.id for t in plan(conversations, after, instant, deleted_records)}
        horizons.append(Horizon(name, len(old), len(new), sorted(new - old)[:EXAMPLES], sorted(old - new)[:EXAMPLES]))
    return horizons


def summary_line(horizons: list[Horizon]) -> str:
    """One line: the next sweep's count before → after, and the differences ahead."""
    now, hour, day = horizons
    parts = [f"next sweep would move {now.before} → {now.after}"]
    for horizon, label in ((hour, "within 1h"), (day, "within 1d")):
        parts.append(f"{label}: {horizon.after - horizon.before:+d}")
    line = "; ".join(parts)
    if now.newly_due:
        line += f" (newly due e.g. {', '.join(now.newly_due[:3])})"
    elif now.no_longer_due:
        line += f" (no longer due e.g. {', '.join(now.no_longer_due[:3])})"
    return line
