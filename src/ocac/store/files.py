"""Where stores live on disk, how they are read, and the locked read-modify-write cycle."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from ocac import fsutil
from ocac.model import KNOWN_FIELDS, Conversation
from ocac.store.document import Document, StoreMeta, plain_value


class Backend(Protocol):
    """A store format: bytes to a `Document` and back, keeping what it does not know."""

    def decode(self, path: Path, data: bytes, *, writable: bool) -> Document: ...

    def encode(self, document: Document) -> Iterator[bytes]: ...

    def fields_of(self, document: Document, index: int) -> dict[str, Any]: ...


def _backend(path: Path) -> Backend:
    """The backend for a store path: `.toml` is TOML, anything else JSON."""
    if path.suffix.lower() == ".toml":
        from ocac.store import toml_backend

        return toml_backend
    from ocac.store import json_backend

    return json_backend


def history_path(store: Path) -> Path:
    """The audit trail beside the store: `conversations.json` → `conversations.history.jsonl`."""
    target = fsutil.real_path(store)
    return target.with_name(f"{target.stem}.history.jsonl")


def load(path: Path, *, writable: bool = False) -> Document:
    """Read and validate the store; a missing store is an empty one."""
    data = fsutil.read_bytes(path, "store")
    if data is None:
        return Document(path, [], set(), StoreMeta(), None, 0)
    document: Document = _backend(path).decode(path, data, writable=writable)
    return document


class Transaction:
    """A store loaded under its lock; `commit` writes it if anything changed."""

    def __init__(self, document: Document) -> None:
        self.document = document

    def commit(self, before_replace: Callable[[], None] | None = None) -> bool:
        """Write the new store beside the old, run `before_replace`, then rename it into place.

        `before_replace` (a sweep's history append) runs in a second thread while the store is
        written, since both mostly wait on the disk; the rename waits for both and does not
        happen if either failed. Returns whether the store was written (a transaction that
        changed nothing writes nothing). If the process dies at any point, the store is the old
        or the new file.
        """
        if not self.document.dirty:
            return False
        with fsutil.AtomicFile(self.document.path) as replacement:
            replacement.prepare()  # a store we may not replace fails here, before any history is written
            with _alongside(before_replace):
                replacement.write(_backend(self.document.path).encode(self.document))
            replacement.commit()
        return True


@contextmanager
def _alongside(task: Callable[[], None] | None) -> Iterator[None]:
    """Run `task` in a thread during the block; wait for it at the end and raise what it raised."""
    if task is None:
        yield
        return
    import threading

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


@contextmanager
def transaction(path: Path, lock_timeout: float) -> Iterator[Transaction]:
    """Lock the store, clean up after any killed writer, and load it for changing."""
    from ocac import history

    with fsutil.locked(path, lock_timeout, "store"):
        fsutil.remove_stale_temps(path)
        document = load(path, writable=True)
        history.recover(history_path(path), document.meta.last_sweep)
        yield Transaction(document)


def fields_of(document: Document, index: int) -> dict[str, object]:
    """Every field of one conversation as stored, known and unknown (for `conversations show`)."""
    fields: dict[str, object] = _backend(document.path).fields_of(document, index)
    return fields


def upsert(document: Document, conversation: Conversation, extra: Mapping[str, Any]) -> str:
    """Add or replace a conversation: 'added', 'updated', or 'unchanged' when it is stored as given.

    An unchanged conversation is not marked for writing, so an import that brings nothing new
    leaves the store file untouched.
    """
    index = document.index_of(conversation.id)
    if (
        index is not None
        and index < document.original_count
        and not document.cleared
        and index not in document.changed
        and index not in document.replaced
        and document.conversations[index] == conversation
    ):
        stored = {k: v for k, v in fields_of(document, index).items() if k not in KNOWN_FIELDS}
        if stored == {k: plain_value(v) for k, v in extra.items()}:
            return "unchanged"
    return document.upsert(conversation, extra)
