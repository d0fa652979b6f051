"""`ocac config …`: the channel-state configuration."""

import sys
from enum import StrEnum
from pathlib import Path

import typer

from ocac import config, fsutil, render
from ocac.cli.common import JSON_HELP, config_of, parse_now, settings, sub_app
from ocac.cli.impact import edit_and_report
from ocac.dataverse import (
    AUTO_CLOSE_AFTER,
    CONFIG_STATES,
    STATE_RECORD_ID,
    ConfigImport,
    batch_body,
    export_records,
    patches,
    read_config_records,
)
from ocac.durations import format_minutes, parse_minutes
from ocac.errors import InvalidInput
from ocac.interchange import read_import_file
from ocac.model import parse_state, parse_target

app = sub_app(
    "Show and change the channel-state configuration (when conversations auto-close).\n\n"
    "Example: ocac config set voice active 2h"
)

IMPACT_NOW_HELP = "The instant the impact is judged at (RFC 3339 with an offset). [default: the clock]"


class ConfigFormat(StrEnum):
    """The interchange formats of the configuration."""

    DATAVERSE = "dataverse"


FORMAT_HELP = "dataverse: Omnichannel's msdyn_occhannelstateconfiguration records (the only format for now)."


@app.command("show")
def show(ctx: typer.Context, json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Show every channel × state cell: duration, target state and where it comes from.

    Example: ocac config show --json
    """
    loaded = config_of(ctx)
    cells = config.matrix(loaded.policy)
    if json:
        render.print_json([cell.to_json() for cell in cells])
        return
    table = render.table("channel", "state", "after", "moves to", "source")
    for cell in cells:
        target = str(cell.target) if cell.minutes is not None else "-"
        table.add_row(cell.name, str(cell.state), format_minutes(cell.minutes), target, cell.source)
    where = str(loaded.path) if loaded.exists else f"{loaded.path} (does not exist: built-in defaults)"
    render.out().print(f"config: {where}", soft_wrap=True)  # not a table title: that folds long paths
    render.show(table)


@app.command("set")
def set_(
    ctx: typer.Context,
    channel: str = typer.Argument(
        ...,
        metavar="CHANNEL",
        help="chat, voice, sms, teams, persistent-chat or social; or a network of one, such as whatsapp.",
    ),
    state: str = typer.Argument(..., metavar="STATE", help="open, active or wrap-up."),
    duration: str = typer.Argument(..., metavar="DURATION", help="20m, 2h, 1d, 1h30m, 90 (minutes), PT2H or never."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Change nothing; show what the change would do."),
    now: str | None = typer.Option(None, "--now", metavar="TIME", help=IMPACT_NOW_HELP),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Set how long a conversation may stay in a state before the sweep moves it.

    Example: ocac config set voice active 2h
    """
    (chan, network), st, minutes = parse_target(channel), parse_state(state), parse_minutes(duration)
    mutation = config.set_rule(chan, st, minutes, network)  # refuses a cell that cannot have a rule
    at = parse_now(now)  # a bad --now is refused before the file is written
    current = config_of(ctx, editing=True).policy.rule(chan, st, network)
    if current is not None and current.minutes == minutes and current.network == network:
        where = "the default" if current.source == "default" else f"set in {settings(ctx).config_path}"
        render.message(f"unchanged: {network or chan} {st} is already {format_minutes(minutes)} ({where})")
        return
    edit_and_report(ctx, mutation, [(chan, st, network)], dry_run=dry_run, now=at, json=json)


@app.command("unset")
def unset(
    ctx: typer.Context,
    channel: str = typer.Argument(..., metavar="CHANNEL", help="The channel."),
    state: str = typer.Argument(..., metavar="STATE", help="open, active or wrap-up."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Change nothing; show what the change would do."),
    now: str | None = typer.Option(None, "--now", metavar="TIME", help=IMPACT_NOW_HELP),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Drop an override: the cell goes back to its built-in default.

    Example: ocac config unset voice active --dry-run
    """
    (chan, network), st = parse_target(channel), parse_state(state)
    mutation = config.unset_rule(chan, st, network)
    at = parse_now(now)
    current = config_of(ctx, editing=True).policy.rule(chan, st, network)
    if current is None or current.source != "config" or current.network != network:
        shown = "-" if current is None else format_minutes(current.minutes)
        render.message(f"no override to remove: {network or chan} {st} is {shown}, as its default says")
        return
    edit_and_report(ctx, mutation, [(chan, st, network)], dry_run=dry_run, now=at, json=json)


@app.command("reset")
def reset(
    ctx: typer.Context,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Drop every rule override (workstreams are kept).

    Example: ocac config reset --yes
    """
    s = settings(ctx)
    if not yes:
        if not sys.stdin.isatty():
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
        render.print_json({"path": str(config_path), "exists": fsutil.exists(config_path, "config")})
        return
    typer.echo(str(config_path))


@app.command("export")
def export(
    ctx: typer.Context,
    file_format: ConfigFormat = typer.Option(..., "--format", metavar="FORMAT", help=FORMAT_HELP),
    patch: bool = typer.Option(
        False,
        "--patch",
        help="Print the PATCH requests that write each record with a known id back to the service, as an "
        "OData $batch body (with --json: a list of requests); stderr says how to send it.",
    ),
    json: bool = typer.Option(
        False, "--json", help="Print the Web API document ({\"value\": [records]}) that 'config import' reads."
    ),
) -> None:
    """Export every channel × state cell as Dataverse channel-state configuration records.

    One record per channel and open, active and wrap-up state, and per network that has a rule
    of its own or a record kept by 'config import'; a record the service's export brought in
    keeps its id (msdyn_occhannelstateconfigurationid). Printed as JSON (the document 'config
    import' reads) when stdout is not a terminal or with --json; as a table on a terminal.

    Example: ocac config export --format dataverse --patch > states.batch
    """
    loaded = config_of(ctx)
    records = export_records(loaded.policy, loaded.state_records)
    if patch:
        _print_patch(records, json=json)
        return
    if json or not render.out().is_terminal:
        render.print_json({"value": records})
        return
    table = render.table("msdyn_name", "msdyn_ocliveworkitemstate", "auto-close after", "record id")
    for record in records:
        minutes = record[AUTO_CLOSE_AFTER]
        state = record["msdyn_ocliveworkitemstate"]
        assert isinstance(state, int) and (minutes is None or isinstance(minutes, int))
        record_id = str(record.get(STATE_RECORD_ID, "-"))
        table.add_row(
            str(record["msdyn_name"]), f"{state} ({CONFIG_STATES[state]})", format_minutes(minutes), record_id
        )
    render.show(table)


def _print_patch(records: list[dict[str, object]], *, json: bool) -> None:
    requests, missing = patches(records)
    if not requests:
        raise InvalidInput(
            "no record has the service's id, so there is nothing to PATCH: import the service's records first "
            "(GET msdyn_occhannelstateconfigurations, then 'ocac config import --format dataverse FILE')"
        )
    if missing:
        render.message(f"ocac: warning: {len(missing)} record(s) left out, since ocac keeps no service id for them "
                       f"('config import' of the service's records keeps their ids): {', '.join(missing)}")  # fmt: skip
    if json:
        render.print_json([request.to_json() for request in requests])
        return
    body, boundary = batch_body(requests)
    typer.echo(body, nl=False)
    render.message(f"{len(requests)} PATCH request(s) in one change set (all or none apply): send the file with")
    render.message(
        f'  curl -X POST "$ORG/api/data/v9.2/\\$batch" -H "Authorization: Bearer $TOKEN" '
        f'-H "Content-Type: multipart/mixed;boundary={boundary}" -H "OData-Version: 4.0" '
        '-H "OData-MaxVersion: 4.0" -H "Accept: application/json" --data-binary @FILE'
    )


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Path = typer.Argument(..., metavar="FILE", help='A Web API response ({"value": [records]}) or a list.'),
    file_format: ConfigFormat = typer.Option(..., "--format", metavar="FORMAT", help=FORMAT_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Change nothing; show what would change."),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Set the rules from Dataverse channel-state configuration records; all or nothing.

    Only cells whose duration differs from the effective one are written (null: never); a
    network's record (WhatsApp, Facebook…) sets a rule of its own only where it differs from its
    channel's. Each record's id is kept, so that 'config export --patch' can write to it.
    Records for waiting, closed and case have no ocac rule and are reported as skipped.

    Example: ocac config import --format dataverse channel-states.json --dry-run
    """
    edit = ConfigImport(read_config_records(file, read_import_file(file)))
    s = settings(ctx)
    change = config.edit_config(s.config_path, edit, lock_timeout=s.lock_timeout, dry_run=dry_run)
    if json:
        render.print_json({
            "dry_run": dry_run, "written": change.written, "config": str(s.config_path),
            "records": len(edit.records), "changes": [c.to_json() for c in edit.changes],
            "unchanged": edit.unchanged, "ids_kept": edit.kept_ids,
            "skipped": [
                {"record": r.number, "name": r.name, "channel": str(r.channel) if r.channel else None,
                 "network": r.network, "state": str(r.state), "reason": r.skipped}
                for r in edit.skipped
            ],
        })  # fmt: skip
        return
    _report_import(edit, dry_run=dry_run, written=change.written, path=s.config_path)


def _report_import(edit: ConfigImport, *, dry_run: bool, written: bool, path: Path) -> None:
    for record in edit.skipped:
        render.message(f"skipped: {record.label}: {record.target} {record.state}: {record.skipped}")
    verb = "would set" if dry_run else "set"
    for cell in edit.changes:
        render.message(f"{verb}: {cell.name}: {format_minutes(cell.old)} → {format_minutes(cell.new)}")
    counts = f"{len(edit.changes)} {'to change' if dry_run else 'changed'}, {edit.unchanged} unchanged, "
    counts += f"{len(edit.skipped)} skipped"
    if edit.kept_ids:
        counts += f"; {edit.kept_ids} record id(s) {'to keep' if dry_run else 'kept'} for 'config export --patch'"
    if dry_run:
        render.message(f"dry run: {len(edit.records)} record(s): {counts}; {path} not written")
    elif written:
        render.message(f"imported {len(edit.records)} record(s) into {path}: {counts}")
    else:
        render.message(f"imported {len(edit.records)} record(s): {counts}; nothing to write")
