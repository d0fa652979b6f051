"""Reading conversations from files to import: a JSON list, a store-shaped object, CSV, or Dataverse.

All-or-nothing: the first bad row rejects the file, naming the row (or CSV line) and field.
Each format has a reader in `READERS`; `read_import_files` reads several files as one import.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import msgspec

from ocac import fsutil
from ocac.errors import ImportFileError, InvalidInput
from ocac.instants import parse_instant
from ocac.model import KNOWN_FIELDS, Conversation, parse_channel, parse_state, waiting_problem, workstream_key
from ocac.policy import Policy
from ocac.store.base import Incoming


class Format(StrEnum):
    """The formats `conversations import` reads."""

    AUTO = "auto"
    JSON = "json"
    CSV = "csv"
    DATAVERSE = "dataverse"


class ImportFile(msgspec.Struct):
    """What import files bring: conversations, deleted records (store-shaped files), and what was skipped."""

    conversations: list[Incoming]
    deleted_records: list[str] = msgspec.field(default_factory=list)
    skipped: list[str] = msgspec.field(default_factory=list)
    """Ids (or row numbers) of rows left out by a documented rule."""
    warnings: list[str] = msgspec.field(default_factory=list)
    next_links: list[Path] = msgspec.field(default_factory=list)
    """Files that are one page of a longer export (a Dataverse page with `@odata.nextLink`)."""


class ReadOptions(msgspec.Struct, frozen=True):
    """What some readers need besides the file."""

    persistent_workstreams: frozenset[str] = frozenset()
    policy: Policy = msgspec.field(default_factory=Policy)
    """The configuration, whose workstreams Dataverse rows are matched with."""


Reader = Callable[[Path, bytes, ReadOptions], ImportFile]


def read_json(path: Path, data: bytes, options: ReadOptions) -> ImportFile:
    """A JSON list of conversations, or a store-shaped object (its deleted records come along)."""
    raws, top = json_list(
        path, data, key="conversations", item_type=dict[str, msgspec.Raw], what="conversation objects",
        shape="a list of conversations or an object with 'conversations'",
    )  # fmt: skip
    rows = [(f"row {index + 1}", dict(row)) for index, row in enumerate(raws)]
    return ImportFile(_incoming_rows(path, rows), _deleted_records(path, top))


def read_csv(path: Path, data: bytes, options: ReadOptions) -> ImportFile:
    """CSV with a header naming the columns."""
    return ImportFile(_incoming_rows(path, _csv_rows(path, data)))


def read_dataverse(path: Path, data: bytes, options: ReadOptions) -> ImportFile:
    """A page of a Web API export of Omnichannel's conversation table (docs/dataverse.md)."""
    from ocac.dataverse import read_conversations  # dataverse.py uses json_list: imported here, not in a cycle

    page = read_conversations(
        path, data, policy=options.policy, persistent_workstreams=options.persistent_workstreams
    )  # fmt: skip
    skipped = [row.id for row in page.skipped]
    return ImportFile(page.incoming, [], skipped, page.warnings(path), [path] if page.next_link else [])


READERS: dict[Format, Reader] = {Format.JSON: read_json, Format.CSV: read_csv, Format.DATAVERSE: read_dataverse}


def reader_for(path: Path, file_format: Format) -> Reader:
    """The reader of a format; `auto` goes by the file's extension (.csv, else JSON)."""
    if file_format is Format.AUTO:
        file_format = Format.CSV if path.suffix.lower() == ".csv" else Format.JSON
    return READERS[file_format]


def read_import_file(path: Path) -> bytes:
    """An import file's bytes (conversations, channel-state records, workstreams); a missing one is refused."""
    data = fsutil.read_bytes(path, "import file")
    if data is None:
        raise ImportFileError(f"import file {path} does not exist")
    return data


def read_import_files(
    paths: Sequence[Path], file_format: Format, persistent: set[str], policy: Policy | None = None
) -> ImportFile:
    """Read every file, as one import: an id may appear once across them all; pages must end the export."""
    options = ReadOptions(frozenset(persistent), policy or Policy())
    merged = ImportFile([])
    first: dict[str, Path] = {}
    for path in paths:
        part = reader_for(path, file_format)(path, read_import_file(path), options)
        for item in part.conversations:
            other = first.setdefault(item.conversation.id, path)
            if other != path:
                raise ImportFileError(f"{path}: id '{item.conversation.id}' is also in {other}: an id may appear once")
        merged.conversations.extend(part.conversations)
        merged.deleted_records.extend(part.deleted_records)
        merged.skipped.extend(part.skipped)
        merged.warnings.extend(part.warnings)
        merged.next_links.extend(part.next_links)
    _check_last_page(paths, merged.next_links)
    return merged


def _check_last_page(paths: Sequence[Path], next_links: Sequence[Path]) -> None:
    """Pages given to one import must include the export's last page, the one without a nextLink."""
    if not next_links or len(next_links) < len(paths):
        return
    if len(paths) == 1:
        raise ImportFileError(
            f"{paths[0]} is one page of a longer export (it has @odata.nextLink): fetch the remaining pages "
            "(GET each page's @odata.nextLink until a page has none) and give every page file to one import"
        )
    raise ImportFileError(
        "every file given has @odata.nextLink, so the export's last page is missing: fetch the page the last "
        f"one links to (and any after it) and give every page file to one import ({', '.join(map(str, paths))})"
    )


def _incoming_rows(path: Path, rows: list[tuple[str, dict[str, Any]]]) -> list[Incoming]:
    incoming = [_incoming(path, where, row) for where, row in rows]
    _check_unique(path, incoming, [where for where, _ in rows])
    return incoming


def json_list(
    path: Path, data: bytes, *, key: str, item_type: Any, what: str, shape: str
) -> tuple[list[Any], dict[str, msgspec.Raw]]:
    """The items of a JSON list, or of the list under `key` of an object (with that object's entries).

    The whole file must be UTF-8, since fields ocac does not read are copied into the store as
    they are. `what` names the items and `shape` the accepted documents, for error messages.
    """
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ImportFileError(f"{path} is not UTF-8 text (byte {error.start})") from None
    try:
        document = msgspec.json.decode(data, type=list[item_type] | dict[str, msgspec.Raw])
        if not isinstance(document, dict):
            return document, {}
        if key not in document:
            raise ImportFileError(f"{path}: expected {shape}")
        return msgspec.json.decode(document[key], type=list[item_type]), document
    except msgspec.ValidationError as error:
        raise ImportFileError(f"{path}: {error}: expected a list of {what}") from None
    except msgspec.DecodeError as error:
        raise ImportFileError(f"{path} is not valid JSON ({error})") from None
    except RecursionError:
        raise ImportFileError(f"{path}: JSON nested too deeply") from None


def _deleted_records(path: Path, top: Mapping[str, msgspec.Raw]) -> list[str]:
    if "deleted_records" not in top:
        return []
    try:
        return msgspec.json.decode(top["deleted_records"], type=list[str])
    except msgspec.MsgspecError as error:
        raise ImportFileError(f"{path}: deleted_records: {error}: expected a list of record ids") from None


def _csv_rows(path: Path, data: bytes) -> list[tuple[str, dict[str, Any]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFileError(f"{path} is not UTF-8 text (byte {error.start})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise ImportFileError(
            f"{path}: empty CSV; the first line must name the columns (id,channel,state,modified_on…)"
        )
    repeated = sorted({name for name in reader.fieldnames if reader.fieldnames.count(name) > 1})
    if repeated:
        raise ImportFileError(f"{path}: line 1: column '{repeated[0]}' appears twice in the header")
    missing = [name for name in ("id", "channel", "modified_on") if name not in reader.fieldnames]
    if missing:
        raise ImportFileError(
            f"{path}: line 1: the header has no {', '.join(repr(m) for m in missing)} column: "
            "the first line must name the columns (id,channel,state,modified_on…)"
        )
    rows = []
    try:
        for row in reader:
            if None in row:
                raise ImportFileError(f"{path}: line {reader.line_num}: more values than columns")
            rows.append((f"line {reader.line_num}", {k: v for k, v in row.items() if v not in ("", None)}))
    except csv.Error as error:
        raise ImportFileError(f"{path}: line {reader.line_num}: {error}") from None
    return rows


def _text(value: Any, where: str, field: str) -> str:
    if isinstance(value, msgspec.Raw):
        try:
            value = msgspec.json.decode(value)
        except msgspec.DecodeError:  # pragma: no cover - Raw slices are valid JSON
            value = None
    if not isinstance(value, str):
        raise InvalidInput(f"{where}: {field}: expected a string")
    return value


def _incoming(path: Path, where: str, row: dict[str, Any]) -> Incoming:
    optional = ("workstream", "record_id", "created_on", "network")
    row = {k: v for k, v in row.items() if not (k in optional and v == msgspec.Raw(b"null"))}  # null: absent
    try:
        for required in ("id", "channel", "modified_on"):
            if required not in row:
                raise InvalidInput(f"{where}: missing '{required}'")
        fields: dict[str, Any] = {
            "id": _text(row["id"], where, "id"),
            "channel": parse_channel(_text(row["channel"], where, "channel")),
            "state": parse_state(_text(row.get("state", msgspec.Raw(b'"open"')), where, "state")),
            "modified_on": parse_instant(_text(row["modified_on"], where, "modified_on"), "modified_on"),
        }
        for name in ("workstream", "record_id", "network"):
            if name in row:
                fields[name] = _text(row[name], where, name)
        if "workstream" in fields:
            fields["workstream"] = workstream_key(fields["workstream"])
        if "created_on" in row:
            fields["created_on"] = parse_instant(_text(row["created_on"], where, "created_on"), "created_on")
    except InvalidInput as error:
        message = str(error)
        prefix = "" if message.startswith(where) else f"{where}: "
        raise ImportFileError(f"{path}: {prefix}{message}") from None
    conversation = Conversation(**fields)
    if not conversation.id:
        raise ImportFileError(f"{path}: {where}: id: must not be empty")
    problem = waiting_problem(conversation.channel, conversation.state)
    if problem:
        raise ImportFileError(f"{path}: {where}: state: {problem}")
    extra = {k: v for k, v in row.items() if k not in KNOWN_FIELDS}
    return Incoming(conversation, extra)


def _check_unique(path: Path, incoming: list[Incoming], places: list[str]) -> None:
    seen: set[str] = set()
    for where, item in zip(places, incoming, strict=True):
        if item.conversation.id in seen:
            raise ImportFileError(f"{path}: {where}: duplicate id '{item.conversation.id}' in the file")
        seen.add(item.conversation.id)
