"""The locked read-modify-write cycle: nothing written unless something changed, and then atomically,
keeping the store's permissions and symlink; a store that does not load is never written."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import msgspec
import pytest

from ocac import fsutil, history, store
from ocac.errors import LockTimeout
from ocac.model import State

T = "2026-11-25T12:00:00Z"
OLD = 1_000_000_000  # an mtime far in the past, so that a rewrite cannot go unnoticed


def conv(cid: str, channel: str = "chat", state: str = "open", modified_on: str = "2026-11-25T11:00:00Z",
         **extra: object) -> dict[str, object]:
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


# --- the core -----------------------------------------------------------------------------------------------

def test_transaction_without_change_writes_nothing(store_path: Path) -> None:
    write_store(store_path, [conv("a")])
    before = snapshot(store_path)
    with store.transaction(store_path, 1) as txn:
        assert not txn.document.dirty
        assert txn.commit() is False
    assert snapshot(store_path) == before


def test_commit_replaces_atomically_and_cleans_up(store_path: Path) -> None:
    write_store(store_path, [conv("a"), conv("b")])
    inode = os.stat(store_path).st_ino
    with store.transaction(store_path, 1) as txn:
        old = txn.document.conversations[1]
        txn.document.update(1, msgspec.structs.replace(old, state=State.ACTIVE))
        calls: list[int] = []
        assert txn.commit(before_replace=lambda: calls.append(os.stat(store_path).st_ino))
    assert calls == [inode]  # ran once, while the old store was still in place
    assert os.stat(store_path).st_ino != inode
    assert leftovers(store_path.parent) == []
    assert [c.state for c in store.load(store_path).conversations] == [State.OPEN, State.ACTIVE]


def test_failure_before_replace_leaves_the_old_store(store_path: Path) -> None:
    write_store(store_path, [conv("a")])
    before = snapshot(store_path)

    def fail() -> None:
        raise OSError("disk on fire")

    with pytest.raises(OSError), store.transaction(store_path, 1) as txn:
        txn.document.update(0, msgspec.structs.replace(txn.document.conversations[0], state=State.CLOSED))
        txn.commit(before_replace=fail)
    assert snapshot(store_path) == before
    assert leftovers(store_path.parent) == []


def test_transaction_removes_stale_temp_files_and_uncommitted_history(store_path: Path) -> None:
    write_store(store_path, [conv("a")])
    stale = store_path.parent / f".{store_path.name}.0123456789ab.tmp"
    stale.write_bytes(b'{"conversations": []}')
    log = store.history_path(store_path)
    log.write_bytes(b'{"run_id": "dead", "id": "a"}\n')  # a sweep that died before its store was committed
    with store.transaction(store_path, 1):
        pass
    assert not stale.exists()
    assert log.read_bytes() == b""


def test_transaction_waits_for_the_lock_then_gives_up(store_path: Path) -> None:
    write_store(store_path, [conv("a")])
    with fsutil.locked(store_path, 1, "store"):
        with pytest.raises(LockTimeout) as caught, store.transaction(store_path, 0.1):
            pytest.fail("the lock was held")  # pragma: no cover
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
    assert not store.history_path(store_path).exists()


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
    assert store.load(store_path).conversations[0].state is State.CLOSED


def test_symlinked_store_keeps_its_link_and_replaces_its_target(cli, tmp_path: Path, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = write_store(tmp_path / "data" / "real.json", [conv("a"), conv("b", modified_on="2026-11-25T11:59:00Z")])
    target.chmod(0o600)
    store_path.symlink_to(Path("data") / "real.json")
    result = cli(*SWEEP)
    assert result.exit_code == 0, result.stderr
    assert store_path.is_symlink()
    assert os.readlink(store_path) == str(Path("data") / "real.json")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert [c.state for c in store.load(target).conversations] == [State.CLOSED, State.OPEN]
    assert sorted(p.name for p in target.parent.iterdir()) == ["real.history.jsonl", "real.json", "real.json.lock"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conversations.json", "data"]
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
    assert json.loads(path.read_text()) == {"conversations": [
        {"id": "s1", "channel": "sms", "state": "open", "modified_on": T, "created_on": T},
    ]}  # fmt: skip
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask


def test_unreadable_store_is_a_file_access_error(cli, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    store_path.mkdir()
    result = cli(*SWEEP)
    assert result.exit_code == 4
    assert result.stderr.startswith("ocac: error: ") and "is a directory" in result.stderr


def test_history_past_the_marker_is_rolled_back_by_the_next_writer(cli, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_store(store_path, [conv("a"), conv("b", modified_on="2026-11-25T11:59:00Z")])
    assert cli(*SWEEP).exit_code == 0
    log = store.history_path(store_path)
    committed = log.read_bytes()
    marker = store.load(store_path).meta.last_sweep
    assert marker is not None and marker.history_size == len(committed)
    # A sweep died after appending its history but before renaming its store.
    history.append(log, b'{"run_id":"died","id":"b"}\n')
    assert cli("conversations", "touch", "b", "--now", "2026-11-25T12:01:00Z").exit_code == 0
    assert log.read_bytes() == committed
