"""The in-memory store: typed conversations plus what a backend needs to write them back."""

from __future__ import annotations

import decimal
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import msgspec

from ocac.errors import StoreError
from ocac.instants import format_instant
from ocac.model import KNOWN_FIELDS, Conversation, State, waiting_problem

MARKER_KEY = "ocac"
"""The top-level key where ocac records the last committed sweep (see `SweepMarker`)."""


class SweepMarker(msgspec.Struct, omit_defaults=True):
    """The last sweep that moved something in this store."""

    run_id: str
    at: str
    moved: Annotated[int, msgspec.Meta(ge=0)]
    history_size: Annotated[int, msgspec.Meta(ge=0)] = 0
    """Written by ocac 0.1 only (its trail had no commit lines)."""


class StoreMeta(msgspec.Struct, omit_defaults=True):
    """ocac's own top-level entry in the store."""

    run: str | None = None
    """The last change this store reflects: its records in the trail are committed."""
    last_sweep: SweepMarker | None = None

    @property
    def committed_run(self) -> str | None:
        """The run whose trail records this store commits (for stores written by ocac 0.1, its last sweep)."""
        if self.run is not None:
            return self.run
        return self.last_sweep.run_id if self.last_sweep else None


class Document(msgspec.Struct):
    """A loaded store. Change it with `update`, `upsert`, `clear`, `delete_record`, `set_marker`."""

    path: Path
    conversations: list[Conversation]
    deleted_records: set[str]
    meta: StoreMeta
    backend_state: Any = None
    """What the backend keeps to write unchanged parts back as they were."""
    original_count: int = 0
    changed: dict[int, frozenset[str]] = msgspec.field(default_factory=dict)
    """Indexes whose known fields changed, with those fields' names (unknown fields are kept)."""
    replaced: dict[int, Mapping[str, Any]] = msgspec.field(default_factory=dict)
    """Indexes rewritten whole (imports), with the unknown fields to write."""
    cleared: bool = False
    top_changed: set[str] = msgspec.field(default_factory=set)
    _index: dict[str, int] | None = None

    @property
    def dirty(self) -> bool:
        """Whether anything needs writing."""
        return bool(self.changed or self.replaced or self.top_changed or self.cleared)

    def index_of(self, conversation_id: str) -> int | None:
        """The position of a conversation, or None."""
        if self._index is None:
            self._index = {c.id: i for i, c in enumerate(self.conversations)}
        return self._index.get(conversation_id)

    def update(self, index: int, conversation: Conversation) -> None:
        """Change known fields of an existing conversation; its unknown fields are kept."""
        old = self.conversations[index]
        differing = {name for name in KNOWN_FIELDS if getattr(old, name) != getattr(conversation, name)}
        if not differing:
            return
        self.conversations[index] = conversation
        if index not in self.replaced:
            self.changed[index] = self.changed.get(index, frozenset()) | differing

    def mark_changed(self, indexes: Iterable[int], fields: Iterable[str]) -> None:
        """Record that the conversations at `indexes`, changed in place, differ in `fields`.

        The fast path for a sweep, which moves many conversations the same way.
        """
        names = frozenset(fields)  # shared by every index: immutable, so no index can change another's
        if not self.changed and not self.replaced:  # the common case: one sweep, nothing else
            self.changed = dict.fromkeys(indexes, names)
            return
        changed, replaced = self.changed, self.replaced
        for index in indexes:
            if index in replaced:
                continue
            current = changed.get(index)
            if current is None:
                changed[index] = names
            elif current is not names:
                changed[index] = current | names

    def upsert(self, conversation: Conversation, extra: Mapping[str, Any]) -> str:
        """Add a conversation or replace one with the same id whole; 'added' or 'updated'."""
        index = self.index_of(conversation.id)
        if index is None:
            index = len(self.conversations)
            self.conversations.append(conversation)
            assert self._index is not None
            self._index[conversation.id] = index
            self.replaced[index] = extra
            return "added"
        self.conversations[index] = conversation
        self.changed.pop(index, None)
        self.replaced[index] = extra
        return "updated"

    def clear(self) -> None:
        """Drop every conversation (`import --replace`)."""
        self.conversations = []
        self._index = {}
        self.changed.clear()
        self.replaced.clear()
        self.cleared = True

    def delete_record(self, record_id: str) -> bool:
        """Mark a linked record deleted; False if it already was."""
        if record_id in self.deleted_records:
            return False
        self.deleted_records.add(record_id)
        self.top_changed.add("deleted_records")
        return True

    def undelete_record(self, record_id: str) -> bool:
        """Take a deletion back; False if the record was not marked deleted."""
        if record_id not in self.deleted_records:
            return False
        self.deleted_records.discard(record_id)
        self.top_changed.add("deleted_records")
        return True

    def set_run(self, run_id: str | None, sweep: SweepMarker | None = None) -> None:
        """Record the change this store reflects (and, for a sweep that moved something, the sweep)."""
        self.meta = StoreMeta(run=run_id, last_sweep=sweep or self.meta.last_sweep)
        self.top_changed.add(MARKER_KEY)

    def entries(self) -> Iterator[tuple[int, Conversation]]:
        """Every conversation with its index."""
        return enumerate(self.conversations)


def stored_value(value: object) -> object:
    """A known field's value as a store holds it: instants as RFC 3339 in UTC."""
    return format_instant(value) if isinstance(value, datetime) else value


def plain_value(value: object) -> object:
    """A value as plain Python: raw JSON slices (kept from imports) decoded."""
    return decode_json(value) if isinstance(value, msgspec.Raw) else value


def decode_json(data: bytes | str | msgspec.Raw) -> Any:
    """JSON ocac keeps but does not read (unknown fields), as plain Python, whatever its numbers.

    A number no float can hold (1e400) is valid JSON: it comes back as a Decimal rather than
    failing the command that shows it. Text that is not UTF-8 is a StoreError for the caller
    to name.
    """
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError:  # a number out of a float's range, or text that is not UTF-8
        try:
            text = bytes(data).decode("utf-8") if not isinstance(data, str) else data
        except UnicodeDecodeError:
            raise StoreError("text that is not UTF-8: fix the file or restore a backup") from None
        return json.loads(text, parse_float=decimal.Decimal, parse_constant=decimal.Decimal)


def validate(path: Path, conversations: list[Conversation]) -> None:
    """Checks the types cannot express: unique ids, waiting only where channels can wait, no empty id."""
    ids = [c.id for c in conversations]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        for index, conversation_id in enumerate(ids):
            if conversation_id in seen:
                raise StoreError(
                    f"store {path}: conversation #{index + 1}: duplicate id '{conversation_id}': ids must be unique"
                )
            seen.add(conversation_id)
    waiting = State.WAITING
    for conversation in [c for c in conversations if c.state is waiting]:
        problem = waiting_problem(conversation.channel, waiting)
        if problem:
            raise StoreError(f"store {path}: conversation '{conversation.id}': state: {problem}")
    if "" in ids:
        raise StoreError(f"store {path}: conversation #{ids.index('') + 1}: id: must not be empty")
