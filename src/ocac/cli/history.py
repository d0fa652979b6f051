"""`ocac history`: the audit trail, every change to a conversation and every configuration edit."""

from enum import StrEnum

import typer

from ocac import render
from ocac.audit import AuditRecord, HistoryQuery
from ocac.cli.common import JSON_HELP, NOW_HELP, instant, store_of
from ocac.dataverse import history_row
from ocac.durations import format_idle
from ocac.errors import InvalidInput
from ocac.instants import parse_when
from ocac.model import Action, parse_channel


class HistoryFormat(StrEnum):
    """How `history` speaks."""

    OCAC = "ocac"
    DATAVERSE = "dataverse"


def register(app: typer.Typer) -> None:
    """Mount `history` on the root app."""
    app.command("history")(history)


def history(
    ctx: typer.Context,
    conversation_id: str | None = typer.Option(None, "--id", metavar="ID", help="Only this conversation."),
    since: str | None = typer.Option(
        None, "--since", metavar="TIME", help="Only records at or after TIME: RFC 3339, a date, or a time ago (2d)."
    ),
    until: str | None = typer.Option(None, "--until", metavar="TIME", help="Only records at or before TIME."),
    action: list[Action] | None = typer.Option(
        None, "--action", metavar="ACTION", help="Only this action (repeatable)."
    ),
    channel: list[str] | None = typer.Option(
        None, "--channel", metavar="CHANNEL", help="Only this channel (repeatable)."
    ),
    reason: list[str] | None = typer.Option(
        None,
        "--reason",
        metavar="REASON",
        help="Only this reason (AutoClosedBySystem, AutoClosedFromWaitingState, RecordDeleted).",
    ),
    reverse: bool = typer.Option(False, "--reverse", help="Newest first."),
    limit: int | None = typer.Option(None, "--limit", metavar="N", min=0, help="Only the last N records."),
    output_format: HistoryFormat = typer.Option(
        HistoryFormat.OCAC,
        "--format",
        metavar="FORMAT",
        help="ocac, or dataverse (the service's status and reason codes).",
    ),
    now: str | None = typer.Option(
        None, "--now", metavar="TIME", help=NOW_HELP + " Relative --since/--until count back from it."
    ),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
    csv: bool = typer.Option(False, "--csv", help="Print CSV with a header, for spreadsheets."),
) -> None:
    """Show the audit trail: sweeps' moves and every other change, oldest first.

    Example: ocac history --since 1d --action sweep --limit 20
    """
    if json and csv:
        raise InvalidInput("--json and --csv cannot be combined: pick one")
    store = store_of(ctx)
    at = instant(now, store)
    query = HistoryQuery(
        conversation_id,
        parse_when(since, at, "--since") if since else None,
        parse_when(until, at, "--until") if until else None,
        frozenset(action or ()),
        frozenset(str(parse_channel(c)) for c in channel or ()),
        frozenset(_reason(r) for r in reason or ()),
        reverse,
        limit,
    )
    records = store.history(query)
    if output_format is HistoryFormat.DATAVERSE:
        _dataverse(records, json=json, csv=csv)
        return
    if json:
        render.print_json([r.to_json() for r in records])
        return
    rows = [_cells(r) for r in records]
    if csv:
        render.print_csv(HEADINGS, rows)
        return
    if not records:
        render.message("no history records match")
        return
    table = render.table(*HEADINGS)
    short = render.id_shortener(row[2] for row in rows)
    for row in rows:
        table.add_row(row[0], row[1], short(row[2]), *row[3:])
    render.show(table)


HEADINGS = ("at", "action", "id", "channel", "from → to", "reason", "rule", "idle", "by")
REASONS = ("AutoClosedBySystem", "AutoClosedFromWaitingState", "RecordDeleted")


def _reason(text: str) -> str:
    for known in REASONS:
        if known.lower() == text.strip().lower():
            return known
    raise InvalidInput(f"unknown --reason '{text}': use one of {', '.join(REASONS)}")


def _cells(record: AuditRecord) -> tuple[str, ...]:
    moved = f"{record.from_state or '-'} → {record.to_state or '-'}" if record.to_state else _detail(record)
    idle = format_idle(record.idle_minutes) if record.idle_minutes is not None else ""
    return (
        render.instant(record.at), str(record.kind), record.id or "", record.channel or "", moved,
        record.reason or "", record.rule or "", idle, record.by or "",
    )  # fmt: skip


def _detail(record: AuditRecord) -> str:
    detail = record.detail or {}
    if record.kind is Action.IMPORT:
        return ", ".join(f"{k} {detail[k]}" for k in ("added", "updated", "removed") if k in detail)
    if record.kind in (Action.RECORD_DELETED, Action.RECORD_UNDELETED):
        return f"record {detail.get('record_id', '?')}"
    if record.kind is Action.CONFIG:
        return str(detail.get("change", ""))
    return ""


def _dataverse(records: list[AuditRecord], *, json: bool, csv: bool) -> None:
    rows = [history_row(r) for r in records if r.kind is Action.SWEEP]
    if json:
        render.print_json({"value": rows})
        return
    columns = ("activityid", "statecode", "statuscode", "msdyn_statuschangereason", "modifiedon")
    cells = [tuple("" if row.get(k) is None else str(row[k]) for k in columns) for row in rows]
    if csv:
        render.print_csv(columns, cells)
        return
    table = render.table(*columns)
    for line in cells:
        table.add_row(*line)
    render.show(table)
