"""`ocac history`: the audit trail of applied transitions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ocac.history import Entry

from ocac.cli.common import JSON_HELP, settings

CLOSE_REASON_CODES = {"AutoClosedBySystem": 192350010, "AutoClosedFromWaitingState": 192350009}
"""The service's closing reason codes (RecordDeleted has none: it is ocac's own)."""


def register(app: typer.Typer) -> None:
    """Mount `history` on the root app."""
    app.command("history")(history)


def history(
    ctx: typer.Context,
    conversation_id: str | None = typer.Option(None, "--id", help="Only this conversation."),
    since: str | None = typer.Option(None, "--since", metavar="TIME", help="Only sweeps at or after this instant."),
    limit: int | None = typer.Option(None, "--limit", min=0, help="Only the last N entries."),
    output_format: str = typer.Option(
        "ocac", "--format", help="ocac, or dataverse (closing reason codes as the service gives them)."
    ),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show the transitions sweeps applied, oldest first.

    Example: ocac history --since 2026-11-25T00:00:00Z --limit 20
    """
    from collections import deque

    import msgspec

    from ocac import history as audit
    from ocac import render, store
    from ocac.errors import InvalidInput
    from ocac.instants import format_instant, parse_instant

    if output_format not in ("ocac", "dataverse"):
        raise InvalidInput(f"unknown --format '{output_format}': use ocac or dataverse")
    start = parse_instant(since, "--since") if since else None
    s = settings(ctx)
    marker = store.load(s.store_path).meta.last_sweep
    entries = (
        e for e in audit.read(store.history_path(s.store_path), marker)
        if (conversation_id is None or e.id == conversation_id) and (start is None or e.at >= start)
    )  # fmt: skip
    selected = list(deque(entries, maxlen=limit) if limit is not None else entries)
    if output_format == "dataverse":
        rows = [_dataverse(e) for e in selected]
        render.print_json({"value": rows}) if json else _table_dataverse(rows)
        return
    if json:
        render.print_json([msgspec.to_builtins(e) | {"at": format_instant(e.at)} for e in selected])
        return
    if not selected:
        render.message("no history entries match")
        return
    table = render.table("at", "id", "channel", "from → to", "reason", "rule", "idle")
    from ocac.durations import format_idle

    for e in selected:
        table.add_row(
            format_instant(e.at), e.id, e.channel, f"{e.from_state} → {e.to_state}", e.reason, e.rule,
            format_idle(e.idle_minutes),
        )  # fmt: skip
    render.show(table)


def _dataverse(entry: Entry) -> dict[str, object]:
    from ocac.instants import format_instant

    status = {"closed": 4, "wrap-up": 5}.get(entry.to_state)
    return {
        "activityid": entry.id,
        "statuscode": status,
        "msdyn_closurereason": CLOSE_REASON_CODES.get(entry.reason),
        "msdyn_closurereason@OData.Community.Display.V1.FormattedValue": entry.reason,
        "msdyn_modifiedon": format_instant(entry.at),
        "ocac_run_id": entry.run_id,
        "ocac_rule": entry.rule,
    }


def _table_dataverse(rows: list[dict[str, object]]) -> None:
    from ocac import render

    table = render.table("activityid", "statuscode", "msdyn_closurereason", "msdyn_modifiedon")
    for row in rows:
        table.add_row(*(str(row[k]) for k in ("activityid", "statuscode", "msdyn_closurereason", "msdyn_modifiedon")))
    render.show(table)
