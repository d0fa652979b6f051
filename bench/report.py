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
        Target("sweep speed-up over jq" + at, fmt(speedup), "≥ 6×",
               None if speedup is None else speedup >= 6),
        Target("sweep peak RSS vs store file size" + at, fmt(rss), "≤ 5×", le(rss, 5.0)),
        Target("no-op sweep: not rewritten, vs floor" + at, fmt(noop) + rewritten,
               "0 rewrites, ≤ 0.6×",
               None if noop is None else noop <= 0.6 and r.noop_rewritten == 0),
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
    return [Target("ocac --help vs minimal app --help", fmt(help_r), "≤ 1.0×", le(help_r, 1.0)),
            Target("ocac sweep run --quiet (10 conv.) vs minimal command", fmt(cmd_r),
                   "≤ 1.2×", le(cmd_r, 1.2))]


def targets(sizes: list[SizeResult], up: dict[str, Series]) -> list[Target]:
    """All goals: store goals on 1m if measured, else on the largest size."""
    measured = [r for r in sizes if r.series["sweep"].samples]
    main = next((r for r in measured if r.n == 1_000_000), None) or \
        max(measured, key=lambda r: r.n, default=None)
    return (size_targets(main) if main else []) + startup_targets(up)


def verdict(ok: bool | None) -> str:
    """PASS / MISS / n/a."""
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def size_table(sizes: list[SizeResult]) -> list[str]:
    """One row per (size, contender); ratios to floor of the same size and run."""
    lines = ["| size | file | contender | runs | median wall | min wall | × floor "
             "| median peak RSS | RSS ÷ file |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in sizes:
        for s in r.series.values():
            if not s.samples:
                continue
            rss_x = s.rss_mib * 2**20 / r.file_bytes
            lines.append(f"| {r.label} | {r.file_bytes / 1e6:.0f} MB | {s.label} "
                         f"| {len(s.samples)} | {s.wall:.3f} s | {s.wall_min:.3f} s "
                         f"| {fmt(ratio(s, r.series['floor']))} | {s.rss_mib:.0f} MiB "
                         f"| {rss_x:.2f}× |")
    return lines


def startup_table(up: dict[str, Series]) -> list[str]:
    """Start-up rows; ratios to the matching minimal-app command."""
    if not up:
        return []
    base = {"ocac_help": "min_help", "min_help": "min_help",
            "ocac_cmd": "min_cmd", "min_cmd": "min_cmd"}
    lines = ["| command | runs | median wall | min wall | × minimal app | median peak RSS |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for key, s in up.items():
        lines.append(f"| {s.label} | {len(s.samples)} | {s.wall * 1000:.0f} ms "
                     f"| {s.wall_min * 1000:.0f} ms | {fmt(ratio(s, up[base[key]]))} "
                     f"| {s.rss_mib:.0f} MiB |")
    return lines


def command_line() -> str:
    """The exact command that made this report (repo-relative when run from the repo)."""
    argv = list(sys.orig_argv)
    if Path.cwd() == REPO:
        argv = [os.path.relpath(a, REPO) if a.startswith(str(REPO) + "/") else a for a in argv]
    return shlex.join(argv)


def machine(tools: Tools) -> str:
    """Cores, CPU, memory, Python, jq, date."""
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.machine())
    mem = next((int(line.split()[1]) // 1024 for line in open("/proc/meminfo")
                if line.startswith("MemTotal")), 0)
    jq = "missing"
    if tools.jq:
        jq = subprocess.run([tools.jq, "--version"], capture_output=True, text=True).stdout.strip()
    return (f"{os.cpu_count()} cores ({cpu}), {mem / 1024:.0f} GiB RAM, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}, "
            f"{jq}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


def markdown(sizes: list[SizeResult], up: dict[str, Series], tools: Tools,
             args: argparse.Namespace, elapsed: float) -> str:
    """The whole results file."""
    goals = targets(sizes, up)
    asserted = " (not asserted: smoke)" if args.smoke else ""
    notes = [f"- Runs: {args.runs} per contender and size (jq: {args.jq_runs_large} at 1m and "
             f"up, it is slow there); start-up: {args.startup_runs} each after one warm-up "
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
             + (" (disabled: --no-bytecode-cache)." if args.no_bytecode_cache else ".")]
    if args.smoke:
        notes.append("- Smoke run: timings are printed but not asserted.")
    lines = ["# ocac benchmark results", "",
             f"Machine: {machine(tools)}", "",
             f"Command: `{command_line()}`", "",
             "## Sweep at `now` = 2026-11-25T12:00:00Z (~25% of conversations due)", "",
             *size_table(sizes), "", "## Start-up", "", *startup_table(up), "",
             "## Targets", "", "| target | measured | goal | result |",
             "| --- | ---: | ---: | --- |",
             *[f"| {g.name} | {g.measured} | {g.goal} | {verdict(g.ok)}{asserted} |"
               for g in goals],
             "", "## Checks", "", *check_lines(sizes), "", "## Notes", "", *notes, ""]
    return "\n".join(lines)


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
        same = ("ocac == jq per id (state, modified_on instant)" if c.get("reference") == "jq"
                else "jq missing: ocac checked against the generator's due count only")
        state = (f"{same}, unknown fields and top-level keys kept (ocac added {added})"
                 if c.get("ok") else "**MISMATCH** (details in the run's output)")
        listed = (f"list --due returned {c['listed']} ids, all due" if "listed" in c
                  else "list --due not checked")
        out.append(f"- {r.label}: {state}; {c.get('ocac_moved')} of {c.get('conversations')} "
                   f"conversations moved (generator expected {r.due}); {listed}; "
                   f"no-op rewrote the file {r.noop_rewritten} time(s)")
    return out
