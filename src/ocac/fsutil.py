"""Atomic file replacement and inter-process locks: a killed ocac leaves the old or the new file."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
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


def exists(path: Path, what: str) -> bool:
    """Whether `path` names something; a folder that cannot be searched is an error, not "no"."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return False
    except OSError as error:
        raise describe_os_error(error, path, f"check {what}") from None
    return True


def write_problem(path: Path, what: str) -> str | None:
    """Why this process could not replace `path` (a file written atomically beside itself), or None."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # a missing folder is made by the first write: its nearest parent must allow it
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot create files in {folder} (the {what}'s folder): check its owner and mode"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{what} {path} is not writable by this user: check its owner and mode"
    return None


def open_regular(path: Path, flags: int, what: str, mode: int = 0o666) -> int:
    """Open a regular file; a FIFO, device or folder is refused at once instead of hanging or flooding.

    O_NONBLOCK makes opening a FIFO return immediately, so it can be refused; it changes
    nothing for regular files, which is all this returns.
    """
    fd = os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise FileAccessError(f"{what} {path} is {kind}: give the path of a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes(path: Path, what: str) -> bytes | None:
    """A regular file's content, or None if it does not exist; other failures name the file."""
    try:
        fd = open_regular(path, os.O_RDONLY, what)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise FileAccessError(f"{what} {path} is a directory: give the path of a regular file") from None
    except OSError as error:
        raise describe_os_error(error, path, f"read {what}") from None
    try:
        with os.fdopen(fd, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise describe_os_error(error, path, f"read {what}") from None


def owner_of(path: Path) -> tuple[int, int] | None:
    """(uid, gid) of `path`, or None when it cannot be read."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_uid, info.st_gid


def owner_for(path: Path) -> tuple[int, int] | None:
    """Who files ocac creates for `path` belong to: the file's owner, or its folder's for a new file."""
    target = real_path(path)
    return owner_of(target) or owner_of(target.parent)


def give_to(fd: int, owner: tuple[int, int] | None) -> None:
    """Make a file ocac just created belong to `owner` (the store's), where this process may.

    Root running ocac on a user's store must not leave files the user cannot open; others
    can at least keep the group, if they are in it.
    """
    if owner is None or owner == (os.geteuid(), os.getegid()):
        return
    with contextlib.suppress(OSError):
        os.fchown(fd, *owner)
        return
    with contextlib.suppress(OSError):
        os.fchown(fd, -1, owner[1])


class AtomicFile:
    """A replacement for `path` written beside it and renamed over it once complete.

    `write` fills and fsyncs the temporary file; `commit` renames it into place (keeping the
    old file's permissions) and fsyncs the folder; `abort` (also on `__exit__` without a
    commit) removes it. Split in two so that a sweep can append history between the steps.
    """

    def __init__(self, path: Path, owner: tuple[int, int] | None = None) -> None:
        self.target = real_path(path)
        self.owner = owner
        """Who a new file should belong to (an existing one keeps its owner)."""
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
            self._temp = folder / f".{self.target.name}.{os.urandom(6).hex()}.tmp"
            # A new file gets the umask from the kernel (reading it with os.umask would briefly set
            # it to 0 for every thread); a replacement starts private and takes the old mode below.
            mode = _DEFAULT_MODE if self._existing_stat is None else 0o600
            self._fd = os.open(self._temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except OSError as error:
            self.abort()
            raise describe_os_error(error, self.target, "write") from None

    def write(self, chunks: Iterable[bytes]) -> None:
        """Write the new content to a fsynced temporary file beside the target."""
        self.prepare()
        assert self._fd is not None
        existing = self._existing_stat
        try:
            fd, self._fd = self._fd, None
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                handle.flush()
                give_to(handle.fileno(), (existing.st_uid, existing.st_gid) if existing else self.owner)
                if existing:
                    os.fchmod(handle.fileno(), existing.st_mode & 0o7777)
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


def write_atomic(path: Path, content: bytes, owner: tuple[int, int] | None = None) -> None:
    """Replace `path` with `content` atomically (temp file, fsync, rename); a new file is `owner`'s."""
    with AtomicFile(path, owner) as replacement:
        replacement.write([content])
        replacement.commit()


_TEMP_SUFFIX = re.compile(r"\.[0-9a-f]{12}\.tmp")


def remove_stale_temps(path: Path) -> None:
    """Remove temporary files a killed writer left beside `path`. Call under the lock.

    Only `.NAME.<12 hex digits>.tmp` is ours: a glob would also match the temp files of a
    store whose name starts with this one's (`s.json` and `s.json.b.json`).
    """
    target = real_path(path)
    prefix = f".{target.name}"
    with contextlib.suppress(OSError):
        for leftover in target.parent.iterdir():
            name = leftover.name
            if name.startswith(prefix) and _TEMP_SUFFIX.fullmatch(name, len(prefix)):
                with contextlib.suppress(OSError):
                    leftover.unlink()


_LOCK_POLL = 0.02


@contextlib.contextmanager
def locked(path: Path, timeout: float, what: str, owner: tuple[int, int] | None = None) -> Iterator[None]:
    """Hold the exclusive lock of `path`: flock on a sidecar `.lock` file.

    The kernel frees the lock when its holder exits or is killed, so a crashed run never
    leaves a stale lock. The holder writes its pid into the file so that a waiter can name it.
    """
    target = real_path(path)
    lock_path = target.with_name(target.name + ".lock")
    fd = _open_lock_file(lock_path, what, owner)
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


def _open_lock_file(lock_path: Path, what: str, owner: tuple[int, int] | None) -> int:
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = open_regular(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, f"lock file of {what}")  # no symlinks
        give_to(fd, owner)
        return fd
    except PermissionError:
        with contextlib.suppress(OSError):  # someone else's lock file: a read-only handle can still lock
            return os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW)
        raise FileAccessError(f"cannot lock {what}: cannot create {lock_path}: permission denied") from None
    except OSError as error:
        raise describe_os_error(error, lock_path, f"lock {what} with") from None


def _holder(lock_path: Path) -> str:
    """Who holds the lock: the pid its holder wrote, named only if that process is alive."""
    try:
        pid = int(lock_path.read_text().strip())
        os.kill(pid, 0)  # signal 0: does the process exist?
    except PermissionError:  # it exists, as another user's process
        return f"another process (pid {pid})"
    except (OSError, ValueError):
        return "another process"
    return f"another process (pid {pid})"
