"""`sweep watch`: the same sweep as `sweep run`, on every tick of a clock-aligned interval.

The clock and the sleep are given to the `Watcher`, so tests drive its ticks without waiting.
"""

import math
import sys
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime

import msgspec
import typer

from ocac import render
from ocac.cli.common import audit, config_of, new_store
from ocac.errors import ConfigError, FileAccessError, LockTimeout, OcacError, StoreError, StoreUnavailable
from ocac.instants import format_instant
from ocac.model import State
from ocac.sweep import SweepResult, run_sweep

Show = Callable[[SweepResult, str], None]
"""Prints one sweep's result under a heading."""


class Watcher:
    """Runs sweeps until Ctrl-C or `iterations`, surviving busy locks, bad files and a server gone away."""

    def __init__(
        self,
        ctx: typer.Context,
        seconds: float,
        iterations: int | None,
        json: bool,
        show: Show,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ctx = ctx
        self.seconds = seconds
        self.iterations = iterations
        self.json = json
        self.show = show
        self.clock = clock
        self.sleep = sleep
        self.sweeps = 0
        self.skipped = 0
        self.moved = 0

    def loop(self) -> None:
        """Sweep now, then at every tick; print a summary at the end."""
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
        """The next multiple of the interval on the clock."""
        return (math.floor(self.clock() / self.seconds) + 1) * self.seconds

    def now(self) -> datetime:
        """The clock's instant, to the second."""
        return datetime.fromtimestamp(math.floor(self.clock()), UTC)

    def sweep_once(self) -> None:
        """One sweep at the clock's instant; a busy lock or bad file skips to the next tick."""
        now = self.now()
        try:
            loaded = config_of(self.ctx)
            with closing(new_store(self.ctx)) as store:
                result = run_sweep(store, loaded.policy, audit(now), dry_run=False, config=loaded.source)
        except (LockTimeout, StoreError, ConfigError, FileAccessError, StoreUnavailable) as error:
            self.skipped += 1
            render.message(f"sweep at {format_instant(now)} skipped: {error}; trying again at the next tick")
            return
        self.sweeps += 1
        self.moved += len(result.transitions)
        if self.json:
            sys.stdout.buffer.write(msgspec.json.encode(result.to_json()) + b"\n")
            sys.stdout.flush()
            return
        heading = f"sweep {self.sweeps} at {render.instant(now)}"
        self.show(result, heading if result.transitions else f"{heading}: nothing due")

    def wait(self, tick: float) -> None:
        """Sleep until `tick`, showing a live status line on a terminal."""
        line = self.status_line(tick)
        console = render.err()
        if not console.is_terminal:
            render.message(line)
            self.sleep(max(0.0, tick - self.clock()))
            return
        from rich.live import Live  # only on a terminal: rich's live display costs start-up time
        from rich.text import Text

        with Live(Text(line), console=console, transient=True, refresh_per_second=2) as live:
            while (left := tick - self.clock()) > 0:
                live.update(Text(f"{line} (in {math.ceil(left)}s)"))
                self.sleep(min(left, 0.5))

    def status_line(self, tick: float) -> str:
        """Next sweep time, what is not closed by state, and how many become due before then."""
        when = datetime.fromtimestamp(tick, UTC)
        try:
            policy = config_of(self.ctx).policy
            with closing(new_store(self.ctx)) as store:
                counts: dict[State, int] = {}
                for (_channel, state), n in store.counts().items():
                    if state is not State.CLOSED:
                        counts[state] = counts.get(state, 0) + n
                due = sum(store.count_due(policy, when).values())
        except OcacError as error:
            return f"next sweep {format_instant(when)}; store unreadable now: {error}"
        by_state = ", ".join(f"{state} {n}" for state, n in sorted(counts.items())) or "none open"
        return f"next sweep {format_instant(when)}; {by_state}; due by then: {due}"
