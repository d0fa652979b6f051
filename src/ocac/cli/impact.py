"""Editing the configuration from a command: write (or preview) the edit, record it, show its impact."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import typer

from ocac import config, render
from ocac.audit import audit_for
from ocac.cli.common import settings, store_of
from ocac.config import ConfigChange
from ocac.errors import OcacError
from ocac.impact import Horizon, Report, Target, report, summary_line
from ocac.instants import format_instant
from ocac.model import Action
from ocac.policy import Workstream

if TYPE_CHECKING:
    from tomlkit import TOMLDocument  # imported only where a file is edited: it costs start-up time


def edit_and_report(
    ctx: typer.Context,
    mutation: Callable[[TOMLDocument], None],
    cells: list[Target],
    *,
    dry_run: bool,
    now: datetime | None,
    json: bool,
    workstream: str | None = None,
) -> None:
    """Apply `mutation` to the configuration (unless `dry_run`), then print old → new and the impact."""
    s = settings(ctx)
    change = config.edit_config(s.config_path, mutation, lock_timeout=s.lock_timeout, dry_run=dry_run)
    store = store_of(ctx)
    at = now or store.clock()
    result = report(store, change.before, change.after, cells, at)
    if change.written:
        _record(ctx, result, workstream, at)
    if json:
        render.print_json({
            "dry_run": dry_run, "written": change.written, "now": format_instant(at), "config": str(s.config_path),
            "changes": [c.to_json() for c in result.cells], "workstream": _workstream_json(change, workstream),
            "impact": {h.name: h.to_json() for h in result.horizons} if result.horizons else None,
            "impact_error": result.problem,
        })  # fmt: skip
        return
    _print(result, change, dry_run=dry_run, workstream=workstream)


def _record(ctx: typer.Context, result: Report, workstream: str | None, at: datetime) -> None:
    """Add the edit to the store's audit trail; a store that cannot take it is a warning, the edit stands."""
    lines = [cell.line() for cell in result.cells] or [f"workstream '{workstream}'"]
    audit = audit_for(at)
    path = str(settings(ctx).config_path)
    records = [audit.record(Action.CONFIG, detail={"config": path, "change": line}) for line in lines]
    try:
        store_of(ctx).record(records)
    except OcacError as error:
        render.message(f"ocac: warning: the edit stands, but it is not in the store's history: {error}")


def _print(result: Report, change: ConfigChange, *, dry_run: bool, workstream: str | None) -> None:
    verb = "would change" if dry_run else ("changed" if change.written else "unchanged")
    for cell in result.cells:
        render.message(f"{verb}: {cell.line()}")
    if workstream is not None:
        render.message(f"{verb}: workstream '{workstream}'")
    if result.horizons:
        render.message(("impact (dry run): " if dry_run else "impact: ") + summary_line(result.horizons))
        if dry_run:
            _impact_table(result.horizons)
    else:
        render.message(f"impact unknown: {result.problem}")


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

    return {"name": name, "old": describe(change.before.workstreams), "new": describe(change.after.workstreams)}


def _impact_table(horizons: list[Horizon]) -> None:
    table = render.table("due", "current", "new", "difference", "examples")
    for horizon in horizons:
        examples = horizon.newly_due or horizon.no_longer_due
        table.add_row(
            horizon.name.replace("_", " "), str(horizon.before), str(horizon.after),
            f"{horizon.after - horizon.before:+d}", ", ".join(examples[:3]),
        )  # fmt: skip
    render.show(table)
