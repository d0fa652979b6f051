"""The in-memory store: typed conversations plus what a backend needs to write them back."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import msgspec

from ocac.errors import StoreError
from ocac.instants import format_instant
from ocac.model import KNOWN_FIELDS, WAITING_CHANNELS, Conversation, State

MARKER_KEY = "ocac"
"""The top-level key where ocac records the last committed sweep (see `SweepMarker`)."""


class SweepMarker(msgspec.Struct, omit_defaults=True):
    """The last sweep the store reflects, and the history size that sweep left.

    History bytes past `history_size` belong to a sweep whose store was never committed
    (the process died between the two writes) and are rolled back by the next writer.
    """

    run_id: str
    at: str
    moved: Annotated[int, msgspec.Meta(ge=0)]
    history_size: Annotated[int, msgspec.Meta(ge=0)]


class StoreMeta(msgspec.Struct, omit_defaults=True):
    """ocac's own top-level entry in the store."""

    last_sweep: SweepMarker | None = None


@dataclass
class Document:
    """A loaded store. Change it with `update`, `upsert`, `clear`, `delete_record`, `set_marker`."""

    path: Path
    conversations: list[Conversation]
    deleted_records: set[str]
    meta: StoreMeta
    backend_state: Any = None
    """What the backend keeps to write unchanged parts back as they were."""
    original_count: int = 0
    changed: dict[int, frozenset[str]] = field(default_factory=dict)
    """Indexes whose known fields changed, with those fields' names (unknown fields are kept)."""
    replaced: dict[int, Mapping[str, Any]] = field(default_factory=dict)
    """Indexes rewritten whole (imports), with the unknown fields to write."""
    cleared: bool = False
    top_changed: set[str] = field(default_factory=set)
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

    def get(self, conversation_id: str) -> Conversation | None:
        """The conversation with this id, or None."""
        index = self.index_of(conversation_id)
        return None if index is None else self.conversations[index]

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

    def set_marker(self, marker: SweepMarker) -> None:
        """Record the sweep this store reflects."""
        self.meta = StoreMeta(last_sweep=marker)
        self.top_changed.add(MARKER_KEY)

    def entries(self) -> Iterator[tuple[int, Conversation]]:
        """Every conversation with its index."""
        return enumerate(self.conversations)


def stored_value(value: object) -> object:
    """A known field's value as a store holds it: instants as RFC 3339 in UTC."""
    return format_instant(value) if isinstance(value, datetime) else value


def plain_value(value: object) -> object:
    """A value as plain Python: raw JSON slices (kept from imports) decoded."""
    return msgspec.json.decode(value) if isinstance(value, msgspec.Raw) else value


def validate(path: Path, conversations: list[Conversation]) -> None:
    """Checks the types cannot express: unique ids, waiting only where channels can wait."""
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
        if conversation.channel not in WAITING_CHANNELS:
            raise StoreError(
                f"store {path}: conversation '{conversation.id}': state: {conversation.channel} "
                "conversations cannot be waiting (only persistent-chat, sms, social and teams can)"
            )
