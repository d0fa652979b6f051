"""The sweep: plan (pure, in `ocac.policy`) and the executor that applies a plan atomically."""

from __future__ import annotations

import os
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ocac import history, store
from ocac.instants import format_instant
from ocac.policy import Policy, Transition, plan
from ocac.store.document import Document, SweepMarker


@dataclass(frozen=True)
class SweepResult:
    """What a sweep planned and whether it was applied."""

    run_id: str
    now: datetime
    dry_run: bool
    transitions: list[Transition]
    considered: int
    written: bool

    def summary(self) -> Counter[tuple[str, str]]:
        """Counts by (channel, target state)."""
        return Counter((str(t.channel), str(t.to_state)) for t in self.transitions)

    def to_json(self) -> dict[str, object]:
        """The document `sweep run --json` prints."""
        return {
            "run_id": self.run_id,
            "now": format_instant(self.now),
            "dry_run": self.dry_run,
            "applied": self.written,
            "considered": self.considered,
            "moved": len(self.transitions),
            "transitions": [transition_json(t) for t in self.transitions],
        }


def transition_json(transition: Transition) -> dict[str, object]:
    """One transition as JSON."""
    return {
        "id": transition.id,
        "channel": str(transition.channel),
        "from": str(transition.from_state),
        "to": str(transition.to_state),
        "reason": str(transition.reason),
        "rule": transition.rule,
        "idle_minutes": transition.idle_minutes,
        "threshold_minutes": transition.threshold_minutes,
        "modified_on": format_instant(transition.modified_on),
    }


def new_run_id(now: datetime) -> str:
    """A unique, sortable id for one sweep."""
    return f"{now:%Y%m%dT%H%M%S}Z-{secrets.token_hex(4)}"


def plan_sweep(document: Document, policy: Policy, now: datetime) -> list[Transition]:
    """The transitions due in `document` at `now`."""
    return plan(document.conversations, policy, now, document.deleted_records)


def apply(document: Document, transitions: list[Transition], now: datetime) -> None:
    """Move each planned conversation to its target and restart its clock at `now`."""
    conversations = document.conversations
    for transition in transitions:
        conversation = conversations[transition.index]
        conversation.state = transition.to_state
        conversation.modified_on = now
    document.mark_changed((t.index for t in transitions), ("state", "modified_on"))


def history_records(run_id: str, now: datetime, transitions: list[Transition]) -> list[history.Record]:
    """The audit records of an applied sweep."""
    at = format_instant(now)
    record = history.Record
    return [
        record(
            run_id, at, t.id, t.channel, t.from_state, t.to_state, t.reason, t.rule, t.threshold_minutes,
            t.idle_minutes,
        )  # fmt: skip
        for t in transitions
    ]


def _silent(step: str) -> None:
    """No progress report."""


def run_sweep(
    store_path: Path,
    policy: Policy,
    now: datetime,
    *,
    dry_run: bool,
    lock_timeout: float,
    progress: Callable[[str], None] = _silent,
) -> SweepResult:
    """Plan and, unless `dry_run`, apply a sweep at `now`, with its history, under the store lock.

    `progress` is told each phase (for a progress bar on large stores).
    """
    run_id = new_run_id(now)
    progress("loading store")
    if not dry_run and not os.path.lexists(store_path):
        return SweepResult(run_id, now, False, [], 0, False)  # nothing to sweep: no lock, no folders made
    if dry_run:
        document = store.load(store_path)
        progress("planning")
        transitions = plan_sweep(document, policy, now)
        return SweepResult(run_id, now, True, transitions, len(document.conversations), False)
    with store.transaction(store_path, lock_timeout) as txn:
        document = txn.document
        progress("planning")
        transitions = plan_sweep(document, policy, now)
        if not transitions:
            return SweepResult(run_id, now, False, [], len(document.conversations), False)
        progress("writing store and history")
        apply(document, transitions, now)
        log = store.history_path(store_path)
        lines = history.encode_entries(history_records(run_id, now, transitions))
        previous = history.size(log)
        document.set_marker(SweepMarker(run_id, format_instant(now), len(transitions), previous + len(lines)))
        written = txn.commit(before_replace=lambda: history.append(log, lines, like=store_path))
        return SweepResult(run_id, now, False, transitions, len(document.conversations), written)
