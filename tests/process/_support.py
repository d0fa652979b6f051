"""Shared helpers of the process suite: generated stores, ocac as a process (killed or paused at a
chosen step of its commit), locks held by other processes, and what a file store and its trail hold.

Also imported by `tests/reliability` and by `tests/reliability/soak.py`.
"""

from __future__ import annotations

import atexit
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
from typer.testing import CliRunner

from ocac.audit import AuditRecord, HistoryQuery, SweepSummary, audit_for
from ocac.cli import app
from ocac.config import load_config
from ocac.instants import format_instant
from ocac.interchange import Format, read_import_files
from ocac.store import Store, open_store
from ocac.store.trail import trail_path

_TOOLS = str(Path(__file__).resolve().parents[2] / "tools")
if _TOOLS not in sys.path:  # tests/conftest.py put it there; tests/reliability/soak.py runs without it
    sys.path.insert(0, _TOOLS)

import generator  # noqa: E402
from generator import Generator  # noqa: E402

BASE_NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
"""The reference instant the generated stores are built around."""

CONFIG = """\
# process-suite configuration
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

WAIT = 60
"""Seconds any wait on a process may take before the test fails: generous, never slept through."""

_WORKSTREAMS = {
    "persistent-chat": ("Contoso Chat",),
    "sms": ("Contoso SMS",),
    "teams": ("Contoso IT Helpdesk",),
    "voice": ("Contoso Support Line",),
}
"""The workstreams of CONFIG by channel: what generated conversations name."""

PYTHON = sys.executable
_BYTECODE = tempfile.mkdtemp(prefix="ocac-tests-bytecode-")
"""Where the ocac processes this test process starts cache their bytecode: a private folder, removed at exit.

Where writing bytecode beside the sources is off (PYTHONDONTWRITEBYTECODE), each process would otherwise
compile ocac anew: a fifth of its start-up."""
atexit.register(shutil.rmtree, _BYTECODE, ignore_errors=True)
os.chmod(_BYTECODE, 0o755)  # readable by the unprivileged user some tests run ocac as (it writes none)
ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "PYTHONPYCACHEPREFIX": _BYTECODE}
for _name in ("OCAC_STORE", "OCAC_CONFIG", "OCAC_DEBUG", "FORCE_COLOR", "OCAC_LOCK_TIMEOUT", "PYTHONDONTWRITEBYTECODE"):
    ENV.pop(_name, None)


# --- generated stores -----------------------------------------------------------------------------


def conversation(rng: random.Random, number: int, now: datetime, *, max_age_days: float = 40) -> dict[str, object]:
    """One plausible conversation, idle for up to `max_age_days` at `now`, with unknown fields."""
    return Generator(rng).conversation(number, now, max_age=timedelta(days=max_age_days), workstreams=_WORKSTREAMS)


def store_bytes(conversations: Sequence[Mapping[str, object]], *, pretty: bool = True, **top: object) -> bytes:
    """A store document: pretty (one field a line) like the sample, or compact."""
    return generator.store_bytes(generator.store_document(conversations, **top), pretty=pretty)


def generate_store(count: int, *, seed: int, now: datetime = BASE_NOW, deleted: int = 0) -> bytes:
    """A store of `count` conversations (deterministic for a seed)."""
    document = Generator(seed).store(count, now, deleted=deleted, workstreams=_WORKSTREAMS)
    return generator.store_bytes(document)


def write_store_and_config(folder: Path, count: int, *, seed: int) -> tuple[Path, Path]:
    """`conversations.json` with `count` generated conversations and the suite's `config.toml`, in `folder`."""
    store_path, config_path = folder / "conversations.json", folder / "config.toml"
    store_path.write_bytes(generate_store(count, seed=seed))
    config_path.write_text(CONFIG)
    return store_path, config_path


# --- running ocac ---------------------------------------------------------------------------------


def ocac_argv(store_path: Path | None, config_path: Path | None, *args: str) -> list[str]:
    """`python -m ocac [--store S] [--config C] ARGS`."""
    return [PYTHON, "-m", "ocac", *root_options(store_path, config_path), *args]


def root_options(store_path: Path | None, config_path: Path | None) -> list[str]:
    root = []
    if store_path is not None:
        root += ["--store", str(store_path)]
    if config_path is not None:
        root += ["--config", str(config_path)]
    return root


def run(
    argv: Sequence[str],
    *,
    timeout: float = WAIT,
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

    environment = {**ENV, **(env or {})}
    if user is not None:  # another user reads the bytecode this process's children wrote, and writes none
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(
        command,
        capture_output=True,
        timeout=timeout,
        input=input.decode() if input is not None else None,
        env=environment,
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

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return None
    warm = [PYTHON, "-c", "import ocac.cli, ocac.store.sqlite"]  # fills the shared bytecode folder first
    subprocess.run(warm, capture_output=True, timeout=WAIT, env=ENV, check=False)
    probe = subprocess.run(
        as_user("nobody") + [PYTHON, "-c", "import ocac"], capture_output=True, timeout=WAIT, env=ENV, check=False
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


# --- killing ocac at a chosen step of its commit --------------------------------------------------

PHASES: dict[str, str] = {
    "temp-created": "the new file's temporary file is created; nothing is written yet",
    "store-half-written": "half of the new store is in its temporary file",
    "records-not-appended": "the change's audit records are about to be appended",
    "record-torn": "the first bytes of the first record are appended",
    "records-half-appended": "half of the records are appended, the last of them torn",
    "not-renamed": "the records are appended and the new store written; it is not renamed yet",
    "renamed": "the new store is renamed into place; its folder is not fsynced yet",
    "commit-not-appended": "the rename is durable; the run's commit line is not appended yet",
    "commit-torn": "half of the run's commit line is appended",
}
"""Every step of a file store's commit (`ocac.store.file._Write.commit`) a writer can die at."""

BEFORE_RENAME = (
    "temp-created", "store-half-written", "records-not-appended", "record-torn", "records-half-appended",
    "not-renamed",
)  # fmt: skip
"""Killed here, the store is the old one and the change's records are never committed."""
AFTER_RENAME = ("renamed", "commit-not-appended", "commit-torn")
"""Killed here, the store is the new one and the change's records are committed."""

_HOOKED = r'''
"""Run ocac, stopped (SIGKILL, or paused until killed) at one step of its commit."""
import os, signal, sys

phase, how = sys.argv[1], sys.argv[2]
sys.argv = ["ocac", *sys.argv[3:]]

from ocac import fsutil
from ocac.store import trail

renamed = False


def stop():
    if how == "pause":
        os.write(2, ("ocac-test: paused at " + phase + "\n").encode())
        while True:
            signal.pause()
    os.kill(os.getpid(), signal.SIGKILL)


prepare = fsutil.AtomicFile.prepare
def prepare_hook(self):
    fresh = self._fd is None and self._temp is None
    prepare(self)
    if phase == "temp-created" and fresh:
        stop()
fsutil.AtomicFile.prepare = prepare_hook

write = fsutil.AtomicFile.write
def write_hook(self, chunks):
    if phase != "store-half-written":
        return write(self, chunks)
    def half():
        data = b"".join(chunks)
        yield data[: len(data) // 2]
        stop()
    return write(self, half())
fsutil.AtomicFile.write = write_hook

commit = fsutil.AtomicFile.commit
def commit_hook(self):
    global renamed
    if phase == "not-renamed":
        stop()
    commit(self)
    renamed = True
fsutil.AtomicFile.commit = commit_hook

fsync_folder = fsutil._fsync_folder
def fsync_folder_hook(folder):
    if phase == "renamed":
        stop()
    fsync_folder(folder)
fsutil._fsync_folder = fsync_folder_hook

append = trail.Trail.append
def append_hook(self, records):
    if phase == "records-not-appended" and records:
        stop()
    append(self, records)
trail.Trail.append = append_hook

def half(data):
    cut = len(data) // 2
    return data[: cut - 1] if data[cut - 1 : cut] == b"\n" else data[:cut]  # always inside a line

raw_append = trail.Trail._append
def raw_append_hook(self, data):
    is_commit = b'"commit":true' in data
    if not is_commit and phase in ("record-torn", "records-half-appended"):
        raw_append(self, data[:10] if phase == "record-torn" else half(data))
        stop()
    if is_commit and renamed and phase in ("commit-not-appended", "commit-torn"):
        if phase == "commit-torn":
            raw_append(self, half(data))
        stop()
    raw_append(self, data)
trail.Trail._append = raw_append_hook

from ocac.cli import main
main()
'''


def hooked_argv(phase: str, how: str, store_path: Path | None, config_path: Path | None, *args: str) -> list[str]:
    """ocac ARGS as a process that stops at `phase` (see PHASES): `how` is "kill" (SIGKILL) or "pause"."""
    assert phase in PHASES and how in ("kill", "pause"), (phase, how)
    return [PYTHON, "-c", _HOOKED, phase, how, *root_options(store_path, config_path), *args]


def run_killed_at(phase: str, store_path: Path, config_path: Path | None, *args: str) -> str:
    """Run ocac ARGS and kill it with SIGKILL at `phase`; its stderr (no traceback, killed for sure)."""
    result = run(hooked_argv(phase, "kill", store_path, config_path, *args))
    assert result.returncode == -signal.SIGKILL, (phase, args, result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


def start_paused_at(phase: str, store_path: Path, config_path: Path | None, *args: str) -> subprocess.Popen[bytes]:
    """Start ocac ARGS and return once it is paused at `phase` (holding whatever it holds there)."""
    process = subprocess.Popen(
        hooked_argv(phase, "pause", store_path, config_path, *args),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV,
    )  # fmt: skip
    assert process.stderr is not None
    line = _read_line(process.stderr, WAIT)
    if line != f"ocac-test: paused at {phase}\n".encode():
        kill(process)
        raise AssertionError(f"ocac did not pause at {phase}: {line!r}")
    return process


def _read_line(stream: object, timeout: float) -> bytes:
    """One line from a pipe, or what came before the deadline."""
    fd = stream.fileno()  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 1)
        if not chunk:
            break
        data += chunk
    return data


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process we started and reap it."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=WAIT)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()


# --- locks held by other processes ----------------------------------------------------------------


def hold_lock(path: Path, what: str) -> subprocess.Popen[bytes]:
    """A process that holds `path`'s ocac lock until it is killed; returns once it holds it."""
    code = (
        "import signal, sys\n"
        "from pathlib import Path\n"
        "from ocac.fsutil import locked\n"
        f"with locked(Path(sys.argv[1]), 5, {what!r}):\n"
        "    print('held', flush=True)\n"
        "    while True:\n"
        "        signal.pause()\n"
    )
    process = subprocess.Popen([PYTHON, "-c", code, str(path)], stdout=subprocess.PIPE, env=ENV)
    assert process.stdout is not None
    line = _read_line(process.stdout, WAIT)
    if line != b"held\n":
        kill(process)
        raise AssertionError(f"the lock holder did not start: {line!r}")
    return process


def wait_until_it_opens(process: subprocess.Popen[bytes], path: Path, timeout: float = WAIT) -> None:
    """Wait (polling /proc, with a deadline) until `process` has `path` open: e.g. it waits on a lock."""
    target = os.path.realpath(path)
    folder = Path(f"/proc/{process.pid}/fd")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the process ended (exit {process.returncode}) before it opened {path}"
        try:
            names = {os.readlink(fd) for fd in folder.iterdir()}
        except (FileNotFoundError, ProcessLookupError):
            names = set()
        if target in names:
            return
        time.sleep(0.005)
    raise AssertionError(f"the process did not open {path} within {timeout}s")


# --- what a file store and its trail hold ---------------------------------------------------------


def opened(store_path: Path) -> Store:
    return open_store(str(store_path), 5)


def committed(store_path: Path) -> list[AuditRecord]:
    """The committed audit records, oldest first (what `ocac history --json` shows)."""
    with closing(opened(store_path)) as store:
        return store.history(HistoryQuery())


def last_sweep(store_path: Path) -> SweepSummary | None:
    with closing(opened(store_path)) as store:
        return store.last_sweep()


def store_run(data: bytes) -> str | None:
    """The run a store's bytes name in their top-level "ocac" object: the last change they reflect."""
    meta = msgspec.json.decode(data, type=dict[str, msgspec.Raw]).get("ocac")
    if meta is None:
        return None
    run_id = msgspec.json.decode(meta, type=dict[str, object]).get("run")
    return run_id if isinstance(run_id, str) else None


def trail_bytes(store_path: Path) -> bytes:
    try:
        return trail_path(store_path).read_bytes()
    except FileNotFoundError:
        return b""


def trail_tail(store_path: Path) -> bytes:
    """The trail's bytes after its last commit line: what a killed writer left (empty after any finished one)."""
    data = trail_bytes(store_path)
    end = offset = 0
    for line in data.splitlines(keepends=True):
        offset += len(line)
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("commit") is True:
            end = offset
    return data[end:]


def tail_records(store_path: Path) -> list[dict[str, object]]:
    """The whole records after the last commit line (uncommitted, or of the store's own unsealed run)."""
    records = []
    for line in trail_tail(store_path).splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def by_run(records: Iterable[AuditRecord]) -> dict[str, list[AuditRecord]]:
    """Records grouped by run id, in trail order."""
    runs: dict[str, list[AuditRecord]] = {}
    for record in records:
        runs.setdefault(record.run_id, []).append(record)
    return runs


def history_shown(store_path: Path) -> tuple[list[dict[str, object]], str]:
    """What `ocac history --json` prints (run in-process), and its stderr."""
    result = CliRunner().invoke(app, ["--store", str(store_path), "history", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def as_shown(records: Iterable[AuditRecord]) -> list[dict[str, object]]:
    return [json.loads(json.dumps(record.to_json())) for record in records]


def recover_in_process(store_path: Path) -> None:
    """Be the next writer without changing anything: it takes the lock, cleans up and recovers the trail."""
    with closing(opened(store_path)) as store:
        change = store.set_record_deleted("no-such-record", False, audit_for(BASE_NOW), dry_run=False)
    assert not change.changed


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


def temp_files(path: Path) -> list[Path]:
    """Temporary files an atomic write left beside a file."""
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


# --- a change and what it must leave ---------------------------------------------------------------


@dataclass
class Change:
    """A command that changes a store, and the two states a kill may leave it in.

    `before` is the store (and trail) the command starts from; `after` the store it writes when
    it finishes, computed on a copy. After any kill the store must be byte for byte one of the
    two (the new one up to its run id), and the committed history must be exactly what that
    version reflects.
    """

    kind: str
    """"sweep" or "import"."""
    folder: Path
    args: list[str]
    before: bytes
    before_trail: bytes
    before_history: list[AuditRecord]
    after: bytes
    after_run: str
    now: datetime = BASE_NOW
    source: str = ""
    """The import file, as the import record names it."""
    expected_import: dict[str, object] = field(default_factory=dict)

    @property
    def store_path(self) -> Path:
        return self.folder / "conversations.json"

    @property
    def config_path(self) -> Path:
        return self.folder / "config.toml"

    def argv(self, *extra: str) -> list[str]:
        return ocac_argv(self.store_path, self.config_path, *extra, *self.args)

    def apply_in_process(self) -> None:
        """Run the change in this process, as the command does (the store's own operation)."""
        _apply_in_process(self.folder, self.kind, [Path(self.source)] if self.source else [], self.now,
                          source=self.source)  # fmt: skip

    def reset(self) -> None:
        """Put the old store and trail back (keeping their permissions) and remove temporary files."""
        for leftover in temp_files(self.store_path):
            leftover.unlink()
        self.store_path.write_bytes(self.before)
        trail_path(self.store_path).write_bytes(self.before_trail)

    def classify(self) -> str:
        """'old' or 'new': which version the store is; anything else fails with the evidence."""
        data = self.store_path.read_bytes()
        if data == self.before:
            return "old"
        with closing(opened(self.store_path)) as store:  # parses and validates
            assert sum(store.counts().values()) == len(snapshot(self.after))
        run_id = store_run(data)
        assert run_id is not None and run_id != store_run(self.before), "a new store names no new run"
        if data.replace(run_id.encode(), self.after_run.encode()) != self.after:
            parsed, expected = snapshot(data), snapshot(self.after)
            differ = sum(1 for key, value in parsed.items() if expected.get(key) != value)
            raise AssertionError(
                f"the store is neither the old nor the new version: {len(parsed)} conversations, {differ} differ "
                "from the new version"
            )
        return "new"

    def check_agreement(self) -> str:
        """The committed history is exactly what the store reflects; returns 'old' or 'new'."""
        outcome = self.classify()
        records = committed(self.store_path)
        assert records[: len(self.before_history)] == self.before_history, "committed history was lost"
        added = records[len(self.before_history) :]
        if outcome == "old":
            assert added == [], f"history shows {len(added)} record(s) of a change the store does not reflect"
            return outcome
        run_id = store_run(self.store_path.read_bytes())
        assert {r.run_id for r in added} == {run_id}, "the new records are not exactly the store's run"
        if self.kind == "sweep":
            self._check_sweep(added)
        else:
            (record,) = added
            assert str(record.kind) == "import" and record.detail is not None, record
            assert {k: record.detail.get(k) for k in self.expected_import} == self.expected_import, record.detail
            assert record.at == self.now
        return outcome

    def _check_sweep(self, added: list[AuditRecord]) -> None:
        before, after = snapshot(self.before), snapshot(self.store_path.read_bytes())
        moved = {key for key, (state, _) in after.items() if before[key][0] != state}
        assert moved and {r.id for r in added} == moved, "history and store disagree on what the sweep moved"
        assert len(added) == len(moved), "a conversation appears twice in one sweep"
        for record in added:
            assert str(record.kind) == "sweep" and record.at == self.now, record
            assert record.id is not None and before[record.id][0] == record.from_state, record
            assert after[record.id] == (record.to_state, record.at), record


def prepare_change(folder: Path, kind: str, *, count: int, seed: int) -> Change:
    """A store of `count` conversations with a committed sweep a day before, and a sweep or an import to kill.

    The new version is computed by applying the change in-process to a copy.
    """
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    store_path, config_path = folder / "conversations.json", folder / "config.toml"
    config_path.write_text(CONFIG)
    rng = random.Random(seed)
    items = [conversation(rng, n, BASE_NOW) for n in range(count)]
    store_path.write_bytes(store_bytes(items))
    _apply_in_process(folder, "sweep", [], BASE_NOW - timedelta(days=1))
    if kind == "sweep":
        args = ["sweep", "run", "--quiet", "--now", fmt(BASE_NOW)]
        source = ""
    else:
        incoming = folder / "incoming.json"
        rows = []
        for item in rng.sample(items, max(count // 20, 1)):  # updates of existing conversations
            rows.append(item | {"state": "closed", "modified_on": fmt(BASE_NOW), "imported": True})
        for n in range(max(count // 20, 1)):  # and new ones
            rows.append(conversation(rng, count + n, BASE_NOW) | {"id": f"new-{n:06d}", "imported": True})
        incoming.write_bytes(msgspec.json.encode(rows))
        args = ["conversations", "import", str(incoming), "--now", fmt(BASE_NOW)]
        source = str(incoming)
    before, before_trail = store_path.read_bytes(), trail_bytes(store_path)
    scratch = folder / "expected"
    scratch.mkdir()
    for path in (store_path, config_path, trail_path(store_path)):
        shutil.copy2(path, scratch / path.name)
    counts = _apply_in_process(scratch, kind, [Path(source)] if source else [], BASE_NOW, source=source)
    after = (scratch / store_path.name).read_bytes()
    shutil.rmtree(scratch)
    after_run = store_run(after)
    assert after_run is not None and after != before, "the change to kill changes nothing"
    expected_import = {}
    if kind == "import":
        assert counts is not None
        expected_import = {"source": source, "replace": False} | {k: v for k, v in counts.items() if k != "written"}
    return Change(
        kind, folder, args, before, before_trail, committed(store_path), after, after_run, BASE_NOW, source,
        expected_import,
    )  # fmt: skip


def _apply_in_process(
    folder: Path, kind: str, files: list[Path], now: datetime, *, source: str = ""
) -> dict[str, object] | None:
    """Sweep or import on the store in `folder`, in this process, as the command would."""
    with closing(opened(folder / "conversations.json")) as store:
        if kind == "sweep":
            store.sweep(load_config(folder / "config.toml").policy, audit_for(now))
            return None
        imported = read_import_files(files, Format.AUTO, set())
        counts = store.import_conversations(
            imported.conversations, imported.deleted_records, audit_for(now), replace=False, dry_run=False,
            source=source,
        )  # fmt: skip
        return counts.to_json()


def fmt(instant: datetime) -> str:
    return format_instant(instant)


# --- tallies -----------------------------------------------------------------------------------------


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
