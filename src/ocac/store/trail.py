"""A file store's audit trail: an append-only JSON Lines file beside the store.

A change appends its records, renames the new store into place (the store names the run it
reflects), then appends a commit line for the run. So whatever instant a writer is killed:

- records followed by their commit line are committed;
- records of the store's own last run with no commit line yet are committed too (the writer
  died after the rename); the next writer seals them with their commit line;
- records of any other run with no commit line were never committed (the writer died before
  the rename): the next writer removes them, and readers never show them.

Nothing else is ever removed: a store restored from a backup leaves the trail as it is, and
a damaged line stays where it is, skipped (and reported) by readers. Appends always start
on a fresh line. The trail is never opened through a symbolic link.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from ocac import fsutil
from ocac.audit import AuditRecord, SweepSummary, sweep_counts
from ocac.errors import FileAccessError
from ocac.model import Action

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AuditRecord)
_CHUNK = 1 << 16
_WHAT = "history"


def trail_path(store: Path) -> Path:
    """The trail beside the store: `conversations.json` → `conversations.history.jsonl`."""
    target = fsutil.real_path(store)
    return target.with_name(f"{target.stem}.history.jsonl")


class Trail(msgspec.Struct):
    """The trail of the store at `store`; writers hold the store's lock."""

    path: Path
    owner: tuple[int, int] | None = None
    """Who a new trail should belong to: the store's owner."""
    mode: int = 0o666
    """The permissions of a new trail (the store's, so a private store gets a private trail)."""

    # -- writing -----------------------------------------------------------------------------

    def append(self, records: Sequence[AuditRecord]) -> None:
        """Append records (not yet committed) and make them durable."""
        if records:
            self._append(_encoder.encode_lines(records))

    def commit(self, run_id: str, action: Action, at: datetime, by: str, detail: dict[str, Any] | None) -> None:
        """Append the line that commits `run_id`'s records."""
        line = AuditRecord(run_id=run_id, action=action, at=at, by=by, detail=detail, commit=True)
        self._append(_encoder.encode(line) + b"\n")

    def _append(self, data: bytes) -> None:
        try:
            fd = self._open(os.O_RDWR | os.O_APPEND | os.O_CREAT)  # read: to see whether the last line is whole
        except FileNotFoundError:
            raise FileAccessError(f"cannot append to history {self.path}: its folder does not exist") from None
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # after a torn line: never glue a record to it
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError as error:
            raise fsutil.describe_os_error(error, self.path, "append to history") from None
        finally:
            os.close(fd)

    def _open(self, flags: int) -> int:
        try:
            fd = fsutil.open_regular(self.path, flags | os.O_NOFOLLOW, _WHAT, self.mode)
        except FileNotFoundError:
            raise
        except OSError as error:
            if error.errno == 40:  # ELOOP: the trail is a symbolic link
                raise FileAccessError(
                    f"history {self.path} is a symbolic link: ocac writes its audit trail only to a regular "
                    "file beside the store; replace the link by the file it points to"
                ) from None
            raise fsutil.describe_os_error(error, self.path, "open history") from None
        if flags & os.O_CREAT:
            fsutil.give_to(fd, self.owner)
        return fd

    @contextlib.contextmanager
    def rewriting(self, history: Iterable[AuditRecord], last_sweep: SweepSummary | None) -> Iterator[str | None]:
        """Replace the trail by `history` (committed run by run) when the block ends without error.

        The new trail is written before the block, which gets the last run written (for the store
        to name); the old trail is kept aside, not deleted. Used by `store copy`.
        """
        last: list[str] = []
        with fsutil.AtomicFile(self.path, self.owner) as replacement:
            replacement.write(self._runs(history, last_sweep, last))
            yield last[-1] if last else None
            aside = self._keep_aside()
            replacement.commit()
        if aside is not None:
            _warn(f"the previous history {self.path} was kept as {aside}")

    def _runs(
        self, history: Iterable[AuditRecord], last_sweep: SweepSummary | None, last: list[str]
    ) -> Iterator[bytes]:
        """The trail's lines, each run followed by its commit line; `last` gets each run id as it is written."""
        run: AuditRecord | None = None
        batch: list[AuditRecord] = []
        for record in history:
            if run is not None and record.run_id != run.run_id:
                yield _encoder.encode_lines(batch) + self._commit_line(run)
                last.append(run.run_id)
                batch = []
            run = record
            batch.append(record)
            if len(batch) >= 10_000:
                yield _encoder.encode_lines(batch)
                batch = []
        if run is not None:
            yield _encoder.encode_lines(batch) + self._commit_line(run)
            last.append(run.run_id)
        if last_sweep is not None:
            line = AuditRecord(
                run_id=last_sweep.run_id, action=Action.SWEEP, at=last_sweep.at, detail=last_sweep.detail(), commit=True
            )
            yield _encoder.encode(line) + b"\n"
            last.append(last_sweep.run_id)

    @staticmethod
    def _commit_line(record: AuditRecord) -> bytes:
        line = AuditRecord(run_id=record.run_id, action=record.kind, at=record.at, by=record.by, commit=True)
        return _encoder.encode(line) + b"\n"

    def _keep_aside(self) -> Path | None:
        """Give the current trail, if it has anything, a name of its own beside it."""
        if not self.size():
            return None
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.replaced-{stamp}")
        try:
            os.link(self.path, aside)
        except OSError as error:
            raise fsutil.describe_os_error(error, aside, "keep the previous history as") from None
        return aside

    def recover(self, committed_run: str | None) -> None:
        """Seal or remove what a killed writer left after the last commit line. Call under the store lock.

        A last line without its newline is a killed writer's torn append: it goes first. Then the
        records of the store's own run get their commit line (the writer died after the rename),
        and those of any other single run are removed (it died before).
        """
        tail = self._tail()
        if tail is None:
            return
        runs = {record.run_id for record in tail.records}
        if len(runs) > 1 or tail.damaged_before_end:
            _warn(f"history {self.path} ends with records of {len(runs)} run(s) and no commit line; left as it is")
            return
        if tail.torn is not None:
            self._truncate(tail.torn)
        if not runs:
            return
        (run,) = runs
        if run == committed_run:  # the writer died after the store's rename: the run stands
            first = tail.records[0]
            self.commit(run, first.kind, first.at, first.by or "", _detail(tail.records))
            return
        self._truncate(tail.offset)  # the writer died before the rename: its records were never committed

    def _truncate(self, offset: int) -> None:
        try:
            fd = self._open(os.O_WRONLY)
            try:
                os.ftruncate(fd, offset)
                os.fsync(fd)
            finally:
                os.close(fd)
        except FileNotFoundError:
            return
        except OSError as error:
            raise fsutil.describe_os_error(error, self.path, "roll back history") from None

    def unsealed(self) -> list[AuditRecord]:
        """The records after the last commit line (those of a writer that died, or is writing now)."""
        tail = self._tail()
        return [] if tail is None else tail.records

    def _tail(self) -> _Tail | None:
        """The lines after the last commit line (or legacy record), read backwards from the end."""
        try:
            fd = self._open(os.O_RDONLY)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "rb") as handle:
            end = handle.seek(0, os.SEEK_END)
            tail = _Tail(end)
            for start, line in _lines_backwards(handle, end):
                if not line.strip():
                    continue
                record = _decode(line)
                if record is not None and (record.commit or record.action is None):
                    tail.offset = min(start + len(line) + 1, end)
                    return tail
                tail.offset = start
                if record is None and start + len(line) == end:
                    tail.torn = start  # a last line without its newline: the killed writer's torn append
                elif record is None:
                    tail.damaged_before_end = True
                else:
                    tail.records.insert(0, record)
            return tail

    # -- reading -----------------------------------------------------------------------------

    def read(self, committed_run: str | None) -> Iterator[AuditRecord]:
        """The committed records, oldest first; damaged lines are skipped and reported once at the end."""
        try:
            fd = self._open(os.O_RDONLY)
        except FileNotFoundError:
            return
        damaged: list[int] = []
        pending: list[AuditRecord] = []
        with os.fdopen(fd, "rb") as handle:
            for record in _records(handle, damaged):
                if record.commit:
                    yield from (r for r in pending if r.run_id == record.run_id)
                    pending.clear()
                elif record.action is None:
                    yield record  # written before commit lines existed: committed with its store
                else:
                    if pending and pending[0].run_id != record.run_id:
                        pending.clear()  # a run that never committed
                    pending.append(record)
        if pending and pending[0].run_id == committed_run:
            yield from pending
        if damaged:
            _warn(f"history {self.path}: skipped {len(damaged)} damaged line(s) (line {damaged[0]} first)")

    def last_sweep(self) -> SweepSummary | None:
        """The last committed sweep, from the nearest sweep commit line to the end."""
        try:
            fd = self._open(os.O_RDONLY)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "rb") as handle:
            for _start, line in _lines_backwards(handle, handle.seek(0, os.SEEK_END)):
                record = _decode(line) if line.strip() else None
                if record is not None and record.commit and record.kind is Action.SWEEP:
                    return SweepSummary.from_detail(record.run_id, record.at, record.detail)
        return None

    def size(self) -> int:
        """The trail's size in bytes (0 when it does not exist)."""
        try:
            return os.lstat(self.path).st_size
        except FileNotFoundError:
            return 0
        except OSError as error:
            raise fsutil.describe_os_error(error, self.path, "check history") from None


def _records(handle: BinaryIO, damaged: list[int]) -> Iterator[AuditRecord]:
    """Every record line's record; the numbers of lines that are not records go to `damaged`.

    A last line without its newline is being appended, or was torn by a killed writer (the
    next writer removes it): it is skipped, but is not damage.
    """
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        record = _decode(line)
        if record is not None:
            yield record
        elif line.endswith(b"\n"):
            damaged.append(number)


class _Tail(msgspec.Struct):
    """What follows the last commit line: where it starts, its records, and whether a line is damaged."""

    offset: int
    records: list[AuditRecord] = msgspec.field(default_factory=list)
    damaged_before_end: bool = False
    torn: int | None = None
    """Where a last line without its newline starts, if the file ends with one."""


def _detail(records: list[AuditRecord]) -> dict[str, Any] | None:
    """What a sweep's commit line keeps of its records (none for other changes)."""
    first = records[0]
    if first.kind is not Action.SWEEP:
        return None
    return SweepSummary(first.run_id, first.at, len(records), sweep_counts(records)).detail()


def _lines_backwards(handle: BinaryIO, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line without its newline) from the last line to the first, read in chunks."""
    position, pending = end, b""
    while position:
        step = min(_CHUNK, position)
        position -= step
        handle.seek(position)
        pending = handle.read(step) + pending
        lines = pending.split(b"\n")
        pending = lines[0]
        offset = position + len(pending) + 1
        starts = []
        for line in lines[1:]:
            starts.append(offset)
            offset += len(line) + 1
        for start, line in zip(reversed(starts), reversed(lines[1:]), strict=True):
            yield start, line
    yield 0, pending


def _decode(line: bytes) -> AuditRecord | None:
    try:
        return _decoder.decode(line)
    except (msgspec.MsgspecError, UnicodeDecodeError, ValueError, RecursionError):
        return None


def _warn(message: str) -> None:
    with contextlib.suppress(OSError):
        print(f"ocac: warning: {message}", file=sys.stderr)
