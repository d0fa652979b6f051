"""What a configuration change would do to the store: due counts before and after, at three horizons."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from ocac.durations import format_minutes
from ocac.errors import OcacError
from ocac.instants import ahead
from ocac.model import Channel, State
from ocac.policy import Policy, Rule
from ocac.store import Store

HORIZONS = (("now", timedelta(0)), ("within_1h", timedelta(hours=1)), ("within_1d", timedelta(days=1)))
EXAMPLES = 5


class Horizon(msgspec.Struct, frozen=True):
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


def impact(store: Store, before: Policy, after: Policy, now: datetime) -> list[Horizon]:
    """How many conversations are due now, within an hour and within a day, before and after."""
    horizons = []
    for name, offset in HORIZONS:
        instant = ahead(now, offset // timedelta(minutes=1))  # clamped at the year 9999
        old = {t.id for t in store.due(before, instant)}
        new = {t.id for t in store.due(after, instant)}
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


Target = tuple[Channel, State, str | None]
"""A cell a configuration edit names: channel, state and, for a network's rule, the network."""


class CellChange(msgspec.Struct, frozen=True):
    """One rule a configuration edit changes (or would change)."""

    channel: Channel
    state: State
    network: str | None
    old: Rule
    new: Rule

    def to_json(self) -> dict[str, object]:
        return {
            "channel": str(self.channel), "network": self.network, "state": str(self.state),
            "old": format_minutes(self.old.minutes), "new": format_minutes(self.new.minutes),
            "old_minutes": self.old.minutes, "new_minutes": self.new.minutes, "target": str(self.new.target),
        }  # fmt: skip

    def line(self) -> str:
        """`chat open: 20m → 30m`."""
        name = self.network or self.channel
        return f"{name} {self.state}: {format_minutes(self.old.minutes)} → {format_minutes(self.new.minutes)}"


class Report(msgspec.Struct, frozen=True):
    """What a configuration edit changed, and what that does to the store (or why that is unknown)."""

    cells: list[CellChange]
    horizons: list[Horizon] | None
    problem: str | None


def report(store: Store, before: Policy, after: Policy, cells: list[Target], now: datetime) -> Report:
    """The changed cells and their impact on the store.

    The edit stands whatever the store holds: a store that cannot be read makes the impact
    unknown (`problem` says why), not the edit fail.
    """
    changes = []
    for channel, state, network in cells:
        old, new = before.rule(channel, state, network), after.rule(channel, state, network)
        assert old is not None and new is not None
        changes.append(CellChange(channel, state, network, old, new))
    try:
        return Report(changes, impact(store, before, after, now), None)
    except OcacError as error:
        return Report(changes, None, str(error))
