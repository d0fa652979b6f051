"""The file store's locked write cycle: nothing written unless something changed, and then atomically,
with its audit records, keeping the store's permissions and symlink; a store that does not load is never written."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ocac import fsutil
from ocac.audit import Audit
from ocac.errors import FileAccessError, LockTimeout
from ocac.model import Action, Channel, Conversation, State, moved
from ocac.store import Selection
from ocac.store.file import FileStore
from ocac.store.trail import Trail, trail_path

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)

T = "2026-11-25T12:00:00Z"
OLD = 1_000_000_000  # an mtime far in the past, so that a rewrite cannot go unnoticed


def conv(
    cid: str, channel: str = "chat", state: str = "open", modified_on: str = "2026-11-25T11:00:00Z", **extra: object
) -> dict[str, object]:
    return {"id": cid, "channel": channel, "state": state, "modified_on": modified_on, **extra}


def write_store(path: Path, conversations: list[dict[str, object]], **top: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"conversations": conversations, **top}, indent=2), encoding="utf-8")
    os.utime(path, ns=(OLD, OLD))
    return path


Snapshot = tuple[bytes, int, int, int]


def snapshot(path: Path) -> Snapshot:
    info = os.stat(path)
    return path.read_bytes(), info.st_ino, info.st_mtime_ns, stat.S_IMODE(info.st_mode)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# --- the file store's write cycle ---------------------------------------------------------------------------


def _store(path: Path) -> FileStore:
    return FileStore(path, 1)


def _audit(run: str = "r1") -> Audit:
    return Audit(run, datetime(2026, 11, 25, 12, tzinfo=UTC), "tester@host")


def test_a_change_replaces_the_store_atomically_and_commits_its_record(store_path: Path) -> None:
    write_store(store_path, [conv("a"), conv("b")])
    inode = os.stat(store_path).st_ino
    _store(store_path).change("b", lambda c: moved(c, State.ACTIVE, c.modified_on), Action.SET_STATE, _audit())
    assert os.stat(store_path).st_ino != inode
    assert leftovers(store_path.parent) == []
    assert [c.state for c in _store(store_path).select(Selection())] == [State.OPEN, State.ACTIVE]
    lines = trail_path(store_path).read_bytes().splitlines()
    assert [json.loads(line).get("commit", False) for line in lines] == [False, True]
    assert json.loads(store_path.read_text())["ocac"] == {"run": "r1"}  # the store names the run it reflects


def test_a_trail_that_cannot_be_written_leaves_the_old_store(store_path: Path) -> None:
    write_store(store_path, [conv("a")])
    before = snapshot(store_path)
    trail_path(store_path).mkdir()  # the history's place is taken by a folder
    with pytest.raises(FileAccessError):
        _store(store_path).change("a", lambda c: moved(c, State.CLOSED, c.modified_on), Action.SET_STATE, _audit())
    assert snapshot(store_path) == before
    assert leftovers(store_path.parent) == []


def test_the_next_writer_removes_stale_temp_files_and_an_uncommitted_run(store_path: Path) -> None:
    write_store(store_path, [conv("a")])
    stale = store_path.parent / f".{store_path.name}.0123456789ab.tmp"
    stale.write_bytes(b'{"conversations": []}')
    other = store_path.parent / f".{store_path.name}.b.json.0123456789ab.tmp"  # another store's temp file
    other.write_bytes(b"{}")
    log = trail_path(store_path)
    log.write_bytes(b'{"run_id":"dead","action":"sweep","at":"2026-11-25T12:00:00Z","id":"a"}\n')  # died before rename
    _store(store_path).record([_audit().record(Action.CONFIG, detail={"change": "x"})])
    assert not stale.exists() and other.exists()
    assert b"dead" not in log.read_bytes()


def test_a_writer_waits_for_the_lock_then_gives_up(store_path: Path) -> None:
    write_store(store_path, [conv("a")])
    with fsutil.locked(store_path, 1, "store"):
        with pytest.raises(LockTimeout) as caught:
            FileStore(store_path, 0.1).add(Conversation("b", Channel.CHAT, State.OPEN, NOW), _audit())
    message = str(caught.value)
    assert str(store_path) in message and "--lock-timeout" in message


# --- through the commands: nothing changed → nothing written ----------------------------------------------

NO_OPS: dict[str, tuple[str, ...]] = {
    "sweep with nothing due": ("sweep", "run", "--now", "2026-11-25T11:10:00Z"),
    "dry run": ("sweep", "run", "--dry-run", "--now", "2026-11-26T00:00:00Z"),
    "touch at the same instant": ("conversations", "touch", "a", "--now", "2026-11-25T11:00:00Z"),
    "record already deleted": ("records", "delete", "R1"),
    "list": ("conversations", "list", "--now", T),
    "show": ("conversations", "show", "a", "--now", T),
    "status": ("status", "--now", T),
    "history": ("history",),
    "refused touch of closed": ("conversations", "touch", "c", "--now", T),
    "refused transition": ("conversations", "set-state", "a", "wrap-up", "--now", T),
    "duplicate add": ("conversations", "add", "--channel", "chat", "--id", "a", "--now", T),
    "unknown id": ("conversations", "touch", "nope", "--now", T),
}


@pytest.mark.parametrize("name", list(NO_OPS))
def test_command_that_changes_nothing_does_not_rewrite(cli, store_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    write_store(store_path, [conv("a"), conv("c", state="closed")], deleted_records=["R1"])
    before = snapshot(store_path)
    cli(*NO_OPS[name])
    assert snapshot(store_path) == before
    trail = trail_path(store_path)
    if name == "sweep with nothing due":  # on record, without a rewrite: one commit line
        assert [json.loads(line)["detail"]["moved"] for line in trail.read_bytes().splitlines()] == [0]
    else:
        assert not trail.exists()


# --- a store that does not load is never written, and the command exits 2 ---------------------------------

BAD_STORES = {
    "invalid JSON": b'{"conversations": [{"id": "a",',
    "empty": b"",
    "unknown channel": json.dumps({"conversations": [conv("a", channel="fax")]}).encode(),
    "no offset": json.dumps({"conversations": [conv("a", modified_on="2026-11-25T11:00:00")]}).encode(),
    "duplicate id": json.dumps({"conversations": [conv("a"), conv("a")]}).encode(),
    "top level list": json.dumps([conv("a")]).encode(),
}
WRITERS: dict[str, tuple[str, ...]] = {
    "sweep": ("sweep", "run", "--now", "2026-12-25T12:00:00Z"),
    "touch": ("conversations", "touch", "a", "--now", T),
    "set-state": ("conversations", "set-state", "a", "active", "--now", T),
    "add": ("conversations", "add", "--channel", "chat", "--id", "new", "--now", T),
    "records delete": ("records", "delete", "R2"),
    "list": ("conversations", "list", "--now", T),
    "status": ("status", "--now", T),
}


@pytest.mark.parametrize("command", list(WRITERS))
@pytest.mark.parametrize("bad", list(BAD_STORES))
def test_store_that_fails_to_load_is_never_written(cli, store_path: Path, bad: str, command: str) -> None:  # type: ignore[no-untyped-def]
    store_path.write_bytes(BAD_STORES[bad])
    os.utime(store_path, ns=(OLD, OLD))
    before = snapshot(store_path)
    result = cli(*WRITERS[command])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ocac: error: store {store_path}")
    assert snapshot(store_path) == before
    assert leftovers(store_path.parent) == []


def test_import_into_a_bad_store_is_refused(cli, store_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store_path.write_bytes(BAD_STORES["unknown channel"])
    before = snapshot(store_path)
    source = tmp_path / "in.json"
    source.write_text(json.dumps([conv("z")]))
    for extra in ((), ("--replace",)):
        result = cli("conversations", "import", str(source), *extra)
        assert result.exit_code == 2 and "'fax'" in result.stderr
    assert snapshot(store_path) == before


# --- how a rewrite treats the file ------------------------------------------------------------------------

SWEEP = ("sweep", "run", "--now", T)


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o604])
def test_rewrite_keeps_permissions(cli, store_path: Path, mode: int) -> None:  # type: ignore[no-untyped-def]
    write_store(store_path, [conv("a")])
    store_path.chmod(mode)
    inode = os.stat(store_path).st_ino
    result = cli(*SWEEP)
    assert result.exit_code == 0, result.stderr
    info = os.stat(store_path)
    assert info.st_ino != inode  # it was rewritten…
    assert stat.S_IMODE(info.st_mode) == mode  # …with the same permissions
    assert next(_store(store_path).select(Selection())).state is State.CLOSED


def test_symlinked_store_keeps_its_link_and_replaces_its_target(cli, tmp_path: Path, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = write_store(tmp_path / "data" / "real.json", [conv("a"), conv("b", modified_on="2026-11-25T11:59:00Z")])
    target.chmod(0o600)
    store_path.symlink_to(Path("data") / "real.json")
    result = cli(*SWEEP)
    assert result.exit_code == 0, result.stderr
    assert store_path.is_symlink()
    assert os.readlink(store_path) == str(Path("data") / "real.json")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert [c.state for c in _store(target).select(Selection())] == [State.CLOSED, State.OPEN]
    assert sorted(p.name for p in target.parent.iterdir()) == ["real.history.jsonl", "real.json", "real.json.lock"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "conversations.json", "data"]
    # Reading through the link sees the same history.
    shown = cli("history", "--json")
    assert [e["id"] for e in json.loads(shown.stdout)] == ["a"]


def test_missing_store_is_empty_and_created_with_its_folder_on_first_write(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "deep" / "er" / "store.json"
    args = ("--store", str(path))
    listed = cli(*args, "conversations", "list", "--json", "--now", T)
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []
    swept = cli(*args, "sweep", "run", "--now", T)
    assert swept.exit_code == 0 and "nothing due" in swept.stdout
    assert not path.exists()  # a sweep that moved nothing writes no store
    added = cli(*args, "conversations", "add", "--channel", "sms", "--id", "s1", "--now", T)
    assert added.exit_code == 0, added.stderr
    assert added.stdout == "s1\n"
    document = json.loads(path.read_text())
    assert document["conversations"] == [
        {"id": "s1", "channel": "sms", "state": "open", "modified_on": T, "created_on": T},
    ]  # fmt: skip
    assert set(document) == {"conversations", "ocac"}
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask


def test_writes_never_change_the_process_umask(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The umask is process-wide: setting it, even briefly, would let the history thread create a 0666 file."""

    def umask_called(mask: int) -> int:
        raise AssertionError(f"os.umask({mask:o}) called")

    umask = os.umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", umask_called)
        args = ("--store", str(tmp_path / "store.json"))
        added = cli(*args, "conversations", "add", "--channel", "chat", "--id", "c1", "--now", T)
        assert added.exit_code == 0, added.stderr
        swept = cli(*args, "sweep", "run", "--now", "2026-11-26T00:00:00Z")
        assert swept.exit_code == 0, swept.stderr
    finally:
        monkeypatch.undo()
        os.umask(umask)
    for name in ("store.json", "store.history.jsonl"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o640, name


def test_unreadable_store_is_a_file_access_error(cli, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    store_path.mkdir()
    result = cli(*SWEEP)
    assert result.exit_code == 4
    assert result.stderr.startswith("ocac: error: ") and "is a directory" in result.stderr


def test_an_uncommitted_run_is_rolled_back_by_the_next_writer(cli, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_store(store_path, [conv("a"), conv("b", modified_on="2026-11-25T11:59:00Z")])
    assert cli(*SWEEP).exit_code == 0
    log = trail_path(store_path)
    committed = log.read_bytes()
    # A sweep died after appending its records but before renaming its store.
    died = _audit("died").record(Action.SWEEP, id="b", channel="chat", from_state="open", to_state="closed")
    Trail(log).append([died])
    assert cli("history", "--json").stdout.count('"died"') == 0  # readers never show it
    assert cli("conversations", "touch", "b", "--now", "2026-11-25T12:01:00Z").exit_code == 0
    assert log.read_bytes().startswith(committed) and b"died" not in log.read_bytes()
