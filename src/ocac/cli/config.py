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
    table = render.table("channel", "state", "after", "moves to", "source")
    for cell in cells:
        target = str(cell.target) if cell.minutes is not None else "-"
        table.add_row(str(cell.channel), str(cell.state), format_minutes(cell.minutes), target, cell.source)
    render.out().print(f"config: {loaded.path}", soft_wrap=True)  # not a table title: that folds long paths
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
    from ocac.cli.common import resolve_now
    from ocac.cli.impact import report_change

    resolve_now(now)  # a bad --now is refused before the file is written
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
def path(ctx: typer.Context, json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Print the configuration file's path (it may not exist yet).

    Example: ocac config path
    """
    config_path = settings(ctx).config_path
    if json:
        from ocac import render

        render.print_json({"path": str(config_path), "exists": config_path.exists()})
        return
    typer.echo(str(config_path))


FORMAT_HELP = "dataverse: Omnichannel's msdyn_occhannelstateconfiguration records (the only format for now)."


def _require_dataverse(file_format: str) -> None:
    from ocac.errors import InvalidInput

    if file_format.strip().lower() != "dataverse":
        raise InvalidInput(f"unknown --format '{file_format}': use dataverse")


@app.command("export")
def export(
    ctx: typer.Context,
    file_format: str = typer.Option(..., "--format", metavar="FORMAT", help=FORMAT_HELP),
    json: bool = typer.Option(
        False, "--json", help="Print the Web API document ({\"value\": [records]}) that 'config import' reads."
    ),
) -> None:
    """Export every channel × state cell as Dataverse channel-state configuration records.

    One record per channel and open, active and wrap-up state, with a representative channel
    code (social as Facebook 192330000; persistent chat has live chat's code and a name that
    starts with "Persistent chat"). Without --json, a table of the same records.

    Example: ocac config export --format dataverse --json > channel-states.json
    """
    from ocac import render
    from ocac.cli.common import load_config
    from ocac.dataverse import CONFIG_STATES, export_records
    from ocac.durations import format_minutes

    _require_dataverse(file_format)
    records = export_records(load_config(ctx).policy)
    if json:
        render.print_json({"value": records})
        return
    table = render.table("msdyn_name", "msdyn_channel", "msdyn_ocliveworkitemstate", "auto-close after")
    for record in records:
        minutes = record["msdyn_autocloseliveworkitemafter"]
        state = record["msdyn_ocliveworkitemstate"]
        assert isinstance(state, int) and (minutes is None or isinstance(minutes, int))
        table.add_row(
            str(record["msdyn_name"]), str(record["msdyn_channel"]),
            f"{state} ({CONFIG_STATES[state]})", format_minutes(minutes),
        )  # fmt: skip
    render.show(table)


@app.command("import")
def import_(
    ctx: typer.Context,
    file: str = typer.Argument(..., metavar="FILE", help='A Web API export ({"value": [records]}) or a list.'),
    file_format: str = typer.Option(..., "--format", metavar="FORMAT", help=FORMAT_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Change nothing; show what would change."),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Set the rules from Dataverse channel-state configuration records; all or nothing.

    Only cells whose duration differs from the effective one are written (null: never).
    Records for waiting, closed and case have no ocac rule and are reported as skipped.
    Social records of any network, and voice's two codes, must agree on each cell.

    Example: ocac config import --format dataverse channel-states.json --dry-run
    """
    from pathlib import Path

    from ocac import config, fsutil, render
    from ocac.dataverse import ConfigImport, read_config_records
    from ocac.durations import format_minutes
    from ocac.errors import ImportFileError

    _require_dataverse(file_format)
    source = Path(file)
    data = fsutil.read_bytes(source, "import file")
    if data is None:
        raise ImportFileError(f"import file {source} does not exist")
    edit = ConfigImport(read_config_records(source, data))
    s = settings(ctx)
    change = config.edit_config(s.config_path, edit, lock_timeout=s.lock_timeout, dry_run=dry_run)
    unchanged = len({(r.channel, r.state) for r in edit.records if r.skipped is None}) - len(edit.changes)
    if json:
        render.print_json({
            "dry_run": dry_run, "written": change.written, "config": str(s.config_path),
            "records": len(edit.records), "changes": [c.to_json() for c in edit.changes],
            "unchanged": unchanged,
            "skipped": [
                {"record": r.number, "name": r.name, "channel": str(r.channel), "state": str(r.state),
                 "reason": r.skipped}
                for r in edit.skipped
            ],
        })  # fmt: skip
        return
    for record in edit.skipped:
        render.message(f"skipped: {record.label}: {record.channel} {record.state}: {record.skipped}")
    verb = "would set" if dry_run else "set"
    for cell in edit.changes:
        render.message(f"{verb}: {cell.channel} {cell.state}: {format_minutes(cell.old)} → {format_minutes(cell.new)}")
    counts = f"{len(edit.changes)} {'to change' if dry_run else 'changed'}, {unchanged} unchanged, "
    counts += f"{len(edit.skipped)} skipped"
    if dry_run:
        render.message(f"dry run: {len(edit.records)} record(s): {counts}; {s.config_path} not written")
    elif change.written:
        render.message(f"imported {len(edit.records)} record(s) into {s.config_path}: {counts}")
    else:
        render.message(f"imported {len(edit.records)} record(s): {counts}; nothing to write")
