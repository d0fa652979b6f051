"""`ocac config …`: the channel-state configuration."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from ocac.cli.common import JSON_HELP, settings, sub_app

if TYPE_CHECKING:
    from tomlkit import TOMLDocument

    from ocac.model import Channel, State

app = sub_app(
    "Show and change the channel-state configuration (when conversations auto-close).\n\n"
    "Example: ocac config set voice active 2h"
)


@app.command("show")
def show(ctx: typer.Context, json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Show every channel × state cell: duration, target state and where it comes from.

    Example: ocac config show --json
    """
    from ocac import render
    from ocac.cli.common import load_config
    from ocac.config import matrix
    from ocac.durations import format_minutes

    loaded = load_config(ctx)
    cells = matrix(loaded.policy)
    if json:
        render.print_json([cell.to_json() for cell in cells])
        return
    table = render.table("channel", "state", "after", "moves to", "source", title=f"config: {loaded.path}")
    for cell in cells:
        target = str(cell.target) if cell.minutes is not None else "-"
        table.add_row(str(cell.channel), str(cell.state), format_minutes(cell.minutes), target, cell.source)
    render.show(table)


@app.command("set")
def set_(
    ctx: typer.Context,
    channel: str = typer.Argument(..., help="chat, voice, sms, teams, persistent-chat or social."),
    state: str = typer.Argument(..., help="open, active or wrap-up."),
    duration: str = typer.Argument(..., help="20m, 2h, 1d, 1h30m, 90 (minutes), PT2H or never."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Change nothing; show what the change would do."),
    now: str | None = typer.Option(None, "--now", help="The instant the impact is judged at."),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Set how long a conversation may stay in a state before the sweep moves it.

    Example: ocac config set voice active 2h
    """
    from ocac import config
    from ocac.durations import parse_minutes
    from ocac.model import parse_channel, parse_state

    chan, st, minutes = parse_channel(channel), parse_state(state), parse_minutes(duration)
    mutation = config.set_rule(chan, st, minutes)
    _edit_and_report(ctx, mutation, [(chan, st)], dry_run=dry_run, now=now, json=json)


def _edit_and_report(
    ctx: typer.Context,
    mutation: Callable[[TOMLDocument], None],
    cells: list[tuple[Channel, State]],
    *,
    dry_run: bool,
    now: str | None,
    json: bool,
) -> None:
    from ocac import config
    from ocac.cli.impact import report_change

    s = settings(ctx)
    change = config.edit_config(s.config_path, mutation, lock_timeout=s.lock_timeout, dry_run=dry_run)
    report_change(ctx, change, cells, dry_run=dry_run, now=now, json=json)


@app.command("unset")
def unset(
    ctx: typer.Context,
    channel: str = typer.Argument(..., help="The channel."),
    state: str = typer.Argument(..., help="open, active or wrap-up."),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Drop an override: the cell goes back to its built-in default.

    Example: ocac config unset voice active
    """
    from ocac import config
    from ocac.model import parse_channel, parse_state

    chan, st = parse_channel(channel), parse_state(state)
    _edit_and_report(ctx, config.unset_rule(chan, st), [(chan, st)], dry_run=False, now=None, json=json)


@app.command("reset")
def reset(
    ctx: typer.Context,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Drop every rule override (workstreams are kept).

    Example: ocac config reset --yes
    """
    from ocac import config, render

    s = settings(ctx)
    if not yes:
        import sys

        if not sys.stdin.isatty():
            from ocac.errors import InvalidInput

            raise InvalidInput("config reset needs confirmation: run it in a terminal or pass --yes")
        typer.confirm(f"Drop every rule override in {s.config_path}?", abort=True, err=True)
    change = config.edit_config(s.config_path, config.reset_rules, lock_timeout=s.lock_timeout)
    render.message(f"reset: rule overrides removed from {s.config_path}" if change.written else "nothing to reset")


@app.command("path")
def path(ctx: typer.Context) -> None:
    """Print the configuration file's path (it may not exist yet).

    Example: ocac config path
    """
    typer.echo(str(settings(ctx).config_path))
