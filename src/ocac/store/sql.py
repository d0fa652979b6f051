"""What the database stores share: named queries, instants as integers, and the policy's cells as SQL.

Each backend keeps its SQL in one file of named queries (`sqlite.sql`, `postgresql.sql`):
a line `-- name: NAME` starts a query. Only the conditions that depend on the policy's
cells (`ocac.policy.cutoffs`) and on a listing's selection are built here, with every value
passed as a parameter.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from ocac.audit import AuditRecord, HistoryQuery
from ocac.errors import StoreError
from ocac.model import KNOWN_FIELDS, Action, Channel, Conversation, State
from ocac.policy import Cutoff
from ocac.store.base import Selection
from ocac.store.document import decode_json

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

COLUMNS = ("id", "channel", "state", "modified_on", "workstream", "record_id", "created_on", "network", "extra")
"""A conversation row's columns, in the order `conversation_of` reads them."""


@functools.cache
def queries(filename: str) -> dict[str, str]:
    """The named queries of a `.sql` file beside this module."""
    # Beside this module, read as a file: importlib.resources costs ~4 ms to import, a tenth of a
    # no-op sweep's work on a database store (ocac is installed as files, never run from a zip).
    text = Path(__file__).with_name(filename).read_text(encoding="utf-8")
    named: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("-- name:"):
            if name is not None:
                named[name] = "\n".join(lines).strip()
            name, lines = line.removeprefix("-- name:").strip(), []
        elif name is not None:
            lines.append(line)
    if name is not None:
        named[name] = "\n".join(lines).strip()
    return named


def to_micros(instant: datetime) -> int:
    """An instant as whole microseconds since 1970 in UTC: integers compare as instants do."""
    return (instant - EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    """The UTC instant `to_micros` gave."""
    return EPOCH + timedelta(microseconds=micros)


class Params:
    """Collects query parameters; calling it with a value returns the placeholder to write."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.values: list[Any] = []

    def __call__(self, value: object) -> str:
        self.values.append(value)
        return self.marker

    def many(self, values: Iterable[object]) -> str:
        """`(?, ?, ?)` for each value, sorted so that equal sets give equal queries."""
        return "(" + ", ".join(self(v) for v in sorted(values, key=str)) + ")"


Instant = Callable[[datetime], object]
"""How a backend passes an instant: SQLite as microseconds, PostgreSQL as a timestamptz."""


DELETED_RECORD = "c.record_id IN (SELECT d.record_id FROM ocac_deleted_records d)"
"""A conversation whose linked record is deleted (SQLite probes the index of deleted records for each)."""
OPEN_CASE = "c.channel = 'case' AND c.state IN ('open', 'active')"
"""The condition of the index of open case conversations by record, literally (SQLite needs to see it)."""


def cell_condition(cell: Cutoff, p: Params, instant: Instant, column: str, deleted: str = DELETED_RECORD) -> str:
    """The SQL condition for "in this cell and due": the rows an index range scan returns."""
    parts = [] if cell.channel is None else [f"c.channel = {p(str(cell.channel))}"]
    parts.append(f"c.state = {p(str(cell.state))}")
    parts.append("c.state <> 'closed'")  # the partial indexes' own condition, literally: SQLite needs to see it
    parts.extend(_in_part("c.workstream", cell.workstreams, cell.other_workstreams, p))
    parts.extend(_in_part("c.network", cell.networks, cell.other_networks, p))
    if cell.record_deleted:  # only open case conversations are ever closed by a deleted record
        parts.extend((OPEN_CASE, deleted))
    parts.append(f"c.{column} < {p(instant(cell.before))}")
    return " AND ".join(parts)


def _in_part(column: str, only: frozenset[str] | None, others: frozenset[str], p: Params) -> list[str]:
    parts = []
    if only is not None:
        parts.append(f"{column} IN {p.many(only)}" if only else "FALSE")
    if others:
        parts.append(f"({column} IS NULL OR {column} NOT IN {p.many(others)})")
    return parts


def within_cell(cell: Cutoff, selection: Selection | None) -> Selection | None:
    """What of a listing's selection is left to test on one cell's rows, or None when it takes none
    of them. The channel and state a cell fixes are dropped: a planner given both `state IN (…)`
    and `state = …` for one index scans it unordered and sorts the whole cell."""
    if selection is None:
        return Selection()
    if selection.states and cell.state not in selection.states:
        return None
    channels = selection.channels
    if channels and cell.channel is not None:
        if cell.channel not in channels:
            return None
        channels = frozenset()
    return Selection(channels, frozenset(), selection.workstreams)


def cells_taken(cells: Iterable[Cutoff], selection: Selection | None) -> Iterator[tuple[int, Cutoff, Selection]]:
    """Each cell a listing's selection takes, with its number and what of the selection it must still test."""
    for number, cell in enumerate(cells):
        chosen = within_cell(cell, selection)
        if chosen is not None:
            yield number, cell, chosen


def selection_condition(selection: Selection | None, p: Params) -> str:
    """The SQL condition of a listing's selection ("TRUE" when it selects everything)."""
    if selection is None:
        return "TRUE"
    parts = []
    if selection.channels:
        parts.append(f"c.channel IN {p.many(str(c) for c in selection.channels)}")
    if selection.states:
        parts.append(f"c.state IN {p.many(str(s) for s in selection.states)}")
    if selection.workstreams is not None:
        parts.append(f"c.workstream IN {p.many(selection.workstreams)}" if selection.workstreams else "FALSE")
    return " AND ".join(parts) or "TRUE"


_raw_object = msgspec.json.Decoder(dict[str, msgspec.Raw])
_encoder = msgspec.json.Encoder()


def extra_json(extra: dict[str, Any] | Any) -> str | None:
    """Unknown fields as one JSON object's text (raw slices copied as they are); None when there are none."""
    fields = {k: v for k, v in extra.items() if k not in KNOWN_FIELDS}
    if not fields:
        return None
    try:
        return _encoder.encode(fields).decode("utf-8")
    except UnicodeDecodeError as error:
        raise StoreError(f"a field ocac does not know is not UTF-8 text (byte {error.start})") from None


def extra_fields(text: str | bytes | None) -> dict[str, msgspec.Raw]:
    """The unknown fields kept as text, as raw JSON slices."""
    if not text:
        return {}
    return _raw_object.decode(text)


def conversation_of(row: tuple[Any, ...], instant: Callable[[Any], datetime]) -> Conversation:
    """A row of `COLUMNS` (the extra column may be missing) as a `Conversation`."""
    return Conversation(
        row[0], Channel(row[1]), State(row[2]), instant(row[3]), row[4], row[5],
        None if row[6] is None else instant(row[6]), row[7],
    )  # fmt: skip


def decoded_extra(text: str | bytes | None) -> dict[str, Any]:
    """The unknown fields kept as text, as plain values."""
    decoded: dict[str, Any] = {} if not text else decode_json(text)
    return decoded


def history_condition(query: HistoryQuery, p: Params, instant: Instant, column: str) -> str:
    """The SQL condition of a history query's filters (not its order or limit)."""
    conditions = []
    if query.id is not None:
        conditions.append(f"conversation_id = {p(query.id)}")
    if query.since is not None:
        conditions.append(f"{column} >= {p(instant(query.since))}")
    if query.until is not None:
        conditions.append(f"{column} <= {p(instant(query.until))}")
    if query.actions:
        conditions.append(f"action IN {p.many(str(a) for a in query.actions)}")
    if query.channels:
        conditions.append(f"channel IN {p.many(query.channels)}")
    if query.reasons:
        conditions.append(f"reason IN {p.many(query.reasons)}")
    return " AND ".join(conditions) or "TRUE"


def history_row(record: AuditRecord, instant: Instant) -> tuple[Any, ...]:
    """A record as the history table's columns (run_id … detail)."""
    detail = None if record.detail is None else _encoder.encode(record.detail).decode()
    return (
        record.run_id, str(record.kind), instant(record.at), record.by, record.id, _text(record.channel),
        _text(record.from_state), _text(record.to_state), _text(record.reason), record.rule,
        record.threshold_minutes, record.idle_minutes, detail,
    )  # fmt: skip


def _text(value: str | None) -> str | None:
    return None if value is None else str(value)


def record_of(row: tuple[Any, ...], instant: Callable[[Any], datetime]) -> AuditRecord:
    """A history table row as a record."""
    return AuditRecord(
        run_id=row[0], action=Action(row[1]), at=instant(row[2]), by=row[3], id=row[4], channel=row[5],
        from_state=row[6], to_state=row[7], reason=row[8], rule=row[9], threshold_minutes=row[10],
        idle_minutes=row[11], detail=decoded_extra(row[12]) if row[12] else None,
    )  # fmt: skip
