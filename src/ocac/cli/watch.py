"""`sweep watch`: the same sweep as `sweep run`, on every tick of a clock-aligned interval."""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import typer

from ocac.cli.common import clock, load_config, load_store, settings


class Watcher:
    """Runs sweeps until Ctrl-C or `iterations`, surviving busy locks and bad files."""

    def __init__(self, ctx: typer.Context, seconds: float, iterations: int | None, json: bool) -> None:
        self.ctx = ctx
        self.seconds = seconds
        self.iterations = iterations
        self.json = json
        self.sweeps = 0
        self.skipped = 0
        self.moved = 0

    def loop(self) -> None:
        """Sweep now, then at every tick; print a summary at the end."""
        from ocac import render

        try:
            while True:
                self.sweep_once()
                if self.iterations is not None and self.sweeps + self.skipped >= self.iterations:
                    break
                self.wait(self.next_tick())
        except KeyboardInterrupt:
            pass
        render.message(
            f"watch stopped: {self.sweeps} sweep(s), {self.moved} conversation(s) moved, {self.skipped} skipped"
        )

    def next_tick(self) -> float:
        """The next multiple of the interval on the wall clock."""
        now = time.time()
        return (math.floor(now / self.seconds) + 1) * self.seconds

    def sweep_once(self) -> None:
        """One sweep at the clock's instant; a busy lock or bad file skips to the next tick."""
        from ocac import render
        from ocac.cli.sweep import print_result, summary_line
        from ocac.errors import ConfigError, FileAccessError, LockTimeout, StoreError
        from ocac.instants import format_instant
        from ocac.sweep import run_sweep

        now = clock()
        s = settings(self.ctx)
        try:
            policy = load_config(self.ctx).policy
            result = run_sweep(s.store_path, policy, now, dry_run=False, lock_timeout=s.lock_timeout)
        except (LockTimeout, StoreError, ConfigError, FileAccessError) as error:
            self.skipped += 1
            render.message(f"sweep at {format_instant(now)} skipped: {error}; trying again at the next tick")
            return
        self.sweeps += 1
        self.moved += len(result.transitions)
        if self.json:
            import msgspec

            sys.stdout.buffer.write(msgspec.json.encode(result.to_json()) + b"\n")
            sys.stdout.flush()
            return
        heading = f"sweep {self.sweeps} at {format_instant(now)}: {summary_line(result)}"
        print_result(
            result,
            heading=heading if result.transitions else f"sweep {self.sweeps} at {format_instant(now)}: nothing due",
        )

    def wait(self, tick: float) -> None:
        """Sleep until `tick`, showing a live status line on a terminal."""
        from ocac import render

        line = self.status_line(tick)
        console = render.err()
        if not console.is_terminal:
            render.message(line)
            time.sleep(max(0.0, tick - time.time()))
            return
        from rich.live import Live
        from rich.text import Text

        with Live(Text(line), console=console, transient=True, refresh_per_second=2) as live:
            while (left := tick - time.time()) > 0:
                live.update(Text(f"{line} (in {math.ceil(left)}s)"))
                time.sleep(min(left, 0.5))

    def status_line(self, tick: float) -> str:
        """Next sweep time, what is not closed by state, and how many become due before then."""
        from ocac.errors import OcacError
        from ocac.instants import format_instant
        from ocac.policy import plan

        when = datetime.fromtimestamp(tick, UTC)
        try:
            document = load_store(self.ctx)
            policy = load_config(self.ctx).policy
        except OcacError as error:
            return f"next sweep {format_instant(when)}; store unreadable now: {error}"
        counts = Counter(str(c.state) for c in document.conversations if c.state.value != "closed")
        by_state = ", ".join(f"{state} {n}" for state, n in sorted(counts.items())) or "none open"
        due = len(plan(document.conversations, policy, when, document.deleted_records))
        return f"next sweep {format_instant(when)}; {by_state}; due by then: {due}"
