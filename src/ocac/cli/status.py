"""`ocac status`: the floor at a glance, and a health check for monitoring."""

import typer

from ocac import render
from ocac.cli.common import JSON_HELP, NOW_HELP, config_of, instant, store_of
from ocac.durations import format_idle, parse_minutes
from ocac.errors import CheckFailed, InvalidInput
from ocac.model import Channel, State
from ocac.status import Summary, summarise

CHECK_EPILOG = (
    "Exit codes: 0 healthy; 7 with --check, when the last sweep is older than --max-sweep-age (or none is "
    "recorded); 2 bad input; 4 a file could not be read; 6 the database server could not be reached."
)


def register(app: typer.Typer) -> None:
    """Mount `status` on the root app."""
    app.command("status", epilog=CHECK_EPILOG)(status)


def status(
    ctx: typer.Context,
    now: str | None = typer.Option(None, "--now", metavar="TIME", help=NOW_HELP),
    interval: str = typer.Option(
        "5m", "--interval", metavar="DURATION", help="The sweep interval, for 'due by the next sweep'."
    ),
    check: bool = typer.Option(False, "--check", help="Exit 7 with one line when the last sweep is too old."),
    max_sweep_age: str = typer.Option(
        "15m", "--max-sweep-age", metavar="DURATION", help="With --check: the oldest a last sweep may be."
    ),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Counts by channel and state, what is due, the oldest open conversations, the last sweep.

    With --check, a health check for Nagios or systemd: exit 0 when the last sweep is recent
    enough, 7 otherwise (a broken crontab is noticed).

    Example: ocac status --check --max-sweep-age 15m
    """
    minutes = parse_minutes(interval)
    if not minutes:
        raise InvalidInput("--interval must be a finite, non-zero duration such as 5m")
    limit = parse_minutes(max_sweep_age) if check else None
    if check and limit is None:
        raise InvalidInput("--max-sweep-age must be a finite duration such as 15m")
    loaded = config_of(ctx)
    store = store_of(ctx)
    summary = summarise(store, loaded.policy, instant(now, store), minutes, loaded.source)
    if check:
        assert limit is not None
        _check(summary, limit, json)
        return
    if json:
        render.print_json(summary.to_json())
        return
    _print(summary)


def _check(summary: Summary, limit: int, json: bool) -> None:
    last, age = summary.last_sweep, summary.sweep_age_minutes
    healthy = last is not None and (summary.now - last.at).total_seconds() <= limit * 60
    if json:
        render.print_json(summary.to_json() | {"healthy": healthy, "max_sweep_age_minutes": limit})
    if last is None or age is None:
        raise CheckFailed("no sweep recorded in this store: is the sweep scheduled (cron, systemd timer)?")
    if not healthy:
        raise CheckFailed(
            f"the last sweep was {format_idle(age)} ago (at {render.instant(last.at)}), "
            f"more than {format_idle(limit)}: is the sweep still scheduled?"
        )
    if not json:
        render.show(f"ok: last sweep {format_idle(age)} ago")


def _print(summary: Summary) -> None:
    table = render.table("channel", *(str(s) for s in State), "total", title=f"status at {render.instant(summary.now)}")
    for channel in Channel:
        row = summary.counts.get(channel, {})
        table.add_row(str(channel), *(str(row.get(s, 0) or "-") for s in State), str(sum(row.values())))
    render.show(table)
    render.show(f"due now: {summary.due_now}; due by the next sweep (+{summary.interval_text}): {summary.due_next}")
    for channel, (conversation_id, idle) in summary.oldest.items():
        render.show(f"oldest open {channel}: {conversation_id} (idle {format_idle(idle)})")
    render.show(_last_sweep_line(summary))
    render.show(f"config: {summary.config}" if summary.config else "config: built-in defaults")


def _last_sweep_line(summary: Summary) -> str:
    sweep, age = summary.last_sweep, summary.sweep_age_minutes
    if sweep is None or age is None:
        return "last sweep: none recorded in this store"
    when = f"{format_idle(age)} ago" if age >= 0 else "in the future"
    return f"last sweep: {when} ({render.instant(sweep.at)}), moved {sweep.moved} (run {sweep.run_id})"
