"""What every command shares: the resolved settings, `--now`, loading config and store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ocac import paths

if TYPE_CHECKING:
    from ocac.config import LoadedConfig
    from ocac.store import Document

NOW_HELP = "The instant to judge idle time at (RFC 3339 with an offset); default: the clock."
JSON_HELP = "Print one JSON document on stdout instead of a table."


@dataclass(frozen=True)
class Settings:
    """The root options, resolved."""

    config_path: Path
    store_path: Path
    lock_timeout: float


def settings(ctx: typer.Context) -> Settings:
    """The root options of this invocation."""
    root = ctx.find_root()
    if not isinstance(root.obj, Settings):  # a sub-app invoked on its own, as in some tests
        root.obj = Settings(paths.default_config_path(), paths.default_store_path(), paths.DEFAULT_LOCK_TIMEOUT)
    return root.obj


def clock() -> datetime:
    """The current instant, to the second: stamps stay readable and idle times whole."""
    return datetime.now(UTC).replace(microsecond=0)


def resolve_now(text: str | None) -> datetime:
    """`--now` parsed, or the clock (the shell is where the clock is read)."""
    from ocac.instants import parse_instant

    if text is None or text.strip().lower() == "now":
        return clock()
    return parse_instant(text, "--now")


def load_config(ctx: typer.Context) -> LoadedConfig:
    """The configuration file, validated."""
    from ocac.config import load_config as load

    return load(settings(ctx).config_path)


def load_store(ctx: typer.Context) -> Document:
    """The store, validated, read without a lock."""
    from ocac import store

    return store.load(settings(ctx).store_path)


def sub_app(help: str) -> typer.Typer:
    """A sub-app for one noun, with ocac's help conventions."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None)
