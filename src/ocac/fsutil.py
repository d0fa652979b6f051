"""Atomic file replacement and inter-process locks: a killed ocac leaves the old or the new file."""

from __future__ import annotations

import contextlib
import os
import secrets
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

    def write(self, chunks: Iterable[bytes]) -> None:
        """Write the new content to a fsynced temporary file beside the target."""
        folder = self.target.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            mode = self._mode()
            self._temp = folder / f".{self.target.name}.{secrets.token_hex(6)}.tmp"
            fd = os.open(self._temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                handle.flush()
                os.fchmod(handle.fileno(), mode)
                os.fsync(handle.fileno())
        except OSError as error:
            self.abort()
            raise describe_os_error(error, self.target, "write") from None

    def _mode(self) -> int:
        try:
            return os.stat(self.target).st_mode & 0o7777
        except FileNotFoundError:
            return _DEFAULT_MODE & ~_umask()

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


@contextlib.contextmanager
def locked(path: Path, timeout: float, what: str) -> Iterator[None]:
    """Hold the exclusive lock of `path` (a sidecar `.lock` file); the kernel frees it if we die."""
    from filelock import FileLock, Timeout

    target = real_path(path)
    lock_path = target.with_name(target.name + ".lock")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(lock_path, timeout=timeout, is_singleton=False)
        lock.acquire()
    except Timeout:
        raise LockTimeout(
            f"{what} {path} is locked by another ocac process (lock file {lock_path}); "
            f"gave up after {timeout:g}s: try again, or raise --lock-timeout"
        ) from None
    except OSError as error:
        raise describe_os_error(error, lock_path, f"lock {what}") from None
    try:
        yield
    finally:
        lock.release()
