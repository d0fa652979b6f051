"""Rewrites keep what they can: a final newline; JSON nulls have no TOML spelling and are left out."""


def test_null_fields_imported_into_a_toml_store_are_left_out(tmp_path, cli) -> None:
    import tomllib

    store = tmp_path / "store.toml"
    source = tmp_path / "in.json"
    source.write_text('[{"id": "n1", "channel": "chat", "state": "open", "modified_on": "2026-11-25T10:00:00Z", '
                      '"note": null, "kept": 1}]')
    result = cli("--store", str(store), "conversations", "import", str(source))
    assert result.exit_code == 0, result.output
    [conversation] = tomllib.loads(store.read_text())["conversations"]
    assert conversation["kept"] == 1 and "note" not in conversation


def test_a_one_line_json_store_keeps_its_final_newline(tmp_path, cli) -> None:
    store = tmp_path / "one.json"
    store.write_text('{"conversations":[{"id":"a","channel":"chat","state":"open","modified_on":"2026-11-25T10:00:00Z"}]}\n')
    result = cli("--store", str(store), "sweep", "run", "--now", "2026-11-25T12:00:00Z", "--quiet")
    assert result.exit_code == 0, result.output
    text = store.read_text()
    assert text.endswith("}\n") and text.count("\n") == 1 and '"state":"closed"' in text
