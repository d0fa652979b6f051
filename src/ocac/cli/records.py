"""`ocac records …`: the linked records of case conversations."""

import typer

from ocac import render
from ocac.cli.common import CHANGE_NOW_HELP, JSON_HELP, audit, instant, store_of, sub_app

app = sub_app("Linked records of case conversations.\n\nExample: ocac records delete INC-00123")


@app.command("delete")
def delete(
    ctx: typer.Context,
    record_id: str = typer.Argument(..., metavar="ID", help="The record's id."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Change nothing; say what the next sweep would close."),
    now: str | None = typer.Option(None, "--now", metavar="TIME", help=CHANGE_NOW_HELP),
) -> None:
    """Mark a linked record deleted: the next sweep closes its open and active case conversations.

    Example: ocac records delete INC-00123
    """
    store = store_of(ctx)
    change = store.set_record_deleted(record_id, True, audit(instant(now, store)), dry_run=dry_run)
    if not change.linked:
        render.message(f"ocac: warning: no conversation links {record_id}")
    if dry_run:
        verb = "would be marked deleted" if change.changed else "is already deleted"
        render.message(f"dry run: record '{record_id}' {verb}; the next sweep would close {change.linked} "
                       "case conversation(s); nothing written")  # fmt: skip
        return
    verb = "marked deleted" if change.changed else "already deleted"
    render.message(f"record '{record_id}' {verb}; the next sweep closes {change.linked} case conversation(s)")


@app.command("undelete")
def undelete(
    ctx: typer.Context,
    record_id: str = typer.Argument(..., metavar="ID", help="The record's id."),
    now: str | None = typer.Option(None, "--now", metavar="TIME", help=CHANGE_NOW_HELP),
) -> None:
    """Take a deletion back: the record's case conversations are no longer closed by the sweep.

    Conversations a sweep already closed stay closed (closed is final).

    Example: ocac records undelete INC-00123
    """
    store = store_of(ctx)
    change = store.set_record_deleted(record_id, False, audit(instant(now, store)), dry_run=False)
    if change.changed:
        render.message(f"record '{record_id}' is no longer marked deleted ({change.linked} open case conversation(s))")
    else:
        render.message(f"record '{record_id}' was not marked deleted: nothing to undo")


@app.command("list")
def list_(ctx: typer.Context, json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List the records marked deleted.

    Example: ocac records list
    """
    records = store_of(ctx).deleted_records()
    if json:
        render.print_json(records)
        return
    for record in records:
        typer.echo(record)
