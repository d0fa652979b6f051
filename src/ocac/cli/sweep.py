"""`ocac sweep …`: the main job, once (`run`, for cron) or in a loop (`watch`, for people)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ocac.cli.common import JSON_HELP, NOW_HELP, load_config, resolve_now, settings, sub_app

if TYPE_CHECKING:
    from ocac.sweep import SweepResult

app = sub_app("Move the conversations that stayed too long in their state.\n\nExample: ocac sweep run --dry-run")

RUN_EPILOG = (
    "Exit codes: 0 success (whether or not anything moved); 1 unexpected error; 2 bad input "
    "(store, config or option); 3 the store's lock could not be had within --lock-timeout; "
    "4 a file could not be read or written; 5 --notify-command failed (the sweep stands)."
)


@app.command("run", epilog=RUN_EPILOG)
def run(
    ctx: typer.Context,
    now: str | None = typer.Option(None, "--now", help=NOW_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; write nothing."),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing unless there is an error (for cron)."),
    notify_command: str | None = typer.Option(
        None,
        "--notify-command",
        metavar="CMD",
        help="After a committed sweep that moved something, run CMD (no shell) with the transitions as JSON on stdin.",
    ),
) -> None:
    """Sweep once: move every conversation that is due at NOW.

    Example: ocac sweep run --dry-run
    """
    import gc

    from ocac import render
    from ocac.sweep import run_sweep

    # A sweep makes millions of acyclic objects and then exits: the cyclic collector would only
    # rescan them again and again (measured: a tenth of a million-conversation sweep).
    gc.disable()
    instant = resolve_now(now)
    argv = notify_argv(notify_command) if notify_command is not None else None  # refused before sweeping
    policy = load_config(ctx).policy
    s = settings(ctx)
    wanted = not quiet and not json and render.large(s.store_path)
    with render.progress(3, wanted=wanted) as step:
        result = run_sweep(s.store_path, policy, instant, dry_run=dry_run, lock_timeout=s.lock_timeout, progress=step)
    if json:
        render.print_json(result.to_json())
    elif not quiet:
        if not result.considered and not s.store_path.exists():
            render.message(f"ocac: warning: store {s.store_path} does not exist: nothing to sweep (check --store)")
        print_result(result)
    if argv and result.written:
        notify(argv, result)


def print_result(result: SweepResult, heading: str | None = None) -> None:
    """The transitions table and a summary line."""
    from ocac import render
    from ocac.durations import format_idle, format_minutes
    from ocac.instants import format_instant

    when = format_instant(result.now)
    prefix = "dry run: " if result.dry_run else ""
    if not result.transitions:
        render.show(heading or f"{prefix}nothing due at {when}")
        return
    table = render.table(
        "id", "channel", "from → to", "idle", "threshold", "reason",
        title=heading or f"{prefix}sweep at {when}",
    )  # fmt: skip
    for t in result.transitions:
        table.add_row(
            t.id, str(t.channel), f"{t.from_state} → {t.to_state}", format_idle(t.idle_minutes),
            format_minutes(t.threshold_minutes), str(t.reason),
        )  # fmt: skip
    render.show(table)
    render.show(summary_line(result))


def summary_line(result: SweepResult) -> str:
    """`moved 12 of 300: chat→closed 5, voice→wrap-up 2…`."""
    verb = "would move" if result.dry_run else "moved"
    parts = ", ".join(f"{ch}→{to} {n}" for (ch, to), n in sorted(result.summary().items()))
    return f"{verb} {len(result.transitions)} of {result.considered} conversation(s): {parts}"


def notify_argv(command: str) -> list[str]:
    """The notify command split into arguments (no shell); a bad one is refused before the sweep."""
    import shlex

    from ocac.errors import InvalidInput

    try:
        argv = shlex.split(command)
    except ValueError as error:
        raise InvalidInput(f"--notify-command: {error}: fix the quoting") from None
    if not argv:
        raise InvalidInput("--notify-command is empty: give a command, or leave the option out")
    return argv


def notify(argv: list[str], result: SweepResult) -> None:
    """Run the notify command with the transitions on stdin; a failure is reported, the sweep stands."""
    import subprocess

    import msgspec

    from ocac.errors import NotifyFailed

    payload = msgspec.json.encode(result.to_json())
    try:
        completed = subprocess.run(argv, input=payload, capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise NotifyFailed(f"sweep committed, but --notify-command failed: {error}") from None
    if completed.returncode != 0:
        detail = completed.stderr.decode(errors="replace").strip().splitlines()
        tail = f": {detail[-1]}" if detail else ""
        raise NotifyFailed(f"sweep committed, but --notify-command exited with {completed.returncode}{tail}")


@app.command("watch")
def watch(
    ctx: typer.Context,
    interval: str = typer.Option(
        "5m", "--interval", help="Time between sweeps (e.g. 5m; seconds such as 1s for demos)."
    ),
    iterations: int | None = typer.Option(None, "--iterations", min=1, help="Stop after this many sweeps."),
    json: bool = typer.Option(False, "--json", help="Print each sweep as one JSON line instead of tables."),
) -> None:
    """Sweep now and then at every interval (aligned to the clock) until Ctrl-C.

    Each sweep reloads the configuration, so a 'config set' elsewhere takes effect at the next one.
    Example: ocac sweep watch --interval 5m
    """
    from ocac.cli.watch import Watcher
    from ocac.durations import parse_seconds
    from ocac.errors import InvalidInput

    seconds = float(parse_seconds(interval))
    if seconds <= 0:
        raise InvalidInput(f"--interval must be more than zero, not '{interval}'")
    watcher = Watcher(ctx, seconds, iterations, json)
    watcher.loop()
