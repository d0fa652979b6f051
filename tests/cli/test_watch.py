"""`sweep watch`: ticks aligned to the interval, one summary per sweep, Ctrl-C, busy locks, bad files and
configuration reloads.

The `Watcher` is given a fake clock and sleep (`Ticks`): a sleep moves the clock on at once and
runs whatever the test planned for that moment, so no test waits for a real tick.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer.main

from ocac import fsutil
from ocac.cli import app
from ocac.cli import sweep as sweep_cli
from ocac.cli.common import Settings
from ocac.cli.watch import Watcher
from ocac.instants import format_instant
from ocac.sweep import SweepResult

from ._support import history, last_sweep, snapshot, states

START = datetime(2026, 11, 25, 12, 0, 10, tzinfo=UTC)
"""When the watch starts: ten seconds past a five-minute tick."""


class Ticks:
    """A fake clock and sleep. Sleeping moves the clock on at once, then runs what the test planned for that sleep."""

    def __init__(self, start: datetime) -> None:
        self.now = start.timestamp()
        self.slept: list[float] = []
        self.plans: dict[int, Callable[[], None]] = {}

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        plan = self.plans.get(len(self.slept))
        if plan is not None:
            plan()


@pytest.fixture
def ticks(monkeypatch: pytest.MonkeyPatch) -> Ticks:
    """`ocac sweep watch` run by the CLI, its Watcher driven by a fake clock starting at START."""
    fake = Ticks(START)

    class Driven(Watcher):
        def __init__(self, *args: object, **kwargs: object) -> None:
            assert not kwargs
            super().__init__(*args, clock=fake.clock, sleep=fake.sleep)  # type: ignore[arg-type]

    monkeypatch.setattr(sweep_cli, "Watcher", Driven)
    return fake


def ago(minutes: int) -> str:
    return format_instant(START - timedelta(minutes=minutes))


def write_store(path: Path, *conversations: tuple[str, str, str, str]) -> None:
    rows = [{"id": i, "channel": c, "state": s, "modified_on": m} for i, c, s, m in conversations]
    path.write_text(json.dumps({"conversations": rows}))


@pytest.fixture
def floor(store_path: Path) -> Path:
    """One chat due at once, one due between the second and third ticks, one closed."""
    write_store(
        store_path,
        ("due-now", "chat", "open", ago(30)),  # due at 11:50:10
        ("due-at-12-08", "chat", "open", ago(12)),  # 11:48:10: due at 12:08:10
        ("done", "voice", "closed", ago(60)),
    )
    return store_path


def test_watcher_sweeps_at_once_then_on_each_tick_of_the_interval(
    floor: Path,
    config_path: Path,  # type: ignore[no-untyped-def]
    capsys,
) -> None:
    fake = Ticks(START)
    shown: list[tuple[str, list[str], datetime]] = []

    def show(result: SweepResult, heading: str) -> None:
        shown.append((heading, [t.id for t in result.transitions], result.now))

    ctx = typer.Context(typer.main.get_command(app))
    ctx.obj = Settings(config_path, str(floor), lock_timeout=5, config_explicit=True)
    Watcher(ctx, 300, 3, False, show, clock=fake.clock, sleep=fake.sleep).loop()

    tick_1, tick_2 = datetime(2026, 11, 25, 12, 5, tzinfo=UTC), datetime(2026, 11, 25, 12, 10, tzinfo=UTC)
    assert shown == [
        ("sweep 1 at 2026-11-25T12:00:10Z", ["due-now"], START),
        ("sweep 2 at 2026-11-25T12:05:00Z: nothing due", [], tick_1),
        ("sweep 3 at 2026-11-25T12:10:00Z", ["due-at-12-08"], tick_2),
    ]
    assert fake.slept == [290, 300]  # to the next multiple of the interval, not a fixed interval after
    assert capsys.readouterr().err.splitlines() == [
        "next sweep 2026-11-25T12:05:00Z; open 1; due by then: 0",
        "next sweep 2026-11-25T12:10:00Z; open 1; due by then: 1",
        "watch stopped: 3 sweep(s), 2 conversation(s) moved, 0 skipped",
    ]
    assert states(floor) == {
        "due-now": ("closed", START), "due-at-12-08": ("closed", tick_2),
        "done": ("closed", START - timedelta(hours=1)),
    }  # fmt: skip
    assert [(r.id, r.at) for r in history(floor) if r.id] == [("due-now", START), ("due-at-12-08", tick_2)]
    sweep = last_sweep(floor)
    assert sweep is not None and (sweep.at, sweep.moved) == (tick_2, 1)


def test_each_sweep_is_printed_once_heading_above_summary_below(
    cli,
    floor: Path,
    config_path: Path,  # type: ignore[no-untyped-def]
    ticks: Ticks,
) -> None:
    result = cli("sweep", "watch", "--interval", "5m", "--iterations", "3")
    assert result.exit_code == 0, result.stderr
    lines = [line.rstrip() for line in result.stdout.splitlines() if line.strip()]
    summary = f"moved 1 of 3 conversation(s): chat→closed 1 (config: {config_path})"
    assert lines[0] == "sweep 1 at 2026-11-25T12:00:10Z"
    assert lines[1].split() == ["id", "channel", "from", "→", "to", "idle", "threshold", "reason"]
    assert lines[3].split() == ["due-now", "chat", "open", "→", "closed", "30m", "20m", "AutoClosedBySystem"]
    assert lines[4:7] == [summary, "sweep 2 at 2026-11-25T12:05:00Z: nothing due", "sweep 3 at 2026-11-25T12:10:00Z"]
    assert lines[9].split() == ["due-at-12-08", "chat", "open", "→", "closed", "21m", "20m", "AutoClosedBySystem"]
    assert lines[10:] == [summary]
    assert len(lines) == 11  # each sweep once: no second summary, no repeated table
    assert result.stderr.splitlines()[-1] == "watch stopped: 3 sweep(s), 2 conversation(s) moved, 0 skipped"


def test_json_prints_one_line_per_sweep(cli, floor: Path, config_path: Path, ticks: Ticks) -> None:  # type: ignore[no-untyped-def]
    result = cli("sweep", "watch", "--interval", "5m", "--iterations", "2", "--json")
    assert result.exit_code == 0, result.stderr
    sweeps = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(s["now"], [t["id"] for t in s["transitions"]], s["applied"]) for s in sweeps] == [
        ("2026-11-25T12:00:10Z", ["due-now"], True), ("2026-11-25T12:05:00Z", [], False),
    ]  # fmt: skip
    assert {s["config"] for s in sweeps} == {str(config_path)}
    assert result.stderr.splitlines() == [
        "next sweep 2026-11-25T12:05:00Z; open 1; due by then: 0",
        "watch stopped: 2 sweep(s), 1 conversation(s) moved, 0 skipped",
    ]


def test_ctrl_c_stops_with_a_summary_and_exit_0(cli, floor: Path, ticks: Ticks) -> None:  # type: ignore[no-untyped-def]
    def interrupt() -> None:
        raise KeyboardInterrupt

    ticks.plans[2] = interrupt  # Ctrl-C while waiting for the third tick
    result = cli("sweep", "watch", "--interval", "5m")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[-1] == "watch stopped: 2 sweep(s), 1 conversation(s) moved, 0 skipped"
    assert "Traceback" not in result.output
    assert ticks.slept == [290, 300]


def test_a_busy_lock_skips_the_tick_and_the_watch_goes_on(cli, floor: Path, ticks: Ticks) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(floor)
    held = ExitStack()
    held.enter_context(fsutil.locked(floor, 1, "store"))

    def release() -> None:
        assert snapshot(floor) == before  # nothing was lost or half-done while the lock was held
        held.close()

    ticks.plans[2] = release  # another process holds the store for the first two ticks
    with held:
        result = cli("--lock-timeout", "0", "sweep", "watch", "--interval", "5m", "--iterations", "3")
    assert result.exit_code == 0, result.stderr
    skipped = [line for line in result.stderr.splitlines() if " skipped: " in line]
    assert [line.split(" skipped: ")[0] for line in skipped] == [
        "sweep at 2026-11-25T12:00:10Z", "sweep at 2026-11-25T12:05:00Z",
    ]  # fmt: skip
    for line in skipped:
        assert line.split(" skipped: ")[1].startswith(f"store {floor} is locked by another process")
        assert line.endswith("; trying again at the next tick")
    assert result.stderr.splitlines()[-1] == "watch stopped: 1 sweep(s), 2 conversation(s) moved, 2 skipped"
    assert result.stdout.splitlines()[0].rstrip() == "sweep 1 at 2026-11-25T12:10:00Z"
    assert {k: v[0] for k, v in states(floor).items()} == {"due-now": "closed", "due-at-12-08": "closed",
                                                           "done": "closed"}  # fmt: skip


def test_a_config_change_takes_effect_at_the_next_sweep(
    cli,
    store_path: Path,
    config_path: Path,  # type: ignore[no-untyped-def]
    ticks: Ticks,
) -> None:
    write_store(store_path, ("chat-1", "chat", "open", ago(10)))  # chat open: 20m by default, so not yet due

    def edit() -> None:
        assert cli("config", "set", "chat", "open", "5m").exit_code == 0

    ticks.plans[1] = edit
    result = cli("sweep", "watch", "--interval", "5m", "--iterations", "2", "--json")
    assert result.exit_code == 0, result.stderr
    sweeps = [json.loads(line) for line in result.stdout.splitlines()]
    assert [[t["id"] for t in s["transitions"]] for s in sweeps] == [[], ["chat-1"]]
    assert sweeps[1]["transitions"][0]["threshold_minutes"] == 5
    assert states(store_path)["chat-1"] == ("closed", datetime(2026, 11, 25, 12, 5, tzinfo=UTC))


def test_a_broken_config_skips_sweeps_until_it_is_fixed(
    cli,
    floor: Path,
    config_path: Path,  # type: ignore[no-untyped-def]
    ticks: Ticks,
) -> None:
    before = snapshot(floor)
    config_path.write_text('[rules.chat]\nopen = "soon"\n')

    def fix() -> None:
        assert snapshot(floor) == before
        config_path.write_text('[rules.chat]\nopen = "1h"\n')

    ticks.plans[1] = fix
    result = cli("sweep", "watch", "--interval", "5m", "--iterations", "2", "--json")
    assert result.exit_code == 0, result.stderr
    errors = result.stderr.splitlines()
    assert errors[0].startswith(f"sweep at 2026-11-25T12:00:10Z skipped: config {config_path}: rules.chat.open: ")
    assert errors[0].endswith("; trying again at the next tick")
    assert errors[1].startswith("next sweep 2026-11-25T12:05:00Z; store unreadable now: config ")
    assert errors[-1] == "watch stopped: 1 sweep(s), 0 conversation(s) moved, 1 skipped"
    [sweep] = [json.loads(line) for line in result.stdout.splitlines()]
    assert (sweep["now"], sweep["moved"]) == ("2026-11-25T12:05:00Z", 0)  # under the fixed rule: 1h


def test_a_missing_named_config_is_a_skipped_sweep_not_the_built_in_rules(
    cli,
    floor: Path,
    config_path: Path,  # type: ignore[no-untyped-def]
    ticks: Ticks,
) -> None:
    config_path.unlink()
    before = snapshot(floor)
    result = cli("sweep", "watch", "--interval", "5m", "--iterations", "2")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.count(f"skipped: config {config_path} does not exist") == 2
    assert result.stderr.splitlines()[-1] == "watch stopped: 0 sweep(s), 0 conversation(s) moved, 2 skipped"
    assert snapshot(floor) == before


@pytest.mark.parametrize(
    ("args", "fragment"),
    [(("--interval", "0s"), "--interval must be more than zero"), (("--interval", "soon"), "invalid duration 'soon'")],
)
def test_bad_interval_is_refused_before_any_sweep(cli, floor: Path, args: tuple[str, ...], fragment: str) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(floor)
    result = cli("sweep", "watch", *args, "--iterations", "1")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith("ocac: error: ") and fragment in result.stderr
    assert snapshot(floor) == before


def test_one_real_sweep_with_iterations_1(cli, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The real clock: --iterations 1 sweeps once and stops without waiting for a tick.
    stamp = datetime.now(UTC) - timedelta(minutes=30)
    write_store(
        store_path,
        ("chat-1", "chat", "open", format_instant(stamp)),
        ("voice-1", "voice", "closed", format_instant(stamp)),
    )
    result = cli("sweep", "watch", "--interval", "1s", "--iterations", "1", "--json")
    assert result.exit_code == 0, result.stderr
    [sweep] = [json.loads(line) for line in result.stdout.splitlines()]
    assert [t["id"] for t in sweep["transitions"]] == ["chat-1"]
    assert result.stderr == "watch stopped: 1 sweep(s), 1 conversation(s) moved, 0 skipped\n"
    assert states(store_path)["chat-1"][0] == "closed"
