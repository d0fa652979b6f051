"""Shared helpers of the reliability suite: store generation, subprocess runs, store/history checks.

Also imported by `soak.py`, which runs the same scenarios for longer outside pytest.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path

import msgspec

from ocac import history, store
from ocac.instants import format_instant

BASE_NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
"""The reference instant the generated stores are built around."""

CONFIG = """\
# reliability-suite configuration
[rules.sms]
open = "14d"

[workstreams."Contoso Chat"]
channel = "persistent-chat"
auto_close_after = "3d"

[workstreams."Contoso SMS"]
channel = "sms"
auto_close_after = "2d"

[workstreams."Contoso IT Helpdesk"]
channel = "teams"
auto_close_after = "12h"

[workstreams."Contoso Support Line"]
channel = "voice"
wrap_up_block = "1h30m"
"""

_WAITING_STREAMS = {"persistent-chat": "Contoso Chat", "sms": "Contoso SMS", "teams": "Contoso IT Helpdesk"}
_CHANNELS = (
    ("chat", 30), ("voice", 20), ("sms", 10), ("teams", 10), ("social", 5), ("persistent-chat", 10), ("case", 15)
)  # fmt: skip
_STATES = {
    "chat": ("open", "active", "wrap-up", "closed"),
    "voice": ("open", "active", "wrap-up", "closed"),
    "case": ("open", "active", "closed"),
}
_WAITING_STATES = ("open", "active", "waiting", "wrap-up", "closed")

PYTHON = sys.executable
ENV = {
    **os.environ,
    "NO_COLOR": "1",
    "COLUMNS": "200",
    "PYTHONDONTWRITEBYTECODE": "1",
}
for _name in ("OCAC_STORE", "OCAC_CONFIG", "OCAC_DEBUG", "FORCE_COLOR", "OCAC_LOCK_TIMEOUT"):
    ENV.pop(_name, None)


def conversation(rng: random.Random, number: int, now: datetime, *, max_age_days: float = 40) -> dict[str, object]:
    """One plausible conversation, idle for up to `max_age_days` at `now`, with unknown fields."""
    channel = rng.choices([c for c, _ in _CHANNELS], [w for _, w in _CHANNELS])[0]
    state = rng.choice(_STATES.get(channel, _WAITING_STATES))
    age = timedelta(seconds=rng.randrange(int(max_age_days * 86400)))
    stamp = now - age
    item: dict[str, object] = {
        "id": f"c{number:06d}-{rng.getrandbits(32):08x}",
        "channel": channel,
        "state": state,
    }
    if number % 7 == 0:  # some timestamps carry an offset: they are compared as instants
        item["modified_on"] = stamp.astimezone(timezone_plus2()).isoformat()
    else:
        item["modified_on"] = format_instant(stamp)
    if channel in _WAITING_STREAMS and (state == "waiting" or rng.random() < 0.5):
        item["workstream"] = _WAITING_STREAMS[channel]
    elif channel == "voice" and rng.random() < 0.5:
        item["workstream"] = "Contoso Support Line"
    if channel == "case":
        item["record_id"] = f"INC-{number:06d}"
    item["queue"] = f"queue {number % 13}"
    item["customer"] = {"name": f"customer {number}", "tags": ["a", number % 5]}
    return item


def timezone_plus2() -> tzinfo:
    return timezone(timedelta(hours=2))


def store_bytes(conversations: Sequence[Mapping[str, object]], *, pretty: bool = True, **top: object) -> bytes:
    """A store document: pretty (one field a line) like the sample, or compact."""
    data = msgspec.json.encode({"conversations": list(conversations), **top})
    return msgspec.json.format(data, indent=2) + b"\n" if pretty else data


def generate_store(count: int, *, seed: int, now: datetime = BASE_NOW, deleted: int = 0) -> bytes:
    """A store of `count` conversations (deterministic for a seed)."""
    rng = random.Random(seed)
    items = [conversation(rng, number, now) for number in range(count)]
    records = [f"INC-{n:06d}" for n in range(0, count, max(1, count // max(deleted, 1)))][:deleted]
    return store_bytes(items, deleted_records=records)


# --- running ocac ---------------------------------------------------------------------------------


def ocac_argv(store_path: Path | None, config_path: Path | None, *args: str) -> list[str]:
    """`python -m ocac [--store S] [--config C] ARGS`."""
    root = []
    if store_path is not None:
        root += ["--store", str(store_path)]
    if config_path is not None:
        root += ["--config", str(config_path)]
    return [PYTHON, "-m", "ocac", *root, *args]


def run(
    argv: Sequence[str],
    *,
    timeout: float = 60,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
    umask: int | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command with a timeout; `user` runs it unprivileged (see `as_user`)."""
    command = list(argv)
    if user is not None:
        command = as_user(user) + command
    preexec = None
    if umask is not None:
        mask = umask

        def preexec() -> None:
            os.umask(mask)

    return subprocess.run(
        command,
        capture_output=True,
        timeout=timeout,
        input=input.decode() if input is not None else None,
        env={**ENV, **(env or {})},
        check=False,
        text=True,
        preexec_fn=preexec,
        cwd=cwd,
    )


def as_user(user: str) -> list[str]:
    """A prefix that runs a command as `user` with no supplementary groups."""
    import grp
    import pwd

    entry = pwd.getpwnam(user)
    group = grp.getgrgid(entry.pw_gid).gr_name
    return ["setpriv", f"--reuid={user}", f"--regid={group}", "--clear-groups", "--"]


def unprivileged_user() -> str | None:
    """A user without root's powers that can run this venv's Python, or None."""
    import pwd
    import shutil

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return None
    probe = subprocess.run(
        as_user("nobody") + [PYTHON, "-c", "import ocac"], capture_output=True, timeout=30, check=False
    )
    return "nobody" if probe.returncode == 0 else None


def assert_clean_failure(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    """A refusal the way ocac promises it: one `ocac: error:` line, the code, no traceback."""
    detail = f"exit {result.returncode}\nstdout: {result.stdout[:2000]}\nstderr: {result.stderr[:2000]}"
    assert result.returncode == code, detail
    assert "Traceback" not in result.stderr, detail
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ocac: error: "), detail
    for needle in needles:
        assert needle in lines[0], detail
    return lines[0]


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    """Whatever happened, Python's traceback never reaches the user."""
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout, result.stdout


# --- store and history ----------------------------------------------------------------------------


class _Row(msgspec.Struct):
    id: str
    state: str
    modified_on: datetime


class _Rows(msgspec.Struct):
    conversations: list[_Row] = []


_rows_decoder = msgspec.json.Decoder(_Rows)

Snapshot = dict[str, tuple[str, datetime]]
"""id → (state, modified_on as an instant)."""


def snapshot(data: bytes) -> Snapshot:
    """The parsed content that matters: id → (state, modified_on); duplicates are an error."""
    rows = _rows_decoder.decode(data).conversations
    result = {row.id: (row.state, row.modified_on.astimezone(UTC)) for row in rows}
    assert len(result) == len(rows), "duplicate ids in the store"
    return result


def temp_files(store_path: Path) -> list[Path]:
    """Temporary files an atomic write left beside a file."""
    return sorted(store_path.parent.glob(f".{store_path.name}.*.tmp"))


def committed_history(store_path: Path) -> list[history.Entry]:
    """The history entries the store vouches for (what `ocac history --json` shows)."""
    marker = store.load(store_path).meta.last_sweep
    return list(history.read(store.history_path(store_path), marker))


def history_tail(store_path: Path) -> int:
    """Bytes of history past what the store committed (an interrupted sweep's records)."""
    marker = store.load(store_path).meta.last_sweep
    expected = marker.history_size if marker else 0
    return history.size(store.history_path(store_path)) - expected


def changed_ids(before: Snapshot, after: Snapshot) -> set[str]:
    """Conversations whose state differs."""
    return {key for key, (state, _) in after.items() if key in before and before[key][0] != state}


def entries_by_run(entries: Iterable[history.Entry]) -> dict[str, list[history.Entry]]:
    """History entries grouped by run id, in file order."""
    runs: dict[str, list[history.Entry]] = {}
    for entry in entries:
        runs.setdefault(entry.run_id, []).append(entry)
    return runs


@dataclass
class Tally:
    """Outcome counts for the printed summaries."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def __getitem__(self, key: str) -> int:
        return self.counts.get(key, 0)

    def line(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
