"""Process timing for the benchmark: wall time and per-child peak RSS.

Each sample is one whole process started with ``subprocess.Popen`` and reaped
with ``os.wait4``, whose ``ru_maxrss`` is that child's own peak resident set
(KiB on Linux), not the benchmark's.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    """One timed process run."""

    wall_s: float
    maxrss_kib: int
    returncode: int


@dataclass
class Series:
    """All samples of one contender at one size."""

    label: str
    samples: list[Sample] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, sample: Sample) -> None:
        """Append one sample."""
        self.samples.append(sample)

    @property
    def wall(self) -> float:
        """Median wall time in seconds."""
        return statistics.median(s.wall_s for s in self.samples)

    @property
    def wall_min(self) -> float:
        """Fastest wall time in seconds."""
        return min(s.wall_s for s in self.samples)

    @property
    def rss_mib(self) -> float:
        """Median peak RSS in MiB."""
        return statistics.median(s.maxrss_kib for s in self.samples) / 1024


class ProcessFailed(RuntimeError):
    """A contender exited with a non-zero status."""


CHILD_ENV: dict[str, str] = dict(os.environ)
"""Environment of every timed child (see ``use_bytecode_cache``)."""


def use_bytecode_cache(prefix: Path) -> None:
    """Let children cache bytecode under ``prefix`` instead of never caching.

    With PYTHONDONTWRITEBYTECODE set (as here) and no ``__pycache__`` in the
    package under development, every ocac run would recompile its sources,
    unlike an installed package; PYTHONPYCACHEPREFIX keeps the cache out of
    the source tree and applies equally to all Python contenders.
    """
    CHILD_ENV.pop("PYTHONDONTWRITEBYTECODE", None)
    CHILD_ENV["PYTHONPYCACHEPREFIX"] = str(prefix)


def run_timed(argv: list[str], stdout: Path | None = None, stderr: Path | None = None) -> Sample:
    """Run ``argv`` to completion; time it and read its peak RSS.

    stdout goes to ``stdout`` (or /dev/null), stderr to ``stderr`` (or
    /dev/null). Opening them happens before the clock starts.
    """
    out = open(stdout, "wb") if stdout else open(os.devnull, "wb")
    err = open(stderr, "wb") if stderr else open(os.devnull, "wb")
    with out, err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=CHILD_ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Sample(wall, usage.ru_maxrss, proc.returncode)


def checked(sample: Sample, what: str, stderr: Path | None) -> Sample:
    """Raise ProcessFailed (with the child's stderr) on a non-zero exit."""
    if sample.returncode != 0:
        tail = stderr.read_text(errors="replace")[-2000:] if stderr and stderr.exists() else ""
        raise ProcessFailed(f"{what} exited with {sample.returncode}\n{tail}")
    return sample


def fresh_copy(src: Path, dst: Path) -> Path:
    """Copy ``src`` to ``dst`` and fsync it, so no write-back is pending."""
    remove(dst)
    shutil.copyfile(src, dst)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return dst


def remove(path: Path) -> None:
    """Delete a file if it exists."""
    path.unlink(missing_ok=True)


def file_id(path: Path) -> tuple[int, int, int]:
    """(inode, mtime ns, size): unchanged iff the file was not rewritten."""
    st = path.stat()
    return st.st_ino, st.st_mtime_ns, st.st_size
