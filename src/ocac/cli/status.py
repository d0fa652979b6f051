"""`ocac status`: the floor at a glance."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ocac.status import Summary

from ocac.cli.common import JSON_HELP, NOW_HELP, load_config, load_store, resolve_now


def register(app: typer.Typer) -> None:
    """Mount `status` on the root app."""
    app.command("status")(status)


def status(
    ctx: typer.Context,
    now: str | None = typer.Option(None, "--now", help=NOW_HELP),
    interval: str = typer.Option("5m", "--interval", help="The sweep interval, for 'due by the next sweep'."),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Counts by channel and state, what is due, the oldest open conversations, the last sweep.

    Example: ocac status --now 2026-11-25T12:00:00Z
    """
    from ocac import render
    from ocac.status import summarise

    instant = resolve_now(now)
    from ocac.durations import parse_minutes
    from ocac.errors import InvalidInput

    minutes = parse_minutes(interval)
    if not minutes:
        raise InvalidInput("--interval must be a finite, non-zero duration such as 5m")
    document = load_store(ctx)
    summary = summarise(document, load_config(ctx).policy, instant, minutes)
    if json:
        render.print_json(summary.to_json())
        return
    _print(summary)


def _print(summary: Summary) -> None:
    from ocac import render
    from ocac.durations import format_idle
    from ocac.model import Channel, State

    table = render.table("channel", *(str(s) for s in State), "total", title=f"status at {summary.now_text}")
    for channel in Channel:
        row = summary.counts.get(channel, {})
        table.add_row(str(channel), *(str(row.get(s, 0) or "-") for s in State), str(sum(row.values())))
    render.show(table)
    render.show(f"due now: {summary.due_now}; due by the next sweep (+{summary.interval_text}): {summary.due_next}")
    for channel, (conversation_id, idle) in summary.oldest.items():
        render.show(f"oldest open {channel}: {conversation_id} (idle {format_idle(idle)})")
    render.show(summary.last_sweep_text)
