#!/usr/bin/env python3
"""The long version of the process suite (tests/process): concurrency and kill -9 rounds until time is up.

    .venv/bin/python tests/reliability/soak.py --seconds 300
    .venv/bin/python tests/reliability/soak.py --seconds 3600 --conversations 200000 --seed 7 --keep

It repeats three rounds, each given up to `--round` seconds (default 60):

- concurrency: sweeps with a moving --now, touch, set-state, add, import, config set and
  workstream set, plus readers, all at once against one store of `--concurrency-store`
  conversations; then the committed audit trail, replayed from the initial store, must give
  the final store, and hold exactly the acknowledged changes (see
  `tests/process/_scenarios.concurrency`);
- kill-sweep and kill-import: a store of `--conversations` conversations; `sweep run` or
  `conversations import` is killed with SIGKILL at random instants (spread over its measured
  lifetime) and at each step of its commit (`tests/process/_support.PHASES`), and after each
  kill the store must be the old or the new version, parse, keep its permissions, and agree
  with its history; temporary files and uncommitted records are cleaned up by the next run
  (see `tests/process/_scenarios.kill_campaign`).

Each round prints one line. The first broken promise stops the soak with exit status 1, the
evidence on stderr, and the round's folder kept for inspection (it is removed on success
unless --keep). tests/process runs the same scenarios small enough for CI.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from process._scenarios import concurrency, kill_campaign, prepare_campaign  # noqa: E402
from process._support import Tally, prepare_change  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=300, help="total time (default 300)")
    parser.add_argument("--round", type=float, default=60, help="time per round (default 60)")
    parser.add_argument("--conversations", type=int, default=50_000, help="store size for the kill rounds")
    parser.add_argument("--concurrency-store", type=int, default=5_000, help="store size for concurrency rounds")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000, help="seed (default: the clock)")
    parser.add_argument("--folder", type=Path, default=None, help="where to work (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    options = parser.parse_args(argv)

    base = options.folder or Path(tempfile.mkdtemp(prefix="ocac-soak-"))
    base.mkdir(parents=True, exist_ok=True)
    print(f"soak: {options.seconds:g}s from seed {options.seed} in {base}", flush=True)
    deadline = time.monotonic() + options.seconds
    totals = Tally()
    kinds = ["concurrency", "kill-sweep", "kill-import"]
    number = 0
    while time.monotonic() < deadline - 5:
        kind = kinds[number % len(kinds)]
        seed = options.seed * 1000 + number
        folder = base / f"{number:03d}-{kind}"
        budget = min(options.round, deadline - time.monotonic())
        began = time.monotonic()
        try:
            line = _round(kind, folder, budget, seed, options, totals)
        except BaseException:
            print(f"soak: round {number} ({kind}, seed {seed}) FAILED; its files are in {folder}", flush=True)
            traceback.print_exc()
            return 1
        print(f"[{number:03d}] {kind} ({time.monotonic() - began:.0f}s, seed {seed}): {line}", flush=True)
        if not options.keep:
            shutil.rmtree(folder, ignore_errors=True)
        number += 1
    print(f"soak: {number} rounds passed: {totals.line()}")
    if not options.keep and options.folder is None:
        shutil.rmtree(base, ignore_errors=True)
    return 0


def _round(kind: str, folder: Path, budget: float, seed: int, options: argparse.Namespace, totals: Tally) -> str:
    if kind == "concurrency":
        report = concurrency(folder, seconds=max(budget - 5, 5), count=options.concurrency_store, seed=seed)
        totals.add("commands", report.commands)
        totals.add("sweeps committed", report.sweeps_committed)
        return report.line()
    change = prepare_change(folder, kind.removeprefix("kill-"), count=options.conversations, seed=seed)
    campaign = prepare_campaign(change)
    stop = time.monotonic() + budget
    batches = 0
    while time.monotonic() < stop - 20 * campaign.duration - 1:  # a batch: 8 + 9 kills and a clean run
        kill_campaign(campaign, kills=8, phases=True, seed=seed * 100 + batches)
        batches += 1
    for key, value in campaign.tally.counts.items():
        totals.add(f"{kind}: {key}", value)
    kills = campaign.tally["old"] + campaign.tally["new"]
    return f"{kills} kill -9 ({campaign.duration:.2f}s a run): {campaign.tally.line()}"


if __name__ == "__main__":
    sys.exit(main())
