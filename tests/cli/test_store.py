"""`ocac store info` and `ocac store copy`: what a store holds, and moving it to another backend whole."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import store_location
from ocac.store.trail import trail_path

from ._support import deleted_records, fail, fields, history, last_sweep, opened, snapshot, states

T = "2026-11-25T12:00:00Z"


def conv(cid: str, channel: str, state: str, modified_on: str, **extra: object) -> dict[str, object]:
    return {"id": cid, "channel": channel, "state": state, "modified_on": modified_on, **extra}


@pytest.fixture
def busy(cli: Any, store_path: Path, tmp_path: Path) -> Path:
    """A JSON store with fields ocac does not know, deleted records and a history of several kinds of change."""
    store_path.write_text(json.dumps({"conversations": [
        conv("a", "chat", "open", "2026-11-25T11:00:00Z", customer={"name": "Chloé", "tags": [1, 2.5]}, vip=True),
        conv("v", "voice", "active", "2026-11-25T09:00:00+02:00", workstream="Line", queue=None),
        conv("k", "case", "open", "2026-11-25T11:30:00Z", record_id="R1"),
        conv("w", "sms", "waiting", "2026-11-25T10:00:00Z", network="whatsapp"),
    ], "deleted_records": ["OLD-1"]}))  # fmt: skip
    source = tmp_path / "more.json"
    source.write_text(json.dumps([conv("m", "teams", "active", "2026-11-24T12:00:00Z", note="imported")]))
    for args in (
        ("conversations", "import", str(source), "--now", "2026-11-25T11:50:00Z"),
        ("conversations", "touch", "a", "--now", "2026-11-25T11:55:00Z"),
        ("records", "delete", "R1", "--now", "2026-11-25T11:56:00Z"),
        ("sweep", "run", "-q", "--now", T),
    ):
        result = cli(*args)
        assert result.exit_code == 0, (args, result.stderr)
    return store_path


def everything(location: Path | str) -> dict[str, Any]:
    """All a store holds, in comparable form: every field of every conversation, records, history, last sweep."""
    with opened(location) as store:
        sweep = store.last_sweep()
        return {
            "conversations": {i: fields(location, i) for i in sorted(states(location))},
            "deleted_records": store.deleted_records(),
            "history": [record.to_json() for record in history(location)],
            "last_sweep": None if sweep is None else sweep.to_json(),
        }


@pytest.mark.parametrize("backend", ["sqlite", "toml", "json", "postgresql"])
def test_copy_there_and_back_keeps_conversations_unknown_fields_records_and_history(  # type: ignore[no-untyped-def]
    cli, busy: Path, tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    original = everything(busy)
    assert len(original["history"]) >= 5 and original["last_sweep"]["moved"] == 2  # k (record deleted) and v
    assert original["conversations"]["a"]["customer"] == {"name": "Chloé", "tags": [1, 2.5]}
    if backend == "toml":  # TOML has no null: an unknown field that is null is left out
        for stored in original["conversations"].values():
            for key in [k for k, value in stored.items() if value is None]:
                del stored[key]
        assert "queue" not in original["conversations"]["v"]
    middle = store_location(backend, tmp_path, request, name="middle")
    back = tmp_path / "back.json"

    there = cli("store", "copy", str(busy), middle)
    assert (there.exit_code, there.stdout) == (0, ""), there.stderr
    shown = middle if backend != "postgresql" else there.stderr.split(" to ", 1)[1].strip()
    assert there.stderr == (
        f"copied 5 conversation(s) and 2 deleted record(s), with their history, from {busy} to {shown}\n"
    )
    assert everything(middle) == original
    again = cli("store", "copy", middle, str(back), "--json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout) == {
        "source": shown, "destination": str(back), "conversations": 5, "deleted_records": 2, "replaced": False,
    }  # fmt: skip
    assert everything(back) == original
    # The copy is a store like any other: the next sweep and `history` work on it.
    assert cli("--store", str(back), "sweep", "run", "-q", "--now", "2026-11-26T12:00:00Z").exit_code == 0
    assert len(history(back)) > len(original["history"])


def test_a_store_that_is_not_empty_is_refused_without_replace(cli, busy: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "target.sqlite"
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"conversations": [conv("x", "chat", "open", T)]}))
    assert cli("store", "copy", str(other), str(target)).exit_code == 0
    before = snapshot(target)
    assert fail(cli("store", "copy", str(busy), str(target))) == (
        f"ocac: error: store {target} is not empty: add --replace to overwrite it"
    )
    assert snapshot(target) == before
    assert list(states(target)) == ["x"]
    replaced = cli("store", "copy", str(busy), str(target), "--replace", "--json")
    assert replaced.exit_code == 0, replaced.stderr
    assert json.loads(replaced.stdout)["replaced"] is True
    assert everything(target) == everything(busy)


def test_replacing_a_file_store_keeps_its_previous_history_aside(cli, busy: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "target.json"
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"conversations": [conv("x", "chat", "open", "2026-11-25T11:00:00Z")]}))
    assert cli("--store", str(other), "sweep", "run", "-q", "--now", T).exit_code == 0
    assert cli("store", "copy", str(other), str(target)).exit_code == 0
    old_trail = trail_path(target).read_bytes()
    assert fail(cli("store", "copy", str(busy), str(target))).endswith("is not empty: add --replace to overwrite it")
    result = cli("store", "copy", str(busy), str(target), "--replace")
    assert result.exit_code == 0, result.stderr
    [warning] = [line for line in result.stderr.splitlines() if line.startswith("ocac: warning: ")]
    kept = Path(warning.split(" was kept as ", 1)[1])
    assert warning == f"ocac: warning: the previous history {trail_path(target)} was kept as {kept}"
    assert kept.read_bytes() == old_trail
    assert everything(target) == everything(busy)


def test_a_store_with_only_deleted_records_is_not_empty(cli, busy: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "target.json"
    assert cli("--store", str(target), "records", "delete", "R9").exit_code == 0
    assert fail(cli("store", "copy", str(busy), str(target))) == (
        f"ocac: error: store {target} is not empty: add --replace to overwrite it"
    )
    assert deleted_records(target) == ["R9"]


def test_copy_refuses_a_store_it_cannot_name(cli, busy: Path) -> None:  # type: ignore[no-untyped-def]
    message = fail(cli("store", "copy", str(busy), "ftp://host/store"))
    assert message.startswith("ocac: error: store 'ftp://host/store': unknown scheme 'ftp': ")


SCHEMA = {"json": 1, "toml": 1, "sqlite": 4}
"""The schema version each backend writes today."""


def info_lines(cli: Any, *root: str) -> list[str]:
    result = cli(*root, "store", "info")
    assert (result.exit_code, result.stderr) == (0, ""), result.stderr
    return result.stdout.splitlines()


@pytest.mark.parametrize(("suffix", "backend"), [(".json", "json"), (".toml", "toml"), (".sqlite", "sqlite")])
def test_info_shows_backend_counts_and_last_sweep(cli, busy: Path, tmp_path: Path, suffix: str, backend: str) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / f"copy{suffix}"
    assert cli("store", "copy", str(busy), str(store)).exit_code == 0
    sweep = last_sweep(store)
    assert sweep is not None
    lines = info_lines(cli, "--store", str(store))
    assert lines[:5] + lines[6:] == [
        f"backend: {backend}",
        f"location: {store}",
        f"schema version: {SCHEMA[backend]}",
        "conversations: 5 (open 1, active 1, waiting 1, wrap-up 1, closed 1)",
        "deleted records: 2",
        f"last sweep: {T}, moved 2",
    ]
    assert re.fullmatch(r"size: (\d+ bytes|\d+\.\d (KiB|MiB))", lines[5]), lines[5]
    result = cli("--store", str(store), "store", "info", "--json")
    document = json.loads(result.stdout)
    assert {k: v for k, v in document.items() if k != "size_bytes"} == {
        "backend": backend, "location": str(store), "exists": True,
        "schema_version": SCHEMA[backend], "conversations": 5,
        "by_state": {"open": 1, "active": 1, "waiting": 1, "wrap-up": 1, "closed": 1}, "deleted_records": 2,
        "last_sweep": {"run_id": sweep.run_id, "at": T, "moved": 2},
    }  # fmt: skip
    assert document["size_bytes"] >= store.stat().st_size


def test_info_of_a_store_that_does_not_exist_yet(cli, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert info_lines(cli) == [
        "backend: json",
        f"location: {store_path} (does not exist yet)",
        "schema version: -",
        "conversations: 0 (open 0, active 0, waiting 0, wrap-up 0, closed 0)",
        "deleted records: 0",
        "size: -",
        "last sweep: none recorded",
    ]
    document = json.loads(cli("store", "info", "--json").stdout)
    assert (document["exists"], document["schema_version"], document["size_bytes"], document["last_sweep"]) == (
        False, None, None, None,
    )  # fmt: skip
    assert not store_path.exists()


def test_info_counts_what_commands_change(cli, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    store_path.write_text(json.dumps({"conversations": [conv("c", "chat", "open", "2026-11-25T11:00:00Z")]}))
    assert info_lines(cli)[3:7:3] == ["conversations: 1 (open 1, active 0, waiting 0, wrap-up 0, closed 0)",
                                      "last sweep: none recorded"]  # fmt: skip
    assert cli("sweep", "run", "-q", "--now", T).exit_code == 0
    assert info_lines(cli)[3:7:3] == ["conversations: 1 (open 0, active 0, waiting 0, wrap-up 0, closed 1)",
                                      f"last sweep: {T}, moved 1"]  # fmt: skip
