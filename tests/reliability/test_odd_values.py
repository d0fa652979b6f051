"""Values a store or an import can hold that most tools choke on, through every command that shows them.

What loads is handled by every command (shown, copied, swept), or is refused at load with exit 2;
never exit 1, never a traceback, and what a table shows cannot steer the terminal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli._support import fail, fields
from ocac.store.trail import trail_path

NOW = "2026-11-25T12:00:00Z"
ROW = '"channel": "chat", "state": "open", "modified_on": "2026-11-25T11:00:00Z"'
HUGE = '{"id": "a", ' + ROW + ', "big": 1e400, "neg": -1e400, "n": 123456789012345678901234567890}'


def test_numbers_beyond_a_float_import_show_and_copy_exactly(cli: Any, tmp_path: Path, store_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text(f"[{HUGE}]")
    for _ in range(2):  # the second import compares the stored values with the file's
        imported = cli("conversations", "import", str(source))
        assert imported.exit_code == 0, imported.stderr
    assert "0 updated, 1 unchanged" in imported.stderr
    for args in (("conversations", "show", "a"), ("conversations", "show", "a", "--json"),
                 ("conversations", "list", "--json"), ("conversations", "list", "--csv"), ("status",)):  # fmt: skip
        shown = cli(*args, "--now", NOW)
        assert shown.exit_code == 0, (args, shown.stderr)
    assert '"n": 123456789012345678901234567890' in cli("conversations", "show", "a", "--json").stdout
    for copy in ("copy.sqlite", "copy.json"):
        copied = cli("store", "copy", str(store_path), str(tmp_path / copy))
        assert copied.exit_code == 0, copied.stderr
    back = tmp_path / "back.json"
    assert cli("store", "copy", str(tmp_path / "copy.sqlite"), str(back)).exit_code == 0
    for path in (tmp_path / "copy.json", back):
        assert b'"big":1e400,"neg":-1e400,"n":123456789012345678901234567890' in path.read_bytes()
    assert fields(back, "a")["n"] == 123456789012345678901234567890


def test_a_value_toml_cannot_hold_is_refused_and_nothing_is_written(cli: Any, tmp_path: Path, store_path: Path) -> None:
    store_path.write_text(f'{{"conversations": [{HUGE}]}}')
    assert cli("sweep", "run", "--now", NOW).exit_code == 0  # a history to copy
    target = tmp_path / "other" / "copy.toml"
    target.parent.mkdir()
    message = fail(cli("store", "copy", str(store_path), str(target)))
    assert "conversation 'a': field 'big'" in message and "use a .json store" in message
    assert sorted(path.name for path in target.parent.iterdir()) == ["copy.toml.lock"]  # no store, no history


@pytest.mark.parametrize("where", ["value", "key"])
def test_invalid_utf8_inside_an_unknown_field_is_named_by_every_command_that_reads_it(
    cli: Any, tmp_path: Path, store_path: Path, where: str
) -> None:
    field = '"note": "caf\xff"' if where == "value" else '"n\xffote": 1'
    data = f'{{"conversations": [{{"id": "a", {ROW}, {field}}}, {{"id": "b", {ROW}}}]}}'.encode("latin-1")
    store_path.write_bytes(data)
    copy = ("store", "copy", str(store_path), str(tmp_path / "c.json"))
    for args in (("conversations", "show", "a"), ("conversations", "show", "a", "--json"), ("sweep", "run"),
                 ("conversations", "touch", "a"), ("conversations", "set-state", "b", "closed"), copy):  # fmt: skip
        message = fail(cli(*args, *(() if args == copy else ("--now", NOW))))
        assert str(store_path) in message and "not UTF-8" in message, (args, message)
    for args in (("conversations", "list"), ("conversations", "list", "--csv"), ("status",), ("doctor",)):
        result = cli(*args, "--now", NOW)  # what they show is all UTF-8: the known fields
        assert result.exit_code in (0, 7) and "Traceback" not in result.stderr, (args, result.stderr)
    assert store_path.read_bytes() == data and not trail_path(store_path).exists()
    source = tmp_path / "in.json"
    source.write_bytes(f'[{{"id": "c", {ROW}, {field}}}]'.encode("latin-1"))
    assert "not UTF-8" in fail(cli("conversations", "import", str(source)))


@pytest.mark.parametrize(
    "args",
    [("config", "set", "chat", "open", "-5m"), ("workstream", "set", "W", "--channel", "sms", "--auto-close-after",
     "-5m"), ("sweep", "watch", "--interval", "-5m")],
    ids=["config-set", "workstream-set", "watch-interval"],
)  # fmt: skip
def test_a_negative_duration_is_one_line_that_says_so(cli: Any, config_path: Path, args: tuple[str, ...]) -> None:
    before = config_path.read_bytes()
    message = fail(cli(*args))
    assert "'-5m'" in message and "never negative" in message, message
    assert config_path.read_bytes() == before


def test_a_repeated_key_in_a_json_store_is_refused_by_every_writer(cli: Any, tmp_path: Path, store_path: Path) -> None:
    data = f'{{"conversations": [{{"id": "a", {ROW}, "state": "closed"}}, {{"id": "b", {ROW}}}]}}'.encode()
    store_path.write_bytes(data)
    copy = ("store", "copy", str(store_path), str(tmp_path / "c.sqlite"))
    for args in (("sweep", "run", "--now", NOW), ("conversations", "touch", "b", "--now", NOW),
                 ("records", "delete", "R1"), copy):  # fmt: skip
        message = fail(cli(*args))
        assert "conversation 'a' (#1) has the key 'state' twice" in message, args
    assert store_path.read_bytes() == data and not (tmp_path / "c.sqlite").exists()


# ------------------------------------------------------------------------------------ the terminal

INVISIBLE = "\u202e\u202a\u2066\u2069\u200e\u200f\u061c\u2028\u2029\x85"
"""Bidi overrides, embeddings, isolates and marks; line and paragraph separators; NEL."""


def test_bidi_and_line_separators_are_escaped_in_tables(cli: Any, store_path: Path, config_path: Path) -> None:
    sneaky = f"inv{INVISIBLE}oice"
    store_path.write_text(json.dumps({"conversations": [
        {"id": sneaky, "channel": "sms", "state": "open", "modified_on": "2026-10-01T00:00:00Z", "workstream": sneaky},
    ]}))  # fmt: skip
    config_path.write_text(f'[workstreams.{json.dumps(sneaky)}]\nchannel = "sms"\n')
    for args in (("conversations", "list", "--now", NOW), ("conversations", "show", sneaky, "--now", NOW),
                 ("sweep", "run", "--now", NOW), ("history",), ("workstream", "list"),
                 ("status", "--now", NOW)):  # fmt: skip
        result = cli(*args)
        assert result.exit_code == 0, (args, result.stderr)
        for character in INVISIBLE:
            assert character not in result.stdout + result.stderr, (args, hex(ord(character)))
    listed = cli("history").stdout
    assert "inv\\u202e\\u202a\\u2066\\u2069\\u200e\\u200f\\u061c\\u2028\\u2029\\x85oice" in listed
    as_json = json.loads(cli("conversations", "list", "--all", "--json", "--now", NOW).stdout)
    assert as_json[0]["id"] == sneaky  # machine output keeps the value as it is


def test_a_ten_megabyte_id_is_cut_in_tables(cli: Any, store_path: Path) -> None:
    """Tables cut a long cell; the whole value stays in the store and in JSON."""
    huge = "x" * 10_000_000
    store_path.write_text(json.dumps({"conversations": [
        {"id": huge, "channel": "chat", "state": "open", "modified_on": "2026-11-25T11:00:00Z"},
        {"id": "short", "channel": "chat", "state": "open", "modified_on": "2026-11-25T11:00:00Z"},
    ]}))  # fmt: skip
    for args in (("conversations", "list"), ("sweep", "run", "--dry-run"), ("conversations", "show", huge)):
        result = cli(*args, "--now", NOW)
        assert result.exit_code == 0, (args, result.stderr)
        assert len(result.stdout) < 20_000, (args, len(result.stdout))
        assert "xxxxxxxx" in result.stdout
    listed = json.loads(cli("conversations", "list", "--json", "--now", NOW).stdout)
    assert sorted(row["id"] for row in listed) == sorted([huge, "short"])


# ------------------------------------------------------------------------------------ store copy


@pytest.mark.parametrize(
    ("destination", "expected"),
    [("conversations.json", "is the store being copied"), ("./conversations.json", "is the store being copied"),
     ("conversations.toml", "would share the history")],
    ids=["itself", "itself-by-another-path", "same-stem"],
)  # fmt: skip
def test_a_copy_onto_its_own_files_is_refused(
    cli: Any, sample_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, destination: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli("sweep", "run", "--now", NOW).exit_code == 0
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.is_file()}
    message = fail(cli("store", "copy", "conversations.json", destination, "--replace"))
    assert expected in message
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.is_file()} == before
