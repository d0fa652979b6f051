"""Reporting a configuration change: the changed cells and their impact on the store."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ocac.cli.common import load_store, resolve_now

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ocac.config import ConfigChange
    from ocac.impact import Horizon
    from ocac.model import Channel, State
    from ocac.policy import Workstream


def report_change(
    ctx: typer.Context,
    change: ConfigChange,
    cells: list[tuple[Channel, State]],
    *,
    dry_run: bool,
    now: str | None,
    json: bool,
    workstream: str | None = None,
) -> None:
    """Print old → new for each cell (or the workstream) and a one-line impact summary."""
    from ocac import render
    from ocac.durations import format_minutes
    from ocac.errors import OcacError
    from ocac.impact import impact, summary_line
    from ocac.instants import format_instant

    instant = resolve_now(now)
    rows = []
    for channel, state in cells:
        old, new = change.before.rules[channel, state], change.after.rules[channel, state]
        rows.append({
            "channel": str(channel), "state": str(state),
            "old": format_minutes(old.minutes), "new": format_minutes(new.minutes),
            "old_minutes": old.minutes, "new_minutes": new.minutes, "target": str(new.target),
        })  # fmt: skip
    horizons, problem = None, None
    try:
        document = load_store(ctx)
        horizons = impact(document.conversations, change.before, change.after, instant, document.deleted_records)
    except OcacError as error:
        problem = str(error)
    if json:
        render.print_json({
            "dry_run": dry_run, "written": change.written, "now": format_instant(instant),
            "changes": rows, "workstream": _workstream_json(change, workstream),
            "impact": {h.name: h.to_json() for h in horizons} if horizons else None,
            "impact_error": problem,
        })  # fmt: skip
        return
    verb = "would change" if dry_run else ("changed" if change.written else "unchanged")
    for row in rows:
        render.message(f"{verb}: {row['channel']} {row['state']}: {row['old']} → {row['new']}")
    if workstream is not None:
        render.message(f"{verb}: workstream '{workstream}'")
    if horizons:
        render.message(("impact: " if not dry_run else "impact (dry run): ") + summary_line(horizons))
        if dry_run:
            _impact_table(horizons)
    else:
        render.message(f"impact unknown: {problem}")


def _workstream_json(change: ConfigChange, name: str | None) -> dict[str, object] | None:
    if name is None:
        return None

    def describe(streams: Mapping[str, Workstream]) -> dict[str, object] | None:
        stream = streams.get(name)
        if stream is None:
            return None
        return {
            "channel": str(stream.channel),
            "auto_close_after_minutes": stream.auto_close_after,
            "wrap_up_block_minutes": stream.wrap_up_block,
        }

    return {
        "name": name,
        "old": describe(dict(change.before.workstreams)),
        "new": describe(dict(change.after.workstreams)),
    }


def _impact_table(horizons: list[Horizon]) -> None:
    from ocac import render

    table = render.table("due", "current", "new", "difference", "examples")
    for horizon in horizons:
        examples = horizon.newly_due or horizon.no_longer_due
        table.add_row(
            horizon.name.replace("_", " "), str(horizon.before), str(horizon.after),
            f"{horizon.after - horizon.before:+d}", ", ".join(examples[:3]),
        )  # fmt: skip
    render.show(table)
