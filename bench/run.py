"""Run the ocac benchmark: floor vs jq vs ocac, the JSON, SQLite and PostgreSQL stores, start-up.

    .venv/bin/python bench/run.py                 # full run: 10k, 100k, 1m; stores at 1m
    .venv/bin/python bench/run.py --smoke         # CI: 10k, 2 runs, no timing asserts
    .venv/bin/python bench/run.py --sizes 100k --runs 3 --store-sizes 100k

Exit status: 0 when every check passed (ocac's sweep equals jq's, every store
agrees with the JSON store, every process exited 0), 1 otherwise. Timing
targets are reported (PASS/MISS), not asserted. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

import backends
import gen
import report
from measure import (
    CHILD_ENV,
    ProcessFailed,
    Series,
    checked,
    file_id,
    fresh_copy,
    remove,
    run_timed,
    use_bytecode_cache,
)

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DATA = BENCH / ".data"
WORK = DATA / "work"
LIST_LIMIT = 50
LARGE = 1_000_000  # from this size on, jq gets --jq-runs-large runs


class Mismatch(RuntimeError):
    """ocac's result differs from jq's (or a correctness check failed)."""


@dataclass(frozen=True)
class Tools:
    """The programs being compared."""

    python: str
    ocac: list[str] | None
    jq: str | None
    config_toml: Path
    config_json: Path


@dataclass
class SizeResult:
    """Everything measured at one store size."""

    label: str
    n: int
    file_bytes: int
    due: int
    series: dict[str, Series] = field(default_factory=dict)
    noop_rewritten: int = 0
    checks: dict[str, Any] = field(default_factory=dict)


def log(text: str) -> None:
    """Progress line (flushed, so CI logs show it live)."""
    print(text, flush=True)


def find_tools(args: argparse.Namespace) -> Tools:
    """Locate python, ocac and jq; write the config."""
    ocac: list[str] | None = None
    if args.ocac_src:
        src = args.ocac_src.resolve()
        if not (src / "ocac" / "__init__.py").is_file():
            sys.exit(f"--ocac-src {src}: no ocac package in it")
        CHILD_ENV["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), CHILD_ENV.get("PYTHONPATH")) if p)
    if not args.skip_ocac:
        ocac = shlex.split(args.ocac) if args.ocac else default_ocac()
        probe = subprocess.run([*ocac, "sweep", "run", "--help"], capture_output=True, env=CHILD_ENV)
        if probe.returncode != 0:
            sys.exit(
                f"ocac does not run ({shlex.join(ocac)} sweep run --help):\n"
                f"{probe.stderr.decode(errors='replace')[-1500:]}"
            )
    jq = shutil.which("jq") or ("/usr/bin/jq" if Path("/usr/bin/jq").exists() else None)
    toml_path, json_path = gen.write_config(DATA)
    return Tools(sys.executable, ocac, jq, toml_path, json_path)


def default_ocac() -> list[str]:
    """The venv's ocac console script, else ``python -m ocac``."""
    script = Path(sys.executable).with_name("ocac")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ocac"]


def generate(label: str, seed: int) -> tuple[Path, Path, dict[str, Any]]:
    """Generate (or reuse) one store in a child process: store, meta path, meta."""
    store, meta = gen.store_paths(label, seed, DATA)
    if not meta.exists():
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, str(BENCH / "gen.py"), "--size", label, "--seed", str(seed), "--out", str(DATA)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        log(f"generated {store.name} in {time.perf_counter() - start:.1f} s")
    return store, meta, orjson.loads(meta.read_bytes())


def history_of(store: Path) -> Path:
    """ocac's audit trail beside a store (``x.json`` -> ``x.history.jsonl``)."""
    return store.with_name(f"{store.stem}.history.jsonl")


def remove_sidecars(store: Path) -> None:
    """Delete ocac's history and lock files of a work store."""
    remove(history_of(store))
    remove(store.with_name(store.name + ".lock"))


class SizeBench:
    """Runs the contenders on one store size."""

    def __init__(self, tools: Tools, label: str, store: Path, meta_path: Path) -> None:
        self.t, self.label, self.store, self.meta_path = tools, label, store, meta_path
        meta = orjson.loads(meta_path.read_bytes())
        self.res = SizeResult(label, meta["size"], meta["bytes"], meta["due"])
        names = {
            "floor": "floor (orjson round-trip)",
            "jq": "jq sweep.jq",
            "sweep": "ocac sweep run",
            "noop": "ocac sweep run (no-op)",
            "list": f"ocac conversations list --due --limit {LIST_LIMIT}",
        }
        self.res.series = {k: Series(v) for k, v in names.items()}
        self.err = WORK / "stderr.txt"
        self.noop_src = WORK / f"noop-src-{label}.json"

    def path(self, name: str) -> Path:
        """A work file of this size."""
        return WORK / f"{name}-{self.label}.json"

    def ocac(self, store: Path, *rest: str) -> list[str]:
        """argv of one ocac command on ``store``."""
        assert self.t.ocac is not None
        return [*self.t.ocac, "--store", str(store), "--config", str(self.t.config_toml), *rest]

    def record(self, key: str, argv: list[str], stdout: Path | None = None) -> None:
        """Time one process and add it to series ``key``."""
        sample = checked(run_timed(argv, stdout, self.err), shlex.join(argv), self.err)
        self.res.series[key].add(sample)
        s = self.res.series[key]
        log(
            f"  {self.label:>5} {key:<5} run {len(s.samples)}: {sample.wall_s:7.3f} s "
            f"{sample.maxrss_kib / 1024:7.1f} MiB"
        )

    def floor(self) -> None:
        """orjson loads + dumps + atomic write of a fresh copy."""
        work = fresh_copy(self.store, self.path("floor"))
        self.record("floor", [self.t.python, str(BENCH / "floor.py"), str(work)])

    def jq(self) -> None:
        """The jq filter; its output is kept for the equality check."""
        assert self.t.jq is not None
        argv = [
            self.t.jq,
            "-c",
            "--arg",
            "now",
            gen.NOW_TEXT,
            "--slurpfile",
            "cfg",
            str(self.t.config_json),
            "-f",
            str(BENCH / "sweep.jq"),
            str(self.store),
        ]
        self.record("jq", argv, stdout=self.path("jq"))

    def sweep(self) -> None:
        """ocac sweep run on a fresh copy (kept as the ocac result), no history yet."""
        work = fresh_copy(self.store, self.path("ocac"))
        remove_sidecars(work)
        self.record("sweep", self.ocac(work, "sweep", "run", "--now", gen.NOW_TEXT, "--quiet"))

    def noop(self) -> None:
        """Sweep the swept store again at the same now: must not rewrite it."""
        work = fresh_copy(self.noop_src, self.path("noop"))
        remove_sidecars(work)
        fresh_copy(history_of(self.noop_src), history_of(work))
        before = file_id(work)
        self.record("noop", self.ocac(work, "sweep", "run", "--now", gen.NOW_TEXT, "--quiet"))
        if file_id(work) != before:
            self.res.noop_rewritten += 1
            log(f"  {self.label:>5} noop: the file was rewritten (inode/mtime/size changed)")

    def listing(self) -> None:
        """list --due --limit 50 --json on the original store (read-only)."""
        before = file_id(self.store)
        self.record(
            "list",
            self.ocac(
                self.store,
                "conversations",
                "list",
                "--due",
                "--limit",
                str(LIST_LIMIT),
                "--now",
                gen.NOW_TEXT,
                "--json",
            ),
            stdout=self.path("list"),
        )
        if file_id(self.store) != before:
            raise Mismatch(f"conversations list modified the store {self.store}")

    def verify(self) -> None:
        """Child process: ocac result == jq result (see verify.py)."""
        argv = [
            self.t.python,
            str(BENCH / "verify.py"),
            "--original",
            str(self.store),
            "--ocac",
            str(self.path("ocac")),
            "--list",
            str(self.path("list")),
            "--limit",
            str(LIST_LIMIT),
            "--meta",
            str(self.meta_path),
        ]
        if self.t.jq:
            argv += ["--jq", str(self.path("jq"))]
        proc = subprocess.run(argv, capture_output=True)
        out = proc.stdout.decode(errors="replace").strip()
        self.res.checks = orjson.loads(out) if out.startswith("{") else {"ok": False}
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr.decode(errors="replace"))
            raise Mismatch(f"{self.label}: ocac's sweep differs from jq's (details above)")
        ref = "jq" if self.t.jq else "the generator's due count (jq missing)"
        log(
            f"  {self.label:>5} check: ocac agrees with {ref} ({self.res.checks.get('ocac_moved')} "
            f"moved of {self.res.checks.get('conversations')})"
        )

    def first_round(self, keep_going: bool) -> None:
        """jq, ocac sweep and list once, check equality, then floor and no-op."""
        if self.t.jq:
            self.jq()
        self.sweep()
        self.listing()
        try:
            self.verify()
        except Mismatch as exc:
            self.res.checks["ok"] = False
            if not keep_going:
                raise
            log(f"MISMATCH (continuing, --keep-going): {exc}")
        self.path("ocac").replace(self.noop_src)
        history_of(self.path("ocac")).replace(history_of(self.noop_src))
        self.floor()
        self.noop()

    def run(self, runs: int, jq_runs: int, keep_going: bool) -> SizeResult:
        """All rounds, contenders alternating (order rotated every round)."""
        WORK.mkdir(parents=True, exist_ok=True)
        try:
            self.first_round(keep_going)
            for r in range(1, runs):
                order = [self.floor, self.sweep, self.noop, self.listing]
                if self.t.jq and r < jq_runs:
                    order.append(self.jq)
                k = r % len(order)
                for step in order[k:] + order[:k]:
                    step()
        finally:
            self.cleanup()
        if not self.t.jq:
            self.res.series["jq"].notes.append("jq not found: skipped")
        return self.res

    def cleanup(self) -> None:
        """Delete this size's work files."""
        for name in ("floor", "jq", "ocac", "noop", "list"):
            remove(self.path(name))
            remove_sidecars(self.path(name))
        remove(self.noop_src)
        remove_sidecars(self.noop_src)


def startup(tools: Tools, tiny: Path, runs: int) -> dict[str, Series]:
    """ocac vs the minimal Typer app: --help and one command on a tiny store."""
    assert tools.ocac is not None
    minimal = [tools.python, str(BENCH / "minimal_app.py")]
    work = WORK / "tiny.json"
    err = WORK / "stderr.txt"
    cmd = ["sweep", "run", "--now", gen.NOW_TEXT, "--quiet"]
    opts = ["--store", str(work), "--config", str(tools.config_toml)]
    argvs = {
        "ocac_help": [*tools.ocac, "--help"],
        "min_help": [*minimal, "--help"],
        "ocac_cmd": [*tools.ocac, *opts, *cmd],
        "min_cmd": [*minimal, *opts, *cmd],
    }
    labels = {
        "ocac_help": "ocac --help",
        "min_help": "minimal_app.py --help",
        "ocac_cmd": "ocac sweep run --quiet (10 conversations)",
        "min_cmd": "minimal_app.py sweep run --quiet",
    }
    series = {k: Series(labels[k]) for k in argvs}
    keys = list(argvs)
    for r in range(runs + 1):  # round 0 warms caches and is not recorded
        for key in keys[r % 4 :] + keys[: r % 4]:
            fresh_copy(tiny, work)
            sample = checked(run_timed(argvs[key], None, err), shlex.join(argvs[key]), err)
            if r:
                series[key].add(sample)
    for key, s in series.items():
        log(f"  start-up {key:<9} median {s.wall * 1000:7.1f} ms  {s.rss_mib:6.1f} MiB")
    return series


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description="ocac benchmark (see bench/README.md)")
    ap.add_argument("--sizes", default="10k,100k,1m", help="comma-separated, e.g. 10k,100k,1m")
    ap.add_argument("--runs", type=int, default=7, help="runs per contender and size (below 1m)")
    ap.add_argument(
        "--runs-large", type=int, default=5, help=f"runs per contender at sizes >= {LARGE:,} (floor/jq/ocac comparison)"
    )
    ap.add_argument("--jq-runs-large", type=int, default=3, help=f"jq runs at sizes >= {LARGE:,} (jq is slow there)")
    ap.add_argument("--startup-runs", type=int, default=15)
    ap.add_argument(
        "--smoke", action="store_true", help="CI smoke test: 10k, 2 runs; checks ocac == jq, no timing asserts"
    )
    ap.add_argument("--seed", type=int, default=gen.DEFAULT_SEED)
    ap.add_argument("--ocac", help="ocac command (default: the venv's ocac script)")
    ap.add_argument(
        "--ocac-src",
        type=Path,
        help="a folder holding the ocac package to measure (put first on the children's "
        "PYTHONPATH), e.g. a snapshot of a commit while the working tree is being edited",
    )
    ap.add_argument("--skip-ocac", action="store_true", help="develop without ocac")
    ap.add_argument(
        "--keep-going", action="store_true", help="keep timing after an ocac != jq mismatch (still exits 1)"
    )
    ap.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="run children with the environment as is (no PYTHONPYCACHEPREFIX)",
    )
    ap.add_argument(
        "--store-sizes", default="1m", help="sizes of the JSON/SQLite/PostgreSQL comparison ('none' to skip it)"
    )
    ap.add_argument(
        "--backends",
        default=",".join(backends.BACKENDS),
        help="stores compared (json is the reference and always included)",
    )
    ap.add_argument("--backend-runs", type=int, default=5, help="runs of each store command")
    ap.add_argument(
        "--copy-runs",
        type=int,
        default=1,
        help="timed store copy runs into each database (the first makes the database)",
    )
    ap.add_argument(
        "--copy-back",
        choices=("auto", "always", "never"),
        default="auto",
        help="time store copy of each database back to JSON after the first mass sweep and "
        "check it field by field (auto: below 1m, where it is cheap)",
    )
    ap.add_argument(
        "--postgresql-url",
        help="a server to use instead of a throwaway one (databases ocac_bench_* are made and dropped there)",
    )
    ap.add_argument(
        "--results", type=Path, help="Markdown output (default bench/RESULTS.md; .data/RESULTS-smoke.md with --smoke)"
    )
    args = ap.parse_args(argv)
    if args.smoke:
        args.sizes, args.runs, args.runs_large, args.startup_runs = "10k", 2, 2, 2
        args.store_sizes, args.backend_runs, args.copy_runs = "10k", 1, 1
    chosen = [b.strip().lower() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(chosen) - set(backends.BACKENDS))
    if unknown:
        ap.error(f"--backends: unknown {unknown}; choose from {', '.join(backends.BACKENDS)}")
    args.backends = [b for b in backends.BACKENDS if b in chosen or b == "json"]
    args.store_notes = []
    args.results = args.results or (DATA / "RESULTS-smoke.md" if args.smoke else BENCH / "RESULTS.md")
    return args


def bench_sizes(args: argparse.Namespace, tools: Tools) -> list[SizeResult]:
    """Generate and measure every requested size."""
    results = []
    for label in labels(args.sizes):
        store, meta_path, meta = generate(label, args.seed)
        log(f"size {label}: {meta['size']:,} conversations, {meta['bytes'] / 1e6:.1f} MB, {meta['due']:,} due")
        runs = args.runs_large if meta["size"] >= LARGE else args.runs
        jq_runs = min(runs, args.jq_runs_large) if meta["size"] >= LARGE else runs
        if tools.ocac is None:
            log("  (--skip-ocac: only floor and jq)")
            results.append(dev_size(tools, label, store, meta_path, runs, jq_runs))
            continue
        bench = SizeBench(tools, label, store, meta_path)
        results.append(bench.run(runs, jq_runs, args.keep_going))
    return results


def labels(text: str) -> list[str]:
    """``"10k, 1m"`` -> ``["10k", "1m"]``; ``"none"`` (or nothing) -> ``[]``."""
    found = [s.strip().lower() for s in text.split(",") if s.strip()]
    return [] if found == ["none"] else found


def start_postgresql(args: argparse.Namespace) -> backends.Postgres | None:
    """A server for the PostgreSQL store, or None when it is not compared.

    No server to be had fails the run, except in a smoke run without
    OCAC_REQUIRE_POSTGRESQL=1: there PostgreSQL is skipped, loudly (CI's smoke
    test may run before PostgreSQL is installed).
    """
    if "postgresql" not in args.backends or not labels(args.store_sizes):
        return None
    try:
        return backends.Postgres.start(args.postgresql_url)
    except Exception as exc:
        required = os.environ.get("OCAC_REQUIRE_POSTGRESQL", "").strip().lower() in ("1", "true", "yes")
        if args.smoke and not required:
            note = f"PostgreSQL store NOT measured: no server ({exc}); set OCAC_REQUIRE_POSTGRESQL=1 to fail"
            log(f"WARNING: {note}")
            args.backends.remove("postgresql")
            args.store_notes.append(f"- **{note}**.")
            return None
        raise backends.BackendMismatch(
            f"no PostgreSQL server for the store comparison: {exc} (--backends json,sqlite leaves PostgreSQL out)"
        ) from None


def bench_stores(args: argparse.Namespace, tools: Tools, pg: backends.Postgres | None) -> list[backends.BackendResult]:
    """The store comparison at every --store-sizes size."""
    results = []
    if tools.ocac is None:
        return results
    for label in labels(args.store_sizes):
        store, meta_path, meta = generate(label, args.seed)
        log(
            f"stores {', '.join(args.backends)} at {label}: {meta['size']:,} conversations, "
            f"{args.backend_runs} run(s), {args.copy_runs} copy run(s)"
        )
        bench = backends.BackendBench(tools.ocac, tools.config_toml, WORK, label, store, meta_path, args.backends, pg)
        results.append(bench.run(args.backend_runs, args.copy_runs, args.copy_back))
    return results


def dev_size(tools: Tools, label: str, store: Path, meta_path: Path, runs: int, jq_runs: int) -> SizeResult:
    """Without ocac: time floor and jq only (development aid)."""
    bench = SizeBench(tools, label, store, meta_path)
    WORK.mkdir(parents=True, exist_ok=True)
    try:
        for r in range(runs):
            bench.floor()
            if tools.jq and r < jq_runs:
                bench.jq()
    finally:
        bench.cleanup()
    return bench.res


def main(argv: list[str] | None = None) -> int:
    """Run everything, print the report, write the Markdown results."""
    args = parse_args(argv)
    started = time.perf_counter()
    tools = find_tools(args)
    WORK.mkdir(parents=True, exist_ok=True)
    if not args.no_bytecode_cache:
        use_bytecode_cache(DATA / "pycache")
    args.load_before = os.getloadavg()
    failed = False
    up: dict[str, Series] = {}
    sizes: list[SizeResult] = []
    stores: list[backends.BackendResult] = []
    pg: backends.Postgres | None = None
    try:
        if tools.ocac:
            tiny, _, _ = generate("10", args.seed)
            up = startup(tools, tiny, args.startup_runs)
        sizes = bench_sizes(args, tools)
        failed = any(not r.checks.get("ok", True) for r in sizes)
        pg = start_postgresql(args)
        stores = bench_stores(args, tools, pg)
        failed = failed or any(not r.ok for r in stores)
    except (Mismatch, ProcessFailed, backends.BackendMismatch) as exc:
        log(f"\nFAILED: {exc}")
        return 1
    finally:
        if pg is not None:
            pg.cleanup()
    elapsed = time.perf_counter() - started
    text = report.markdown(sizes, up, tools, args, elapsed, stores)
    print("\n" + text)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text, encoding="utf-8")
    log(f"wrote {args.results.relative_to(REPO) if args.results.is_relative_to(REPO) else args.results}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
