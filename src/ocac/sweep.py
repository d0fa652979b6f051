"""The sweep: the policy's plan (pure, `ocac.policy`) applied by a store, and what it reports."""

from __future__ import annotations

import shlex
import subprocess
from collections import Counter
from datetime import datetime
from pathlib import Path

import msgspec

from ocac.audit import Audit
from ocac.errors import InvalidInput, NotifyFailed
from ocac.instants import format_instant
from ocac.policy import Policy, Transition
from ocac.store import Store

NOTIFY_TIMEOUT = 120
"""Seconds a notify command may take."""


class SweepResult(msgspec.Struct, frozen=True):
    """What a sweep planned, whether it was applied, and with which configuration."""

    run_id: str
    now: datetime
    dry_run: bool
    transitions: list[Transition]
    considered: int | None
    written: bool
    config: Path | None = None
    """The configuration file used, or None for the built-in defaults."""
    skipped: str | None = None
    """Why the sweep did not run (another host's sweep holds the store), or None."""
    moved: int | None = None
    """How many moved, when the transitions were left out (a quiet run)."""

    @property
    def count(self) -> int:
        """How many conversations moved (or would move)."""
        return len(self.transitions) if self.moved is None else self.moved

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
            "skipped": self.skipped,
            "config": None if self.config is None else str(self.config),
            "considered": self.considered,
            "moved": self.count,
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


def run_sweep(
    store: Store, policy: Policy, audit: Audit, *, dry_run: bool, config: Path | None, details: bool = True
) -> SweepResult:
    """Plan a sweep at `audit.at` and, unless `dry_run`, have the store apply it with its history.

    Without `details` (a quiet run) the result may leave the transitions out and say only how many moved.
    """
    if dry_run:
        transitions = store.due(policy, audit.at)
        considered = sum(store.counts().values())
        return SweepResult(audit.run_id, audit.at, True, transitions, considered, False, config)
    outcome = store.sweep(policy, audit, details=details)
    return SweepResult(
        audit.run_id, audit.at, False, outcome.transitions, outcome.considered, outcome.written, config,
        outcome.skipped, outcome.count,
    )  # fmt: skip


def notify_argv(command: str) -> list[str]:
    """The notify command split into arguments (no shell); a bad one is refused before the sweep."""
    try:
        argv = shlex.split(command)
    except ValueError as error:
        raise InvalidInput(f"--notify-command: {error}: fix the quoting") from None
    if not argv:
        raise InvalidInput("--notify-command is empty: give a command, or leave the option out")
    return argv


def notify(argv: list[str], result: SweepResult) -> None:
    """Run the notify command with the sweep as JSON on stdin; a failure is reported, the sweep stands."""
    payload = msgspec.json.encode(result.to_json())
    try:
        completed = subprocess.run(argv, input=payload, capture_output=True, timeout=NOTIFY_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise NotifyFailed(f"sweep committed, but --notify-command failed: {error}") from None
    if completed.returncode != 0:
        detail = completed.stderr.decode(errors="replace").strip().splitlines()
        tail = f": {detail[-1]}" if detail else ""
        raise NotifyFailed(f"sweep committed, but --notify-command exited with {completed.returncode}{tail}")
