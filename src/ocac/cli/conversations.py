"""`ocac conversations …`: look into the store and change it as agents' actions would."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ocac.cli.common import JSON_HELP, NOW_HELP, load_config, load_store, resolve_now, settings, sub_app

app = sub_app("List, inspect, add, import and change conversations.\n\nExample: ocac conversations list --due")

if TYPE_CHECKING:
    from ocac.model import Conversation

ACTIONS = ("monitor", "consult", "transfer", "message")


@app.command("list")
def list_(
    ctx: typer.Context,
    channel: list[str] | None = typer.Option(None, "--channel", help="Only this channel (repeatable)."),
    state: list[str] | None = typer.Option(None, "--state", help="Only this state (repeatable)."),
    workstream: str | None = typer.Option(None, "--workstream", help="Only this workstream."),
    due: bool = typer.Option(False, "--due", help="Only conversations the next sweep would move."),
    due_within: str | None = typer.Option(
        None, "--due-within", metavar="DURATION", help="Only conversations due within this time."
    ),
    limit: int | None = typer.Option(None, "--limit", min=0, help="At most this many (soonest due first)."),
    now: str | None = typer.Option(None, "--now", help=NOW_HELP),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List conversations, soonest due first, with when and to what each will move.

    Example: ocac conversations list --due --limit 20
    """
    from ocac import render
    from ocac.durations import format_idle, parse_minutes
    from ocac.errors import InvalidInput
    from ocac.instants import ahead
    from ocac.listing import Filters, select
    from ocac.model import parse_channel, parse_state

    instant = resolve_now(now)
    due_by = instant if due else None
    if due_within is not None:
        minutes = parse_minutes(due_within)
        if minutes is None:
            raise InvalidInput("--due-within needs a finite duration such as 1h")
        due_by = ahead(instant, minutes)
    filters = Filters(
        frozenset(parse_channel(c) for c in channel or ()),
        frozenset(parse_state(s) for s in state or ()),
        workstream, due_by, limit,
    )  # fmt: skip
    policy = load_config(ctx).policy
    document = load_store(ctx)
    rows = select(document.conversations, policy, instant, filters, document.deleted_records)
    if json:
        render.print_json([row.to_json() for row in rows])
        return
    if not rows:
        render.message("no conversations match")
        return
    table = render.table("id", "channel", "state", "idle", "due", "moves to")
    for row in rows:
        verdict = row.verdict
        when = "never" if verdict.due_at is None else _relative(verdict.due_at, instant)
        idle = format_idle(row.idle_minutes) + (" (future!)" if row.in_future else "")
        target = str(verdict.target) if verdict.target else "-"
        table.add_row(
            row.conversation.id,
            str(row.conversation.channel),
            str(row.conversation.state),
            idle,
            when,
            target,
        )
    render.show(table)
    render.message(f"{len(rows)} conversation(s)")


def _relative(due_at: datetime, now: datetime) -> str:
    from ocac.durations import format_idle
    from ocac.instants import minutes_between

    if due_at < now:
        return "now"
    return "in " + format_idle(max(minutes_between(now, due_at), 0))


@app.command("show")
def show(
    ctx: typer.Context,
    conversation_id: str = typer.Argument(..., metavar="ID", help="The conversation's id."),
    now: str | None = typer.Option(None, "--now", help=NOW_HELP),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show every field of a conversation and why it will (or will never) be moved.

    Example: ocac conversations show 5f0c…
    """
    from ocac import render, store
    from ocac.durations import format_idle, format_minutes
    from ocac.errors import NotFound
    from ocac.instants import format_instant
    from ocac.listing import Row
    from ocac.policy import explain

    instant = resolve_now(now)
    policy = load_config(ctx).policy
    document = store.load(settings(ctx).store_path, writable=True)
    index = document.index_of(conversation_id)
    if index is None:
        raise NotFound(f"no conversation '{conversation_id}' in {document.path}: see 'ocac conversations list'")
    conversation = document.conversations[index]
    row = Row(conversation, explain(conversation, policy, document.deleted_records), instant)
    fields = store.fields_of(document, index)
    verdict = row.verdict
    if json:
        render.print_json({"fields": fields, "explanation": row.to_json() | {
            "applies": verdict.applies, "never_because": verdict.never_because,
        }})  # fmt: skip
        return
    table = render.table("field", "value")
    for key, value in fields.items():
        table.add_row(key, value if isinstance(value, str) else _compact(value))
    render.show(table)
    lines = [f"applies: {verdict.applies}"]
    lines.append(f"idle: {format_idle(row.idle_minutes)}")
    if row.in_future:
        lines.append(f"warning: modified_on is after {format_instant(instant)}: it is not swept until then")
    if verdict.due_at is None:
        lines.append(f"never moved: {verdict.never_because}")
    else:
        status = "due now" if verdict.is_due(instant) else "not yet due"
        lines.append(f"threshold: {format_minutes(verdict.threshold_minutes)} → {verdict.target} ({verdict.reason})")
        lines.append(f"eligible after: {format_instant(verdict.due_at)} ({status})")
    for line in lines:
        render.show(line)


def _compact(value: object) -> str:
    import msgspec

    return msgspec.json.encode(value).decode()


@app.command("add")
def add(
    ctx: typer.Context,
    channel: str = typer.Option(..., "--channel", help="The channel."),
    state: str = typer.Option("open", "--state", help="The state."),
    conversation_id: str | None = typer.Option(None, "--id", help="The id; generated when omitted."),
    workstream: str | None = typer.Option(None, "--workstream", help="Its workstream."),
    record_id: str | None = typer.Option(None, "--record-id", help="The linked record (case)."),
    modified_on: str | None = typer.Option(None, "--modified-on", metavar="TIME", help="Default: now."),
    now: str | None = typer.Option(None, "--now", help=NOW_HELP),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Add a conversation; prints its id.

    Example: ocac conversations add --channel chat --workstream "Contoso Web Chat"
    """
    import uuid

    from ocac import render, store
    from ocac.errors import InvalidInput, Refused
    from ocac.instants import format_instant, parse_instant
    from ocac.model import Conversation, can_wait, parse_channel, parse_state

    chan, st = parse_channel(channel), parse_state(state)
    if st.value == "waiting" and not can_wait(chan):
        raise Refused(f"{chan} conversations cannot be waiting (only persistent-chat, sms, social and teams)")
    instant = resolve_now(now)
    stamp = parse_instant(modified_on, "--modified-on") if modified_on else instant
    new_id = conversation_id if conversation_id is not None else str(uuid.uuid4())
    if not new_id.strip():
        raise InvalidInput("--id must not be empty")
    conversation = Conversation(new_id, chan, st, stamp, workstream, record_id, stamp)
    s = settings(ctx)
    with store.transaction(s.store_path, s.lock_timeout) as txn:
        if txn.document.index_of(new_id) is not None:
            raise Refused(f"a conversation '{new_id}' already exists: pick another --id")
        txn.document.upsert(conversation, {})
        txn.commit()
    if json:
        render.print_json({"id": new_id, "channel": str(chan), "state": str(st), "modified_on": format_instant(stamp)})
        return
    typer.echo(new_id)
    render.message(f"added {chan} conversation {new_id} ({st})")


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="A JSON list, a store-shaped JSON object, or CSV with a header."),
    replace: bool = typer.Option(False, "--replace", help="Replace every conversation instead of upserting."),
    file_format: str = typer.Option(
        "auto", "--format", help="auto (by extension), json, csv, or dataverse (a Web API export)."
    ),
    persistent_workstream: list[str] | None = typer.Option(
        None,
        "--persistent-workstream",
        metavar="ID",
        help="(dataverse) A live-chat workstream that is persistent chat (repeatable).",
    ),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Import conversations, upserting by id; one bad row rejects the whole file.

    Example: ocac conversations import export.csv
    """
    from ocac import fsutil, render, store
    from ocac.errors import ImportFileError, InvalidInput
    from ocac.interchange import ImportFile, read_import

    kind = file_format.lower()
    if kind not in ("auto", "json", "csv", "dataverse"):
        raise InvalidInput(f"unknown --format '{file_format}': use auto, json, csv or dataverse")
    s = settings(ctx)
    counts = {"added": 0, "updated": 0, "unchanged": 0, "records_deleted": 0}
    wanted = not json and (render.large(file) or render.large(s.store_path))
    with render.progress(3, wanted=wanted) as step:
        step(f"reading {file.name}")
        data = fsutil.read_bytes(file, "import file")
        if data is None:
            raise ImportFileError(f"import file {file} does not exist")
        if kind == "dataverse":
            from ocac.dataverse import read_conversations

            imported = ImportFile(read_conversations(file, data, set(persistent_workstream or ())))
        else:
            imported = read_import(file, data, kind)
        step("loading store")
        with store.transaction(s.store_path, s.lock_timeout) as txn:
            if replace:
                txn.document.clear()
            for item in imported.conversations:
                counts[store.upsert(txn.document, item.conversation, item.extra)] += 1
            counts["records_deleted"] = sum(txn.document.delete_record(record) for record in imported.deleted_records)
            step("writing store")
            written = txn.commit()
    if json:
        render.print_json(counts | {"replaced": replace, "written": written})
        return
    how = " (replacing the store's conversations)" if replace else ""
    render.message(
        f"imported {len(imported.conversations)} conversation(s){how}: {counts['added']} added, "
        f"{counts['updated']} updated, {counts['unchanged']} unchanged"
        + (f"; {counts['records_deleted']} linked record(s) newly marked deleted" if counts["records_deleted"] else "")
    )


def _change(
    ctx: typer.Context, conversation_id: str, now: str | None, change: Callable[[Conversation, datetime], Conversation]
) -> None:
    """Apply `change(conversation, instant)` under the store lock."""
    from ocac import store
    from ocac.errors import NotFound

    instant = resolve_now(now)
    s = settings(ctx)
    with store.transaction(s.store_path, s.lock_timeout) as txn:
        index = txn.document.index_of(conversation_id)
        if index is None:
            raise NotFound(f"no conversation '{conversation_id}' in {s.store_path}: see 'ocac conversations list'")
        txn.document.update(index, change(txn.document.conversations[index], instant))
        txn.commit()


@app.command("touch")
def touch(
    ctx: typer.Context,
    conversation_id: str = typer.Argument(..., metavar="ID", help="The conversation's id."),
    action: str = typer.Option("message", "--action", help="monitor, consult, transfer or message."),
    now: str | None = typer.Option(None, "--now", help=NOW_HELP),
) -> None:
    """Record an activity: it restarts the conversation's clock (modified_on = now).

    Example: ocac conversations touch 5f0c… --action transfer
    """
    from ocac import render
    from ocac.errors import InvalidInput
    from ocac.model import touched

    if action.lower() not in ACTIONS:
        raise InvalidInput(f"unknown --action '{action}': use one of {', '.join(ACTIONS)}")
    _change(ctx, conversation_id, now, touched)
    render.message(f"{action.lower()}: {conversation_id}: clock restarted")


@app.command("set-state")
def set_state(
    ctx: typer.Context,
    conversation_id: str = typer.Argument(..., metavar="ID", help="The conversation's id."),
    state: str = typer.Argument(..., help="The new state."),
    now: str | None = typer.Option(None, "--now", help=NOW_HELP),
) -> None:
    """Change a conversation's state by hand, as the state model allows.

    Example: ocac conversations set-state 5f0c… wrap-up
    """
    from ocac import render
    from ocac.model import moved, parse_state

    target = parse_state(state)
    _change(ctx, conversation_id, now, lambda conversation, instant: moved(conversation, target, instant))
    render.message(f"{conversation_id}: now {target}")
