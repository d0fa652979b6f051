"""Conversation stores behind one interface (`ocac.store.base.Store`), chosen by `--store`.

- a path ending in `.json` (or anything else): the JSON file store;
- a path ending in `.toml`: the same content as TOML;
- a path ending in `.sqlite`, `.sqlite3` or `.db`, or `sqlite:///ABSOLUTE/PATH`: SQLite;
- `postgresql://…` or `postgres://…` (a libpq URL): PostgreSQL, shared by several hosts.

Database backends are imported only when used: their drivers cost start-up time.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from ocac import fsutil
from ocac.errors import InvalidInput
from ocac.store.base import (
    Dump,
    ImportCounts,
    Incoming,
    RecordChange,
    Selection,
    Store,
    Stored,
    StoreInfo,
    SweepOutcome,
)
from ocac.store.file import FileStore
from ocac.store.trail import trail_path

__all__ = [
    "Dump", "ImportCounts", "Incoming", "RecordChange", "Selection", "Store", "StoreInfo", "StoreSpec", "Stored",
    "SweepOutcome", "mask", "open_store", "parse_spec", "refuse_overlap",
]  # fmt: skip

SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
ACCEPTED = (
    "use a path (.json, .toml, .sqlite, .sqlite3, .db), sqlite:///ABSOLUTE/PATH, or postgresql://USER@HOST/DATABASE"
)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class StoreSpec(msgspec.Struct, frozen=True):
    """A parsed `--store`: its backend and its path or URL."""

    backend: str
    target: str

    @property
    def path(self) -> Path | None:
        """The file of a file or SQLite store; None for a server."""
        return None if self.backend == "postgresql" else Path(self.target)

    @property
    def shown(self) -> str:
        """As messages show it: a URL's password masked."""
        return mask(self.target) if self.backend == "postgresql" else self.target


def parse_spec(text: str) -> StoreSpec:
    """What `--store` names; an unknown scheme or a relative `sqlite://` is refused."""
    if not text.strip():
        raise InvalidInput(f"--store is empty: {ACCEPTED}")
    if text.lower().startswith(("sqlite:", "postgresql:", "postgres:")) and "://" not in text:
        raise InvalidInput(f"store {mask(text)!r} is neither a path nor a URL: {ACCEPTED}")
    scheme = _SCHEME.match(text)
    if scheme is not None:
        name = scheme.group(1).lower()
        if name in ("postgresql", "postgres"):
            return StoreSpec("postgresql", text)
        if name == "sqlite":
            path = text[len("sqlite://") :]
            if not path.startswith("/"):
                raise InvalidInput(f"store {text!r}: a sqlite URL needs an absolute path: sqlite:///ABSOLUTE/PATH")
            return StoreSpec("sqlite", path)
        raise InvalidInput(f"store {mask(text)!r}: unknown scheme '{name}': {ACCEPTED}")
    suffix = Path(text).suffix.lower()
    if suffix in SQLITE_SUFFIXES:
        return StoreSpec("sqlite", text)
    return StoreSpec("toml" if suffix == ".toml" else "json", text)


def open_store(text: str, lock_timeout: float) -> Store:
    """The store `--store` names, ready to use (a database is connected to on first use)."""
    spec = parse_spec(text)
    if spec.backend == "postgresql":
        from ocac.store.postgresql import PostgresStore

        return PostgresStore(spec.target, lock_timeout)
    if spec.backend == "sqlite":
        from ocac.store.sqlite import SqliteStore

        return SqliteStore(Path(spec.target), lock_timeout)
    return FileStore(Path(spec.target), lock_timeout)


def refuse_overlap(source: str, destination: str) -> None:
    """Refuse a copy between two stores that share a file: the same store, or one history file."""
    first, second = parse_spec(source), parse_spec(destination)
    shared = _files(first) & _files(second)
    if not shared:
        return
    if first.backend == "postgresql" or fsutil.real_path(Path(first.target)) in shared:
        raise InvalidInput(f"store {second.shown} is the store being copied: name another destination")
    raise InvalidInput(
        f"stores {first.shown} and {second.shown} would share the history {min(shared)}: "
        "give the copy another name or folder"
    )


def _files(spec: StoreSpec) -> set[str | Path]:
    """The files (or the database URL) a store is made of."""
    if spec.path is None:
        return {spec.target}
    path = fsutil.real_path(spec.path)
    return {path} if spec.backend == "sqlite" else {path, fsutil.real_path(trail_path(spec.path))}


def mask(url: str) -> str:
    """A URL with its password (in the authority or as `password=`) replaced by `***`."""
    from urllib.parse import parse_qsl, urlencode, urlsplit  # start-up: see docs/architecture.md

    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
    query = parts.query
    if "password" in query.lower():
        pairs = [(k, "***" if k.lower() == "password" else v) for k, v in parse_qsl(query, keep_blank_values=True)]
        query = urlencode(pairs, safe="/*")
    # not urlunsplit: it drops the "//" of a URL with no host (postgresql:///db?host=/socket)
    text = f"{parts.scheme}://{netloc}{parts.path}"
    return text + (f"?{query}" if query else "") + (f"#{parts.fragment}" if parts.fragment else "")
