"""Defects found in review: each test reproduces one, through the command line and the core."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ocac import store
from ocac.config import load_config

NOW = "2026-11-25T12:00:00Z"
ROW = '{"id": "a", "channel": "chat", "state": "open", "modified_on": "2026-11-25T11:00:00Z"'


def _add(cli: Any, conversation_id: str) -> None:
    result = cli("conversations", "add", "--channel", "chat", "--id", conversation_id, "--now", "2026-11-25T11:00:00Z")
    assert result.exit_code == 0, result.stderr


# ------------------------------------------------------------------------- TOML stores


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
    assert path.read_text() == first.replace("2026-11-25T11:00:00Z", "2026-11-25T11:04:00Z", 1)
    swept = cli("sweep", "run", "--now", NOW)
    assert swept.exit_code == 0, swept.stderr
    text = path.read_text()
    assert text.count("\n\n") == 3, text  # one blank line between the three tables and before [ocac…]
    assert [c.state for c in store.load(path).conversations] == ["closed"] * 3


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


# ------------------------------------------------------------------------- import


def test_a_csv_whose_header_lacks_required_columns_is_refused(cli: Any, tmp_path: Path, store_path: Path) -> None:
    """A JSON file named .csv (or a header with a typo) was 'imported 0 conversation(s)', exit 0."""
    source = tmp_path / "export.csv"
    source.write_text(f"[{ROW}}}]\n")
    result = cli("conversations", "import", str(source))
    assert result.exit_code == 2
    assert result.stderr == (
        f"ocac: error: {source}: line 1: the header has no 'id', 'channel', 'modified_on' column: "
        "the first line must name the columns (id,channel,state,modified_on…)\n"
    )
    assert not store_path.exists()


def test_a_csv_header_that_names_a_column_twice_is_refused(cli: Any, tmp_path: Path, store_path: Path) -> None:
    """`id,id,…` silently took the last value of the two."""
    source = tmp_path / "export.csv"
    source.write_text("id,channel,state,modified_on,id\na,chat,open,2026-11-25T11:00:00Z,b\n")
    result = cli("conversations", "import", str(source))
    assert result.exit_code == 2
    assert result.stderr == f"ocac: error: {source}: line 1: column 'id' appears twice in the header\n"
    assert not store_path.exists()


def test_a_duplicate_id_in_a_csv_names_its_line(cli: Any, tmp_path: Path, store_path: Path) -> None:
    """The message said 'row 3' for what every other CSV message calls 'line 4' (blank lines too)."""
    source = tmp_path / "export.csv"
    row = "a,chat,open,2026-11-25T11:00:00Z"
    source.write_text(f"id,channel,state,modified_on\n{row}\n\nb,chat,open,2026-11-25T11:00:00Z\n{row}\n")
    result = cli("conversations", "import", str(source))
    assert result.exit_code == 2
    assert result.stderr == f"ocac: error: {source}: line 5: duplicate id 'a' in the file\n"
    assert not store_path.exists()


def test_null_optional_fields_in_a_json_import_are_absent(cli: Any, tmp_path: Path, store_path: Path) -> None:
    """The store accepts `"workstream": null`; the import refused it ('expected a string')."""
    source = tmp_path / "in.json"
    source.write_text(f'[{ROW}, "workstream": null, "record_id": null, "created_on": null, "x": 1}}]')
    result = cli("conversations", "import", str(source))
    assert result.exit_code == 0, result.stderr
    [conversation] = store.load(store_path).conversations
    assert (conversation.workstream, conversation.record_id, conversation.created_on) == (None, None, None)
    assert json.loads(store_path.read_text())["conversations"][0] == json.loads(f'{ROW}, "x": 1}}')


# ------------------------------------------------------------------------- workstreams


def test_changing_a_workstream_to_a_channel_that_cannot_wait_says_how_to_fix(cli: Any, config_path: Path) -> None:
    """The refusal blamed the file ('config …: workstreams.X.auto_close_after: …'), though the file is fine."""
    created = cli("workstream", "set", "X", "--channel", "sms", "--auto-close-after", "2d")
    assert created.exit_code == 0, created.stderr
    before = config_path.read_text()
    result = cli("workstream", "set", "X", "--channel", "chat")
    assert result.exit_code == 2
    assert result.stderr == (
        "ocac: error: workstream 'X' closes waiting conversations after 2d, which chat workstreams cannot: "
        "add --auto-close-after never to drop that\n"
    )
    assert config_path.read_text() == before
    both = cli("workstream", "set", "X", "--channel", "chat", "--auto-close-after", "never")
    assert both.exit_code == 0, both.stderr
    stream = load_config(config_path).policy.workstreams["X"]
    assert (stream.channel, stream.auto_close_after) == ("chat", None)


def test_a_workstream_whose_auto_close_is_never_can_change_to_any_channel(cli: Any, config_path: Path) -> None:
    config_path.write_text('[workstreams.X]\nchannel = "sms"\nauto_close_after = "never"\n')
    result = cli("workstream", "set", "X", "--channel", "voice")
    assert result.exit_code == 0, result.stderr
    assert load_config(config_path).policy.workstreams["X"].channel == "voice"
