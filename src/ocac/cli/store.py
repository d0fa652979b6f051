"""`ocac store …`: what a store is, and moving conversations between stores."""

from contextlib import closing

import typer

from ocac import render
from ocac.cli.common import JSON_HELP, settings, store_of, sub_app
from ocac.errors import StoreError
from ocac.model import State
from ocac.store import StoreInfo, open_store, refuse_overlap

app = sub_app(
    "Inspect a store, and copy one into another (JSON, TOML, SQLite, PostgreSQL).\n\n"
    "Example: ocac store copy conversations.json conversations.sqlite"
)


@app.command("info")
def info(ctx: typer.Context, json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Show the store's backend, location, schema version, counts by state, size and last sweep.

    Example: ocac --store conversations.sqlite store info
    """
    details = store_of(ctx).info()
    if json:
        render.print_json(_json(details))
        return
    for label, value in _lines(details):
        render.show(f"{label}: {value}")


def _json(details: StoreInfo) -> dict[str, object]:
    return {
        "backend": details.backend,
        "location": details.location,
        "exists": details.exists,
        "schema_version": details.schema_version,
        "conversations": details.conversations,
        "by_state": {str(s): details.by_state.get(s, 0) for s in State},
        "deleted_records": details.deleted_records,
        "size_bytes": details.size_bytes,
        "last_sweep": None if details.last_sweep is None else details.last_sweep.to_json(),
    }


def _lines(details: StoreInfo) -> list[tuple[str, str]]:
    by_state = ", ".join(f"{s} {details.by_state.get(s, 0)}" for s in State)
    sweep = details.last_sweep
    return [
        ("backend", details.backend),
        ("location", details.location + ("" if details.exists else " (does not exist yet)")),
        ("schema version", "-" if details.schema_version is None else str(details.schema_version)),
        ("conversations", f"{details.conversations} ({by_state})"),
        ("deleted records", str(details.deleted_records)),
        ("size", "-" if details.size_bytes is None else _size(details.size_bytes)),
        ("last sweep", "none recorded" if sweep is None else f"{render.instant(sweep.at)}, moved {sweep.moved}"),
    ]


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@app.command("copy")
def copy(
    ctx: typer.Context,
    source: str = typer.Argument(..., metavar="SOURCE", help="The store to copy: a path or URL, as for --store."),
    destination: str = typer.Argument(..., metavar="DEST", help="The store to fill: a path or URL."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite a destination that is not empty."),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Copy every conversation (unknown fields included), deleted record and history record.

    A destination that holds anything is refused without --replace. With --replace, a file
    store's previous history is kept beside it under a new name.

    Example: ocac store copy conversations.json sqlite:///srv/ocac/conversations.sqlite
    """
    lock_timeout = settings(ctx).lock_timeout
    refuse_overlap(source, destination)
    with closing(open_store(source, lock_timeout)) as origin, closing(open_store(destination, lock_timeout)) as target:
        if not origin.exists():
            raise StoreError(f"store {origin.location} does not exist: nothing to copy (check SOURCE)")
        dump = origin.dump()
        with render.counter(dump.total, wanted=not json, description="copying") as advance:
            count = target.fill(dump, replace=replace, progress=advance)
        records = len(dump.deleted_records)
        if json:
            render.print_json({"source": origin.location, "destination": target.location, "conversations": count,
                               "deleted_records": records, "replaced": replace})  # fmt: skip
            return
        render.message(f"copied {count} conversation(s) and {records} deleted record(s), with their history, "
                       f"from {origin.location} to {target.location}")  # fmt: skip
