"""`ocac conversations …`: look into the store and change it as agents' actions would."""

from datetime import datetime
from pathlib import Path

import typer

from ocac import render
from ocac.cli import complete
from ocac.cli.common import (
    CHANGE_NOW_HELP,
    JSON_HELP,
    NOW_HELP,
    audit,
    config_of,
    instant,
    resolve_id,
    settings,
    store_of,
    sub_app,
)
from ocac.durations import format_idle, format_minutes, parse_minutes
from ocac.errors import InvalidInput, Refused
from ocac.instants import ahead, format_instant, minutes_between, parse_instant
from ocac.interchange import Format, read_import_files
from ocac.listing import Row, select
from ocac.model import (
    NETWORKS,
    NOT_CLOSED,
    Action,
    Conversation,
    moved,
    parse_channel,
    parse_state,
    parse_target,
    touched,
    waiting_problem,
    workstream_key,
)
from ocac.policy import explain
from ocac.store import Selection

app = sub_app("List, inspect, add, import and change conversations.\n\nExample: ocac conversations list --due")

ACTIVITIES = ("monitor", "consult", "transfer", "message")


@app.command("list")
def list_(
    ctx: typer.Context,
    channel: list[str] | None = typer.Option(
        None, "--channel", metavar="CHANNEL", help="Only this channel (repeatable).", autocompletion=complete.channels
    ),
    state: list[str] | None = typer.Option(
        None, "--state", metavar="STATE", help="Only this state (repeatable).", autocompletion=complete.states
    ),
    workstream: str | None = typer.Option(
        None, "--workstream", metavar="NAME", help="Only this workstream.", autocompletion=complete.workstreams
    ),
    due: bool = typer.Option(False, "--due", help="Only conversations the next sweep would move."),
    due_within: str | None = typer.Option(
        None, "--due-within", metavar="DURATION", help="Only conversations due within this time."
    ),
    limit: int | None = typer.Option(None, "--limit", metavar="N", min=0, help="At most N (soonest due first)."),
    all_: bool = typer.Option(False, "--all", help="Closed conversations too (left out unless --state closed)."),
    now: str | None = typer.Option(None, "--now", metavar="TIME", help=NOW_HELP),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
    csv: bool = typer.Option(False, "--csv", help="Print CSV with a header, for spreadsheets."),
) -> None:
    """List conversations, soonest due first, with when and to what each will move.

    Example: ocac conversations list --due --limit 20
    """
    states = frozenset(parse_state(s) for s in state or ())
    if not states and not all_:
        states = NOT_CLOSED
    stream = None if workstream is None else config_of(ctx).policy.workstream(workstream_key(workstream))
    names = None if workstream is None else (stream.keys if stream else frozenset({workstream_key(workstream)}))
    selection = Selection(frozenset(parse_channel(c) for c in channel or ()), states, names)
    minutes = _due_within(due_within)
    store = store_of(ctx)
    at = instant(now, store)
    due_by = ahead(at, minutes) if minutes is not None else (at if due else None)
    if json and csv:
        raise InvalidInput("--json and --csv cannot be combined: pick one")
    listing = select(store, config_of(ctx).policy, at, selection, due_by=due_by, limit=limit, count=not (json or csv))
    if json:
        render.print_json([row.to_json() for row in listing.rows])
        return
    if csv:
        columns = ("id", "channel", "state", "modified_on", "workstream", "due_at", "target", "reason", "rule")
        documents = [row.to_json() for row in listing.rows]
        render.print_csv(columns, [["" if d[c] is None else str(d[c]) for c in columns] for d in documents])
        return
    if not listing.total:
        render.message("no conversations match" + ("" if all_ or state else " (closed ones are left out: --all)"))
        return
    table = render.table("id", "channel", "state", "idle", "due", "moves to")
    short = render.id_shortener(row.conversation.id for row in listing.rows)
    for row in listing.rows:
        cells = _list_cells(row, at)
        table.add_row(short(cells[0]), *cells[1:])
    render.show(table)
    shown = f"{len(listing.rows)} of {listing.total}" if listing.cut else str(len(listing.rows))
    render.message(f"{shown} conversation(s)")


def _due_within(text: str | None) -> int | None:
    if text is None:
        return None
    minutes = parse_minutes(text)
    if minutes is None:
        raise InvalidInput("--due-within needs a finite duration such as 1h")
    return minutes


def _list_cells(row: Row, now: datetime) -> tuple[str, ...]:
    verdict, conversation = row.verdict, row.conversation
    when = "never" if verdict.due_at is None else _relative(verdict.due_at, now)
    idle = format_idle(row.idle_minutes) + (" (future!)" if row.in_future else "")
    target = str(verdict.target) if verdict.target else "-"
    return conversation.id, str(conversation.channel), str(conversation.state), idle, when, target


def _relative(due_at: datetime, now: datetime) -> str:
    if due_at < now:
        return "now"
    return "in " + format_idle(max(minutes_between(now, due_at), 0))


@app.command("show")
def show(
    ctx: typer.Context,
    conversation_id: str = typer.Argument(
        ..., metavar="ID", help="The conversation's id, or a unique start of it.", autocompletion=complete.ids
    ),
    now: str | None = typer.Option(None, "--now", metavar="TIME", help=NOW_HELP),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show every field of a conversation and why it will (or will never) be moved.

    Example: ocac conversations show 5f0c
    """
    store = store_of(ctx)
    stored = store.get(resolve_id(store, conversation_id))
    assert stored is not None
    at = instant(now, store)
    conversation = stored.conversation
    deleted = frozenset(r for r in store.deleted_records() if r == conversation.record_id)
    row = Row(conversation, explain(conversation, config_of(ctx).policy, deleted), at)
    verdict = row.verdict
    if json:
        explanation = row.to_json() | {"applies": verdict.applies, "never_because": verdict.never_because}
        render.print_json({"fields": stored.shown(), "explanation": explanation})
        return
    table = render.table("field", "value")
    for key, value in stored.shown().items():
        table.add_row(key, value if isinstance(value, str) else render.compact(value))
    render.show(table)
    for line in _explanation(row, at):
        render.show(line)


def _explanation(row: Row, at: datetime) -> list[str]:
    verdict = row.verdict
    lines = [f"applies: {verdict.applies}", f"idle: {format_idle(row.idle_minutes)}"]
    if row.in_future:
        lines.append(f"warning: modified_on is after {render.instant(at)}: it is not swept until then")
    if verdict.due_at is None:
        lines.append(f"never moved: {verdict.never_because}")
    else:
        status = "due now" if verdict.is_due(at) else "not yet due"
        lines.append(f"threshold: {format_minutes(verdict.threshold_minutes)} → {verdict.target} ({verdict.reason})")
        lines.append(f"eligible after: {render.instant(verdict.due_at)} ({status})")
    return lines


@app.command("add")
def add(
    ctx: typer.Context,
    channel: str = typer.Option(
        ..., "--channel", metavar="CHANNEL", help="The channel.", autocompletion=complete.channels
    ),
    state: str = typer.Option("open", "--state", metavar="STATE", help="The state.", autocompletion=complete.states),
    conversation_id: str | None = typer.Option(None, "--id", metavar="ID", help="The id; generated when omitted."),
    workstream: str | None = typer.Option(None, "--workstream", metavar="NAME", help="Its workstream."),
    record_id: str | None = typer.Option(None, "--record-id", metavar="ID", help="The linked record (case)."),
    network: str | None = typer.Option(
        None, "--network", metavar="NETWORK", help="The service it runs on (whatsapp, facebook… for social)."
    ),
    modified_on: str | None = typer.Option(
        None, "--modified-on", metavar="TIME", help="When it last changed. [default: --now]"
    ),
    now: str | None = typer.Option(None, "--now", metavar="TIME", help=CHANGE_NOW_HELP),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Add a conversation; prints its id.

    Example: ocac conversations add --channel chat --workstream "Contoso Web Chat"
    """
    chan, st = parse_channel(channel), parse_state(state)
    problem = waiting_problem(chan, st)
    if problem:
        raise Refused(problem)
    if network is not None:
        owner, known = parse_target(network)
        if known is None or owner is not chan:
            choices = ", ".join(n for n, c in NETWORKS.items() if c is chan) or "none"
            raise InvalidInput(f"--network {network!r} is not a network of {chan} (its networks: {choices})")
        network = known
    new_id = conversation_id if conversation_id is not None else _new_id()
    if not new_id.strip():
        raise InvalidInput("--id must not be empty")
    stamp_given = parse_instant(modified_on, "--modified-on") if modified_on else None
    store = store_of(ctx)
    at = instant(now, store)
    stamp = stamp_given or at
    stream = None if workstream is None else workstream_key(workstream)
    conversation = Conversation(new_id, chan, st, stamp, stream, record_id, stamp, network)
    for warning in _workstream_warnings(ctx, conversation):
        render.message(f"ocac: warning: {warning}")
    store.add(conversation, audit(at))
    if json:
        render.print_json({"id": new_id, "channel": str(chan), "state": str(st), "modified_on": format_instant(stamp)})
        return
    typer.echo(new_id)
    render.message(f"added {chan} conversation {new_id} ({st})")


def _workstream_warnings(ctx: typer.Context, conversation: Conversation) -> list[str]:
    """What will surprise about the new conversation's workstream: unknown, or on another channel."""
    name = conversation.workstream
    if name is None:
        return []
    stream = config_of(ctx).policy.workstream(name)
    if stream is None:
        return [f"workstream '{name}' is not in the configuration: its waiting and wrap-up settings do not apply"]
    if stream.channel is not conversation.channel:
        return [f"workstream '{name}' is a {stream.channel} workstream; this is a {conversation.channel} conversation"]
    return []


@app.command("import")
def import_(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(
        ..., metavar="FILE", help="JSON (a list or a store-shaped object), CSV with a header, or Web API pages."
    ),
    replace: bool = typer.Option(False, "--replace", help="Make the store hold exactly these conversations."),
    file_format: Format = typer.Option(
        Format.AUTO,
        "--format",
        metavar="FORMAT",
        help="auto (by extension), json, csv, or dataverse (Web API export pages).",
    ),
    persistent_workstream: list[str] | None = typer.Option(
        None,
        "--persistent-workstream",
        metavar="ID",
        help="(dataverse) A live-chat workstream that is persistent chat (repeatable). Not needed for "
        "workstreams configured as persistent-chat ('ocac workstream import').",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Write nothing; report what would change."),
    now: str | None = typer.Option(None, "--now", metavar="TIME", help=CHANGE_NOW_HELP),
    json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Import conversations, upserting by id; one bad row rejects the whole file.

    Several files are one import (a Dataverse export in pages, say). Dataverse rows whose status
    or channel ocac has no name for are skipped and reported (docs/dataverse.md).

    Example: ocac conversations import export.csv --dry-run
    """
    s = settings(ctx)
    wanted = not json and (any(render.large(f) for f in files) or render.large(Path(s.store)))
    with render.progress(3, wanted=wanted) as step:
        step("reading " + ", ".join(f.name for f in files))
        policy = config_of(ctx).policy if file_format is Format.DATAVERSE else None  # workstreams match rows
        imported = read_import_files(files, file_format, set(persistent_workstream or ()), policy)
        step("loading store")
        store = store_of(ctx)
        at = instant(now, store)
        source = ", ".join(str(f) for f in files)
        counts = store.import_conversations(
            imported.conversations, imported.deleted_records, audit(at), replace=replace, dry_run=dry_run,
            source=source,
        )  # fmt: skip
    for line in imported.warnings:
        render.message(f"ocac: warning: {line}")
    if json:
        render.print_json(counts.to_json() | {"replaced": replace, "dry_run": dry_run, "skipped": imported.skipped})
        return
    how = " (replacing the store's conversations)" if replace else ""
    verb = "would import" if dry_run else "imported"
    line = (
        f"{verb} {len(imported.conversations)} conversation(s){how}: {counts.added} added, "
        f"{counts.updated} updated, {counts.unchanged} unchanged"
    )
    if replace or counts.removed:
        line += f", {counts.removed} removed"
    if counts.records_deleted:
        line += f"; {counts.records_deleted} linked record(s) newly marked deleted"
    if dry_run:
        line += "; nothing written (dry run)"
    render.message(line)


@app.command("touch")
def touch(
    ctx: typer.Context,
    conversation_id: str = typer.Argument(
        ..., metavar="ID", help="The conversation's id, or a unique start of it.", autocompletion=complete.ids
    ),
    action: str = typer.Option(
        "message", "--action", metavar="ACTIVITY", help="monitor, consult, transfer or message."
    ),
    force: bool = typer.Option(False, "--force", help="Accept a --now earlier than the conversation's last change."),
    now: str | None = typer.Option(None, "--now", metavar="TIME", help=CHANGE_NOW_HELP),
) -> None:
    """Record an activity: it restarts the conversation's clock (modified_on = now).

    Example: ocac conversations touch 5f0c --action transfer
    """
    activity = action.strip().lower()
    if activity not in ACTIVITIES:
        raise InvalidInput(f"unknown --action '{action}': use one of {', '.join(ACTIVITIES)}")
    store = store_of(ctx)
    target = resolve_id(store, conversation_id)
    at = instant(now, store)
    store.change(
        target, lambda c: touched(c, at, force=force), Action.TOUCH, audit(at), {"activity": activity}
    )  # fmt: skip
    render.message(f"{activity}: {target}: clock restarted")


@app.command("set-state")
def set_state(
    ctx: typer.Context,
    conversation_id: str = typer.Argument(
        ..., metavar="ID", help="The conversation's id, or a unique start of it.", autocompletion=complete.ids
    ),
    state: str = typer.Argument(..., metavar="STATE", help="The new state."),
    force: bool = typer.Option(False, "--force", help="Accept a --now earlier than the conversation's last change."),
    now: str | None = typer.Option(None, "--now", metavar="TIME", help=CHANGE_NOW_HELP),
) -> None:
    """Change a conversation's state by hand, as the state model allows.

    Example: ocac conversations set-state 5f0c wrap-up
    """
    target_state = parse_state(state)
    store = store_of(ctx)
    target = resolve_id(store, conversation_id)
    at = instant(now, store)
    store.change(target, lambda c: moved(c, target_state, at, force=force), Action.SET_STATE, audit(at))
    render.message(f"{target}: now {target_state}")


def _new_id() -> str:
    """A random id for `conversations add` without --id."""
    import uuid  # start-up: see docs/architecture.md

    return str(uuid.uuid4())
