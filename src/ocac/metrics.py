"""`ocac metrics`: the store's figures in the OpenMetrics text format, for Prometheus.

Gauges only: a scrape (or node_exporter's textfile collector reading the file `--output`
writes) sees the store as it is. The text ends with `# EOF`, as OpenMetrics requires.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from ocac import __version__
from ocac.instants import EPOCH_UTC
from ocac.model import Channel, State, waiting_problem
from ocac.policy import Policy
from ocac.store import Store

Sample = tuple[dict[str, str], float]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, help_text: str, samples: Iterable[Sample]) -> list[str]:
    lines = [f"# TYPE {name} gauge", f"# HELP {name} {help_text}"]
    for labels, value in samples:
        shown = ",".join(f'{key}="{_escape(text)}"' for key, text in labels.items())
        lines.append(f"{name}{{{shown}}} {_number(value)}" if shown else f"{name} {_number(value)}")
    return lines


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def exposition(store: Store, policy: Policy, now: datetime) -> str:
    """The OpenMetrics text for the store at `now`."""
    counts = store.counts()
    due = store.count_due(policy, now)
    oldest = store.oldest_open()
    last = store.last_sweep()
    lines = ["# TYPE ocac info", "# HELP ocac ocac's version and the store's backend.",
             f'ocac_info{{version="{_escape(__version__)}",backend="{store.backend}"}} 1']  # fmt: skip
    lines += _family("ocac_conversations", "Conversations in the store, by channel and state.", (
        ({"channel": str(channel), "state": str(state)}, counts.get((channel, state), 0))
        for channel in Channel for state in State
        if waiting_problem(channel, state) is None
    ))  # fmt: skip
    lines += _family("ocac_due_conversations", "Conversations a sweep now would move, by channel.", (
        ({"channel": str(channel)}, due.get(channel, 0)) for channel in Channel
    ))  # fmt: skip
    ages = ((c, (now - instant).total_seconds()) for c, (_id, instant) in sorted(oldest.items()))
    lines += _family("ocac_oldest_open_age_seconds", "Age of the longest-idle conversation that is not closed.", (
        ({"channel": str(channel)}, age) for channel, age in ages
    ))  # fmt: skip
    if last is not None:
        lines += _family("ocac_last_sweep_timestamp_seconds", "When the last sweep ran (Unix time).", [
            ({}, (last.at - EPOCH_UTC).total_seconds()),
        ])  # fmt: skip
        moved = sorted(last.counts.items())
        lines += _family("ocac_last_sweep_moved", "What the last sweep moved, by channel, target state and reason.", (
            ({"channel": channel, "to": to, "reason": reason}, n) for (channel, to, reason), n in moved
        ))  # fmt: skip
    lines.append("# EOF")
    return "\n".join(lines) + "\n"
