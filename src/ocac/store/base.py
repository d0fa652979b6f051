"""The store interface: what commands ask of a conversation store, whatever its backend.

Commands and the policy never know which backend they talk to. Every write is one atomic
change together with its audit records; reads never see a half-made change. Conversations
are named by id. The JSON and TOML file stores answer in memory with `ocac.policy.plan`;
database stores turn `ocac.policy.cutoffs` into indexed range queries.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import msgspec

from ocac.audit import Audit, AuditRecord, HistoryQuery, SweepSummary
from ocac.model import KNOWN_FIELDS, Action, Channel, Conversation, State
from ocac.policy import Policy, Transition, order_key


class Incoming(msgspec.Struct, frozen=True):
    """One conversation to store, with the fields ocac does not know (plain values or raw JSON)."""

    conversation: Conversation
    extra: Mapping[str, Any] = msgspec.field(default_factory=dict)


class Stored(msgspec.Struct, frozen=True):
    """A stored conversation: its typed fields and every field as stored, known and unknown."""

    conversation: Conversation
    fields: dict[str, Any]

    def shown(self) -> dict[str, Any]:
        """The fields as `conversations show` lists them on every backend: known ones first, then the rest by name."""
        known = {name: self.fields[name] for name in KNOWN_FIELDS if name in self.fields}
        return known | {name: self.fields[name] for name in sorted(self.fields) if name not in known}


class Selection(msgspec.Struct, frozen=True):
    """Which conversations a listing wants (empty: any)."""

    channels: frozenset[Channel] = frozenset()
    states: frozenset[State] = frozenset()
    workstreams: frozenset[str] | None = None
    """What a conversation's workstream may say to be selected (a workstream's name and id), or None: any."""

    def matches(self, conversation: Conversation) -> bool:
        """Whether a conversation passes the selection."""
        return (
            (not self.channels or conversation.channel in self.channels)
            and (not self.states or conversation.state in self.states)
            and (self.workstreams is None or conversation.workstream in self.workstreams)
        )


class ImportCounts(msgspec.Struct):
    """What an import did (or, in a dry run, would do)."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    records_deleted: int = 0
    written: bool = False

    def to_json(self) -> dict[str, object]:
        """The counts as `import --json` prints them."""
        return {
            "added": self.added, "updated": self.updated, "unchanged": self.unchanged, "removed": self.removed,
            "records_deleted": self.records_deleted, "written": self.written,
        }  # fmt: skip


class RecordChange(msgspec.Struct, frozen=True):
    """What marking a linked record deleted (or not) did: whether it changed, and what it links."""

    changed: bool
    linked: int
    """Open and active case conversations that link the record."""


class SweepOutcome(msgspec.Struct, frozen=True):
    """What a sweep moved, of how many conversations, and whether it ran at all."""

    transitions: list[Transition]
    """The moves, soonest due first (empty when the caller asked for the count only)."""
    considered: int | None
    """How many conversations the store holds (None when the caller asked for the count only)."""
    written: bool
    skipped: str | None = None
    """Why the sweep did not run (another sweep holds the store), or None."""
    moved: int | None = None
    """How many moved, when `transitions` was not asked for."""

    @property
    def count(self) -> int:
        """How many conversations moved."""
        return len(self.transitions) if self.moved is None else self.moved


class StoreInfo(msgspec.Struct, frozen=True):
    """What `store info` shows."""

    backend: str
    location: str
    schema_version: int | None
    conversations: int
    by_state: dict[State, int]
    deleted_records: int
    size_bytes: int | None
    last_sweep: SweepSummary | None
    exists: bool = True


class Dump(msgspec.Struct):
    """A whole store, for `store copy`: conversations with their unknown fields, records and history."""

    conversations: Iterable[Incoming]
    deleted_records: list[str]
    history: Iterable[AuditRecord]
    last_sweep: SweepSummary | None
    total: int | None = None
    """How many conversations, when known (for a progress bar)."""


Change = Callable[[Conversation], Conversation]
"""A pure change of one conversation (`ocac.model.touched`, `moved`…); it may refuse with `Refused`."""


class Store(Protocol):
    """A conversation store. Open one with `ocac.store.open_store`; close it when done."""

    backend: str
    """`json`, `toml`, `sqlite` or `postgresql`."""
    location: str
    """The path or URL, as messages show it (a password masked)."""

    def close(self) -> None: ...

    def clock(self) -> datetime:
        """The instant now, to the second: a database server's clock, so that hosts agree."""
        ...

    # Reading ---------------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the store exists (a missing store reads as empty)."""
        ...

    def get(self, conversation_id: str) -> Stored | None: ...

    def ids_starting_with(self, prefix: str, limit: int) -> list[str]:
        """Up to `limit` ids that start with `prefix`, in order."""
        ...

    def select(self, selection: Selection) -> Iterator[Conversation]:
        """Every conversation the selection matches, in no particular order."""
        ...

    def due(
        self, policy: Policy, at: datetime, *, selection: Selection | None = None, limit: int | None = None
    ) -> list[Transition]:
        """The moves a sweep at `at` would make, soonest due first (then by id)."""
        ...

    def count_due(self, policy: Policy, at: datetime, *, selection: Selection | None = None) -> dict[Channel, int]:
        """How many conversations a sweep at `at` would move, by channel."""
        ...

    def counts(self) -> dict[tuple[Channel, State], int]: ...

    def oldest_open(self) -> dict[Channel, tuple[str, datetime]]:
        """The conversation that has waited longest in each channel (closed ones aside)."""
        ...

    def deleted_records(self) -> list[str]: ...

    def workstreams(self) -> dict[str, dict[Channel, int]]:
        """Every workstream conversations name, with their count by channel."""
        ...

    def future_count(self, now: datetime) -> int:
        """How many conversations that are not closed were last changed after `now` (a clock or data is wrong)."""
        ...

    def writable(self) -> str | None:
        """Why this process could not write the store, or None when it can."""
        ...

    def history(self, query: HistoryQuery) -> list[AuditRecord]: ...

    def last_sweep(self) -> SweepSummary | None: ...

    def info(self) -> StoreInfo: ...

    # Writing: each call is one atomic change with its audit records ----------------------------

    def add(self, conversation: Conversation, audit: Audit) -> None:
        """Add a new conversation; an existing id is refused."""
        ...

    def change(
        self, conversation_id: str, change: Change, action: Action, audit: Audit, detail: dict[str, Any] | None = None
    ) -> tuple[Conversation, Conversation]:
        """Apply `change` to one conversation under the write lock; the conversation before and after."""
        ...

    def import_conversations(
        self,
        incoming: Sequence[Incoming],
        deleted_records: Sequence[str],
        audit: Audit,
        *,
        replace: bool,
        dry_run: bool,
        source: str,
    ) -> ImportCounts:
        """Upsert by id (or, with `replace`, make the store hold exactly these)."""
        ...

    def set_record_deleted(self, record_id: str, deleted: bool, audit: Audit, *, dry_run: bool) -> RecordChange: ...

    def sweep(self, policy: Policy, audit: Audit, *, details: bool = True) -> SweepOutcome:
        """Move every conversation due at `audit.at` one step, with one audit record each.

        Without `details` a store may leave the transitions out of the outcome (a quiet cron run
        prints nothing, so a million-row sweep need not build them).
        """
        ...

    def record(self, records: Sequence[AuditRecord]) -> None:
        """Add audit records of changes made outside the store (configuration edits)."""
        ...

    # Copying ---------------------------------------------------------------------------------

    def dump(self) -> Dump: ...

    def fill(self, dump: Dump, *, replace: bool, progress: Callable[[int], None]) -> int:
        """Write a whole dump into this store (empty, or with `replace`); how many conversations."""
        ...


def order_due(transitions: Iterable[Transition], limit: int | None) -> list[Transition]:
    """Soonest due first, then by id; the first `limit`."""
    if limit is None:  # two stable sorts on simple keys: faster than one on (instant, id) tuples
        ordered = sorted(transitions, key=_by_id)
        ordered.sort(key=_by_due_seconds)
        return ordered
    return heapq.nsmallest(limit, transitions, key=order_key)


def _by_id(transition: Transition) -> str:
    return transition.id


def _by_due_seconds(transition: Transition) -> float:
    return order_key(transition)[0]
