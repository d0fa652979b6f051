"""`ocac sweep …`: the main job, once (`run`, for cron) or in a loop (`watch`, for people)."""

import gc

import typer

from ocac import render
from ocac.cli.common import JSON_HELP, NOW_HELP, audit, config_of, instant, settings, store_of, sub_app
from ocac.cli.watch import Watcher
from ocac.durations import format_idle, format_minutes, parse_seconds
from ocac.errors import InvalidInput
from ocac.store import parse_spec
from ocac.sweep import SweepResult, notify, notify_argv, run_sweep

app = sub_app("Move the conversations that stayed too long in their state.\n\nExample: ocac sweep run --dry-run")

RUN_EPILOG = (
    "Exit codes: 0 success (whether or not anything moved, and when another host's sweep was already "
    "running); 1 unexpected error; 2 bad input (store, config or option); 3 the store's lock could not be had "
    "within --lock-timeout; 4 a file could not be read or written; 5 --notify-command failed (the sweep "
    "stands); 6 the database server could not be reached."
)


@app.command("run", epilog=RUN_EPILOG)
def run(
    ctx: typer.Context,
    now: str | None = typer.Option(None, "--now", metavar="TIME", help=NOW_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; write nothing."),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing unless there is an error (for cron)."),
    notify_command: str | None = typer.Option(
        None,
        "--notify-command",
        metavar="CMD",
        help="After a committed sweep that moved something, run CMD (no shell) with the sweep as JSON on stdin.",
    ),
) -> None:
    """Sweep once: move every conversation that is due at NOW.

    Example: ocac sweep run --dry-run
    """
    # A sweep makes millions of acyclic objects and then exits: the cyclic collector would only
    # rescan them again and again (measured: a tenth of a million-conversation sweep).
    gc.disable()
    argv = notify_argv(notify_command) if notify_command is not None else None  # refused before sweeping
    loaded = config_of(ctx)
    s = settings(ctx)
    store = store_of(ctx)
    at = instant(now, store)
    spec = parse_spec(s.store)
    wanted = not quiet and not json and spec.path is not None and render.large(spec.path)
    with render.progress(1, wanted=wanted) as step:
        step("sweeping")
        details = json or not quiet or argv is not None
        result = run_sweep(store, loaded.policy, audit(at), dry_run=dry_run, config=loaded.source, details=details)
    if json:
        render.print_json(result.to_json())
    elif not quiet:
        if result.skipped:
            render.message(f"sweep skipped: {result.skipped}")
            return
        if not result.considered and not store.exists():
            render.message(f"ocac: warning: store {store.location} does not exist: nothing to sweep (check --store)")
        print_result(result)
    if argv and result.written:
        notify(argv, result)


def print_result(result: SweepResult, heading: str | None = None) -> None:
    """The transitions table and a summary line."""
    when = render.instant(result.now)
    prefix = "dry run: " if result.dry_run else ""
    config = f" (config: {result.config})" if result.config else " (config: built-in defaults)"
    if not result.transitions:
        render.show(heading or f"{prefix}nothing due at {when}{config}")
        return
    table = render.table(
        "id", "channel", "from → to", "idle", "threshold", "reason",
        title=heading or f"{prefix}sweep at {when}",
    )  # fmt: skip
    short = render.id_shortener(t.id for t in result.transitions)
    for t in result.transitions:
        table.add_row(
            short(t.id), str(t.channel), f"{t.from_state} → {t.to_state}", format_idle(t.idle_minutes),
            format_minutes(t.threshold_minutes), str(t.reason),
        )  # fmt: skip
    render.show(table)
    render.show(summary_line(result) + config)


def summary_line(result: SweepResult) -> str:
    """`moved 12 of 300: chat→closed 5, voice→wrap-up 2…`."""
    verb = "would move" if result.dry_run else "moved"
    parts = ", ".join(f"{ch}→{to} {n}" for (ch, to), n in sorted(result.summary().items()))
    return f"{verb} {len(result.transitions)} of {result.considered} conversation(s): {parts}"


@app.command("watch")
def watch(
    ctx: typer.Context,
    interval: str = typer.Option(
        "5m", "--interval", metavar="DURATION", help="Time between sweeps (e.g. 5m; seconds such as 1s for demos)."
    ),
    iterations: int | None = typer.Option(None, "--iterations", metavar="N", min=1, help="Stop after N sweeps."),
    json: bool = typer.Option(False, "--json", help="Print each sweep as one JSON line instead of tables."),
) -> None:
    """Sweep now and then at every interval (aligned to the clock) until Ctrl-C.

    Each sweep reloads the configuration, so a 'config set' elsewhere takes effect at the next one.

    Example: ocac sweep watch --interval 5m
    """
    seconds = float(parse_seconds(interval))
    if seconds <= 0:
        raise InvalidInput(f"--interval must be more than zero, not '{interval}'")
    Watcher(ctx, seconds, iterations, json, print_result).loop()
