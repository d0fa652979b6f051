"""`ocac records …`: the linked records of case conversations."""

from __future__ import annotations

import typer

from ocac.cli.common import JSON_HELP, settings, sub_app

app = sub_app("Linked records of case conversations.\n\nExample: ocac records delete INC-00123")


@app.command("delete")
def delete(ctx: typer.Context, record_id: str = typer.Argument(..., help="The record's id.")) -> None:
    """Mark a linked record deleted: the next sweep closes its open and active case conversations.

    Example: ocac records delete INC-00123
    """
    from ocac import render, store
    from ocac.model import Channel, State

    s = settings(ctx)
    with store.transaction(s.store_path, s.lock_timeout) as txn:
        added = txn.document.delete_record(record_id)
        txn.commit()
        linked = sum(
            1 for c in txn.document.conversations
            if c.channel is Channel.CASE and c.record_id == record_id
            and c.state in (State.OPEN, State.ACTIVE)
        )  # fmt: skip
    verb = "marked deleted" if added else "already deleted"
    render.message(f"record '{record_id}' {verb}; the next sweep closes {linked} case conversation(s)")


@app.command("list")
def list_(ctx: typer.Context, json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List the records marked deleted.

    Example: ocac records list
    """
    from ocac import render
    from ocac.cli.common import load_store

    records = sorted(load_store(ctx).deleted_records)
    if json:
        render.print_json(records)
        return
    for record in records:
        typer.echo(record)
