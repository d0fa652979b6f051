"""`ocac workstream …`: named workstreams and their waiting auto-close time."""

from __future__ import annotations

import typer

from ocac.cli.common import JSON_HELP, settings, sub_app

app = sub_app(
    "Manage workstreams: waiting auto-close and wrap-up block times.\n\n"
    'Example: ocac workstream set "Contoso SMS" --channel sms --auto-close-after 2d'
)

KEEP = "keep"


@app.command("set")
def set_(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The workstream's name."),
    channel: str | None = typer.Option(None, "--channel", help="Its channel (required to create one)."),
    auto_close_after: str | None = typer.Option(
        None,
        "--auto-close-after",
        metavar="DURATION",
        help="Close waiting conversations after this much inactivity (persistent-chat, sms, social, "
        "teams only); 'never' removes it.",
    ),
    wrap_up_block: str | None = typer.Option(
        None,
        "--wrap-up-block",
        metavar="DURATION",
        help="Wrap-up conversations stay at least this long; 'never' removes it.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Change nothing; show what the change would do."),
    now: str | None = typer.Option(None, "--now", help="The instant the impact is judged at."),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Create or change a workstream.

    Example: ocac workstream set "Contoso SMS" --channel sms --auto-close-after 2d
    """
    from ocac import config
    from ocac.cli.common import resolve_now
    from ocac.cli.impact import report_change
    from ocac.durations import parse_minutes
    from ocac.model import parse_channel

    chan = parse_channel(channel) if channel is not None else None
    auto = parse_minutes(auto_close_after) if auto_close_after is not None else KEEP
    block = parse_minutes(wrap_up_block) if wrap_up_block is not None else KEEP
    resolve_now(now)  # a bad --now is refused before the file is written
    s = settings(ctx)
    mutation = config.set_workstream(name, chan, auto, block)
    change = config.edit_config(s.config_path, mutation, lock_timeout=s.lock_timeout, dry_run=dry_run)
    report_change(ctx, change, [], dry_run=dry_run, now=now, json=json, workstream=name)


@app.command("list")
def list_(ctx: typer.Context, json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List the workstreams.

    Example: ocac workstream list --json
    """
    from ocac import render
    from ocac.cli.common import load_config
    from ocac.durations import format_minutes

    streams = list(load_config(ctx).policy.workstreams.values())
    if json:
        render.print_json([
            {"name": w.name, "channel": str(w.channel), "auto_close_after_minutes": w.auto_close_after,
             "wrap_up_block_minutes": w.wrap_up_block}
            for w in streams
        ])  # fmt: skip
        return
    if not streams:
        render.message("no workstreams: add one with 'ocac workstream set NAME --channel CH'")
        return
    table = render.table("name", "channel", "waiting auto-close", "wrap-up block")
    for w in streams:
        block = format_minutes(w.wrap_up_block) if w.wrap_up_block is not None else "-"
        table.add_row(w.name, str(w.channel), format_minutes(w.auto_close_after), block)
    render.show(table)


@app.command("remove")
def remove(ctx: typer.Context, name: str = typer.Argument(..., help="The workstream's name.")) -> None:
    """Remove a workstream.

    Example: ocac workstream remove "Contoso SMS"
    """
    from ocac import config, render

    s = settings(ctx)
    config.edit_config(s.config_path, config.remove_workstream(name), lock_timeout=s.lock_timeout)
    render.message(f"removed workstream '{name}'")
