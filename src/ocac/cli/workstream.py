"""`ocac workstream …`: named workstreams, their waiting auto-close time and wrap-up block."""

from enum import StrEnum
from pathlib import Path

import typer

from ocac import config, render
from ocac.cli.common import JSON_HELP, config_of, parse_now, settings, sub_app
from ocac.cli.impact import edit_and_report
from ocac.config import KEEP, Keep
from ocac.dataverse import WorkstreamImport, read_workstreams
from ocac.durations import format_minutes, parse_minutes
from ocac.interchange import read_import_file
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


class WorkstreamFormat(StrEnum):
    """The formats `workstream import` reads."""

    DATAVERSE = "dataverse"


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Path = typer.Argument(
        ..., metavar="FILE", help='A Web API response of msdyn_liveworkstreams ({"value": [records]}) or a list.'
    ),
    file_format: WorkstreamFormat = typer.Option(
        ..., "--format", metavar="FORMAT", help="dataverse: the service's msdyn_liveworkstream records."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Change nothing; show what would change."),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Add or update workstreams from the service's workstream records, by name, with their ids; all or nothing.

    Each record gives the name, id, channel (a live-chat workstream in persistent chat mode is
    persistent-chat), the waiting auto-close time (minutes) and the wrap-up block. A setting its
    channel cannot have is left out and reported; so is a workstream of a channel without
    conversations (video, co-browse, screen sharing).

    Example: ocac workstream import --format dataverse workstreams.json --dry-run
    """
    edit = WorkstreamImport(file, read_workstreams(file, read_import_file(file)))
    s = settings(ctx)
    change = config.edit_config(s.config_path, edit, lock_timeout=s.lock_timeout, dry_run=dry_run)
    if json:
        render.print_json({
            "dry_run": dry_run, "written": change.written, "config": str(s.config_path),
            "records": len(edit.records), "changes": [c.to_json() for c in edit.changes],
            "unchanged": edit.unchanged,
            "skipped": [{"record": r.number, "name": r.name, "reason": r.skipped} for r in edit.records if r.skipped],
            "left_out": [
                {"record": r.number, "name": r.name, "reason": note} for r in edit.records for note in r.notes
            ],
        })  # fmt: skip
        return
    _report_import(edit, dry_run=dry_run, written=change.written, path=s.config_path)


def _report_import(edit: WorkstreamImport, *, dry_run: bool, written: bool, path: Path) -> None:
    skipped = [r for r in edit.records if r.skipped is not None]
    for record in skipped:
        render.message(f"skipped: {record.label}: {record.skipped}")
    for record in edit.records:
        for note in record.notes:
            render.message(f"left out: {record.label}: {note}")
    for item in edit.changes:
        verb = ("would add" if dry_run else "added") if item.old is None else ("would update" if dry_run else "updated")
        render.message(item.line(verb))
    added = sum(1 for item in edit.changes if item.old is None)
    counts = f"{added} added, {len(edit.changes) - added} updated, {edit.unchanged} unchanged, {len(skipped)} skipped"
    if dry_run:
        render.message(f"dry run: {len(edit.records)} workstream(s): {counts}; {path} not written")
    elif written:
        render.message(f"imported {len(edit.records)} workstream(s) into {path}: {counts}")
    else:
        render.message(f"imported {len(edit.records)} workstream(s): {counts}; nothing to write")
