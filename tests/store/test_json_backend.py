"""The JSON store: validation names file + conversation + field; unknown data round-trips byte for byte."""

from __future__ import annotations

import difflib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ocac.audit import Audit
from ocac.errors import StoreError
from ocac.model import Action, Channel, State
from ocac.policy import Policy, plan
from ocac.store import Selection, json_backend
from ocac.store.document import Document
from ocac.store.file import FileStore, SweepOutcome

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def conv(
    cid: str, channel: str = "chat", state: str = "open", modified_on: str = "2026-11-25T11:00:00Z", **extra: object
) -> dict[str, object]:
    return {"id": cid, "channel": channel, "state": state, "modified_on": modified_on, **extra}


def write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def load(path: Path, writable: bool = False) -> Document:
    return json_backend.decode(path, path.read_bytes(), writable=writable)


def sweep(path: Path) -> SweepOutcome:
    return FileStore(path, 1).sweep(Policy(), Audit("run", NOW, "tester@host"))


def load_error(path: Path, writable: bool) -> str:
    with pytest.raises(StoreError) as caught:
        load(path, writable=writable)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    return message


# --- validation: every error names the file, the conversation (id or index) and the field ----------------

INVALID = {
    "duplicate id": (
        {"conversations": [conv("a"), conv("b"), conv("a")]},
        ["#3", "'a'", "duplicate id"],
    ),
    "unknown channel": (
        {"conversations": [conv("a"), conv("b", channel="fax")]},
        ["'b'", "#2", "channel", "'fax'", "chat, voice"],
    ),
    "unknown state": (
        {"conversations": [conv("a", state="pending")]},
        ["'a'", "#1", "state", "'pending'", "wrap-up"],
    ),
    "modified_on without offset": (
        {"conversations": [conv("a"), conv("b", modified_on="2026-11-25T11:00:00")]},
        ["'b'", "#2", "modified_on", "offset"],
    ),
    "created_on without offset": (
        {"conversations": [conv("a", created_on="2026-11-25T11:00:00")]},
        ["'a'", "#1", "created_on", "offset"],
    ),
    "not a timestamp": (
        {"conversations": [conv("a", modified_on="yesterday")]},
        ["'a'", "#1", "modified_on", "RFC 3339"],
    ),
    "waiting chat": (
        {"conversations": [conv("a", state="waiting")]},
        ["'a'", "state", "chat", "cannot be waiting"],
    ),
    "waiting voice": (
        {"conversations": [conv("v", channel="voice", state="waiting")]},
        ["'v'", "state", "voice", "cannot be waiting"],
    ),
    "waiting case": (
        {"conversations": [conv("k", channel="case", state="waiting")]},
        ["'k'", "state", "case", "cannot be waiting"],
    ),
    "id of the wrong type": (
        {"conversations": [conv("a"), {**conv("x"), "id": 7}]},
        ["#2", "id"],
    ),
    "missing field": (
        {"conversations": [{"id": "q", "channel": "chat", "state": "open"}]},
        ["'q'", "#1", "modified_on"],
    ),
    "conversation not an object": (
        {"conversations": [conv("a"), 5]},
        ["#2"],
    ),
    "conversations not a list": (
        {"conversations": {"a": conv("a")}},
        ["conversations"],
    ),
    "deleted_records not strings": (
        {"conversations": [], "deleted_records": ["R1", 2]},
        ["deleted_records[1]"],
    ),
    "top level a list": (
        [conv("a")],
        ["top level", "object", "list"],
    ),
    "top level a string": (
        "conversations",
        ["top level", "object"],
    ),
}


@pytest.mark.parametrize("writable", [False, True], ids=["read", "write"])
@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_store_names_file_conversation_and_field(tmp_path: Path, case: str, writable: bool) -> None:
    document, expected = INVALID[case]
    path = write(tmp_path / "store.json", document)
    message = load_error(path, writable)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} missing from {message!r}"


@pytest.mark.parametrize("writable", [False, True], ids=["read", "write"])
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"conversations": [', "not valid JSON"),
        (b'{"conversations": [] ,}', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"", "is empty"),
        (b"  \n\t", "is empty"),
    ],
    ids=["truncated", "trailing comma", "not utf-8", "empty", "whitespace"],
)
def test_unreadable_store_is_named(tmp_path: Path, content: bytes, expected: str, writable: bool) -> None:
    path = tmp_path / "store.json"
    path.write_bytes(content)
    assert expected in load_error(path, writable)


_ROW = b'"channel": "chat", "state": "open", "modified_on": "2026-11-25T11:00:00Z"'
DUPLICATES = {
    "known field": (
        b'{"conversations": [{"id": "a", ' + _ROW + b'}, {"id": "b", ' + _ROW + b', "state": "closed"}]}',
        "conversation 'b' (#2) has the key 'state' twice",
    ),
    "unknown field": (
        b'{"conversations": [{"id": "a", ' + _ROW + b', "note": 1, "note": 2}]}',
        "conversation 'a' (#1) has the key 'note' twice",
    ),
    "nested": (
        b'{"conversations": [{"id": "a", ' + _ROW + b', "customer": {"name": "x", "name": "y"}}]}',
        "conversation 'a' (#1) has the key 'name' twice",
    ),
    "top level": (
        b'{"conversations": [], "deleted_records": [], "conversations": [{"id": "a", ' + _ROW + b"}]}",
        "the top level has the key 'conversations' twice",
    ),
}


@pytest.mark.parametrize("copying", [False, True], ids=["rewrite", "copy"])
@pytest.mark.parametrize("case", list(DUPLICATES))
def test_a_repeated_key_is_refused_before_a_write_naming_the_conversation(
    tmp_path: Path, case: str, copying: bool
) -> None:
    """JSON readers disagree on which of two equal keys wins, and a rewrite would keep one: TOML refuses them."""
    content, expected = DUPLICATES[case]
    path = tmp_path / "store.json"
    path.write_bytes(content)
    assert msgspec.json.decode(content) is not None  # valid JSON all the same
    document = load(path, writable=True)
    with pytest.raises(StoreError) as caught:
        json_backend.require_faithful(document, copying=copying)
    assert str(caught.value).startswith(f"store {path}: ") and expected in str(caught.value)


def test_a_sweep_that_would_rewrite_a_repeated_key_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    content = DUPLICATES["unknown field"][0].replace(b"2026-11-25T11:00:00Z", b"2026-11-01T00:00:00Z")
    path.write_bytes(content)
    with pytest.raises(StoreError, match="has the key 'note' twice"):
        sweep(path)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.glob("*store*")) == ["store.json", "store.json.lock"]  # no history


def test_equal_keys_in_different_objects_are_not_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    path.write_bytes(b'{"conversations": [{"id": "a", ' + _ROW + b', "x": {"id": 1}}, {"id": "b", ' + _ROW + b"}]}")
    document = load(path, writable=True)
    json_backend.require_faithful(document, copying=True)
    assert [c.id for c in document.conversations] == ["a", "b"]


def test_missing_store_is_empty_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "store.json"
    store = FileStore(path, 1)
    assert (list(store.select(Selection())), store.deleted_records(), store.last_sweep()) == ([], [], None)
    assert not path.parent.exists()


def test_fields_are_typed_and_offsets_compared_as_instants(tmp_path: Path) -> None:
    # The same instant in three offsets, and one a minute later, written with fractions.
    path = write(tmp_path / "store.json", {"conversations": [
        conv("utc", modified_on="2026-11-25T11:39:00Z"),
        conv("plus2", modified_on="2026-11-25T13:39:00+02:00"),
        conv("minus5", modified_on="2026-11-25T06:39:00-05:00"),
        conv("later", modified_on="2026-11-25T13:40:00.000+02:00"),
        conv("v", channel="voice", state="wrap-up", workstream="W", record_id="R", created_on="2026-11-01T00:00:00Z"),
    ], "deleted_records": ["R9"]})  # fmt: skip
    document = load(path)
    instants = {c.id: c.modified_on for c in document.conversations}
    assert instants["utc"] == instants["plus2"] == instants["minus5"] == datetime(2026, 11, 25, 11, 39, tzinfo=UTC)
    assert instants["later"] - instants["plus2"] == timedelta(minutes=1)
    voice = document.conversations[4]
    assert (voice.channel, voice.state, voice.workstream, voice.record_id) == (
        Channel.VOICE, State.WRAP_UP, "W", "R",
    )  # fmt: skip
    assert document.deleted_records == {"R9"}

    # chat/open closes after 20 minutes: 21 minutes idle in any offset is due, 20 is not.
    due = plan(document.conversations, Policy(), NOW, document.deleted_records)
    assert sorted(t.id for t in due) == ["minus5", "plus2", "utc"]


# --- round trip -------------------------------------------------------------------------------------------

UNKNOWN_CONVERSATION = (
    b'"score": 1.50e3, "ratio": -0.0, "big": 12345678901234567890123,'
    b' "note": "caf\\u00e9 \\ud83d\\ude00 \\"quoted\\" \\/", "plain": "Chlo\xc3\xa9",'
    b' "nested": {"a": [1, 2.0, {"b": null, "c": true}], "d": {}}, "empty": []'
)
UNKNOWN_TOP = b'"exported_by": {"tool": "x", "version": 1.0E+0, "when": "\\u00e9"}, "schema": 3'


def raw_store(layout: str) -> bytes:
    conversations = [
        b'{"id": "due", "channel": "chat", "state": "open", "modified_on": "2026-11-25T11:00:00Z", '
        + UNKNOWN_CONVERSATION
        + b"}",
        b'{"id": "fresh", "channel": "chat", "state": "open", "modified_on": "2026-11-25T11:59:00+00:00", '
        + UNKNOWN_CONVERSATION
        + b"}",
        b'{"queue": "Q", "id": "voice", "state": "active", "channel": "voice", '
        b'"modified_on": "2026-11-25T13:00:00.500+02:00", "workstream": "Support"}',
    ]
    text = (
        b'{"schema_note": "first", "conversations": ['
        + b", ".join(conversations)
        + b"], "
        + UNKNOWN_TOP
        + b', "deleted_records": ["R1"]}'
    )
    if layout == "compact":
        return text
    return msgspec.json.format(text, indent=2 if layout == "indent2" else 4) + b"\n"


def top_level(data: bytes) -> dict[str, msgspec.Raw]:
    return msgspec.json.decode(data, type=dict[str, msgspec.Raw])


def items(data: bytes) -> list[msgspec.Raw]:
    return msgspec.json.decode(top_level(data)["conversations"], type=list[msgspec.Raw])


def fields(raw: msgspec.Raw) -> dict[str, msgspec.Raw]:
    return msgspec.json.decode(raw, type=dict[str, msgspec.Raw])


@pytest.mark.parametrize("layout", ["compact", "indent2", "indent4"])
def test_sweep_keeps_unknown_values_and_unchanged_conversations_byte_for_byte(tmp_path: Path, layout: str) -> None:
    path = tmp_path / "store.json"
    before = raw_store(layout)
    path.write_bytes(before)

    result = sweep(path)
    assert [(t.id, t.to_state) for t in result.transitions] == [("due", State.CLOSED)]
    after = path.read_bytes()

    # Top level: unknown keys are the same bytes, in the same order; ocac's marker is added.
    old_top, new_top = top_level(before), top_level(after)
    assert list(new_top) == [*old_top, "ocac"]
    for key in ("schema_note", "exported_by", "schema", "deleted_records"):
        assert bytes(new_top[key]) == bytes(old_top[key]), key

    # Unchanged conversations are byte-identical.
    old_items, new_items = items(before), items(after)
    assert len(new_items) == 3
    assert bytes(new_items[1]) == bytes(old_items[1])
    assert bytes(new_items[2]) == bytes(old_items[2])

    # The changed one: same keys in the same order, unknown values as they were, known ones new.
    old_fields, new_fields = fields(old_items[0]), fields(new_items[0])
    assert list(new_fields) == list(old_fields)
    for key in old_fields:
        if key not in ("state", "modified_on"):
            assert bytes(new_fields[key]) == bytes(old_fields[key]), key
    assert bytes(new_fields["state"]) == b'"closed"'
    assert bytes(new_fields["modified_on"]) == b'"2026-11-25T12:00:00Z"'
    assert b"1.50e3" in bytes(new_fields["score"])
    assert b"\\u00e9 \\ud83d\\ude00" in bytes(new_fields["note"])

    if layout == "compact":
        assert b"\n" not in after
    else:
        # Written in the original's layout: the only lines gone are the two changed values and the
        # end of the last key, which the marker now follows.
        diff = list(difflib.ndiff(before.decode().splitlines(), after.decode().splitlines()))
        removed = sorted(line[2:].strip() for line in diff if line.startswith("- "))
        assert removed == ['"modified_on": "2026-11-25T11:00:00Z",', '"state": "open",', "]"]

    # The rewritten store loads to what the sweep did.
    reloaded = load(path)
    assert [c.state for c in reloaded.conversations] == [State.CLOSED, State.OPEN, State.ACTIVE]
    assert reloaded.conversations[0].modified_on == NOW
    assert reloaded.meta.last_sweep is not None and reloaded.meta.last_sweep.moved == 1


def test_fields_of_shows_unknown_fields_as_stored(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    path.write_bytes(raw_store("compact"))
    shown = json_backend.fields_of(load(path, writable=True), 0)
    assert shown["score"] == 1500.0
    assert shown["note"] == 'café \U0001f600 "quoted" /'
    assert shown["plain"] == "Chloé"
    assert shown["nested"] == {"a": [1, 2.0, {"b": None, "c": True}], "d": {}}
    assert list(shown)[:4] == ["id", "channel", "state", "modified_on"]


def test_update_to_equal_values_is_not_a_change(tmp_path: Path) -> None:
    path = write(tmp_path / "store.json", {"conversations": [conv("a")]})
    document = load(path, writable=True)
    document.update(0, msgspec.structs.replace(document.conversations[0]))
    assert not document.dirty


def test_removed_known_field_is_dropped_and_added_one_written(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    path.write_bytes(
        b'{"conversations": [{"id": "a", "channel": "sms", "state": "open", '
        b'"modified_on": "2026-11-25T11:00:00Z", "workstream": "W", "x": 1.0e1}]}'
    )
    store = FileStore(path, 1)
    audit = Audit("run", NOW, "tester@host")
    store.change("a", lambda c: msgspec.structs.replace(c, workstream=None, record_id="R"), Action.TOUCH, audit)
    written = fields(items(path.read_bytes())[0])
    assert "workstream" not in written
    assert bytes(written["record_id"]) == b'"R"'
    assert bytes(written["x"]) == b"1.0e1"


def test_small_one_line_store_with_a_final_newline_stays_one_line(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    kept = b'{"id":"b","channel":"chat","state":"open","modified_on":"2026-11-25T11:59:00Z"}'
    path.write_bytes(
        b'{"conversations":[{"id":"a","channel":"chat","state":"open","modified_on":"2026-11-25T11:00:00Z"},'
        + kept
        + b"]}\n"
    )
    assert len(sweep(path).transitions) == 1
    after = path.read_bytes()
    assert b"\n" not in after.rstrip()
    assert bytes(items(after)[1]) == kept


def test_a_hand_formatted_store_keeps_its_values_and_key_order_but_is_reindented(tmp_path: Path) -> None:
    """The promise for indented stores: values and key order are kept; the layout is the store's indent."""
    path = tmp_path / "store.json"
    path.write_bytes(
        b'{\n   "conversations" : [\n'
        b'      { "id":"due","channel":"chat","state":"open","modified_on":"2026-11-25T11:00:00Z", "x": 1.50 },\n'
        b'      {"z":  [1,2],   "id":"kept","channel":"chat","state":"open","modified_on":"2026-11-25T11:59:00Z"}\n'
        b'   ],\n   "tenant": {"name": "Contoso"}\n}\n'
    )
    assert len(sweep(path).transitions) == 1
    after = path.read_bytes()
    kept = fields(items(after)[1])
    assert list(kept) == ["z", "id", "channel", "state", "modified_on"]
    assert msgspec.json.decode(kept["z"]) == [1, 2] and bytes(fields(items(after)[0])["x"]) == b"1.50"
    assert msgspec.json.decode(top_level(after)["tenant"]) == {"name": "Contoso"}
    assert after.startswith(b'{\n   "conversations": [')  # the store's own three-space indent


def test_a_one_line_json_store_keeps_its_final_newline(tmp_path: Path, cli: Any) -> None:
    store = tmp_path / "one.json"
    store.write_text(
        '{"conversations":[{"id":"a","channel":"chat","state":"open","modified_on":"2026-11-25T10:00:00Z"}]}\n'
    )
    result = cli("--store", str(store), "sweep", "run", "--now", "2026-11-25T12:00:00Z", "--quiet")
    assert result.exit_code == 0, result.output
    text = store.read_text()
    assert text.endswith("}\n") and text.count("\n") == 1 and '"state":"closed"' in text
