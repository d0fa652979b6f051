"""The store comparison of bench/run.py: JSON vs SQLite vs PostgreSQL, same commands, same run.

Per size, every backend gets the same generated conversations and runs the same chain
of ``ocac`` commands on a fresh copy each round:

    list --due --limit 50 (at now) -> sweep (mass, at now) -> sweep (steady, now + 5 min)
    -> sweep (no-op, now + 5 min again) -> status (now + 5 min) -> touch ID (now + 5 min)

Each step runs for every backend before the next step starts, the backends' order
rotating with the round and the step, and one ``ocac --version`` runs after every step
(its median is the start-up subtracted to give "store work"). The databases are made
by the timed ``ocac store copy`` of the JSON store; copies for the rounds (a file copy
for SQLite, ``CREATE DATABASE … TEMPLATE`` for PostgreSQL) are made and flushed before
the clock starts. In the first round, after the mass sweep, each database is read
directly and compared with the JSON store's sweep, conversation by conversation
(``verify_backends.py``), and below 1M (or with ``--copy-back always``) also copied back
to JSON with a timed ``store copy`` and compared field by field; every round, the
``status --json`` outputs must be equal across backends.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

import gen
from measure import Series, checked, file_id, fresh_copy, remove, run_timed

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
BACKENDS = ("json", "sqlite", "postgresql")
NAMES = {"json": "JSON", "sqlite": "SQLite", "postgresql": "PostgreSQL"}
LIST_LIMIT = 50
LATER_TEXT = (gen.NOW + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
DB_PREFIX = "ocac_bench_"
COPY_BACK_BELOW = 1_000_000
"""--copy-back auto: copy the databases back to JSON below this size (~40 s each at 1M)."""

STEPS = ("list", "mass", "steady", "noop", "status", "touch")
"""The chain, in the order it runs on each round's fresh copies."""
SHOWN = ("mass", "steady", "noop", "touch", "list", "status")
"""The order of the report."""
LABELS = {
    "mass": "sweep run, mass (~25% due, at now)",
    "steady": "sweep run, steady (now + 5 min)",
    "noop": "sweep run, no-op (now + 5 min again)",
    "touch": "conversations touch ID",
    "list": f"conversations list --due --limit {LIST_LIMIT} (at now)",
    "status": "status (now + 5 min)",
}
TOUCH_PATTERN = re.compile(rb'\{"id":"([^"]+)","channel":"social","state":"active"')
"""A conversation the sweeps never move (the generated config says social.active = "never")."""


class BackendMismatch(RuntimeError):
    """A backend's result differs from the JSON store's."""


def log(text: str) -> None:
    """Progress line (flushed, so CI logs show it live)."""
    print(text, flush=True)


@dataclass
class BackendResult:
    """Everything measured at one size for the store comparison."""

    label: str
    n: int
    file_bytes: int
    due: int
    backends: list[str]
    runs: int = 0
    series: dict[tuple[str, str], Series] = field(default_factory=dict)
    """(backend, step) -> samples."""
    copies: dict[str, Series] = field(default_factory=dict)
    """"json>sqlite", "json>postgresql", "sqlite>json", "postgresql>json" -> samples."""
    version: Series = field(default_factory=lambda: Series("ocac --version"))
    noop_rewritten: int = 0
    copy_back: bool = False
    checks: list[str] = field(default_factory=list)
    ok: bool = True


# --- PostgreSQL ---------------------------------------------------------------------------------


class Postgres:
    """A PostgreSQL server to bench on: tests/postgresql_server.py's throwaway one, or a given URL."""

    def __init__(self, server: Any, external: bool) -> None:
        self.server = server
        self.external = external
        self.version_num = int(self._one("postgres", "SHOW server_version_num"))

    @classmethod
    def start(cls, url: str | None) -> Postgres:
        """Start a throwaway server (or use ``url``'s); raises RuntimeError when none can be had."""
        sys.path.insert(0, str(REPO / "tests"))
        try:
            import postgresql_server as pgs
        except ImportError as exc:  # pytest is missing, for one
            raise RuntimeError(f"cannot import tests/postgresql_server.py: {exc}") from None
        if url:
            return cls(pgs.ExternalServer(url), external=True)
        bindir = pgs.find_binaries()
        if bindir is None:
            raise RuntimeError(
                "PostgreSQL is not installed (no initdb/pg_ctl on PATH, from pg_config or in /usr/lib/postgresql)"
            )
        # 128MB: PostgreSQL's default shared_buffers (the test helper's 32MB is for many small servers).
        server = pgs.ThrowawayServer(bindir, shared_buffers="128MB")
        start = time.perf_counter()
        try:
            server.start()
        except Exception:
            server.cleanup()
            raise
        pg = cls(server, external=False)
        log(
            f"PostgreSQL {pg.version_num // 10000} started in {time.perf_counter() - start:.1f} s "
            f"(throwaway server in {server.folder}, fsync off, shared_buffers 128MB)"
        )
        return pg

    def url(self, db: str) -> str:
        """ocac's --store for database ``db``."""
        return str(self.server.url(db))

    def _one(self, db: str, query: str) -> Any:
        import psycopg

        with psycopg.connect(self.server.url(db), autocommit=True) as conn:
            row = conn.execute(query).fetchone()  # type: ignore[arg-type]
        return None if row is None else row[0]

    def execute(self, db: str, *queries: str) -> None:
        """Run statements in autocommit mode (CREATE/DROP DATABASE, VACUUM)."""
        import psycopg

        with psycopg.connect(self.server.url(db), autocommit=True) as conn:
            for query in queries:
                conn.execute(query)  # type: ignore[arg-type]

    def create(self, name: str, template: str | None = None) -> str:
        """A new database (empty, or a file copy of ``template``); returns its URL."""
        self.drop(name)
        how = ""
        if template:
            how = f" TEMPLATE {template}" + (" STRATEGY FILE_COPY" if self.version_num >= 150000 else "")
        self.execute("postgres", f"CREATE DATABASE {name}{how}")
        return self.url(name)

    def drop(self, name: str) -> None:
        """Drop a database if it exists (disconnecting any leftover session)."""
        force = " WITH (FORCE)" if self.version_num >= 130000 else ""
        self.execute("postgres", f"DROP DATABASE IF EXISTS {name}{force}")

    def cleanup(self) -> None:
        """Stop a throwaway server and remove its folder."""
        if not self.external:
            self.server.cleanup()


# --- the benchmark of one size ------------------------------------------------------------------


class BackendBench:
    """Runs the store comparison on one generated size."""

    def __init__(
        self,
        ocac: list[str],
        config: Path,
        work: Path,
        label: str,
        store: Path,
        meta_path: Path,
        backends: list[str],
        pg: Postgres | None,
    ) -> None:
        self.ocac_cmd, self.config, self.work = ocac, config, work
        self.label, self.store, self.meta_path, self.pg = label, store, meta_path, pg
        meta = orjson.loads(meta_path.read_bytes())
        self.res = BackendResult(label, meta["size"], meta["bytes"], meta["due"], backends)
        for b in backends:
            for step in STEPS:
                self.res.series[(b, step)] = Series(f"{LABELS[step]} [{NAMES[b]}]")
        self.err = work / "stderr.txt"
        self.touch_id = touch_id(store)
        self.tag = re.sub(r"[^a-z0-9]", "_", label.lower())
        self.sqlite_base = work / f"base-{label}.sqlite"
        self.pg_base = f"{DB_PREFIX}base_{self.tag}"
        self.statuses: dict[str, Any] = {}
        self.copy_back_enabled = True

    # where each backend's stores live --------------------------------------------------------

    def run_store(self, backend: str) -> str:
        """The --store of this round's fresh copy."""
        if backend == "json":
            return str(self.work / f"run-{self.label}.json")
        if backend == "sqlite":
            return str(self.work / f"run-{self.label}.sqlite")
        assert self.pg is not None
        return self.pg.url(f"{DB_PREFIX}run_{self.tag}")

    def argv(self, store: str, *rest: str) -> list[str]:
        """One ocac command on ``store``."""
        return [*self.ocac_cmd, "--store", store, "--config", str(self.config), *rest]

    def record(self, series: Series, argv: list[str], what: str, stdout: Path | None = None) -> None:
        """Time one process into ``series``."""
        sample = checked(run_timed(argv, stdout, self.err), shlex.join(argv), self.err)
        series.add(sample)
        log(
            f"  {self.label:>5} {what:<22} run {len(series.samples)}: {sample.wall_s:7.3f} s "
            f"{sample.maxrss_kib / 1024:7.1f} MiB"
        )

    def version(self) -> None:
        """One ``ocac --version`` sample (the start-up subtracted from every command)."""
        argv = [*self.ocac_cmd, "--version"]
        self.res.version.add(checked(run_timed(argv, None, self.err), shlex.join(argv), self.err))

    # copies ------------------------------------------------------------------------------------

    def copy_series(self, key: str) -> Series:
        """The series of one copy direction ("json>sqlite" …)."""
        if key not in self.res.copies:
            src, dst = key.split(">")
            self.res.copies[key] = Series(f"store copy {NAMES[src]} → {NAMES[dst]}")
        return self.res.copies[key]

    def copy_in(self, backend: str, first: bool) -> None:
        """Time ``store copy`` of the JSON store into an empty database; the first one is the base."""
        if backend == "sqlite":
            dest = self.sqlite_base if first else self.work / f"copy-{self.label}.sqlite"
            remove_sqlite(dest)
            target = str(dest)
        else:
            assert self.pg is not None
            name = self.pg_base if first else f"{DB_PREFIX}copy_{self.tag}"
            target = self.pg.create(name)
        argv = [*self.ocac_cmd, "store", "copy", str(self.store), target]
        self.record(self.copy_series(f"json>{backend}"), argv, f"copy json>{backend}")
        if not first:
            if backend == "sqlite":
                remove_sqlite(self.work / f"copy-{self.label}.sqlite")
            else:
                assert self.pg is not None
                self.pg.drop(f"{DB_PREFIX}copy_{self.tag}")

    def copies(self, runs: int) -> None:
        """The copies into each database (round 0 makes the bases), order rotated."""
        dbs = [b for b in self.res.backends if b != "json"]
        for r in range(runs):
            k = r % max(len(dbs), 1)
            for b in dbs[k:] + dbs[:k]:
                self.copy_in(b, first=r == 0)
        if "postgresql" in dbs:
            # What autovacuum would have done to a loaded table by the time anyone sweeps it:
            # visibility map and hint bits set, statistics fresh. Not timed.
            assert self.pg is not None
            start = time.perf_counter()
            self.pg.execute(self.pg_base, "VACUUM (ANALYZE) ocac_conversations", "VACUUM ocac_history")
            log(
                f"  {self.label:>5} VACUUM (ANALYZE) of the PostgreSQL base took "
                f"{time.perf_counter() - start:.1f} s (not timed)"
            )

    def copy_back(self, backend: str) -> Path:
        """Time ``store copy`` of this round's database back into a new JSON store."""
        dest = self.work / f"back-{backend}-{self.label}.json"
        remove_json(dest)
        argv = [*self.ocac_cmd, "store", "copy", self.run_store(backend), str(dest)]
        self.record(self.copy_series(f"{backend}>json"), argv, f"copy {backend}>json")
        return dest

    # fresh copies for a round ------------------------------------------------------------------

    def fresh(self) -> None:
        """Every backend's store as the generator (and store copy) made it; flushed to disk."""
        for b in self.res.backends:
            if b == "json":
                dest = Path(self.run_store(b))
                remove_json(dest)
                fresh_copy(self.store, dest)
            elif b == "sqlite":
                dest = Path(self.run_store(b))
                remove_sqlite(dest)
                fresh_copy(self.sqlite_base, dest)
            else:
                assert self.pg is not None
                self.pg.create(f"{DB_PREFIX}run_{self.tag}", template=self.pg_base)
        os.sync()  # PostgreSQL runs with fsync off: nothing of the copy may be written back mid-run

    # the chain ---------------------------------------------------------------------------------

    def step(self, step: str, backend: str, rnd: int) -> None:
        """Run one command of the chain on one backend's store."""
        store = self.run_store(backend)
        series = self.res.series[(backend, step)]
        what = f"{backend} {step}"
        if step == "list":
            out = self.work / f"list-{backend}-{self.label}.json"
            self.record(
                series,
                self.argv(
                    store, "conversations", "list", "--due", "--limit", str(LIST_LIMIT), "--now", gen.NOW_TEXT, "--json"
                ),
                what,
                out,
            )
        elif step == "mass":
            self.record(series, self.argv(store, "sweep", "run", "--now", gen.NOW_TEXT, "--quiet"), what)
        elif step == "steady":
            self.record(series, self.argv(store, "sweep", "run", "--now", LATER_TEXT, "--quiet"), what)
        elif step == "noop":
            before = file_id(Path(store)) if backend == "json" else None
            self.record(series, self.argv(store, "sweep", "run", "--now", LATER_TEXT, "--quiet"), what)
            if before is not None and file_id(Path(store)) != before:
                self.res.noop_rewritten += 1
                log(f"  {self.label:>5} json noop: the file was rewritten (inode/mtime/size changed)")
        elif step == "status":
            out = self.work / f"status-{backend}-{self.label}.json"
            self.record(series, self.argv(store, "status", "--now", LATER_TEXT, "--json"), what, out)
            self.statuses[backend] = comparable_status(out)
        elif step == "touch":
            self.record(series, self.argv(store, "conversations", "touch", self.touch_id, "--now", LATER_TEXT), what)

    def round(self, rnd: int, check: bool) -> None:
        """One round: fresh copies, then each step on every backend (order rotated)."""
        self.fresh()
        bs = self.res.backends
        for i, step in enumerate(STEPS):
            k = (rnd + i) % len(bs)
            for b in bs[k:] + bs[:k]:
                self.step(step, b, rnd)
            self.version()
            if step == "mass" and check:
                self.check_after_mass()
            if step == "mass":
                self.vacuum_after_mass()
        self.check_statuses(rnd)

    def vacuum_after_mass(self) -> None:
        """What autovacuum does within a minute of a mass sweep's 250k updates, before the next cron sweep.

        Right after the mass sweep the due index still points at the rows' old versions, and the
        next sweep's index scans would visit them in the table (~0.6 s more at 1M). Not timed.
        """
        if self.pg is None or "postgresql" not in self.res.backends:
            return
        start = time.perf_counter()
        self.pg.execute(f"{DB_PREFIX}run_{self.tag}", "VACUUM (ANALYZE) ocac_conversations")
        log(f"  {self.label:>5} VACUUM (ANALYZE) after the PostgreSQL mass sweep took "
            f"{time.perf_counter() - start:.1f} s (not timed)")  # fmt: skip

    def check_after_mass(self) -> None:
        """Copy each database back to JSON and compare it, id by id, with the JSON store's sweep."""
        reference = self.work / f"reference-{self.label}.json"
        shutil.copyfile(self.run_store("json"), reference)
        argv = [
            sys.executable,
            str(BENCH / "verify_backends.py"),
            "--original",
            str(self.store),
            "--reference",
            str(reference),
            "--meta",
            str(self.meta_path),
            "--limit",
            str(LIST_LIMIT),
        ]
        for b in self.res.backends:
            argv += ["--list", f"{b}={self.work / f'list-{b}-{self.label}.json'}"]
            if b != "json":
                argv += [f"--{b}", self.run_store(b)]
                if self.copy_back_enabled:
                    argv += ["--copy", f"{b}={self.copy_back(b)}"]
        proc = subprocess.run(argv, capture_output=True)
        out = proc.stdout.decode(errors="replace").strip()
        summary = orjson.loads(out) if out.startswith("{") else {}
        for line in summary.get("lines", []):
            self.res.checks.append(line)
            log(f"  {self.label:>5} check: {line}")
        remove(reference)
        for b in self.res.backends:
            remove_json(self.work / f"back-{b}-{self.label}.json")
        if proc.returncode != 0:
            self.res.ok = False
            sys.stderr.write(proc.stderr.decode(errors="replace"))
            raise BackendMismatch(f"{self.label}: a backend's store differs from the JSON store's (details above)")

    def check_statuses(self, rnd: int) -> None:
        """Every backend's ``status --json`` (counts, due, oldest, last sweep) equals JSON's."""
        ref = self.statuses.get("json")
        for b, status in self.statuses.items():
            if status != ref:
                self.res.ok = False
                raise BackendMismatch(
                    f"{self.label} round {rnd + 1}: status --json of {NAMES[b]} "
                    f"differs from JSON's:\n{NAMES[b]}: {status}\nJSON: {ref}"
                )
        if rnd == 0:
            counts = ref.get("counts", {}) if ref else {}
            total = sum(n for states in counts.values() for n in states.values())
            closed = sum(states.get("closed", 0) for states in counts.values())
            self.res.checks.append(
                f"status --json after mass, steady and no-op sweeps: identical on "
                f"{', '.join(NAMES[b] for b in self.statuses)} in every round ({total:,} conversations, "
                f"{closed:,} closed, due now {ref.get('due_now') if ref else '?'})"
            )

    def run(self, runs: int, copy_runs: int, copy_back: str) -> BackendResult:
        """Copies, then the rounds; cleans up whatever happens."""
        self.work.mkdir(parents=True, exist_ok=True)
        self.copy_back_enabled = copy_back == "always" or (copy_back == "auto" and self.res.n < COPY_BACK_BELOW)
        self.res.copy_back = self.copy_back_enabled
        self.res.runs = runs
        try:
            self.copies(copy_runs)
            for rnd in range(runs):
                self.round(rnd, check=rnd == 0)
        finally:
            self.cleanup()
        if self.res.noop_rewritten:
            self.res.ok = False
        self.res.checks.append(
            f"JSON no-op sweep rewrote the file {self.res.noop_rewritten} time(s) "
            f"in {len(self.res.series[('json', 'noop')].samples)} run(s)"
        )
        return self.res

    def cleanup(self) -> None:
        """Remove this size's work files and databases."""
        for b in self.res.backends:
            for name in (f"list-{b}", f"status-{b}", f"back-{b}"):
                remove_json(self.work / f"{name}-{self.label}.json")
        remove_json(self.work / f"run-{self.label}.json")
        remove_json(self.work / f"reference-{self.label}.json")
        for path in (self.sqlite_base, self.work / f"run-{self.label}.sqlite", self.work / f"copy-{self.label}.sqlite"):
            remove_sqlite(path)
        if self.pg is not None:
            for kind in ("run", "copy", "base"):
                try:
                    self.pg.drop(f"{DB_PREFIX}{kind}_{self.tag}")
                except Exception as exc:  # the server may be gone; it is thrown away anyway
                    log(f"  (could not drop {DB_PREFIX}{kind}_{self.tag}: {exc})")


# --- helpers ------------------------------------------------------------------------------------


def touch_id(store: Path) -> str:
    """The id of the first social conversation in state active (never moved by the generated config)."""
    tail = b""
    with open(store, "rb") as fh:
        while chunk := fh.read(1 << 20):
            found = TOUCH_PATTERN.search(tail + chunk)
            if found:
                return found.group(1).decode()
            tail = chunk[-200:]
    raise RuntimeError(f"no active social conversation in {store} to touch")


def comparable_status(path: Path) -> dict[str, Any]:
    """A ``status --json`` output without what differs by design (run id, config path)."""
    doc: dict[str, Any] = orjson.loads(path.read_bytes())
    doc.pop("config", None)
    if isinstance(doc.get("last_sweep"), dict):
        doc["last_sweep"].pop("run_id", None)
    return doc


def remove_json(path: Path) -> None:
    """A JSON work store and its history and lock sidecars."""
    remove(path)
    remove(path.with_name(f"{path.stem}.history.jsonl"))
    remove(path.with_name(path.name + ".lock"))


def remove_sqlite(path: Path) -> None:
    """A SQLite database and its WAL and shared-memory files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        remove(path.with_name(path.name + suffix))
