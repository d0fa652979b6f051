"""`ocac doctor` and `ocac metrics`: what will surprise an admin, and the figures monitoring scrapes."""

from pathlib import Path

import typer

from ocac import fsutil, render
from ocac.cli.common import JSON_HELP, NOW_HELP, config_of, instant, store_of
from ocac.doctor import DEFAULT_MAX_SWEEP_AGE, examine
from ocac.durations import format_minutes, parse_minutes
from ocac.errors import CheckFailed, InvalidInput
from ocac.metrics import exposition

DOCTOR_EPILOG = (
    "Exit codes: 0 nothing found; 7 something will surprise (each finding is printed); 2 bad input "
    "(config or store that does not load); 4 a file could not be read; 6 the database server could not be reached."
)


def register(app: typer.Typer) -> None:
    """Mount `doctor` and `metrics` on the root app."""
    app.command("doctor", epilog=DOCTOR_EPILOG)(doctor)
    app.command("metrics")(metrics)


def doctor(
    ctx: typer.Context,
    max_sweep_age: str = typer.Option(
        format_minutes(DEFAULT_MAX_SWEEP_AGE),
        "--max-sweep-age",
        metavar="DURATION",
        help="How old the last sweep may be before it is reported.",
    ),  # fmt: skip
    now: str | None = typer.Option(None, "--now", metavar="TIME", help=NOW_HELP),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Check the configuration and the store together for what will surprise.

    Workstreams conversations name that the configuration lacks (or knows by name only), a
    workstream whose channel differs from its conversations', a wrap-up block that cannot
    apply, conversations stamped in the future, a sweep that stopped, a store this user cannot
    write. Exit 0 when all is well, 7 otherwise.

    Example: ocac doctor
    """
    limit = parse_minutes(max_sweep_age)
    if limit is None:
        raise InvalidInput("--max-sweep-age must be a finite duration such as 15m")
    loaded = config_of(ctx)
    store = store_of(ctx)
    findings = examine(store, loaded.policy, instant(now, store), limit)
    if json:
        render.print_json({"ok": not findings, "findings": [f.to_json() for f in findings]})
    else:
        for finding in findings:
            render.show(f"{finding.check}: {finding.message}")
        if not findings:
            render.show(f"ok: nothing to report for {store.location} with {loaded.source or 'the built-in defaults'}")
    if findings:
        raise CheckFailed(f"doctor found {len(findings)} thing(s) to look at")


def metrics(
    ctx: typer.Context,
    output: Path | None = typer.Option(
        None,
        "--output",
        metavar="PATH",
        help="Write the text to PATH atomically (for node_exporter's textfile collector) instead of stdout.",
    ),  # fmt: skip
    now: str | None = typer.Option(None, "--now", metavar="TIME", help=NOW_HELP),
) -> None:
    """Print the store's figures in the OpenMetrics text format, for Prometheus.

    ocac_conversations{channel,state}, ocac_due_conversations{channel}, ocac_oldest_open_age_seconds{channel},
    ocac_last_sweep_timestamp_seconds and ocac_last_sweep_moved{channel,to,reason}.

    Example: ocac metrics --output /var/lib/node_exporter/textfile/ocac.prom
    """
    store = store_of(ctx)
    text = exposition(store, config_of(ctx).policy, instant(now, store))
    if output is None:
        typer.echo(text, nl=False)
        return
    fsutil.write_atomic(output, text.encode("utf-8"), fsutil.owner_for(output))
