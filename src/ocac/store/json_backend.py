"""The JSON store: decoded with msgspec, written back byte-for-byte where nothing changed.

A store is decoded twice over the same buffer: once into typed `Conversation`s (what the
policy reads) and, only when writing, into one raw slice per conversation. Unchanged
conversations are copied out as their original bytes; changed ones are re-encoded with their
unknown fields still as raw slices, so values round-trip exactly.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec

from ocac.errors import StoreError
from ocac.model import KNOWN_FIELDS, Channel, Conversation, State
from ocac.store.document import MARKER_KEY, Document, StoreMeta, decode_json, stored_value, validate

_BATCH = 8192
_INDENT = re.compile(rb"\n( +)\S")
_PRETTY_LIMIT = 64 * 1024 * 1024
_DUPLICATE_CHECK_LIMIT = 64 * 1024 * 1024
"""Stores up to this size are checked for repeated keys before they are written or copied."""


class _View(msgspec.Struct):
    conversations: list[Conversation] = []
    deleted_records: list[str] = []
    ocac: StoreMeta = msgspec.field(default_factory=StoreMeta)


_object_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
"""An object's entries as raw slices: the store's top level, or one conversation's fields."""
_view_decoder = msgspec.json.Decoder(_View)
_raw_list_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_encoder = msgspec.json.Encoder()


def decode(path: Path, data: bytes, *, writable: bool) -> Document:
    """Parse and validate a JSON store; `writable` keeps what is needed to write it back."""
    if not data or data.isspace():
        raise StoreError(
            f'store {path} is empty: a store is a JSON object such as {{"conversations": []}}; restore it or remove it'
        )
    try:
        view = _view_decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        _require_utf8(path, data)  # only on this path: a valid store is checked by the decoder itself
        raise _describe(path, data, error) from None
    except RecursionError:
        raise StoreError(f"store {path}: JSON nested too deeply to read") from None
    except UnicodeDecodeError:
        _require_utf8(path, data)
        raise
    conversations, deleted, meta = view.conversations, view.deleted_records, view.ocac
    state = _State(data) if writable else None
    validate(path, conversations)
    return Document(path, conversations, set(deleted), meta, state, len(conversations))


def require_faithful(document: Document, *, copying: bool) -> None:
    """Refuse a store that a rewrite (or, `copying`, a copy) would not carry as it is.

    An object that repeats a key keeps only one value once re-encoded (JSON readers disagree on
    which: TOML refuses such a file outright); a copy also needs every byte to be UTF-8 text.
    Looked for in stores up to `_DUPLICATE_CHECK_LIMIT`: the full parse costs about 20 ms per MB,
    paid only by commands that write, and a no-op sweep writes nothing.
    """
    state: _State | None = document.backend_state
    if state is None:
        return
    if len(state.data) <= _DUPLICATE_CHECK_LIMIT:
        _refuse_duplicate_keys(document.path, state.data)  # decodes the text: UTF-8 checked too
    elif copying:
        _require_utf8(document.path, state.data)


def _require_utf8(path: Path, data: bytes) -> None:
    """Refuse a store that is not UTF-8, naming the first bad byte."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise StoreError(
            f"store {path} is not UTF-8 text (byte {error.start}): fix the file or restore a backup"
        ) from None


class _DuplicateKey(Exception):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> None:
    """An `object_pairs_hook` that builds nothing and stops at the first repeated key."""
    if len(pairs) > 1:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)


def _refuse_duplicate_keys(path: Path, data: bytes) -> None:
    """Refuse a store in which an object repeats a key (JSON readers disagree on which one wins)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        _require_utf8(path, data)
        raise
    try:
        json.loads(text, object_pairs_hook=_unique_pairs)
    except (ValueError, RecursionError):  # the decoder above is the judge of valid JSON
        return
    except _DuplicateKey as duplicate:
        where = _duplicate_location(data)
        raise StoreError(
            f"store {path}: {where}has the key '{duplicate.args[0]}' twice: keep one and remove the other"
        ) from None


def _duplicate_location(data: bytes) -> str:
    """`conversation 'ID' (#N) ` for the first conversation repeating a key, else `the top level `."""
    for index, raw in enumerate(_State(data).raws):
        try:
            json.loads(bytes(raw), object_pairs_hook=_unique_pairs)
        except _DuplicateKey:
            return f"{_conversation_name(data, index)} "
    return "the top level "


class _State:
    """The original buffer; its top-level entries are sliced out only when writing."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pretty = b"\n" in data[:256].rstrip() and len(data) < _PRETTY_LIMIT  # not a final newline alone
        found = _INDENT.search(data, 0, 256)
        self.indent = len(found.group(1)) if found else 2
        """The original's indentation, so that unchanged conversations are written as they were."""

    @functools.cached_property
    def top(self) -> dict[str, msgspec.Raw]:
        """Each top-level key's value as a raw slice of the original buffer."""
        return _object_decoder.decode(self.data)

    @functools.cached_property
    def raws(self) -> list[msgspec.Raw]:
        """Each original conversation as a raw slice of the original buffer."""
        raw_list = self.top.get("conversations")
        return [] if raw_list is None else _raw_list_decoder.decode(raw_list)


_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<where>[^`]*)`)?$", re.S)
_ITEM = re.compile(r"^\.conversations\[(?P<index>\d+)\](?:\.(?P<field>\w+))?(?P<rest>.*)$")


def _describe(path: Path, data: bytes, error: Exception) -> StoreError:
    """One line naming the file, the conversation and the field."""
    text = str(error)
    if isinstance(error, msgspec.DecodeError) and not isinstance(error, msgspec.ValidationError):
        return StoreError(f"store {path} is not valid JSON ({text}): fix the file or restore a backup")
    match = _PATH.match(text)
    assert match is not None
    message, where = match.group("message"), match.group("where") or ""
    message = message.replace("Expected `object`, got `array`", "expected an object, found a list")
    item = _ITEM.match(where)
    if not where:
        return StoreError(f"store {path}: the top level must be an object with a 'conversations' list ({message})")
    if item is None:
        return StoreError(f"store {path}: {where.lstrip('.')}: {message}")
    index = int(item.group("index"))
    name = _conversation_name(data, index)
    field = item.group("field")
    if field is None:
        return StoreError(f"store {path}: {name}: {_friendly(message, '')}")
    where = f"{field}{item.group('rest')}"
    return StoreError(f"store {path}: {name}: {where}: {_friendly(message, field)}")


def _friendly(message: str, field: str) -> str:
    if "timezone component" in message:
        return "timestamp has no offset: use RFC 3339 with Z or +hh:mm, e.g. 2026-11-25T12:00:00Z"
    if message.startswith("Invalid enum value"):
        kind = {"channel": Channel, "state": State}.get(field)
        allowed = f"; use one of {', '.join(kind)}" if kind else ""
        return message.replace("Invalid enum value", "unknown value") + allowed
    if message.startswith("Invalid RFC3339"):
        return "invalid timestamp: use RFC 3339 with an offset, e.g. 2026-11-25T12:00:00Z"
    return message


def _conversation_name(data: bytes, index: int) -> str:
    """`conversation 'ID' (#N)` when the id can be read, else `conversation #N`."""
    try:
        conversation_id = msgspec.json.decode(_State(data).raws[index], type=dict[str, Any]).get("id")
    except (msgspec.MsgspecError, KeyError, IndexError, RecursionError):
        conversation_id = None
    if isinstance(conversation_id, str):
        return f"conversation '{conversation_id}' (#{index + 1})"
    return f"conversation #{index + 1}"


def encode(document: Document) -> Iterator[bytes]:
    """The store as chunks of JSON; unchanged parts are the original bytes."""
    state: _State | None = document.backend_state
    top: dict[str, Any] = dict(state.top) if state else {}
    top.setdefault("conversations", None)
    if "deleted_records" in document.top_changed:
        top["deleted_records"] = sorted(document.deleted_records)
    if MARKER_KEY in document.top_changed:
        top[MARKER_KEY] = document.meta
    if state is not None and state.pretty:
        yield msgspec.json.format(b"".join(_encode_top(document, top)), indent=state.indent)
        yield b"\n"
        return
    yield from _encode_top(document, top)
    if state is None or state.data.endswith(b"\n"):
        yield b"\n"  # a text file ends with a newline, unless the original did not


def _encode_top(document: Document, top: dict[str, Any]) -> Iterator[bytes]:
    yield b"{"
    for position, (key, value) in enumerate(top.items()):
        yield (b"," if position else b"") + _encoder.encode(key) + b":"
        if key == "conversations":
            yield from _encode_conversations(document, value)
        else:
            yield _encoder.encode(value)
    yield b"}"


def _encode_conversations(document: Document, raw_list: msgspec.Raw | None) -> Iterator[bytes]:
    """The conversations array: original slices, with changed and new conversations encoded."""
    state: _State | None = document.backend_state
    raws: list[msgspec.Raw] = [] if raw_list is None or document.cleared or state is None else state.raws
    items: list[bytes | msgspec.Raw] = list(raws[: len(document.conversations)])
    conversations = document.conversations
    values = _ValueCache()
    for index, fields in document.changed.items():
        items[index] = _encode_changed(_raw_fields(document, index), conversations[index], fields, values)
    for index, extra in document.replaced.items():
        encoded = _encode_whole(conversations[index], extra)
        if index < len(items):
            items[index] = encoded
        else:
            items.append(encoded)
    yield b"["
    for start in range(0, len(items), _BATCH):
        yield (b"," if start else b"") + b",".join(items[start : start + _BATCH])
    yield b"]"


class _ValueCache(dict[object, msgspec.Raw]):
    """Encoded known-field values: a sweep writes the same few states and instants many times."""

    def __missing__(self, value: object) -> msgspec.Raw:
        raw = self[value] = msgspec.Raw(_encoder.encode(stored_value(value)))
        return raw


def _encode_changed(
    fields: dict[str, msgspec.Raw], conversation: Conversation, names: frozenset[str], values: _ValueCache
) -> bytes:
    """The stored fields with the changed ones replaced: every other value stays a raw slice."""
    for name in names:
        value = getattr(conversation, name)
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = values[value]
    return _encoder.encode(fields)


def _encode_whole(conversation: Conversation, extra: Mapping[str, Any]) -> bytes:
    fields: dict[str, Any] = {}
    for name in KNOWN_FIELDS:
        value = getattr(conversation, name)
        if value is not None:
            fields[name] = stored_value(value)
    for name, value in extra.items():
        if name not in fields and name not in KNOWN_FIELDS:
            fields[name] = value
    return _encoder.encode(fields)


def fields_of(document: Document, index: int) -> dict[str, Any]:
    """The stored fields of the conversation at `index`."""
    state: _State | None = document.backend_state
    if state is None or index in document.changed or index in document.replaced:
        return msgspec.to_builtins(document.conversations[index])  # type: ignore[no-any-return]
    conversation = document.conversations[index]
    fields = {}
    for name, raw in _raw_fields(document, index).items():
        try:
            fields[name] = decode_json(raw)
        except StoreError as error:
            raise StoreError(f"store {document.path}: conversation '{conversation.id}': {name}: {error}") from None
    return fields


def _raw_fields(document: Document, index: int) -> dict[str, msgspec.Raw]:
    """The stored fields of the conversation at `index` as raw slices; a key that is not UTF-8 is named."""
    state: _State = document.backend_state
    try:
        return _object_decoder.decode(state.raws[index])
    except msgspec.DecodeError:
        conversation = document.conversations[index]
        raise StoreError(
            f"store {document.path}: conversation '{conversation.id}': a key that is not UTF-8 text: "
            "fix the file or restore a backup"
        ) from None


def extras_of(document: Document, index: int) -> dict[str, Any]:
    """The unknown fields of the conversation at `index`, as raw JSON slices (they copy exactly)."""
    if index in document.replaced:
        return {k: v for k, v in document.replaced[index].items() if k not in KNOWN_FIELDS}
    state: _State | None = document.backend_state
    if state is None or document.cleared or index >= len(state.raws):
        return {}
    return {k: v for k, v in _raw_fields(document, index).items() if k not in KNOWN_FIELDS}
