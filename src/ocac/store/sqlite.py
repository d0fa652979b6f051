"""The SQLite store: one database file on one host, with indexes, for stores that outgrow a file.

Standard library `sqlite3` in WAL mode (readers never wait for the writer). Every write
transaction starts with `BEGIN IMMEDIATE`, waiting up to `--lock-timeout` for another
writer: a deferred BEGIN would fail with "database is locked" when it upgrades to a write,
whatever the busy timeout. A change and its history rows commit together, so the store and
its audit trail agree by construction. Tables are prefixed `ocac_`, so the database can hold
other applications' tables too; the schema is created on the first write and migrated
forward (`ocac_migrations`).

A conversation's history is a chain rather than an index: its row holds the seq of its newest
record and each record the seq of the one before, so a sweep writes no index entry per move
at a random page (a quarter of a steady sweep's page writes), and `history --id` follows the
chain from the row (or from `ocac_history_heads`, for a conversation no longer stored).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from ocac import fsutil
from ocac.audit import Audit, AuditRecord, HistoryQuery, SweepSummary
from ocac.errors import FileAccessError, LockTimeout, NotFound, Refused, StoreError
from ocac.instants import format_instant, minutes_between, wall_clock
from ocac.model import NOT_CLOSED, Action, Channel, Conversation, Reason, State
from ocac.policy import Cutoff, Policy, Transition, cutoffs
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
from ocac.store.sql import (
    Params,
    cell_condition,
    cells_taken,
    conversation_of,
    decoded_extra,
    extra_fields,
    extra_json,
    from_micros,
    history_condition,
    history_row,
    queries,
    record_of,
    selection_condition,
    to_micros,
)

SCHEMA_VERSION = 4
MIGRATIONS = {
    1: ("migration-1",),
    2: ("migration-2",),
    3: ("migration-3",),
    4: ("migration-4", "build-chains", "drop-history-conversation-index"),
}
"""Schema versions and the named queries that bring a database to each, applied in order."""

_HEADER = b"SQLite format 3\x00"
CACHE_KIB = 32768
"""The page cache of a connection: 32 MiB, so a mass sweep's index updates are not written out page by page."""
_SELECT = "SELECT c.id, c.channel, c.state, c.modified_us, c.workstream, c.record_id, c.created_us, c.network"
_BATCH = 5000
Q = queries("sqlite.sql")


class SqliteStore:
    """A SQLite database file holding ocac's tables."""

    backend = "sqlite"

    def __init__(self, path: Path, lock_timeout: float) -> None:
        self.path = path
        self.location = str(path)
        self.lock_timeout = lock_timeout
        self._connection: sqlite3.Connection | None = None
        self._version: int | None = None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # Connecting ------------------------------------------------------------------------------

    def _check_file(self) -> bool:
        """Whether the file exists; anything but an empty file or a SQLite database is refused."""
        try:
            fd = fsutil.open_regular(self.path, os.O_RDONLY, "store")
        except FileNotFoundError:
            return False
        except OSError as error:
            raise fsutil.describe_os_error(error, self.path, "read store") from None
        with os.fdopen(fd, "rb") as handle:
            header = handle.read(len(_HEADER))
        if header and header != _HEADER:
            shown = header[:12].decode("utf-8", "replace")
            raise StoreError(
                f"store {self.path} is not a SQLite database (it starts with {shown!r}): give a .json or .toml "
                "path for a file store, or the path of an ocac SQLite database"
            )
        return True

    def _connect(self, *, create: bool) -> sqlite3.Connection | None:
        """The connection (opened once); None when the database does not exist and `create` is false."""
        if self._connection is not None:
            return self._connection
        exists = self._check_file()
        if not exists and not create:
            return None
        if not exists:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise fsutil.describe_os_error(error, self.path.parent, "create the folder of") from None
        try:
            connection = sqlite3.connect(
                self.path, timeout=self.lock_timeout, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute(f"PRAGMA cache_size = -{CACHE_KIB}")  # a sweep's index updates stay in memory
            connection.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as error:
            raise self._error(error, "open") from None
        self._connection = connection
        return connection

    def _reader(self) -> sqlite3.Connection | None:
        """A connection for reading, or None when there is no database (or no ocac tables) yet."""
        connection = self._connect(create=False)
        if connection is None or self._schema_version(connection) is None:
            return None
        return connection

    def _schema_version(self, connection: sqlite3.Connection) -> int | None:
        if self._version is None:
            try:
                if connection.execute(Q["has-migrations"]).fetchone()[0]:
                    self._version = connection.execute(Q["schema-version"]).fetchone()[0]
            except sqlite3.Error as error:
                raise self._error(error, "read") from None
            if self._version is not None and self._version > SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.path} has schema version {self._version}, newer than this ocac knows "
                    f"({SCHEMA_VERSION}): upgrade ocac to use it"
                )
        return self._version

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE), the schema brought up to date first."""
        connection = self._connect(create=True)
        assert connection is not None
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise self._error(error, "lock") from None
        try:
            self._migrate(connection)
            yield connection
            connection.execute("COMMIT")
        except BaseException as failure:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            if isinstance(failure, sqlite3.Error):
                raise self._error(failure, "write") from None
            raise

    def _migrate(self, connection: sqlite3.Connection) -> None:
        self._version = None
        current = self._schema_version(connection) or 0
        if current == SCHEMA_VERSION:
            return
        connection.execute(Q["create-migrations"])
        for version in range(current + 1, SCHEMA_VERSION + 1):  # executescript would commit: one by one
            for name in MIGRATIONS[version]:
                _run(connection, name)
            connection.execute(Q["record-migration"], (version, format_instant(datetime.now(UTC))))
        self._version = SCHEMA_VERSION

    def _error(self, error: sqlite3.Error, doing: str) -> Exception:
        """A database error as one of ocac's, naming the store."""
        text = str(error)
        lowered = text.lower()
        if "locked" in lowered or "busy" in lowered:
            return LockTimeout(
                f"store {self.path} is locked by another writer; gave up after {self.lock_timeout:g}s: "
                "try again, or raise --lock-timeout"
            )
        if "not a database" in lowered or "malformed" in lowered:
            return StoreError(f"store {self.path} is not a usable SQLite database ({text}): restore a backup")
        if isinstance(error, sqlite3.OperationalError) and any(
            word in lowered for word in ("unable to open", "readonly", "disk", "i/o", "permission", "full")
        ):
            return FileAccessError(f"cannot {doing} store {self.path}: {text}")
        return StoreError(f"store {self.path}: cannot {doing}: {text}")

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[None]:
        """Reads that see one state of the database: one read transaction (WAL keeps it while writers go on)."""
        connection = self._reader()
        if connection is None:
            yield
            return
        try:
            connection.execute("BEGIN")
        except sqlite3.Error as error:
            raise self._error(error, "read") from None
        try:
            yield
        finally:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("COMMIT")

    def _read_version(self) -> int:
        """The schema version of the database as it is now (a reader does not migrate it).

        Read afresh, inside the caller's `_snapshot`: another process may have migrated the
        database since this store last looked, and the snapshot keeps the schema the queries see.
        """
        connection = self._reader()
        if connection is None:
            return SCHEMA_VERSION
        self._version = None
        return self._schema_version(connection) or SCHEMA_VERSION

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        connection = self._reader()
        if connection is None:
            return []
        try:
            return connection.execute(sql, params).fetchall()
        except sqlite3.Error as error:
            raise self._error(error, "read") from None

    def clock(self) -> datetime:
        return wall_clock()

    # Reading ---------------------------------------------------------------------------------

    def exists(self) -> bool:
        return self._check_file()

    def get(self, conversation_id: str) -> Stored | None:
        rows = self._rows(Q["get"], (conversation_id,))
        if not rows:
            return None
        conversation = _conversation(rows[0])
        fields: dict[str, Any] = msgspec.to_builtins(conversation)
        fields.update(decoded_extra(rows[0][8]))
        return Stored(conversation, fields)

    def ids_starting_with(self, prefix: str, limit: int) -> list[str]:
        rows = self._rows(Q["ids-starting-with"], (prefix, prefix + "\U0010ffff", len(prefix), prefix, limit))
        return [row[0] for row in rows]

    def select(self, selection: Selection) -> Iterator[Conversation]:
        p = Params("?")
        where = selection_condition(selection, p)
        rows = self._rows(f"{_SELECT} FROM ocac_conversations c WHERE {where}", p.values)
        return (_conversation(row) for row in rows)

    def due(
        self, policy: Policy, at: datetime, *, selection: Selection | None = None, limit: int | None = None
    ) -> list[Transition]:
        transitions: list[Transition] = []
        with self._snapshot():
            version = self._read_version()
            for _, cell, chosen in cells_taken(cutoffs(policy, at), selection):
                sql, values = _due_query(cell, chosen, limit, version)
                transitions.extend(cell.transition(_conversation(row), at) for row in self._rows(sql, values))
        return order_due(transitions, limit)

    def count_due(self, policy: Policy, at: datetime, *, selection: Selection | None = None) -> dict[Channel, int]:
        counts: dict[Channel, int] = {}
        with self._snapshot():
            version = self._read_version()
            for _, cell, chosen in cells_taken(cutoffs(policy, at), selection):
                p = Params("?")
                where = f"{cell_condition(cell, p, to_micros, 'modified_us')} AND {selection_condition(chosen, p)}"
                sql = f"SELECT c.channel, count(*) FROM {_source(cell, version)} WHERE {where} GROUP BY c.channel"
                for channel, n in self._rows(sql, p.values):
                    counts[Channel(channel)] = counts.get(Channel(channel), 0) + n
        return counts

    def counts(self) -> dict[tuple[Channel, State], int]:
        with self._snapshot():  # closed = a channel's total less its other states: both of one state
            not_closed = self._rows(Q["not-closed-counts"])
            totals = self._rows(Q["channel-counts"])
        counts = {(Channel(c), State(s)): n for c, s, n in not_closed}
        for channel, total in totals:
            not_closed = sum(n for (c, _state), n in counts.items() if c == channel)
            if total > not_closed:
                counts[Channel(channel), State.CLOSED] = total - not_closed
        return counts

    def oldest_open(self) -> dict[Channel, tuple[str, datetime]]:
        oldest: dict[Channel, tuple[str, datetime]] = {}
        for channel in Channel:
            for state in State:
                if state is State.CLOSED:
                    continue
                for conversation_id, micros in self._rows(Q["oldest-in-cell"], (str(channel), str(state))):
                    best = oldest.get(channel)
                    instant = from_micros(micros)
                    if best is None or (instant, conversation_id) < (best[1], best[0]):
                        oldest[channel] = (conversation_id, instant)
        return oldest

    def deleted_records(self) -> list[str]:
        return [row[0] for row in self._rows(Q["deleted-records"])]

    def workstreams(self) -> dict[str, dict[Channel, int]]:
        usage: dict[str, dict[Channel, int]] = {}
        for name, channel, n in self._rows(Q["workstreams"]):
            usage.setdefault(name, {})[Channel(channel)] = n
        return usage

    def future_count(self, now: datetime) -> int:
        total = 0
        for channel in Channel:
            for state in NOT_CLOSED:
                rows = self._rows(Q["future-in-cell"], (str(channel), str(state), to_micros(now)))
                total += rows[0][0] if rows else 0
        return total

    def writable(self) -> str | None:
        return fsutil.write_problem(self.path, "store")

    def history(self, query: HistoryQuery) -> list[AuditRecord]:
        p = Params("?")
        where = history_condition(query, p, to_micros, "at_us")
        order = "DESC" if query.newest_first or query.limit is not None else "ASC"
        with self._snapshot():
            if query.id is not None and self._read_version() >= 4:  # by the conversation's chain, not a scan
                where += f" AND seq IN ({Q['history-chain']})"
                p.values.extend((query.id, query.id))
            limit = "" if query.limit is None else f" LIMIT {p(query.limit)}"
            rows = self._rows(f"{_HISTORY} WHERE {where} ORDER BY seq {order}{limit}", p.values)
        records = [record_of(row, from_micros) for row in rows]
        if query.limit is not None and not query.newest_first:
            records.reverse()  # the last N, oldest first
        return records

    def last_sweep(self) -> SweepSummary | None:
        rows = self._rows(Q["last-sweep"])
        if not rows:
            return None
        run_id, micros, moved, detail = rows[0]
        summary = SweepSummary.from_detail(run_id, from_micros(micros), decoded_extra(detail))
        return SweepSummary(summary.run_id, summary.at, moved, summary.counts)

    def info(self) -> StoreInfo:
        exists = self.exists()
        counts = self.counts()
        by_state: dict[State, int] = {}
        for (_channel, state), n in counts.items():
            by_state[state] = by_state.get(state, 0) + n
        size = None
        if exists:
            size = sum(os.stat(p).st_size for p in _database_files(self.path) if p.exists())
        connection = self._reader()
        version = self._version if connection is not None else None
        return StoreInfo(
            self.backend, self.location, version, sum(counts.values()), by_state, len(self.deleted_records()),
            size, self.last_sweep(), exists,
        )  # fmt: skip

    # Writing ---------------------------------------------------------------------------------

    def add(self, conversation: Conversation, audit: Audit) -> None:
        with self._writing() as db:
            if db.execute(Q["get"], (conversation.id,)).fetchone() is not None:
                raise Refused(f"a conversation '{conversation.id}' already exists: pick another --id")
            db.execute(Q["insert-conversation"], _row(conversation, None))
            _run(db, "adopt-heads")  # an id that was removed comes back with its history
            record = audit.record(Action.ADD, id=conversation.id, channel=conversation.channel,
                                  to_state=conversation.state)  # fmt: skip
            _insert_history(db, record)

    def change(
        self, conversation_id: str, change: Change, action: Action, audit: Audit, detail: dict[str, Any] | None = None
    ) -> tuple[Conversation, Conversation]:
        with self._writing() as db:
            row = db.execute(Q["get"], (conversation_id,)).fetchone()
            if row is None:
                raise NotFound(f"no conversation '{conversation_id}' in {self.location}: see 'ocac conversations list'")
            old = _conversation(row)
            new = change(old)
            if new != old:
                db.execute(Q["update-conversation"], (*_row(new, None)[1:8], new.id))
                record = audit.record(action, id=new.id, channel=new.channel, from_state=old.state,
                                      to_state=new.state, detail=detail)  # fmt: skip
                _insert_history(db, record)
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
        with self._writing() as db:
            counts = ImportCounts()
            changed: list[tuple[Any, ...]] = []
            for start in range(0, len(incoming), _BATCH):
                batch = incoming[start : start + _BATCH]
                p = Params("?")
                ids = p.many(item.conversation.id for item in batch)
                stored = {r[0]: r for r in db.execute(f"{_SELECT}, c.extra FROM ocac_conversations c "
                                                      f"WHERE c.id IN {ids}", p.values)}  # fmt: skip
                for item in batch:
                    row = _row(item.conversation, extra_json(item.extra))
                    before = stored.get(item.conversation.id)
                    if before is None:
                        counts.added += 1
                    elif _conversation(before) == item.conversation and decoded_extra(before[8]) == decoded_extra(
                        row[8]
                    ):
                        counts.unchanged += 1
                        continue
                    else:
                        counts.updated += 1
                    changed.append(row)
            if replace:
                db.execute(Q["create-import-ids"])
                db.execute(Q["clear-import-ids"])
                db.executemany(Q["insert-import-id"], ((item.conversation.id,) for item in incoming))
                counts.removed = db.execute(Q["count-not-imported"]).fetchone()[0]
            new_records = [r for r in dict.fromkeys(deleted_records)
                           if not db.execute(Q["is-record-deleted"], (r,)).fetchone()[0]]  # fmt: skip
            counts.records_deleted = len(new_records)
            if dry_run or not (changed or counts.removed or new_records):
                return counts
            if counts.removed:
                db.execute(Q["keep-heads"])
                db.execute(Q["delete-not-imported"])
            db.executemany(Q["upsert-conversation"], changed)
            _run(db, "adopt-heads")
            db.executemany(Q["insert-deleted-record"], ((r,) for r in new_records))
            detail = {"source": source, "replace": replace} | counts.to_json()
            detail.pop("written")
            _insert_history(db, audit.record(Action.IMPORT, detail=detail))
            counts.written = True
            return counts

    def set_record_deleted(self, record_id: str, deleted: bool, audit: Audit, *, dry_run: bool) -> RecordChange:
        with self._writing() as db:
            linked = db.execute(Q["linked-count"], (record_id,)).fetchone()[0]
            present = bool(db.execute(Q["is-record-deleted"], (record_id,)).fetchone()[0])
            if present == deleted:
                return RecordChange(False, linked)
            if not dry_run:
                db.execute(Q["insert-deleted-record" if deleted else "delete-deleted-record"], (record_id,))
                action = Action.RECORD_DELETED if deleted else Action.RECORD_UNDELETED
                record = audit.record(action, detail={"record_id": record_id, "linked": linked})
                _insert_history(db, record)
            return RecordChange(True, linked)

    def sweep(self, policy: Policy, audit: Audit, *, details: bool = True) -> SweepOutcome:
        if not self.exists():
            return SweepOutcome([], 0, False)  # nothing to sweep: no database made
        now, micros = audit.at, to_micros(audit.at)
        with self._writing() as db:
            db.execute(Q["create-moves"])
            db.execute(Q["clear-moves"])
            for cell in cutoffs(policy, now):
                query, values = _moves_query(cell)
                db.execute(query, values)
            newest = db.execute(Q["newest-seq"]).fetchone()[0]
            db.execute(Q["apply-moves"], (micros, newest))  # the new heads first: see history-of-moves
            db.execute(Q["history-of-moves"], (newest, audit.run_id, micros, audit.by, micros))
            moved = [_moved(row, now) for row in db.execute(Q["moves"])] if details else []
            counts = {(c, to, reason): n for c, to, reason, n in db.execute(Q["move-counts"])}
            total = sum(counts.values())
            detail = msgspec.json.encode(SweepSummary(audit.run_id, now, total, counts).detail()).decode()
            db.execute(Q["insert-sweep"], (audit.run_id, micros, audit.by, total, detail))
            considered = db.execute(Q["conversation-count"]).fetchone()[0] if details else None
            db.execute(Q["clear-moves"])
        return SweepOutcome(moved, considered, bool(total), moved=total)

    def record(self, records: Sequence[AuditRecord]) -> None:
        if not records:
            return
        with self._writing() as db:
            for record in records:
                _insert_history(db, record)

    # Copying ---------------------------------------------------------------------------------

    def dump(self) -> Dump:
        connection = self._reader()
        if connection is None:
            return Dump(iter(()), [], iter(()), None, 0)
        total = self._rows(Q["conversation-count"])[0][0]

        def conversations() -> Iterator[Incoming]:
            cursor = connection.execute(Q["all-conversations"])
            while rows := cursor.fetchmany(_BATCH):
                for row in rows:
                    yield Incoming(_conversation(row), extra_fields(row[8]))

        def history() -> Iterator[AuditRecord]:
            cursor = connection.execute(Q["history-all"])
            while rows := cursor.fetchmany(_BATCH):
                yield from (record_of(row, from_micros) for row in rows)

        return Dump(conversations(), self.deleted_records(), history(), self.last_sweep(), total)

    def fill(self, dump: Dump, *, replace: bool, progress: Callable[[int], None]) -> int:
        with self._writing() as db:
            if db.execute(Q["is-empty"]).fetchone()[0]:
                if not replace:
                    raise Refused(f"store {self.location} is not empty: add --replace to overwrite it")
                _run(db, "wipe")
            _run(db, "drop-secondary-indexes")  # built once after the load: faster
            count = 0
            batch: list[tuple[Any, ...]] = []
            for item in dump.conversations:
                batch.append(_row(item.conversation, extra_json(item.extra)))
                if len(batch) >= _BATCH:
                    db.executemany(Q["insert-conversation"], batch)
                    count += len(batch)
                    batch = []
                    progress(count)
            db.executemany(Q["insert-conversation"], batch)
            count += len(batch)
            _run(db, "create-secondary-indexes")
            db.executemany(Q["insert-deleted-record"], ((r,) for r in dump.deleted_records))
            db.executemany(Q["insert-history"], (_history_params(r) for r in dump.history))
            _run(db, "build-chains")  # every chain and head at once
            if dump.last_sweep is not None:
                last = dump.last_sweep
                db.execute(Q["insert-sweep"], (last.run_id, to_micros(last.at), None, last.moved,
                                               msgspec.json.encode(last.detail()).decode()))  # fmt: skip
            progress(count)
            return count


_HISTORY = (
    "SELECT run_id, action, at_us, by, conversation_id, channel, from_state, to_state, reason, rule, "
    "threshold_minutes, idle_minutes, detail FROM ocac_history"
)


def _source(cell: Cutoff, version: int = SCHEMA_VERSION) -> str:
    """The conversations table as a cell's query reads it, in a database of schema ``version``.

    A deleted-record cell probes the index of open case conversations by record (before schema 3,
    of every linked conversation) once per deleted record: left to itself, SQLite walks the whole
    (channel, state) range of the due index and looks every row up.
    """
    if not cell.record_deleted:
        return "ocac_conversations c"
    index = "ocac_conversations_open_case" if version >= 3 else "ocac_conversations_record"
    return f"ocac_conversations c INDEXED BY {index}"


def _due_query(cell: Cutoff, selection: Selection | None, limit: int | None, version: int) -> tuple[str, list[Any]]:
    """One range scan: the cell's due conversations, oldest first."""
    p = Params("?")
    where = cell_condition(cell, p, to_micros, "modified_us")
    chosen = selection_condition(selection, p)
    tail = "" if limit is None else f" LIMIT {p(limit)}"
    sql = f"{_SELECT} FROM {_source(cell, version)} WHERE {where} AND {chosen} ORDER BY c.modified_us, c.id{tail}"
    return sql, p.values


def _moves_query(cell: Cutoff) -> tuple[str, list[Any]]:
    """Collect a cell's due conversations into the sweep's moves (one index range scan)."""
    p = Params("?")
    target, reason, rule, threshold = p(str(cell.target)), p(str(cell.reason)), p(cell.rule), p(cell.threshold_minutes)
    span = p(cell.threshold_minutes * 60_000_000)
    where = cell_condition(cell, p, to_micros, "modified_us")
    query = (
        "INSERT INTO temp.ocac_moves SELECT c.id, c.channel, c.state, "
        f"{target}, {reason}, {rule}, {threshold}, c.modified_us, c.modified_us + {span}, "
        f"c.workstream, c.record_id, c.created_us, c.network, c.history_seq FROM {_source(cell)} WHERE {where}"
    )
    return query, p.values


def _insert_history(db: sqlite3.Connection, record: AuditRecord) -> None:
    """Write one history record, chained to its conversation's history, and make it the newest."""
    seq = db.execute(Q["insert-history"], _history_params(record)).lastrowid
    if record.id is not None:
        _run(db, "move-head", (seq, record.id))


def _run(db: sqlite3.Connection, name: str, params: Sequence[Any] = ()) -> None:
    """Run each statement of a named query, with the same parameters."""
    for statement in _statements(Q[name]):
        db.execute(statement, params)


def _history_params(record: AuditRecord) -> tuple[Any, ...]:
    """The parameters of insert-history: the record's columns, then its conversation's id twice."""
    return (*history_row(record, to_micros), record.id, record.id)


def _moved(row: tuple[Any, ...], now: datetime) -> Transition:
    """A row of the sweep's moves as the transition it made."""
    conversation = _conversation(row)
    to_state, reason, rule, threshold = row[8], row[9], row[10], row[11]
    return Transition(
        conversation.id, conversation.channel, conversation.state, State(to_state), Reason(reason), rule, threshold,
        minutes_between(conversation.modified_on, now), conversation.modified_on, conversation,
    )  # fmt: skip


def _conversation(row: tuple[Any, ...]) -> Conversation:
    return conversation_of(row, from_micros)


def _row(conversation: Conversation, extra: str | None) -> tuple[Any, ...]:
    created = conversation.created_on
    return (
        conversation.id, str(conversation.channel), str(conversation.state), to_micros(conversation.modified_on),
        conversation.workstream, conversation.record_id, None if created is None else to_micros(created),
        conversation.network, extra,
    )  # fmt: skip


def _statements(script: str) -> list[str]:
    """A script's statements; `sqlite3.complete_statement` keeps triggers' inner semicolons together."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    return statements


def _database_files(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
