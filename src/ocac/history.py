"""The sweep audit trail: an append-only JSON Lines file beside the store.

A sweep appends its records before it renames the new store into place, and the store
records the history size it expects (`SweepMarker.history_size`). Bytes past that size come
from a sweep that died before its store was committed; `recover` cuts them off under the
store's lock, and readers never show them. So store and history agree whatever the instant
a process is killed.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import msgspec

from ocac.errors import StoreError
from ocac.fsutil import describe_os_error
from ocac.store.document import SweepMarker


class Entry(msgspec.Struct, kw_only=True):
    """One applied transition."""

    run_id: str
    at: datetime
    id: str
    channel: str
    from_state: str = msgspec.field(name="from")
    to_state: str = msgspec.field(name="to")
    reason: str
    rule: str
    threshold_minutes: int
    idle_minutes: int


class Record(msgspec.Struct, gc=False):
    """An `Entry` as written: the same fields, with the instant already formatted once per sweep."""

    run_id: str
    at: str
    id: str
    channel: str
    from_state: str = msgspec.field(name="from")
    to_state: str = msgspec.field(name="to")
    reason: str
    rule: str
    threshold_minutes: int
    idle_minutes: int


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Entry)


def encode_entries(entries: Iterable[Entry | Record]) -> bytes:
    """JSON Lines for `entries`."""
    return _encoder.encode_lines(list(entries))


def size(path: Path) -> int:
    """The history's size in bytes (0 when missing)."""
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def append(path: Path, data: bytes, like: Path | None = None) -> None:
    """Append whole lines and make them durable.

    A new history gets the permissions of `like` (the store it audits), so a private store
    does not get a world-readable history beside it.
    """
    mode = 0o666
    if like is not None:
        with contextlib.suppress(OSError):
            mode = os.stat(like).st_mode & 0o666
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, mode)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as error:
        raise describe_os_error(error, path, "append to history") from None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def recover(path: Path, marker: SweepMarker | None) -> None:
    """Cut off what an interrupted sweep appended but never committed. Call under the store lock."""
    expected = marker.history_size if marker else 0
    actual = size(path)
    if actual <= expected:
        if actual < expected:
            print(
                f"ocac: warning: history {path} is shorter than the store expects "
                f"({actual} < {expected} bytes); was it rotated?",
                file=sys.stderr,
            )
        return
    tail_runs = _run_ids(path, expected)
    if len(tail_runs) > 1:
        print(
            f"ocac: warning: history {path} has records of {len(tail_runs)} sweeps that the store "
            "does not know; leaving it as it is",
            file=sys.stderr,
        )
        return
    try:
        os.truncate(path, expected)
    except OSError as error:
        raise describe_os_error(error, path, "roll back history") from None


def _run_ids(path: Path, offset: int) -> set[str]:
    runs: set[str] = set()
    with open(path, "rb") as handle:
        handle.seek(offset)
        for line in handle:
            with contextlib.suppress(msgspec.MsgspecError, UnicodeDecodeError):
                run_id = msgspec.json.decode(line, type=dict[str, object]).get("run_id")
                if isinstance(run_id, str):
                    runs.add(run_id)
    return runs


def read(path: Path, marker: SweepMarker | None) -> Iterator[Entry]:
    """The committed entries, oldest first; an uncommitted tail is not shown."""
    limit = marker.history_size if marker else 0
    limit = max(limit, 0)
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return
    except OSError as error:
        raise describe_os_error(error, path, "read history") from None
    with handle:
        consumed = 0
        for number, line in enumerate(handle, start=1):
            consumed += len(line)
            if consumed > limit:
                return
            if not line.strip():
                continue
            try:
                yield _decoder.decode(line)
            except (msgspec.MsgspecError, UnicodeDecodeError) as error:
                raise StoreError(f"history {path}: line {number}: {error}") from None
