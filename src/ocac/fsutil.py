"""Atomic file replacement and inter-process locks: a killed ocac leaves the old or the new file."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

from ocac.errors import FileAccessError, LockTimeout

_DEFAULT_MODE = 0o666


def real_path(path: Path) -> Path:
    """The file a path names, through symlinks: we replace the target and keep the link."""
    return Path(os.path.realpath(path))


def describe_os_error(error: OSError, path: Path, doing: str) -> FileAccessError:
    """One line that names the file and what failed."""
    reason = error.strerror or str(error)
    return FileAccessError(f"cannot {doing} {path}: {reason}")


def read_bytes(path: Path, what: str) -> bytes | None:
    """A file's content, or None if it does not exist; other failures name the file."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise FileAccessError(f"{what} {path} is a directory, not a file") from None
    except OSError as error:
        raise describe_os_error(error, path, f"read {what}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class AtomicFile:
    """A replacement for `path` written beside it and renamed over it once complete.

    `write` fills and fsyncs the temporary file; `commit` renames it into place (keeping the
    old file's permissions) and fsyncs the folder; `abort` (also on `__exit__` without a
    commit) removes it. Split in two so that a sweep can append history between the steps.
    """

    def __init__(self, path: Path) -> None:
        self.target = real_path(path)
        self._temp: Path | None = None
        self._fd: int | None = None
        self._existing_stat: os.stat_result | None = None

    def prepare(self) -> None:
        """Check that the target may be replaced and create the temporary file beside it.

        Called by `write`; call it first to fail before doing anything else (a read-only
        store, a folder that cannot take a new file).
        """
        if self._fd is not None:
            return
        folder = self.target.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._existing_stat = self._existing()
            self._temp = folder / f".{self.target.name}.{secrets.token_hex(6)}.tmp"
            self._fd = os.open(self._temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as error:
            self.abort()
            raise describe_os_error(error, self.target, "write") from None

    def write(self, chunks: Iterable[bytes]) -> None:
        """Write the new content to a fsynced temporary file beside the target."""
        self.prepare()
        assert self._fd is not None
        existing = self._existing_stat
        mode = existing.st_mode & 0o7777 if existing else _DEFAULT_MODE & ~_umask()
        try:
            fd, self._fd = self._fd, None
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                handle.flush()
                if existing and (existing.st_uid, existing.st_gid) != (os.geteuid(), os.getegid()):
                    with contextlib.suppress(OSError):  # keep the owner (root may; others keep their group)
                        os.fchown(handle.fileno(), existing.st_uid, existing.st_gid)
                os.fchmod(handle.fileno(), mode)
                os.fsync(handle.fileno())
        except OSError as error:
            self.abort()
            raise describe_os_error(error, self.target, "write") from None

    def _existing(self) -> os.stat_result | None:
        """The file being replaced; a read-only one is refused, since a rename would get round that."""
        try:
            existing = os.stat(self.target)
        except FileNotFoundError:
            return None
        if not existing.st_mode & 0o222 or not os.access(self.target, os.W_OK):
            raise FileAccessError(f"cannot write {self.target}: the file is read-only; make it writable to change it")
        return existing

    def commit(self) -> None:
        """Rename the temporary file over the target and make the rename durable."""
        assert self._temp is not None, "write() first"
        try:
            os.replace(self._temp, self.target)
        except OSError as error:
            self.abort()
            raise describe_os_error(error, self.target, "replace") from None
        self._temp = None
        _fsync_folder(self.target.parent)

    def abort(self) -> None:
        """Remove the temporary file, if any."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self._temp is not None:
            with contextlib.suppress(OSError):
                self._temp.unlink()
            self._temp = None

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.abort()


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path: Path, content: bytes) -> None:
    """Replace `path` with `content` atomically (temp file, fsync, rename)."""
    with AtomicFile(path) as replacement:
        replacement.write([content])
        replacement.commit()


def remove_stale_temps(path: Path) -> None:
    """Remove temporary files a killed writer left beside `path`. Call under the lock."""
    target = real_path(path)
    with contextlib.suppress(OSError):
        for leftover in target.parent.glob(f".{target.name}.*.tmp"):
            with contextlib.suppress(OSError):
                leftover.unlink()


_LOCK_POLL = 0.02


@contextlib.contextmanager
def locked(path: Path, timeout: float, what: str) -> Iterator[None]:
    """Hold the exclusive lock of `path`: flock on a sidecar `.lock` file.

    The kernel frees the lock when its holder exits or is killed, so a crashed run never
    leaves a stale lock. The holder writes its pid into the file so that a waiter can name it.
    """
    import fcntl

    target = real_path(path)
    lock_path = target.with_name(target.name + ".lock")
    fd = _open_lock_file(lock_path, what)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"{what} {path} is locked by {_holder(lock_path)} (lock file {lock_path}); "
                        f"gave up after {timeout:g}s: try again, or raise --lock-timeout"
                    ) from None
                time.sleep(_LOCK_POLL)
        with contextlib.suppress(OSError):  # the pid is a courtesy for waiters, not a requirement
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _open_lock_file(lock_path: Path, what: str) -> int:
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)  # a symlink is never written through
    except PermissionError:
        with contextlib.suppress(OSError):  # someone else's lock file: a read-only handle can still lock
            return os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW)
        raise FileAccessError(f"cannot lock {what}: cannot create {lock_path}: permission denied") from None
    except OSError as error:
        raise describe_os_error(error, lock_path, f"lock {what} with") from None


def _holder(lock_path: Path) -> str:
    try:
        pid = int(lock_path.read_text().strip())
    except (OSError, ValueError):
        return "another ocac process"
    return f"another ocac process (pid {pid})"
