"""`ocac doctor`: what in the configuration and the store together will surprise an admin."""

from __future__ import annotations

from datetime import datetime

import msgspec

from ocac.durations import format_idle, format_minutes
from ocac.instants import minutes_between
from ocac.model import State, workstream_key
from ocac.policy import Policy
from ocac.store import Store

DEFAULT_MAX_SWEEP_AGE = 15
"""Minutes: a store swept every 5 minutes is never older than this unless the sweep stopped."""


class Finding(msgspec.Struct, frozen=True):
    """One thing that will surprise: what, and how to fix it."""

    check: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"check": self.check, "message": self.message}


def examine(store: Store, policy: Policy, now: datetime, max_sweep_age: int = DEFAULT_MAX_SWEEP_AGE) -> list[Finding]:
    """Every finding, in a fixed order; an empty list means all is well."""
    findings = _workstream_findings(store, policy)
    findings += _block_findings(policy)
    future = store.future_count(now)
    if future:
        findings.append(Finding("future", f"{future} conversation(s) were last changed after now: they are not swept "
                                          "until then; check the clock of whoever feeds the store"))  # fmt: skip
    findings += _sweep_findings(store, now, max_sweep_age)
    problem = store.writable()
    if problem:
        findings.append(Finding("writable", f"{problem}: the sweep (cron) must be able to write the store"))
    return findings


def _workstream_findings(store: Store, policy: Policy) -> list[Finding]:
    findings = []
    for name, channels in sorted(store.workstreams().items()):
        stream = policy.workstream(name)
        count = sum(channels.values())
        if stream is None:
            findings.append(Finding("workstream", _unknown(name, count)))
            continue
        others = {c: n for c, n in channels.items() if c is not stream.channel}
        if others:
            names = ", ".join(sorted(others))
            findings.append(Finding("workstream", (
                f"workstream '{stream.name}' is a {stream.channel} workstream, but {sum(others.values())} of its "
                f"conversations are {names}: its settings apply to them all; check its channel"
            )))  # fmt: skip
    return findings


def _unknown(name: str, count: int) -> str:
    if workstream_key(name) != name or _looks_like_guid(name):
        return (
            f"{count} conversation(s) name workstream {name} by its id, which no configured workstream has: "
            f"add it with 'ocac workstream set NAME --id {name}' (or 'ocac workstream import')"
        )
    return (
        f"{count} conversation(s) name workstream '{name}', which the configuration lacks: their waiting "
        f"and wrap-up settings do not apply; add it with 'ocac workstream set \"{name}\" --channel CH'"
    )


def _looks_like_guid(value: str) -> bool:
    return len(value) == 36 and value.count("-") == 4


def _block_findings(policy: Policy) -> list[Finding]:
    findings = []
    for stream in policy.workstreams.values():
        if stream.wrap_up_block is None:
            continue
        rule = policy.rule(stream.channel, State.WRAP_UP)
        if rule is None or rule.minutes is None:
            findings.append(Finding("wrap-up-block", (
                f"workstream '{stream.name}' has a wrap-up block of {format_minutes(stream.wrap_up_block)}, but "
                f"{stream.channel} wrap-up conversations never close: the block has no effect"
            )))  # fmt: skip
    return findings


def _sweep_findings(store: Store, now: datetime, max_sweep_age: int) -> list[Finding]:
    last = store.last_sweep()
    if last is None:
        return [Finding("sweep", "no sweep is recorded in this store: schedule 'ocac sweep run' (cron, systemd timer)")]
    age = minutes_between(last.at, now)
    if age > max_sweep_age:
        return [Finding("sweep", f"the last sweep was {format_idle(age)} ago: is the sweep still scheduled?")]
    return []
