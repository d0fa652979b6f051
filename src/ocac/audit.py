"""The audit trail's record: one per change to a conversation, and one per configuration edit.

Every backend keeps the same records (a JSON Lines file beside a file store, a table in a
database) and answers the same `HistoryQuery`; `history`, `metrics` and `store copy` read
them through the store interface.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import msgspec

from ocac.instants import format_instant
from ocac.model import Action


class AuditRecord(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """One audited change. A sweep writes one per moved conversation.

    `action` is None only on records written by ocac 0.1, which audited sweeps alone; `kind`
    reads it. `commit` marks the line that commits a run's records in a file store's trail.
    """

    run_id: str
    action: Action | None = None
    at: datetime
    by: str | None = None
    id: str | None = None
    channel: str | None = None
    from_state: str | None = msgspec.field(default=None, name="from")
    to_state: str | None = msgspec.field(default=None, name="to")
    reason: str | None = None
    rule: str | None = None
    threshold_minutes: int | None = None
    idle_minutes: int | None = None
    detail: dict[str, Any] | None = None
    commit: bool = False

    @property
    def kind(self) -> Action:
        """The action, with records from before actions were recorded read as sweeps."""
        return self.action or Action.SWEEP

    def to_json(self) -> dict[str, object]:
        """The object `history --json` prints: every field, null where it does not apply."""
        return {
            "run_id": self.run_id,
            "action": str(self.kind),
            "at": format_instant(self.at),
            "by": self.by,
            "id": self.id,
            "channel": self.channel,
            "from": self.from_state,
            "to": self.to_state,
            "reason": self.reason,
            "rule": self.rule,
            "threshold_minutes": self.threshold_minutes,
            "idle_minutes": self.idle_minutes,
            "detail": self.detail,
        }


class Audit(msgspec.Struct, frozen=True):
    """Who makes a change, at which instant, under which run id: stamped on its records."""

    run_id: str
    at: datetime
    by: str

    def record(self, action: Action, **fields: Any) -> AuditRecord:
        """A record of this change."""
        return AuditRecord(run_id=self.run_id, action=action, at=self.at, by=self.by, **fields)


def new_run_id(now: datetime) -> str:
    """A unique, sortable id for one change (a sweep, an import, a touch…)."""
    return f"{now:%Y%m%dT%H%M%S}Z-{os.urandom(4).hex()}"


def actor() -> str:
    """`user@host` of this process, as audit records name who made a change."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME (some containers)
        user = str(os.getuid())
    return f"{user}@{os.uname().nodename}"


def audit_for(now: datetime) -> Audit:
    """An `Audit` for a change made now by this process."""
    return Audit(new_run_id(now), now, actor())


class HistoryQuery(msgspec.Struct, frozen=True):
    """What `history` selects: filters, order and limit."""

    id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    actions: frozenset[Action] = frozenset()
    channels: frozenset[str] = frozenset()
    reasons: frozenset[str] = frozenset()
    newest_first: bool = False
    limit: int | None = None

    def matches(self, record: AuditRecord) -> bool:
        """Whether a record passes the filters (not the order or the limit)."""
        return (
            (self.id is None or record.id == self.id)
            and (self.since is None or record.at >= self.since)
            and (self.until is None or record.at <= self.until)
            and (not self.actions or record.kind in self.actions)
            and (not self.channels or record.channel in self.channels)
            and (not self.reasons or record.reason in self.reasons)
        )

    def apply(self, records: Iterable[AuditRecord]) -> list[AuditRecord]:
        """Filter records given oldest first, then order and limit them."""
        selected = [record for record in records if self.matches(record)]
        if self.newest_first:
            selected.reverse()
            return selected if self.limit is None else selected[: self.limit]
        return selected if self.limit is None else selected[max(len(selected) - self.limit, 0) :]


class SweepSummary(msgspec.Struct, frozen=True):
    """The last sweep a store recorded: when, how many it moved, and how, by (channel, to, reason)."""

    run_id: str
    at: datetime
    moved: int
    counts: dict[tuple[str, str, str], int] = msgspec.field(default_factory=dict)

    def detail(self) -> dict[str, Any]:
        """What a store keeps of it beside the run id and instant."""
        return {"moved": self.moved, "counts": [[*key, n] for key, n in sorted(self.counts.items())]}

    @classmethod
    def from_detail(cls, run_id: str, at: datetime, detail: dict[str, Any] | None) -> SweepSummary:
        """Read back what `detail` kept; a damaged detail reads as nothing moved."""
        detail = detail or {}
        moved = detail.get("moved")
        counts: dict[tuple[str, str, str], int] = {}
        for item in detail.get("counts") or ():
            if isinstance(item, list) and len(item) == 4 and isinstance(item[3], int):
                counts[str(item[0]), str(item[1]), str(item[2])] = item[3]
        return cls(run_id, at, moved if isinstance(moved, int) else sum(counts.values()), counts)

    def to_json(self) -> dict[str, object]:
        """The object `status --json` and `store info --json` print."""
        return {"run_id": self.run_id, "at": format_instant(self.at), "moved": self.moved}


def sweep_counts(records: Iterable[AuditRecord]) -> dict[tuple[str, str, str], int]:
    """Moves by (channel, to state, reason)."""
    counts: dict[tuple[str, str, str], int] = {}
    for record in records:
        key = (record.channel or "", record.to_state or "", record.reason or "")
        counts[key] = counts.get(key, 0) + 1
    return counts


def chunks(records: Iterable[AuditRecord], size: int) -> Iterator[list[AuditRecord]]:
    """Records in lists of at most `size` (for batched writes)."""
    batch: list[AuditRecord] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
