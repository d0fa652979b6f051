"""The PostgreSQL store: one store shared by several hosts, each running the sweep from cron.

Two connectors speak to the server: `ocac.store.libpq` (libpq through ctypes, ~7 ms to load)
for everything a statement at a time, and psycopg 3 (100-160 ms to import, so imported only when
needed) for what moves many rows at once: `store copy` (COPY), `import` and `dump`; for
everything when libpq cannot be loaded. Every change is one transaction with its history rows.
The sweep:

- holds `pg_try_advisory_xact_lock` in a transaction of its own for its whole run: a second
  host's sweep sees the lock taken and stands down at once ("skipped", exit 0); the lock is
  transaction-scoped, so it is safe behind a transaction-pooling PgBouncer, and a killed
  sweeper's connection closes and frees it;
- moves conversations in batches, each batch a transaction with its history rows, so a
  touch never waits long behind a mass sweep, and a killed sweep leaves whole batches;
- selects each batch with one ordered index range scan per cell of the policy, starting where
  the last batch stopped;
- moves a row only if its state and `modified_on` are still what the batch selected, so
  nothing is moved twice and no concurrent touch is undone.

The instant of a change is the server's clock unless `--now` is given, so hosts with
skewed clocks agree. Tables are prefixed `ocac_` in the connection's schema.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import msgspec

from ocac.audit import Audit, AuditRecord, HistoryQuery, SweepSummary, chunks
from ocac.errors import InvalidInput, LockTimeout, NotFound, Refused, StoreError, StoreUnavailable
from ocac.instants import minutes_between
from ocac.model import Action, Channel, Conversation, Reason, State
from ocac.paths import ENV_POSTGRESQL_DRIVER
from ocac.policy import Cutoff, Policy, Transition, cutoffs
from ocac.store import libpq, mask
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
    history_condition,
    history_row,
    queries,
    record_of,
    selection_condition,
)

if TYPE_CHECKING:
    import psycopg


class _Rows(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class _Db(Protocol):
    """What the store asks of a connection: psycopg's, or `libpq.Connection`."""

    @property
    def closed(self) -> bool: ...
    def execute(self, query: str, params: Sequence[Any] | None = None, /) -> _Rows: ...
    def transaction(self) -> contextlib.AbstractContextManager[Any]: ...
    def close(self) -> None: ...


SCHEMA_VERSION = 3
MIGRATIONS = {1: "migration-1", 2: "migration-2", 3: "migration-3"}
BATCH = 10_000
"""Rows a sweep moves per transaction."""
SCHEMA_LOCK = 0x6F636163_00000001
"""Advisory lock keys: "ocac" and a number, so that they do not clash with other applications'."""
SWEEP_LOCK = 0x6F636163
"""The sweep lock's first key ("ocac"); the second is the schema's hash."""
RECORD_LOCK = 0x6F636164
"""The first key of a linked record's lock; the second hashes the schema and the record."""
CONNECT_TIMEOUT = 10
_CONNECT_OPTIONS = {"connect_timeout": str(CONNECT_TIMEOUT), "application_name": "ocac"}
"""libpq's keywords for every connection, through either connector."""
LOCK_TIMEOUT_STATES = ("55P03", "57014")
"""lock_not_available, query_canceled (lock_timeout and statement_timeout)."""
UNREACHABLE_CLASSES = ("08", "27", "28", "2F", "38", "39", "3B", "40", "53", "54", "55", "57", "58", "F", "H")
"""The SQLSTATE classes psycopg raises as OperationalError (the server cannot do it now: connection,
authorization, transaction rollback such as a deadlock, resources, operator intervention…): exit 6
with either connector."""
UNIQUE_VIOLATION = "23505"
Q = queries("postgresql.sql")
DELETED_RECORD = "c.record_id = ANY(ARRAY(SELECT d.record_id FROM ocac_deleted_records d))"
"""PostgreSQL probes the index of linked records with the (few) deleted ones, instead of merging the whole index."""
_SELECT = "SELECT c.id, c.channel, c.state, c.modified_on, c.workstream, c.record_id, c.created_on, c.network"


class PostgresStore:
    """A PostgreSQL database holding ocac's tables."""

    backend = "postgresql"

    def __init__(self, url: str, lock_timeout: float) -> None:
        self.url = url
        self.location = mask(url)
        self.lock_timeout = lock_timeout
        # PostgreSQL reads 0 as "wait forever": --lock-timeout 0 means "do not wait", so 1 ms at least.
        self._lock_wait_ms = max(1, round(lock_timeout * 1000))
        self._connection: _Db | None = None
        self._bulk: psycopg.Connection[Any] | None = None
        self._version: int | None = None
        try:
            params = _settings(url, self.location)
        except Exception as error:
            if not _is_driver_error(error):
                raise
            raise StoreError(f"store {self.location} is not a valid PostgreSQL URL: {_first_line(error)}") from None
        self._where = f"host {params.get('host') or 'localhost'}, database {params.get('dbname') or '(default)'}"

    def close(self) -> None:
        for connection in (self._connection, self._bulk):
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.close()
        self._connection = self._bulk = None

    # Connecting ------------------------------------------------------------------------------

    def _connect(self) -> _Db:
        if self._connection is not None and not self._connection.closed:
            return self._connection
        self._connection = self._open()
        return self._connection

    def _open(self) -> _Db:
        """A new connection (libpq's if it loads, else psycopg's): autocommit (transactions are
        explicit), UTC, bounded lock waits."""
        with self._guard():
            lib = _libpq()
            if lib is None:
                return self._open_psycopg()
            connection = libpq.Connection(lib, self.url, **_CONNECT_OPTIONS)
            self._set_up(connection)
        return connection

    def _set_up(self, connection: _Db) -> None:
        try:
            connection.execute(f"SET TIME ZONE 'UTC'; SET datestyle = 'ISO, YMD'; {self._lock_wait('SET')}")
        except BaseException:
            connection.close()
            raise

    def _open_psycopg(self) -> psycopg.Connection[Any]:
        """A new psycopg connection, as `_open` sets it up."""
        driver = _psycopg(self.location)
        with self._guard():
            connection: psycopg.Connection[Any] = driver.connect(self.url, autocommit=True, **_CONNECT_OPTIONS)
            self._set_up(connection)
        return connection

    def _bulk_connection(self) -> psycopg.Connection[Any]:
        """The psycopg connection of what moves many rows at once (COPY, imports)."""
        if self._bulk is None or self._bulk.closed:
            self._bulk = self._open_psycopg()
        return self._bulk

    def _lock_wait(self, command: str) -> str:
        """``SET`` (the session) or ``SET LOCAL`` (the transaction) the lock wait of --lock-timeout."""
        return f"{command} lock_timeout = {self._lock_wait_ms:d}"

    def _error(self, error: BaseException) -> Exception:
        """A driver error as one of ocac's: one line naming the server and database."""
        state = _sqlstate(error)
        if state in LOCK_TIMEOUT_STATES:
            return LockTimeout(
                f"store {self.location} is locked by another writer; gave up after {self.lock_timeout:g}s: "
                "try again, or raise --lock-timeout"
            )
        if _is_lost(error) or (state or "").startswith(UNREACHABLE_CLASSES):
            return StoreUnavailable(f"cannot reach PostgreSQL ({self._where}): {_first_line(error)}")
        return StoreError(f"store {self.location}: {_first_line(error)}")

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn driver errors into ocac's; a connection that broke is dropped."""
        try:
            yield
        except Exception as error:
            if not _is_driver_error(error):
                raise
            if self._connection is not None and self._connection.closed:
                self._connection = None
            raise self._error(error) from None

    def _schema_version(self, connection: _Db) -> int | None:
        if self._version is None:
            with self._guard():
                if connection.execute(Q["has-migrations"]).fetchone()[0]:
                    self._version = connection.execute(Q["schema-version"]).fetchone()[0]
            if self._version is not None and self._version > SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.location} has schema version {self._version}, newer than this ocac knows "
                    f"({SCHEMA_VERSION}): upgrade ocac to use it"
                )
        return self._version

    def _reader(self) -> _Db | None:
        """The connection, or None when the schema does not exist yet (an empty store)."""
        connection = self._connect()
        return connection if self._schema_version(connection) is not None else None

    @contextlib.contextmanager
    def _writing(self) -> Iterator[_Db]:
        """One transaction, the schema created or migrated first."""
        with self._transaction(self._connect()) as db:
            yield db

    @contextlib.contextmanager
    def _writing_in_bulk(self) -> Iterator[psycopg.Connection[Any]]:
        """`_writing` on psycopg's connection, for COPY and many rows at once."""
        with self._transaction(self._bulk_connection()) as db:
            yield db

    @contextlib.contextmanager
    def _transaction(self, connection: Any) -> Iterator[Any]:
        with self._guard(), connection.transaction():
            # Again for this transaction: behind a transaction-pooling PgBouncer the session's SET
            # may have been made on another server connection.
            connection.execute(self._lock_wait("SET LOCAL"))
            self._migrate(connection)
            yield connection

    def _migrate(self, connection: _Db) -> None:
        if self._schema_version(connection) == SCHEMA_VERSION:
            return
        connection.execute(Q["lock-schema"], (SCHEMA_LOCK,))  # hosts creating the schema at once take turns
        self._version = None
        current = self._schema_version(connection) or 0
        connection.execute(Q["create-migrations"])
        for version in range(current + 1, SCHEMA_VERSION + 1):
            connection.execute(Q[MIGRATIONS[version]])
            connection.execute(Q["record-migration"], (version,))
        self._version = SCHEMA_VERSION

    def _rows(self, query: str, params: Sequence[Any] = ()) -> list[Any]:
        connection = self._reader()
        if connection is None:
            return []
        with self._guard():
            return connection.execute(query, params).fetchall()

    def clock(self) -> datetime:
        with self._guard():
            row = self._connect().execute(Q["clock"]).fetchone()
        assert row is not None
        instant: datetime = row[0]
        return instant

    # Reading ---------------------------------------------------------------------------------

    def exists(self) -> bool:
        self._connect()
        return True  # a reachable database is a store (an empty one until the first write)

    def get(self, conversation_id: str) -> Stored | None:
        rows = self._rows(Q["get"], (conversation_id,))
        return None if not rows else _stored(rows[0])

    def ids_starting_with(self, prefix: str, limit: int) -> list[str]:
        return [row[0] for row in self._rows(Q["ids-starting-with"], (prefix, len(prefix), prefix, limit))]

    def select(self, selection: Selection) -> Iterator[Conversation]:
        p = Params("%s")
        where = selection_condition(selection, p)
        rows = self._rows(f"{_SELECT} FROM ocac_conversations c WHERE {where}", p.values)
        return (conversation_of(row, _same) for row in rows)

    def due(
        self, policy: Policy, at: datetime, *, selection: Selection | None = None, limit: int | None = None
    ) -> list[Transition]:
        cells = cutoffs(policy, at)
        listing = _listing_query(cells, selection, limit)
        if listing is None:
            return []
        rows = self._rows(*listing)
        transitions = [cells[row[-1]].transition(conversation_of(row, _same), at) for row in rows]
        return order_due(transitions, limit)

    def count_due(self, policy: Policy, at: datetime, *, selection: Selection | None = None) -> dict[Channel, int]:
        p = Params("%s")
        branches = []
        for _, cell, chosen in cells_taken(cutoffs(policy, at), selection):
            due = cell_condition(cell, p, _same, "modified_on", DELETED_RECORD)
            where = f"{due} AND {selection_condition(chosen, p)}"
            branches.append(f"SELECT c.channel, count(*) FROM ocac_conversations c WHERE {where} GROUP BY c.channel")
        if not branches:
            return {}
        counts: dict[Channel, int] = {}
        for channel, n in self._rows(" UNION ALL ".join(branches), p.values):
            counts[Channel(channel)] = counts.get(Channel(channel), 0) + n
        return counts

    def counts(self) -> dict[tuple[Channel, State], int]:
        return {(Channel(c), State(s)): n for c, s, n in self._rows(Q["counts"])}

    def oldest_open(self) -> dict[Channel, tuple[str, datetime]]:
        oldest: dict[Channel, tuple[str, datetime]] = {}
        for channel in Channel:
            for state in State:
                if state is State.CLOSED:
                    continue
                for conversation_id, instant in self._rows(Q["oldest-in-cell"], (str(channel), str(state))):
                    best = oldest.get(channel)
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
        rows = self._rows(Q["future"], (now,))
        return int(rows[0][0]) if rows else 0

    def writable(self) -> str | None:
        if self._reader() is None:
            rows = self._rows_anyway(Q["can-create"])
            return None if rows and rows[0][0] else f"this user cannot create tables in {self.location}'s schema"
        rows = self._rows(Q["can-write"])
        return None if rows and rows[0][0] else f"this user cannot change the ocac tables of {self.location}"

    def _rows_anyway(self, query: str) -> list[Any]:
        with self._guard():
            return self._connect().execute(query).fetchall()

    def history(self, query: HistoryQuery) -> list[AuditRecord]:
        p = Params("%s")
        where = history_condition(query, p, _same, "at")
        order = "DESC" if query.newest_first or query.limit is not None else "ASC"
        limit = "" if query.limit is None else f" LIMIT {p(query.limit)}"
        rows = self._rows(f"{_HISTORY} WHERE {where} ORDER BY seq {order}{limit}", p.values)
        records = [record_of(row, _same) for row in rows]
        if query.limit is not None and not query.newest_first:
            records.reverse()  # the last N, oldest first
        return records

    def last_sweep(self) -> SweepSummary | None:
        rows = self._rows(Q["last-sweep"])
        if not rows:
            return None
        run_id, at, moved, detail = rows[0]
        summary = SweepSummary.from_detail(run_id, at, decoded_extra(detail))
        return SweepSummary(run_id, at, moved, summary.counts)

    def info(self) -> StoreInfo:
        counts = self.counts()
        by_state: dict[State, int] = {}
        for (_channel, state), n in counts.items():
            by_state[state] = by_state.get(state, 0) + n
        connection = self._reader()
        size = self._rows(Q["size"])[0][0] if connection is not None else 0
        return StoreInfo(
            self.backend, self.location, self._version if connection is not None else None, sum(counts.values()),
            by_state, len(self.deleted_records()), size, self.last_sweep(), True,
        )  # fmt: skip

    # Writing ---------------------------------------------------------------------------------

    def add(self, conversation: Conversation, audit: Audit) -> None:
        with self._writing() as db:
            try:
                with db.transaction():
                    db.execute(Q["insert-conversation"], _row(conversation, None))
            except Exception as error:
                if _sqlstate(error) != UNIQUE_VIOLATION:
                    raise
                raise Refused(f"a conversation '{conversation.id}' already exists: pick another --id") from None
            record = audit.record(Action.ADD, id=conversation.id, channel=conversation.channel,
                                  to_state=conversation.state)  # fmt: skip
            db.execute(Q["insert-history"], history_row(record, _same))

    def change(
        self, conversation_id: str, change: Change, action: Action, audit: Audit, detail: dict[str, Any] | None = None
    ) -> tuple[Conversation, Conversation]:
        with self._writing() as db:
            row = db.execute(Q["get-for-update"], (conversation_id,)).fetchone()
            if row is None:
                raise NotFound(f"no conversation '{conversation_id}' in {self.location}: see 'ocac conversations list'")
            old = conversation_of(row, _same)
            new = change(old)
            if new != old:
                db.execute(Q["update-conversation"], (*_row(new, None)[1:8], new.id))
                record = audit.record(action, id=new.id, channel=new.channel, from_state=old.state,
                                      to_state=new.state, detail=detail)  # fmt: skip
                db.execute(Q["insert-history"], history_row(record, _same))
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
        with self._writing_in_bulk() as db:
            if replace:
                db.execute(Q["lock-table"])  # the whole table becomes the file: no writer in between
            counts = ImportCounts()
            changed: list[tuple[Any, ...]] = []
            for start in range(0, len(incoming), BATCH):
                batch = incoming[start : start + BATCH]
                rows = db.execute(Q["stored-of"], ([item.conversation.id for item in batch],)).fetchall()
                stored = {row[0]: row for row in rows}
                for item in batch:
                    row = _row(item.conversation, extra_json(item.extra))
                    before = stored.get(item.conversation.id)
                    if before is None:
                        counts.added += 1
                    elif _unchanged(before, item.conversation, row[8]):
                        counts.unchanged += 1
                        continue
                    else:
                        counts.updated += 1
                    changed.append(row)
            ids = [item.conversation.id for item in incoming]
            if replace:
                counts.removed = db.execute(Q["count-not-in"], (ids,)).fetchone()[0]  # type: ignore[index]
            wanted = list(dict.fromkeys(deleted_records))
            known = {r for (r,) in db.execute("SELECT record_id FROM ocac_deleted_records WHERE record_id = ANY(%s)",
                                              (wanted,))}  # fmt: skip
            new_records = [r for r in wanted if r not in known]
            counts.records_deleted = len(new_records)
            if dry_run or not (changed or counts.removed or new_records):
                return counts
            with db.cursor() as cursor:
                cursor.executemany(Q["upsert-conversation"], changed)
                if counts.removed:
                    cursor.execute(Q["delete-not-in"], (ids,))
                cursor.executemany(Q["insert-deleted-record"], [(r,) for r in new_records])
            detail = {"source": source, "replace": replace} | counts.to_json()
            detail.pop("written")
            db.execute(Q["insert-history"], history_row(audit.record(Action.IMPORT, detail=detail), _same))
            counts.written = True
            return counts

    def set_record_deleted(self, record_id: str, deleted: bool, audit: Audit, *, dry_run: bool) -> RecordChange:
        with self._writing() as db:
            db.execute(Q["lock-records"], (RECORD_LOCK, record_id))  # one change of a record at a time
            linked = db.execute(Q["linked-count"], (record_id,)).fetchone()[0]
            present = bool(db.execute(Q["is-record-deleted"], (record_id,)).fetchone()[0])
            if present == deleted:
                return RecordChange(False, linked)
            if not dry_run:
                db.execute(Q["insert-deleted-record" if deleted else "delete-deleted-record"], (record_id,))
                action = Action.RECORD_DELETED if deleted else Action.RECORD_UNDELETED
                record = audit.record(action, detail={"record_id": record_id, "linked": linked})
                db.execute(Q["insert-history"], history_row(record, _same))
            return RecordChange(True, linked)

    def sweep(self, policy: Policy, audit: Audit, *, details: bool = True) -> SweepOutcome:
        lock = self._open()  # its own connection: its transaction holds the sweep lock to the end
        try:
            with self._guard(), lock.transaction():
                lock.execute(self._lock_wait("SET LOCAL"))
                if not lock.execute(Q["try-lock-sweep"], (SWEEP_LOCK,)).fetchone()[0]:
                    return SweepOutcome([], 0, False, "another sweep is in progress on this store (another host?)")
                cells = cutoffs(policy, audit.at)
                lock.execute("SAVEPOINT nothing_due")
                if self._schema_version(lock) == SCHEMA_VERSION and not _any_due(lock, cells):
                    # The sweep of every five minutes that finds nothing: one connection, not two.
                    return SweepOutcome([], self._record_sweep(lock, audit, Counter(), details), False, moved=0)
                # Let go of the tables the check read: while the batches run, the lock's transaction
                # holds the advisory lock alone, and nothing (a migration, `store copy --replace`)
                # queues behind it.
                lock.execute("ROLLBACK TO SAVEPOINT nothing_due")
                return self._sweep_locked(cells, audit, details)
        finally:
            with contextlib.suppress(Exception):
                lock.close()

    def _sweep_locked(self, cells: Sequence[Cutoff], audit: Audit, details: bool) -> SweepOutcome:
        """Move the due conversations in batches, each one transaction with its history rows; then
        record the sweep.

        A batch takes the due rows of the cells in turn, each cell's in the order of its index,
        from where the previous batch stopped: rows it moved have left their cells, so no batch
        reads them again.
        """
        rows: list[tuple[Any, ...]] = []
        counts: Counter[tuple[str, str, str]] = Counter()
        start: _Resume | None = _Resume(0, None) if cells else None
        while start is not None:
            with self._writing() as db:
                batch = _move_batch(db, cells, start, audit, details)
            counts.update(batch.counts)
            rows.extend(batch.rows)
            start = batch.resume
        with self._writing() as db:
            considered = self._record_sweep(db, audit, counts, details)
        rows.sort(key=lambda row: (row[12], row[0]))  # soonest due first, as `plan` lists them
        moved = [_transition(row, audit.at) for row in rows]
        total = sum(counts.values())
        return SweepOutcome(moved, considered, bool(total), moved=total)

    def _record_sweep(self, db: _Db, audit: Audit, counts: Counter[tuple[str, str, str]], details: bool) -> int | None:
        """Record a sweep and what it moved; with ``details``, how many conversations it considered."""
        total = sum(counts.values())
        detail = msgspec.json.encode(SweepSummary(audit.run_id, audit.at, total, counts).detail()).decode()
        db.execute(Q["insert-sweep"], (audit.run_id, audit.at, audit.by, total, detail))
        considered: int | None = db.execute(Q["conversation-count"]).fetchone()[0] if details else None
        return considered

    def record(self, records: Sequence[AuditRecord]) -> None:
        if not records:
            return
        with self._writing() as db:
            for r in records:
                db.execute(Q["insert-history"], history_row(r, _same))

    # Copying ---------------------------------------------------------------------------------

    def dump(self) -> Dump:
        connection = self._reader()
        if connection is None:
            return Dump(iter(()), [], iter(()), None, 0)
        total = self._rows(Q["conversation-count"])[0][0]

        def rows(query: str) -> Iterator[tuple[Any, ...]]:
            """A query's rows, fetched in chunks through a server-side cursor of a connection of its own."""
            reader = self._open_psycopg()
            with self._guard(), reader, reader.transaction(), reader.cursor(name="ocac_dump") as cursor:
                cursor.itersize = 5000
                cursor.execute(query)
                yield from cursor

        conversations = (Incoming(conversation_of(r, _same), extra_fields(r[8])) for r in rows(Q["all-conversations"]))
        history = (record_of(r, _same) for r in rows(Q["history-all"]))

        return Dump(conversations, self.deleted_records(), history, self.last_sweep(), total)

    def fill(self, dump: Dump, *, replace: bool, progress: Callable[[int], None]) -> int:
        with self._writing_in_bulk() as db:
            db.execute(Q["lock-table"])
            if db.execute(Q["is-empty"]).fetchone()[0]:  # type: ignore[index]
                if not replace:
                    raise Refused(f"store {self.location} is not empty: add --replace to overwrite it")
                db.execute(Q["wipe"])
            db.execute(Q["drop-secondary-indexes"])  # faster to build them once, after the load
            count = _copy_conversations(db, dump.conversations, progress)
            with db.cursor() as cursor:
                cursor.executemany(Q["insert-deleted-record"], [(r,) for r in dump.deleted_records])
            _copy_history(db, dump.history)
            db.execute(Q["create-secondary-indexes"])
            if dump.last_sweep is not None:
                last = dump.last_sweep
                detail = msgspec.json.encode(last.detail()).decode()
                db.execute(Q["insert-sweep"], (last.run_id, last.at, None, last.moved, detail))
            db.execute("ANALYZE ocac_conversations")
            progress(count)
            return count


_HISTORY = (
    "SELECT run_id, action, at, by, conversation_id, channel, from_state, to_state, reason, rule, "
    "threshold_minutes, idle_minutes, detail::text FROM ocac_history"
)
_HISTORY_COLUMNS = (
    "run_id", "action", "at", "by", "conversation_id", "channel", "from_state", "to_state", "reason", "rule",
    "threshold_minutes", "idle_minutes", "detail",
)  # fmt: skip


def _psycopg(location: str) -> Any:
    """psycopg, imported now (it costs 100-160 ms), or a StoreError saying how to install it."""
    import logging

    try:
        import psycopg
    except ImportError:
        raise StoreError(
            f"store {location}: this needs psycopg, which is not installed: pip install 'ocac[postgresql]'"
        ) from None
    # psycopg logs what it ignores while cleaning up after a dropped connection; ocac reports the
    # error itself, in one line, so psycopg's warnings must not reach stderr (Python's last resort).
    logging.getLogger("psycopg").addHandler(logging.NullHandler())
    return psycopg


def _libpq() -> ctypes.CDLL | None:
    """libpq, unless it does not load or ``OCAC_POSTGRESQL_DRIVER=psycopg`` asks for psycopg alone."""
    driver = os.environ.get(ENV_POSTGRESQL_DRIVER, "").strip().lower()
    if driver == "psycopg":
        return None
    if driver not in ("", "libpq"):
        raise InvalidInput(f"{ENV_POSTGRESQL_DRIVER}={driver!r}: choose libpq (the default) or psycopg")
    return libpq.library()


def _settings(url: str, location: str) -> dict[str, str]:
    """What a libpq URL says (host, dbname…), as libpq reads it."""
    lib = _libpq()
    if lib is not None:
        return libpq.conninfo(lib, url)
    driver = _psycopg(location)
    return {key: str(value) for key, value in driver.conninfo.conninfo_to_dict(url).items()}


def _is_driver_error(error: BaseException) -> bool:
    """An error of libpq or psycopg (the server's, or the connection's)."""
    if isinstance(error, libpq.Error):
        return True
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(error, psycopg.Error)


def _sqlstate(error: BaseException) -> str | None:
    state = getattr(error, "sqlstate", None)
    return state if isinstance(state, str) else None


def _is_lost(error: BaseException) -> bool:
    """The connection is gone (or never came): the server is down, unreachable or refused us."""
    if isinstance(error, libpq.Error):
        return error.lost
    psycopg = sys.modules.get("psycopg")
    if psycopg is None:
        return False
    return isinstance(error, psycopg.InterfaceError) or (
        isinstance(error, psycopg.OperationalError) and _sqlstate(error) is None
    )


def _same(value: Any) -> Any:
    """PostgreSQL takes and gives instants as they are (timestamptz)."""
    return value


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _listing_query(
    cells: Sequence[Cutoff], selection: Selection | None, limit: int | None
) -> tuple[str, list[Any]] | None:
    """The due conversations of every cell the selection takes, in one statement (None: no cell)."""
    p = Params("%s")
    branches = [
        f"({_due_query(cell, chosen, limit, p, number)})" for number, cell, chosen in cells_taken(cells, selection)
    ]
    if not branches:
        return None
    query = " UNION ALL ".join(branches)
    if limit is not None:
        # The first `limit` of every cell, then the first `limit` of them all, in `order_due`'s
        # order (ids by code point: COLLATE "C"): the client reads 50 rows, not 50 a cell.
        query = f'SELECT * FROM ({query}) AS listed ORDER BY listed.due, listed.id COLLATE "C" LIMIT {p(limit)}'
    return query, p.values


def _due_query(cell: Cutoff, selection: Selection | None, limit: int | None, p: Params, number: int = 0) -> str:
    """One index range scan: the cell's due conversations, oldest first, each with its due instant
    and the cell's ``number``."""
    where = cell_condition(cell, p, _same, "modified_on", DELETED_RECORD)
    chosen = selection_condition(selection, p)
    tail = "" if limit is None else f" LIMIT {p(limit)}"
    due = f"c.modified_on + {int(cell.threshold_minutes)} * interval '1 minute' AS due"
    # Ties of modified_on (a sweep stamps every row it moves alike) go by code point, as `order_due`
    # takes them, whatever the database's collation: the index gives modified_on's order, and an
    # incremental sort orders each group of equal stamps.
    return (
        f"{_SELECT}, {due}, {number} FROM ocac_conversations c WHERE {where} AND {chosen} "
        f'ORDER BY c.modified_on, c.id COLLATE "C"{tail}'
    )


class _Resume(NamedTuple):
    """Where a sweep's next batch starts: this cell, after this (modified_on, id) if given."""

    cell: int
    after: tuple[datetime, str] | None


class _Batch(NamedTuple):
    """What a sweep's batch moved: counts by (channel, to, reason), the rows (with details), where to go on."""

    counts: dict[tuple[str, str, str], int]
    rows: list[tuple[Any, ...]]
    resume: _Resume | None
    """None when the batch was not full: nothing is left."""


def _batch_of(rows: list[tuple[Any, ...]], details: bool) -> _Batch:
    """A batch from what `_batch_query` returned: how far it selected, then its moved rows or their counts."""
    selected, cell, stamp, last_id = rows[0][:4]
    if details:
        moved = [_moved_row(row) for row in _json_rows.decode(rows[0][4] or "[]")]
        counts = dict(Counter((row[1], row[8], row[9]) for row in moved))
    else:
        moved = []
        counts = {(row[4], row[5], row[6]): row[7] for row in rows if row[4] is not None}
    # Rows selected but not moved (changed since) are behind the cursor too: a concurrent change wins.
    resume = _Resume(cell, (stamp, last_id)) if selected >= BATCH else None
    return _Batch(counts, moved, resume)


_json_rows = msgspec.json.Decoder(list[list[Any]])
_INSTANT_COLUMNS = (3, 6, 12)
"""Of a moved row: modified_on before the move, created_on, due."""


def _moved_row(row: list[Any]) -> tuple[Any, ...]:
    """A moved row from its JSON array: instants are ISO 8601 text there."""
    for column in _INSTANT_COLUMNS:
        if row[column] is not None:
            row[column] = datetime.fromisoformat(row[column])
    return tuple(row)


def _batch_query(
    cells: Sequence[Cutoff], start: _Resume, audit: Audit, size: int, *, details: bool
) -> tuple[str, list[Any]]:
    """A sweep's next batch: up to ``size`` due conversations moved, with their history rows.

    The due rows come from one ordered index range scan per cell, cell after cell from ``start``
    (a plain Append runs its branches in turn and the LIMIT stops it), until the batch is full. A
    row moves only if its state and ``modified_on`` are still what the selection saw, so a
    concurrent touch wins. The update finds each row by its tuple id (``ctid``), where the
    selection read it, rather than through the primary key (at 1M ~90 ms of a 10k batch's
    350 ms). The backstop on state and ``modified_on`` is what protects a concurrent change:
    PostgreSQL (up to 17 at least) follows a row updated meanwhile to its new version and
    rechecks the other conditions, not the tuple id. A batch writes its history rows soonest due
    first (a sweep of several batches, cell after cell).

    Each row it returns starts with the number of rows selected and the cell, ``modified_on`` and
    id of the furthest one (where the next batch starts); then with ``details`` the moved rows as
    they were, with their due instant and cell, as one JSON array of arrays in one row (one value
    to decode, not 14 a row: through ctypes a full batch's 140,000 values cost ~240 ms); without,
    the count of one (channel, to, reason) a row (250k rows cost the client ~1 s at 1M). A batch
    that moved nothing returns one row, its moved part NULL.
    """
    p = Params("%s")  # placeholders are positional: they are made in the order the text uses them
    branches = []
    for number in range(start.cell, len(cells)):
        cell = cells[number]
        span, target, reason = p(timedelta(minutes=cell.threshold_minutes)), p(str(cell.target)), p(str(cell.reason))
        rule, threshold = p(cell.rule), p(cell.threshold_minutes)
        where = cell_condition(cell, p, _same, "modified_on", DELETED_RECORD)
        if number == start.cell and start.after is not None:
            where += f" AND (c.modified_on, c.id) > ({p(start.after[0])}::timestamptz, {p(start.after[1])}::text)"
        branches.append(
            f"(SELECT c.id, c.ctid AS tid, c.state AS from_state, c.modified_on AS stamp, "
            f"c.modified_on + {span}::interval AS due, {target}::text AS to_state, {reason}::text AS reason, "
            f"{rule}::text AS rule, {threshold}::integer AS threshold, {number} AS cell "
            f"FROM ocac_conversations c WHERE {where} ORDER BY c.modified_on, c.id LIMIT {p(size)})"
        )
    union = "\n    UNION ALL ".join(branches)
    limit, now = p(size), p(audit.at)
    query = f"""WITH due AS MATERIALIZED (
    SELECT * FROM ({union}) AS cells LIMIT {limit}
), moved AS (
    UPDATE ocac_conversations c SET state = b.to_state, modified_on = {now}
    FROM due b WHERE c.ctid = b.tid AND c.state = b.from_state AND c.modified_on = b.stamp  -- the backstop
    RETURNING c.id, c.channel, b.from_state, b.stamp, c.workstream, c.record_id, c.created_on, c.network,
              b.to_state, b.reason, b.rule, b.threshold, b.due, b.cell
), recorded AS (
    INSERT INTO ocac_history (run_id, action, at, by, conversation_id, channel, from_state, to_state, reason, rule,
                              threshold_minutes, idle_minutes)
    SELECT {p(audit.run_id)}, 'sweep', {p(audit.at)}, {p(audit.by)}, m.id, m.channel, m.from_state, m.to_state,
           m.reason, m.rule, m.threshold, floor(extract(epoch FROM {p(audit.at)}::timestamptz - m.stamp) / 60)::integer
    FROM moved m ORDER BY m.due, m.id
)
SELECT s.*, m.* FROM (
    SELECT (SELECT count(*) FROM due), last.cell, last.stamp, last.id
    FROM (SELECT 1) AS one
    LEFT JOIN (SELECT cell, stamp, id FROM due ORDER BY cell DESC, stamp DESC, id DESC LIMIT 1) AS last ON TRUE
) AS s
LEFT JOIN {_MOVED_ROWS if details else _MOVED_COUNTS} AS m ON TRUE"""
    return query, p.values


_MOVED_ROWS = """(SELECT json_agg(json_build_array(id, channel, from_state, stamp, workstream, record_id, created_on,
                                           network, to_state, reason, rule, threshold, due, cell))::text
            FROM moved)"""
_MOVED_COUNTS = "(SELECT channel, to_state, reason, count(*) FROM moved GROUP BY channel, to_state, reason)"


def _any_due(db: _Db, cells: Sequence[Cutoff]) -> bool:
    """Whether any conversation is due: the first row of each cell's index range, until one is."""
    if not cells:
        return False
    p = Params("%s")
    branches = [
        f"(SELECT 1 FROM ocac_conversations c WHERE {cell_condition(cell, p, _same, 'modified_on', DELETED_RECORD)}"
        " LIMIT 1)"
        for cell in cells
    ]
    return bool(db.execute(f"SELECT EXISTS ({' UNION ALL '.join(branches)})", p.values).fetchone()[0])


def _move_batch(db: _Db, cells: Sequence[Cutoff], start: _Resume, audit: Audit, details: bool) -> _Batch:
    """Make a sweep's next batch in ``db``'s transaction (see `_batch_query`)."""
    db.execute(Q["batch-plan"])
    return _batch_of(db.execute(*_batch_query(cells, start, audit, BATCH, details=details)).fetchall(), details)


def _transition(row: tuple[Any, ...], now: datetime) -> Transition:
    conversation = conversation_of(row, _same)
    return Transition(
        conversation.id, conversation.channel, conversation.state, State(row[8]), Reason(row[9]), row[10], row[11],
        minutes_between(conversation.modified_on, now), conversation.modified_on, conversation,
    )  # fmt: skip


def _copy_history(db: psycopg.Connection[Any], records: Iterator[AuditRecord] | Any) -> None:
    from psycopg import sql

    columns = sql.SQL(", ").join(sql.Identifier(name) for name in _HISTORY_COLUMNS)
    with db.cursor() as cursor, cursor.copy(sql.SQL("COPY ocac_history ({}) FROM STDIN").format(columns)) as copy:
        for batch in chunks(records, 5000):
            for record in batch:
                copy.write_row(history_row(record, _same))


def _copy_conversations(db: psycopg.Connection[Any], conversations: Any, progress: Callable[[int], None]) -> int:
    from psycopg.types.json import Json

    count = 0
    types = ["text", "text", "text", "timestamptz", "text", "text", "timestamptz", "text", "json"]
    with db.cursor() as cursor, cursor.copy(Q["copy-conversations"]) as copy:
        copy.set_types(types)
        for item in conversations:
            row = _row(item.conversation, extra_json(item.extra))
            copy.write_row((*row[:8], None if row[8] is None else Json(row[8], dumps=_as_is)))
            count += 1
            if count % 10_000 == 0:
                progress(count)
    return count


def _as_is(text: str) -> str:
    """The JSON text of unknown fields, already encoded: sent as it is."""
    return text


def _row(conversation: Conversation, extra: str | None) -> tuple[Any, ...]:
    return (
        conversation.id, str(conversation.channel), str(conversation.state), conversation.modified_on,
        conversation.workstream, conversation.record_id, conversation.created_on, conversation.network, extra,
    )  # fmt: skip


def _stored(row: tuple[Any, ...]) -> Stored:
    conversation = conversation_of(row, _same)
    fields: dict[str, Any] = msgspec.to_builtins(conversation)
    fields.update(decoded_extra(row[8]))
    return Stored(conversation, fields)


def _unchanged(before: tuple[Any, ...], conversation: Conversation, extra: str | None) -> bool:
    return conversation_of(before, _same) == conversation and decoded_extra(before[8]) == decoded_extra(extra)
