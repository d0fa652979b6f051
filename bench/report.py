"""Reporting for bench/run.py: targets (PASS/MISS) and the Markdown table."""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from measure import Series

if TYPE_CHECKING:
    from backends import BackendResult
    from run import SizeResult, Tools

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    """One goal from the issue, evaluated on this run's medians."""

    name: str
    measured: str
    goal: str
    ok: bool | None  # None: not measured


def ratio(a: Series, b: Series) -> float | None:
    """Median wall of ``a`` over median wall of ``b`` (None if either is empty)."""
    if not a.samples or not b.samples:
        return None
    return a.wall / b.wall


def fmt(x: float | None, suffix: str = "×") -> str:
    """A ratio for the tables."""
    return "–" if x is None else f"{x:.2f}{suffix}"


def size_targets(r: SizeResult) -> list[Target]:
    """The store-size goals, on one size."""
    s = r.series
    at = f" (at {r.label})"
    sweep = ratio(s["sweep"], s["floor"])
    speedup = ratio(s["jq"], s["sweep"])
    rss = s["sweep"].rss_mib * 2**20 / r.file_bytes if s["sweep"].samples else None
    noop = ratio(s["noop"], s["floor"])
    lst = ratio(s["list"], s["floor"])
    rewritten = f", rewritten {r.noop_rewritten}/{len(s['noop'].samples)}"
    return [
        Target("sweep moving ~25% vs floor" + at, fmt(sweep), "≤ 1.0×", le(sweep, 1.0)),
        Target("sweep speed-up over jq" + at, fmt(speedup), "≥ 6×", None if speedup is None else speedup >= 6),
        Target("sweep peak RSS vs store file size" + at, fmt(rss), "≤ 5×", le(rss, 5.0)),
        Target(
            "no-op sweep: not rewritten, vs floor" + at,
            fmt(noop) + rewritten,
            "0 rewrites, ≤ 0.6×",
            None if noop is None else noop <= 0.6 and r.noop_rewritten == 0,
        ),
        Target(f"list --due --limit 50 vs floor{at}", fmt(lst), "≤ 0.8×", le(lst, 0.8)),
    ]


def le(x: float | None, bound: float) -> bool | None:
    """x ≤ bound, None when not measured."""
    return None if x is None else x <= bound


def startup_targets(up: dict[str, Series]) -> list[Target]:
    """The start-up goals (ocac vs the minimal Typer app)."""
    if not up:
        return []
    help_r = ratio(up["ocac_help"], up["min_help"])
    cmd_r = ratio(up["ocac_cmd"], up["min_cmd"])
    return [
        Target("ocac --help vs minimal app --help", fmt(help_r), "≤ 1.0×", le(help_r, 1.0)),
        Target("ocac sweep run --quiet (10 conv.) vs minimal command", fmt(cmd_r), "≤ 1.2×", le(cmd_r, 1.2)),
    ]


def targets(sizes: list[SizeResult], up: dict[str, Series]) -> list[Target]:
    """All goals: store goals on 1m if measured, else on the largest size."""
    measured = [r for r in sizes if r.series["sweep"].samples]
    main = next((r for r in measured if r.n == 1_000_000), None) or max(measured, key=lambda r: r.n, default=None)
    return (size_targets(main) if main else []) + startup_targets(up)


# --- the store comparison (JSON vs SQLite vs PostgreSQL) ----------------------------------------

BACKEND_GOALS = {
    "sqlite": {"steady": 0.1, "noop": 0.05, "touch": 0.05, "list": 0.05, "status": 0.3, "mass": 1.5},
    "postgresql": {"steady": 0.15, "noop": 0.05, "touch": 0.05, "list": 0.05, "status": 0.3, "mass": 2.0},
}
RSS_GOAL_BYTES = 150e6  # 150 MB peak RSS for every database command but store copy
COPY_GOAL_S = 30.0  # store copy of the JSON store into a database


def work(r: BackendResult, backend: str, step: str) -> float | None:
    """A command's median minus the median of ``ocac --version`` (the start-up)."""
    s = r.series.get((backend, step))
    if s is None or not s.samples or not r.version.samples:
        return None
    return s.wall - r.version.wall


def work_ratio(r: BackendResult, backend: str, step: str) -> float | None:
    """Store work of ``backend`` over the JSON store's, same command, same run."""
    mine, base = work(r, backend, step), work(r, "json", step)
    if mine is None or base is None or base <= 0:
        return None
    return mine / base


def worst_rss(r: BackendResult, backend: str) -> tuple[float, str] | None:
    """The largest peak RSS (bytes) of any sample of any command but copy, and its command."""
    found = [
        (max(x.maxrss_kib for x in s.samples) * 1024.0, step)
        for (b, step), s in r.series.items()
        if b == backend and s.samples
    ]
    return max(found) if found else None


def backend_targets(results: list[BackendResult]) -> list[Target]:
    """The stores' goals on the largest size compared (1m in a full run)."""
    measured = [r for r in results if r.version.samples]
    if not measured:
        return []
    r = max(measured, key=lambda x: x.n)
    at = f" (at {r.label})"
    out: list[Target] = []
    from backends import LABELS, NAMES

    for backend, goals in BACKEND_GOALS.items():
        if backend not in r.backends:
            continue
        name = NAMES[backend]
        for step, bound in goals.items():
            x = work_ratio(r, backend, step)
            out.append(Target(f"{name} {LABELS[step]}: store work vs JSON{at}", fmt(x), f"≤ {bound}×", le(x, bound)))
        rss = worst_rss(r, backend)
        out.append(
            Target(
                f"{name} peak RSS, every command but store copy{at}",
                "–" if rss is None else f"{rss[0] / 1e6:.0f} MB (max: {rss[1]})",
                f"≤ {RSS_GOAL_BYTES / 1e6:.0f} MB",
                None if rss is None else rss[0] <= RSS_GOAL_BYTES,
            )
        )
        copy = r.copies.get(f"json>{backend}")
        wall = copy.wall if copy and copy.samples else None
        out.append(
            Target(f"store copy JSON → {name}{at}", fmt(wall, " s"), f"≤ {COPY_GOAL_S:.0f} s", le(wall, COPY_GOAL_S))
        )
    return out


def backend_tables(results: list[BackendResult]) -> list[str]:
    """Per size: every command on every store, store work and its ratio to JSON's; the copies."""
    from backends import LABELS, NAMES, SHOWN

    lines: list[str] = []
    for r in results:
        if not r.version.samples:
            continue
        v = r.version
        lines += [
            f"### {r.label}: {r.n:,} conversations ({r.file_bytes / 1e6:.0f} MB as JSON, "
            f"{r.due:,} due at now), {r.runs} run(s) per command",
            "",
            f"Start-up, `ocac --version`: median {v.wall * 1000:.0f} ms, min {v.wall_min * 1000:.0f} ms "
            f"({len(v.samples)} runs, interleaved); **store work** = a command's median minus this.",
            "",
            "| command | store | runs | median wall | min wall | store work | × JSON store work | median peak RSS |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for step in SHOWN:
            for b in r.backends:
                s = r.series[(b, step)]
                if not s.samples:
                    continue
                w = work(r, b, step)
                lines.append(
                    f"| {LABELS[step]} | {NAMES[b]} | {len(s.samples)} | {s.wall:.3f} s "
                    f"| {s.wall_min:.3f} s | {fmt(w, ' s') if w is None else f'{w:.3f} s'} "
                    f"| {fmt(work_ratio(r, b, step))} | {s.rss_mib:.0f} MiB |"
                )
        if r.copies:
            lines += [
                "",
                "| store copy | runs | median wall | min wall | median peak RSS |",
                "| --- | ---: | ---: | ---: | ---: |",
            ]
            for s in r.copies.values():
                lines.append(
                    f"| {s.label} | {len(s.samples)} | {s.wall:.2f} s | {s.wall_min:.2f} s | {s.rss_mib:.0f} MiB |"
                )
        lines.append("")
    return lines


def backend_check_lines(results: list[BackendResult]) -> list[str]:
    """The stores' correctness checks, per size."""
    return [f"- {r.label} stores: {line}" for r in results for line in r.checks]


def verdict(ok: bool | None) -> str:
    """PASS / MISS / n/a."""
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def size_table(sizes: list[SizeResult]) -> list[str]:
    """One row per (size, contender); ratios to floor of the same size and run."""
    lines = [
        "| size | file | contender | runs | median wall | min wall | × floor | median peak RSS | RSS ÷ file |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in sizes:
        for s in r.series.values():
            if not s.samples:
                continue
            rss_x = s.rss_mib * 2**20 / r.file_bytes
            lines.append(
                f"| {r.label} | {r.file_bytes / 1e6:.0f} MB | {s.label} "
                f"| {len(s.samples)} | {s.wall:.3f} s | {s.wall_min:.3f} s "
                f"| {fmt(ratio(s, r.series['floor']))} | {s.rss_mib:.0f} MiB "
                f"| {rss_x:.2f}× |"
            )
    return lines


def startup_table(up: dict[str, Series]) -> list[str]:
    """Start-up rows; ratios to the matching minimal-app command."""
    if not up:
        return []
    base = {"ocac_help": "min_help", "min_help": "min_help", "ocac_cmd": "min_cmd", "min_cmd": "min_cmd"}
    lines = [
        "| command | runs | median wall | min wall | × minimal app | median peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, s in up.items():
        lines.append(
            f"| {s.label} | {len(s.samples)} | {s.wall * 1000:.0f} ms "
            f"| {s.wall_min * 1000:.0f} ms | {fmt(ratio(s, up[base[key]]))} "
            f"| {s.rss_mib:.0f} MiB |"
        )
    return lines


def command_line() -> str:
    """The exact command that made this report (repo-relative when run from the repo)."""
    argv = list(sys.orig_argv)
    if Path.cwd() == REPO:
        argv = [os.path.relpath(a, REPO) if a.startswith(str(REPO) + "/") else a for a in argv]
    return shlex.join(argv)


def machine(tools: Tools) -> str:
    """Cores, CPU, memory, Python, jq, date."""
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        platform.machine(),
    )
    mem = next((int(line.split()[1]) // 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    jq = "missing"
    if tools.jq:
        jq = subprocess.run([tools.jq, "--version"], capture_output=True, text=True).stdout.strip()
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem / 1024:.0f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}, "
        f"{jq}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def markdown(
    sizes: list[SizeResult],
    up: dict[str, Series],
    tools: Tools,
    args: argparse.Namespace,
    elapsed: float,
    stores: list[BackendResult] | None = None,
) -> str:
    """The whole results file."""
    stores = stores or []
    goals = targets(sizes, up) + backend_targets(stores)
    asserted = " (not asserted: smoke)" if args.smoke else ""
    notes = [
        f"- Runs: {args.runs} per contender and size below 1m, {args.runs_large} at 1m and up "
        f"(jq: {args.jq_runs_large} there, it is slow); start-up: {args.startup_runs} each after one warm-up "
        "round. Contenders alternate, order rotated each round; copies made and "
        "fsynced outside the timing.",
        "- Peak RSS is each child's own `ru_maxrss` (os.wait4). Ratios are medians "
        "over the floor (or minimal app) measured in the same run.",
        "- jq writes its result to stdout (a file, no fsync); floor and ocac write "
        "atomically with fsync. ocac also appends its audit trail "
        "(`<store>.history.jsonl`, started afresh each run), which is part of its time.",
        f"- Whole run took {elapsed:.0f} s; load average (1/5/15 min) "
        f"{fmt_load(args.load_before)} at the start, {fmt_load(os.getloadavg())} at the "
        "end (other work on the machine shows up as noise: compare min and median).",
        "- Python children cache bytecode under `bench/.data/pycache` "
        "(PYTHONPYCACHEPREFIX), like an installed package would"
        + (" (disabled: --no-bytecode-cache)." if args.no_bytecode_cache else "."),
    ]
    if args.smoke:
        notes.append("- Smoke run: timings are printed but not asserted.")
    notes.append(f"- Code measured: {code_measured(args)}.")
    notes += store_notes(stores, args)
    floor = (
        ["## Sweep at `now` = 2026-11-25T12:00:00Z (~25% of conversations due)", "", *size_table(sizes), ""]
        if sizes
        else []
    )
    compared = (
        [
            "## Stores: JSON vs SQLite vs PostgreSQL",
            "",
            "The same commands on each store, a fresh copy each run (see Notes). Targets compare "
            "store work with the JSON store's, measured in this same run.",
            "",
            *backend_tables(stores),
        ]
        if stores
        else []
    )
    lines = [
        "# ocac benchmark results",
        "",
        f"Machine: {machine(tools)}",
        "",
        f"Command: `{command_line()}`",
        "",
        *floor,
        *compared,
        "## Start-up",
        "",
        *startup_table(up),
        "",
        "## Targets",
        "",
        "| target | measured | goal | result |",
        "| --- | ---: | ---: | --- |",
        *[f"| {g.name} | {g.measured} | {g.goal} | {verdict(g.ok)}{asserted} |" for g in goals],
        "",
        "## Checks",
        "",
        *check_lines(sizes),
        *backend_check_lines(stores),
        "",
        "## Notes",
        "",
        *notes,
        "",
    ]
    return "\n".join(lines)


def code_measured(args: argparse.Namespace) -> str:
    """Which ocac the run measured: the commit, and whether src/ had uncommitted changes."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", "-C", str(REPO), *argv], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown commit"
    if getattr(args, "ocac_src", None):
        return f"the ocac package in `{args.ocac_src}` (--ocac-src; the repository is at {head})"
    dirty = git("status", "--porcelain", "--", "src")
    return f"the installed ocac from this repository at {head}" + (
        ", **with uncommitted changes in src/**" if dirty else ", src/ clean"
    )


def store_notes(stores: list[BackendResult], args: argparse.Namespace) -> list[str]:
    """How the store comparison was run."""
    notes = list(getattr(args, "store_notes", []))
    if not stores:
        return notes
    return notes + [
        f"- Stores: {args.backend_runs} run(s) of each command per store and size; "
        f"{args.copy_runs} timed `store copy` into each database (the first makes the database the "
        "runs copy). Each run starts from fresh copies: the JSON file (fsynced), the SQLite file "
        "(fsynced), and for PostgreSQL `CREATE DATABASE … TEMPLATE base STRATEGY FILE_COPY`; "
        "then `sync`, all before the clock starts. Then, on each store: `list --due --limit 50` and "
        "the mass sweep at now, the steady sweep at now + 5 min, the no-op sweep at now + 5 min "
        "again, `status` and `touch` at now + 5 min. Each command runs on every store before the "
        "next one starts, the stores' order rotating; one `ocac --version` runs after each command.",
        "- Store work = a command's median wall minus `ocac --version`'s median in the same run; "
        "it includes what `--version` does not do (reading the configuration, opening the store; for "
        "PostgreSQL importing psycopg and connecting). Ratios are store work over the JSON store's "
        "for the same command.",
        "- PostgreSQL: a throwaway server from tests/postgresql_server.py (initdb in a temporary "
        "folder, Unix socket, fsync and full_page_writes off, shared_buffers 128MB); the base "
        "database gets `VACUUM (ANALYZE)` after its copy (what autovacuum does to a loaded table), "
        "and each round's database after the mass sweep (what autovacuum does within a minute of 250k "
        "updates, before the next cron sweep); neither is timed. Peak RSS is the ocac process's only "
        "(not the server's).",
        "- Peak RSS target: 150 MB = 150·10⁶ bytes, the largest sample of any command but `store copy`.",
        "- Checks: after the first round's mass sweep each database is read directly (one query) and "
        "compared with the JSON store per id; "
        + (
            "each was also copied back to JSON with a timed `store copy` and compared field by field "
            f"(--copy-back {args.copy_back}) at {', '.join(r.label for r in stores if r.copy_back)}."
            if any(r.copy_back for r in stores)
            else f"no copy back to JSON (--copy-back {args.copy_back}: it takes ~40 s per database at 1m)."
        ),
    ]


def fmt_load(load: tuple[float, float, float]) -> str:
    """A load-average triple."""
    return "/".join(f"{x:.1f}" for x in load)


def check_lines(sizes: list[SizeResult]) -> list[str]:
    """The correctness checks done per size."""
    out = []
    for r in sizes:
        c = r.checks
        if not c:
            out.append(f"- {r.label}: not checked (no ocac run)")
            continue
        added = c.get("ocac_added_top_level_keys") or "none"
        same = (
            "ocac == jq per id (state, modified_on instant)"
            if c.get("reference") == "jq"
            else "jq missing: ocac checked against the generator's due count only"
        )
        state = (
            f"{same}, unknown fields and top-level keys kept (ocac added {added})"
            if c.get("ok")
            else "**MISMATCH** (details in the run's output)"
        )
        listed = f"list --due returned {c['listed']} ids, all due" if "listed" in c else "list --due not checked"
        out.append(
            f"- {r.label}: {state}; {c.get('ocac_moved')} of {c.get('conversations')} "
            f"conversations moved (generator expected {r.due}); {listed}; "
            f"no-op rewrote the file {r.noop_rewritten} time(s)"
        )
    return out
