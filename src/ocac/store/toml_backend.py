"""The TOML store: the same content as the JSON store, as `[[conversations]]` tables.

Edited through tomlkit so that comments, layout and unknown keys survive a rewrite. Meant for
small, hand-kept stores; large stores belong in JSON.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec

from ocac.errors import StoreError
from ocac.model import KNOWN_FIELDS, Conversation
from ocac.store.document import MARKER_KEY, Document, StoreMeta, plain_value, stored_value, validate


def decode(path: Path, data: bytes, *, writable: bool) -> Document:
    """Parse and validate a TOML store.

    The standard library's parser reads it (fast, and strict: a key given twice is refused);
    tomlkit, which keeps comments and layout but is many times slower, only when it will be written.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise StoreError(f"store {path} is not UTF-8 text (byte {error.start})") from None
    try:
        plain = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise StoreError(f"store {path} is not valid TOML ({error}): fix the file") from None
    except RecursionError:
        raise StoreError(f"store {path}: nested too deeply to read: fix the file") from None
    parsed = _editable(path, text) if writable else None
    items = plain.get("conversations", [])
    if not isinstance(items, list):
        raise StoreError(f"store {path}: conversations: expected [[conversations]] tables")
    conversations = [_conversation(path, index, item) for index, item in enumerate(items)]
    deleted = plain.get("deleted_records", [])
    try:
        deleted_list = msgspec.convert(deleted, list[str])
        meta = msgspec.convert(plain.get(MARKER_KEY, {}), StoreMeta)
    except msgspec.ValidationError as error:
        raise StoreError(f"store {path}: {error}") from None
    validate(path, conversations)
    return Document(path, conversations, set(deleted_list), meta, parsed, len(conversations))


def _editable(path: Path, text: str) -> Any:
    """The store as tomlkit's document, to be edited in place."""
    import tomlkit  # only where a store is written: it costs start-up time
    from tomlkit.exceptions import TOMLKitError

    try:
        return tomlkit.parse(text)
    except TOMLKitError as error:
        raise StoreError(f"store {path} is not valid TOML ({error}): fix the file") from None


def _conversation(path: Path, index: int, item: object) -> Conversation:
    name = f"conversation #{index + 1}"
    if isinstance(item, Mapping) and isinstance(item.get("id"), str):
        name = f"conversation '{item['id']}' (#{index + 1})"
    try:
        return msgspec.convert(item, Conversation, strict=False)
    except msgspec.ValidationError as error:
        message = str(error).replace(" - at `$.", ": ").replace(" - at `$", "").rstrip("`")
        raise StoreError(f"store {path}: {name}: {message}") from None


def encode(document: Document) -> Iterator[bytes]:
    """The store as TOML text, edited in place."""
    import tomlkit  # only where a store is written: it costs start-up time
    from tomlkit.items import AoT

    parsed = document.backend_state if document.backend_state is not None else tomlkit.document()
    originals = list(parsed.get("conversations", []))
    tables = AoT([], parsed=True)  # as parsed: tomlkit adds no blank line before tables that have theirs
    for index, conversation in document.entries():
        if index in document.replaced:
            tables.append(_new_table(document, index, originals, tables))
        else:
            tables.append(_changed_table(originals[index], conversation, document.changed.get(index, ())))
    parsed["conversations"] = tables
    if "deleted_records" in document.top_changed:
        parsed["deleted_records"] = sorted(document.deleted_records)
    if MARKER_KEY in document.top_changed:
        parsed[MARKER_KEY] = msgspec.to_builtins(document.meta)
    try:
        text = tomlkit.dumps(parsed)
    except (TypeError, ValueError) as error:
        raise StoreError(f"store {document.path}: cannot be written as TOML ({error}): use a .json store") from None
    yield text.encode("utf-8")


def _new_table(document: Document, index: int, originals: list[Any], tables: list[Any]) -> Any:
    """A conversation written whole, with the blank lines around it that its neighbours have."""
    import tomlkit

    conversation = document.conversations[index]
    try:
        table = _table(conversation, document.replaced[index])
    except _Unwritable as field:
        raise StoreError(
            f"store {document.path}: conversation '{conversation.id}': field '{field}' holds a value TOML "
            "cannot hold (such as a number beyond a 64-bit float): use a .json store"
        ) from None
    if index < len(originals) and originals[index].as_string().endswith("\n\n"):
        table.add(tomlkit.nl())  # the blank line the table it replaces had after it
    elif index and not tables[index - 1].as_string().endswith("\n\n"):
        table.trivia.indent = "\n"  # a blank line before a new table, added once
    return table


def _changed_table(table: Any, conversation: Conversation, names: Iterable[str]) -> Any:
    """An original table with the known fields that changed written in place."""
    for name in names:
        value = getattr(conversation, name)
        if value is None:
            table.pop(name, None)
        else:
            table[name] = stored_value(value)
    return table


def _table(conversation: Conversation, extra: Mapping[str, Any]) -> Any:
    import tomlkit

    table = tomlkit.table()
    for name in KNOWN_FIELDS:
        value = getattr(conversation, name)
        if value is not None:
            table[name] = stored_value(value)
    for name, value in extra.items():
        plain = plain_value(value)
        if name not in KNOWN_FIELDS and plain is not None:  # TOML has no null: an absent key says it
            try:
                table[name] = plain
            except (TypeError, ValueError):
                raise _Unwritable(name) from None
    return table


class _Unwritable(Exception):
    """An unknown field whose value TOML cannot hold; the exception's text is the field's name."""


def fields_of(document: Document, index: int) -> dict[str, Any]:
    """The stored fields of the conversation at `index`."""
    if document.backend_state is None:
        return msgspec.to_builtins(document.conversations[index])  # type: ignore[no-any-return]
    table = document.backend_state["conversations"][index].unwrap()
    return {k: stored_value(v) for k, v in table.items()}


def require_faithful(document: Document, *, copying: bool) -> None:
    """A TOML store was read as text (UTF-8 already), and a repeated key does not parse."""


def extras_of(document: Document, index: int) -> dict[str, Any]:
    """The unknown fields of the conversation at `index`, as plain values."""
    if index in document.replaced:
        return {k: plain_value(v) for k, v in document.replaced[index].items() if k not in KNOWN_FIELDS}
    return {k: v for k, v in fields_of(document, index).items() if k not in KNOWN_FIELDS}
