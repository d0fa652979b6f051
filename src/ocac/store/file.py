"""The file stores: a JSON (or TOML) file that ocac owns, with its audit trail beside it.

Every command reads the whole file; a write locks the store (flock on a sidecar `.lock`),
reloads it, changes the in-memory `Document`, appends its audit records to the trail, writes
the new file beside the old, renames it into place and commits the records (see
`ocac.store.trail`). A killed writer leaves the old or the new store and a trail that agrees
with it. The policy's `plan` is the engine: every question is answered in memory.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from ocac import fsutil
from ocac.audit import Audit, AuditRecord, HistoryQuery, SweepSummary, sweep_counts
from ocac.errors import NotFound, Refused
from ocac.instants import format_instant, parse_instant, wall_clock
from ocac.model import KNOWN_FIELDS, Action, Channel, Conversation, State
from ocac.policy import Policy, Transition, plan
from ocac.store import json_backend, toml_backend
from ocac.store.base import (
    Change,
    Dump,
    ImportCounts,
    Incoming,
    RecordChange,
    Selection,
    Stored,
    StoreInfo,
    SweepOutcome,
    order_due,
)
from ocac.store.document import Document, StoreMeta, SweepMarker, plain_value
from ocac.store.trail import Trail, trail_path

FORMAT_VERSION = 1
"""The file format's version, as `store info` shows it (0.1's stores read as they are)."""


class Codec(Protocol):
    """A file format: bytes to a `Document` and back, keeping what it does not know."""

    def decode(self, path: Path, data: bytes, *, writable: bool) -> Document: ...

    def encode(self, document: Document) -> Iterator[bytes]: ...

    def fields_of(self, document: Document, index: int) -> dict[str, Any]: ...

    def extras_of(self, document: Document, index: int) -> dict[str, Any]: ...

    def require_faithful(self, document: Document, *, copying: bool) -> None: ...


class FileStore:
    """A JSON or TOML store file. Reads share one snapshot, taken at the first read."""

    def __init__(self, path: Path, lock_timeout: float) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self.backend = "toml" if path.suffix.lower() == ".toml" else "json"
        self.location = str(path)
        self._codec: Codec = toml_backend if self.backend == "toml" else json_backend
        self._snapshot: Document | None = None
        self._plans: dict[tuple[int, datetime, Selection | None], tuple[Policy, list[Transition]]] = {}
        """Plans of the snapshot, by policy, instant and selection: a listing asks twice (rows, then total)."""

    def close(self) -> None:
        self._snapshot = None
        self._plans.clear()

    def clock(self) -> datetime:
        return wall_clock()

    # Reading ---------------------------------------------------------------------------------

    def _load(self, *, writable: bool) -> Document:
        data = fsutil.read_bytes(self.path, "store")
        if data is None:
            return Document(self.path, [], set(), StoreMeta(), None, 0)
        return self._codec.decode(self.path, data, writable=writable)

    def _read(self) -> Document:
        if self._snapshot is None:
            self._snapshot = self._load(writable=False)
        return self._snapshot

    def _trail(self) -> Trail:
        owner = fsutil.owner_for(self.path)
        try:
            mode = os.stat(fsutil.real_path(self.path)).st_mode & 0o666
        except OSError:
            mode = 0o666
        return Trail(trail_path(self.path), owner, mode)

    def exists(self) -> bool:
        return fsutil.exists(self.path, "store")

    def get(self, conversation_id: str) -> Stored | None:
        document = self._load(writable=True)  # the raw slices, to show unknown fields as stored
        index = document.index_of(conversation_id)
        if index is None:
            return None
        return Stored(document.conversations[index], self._codec.fields_of(document, index))

    def ids_starting_with(self, prefix: str, limit: int) -> list[str]:
        return sorted(c.id for c in self._read().conversations if c.id.startswith(prefix))[:limit]

    def select(self, selection: Selection) -> Iterator[Conversation]:
        return (c for c in self._read().conversations if selection.matches(c))

    def _plan(self, policy: Policy, at: datetime, selection: Selection | None) -> list[Transition]:
        key = (id(policy), at, selection)
        if key not in self._plans:
            document = self._read()
            conversations = document.conversations
            if selection is not None:
                conversations = [c for c in conversations if selection.matches(c)]
            # the policy is kept with its plan, so that its id cannot name another policy meanwhile
            self._plans[key] = (policy, plan(conversations, policy, at, document.deleted_records))
        return self._plans[key][1]

    def due(
        self, policy: Policy, at: datetime, *, selection: Selection | None = None, limit: int | None = None
    ) -> list[Transition]:
        return order_due(self._plan(policy, at, selection), limit)

    def count_due(self, policy: Policy, at: datetime, *, selection: Selection | None = None) -> dict[Channel, int]:
        return dict(Counter(t.channel for t in self._plan(policy, at, selection)))

    def counts(self) -> dict[tuple[Channel, State], int]:
        return dict(Counter((c.channel, c.state) for c in self._read().conversations))

    def oldest_open(self) -> dict[Channel, tuple[str, datetime]]:
        oldest: dict[Channel, tuple[str, datetime]] = {}
        for conversation in self._read().conversations:
            if conversation.state is State.CLOSED:
                continue
            best = oldest.get(conversation.channel)
            if best is None or (conversation.modified_on, conversation.id) < (best[1], best[0]):
                oldest[conversation.channel] = (conversation.id, conversation.modified_on)
        return oldest

    def deleted_records(self) -> list[str]:
        return sorted(self._read().deleted_records)

    def workstreams(self) -> dict[str, dict[Channel, int]]:
        usage: dict[str, Counter[Channel]] = {}
        for conversation in self._read().conversations:
            if conversation.workstream is not None:
                usage.setdefault(conversation.workstream, Counter())[conversation.channel] += 1
        return {name: dict(counts) for name, counts in usage.items()}

    def future_count(self, now: datetime) -> int:
        return sum(1 for c in self._read().conversations if c.state is not State.CLOSED and c.modified_on > now)

    def writable(self) -> str | None:
        return fsutil.write_problem(fsutil.real_path(self.path), "store")

    def history(self, query: HistoryQuery) -> list[AuditRecord]:
        return query.apply(self._trail().read(self._read().meta.committed_run))

    def last_sweep(self) -> SweepSummary | None:
        meta = self._read().meta
        marker = meta.last_sweep
        trail = self._trail()
        if marker is not None and marker.run_id == meta.run:
            unsealed = [r for r in trail.unsealed() if r.run_id == marker.run_id]
            if unsealed:  # the store reflects a sweep whose writer died before its commit line
                return SweepSummary(marker.run_id, unsealed[0].at, len(unsealed), sweep_counts(unsealed))
        found = trail.last_sweep()
        if found is not None:
            return found
        if marker is None:  # a store whose trail is gone, or written by ocac 0.1
            return None
        return SweepSummary(marker.run_id, parse_instant(marker.at, "last sweep"), marker.moved)

    def info(self) -> StoreInfo:
        document = self._read()
        by_state = Counter(c.state for c in document.conversations)
        exists = self.exists()
        size = (os.stat(self.path).st_size + self._trail().size()) if exists else None
        return StoreInfo(
            self.backend, self.location, FORMAT_VERSION if exists else None, len(document.conversations),
            dict(by_state), len(document.deleted_records), size, self.last_sweep(), exists,
        )  # fmt: skip

    # Writing ---------------------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[_Write]:
        """Lock the store, clean up after a killed writer, and load it for changing."""
        owner = fsutil.owner_for(self.path)
        try:
            with fsutil.locked(self.path, self.lock_timeout, "store", owner):
                fsutil.remove_stale_temps(self.path)
                document = self._load(writable=True)
                trail = self._trail()
                trail.recover(document.meta.committed_run)
                yield _Write(self, document, trail, owner)
        finally:
            self._snapshot = None
            self._plans.clear()

    def add(self, conversation: Conversation, audit: Audit) -> None:
        with self._writing() as write:
            if write.document.index_of(conversation.id) is not None:
                raise Refused(f"a conversation '{conversation.id}' already exists: pick another --id")
            write.document.upsert(conversation, {})
            write.commit(audit, Action.ADD, [_added(audit, conversation)])

    def change(
        self, conversation_id: str, change: Change, action: Action, audit: Audit, detail: dict[str, Any] | None = None
    ) -> tuple[Conversation, Conversation]:
        with self._writing() as write:
            document = write.document
            index = document.index_of(conversation_id)
            if index is None:
                raise NotFound(f"no conversation '{conversation_id}' in {self.location}: see 'ocac conversations list'")
            old = document.conversations[index]
            new = change(old)
            if new != old:
                document.update(index, new)
                write.commit(audit, action, [_changed(audit, action, old, new, detail)])
            return old, new

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
        with self._writing() as write:
            document = write.document
            counts = _compare(self._codec, document, incoming, replace=replace)
            new_records = set(deleted_records) - document.deleted_records
            counts.records_deleted = len(new_records)
            if dry_run or not (counts.added or counts.updated or counts.removed or new_records):
                return counts
            if replace:
                document.clear()
            for item in incoming:
                document.upsert(item.conversation, item.extra)
            for record_id in sorted(new_records):
                document.delete_record(record_id)
            detail = {"source": source, "replace": replace} | counts.to_json()
            detail.pop("written")
            counts.written = write.commit(audit, Action.IMPORT, [audit.record(Action.IMPORT, detail=detail)])
            return counts

    def set_record_deleted(self, record_id: str, deleted: bool, audit: Audit, *, dry_run: bool) -> RecordChange:
        with self._writing() as write:
            document = write.document
            linked = sum(1 for c in document.conversations if _links(c, record_id))
            present = record_id in document.deleted_records
            if present == deleted:
                return RecordChange(False, linked)
            if not dry_run:
                (document.delete_record if deleted else document.undelete_record)(record_id)
                action = Action.RECORD_DELETED if deleted else Action.RECORD_UNDELETED
                write.commit(audit, action, [audit.record(action, detail={"record_id": record_id, "linked": linked})])
            return RecordChange(True, linked)

    def sweep(self, policy: Policy, audit: Audit, *, details: bool = True) -> SweepOutcome:
        if not self.exists():
            return SweepOutcome([], 0, False)  # nothing to sweep: no lock, no folders made
        with self._writing() as write:
            document = write.document
            planned = plan(document.conversations, policy, audit.at, document.deleted_records)
            transitions = order_due(planned, None)
            records = [_moved(audit, t) for t in transitions]
            summary = SweepSummary(audit.run_id, audit.at, len(transitions), sweep_counts(records))
            if not transitions:
                write.trail.commit(audit.run_id, Action.SWEEP, audit.at, audit.by, summary.detail())
                return SweepOutcome([], len(document.conversations), False)
            _apply(document, planned, audit.at)
            marker = SweepMarker(audit.run_id, format_instant(audit.at), len(transitions))
            written = write.commit(audit, Action.SWEEP, records, summary.detail(), sweep=marker)
            return SweepOutcome(transitions, len(document.conversations), written)

    def record(self, records: Sequence[AuditRecord]) -> None:
        if not records or not self.exists():
            return  # the trail lives beside a store: no store, nothing to record in
        with self._writing() as write:
            first = records[0]
            write.trail.append(records)
            write.trail.commit(first.run_id, first.kind, first.at, first.by or "", None)

    # Copying ---------------------------------------------------------------------------------

    def dump(self) -> Dump:
        document = self._load(writable=True)
        codec = self._codec
        self._codec.require_faithful(document, copying=True)

        def conversations() -> Iterator[Incoming]:
            for index, conversation in enumerate(document.conversations):
                yield Incoming(conversation, codec.extras_of(document, index))

        trail = self._trail()
        history = trail.read(document.meta.committed_run)
        return Dump(
            conversations(), sorted(document.deleted_records), history, self.last_sweep(), len(document.conversations)
        )

    def fill(self, dump: Dump, *, replace: bool, progress: Callable[[int], None]) -> int:
        with self._writing() as write:
            document = write.document
            if document.conversations or document.deleted_records:
                if not replace:
                    raise Refused(f"store {self.location} is not empty: add --replace to overwrite it")
            document.clear()
            count = 0
            for item in dump.conversations:
                document.upsert(item.conversation, item.extra)
                count += 1
                if count % 10_000 == 0:
                    progress(count)
            document.deleted_records.clear()
            for record_id in dump.deleted_records:
                document.delete_record(record_id)
            document.top_changed.add("deleted_records")
            write.replace_trail(dump.history, dump.last_sweep)
            progress(count)
            return count


class _Write:
    """A store loaded under its lock, its trail, and how to commit a change to both."""

    def __init__(self, store: FileStore, document: Document, trail: Trail, owner: tuple[int, int] | None) -> None:
        self.store = store
        self.document = document
        self.trail = trail
        self.owner = owner

    def commit(
        self,
        audit: Audit,
        action: Action,
        records: Sequence[AuditRecord],
        detail: dict[str, Any] | None = None,
        *,
        sweep: SweepMarker | None = None,
    ) -> bool:
        """Append the records, replace the store, then commit the records; False if nothing changed.

        The records are appended in a second thread while the new store is written, since both
        mostly wait on the disk; the rename waits for both and does not happen if either failed.
        """
        if not self.document.dirty:
            return False
        self.store._codec.require_faithful(self.document, copying=False)
        self.document.set_run(audit.run_id, sweep)
        with fsutil.AtomicFile(self.document.path, self.owner) as replacement:
            replacement.prepare()  # a store we may not replace fails here, before any record is written
            with _alongside(lambda: self.trail.append(records)):
                replacement.write(self.store._codec.encode(self.document))
            replacement.commit()
        self.trail.commit(audit.run_id, action, audit.at, audit.by, detail)
        return True

    def replace_trail(self, history: Iterable[AuditRecord], last_sweep: SweepSummary | None) -> None:
        """Write the store and a new trail holding `history` (the old trail is kept aside, not deleted).

        Both are written to temporary files before either is renamed, so a store that cannot be
        encoded leaves the old store and trail as they were.
        """
        sweep = None
        if last_sweep is not None:
            sweep = SweepMarker(last_sweep.run_id, format_instant(last_sweep.at), last_sweep.moved)
        with fsutil.AtomicFile(self.document.path, self.owner) as replacement:
            with self.trail.rewriting(history, last_sweep) as run:
                self.document.set_run(run, sweep)
                replacement.write(self.store._codec.encode(self.document))
            replacement.commit()


@contextmanager
def _alongside(task: Callable[[], None]) -> Iterator[None]:
    """Run `task` in a thread during the block; wait for it at the end and raise what it raised."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            task()
        except BaseException as error:  # handed to the caller below
            failures.append(error)

    worker = threading.Thread(target=run, name="ocac-alongside")
    worker.start()
    try:
        yield
    finally:
        worker.join()
    if failures:
        raise failures[0]


def _apply(document: Document, planned: list[Transition], now: datetime) -> None:
    """Move each planned conversation to its target and restart its clock at `now`.

    `planned` is in store order (as `plan` returns it): one walk finds each one's position,
    cheaper than an index of a million ids.
    """
    indexes = []
    moves = iter(planned)
    move = next(moves, None)
    for index, conversation in enumerate(document.conversations):
        if move is None:
            break
        if conversation is move.conversation:
            conversation.state = move.to_state
            conversation.modified_on = now
            indexes.append(index)
            move = next(moves, None)
    assert move is None, "a planned move of a conversation the store does not hold"
    document.mark_changed(indexes, ("state", "modified_on"))


def _compare(codec: Codec, document: Document, incoming: Sequence[Incoming], *, replace: bool) -> ImportCounts:
    """What importing `incoming` changes: counts of added, updated, unchanged and removed."""
    counts = ImportCounts()
    seen: set[str] = set()
    for item in incoming:
        conversation = item.conversation
        seen.add(conversation.id)
        index = document.index_of(conversation.id)
        if index is None:
            counts.added += 1
        elif _same(codec, document, index, item):
            counts.unchanged += 1
        else:
            counts.updated += 1
    if replace:
        counts.removed = sum(1 for c in document.conversations if c.id not in seen)
    return counts


def _same(codec: Codec, document: Document, index: int, item: Incoming) -> bool:
    """Whether the stored conversation at `index` is `item`, unknown fields included."""
    if document.conversations[index] != item.conversation:
        return False
    stored = {k: v for k, v in codec.fields_of(document, index).items() if k not in KNOWN_FIELDS}
    return stored == {k: plain_value(v) for k, v in item.extra.items() if k not in KNOWN_FIELDS}


def _links(conversation: Conversation, record_id: str) -> bool:
    return (
        conversation.channel is Channel.CASE
        and conversation.record_id == record_id
        and conversation.state in (State.OPEN, State.ACTIVE)
    )


def _added(audit: Audit, conversation: Conversation) -> AuditRecord:
    return audit.record(Action.ADD, id=conversation.id, channel=conversation.channel, to_state=conversation.state)


def _changed(
    audit: Audit, action: Action, old: Conversation, new: Conversation, detail: dict[str, Any] | None
) -> AuditRecord:
    return audit.record(
        action, id=new.id, channel=new.channel, from_state=old.state, to_state=new.state, detail=detail
    )  # fmt: skip


def _moved(audit: Audit, t: Transition) -> AuditRecord:
    return audit.record(
        Action.SWEEP, id=t.id, channel=t.channel, from_state=t.from_state, to_state=t.to_state, reason=t.reason,
        rule=t.rule, threshold_minutes=t.threshold_minutes, idle_minutes=t.idle_minutes,
    )  # fmt: skip
