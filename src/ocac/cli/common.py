"""What every command shares: the resolved settings, `--now`, opening config and store, help texts."""

from datetime import datetime
from pathlib import Path

import msgspec
import typer

from ocac import paths
from ocac.audit import Audit, audit_for
from ocac.config import LoadedConfig, load_config
from ocac.errors import InvalidInput, NotFound
from ocac.instants import parse_instant, wall_clock
from ocac.store import Store, open_store

NOW_HELP = "The instant to judge at (RFC 3339 with an offset, e.g. 2026-11-25T12:00:00Z). [default: the clock]"
CHANGE_NOW_HELP = "The instant of this change (RFC 3339 with an offset). [default: the clock]"
JSON_HELP = "Print one JSON document on stdout instead of a table."
PREFIX_SHOWN = 10
"""How many matches an ambiguous id prefix lists."""


class Settings(msgspec.Struct, frozen=True):
    """The root options, resolved."""

    config_path: Path
    store: str
    lock_timeout: float
    config_explicit: bool = False
    """Whether the configuration was named (flag or environment): then it must exist."""


def settings(ctx: typer.Context) -> Settings:
    """The root options of this invocation."""
    root = ctx.find_root()
    if not isinstance(root.obj, Settings):  # a sub-app invoked on its own, as in some tests
        root.obj = Settings(paths.default_config_path(), str(paths.default_store_path()), paths.DEFAULT_LOCK_TIMEOUT)
    return root.obj


def parse_now(text: str | None) -> datetime | None:
    """`--now` parsed; None for the clock (the store's, where the store has one)."""
    if text is None or text.strip().lower() == "now":
        return None
    return parse_instant(text, "--now")


def instant(text: str | None, store: Store | None = None) -> datetime:
    """`--now`, or the store's clock (a database server's, so that hosts agree), or this host's."""
    given = parse_now(text)
    if given is not None:
        return given
    return store.clock() if store is not None else wall_clock()


def config_of(ctx: typer.Context, *, editing: bool = False) -> LoadedConfig:
    """The configuration file, validated. A named file that is missing is refused, unless it is being edited
    (`config set` creates it)."""
    s = settings(ctx)
    return load_config(s.config_path, required=s.config_explicit and not editing)


def store_of(ctx: typer.Context) -> Store:
    """The store `--store` names; closed when the command ends."""
    store = new_store(ctx)
    ctx.call_on_close(store.close)
    return store


def new_store(ctx: typer.Context) -> Store:
    """A new handle on the store `--store` names; the caller closes it."""
    s = settings(ctx)
    return open_store(s.store, s.lock_timeout)


def audit(at: datetime) -> Audit:
    """Who makes a change now, for the audit trail."""
    return audit_for(at)


def resolve_id(store: Store, text: str) -> str:
    """A conversation id, or a unique prefix of one (as git takes a hash prefix)."""
    if store.get(text) is not None:
        return text
    if not text:
        raise InvalidInput("the conversation id is empty")
    matches = store.ids_starting_with(text, PREFIX_SHOWN + 1)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound(f"no conversation '{text}' in {store.location}: see 'ocac conversations list'")
    shown = ", ".join(matches[:PREFIX_SHOWN]) + (", …" if len(matches) > PREFIX_SHOWN else "")
    raise InvalidInput(f"'{text}' is the start of several conversation ids ({shown}): give more of the id")


def sub_app(help: str) -> typer.Typer:
    """A sub-app for one noun, with ocac's help conventions."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None, add_completion=False)
