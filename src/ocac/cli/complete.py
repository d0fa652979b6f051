"""Shell completion of values: channels, states, workstream names and conversation ids from the store."""

import os
from contextlib import closing
from pathlib import Path

import typer

from ocac import paths
from ocac.config import load_config
from ocac.errors import OcacError
from ocac.model import NETWORKS, Channel, State
from ocac.store import open_store

LIMIT = 50
"""At most this many ids are offered: a store holds millions."""


def _root_value(ctx: typer.Context, name: str, env: str) -> str | None:
    """A root option as typed so far on the command line, else its environment variable."""
    value = ctx.find_root().params.get(name)
    return str(value) if value is not None else os.environ.get(env)


def channels(incomplete: str) -> list[str]:
    """Channel and network names."""
    return [name for name in [*(c.value for c in Channel), *NETWORKS] if name.startswith(incomplete)]


def states(incomplete: str) -> list[str]:
    """State names."""
    return [s.value for s in State if s.value.startswith(incomplete)]


def workstreams(ctx: typer.Context, incomplete: str) -> list[str]:
    """Workstream names from the configuration."""
    config = _root_value(ctx, "config", paths.ENV_CONFIG)
    try:
        policy = load_config(paths.default_config_path() if config is None else Path(config)).policy
    except OcacError:
        return []
    return sorted(name for name in policy.workstreams if name.startswith(incomplete))


def ids(ctx: typer.Context, incomplete: str) -> list[str]:
    """Conversation ids from the store that start with what was typed."""
    store = _root_value(ctx, "store", paths.ENV_STORE) or str(paths.default_store_path())
    try:
        with closing(open_store(store, 1)) as opened:
            return opened.ids_starting_with(incomplete, LIMIT)
    except OcacError:
        return []
