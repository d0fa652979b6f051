"""A file store's audit trail: committed records only, crash recovery that removes nothing committed,
damaged lines skipped, and never a write through a link or into a special file."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ocac.audit import Audit, AuditRecord, HistoryQuery
from ocac.errors import FileAccessError
from ocac.model import Action
from ocac.store.file import FileStore
from ocac.store.trail import Trail, trail_path

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def record(run: str, cid: str = "a", action: Action = Action.SWEEP) -> AuditRecord:
    return Audit(run, NOW, "tester@host").record(action, id=cid, channel="chat", from_state="open", to_state="closed")


def commit(trail: Trail, run: str) -> None:
    trail.commit(run, Action.SWEEP, NOW, "tester@host", {"moved": 1})


def runs(trail: Trail, committed: str | None = None) -> list[tuple[str, str | None]]:
    return [(r.run_id, r.id) for r in trail.read(committed)]


def test_trail_path_is_beside_the_store(tmp_path: Path) -> None:
    assert trail_path(tmp_path / "conversations.json") == tmp_path / "conversations.history.jsonl"


def test_readers_see_committed_runs_and_the_stores_own_run(tmp_path: Path) -> None:
    trail = Trail(tmp_path / "h.jsonl")
    trail.append([record("r1", "a"), record("r1", "b")])
    commit(trail, "r1")
    trail.append([record("r2", "c")])  # written, not committed yet
    assert runs(trail) == [("r1", "a"), ("r1", "b")]
    assert runs(trail, committed="r2") == [("r1", "a"), ("r1", "b"), ("r2", "c")]  # the store already names r2


def test_recovery_removes_a_run_that_never_committed(tmp_path: Path) -> None:
    trail = Trail(tmp_path / "h.jsonl")
    trail.append([record("r1")])
    commit(trail, "r1")
    committed = trail.path.read_bytes()
    trail.append([record("died", "x"), record("died", "y")])
    trail.recover(committed_run="r1")
    assert trail.path.read_bytes() == committed


def test_recovery_removes_a_torn_uncommitted_append(tmp_path: Path) -> None:
    trail = Trail(tmp_path / "h.jsonl")
    trail.append([record("r1")])
    commit(trail, "r1")
    committed = trail.path.read_bytes()
    trail.append([record("died")])
    with open(trail.path, "ab") as handle:
        handle.write(b'{"run_id":"died","act')  # killed in the middle of a line
    trail.recover(committed_run="r1")
    assert trail.path.read_bytes() == committed


def test_recovery_seals_the_stores_own_run(tmp_path: Path) -> None:
    trail = Trail(tmp_path / "h.jsonl")
    trail.append([record("r1")])  # the store was renamed into place, then the writer died
    trail.recover(committed_run="r1")
    last = json.loads(trail.path.read_bytes().splitlines()[-1])
    assert (last["run_id"], last["commit"]) == ("r1", True)
    assert runs(trail) == [("r1", "a")]


def test_recovery_leaves_records_of_several_runs_and_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trail = Trail(tmp_path / "h.jsonl")
    trail.append([record("r1"), record("r2")])
    before = trail.path.read_bytes()
    trail.recover(committed_run=None)
    assert trail.path.read_bytes() == before
    assert "ocac: warning:" in capsys.readouterr().err


def test_a_torn_commit_line_is_replaced_when_its_run_stands(tmp_path: Path) -> None:
    trail = Trail(tmp_path / "h.jsonl")
    trail.append([record("r1", "a")])
    commit(trail, "r1")
    data = trail.path.read_bytes()
    trail.path.write_bytes(data[:-10])  # the commit line torn by a disk or an editor
    trail.recover(committed_run="r1")  # r1 is the store's run: its records stand, and are sealed again
    trail.append([record("r2", "b")])
    commit(trail, "r2")
    lines = [json.loads(line) for line in trail.path.read_bytes().splitlines()]
    assert [(line["run_id"], line.get("commit", False)) for line in lines] == [
        ("r1", False), ("r1", True), ("r2", False), ("r2", True),
    ]  # fmt: skip
    assert runs(trail) == [("r1", "a"), ("r2", "b")]


def test_a_damaged_line_is_skipped_and_reported_and_appends_start_on_a_fresh_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trail = Trail(tmp_path / "h.jsonl")
    trail.append([record("r1", "a")])
    commit(trail, "r1")
    with open(trail.path, "ab") as handle:
        handle.write(b'{"run_id": "garbage", nonsense\n')  # damage between runs, as an editor might leave
    trail.append([record("r2", "b")])
    commit(trail, "r2")
    trail.path.write_bytes(trail.path.read_bytes().rstrip(b"\n"))  # and no final newline
    trail.append([record("r3", "c")])
    commit(trail, "r3")
    lines = trail.path.read_bytes().splitlines()
    assert lines[2] == b'{"run_id": "garbage", nonsense'  # left where it is
    assert [json.loads(line)["run_id"] for line in lines[3:]] == ["r2", "r2", "r3", "r3"]  # nothing glued
    assert runs(trail) == [("r1", "a"), ("r2", "b"), ("r3", "c")]
    assert "skipped 1 damaged line(s) (line 3 first)" in capsys.readouterr().err


def test_a_line_being_appended_is_not_reported_as_damage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A reader takes no lock: it may see a writer's half-written last line, which is not damage."""
    trail = Trail(tmp_path / "h.jsonl")
    trail.append([record("r1", "a")])
    commit(trail, "r1")
    whole = trail.path.read_bytes()
    trail.append([record("r2", "b")])
    half = trail.path.read_bytes()[: len(whole) + 40]
    trail.path.write_bytes(half)
    assert runs(trail) == [("r1", "a")]
    assert capsys.readouterr().err == ""
    trail.path.write_bytes(half + b"\n")  # the same bytes as a whole line: damage, reported
    assert runs(trail) == [("r1", "a")]
    assert "skipped 1 damaged line(s) (line 3 first)" in capsys.readouterr().err


def test_records_of_ocac_0_1_read_as_committed_sweeps(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(
        '{"run_id":"old","at":"2026-11-24T12:00:00Z","id":"a","channel":"chat","from":"open","to":"closed",'
        '"reason":"AutoClosedBySystem","rule":"chat/open","threshold_minutes":20,"idle_minutes":21}\n'
    )
    (found,) = Trail(path).read(None)
    assert (found.kind, found.run_id, found.reason) == (Action.SWEEP, "old", "AutoClosedBySystem")


def test_last_sweep_is_the_nearest_sweep_commit(tmp_path: Path) -> None:
    trail = Trail(tmp_path / "h.jsonl")
    trail.commit("s1", Action.SWEEP, NOW, "x", {"moved": 3, "counts": [["chat", "closed", "AutoClosedBySystem", 3]]})
    trail.append([record("t1", action=Action.TOUCH)])
    trail.commit("t1", Action.TOUCH, NOW + timedelta(minutes=1), "x", None)
    last = trail.last_sweep()
    assert last is not None and (last.run_id, last.moved, last.counts) == (
        "s1", 3, {("chat", "closed", "AutoClosedBySystem"): 3},
    )  # fmt: skip


# --- through the file store ---------------------------------------------------------------------------------


def _store(tmp_path: Path) -> FileStore:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"conversations": [
        {"id": f"c{i}", "channel": "chat", "state": "open", "modified_on": f"2026-11-25T10:{i:02d}:00Z"}
        for i in range(6)
    ]}))  # fmt: skip
    return FileStore(path, 1)


def _sweep(store: FileStore, minutes: int, run: str) -> None:
    from ocac.policy import Policy

    store.sweep(Policy(), Audit(run, datetime(2026, 11, 25, 10, 20, tzinfo=UTC) + timedelta(minutes=minutes), "x"))


def test_a_store_restored_from_a_backup_keeps_every_committed_record(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _sweep(store, 1, "first")  # moves c0
    backup = tmp_path / "backup.json"
    shutil.copy(store.path, backup)
    _sweep(store, 3, "second")  # moves c1, c2
    committed = store.history(HistoryQuery())
    shutil.copy(backup, store.path)  # the admin restores the store from the backup…
    store.set_record_deleted("NOPE", True, Audit("write", NOW, "x"), dry_run=False)  # …and any write follows
    after = FileStore(store.path, 1).history(HistoryQuery())
    assert after[: len(committed)] == committed
    assert [r.id for r in after if r.kind is Action.SWEEP] == ["c0", "c1", "c2"]


def test_a_symlinked_trail_is_never_written_through(tmp_path: Path) -> None:
    store = _store(tmp_path)
    target = tmp_path / "elsewhere.txt"
    target.write_text("precious\n")
    trail_path(store.path).symlink_to(target)
    with pytest.raises(FileAccessError, match="symbolic link"):
        _sweep(store, 1, "r")
    assert target.read_text() == "precious\n"
    assert json.loads(store.path.read_text())["conversations"][0]["state"] == "open"  # nothing moved either


def test_a_fifo_as_the_trail_is_refused_at_once(tmp_path: Path) -> None:
    store = _store(tmp_path)
    os.mkfifo(trail_path(store.path))
    with pytest.raises(FileAccessError, match="not a regular file"):
        _sweep(store, 1, "r")
    with pytest.raises(FileAccessError, match="not a regular file"):
        store.history(HistoryQuery())


def test_rewrite_keeps_the_previous_trail_aside(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trail = Trail(tmp_path / "h.jsonl")
    trail.append([record("old")])
    commit(trail, "old")
    previous = trail.path.read_bytes()
    with trail.rewriting([record("new", "n")], None) as run:
        assert run == "new"
        assert trail.path.read_bytes() == previous  # written beside, renamed only when the block succeeds
    assert runs(trail) == [("new", "n")]
    (aside,) = tmp_path.glob("h.jsonl.replaced-*")
    assert aside.read_bytes() == previous
    assert str(aside) in capsys.readouterr().err


def test_a_rewrite_whose_block_fails_changes_nothing(tmp_path: Path) -> None:
    trail = Trail(tmp_path / "h.jsonl")
    trail.append([record("old")])
    commit(trail, "old")
    previous = trail.path.read_bytes()
    with pytest.raises(RuntimeError), trail.rewriting([record("new", "n")], None):
        raise RuntimeError("the store could not be encoded")
    assert trail.path.read_bytes() == previous
    assert [path.name for path in tmp_path.glob("*h.jsonl*")] == ["h.jsonl"]
