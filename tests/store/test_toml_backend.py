"""The TOML store: the same content and operations as the JSON store, comments and unknown keys kept."""

from __future__ import annotations

import json
import os
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from conftest import SAMPLE, SAMPLE_NOW
from ocac.errors import StoreError
from ocac.model import State
from ocac.store import json_backend, toml_backend
from ocac.store.document import Document

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)

HAND_KEPT = """\
# Conversations kept by hand.
deleted_records = ["R1"]
exported_by = {tool = "x", version = 1.50e3}  # unknown top-level key

[[conversations]]
id = "due"
channel = "chat"
state = "open"
modified_on = "2026-11-25T11:00:00Z"
queue = "Web"   # a comment on an unknown key
score = 1.50e3
nested = {k = [1, 2], u = "\\u00e9"}

[[conversations]]
# native TOML datetime with an offset: 11:39Z, 21 minutes before NOW
id = "native"
channel = "chat"
state = "open"
modified_on = 2026-11-25T13:39:00+02:00

[[conversations]]
id = "fresh"
channel = "chat"
state = "open"
modified_on = 2026-11-25T13:40:00+02:00
note = "untouched"

[[conversations]]
id = "case"
channel = "case"
state = "active"
record_id = "R1"
modified_on = "2026-11-25T11:59:00Z"
"""


def _load(path: Path, writable: bool = False) -> Document:
    backend = toml_backend if path.suffix == ".toml" else json_backend
    return backend.decode(path, path.read_bytes(), writable=writable)  # type: ignore[attr-defined]


def _fields_of(document: Document, index: int) -> dict[str, object]:
    backend = toml_backend if document.path.suffix == ".toml" else json_backend
    return backend.fields_of(document, index)  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
def toml_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "kept.toml"  # not "conversations": the JSON sample beside it has its own history
    monkeypatch.setenv("OCAC_STORE", str(path))
    return path


def sample_as_toml(path: Path) -> None:
    document = json.loads((SAMPLE / "conversations.json").read_text(encoding="utf-8"))
    path.write_text(tomlkit.dumps(document), encoding="utf-8")


def states(path: Path) -> dict[str, tuple[str, datetime]]:
    return {c.id: (str(c.state), c.modified_on) for c in _load(path).conversations}


def test_sample_as_toml_has_the_same_content(tmp_path: Path) -> None:
    path = tmp_path / "conversations.toml"
    sample_as_toml(path)
    as_toml, as_json = _load(path, writable=True), _load(SAMPLE / "conversations.json", writable=True)
    assert as_toml.conversations == as_json.conversations
    assert as_toml.deleted_records == as_json.deleted_records
    assert _fields_of(as_toml, 1) == _fields_of(as_json, 1)


def test_sweep_on_toml_store_matches_json_store(cli, sample_store: Path, toml_store: Path) -> None:  # type: ignore[no-untyped-def]
    sample_as_toml(toml_store)
    on_toml = cli("sweep", "run", "--now", SAMPLE_NOW, "--json")
    assert on_toml.exit_code == 0, on_toml.stderr
    on_json = cli("--store", str(sample_store), "sweep", "run", "--now", SAMPLE_NOW, "--json")
    assert on_json.exit_code == 0, on_json.stderr

    def moves(output: str) -> list[tuple[str, str, str]]:
        return [(t["id"], t["to"], t["reason"]) for t in json.loads(output)["transitions"]]

    expected = json.loads((SAMPLE / "expected-sweep.json").read_text())
    assert len(moves(on_toml.stdout)) == expected["due_count"] == 69
    assert moves(on_toml.stdout) == moves(on_json.stdout)
    assert states(toml_store) == states(sample_store)
    swept_toml, swept_json = _load(toml_store, writable=True), _load(sample_store, writable=True)
    for index in range(len(swept_json.conversations)):
        assert _fields_of(swept_toml, index) == _fields_of(swept_json, index)
    assert swept_toml.meta.last_sweep is not None and swept_toml.meta.last_sweep.moved == 69

    history = cli("history", "--json")
    assert history.exit_code == 0, history.stderr
    assert [(e["id"], e["to"], e["reason"]) for e in json.loads(history.stdout)] == moves(on_toml.stdout)

    # A second sweep at the same instant changes nothing and does not rewrite the file.
    before = os.stat(toml_store)
    again = cli("sweep", "run", "--now", SAMPLE_NOW, "--json")
    assert json.loads(again.stdout)["transitions"] == []
    after = os.stat(toml_store)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_sweep_keeps_comments_and_unknown_keys(cli, toml_store: Path) -> None:  # type: ignore[no-untyped-def]
    toml_store.write_text(HAND_KEPT, encoding="utf-8")
    result = cli("sweep", "run", "--now", "2026-11-25T12:00:00Z", "--json")
    assert result.exit_code == 0, result.stderr
    moved = {(t["id"], t["to"], t["reason"]) for t in json.loads(result.stdout)["transitions"]}
    assert moved == {
        ("due", "closed", "AutoClosedBySystem"),
        ("native", "closed", "AutoClosedBySystem"),
        ("case", "closed", "RecordDeleted"),
    }
    text = toml_store.read_text(encoding="utf-8")
    for kept in (
        "# Conversations kept by hand.",
        'exported_by = {tool = "x", version = 1.50e3}  # unknown top-level key',
        'queue = "Web"   # a comment on an unknown key',
        "score = 1.50e3",
        'nested = {k = [1, 2], u = "\\u00e9"}',
        "modified_on = 2026-11-25T13:40:00+02:00",
        'note = "untouched"',
        'deleted_records = ["R1"]',
    ):
        assert kept in text, kept
    reloaded = states(toml_store)
    assert reloaded == {
        "due": ("closed", NOW),
        "native": ("closed", NOW),
        "fresh": ("open", datetime(2026, 11, 25, 11, 40, tzinfo=UTC)),
        "case": ("closed", NOW),
    }
    document = _load(toml_store, writable=True)
    assert _fields_of(document, 0)["nested"] == {"k": [1, 2], "u": "é"}
    assert document.meta.last_sweep is not None and document.meta.last_sweep.moved == 3


def test_commands_work_on_a_toml_store(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    nested = tmp_path / "sub" / "dir" / "store.toml"
    run = lambda *args: cli("--store", str(nested), *args)  # noqa: E731
    assert (
        run(
            "conversations",
            "add",
            "--channel",
            "teams",
            "--id",
            "t1",
            "--workstream",
            "IT",
            "--now",
            "2026-11-25T10:00:00Z",
        ).exit_code
        == 0
    )
    assert nested.exists()
    assert "[[conversations]]" in nested.read_text()
    assert run("conversations", "set-state", "t1", "active", "--now", "2026-11-25T10:20:00Z").exit_code == 0
    assert run("conversations", "set-state", "t1", "waiting", "--now", "2026-11-25T10:30:00Z").exit_code == 0
    assert run("conversations", "touch", "t1", "--now", "2026-11-25T11:00:00Z").exit_code == 0
    source = tmp_path / "in.csv"
    source.write_text("id,channel,state,modified_on,record_id,queue\nk1,case,open,2026-11-20T00:00:00Z,R5,Q\n")
    assert run("conversations", "import", str(source)).exit_code == 0
    assert run("records", "delete", "R5").exit_code == 0
    listed = run("conversations", "list", "--json", "--now", "2026-11-25T12:00:00Z")
    assert [(r["id"], r["state"], r["due"]) for r in json.loads(listed.stdout)] == [
        ("k1", "open", True), ("t1", "waiting", False),
    ]  # fmt: skip
    swept = run("sweep", "run", "--json", "--now", "2026-11-25T12:00:00Z")
    assert [(t["id"], t["reason"]) for t in json.loads(swept.stdout)["transitions"]] == [("k1", "RecordDeleted")]
    document = _load(nested, writable=True)
    assert [(c.id, c.state) for c in document.conversations] == [("t1", State.WAITING), ("k1", State.CLOSED)]
    assert document.deleted_records == {"R5"}
    assert _fields_of(document, 1)["queue"] == "Q"
    assert (nested.parent / "store.history.jsonl").exists()


BASE = 'id = "a"\nchannel = "chat"\nstate = "open"\nmodified_on = "2026-11-25T11:00:00Z"\n'


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[[conversations]]\n" + BASE + "[[conversations]]\n" + BASE, ["#2", "duplicate id 'a'"]),
        ("[[conversations]]\n" + BASE.replace('"chat"', '"fax"'), ["'a'", "#1", "channel", "'fax'"]),
        ("[[conversations]]\n" + BASE.replace('"open"', '"pending"'), ["'a'", "#1", "state", "'pending'"]),
        ("[[conversations]]\n" + BASE.replace("11:00:00Z", "11:00:00"), ["'a'", "#1", "modified_on", "timezone"]),
        (
            "[[conversations]]\n" + BASE.replace('"2026-11-25T11:00:00Z"', "2026-11-25T11:00:00"),
            ["'a'", "#1", "modified_on", "timezone"],
        ),
        ("[[conversations]]\n" + BASE.replace('"open"', '"waiting"'), ["'a'", "state", "cannot be waiting"]),
        (
            "[[conversations]]\n" + BASE.replace('"chat"', '"voice"').replace('"open"', '"waiting"'),
            ["'a'", "state", "voice", "cannot be waiting"],
        ),
        (
            "[[conversations]]\n" + BASE.replace('"chat"', '"case"').replace('"open"', '"waiting"'),
            ["'a'", "state", "case", "cannot be waiting"],
        ),
        ('conversations = "x"\n', ["conversations"]),
        ("x = [", ["not valid TOML"]),
    ],
    ids=[
        "duplicate",
        "channel",
        "state",
        "no offset",
        "local datetime",
        "waiting chat",
        "waiting voice",
        "waiting case",
        "not tables",
        "invalid",
    ],
)
def test_invalid_toml_store_is_named(tmp_path: Path, content: str, expected: list[str]) -> None:
    path = tmp_path / "store.toml"
    path.write_text(content, encoding="utf-8")
    for writable in (False, True):
        with pytest.raises(StoreError) as caught:
            _load(path, writable=writable)
        message = str(caught.value)
        assert str(path) in message and "\n" not in message
        for fragment in expected:
            assert fragment in message, f"{fragment!r} missing from {message!r}"


def test_invalid_toml_store_is_not_written(cli, toml_store: Path) -> None:  # type: ignore[no-untyped-def]
    toml_store.write_text("[[conversations]]\n" + BASE.replace('"chat"', '"fax"'), encoding="utf-8")
    os.utime(toml_store, ns=(1_000_000_000, 1_000_000_000))
    before = toml_store.read_bytes()
    result = cli("sweep", "run", "--now", "2026-11-25T12:00:00Z")
    assert result.exit_code == 2
    assert result.stderr.startswith("ocac: error: store ") and "'fax'" in result.stderr
    assert toml_store.read_bytes() == before
    assert os.stat(toml_store).st_mtime_ns == 1_000_000_000


ROW = '{"id": "a", "channel": "chat", "state": "open", "modified_on": "2026-11-25T11:00:00Z"'


def _add(cli: Any, conversation_id: str) -> None:
    result = cli("conversations", "add", "--channel", "chat", "--id", conversation_id, "--now", "2026-11-25T11:00:00Z")
    assert result.exit_code == 0, result.stderr


def test_a_toml_store_does_not_grow_blank_lines_on_each_rewrite(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every rewrite added a blank line after each table: a cron sweep grew the file forever."""
    path = tmp_path / "store.toml"
    monkeypatch.setenv("OCAC_STORE", str(path))
    for conversation_id in ("a", "b", "c"):
        _add(cli, conversation_id)
    first = path.read_text()
    assert "\n\n\n" not in first
    for minute in range(1, 5):
        touched = cli("conversations", "touch", "a", "--now", f"2026-11-25T11:0{minute}:00Z")
        assert touched.exit_code == 0, touched.stderr

    def without_marker(text: str) -> str:  # ocac's own [ocac] table names the last run
        return text.split("\n[ocac]")[0]

    assert without_marker(path.read_text()) == without_marker(first).replace(
        "2026-11-25T11:00:00Z", "2026-11-25T11:04:00Z", 1
    )
    swept = cli("sweep", "run", "--now", SAMPLE_NOW)
    assert swept.exit_code == 0, swept.stderr
    text = path.read_text()
    assert text.count("\n\n") == 3, text  # one blank line between the three tables and before [ocac…]
    assert [c.state for c in _load(path).conversations] == ["closed"] * 3


def test_a_value_toml_cannot_hold_is_refused_with_exit_2(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A null inside a list or table was an 'unexpected error' (exit 1) from tomlkit."""
    path = tmp_path / "store.toml"
    monkeypatch.setenv("OCAC_STORE", str(path))
    source = tmp_path / "in.json"
    source.write_text(f'[{ROW}, "tags": [null, "x"]}}]')
    result = cli("conversations", "import", str(source))
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("ocac: error: store ")
    assert "conversation 'a'" in result.stderr and "use a .json store" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not path.exists()


def test_null_fields_imported_into_a_toml_store_are_left_out(tmp_path: Path, cli: Any) -> None:
    store = tmp_path / "store.toml"
    source = tmp_path / "in.json"
    source.write_text(
        '[{"id": "n1", "channel": "chat", "state": "open", "modified_on": "2026-11-25T10:00:00Z", '
        '"note": null, "kept": 1}]'
    )
    result = cli("--store", str(store), "conversations", "import", str(source))
    assert result.exit_code == 0, result.output
    [conversation] = tomllib.loads(store.read_text())["conversations"]
    assert conversation["kept"] == 1 and "note" not in conversation
