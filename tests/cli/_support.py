"""Helpers the command-line tests share: what a store holds (read back through the store interface)
and how a failing command looks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from ocac.audit import AuditRecord, HistoryQuery, SweepSummary
from ocac.model import Conversation
from ocac.store import Selection, Store, open_store


@contextmanager
def opened(location: Path | str) -> Iterator[Store]:
    """A fresh handle on the store at `location` (a path or URL), closed at the end."""
    with closing(open_store(str(location), 5)) as store:
        yield store


def conversations(location: Path | str) -> list[Conversation]:
    """Every stored conversation (in the store's order)."""
    with opened(location) as store:
        return list(store.select(Selection()))


def states(location: Path | str) -> dict[str, tuple[str, datetime]]:
    """Every stored conversation's state and modified_on, by id."""
    with opened(location) as store:
        return {c.id: (str(c.state), c.modified_on) for c in store.select(Selection())}


def fields(location: Path | str, conversation_id: str) -> dict[str, Any]:
    """Every field of one stored conversation, known and unknown, as stored."""
    with opened(location) as store:
        stored = store.get(conversation_id)
        assert stored is not None, f"no conversation {conversation_id!r} in {location}"
        return dict(stored.fields)


def history(location: Path | str, query: HistoryQuery | None = None) -> list[AuditRecord]:
    """The committed audit records, oldest first."""
    with opened(location) as store:
        return store.history(query or HistoryQuery())


def last_sweep(location: Path | str) -> SweepSummary | None:
    with opened(location) as store:
        return store.last_sweep()


def deleted_records(location: Path | str) -> list[str]:
    with opened(location) as store:
        return store.deleted_records()


def snapshot(path: Path) -> tuple[bytes, int, int]:
    """A file's bytes, inode and modification time: equal snapshots mean the file was not rewritten."""
    info = os.stat(path)
    return path.read_bytes(), info.st_ino, info.st_mtime_ns


def fail(result: Any, code: int = 2) -> str:
    """The one `ocac: error: …` line a failing command writes (nothing on stdout); checks the exit code."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ocac: error: "), result.stderr
    message: str = lines[0]
    return message


def words(text: str) -> list[list[str]]:
    """The non-blank lines of a table, each split into words."""
    return [line.split() for line in text.splitlines() if line.strip()]
