"""Reading import files: CSV headers and rows, JSON nulls, each refusal naming the file and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ocac.store import Selection, open_store

ROW = '{"id": "a", "channel": "chat", "state": "open", "modified_on": "2026-11-25T11:00:00Z"'


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
    [conversation] = open_store(str(store_path), 1).select(Selection())
    assert (conversation.workstream, conversation.record_id, conversation.created_on) == (None, None, None)
    assert json.loads(store_path.read_text())["conversations"][0] == json.loads(f'{ROW}, "x": 1}}')
