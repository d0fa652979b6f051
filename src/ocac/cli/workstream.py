"""`ocac workstream …`: named workstreams, their waiting auto-close time and wrap-up block."""

from __future__ import annotations

import typer

from ocac import config, render
from ocac.cli.common import JSON_HELP, config_of, parse_now, sub_app
from ocac.cli.impact import edit_and_report
from ocac.config import KEEP, Keep
from ocac.durations import format_minutes, parse_minutes
from ocac.model import parse_channel

app = sub_app(
    "Manage workstreams: waiting auto-close and wrap-up block times.\n\n"
    'Example: ocac workstream set "Contoso SMS" --channel sms --auto-close-after 2d'
)

IMPACT_NOW_HELP = "The instant the impact is judged at (RFC 3339 with an offset). [default: the clock]"


def _duration(text: str | None) -> int | None | Keep:
    return KEEP if text is None else parse_minutes(text)


@app.command("set")
def set_(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="The workstream's name."),
    channel: str | None = typer.Option(
        None, "--channel", metavar="CHANNEL", help="Its channel (required to create one)."
    ),
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
    stream_id: str | None = typer.Option(
        None,
        "--id",
        metavar="GUID",
        help="The service's id of the workstream: conversations that name it by id match it too; 'none' removes it.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Change nothing; show what the change would do."),
    now: str | None = typer.Option(None, "--now", metavar="TIME", help=IMPACT_NOW_HELP),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Create or change a workstream.

    Example: ocac workstream set "Contoso SMS" --channel sms --auto-close-after 2d
    """
    chan = parse_channel(channel) if channel is not None else None
    identity = KEEP if stream_id is None else (None if stream_id.strip().lower() == "none" else stream_id)
    mutation = config.set_workstream(name, chan, _duration(auto_close_after), _duration(wrap_up_block), identity)
    at = parse_now(now)  # a bad --now is refused before the file is written
    edit_and_report(ctx, mutation, [], dry_run=dry_run, now=at, json=json, workstream=name)


@app.command("list")
def list_(ctx: typer.Context, json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List the workstreams.

    Example: ocac workstream list --json
    """
    streams = list(config_of(ctx).policy.workstreams.values())
    if json:
        render.print_json([
            {"name": w.name, "id": w.id, "channel": str(w.channel), "auto_close_after_minutes": w.auto_close_after,
             "wrap_up_block_minutes": w.wrap_up_block}
            for w in streams
        ])  # fmt: skip
        return
    if not streams:
        render.message("no workstreams: add one with 'ocac workstream set NAME --channel CH'")
        return
    table = render.table("name", "channel", "waiting auto-close", "wrap-up block", "id")
    for w in streams:
        block = format_minutes(w.wrap_up_block) if w.wrap_up_block is not None else "-"
        table.add_row(w.name, str(w.channel), format_minutes(w.auto_close_after), block, w.id or "-")
    render.show(table)


@app.command("remove")
def remove(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="The workstream's name."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Change nothing; show what the removal would do."),
    now: str | None = typer.Option(None, "--now", metavar="TIME", help=IMPACT_NOW_HELP),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Remove a workstream: its waiting conversations no longer auto-close.

    Example: ocac workstream remove "Contoso SMS" --dry-run
    """
    at = parse_now(now)
    edit_and_report(
        ctx, config.remove_workstream(name), [], dry_run=dry_run, now=at, json=json, workstream=name
    )  # fmt: skip
