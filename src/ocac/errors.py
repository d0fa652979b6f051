"""The exceptions ocac raises and the exit codes they map to."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes; documented in the README and in `ocac --help`."""

    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    LOCKED = 3
    IO = 4
    NOTIFY_FAILED = 5
    UNAVAILABLE = 6
    CHECK_FAILED = 7


class OcacError(Exception):
    """A known failure: its message tells the user what went wrong and how to fix it."""

    exit_code = ExitCode.USAGE


class InvalidInput(OcacError):
    """A bad value given on the command line (duration, channel, state, time, id…)."""


class InvalidDuration(InvalidInput):
    """A duration that does not parse or is out of range."""


class InvalidName(InvalidInput):
    """An unknown channel, state or other name."""


class InvalidTime(InvalidInput):
    """A timestamp that does not parse or lacks an offset."""


class NotFound(InvalidInput):
    """A conversation, workstream or record that does not exist."""


class Refused(InvalidInput):
    """A request that is well-formed but not allowed (a forbidden transition, a case rule…)."""


class ConfigError(OcacError):
    """The configuration file cannot be read or is invalid."""


class StoreError(OcacError):
    """The conversation store cannot be read or is invalid."""


class ImportFileError(OcacError):
    """A file given to an import command is invalid."""


class LockTimeout(OcacError):
    """Another process held a lock for longer than the lock timeout."""

    exit_code = ExitCode.LOCKED


class FileAccessError(OcacError):
    """A file or folder could not be read or written (permissions, disk full, not a file…)."""

    exit_code = ExitCode.IO


class NotifyFailed(OcacError):
    """The notify command failed after the sweep was committed."""

    exit_code = ExitCode.NOTIFY_FAILED


class StoreUnavailable(OcacError):
    """A database server cannot be reached, refuses us, or went away mid-command."""

    exit_code = ExitCode.UNAVAILABLE


class CheckFailed(OcacError):
    """A health check found a problem (`status --check`, `doctor`)."""

    exit_code = ExitCode.CHECK_FAILED
