"""Broken files and file-system surprises: one clear line, a fixed exit code, no traceback, nothing changed.

Every case runs the readers and the writers a file matters to, as real processes where the
kernel decides (permissions as an unprivileged user) and in-process otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ocac.model import Action, State
from ocac.store import Selection
from ocac.store.trail import trail_path
from process._support import (
    CONFIG,
    ENV,
    as_shown,
    assert_clean_failure,
    committed,
    generate_store,
    ocac_argv,
    opened,
    run,
    snapshot,
    temp_files,
    trail_bytes,
    unprivileged_user,
)

NOW = "2026-11-25T12:00:00Z"
VALID = generate_store(40, seed=11)
STORE_READERS: list[tuple[str, ...]] = [
    ("conversations", "list", "--now", NOW),
    ("conversations", "list", "--json", "--now", NOW),
    ("status", "--now", NOW),
    ("sweep", "run", "--dry-run", "--now", NOW),
    ("history",),
]
STORE_WRITERS: list[tuple[str, ...]] = [
    ("sweep", "run", "--now", NOW),
    ("conversations", "add", "--channel", "chat", "--id", "new-1", "--now", NOW),
    ("records", "delete", "INC-1"),
]
CONFIG_READERS: list[tuple[str, ...]] = [
    ("config", "show"), ("workstream", "list"), ("sweep", "run", "--dry-run", "--now", NOW)
]  # fmt: skip
CONFIG_WRITERS: list[tuple[str, ...]] = [
    ("workstream", "set", "W", "--channel", "sms"), ("config", "set", "chat", "open", "25m")
]  # fmt: skip


def _one_line(result: Any) -> str:
    stderr: str = result.stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ocac: error: "), stderr[:3000]
    assert "Traceback" not in stderr
    assert len(lines[0]) < 1500, f"an error line of {len(lines[0])} characters is not clear"
    return lines[0]


def _folder_state(folder: Path) -> dict[str, bytes | None]:
    """Every file in the folder with its bytes (lock files may appear: they hold no data)."""
    state: dict[str, bytes | None] = {}
    for path in sorted(folder.rglob("*")):
        if path.name.endswith(".lock"):
            continue
        state[str(path.relative_to(folder))] = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    return state


def _refused_everywhere(cli: Any, folder: Path, commands: list[tuple[str, ...]], code: int, *needles: str) -> None:
    before = _folder_state(folder)
    for args in commands:
        result = cli(*args)
        assert result.exit_code == code, (args, result.exit_code, result.stdout[:500], result.stderr[:2000])
        line = _one_line(result)
        for needle in needles:
            assert needle in line, (args, line)
        assert _folder_state(folder) == before, f"{args} changed a file"


# ------------------------------------------------------------------------------------- the store


def _truncations() -> list[bytes]:
    cuts = [1, 2, len(VALID) // 3, len(VALID) // 2, len(VALID) - 3, len(VALID) - 2]
    return [VALID[:cut] for cut in cuts]


BROKEN_STORES = {
    "empty": (b"", "is empty"),
    "blank": (b" \n\t\n", "is empty"),
    **{f"truncated-{i}": (data, "is not valid JSON") for i, data in enumerate(_truncations())},
    "not-utf8-in-a-field": (VALID.replace(b'"chat"', b'"ch\xffat"', 1), "not UTF-8"),
    "latin-1": ('{"conversations": [{"id": "é", "channel": "chat"}]}'.encode("latin-1"), "not UTF-8"),
    "utf-16": ('{"conversations": []}'.encode("utf-16"), "not UTF-8"),
    "array": (b'[{"id": "a"}]', "the top level must be an object"),
    "string-10mb": (b'"' + b"x" * 10_000_000 + b'"', "the top level must be an object"),
    "nested-deep": (b"[" * 200_000 + b"]" * 200_000, "store"),
    "nested-deep-in-a-field": (
        b'{"conversations": [{"id": "a", "channel": "chat", "state": "open", "modified_on": "2026-11-25T11:00:00Z",'
        b' "x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}]}",
        "nested too deeply",
    ),
    "duplicate-ids": (
        json.dumps(
            {
                "conversations": [
                    {"id": "dup", "channel": "chat", "state": "open", "modified_on": NOW},
                    {"id": "dup", "channel": "voice", "state": "open", "modified_on": NOW},
                ]
            }
        ).encode(),
        "duplicate id 'dup'",
    ),  # fmt: skip
    "id-of-10mb-with-a-bad-channel": (
        json.dumps(
            {"conversations": [{"id": "i" * 10_000_000, "channel": "fax", "state": "open", "modified_on": NOW}]}
        ).encode(),  # fmt: skip
        "fax",
    ),
    "id-with-newline-duplicated": (
        json.dumps(
            {
                "conversations": [
                    {"id": "a\nb", "channel": "chat", "state": "open", "modified_on": NOW},
                    {"id": "a\nb", "channel": "chat", "state": "open", "modified_on": NOW},
                ]
            }
        ).encode(),
        "duplicate id",
    ),  # fmt: skip
    "negative-history-size": (
        json.dumps(
            {"conversations": [], "ocac": {"last_sweep": {"run_id": "r", "at": NOW, "moved": 0, "history_size": -1}}}
        ).encode(),  # fmt: skip
        "history_size",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN_STORES), ids=list(BROKEN_STORES))
def test_a_broken_store_is_refused_and_left_alone(cli: Any, tmp_path: Path, store_path: Path, case: str) -> None:
    data, needle = BROKEN_STORES[case]
    store_path.write_bytes(data)
    _refused_everywhere(cli, tmp_path, STORE_READERS + STORE_WRITERS, 2, str(store_path), needle)
    assert not temp_files(store_path)


def test_a_deeply_nested_unknown_field_that_loads_is_shown_and_kept(cli: Any, store_path: Path) -> None:
    """Nesting msgspec can read: `show` prints it, a sweep keeps it byte for byte."""
    nested = b"[" * 300 + b"]" * 300
    store_path.write_bytes(
        b'{"conversations": [{"id": "a", "channel": "chat", "state": "open", "modified_on": "2026-11-25T11:00:00Z",'
        b' "x": ' + nested + b"}]}"
    )
    shown = cli("conversations", "show", "a", "--now", NOW)
    assert shown.exit_code in (0, 2), shown.stderr
    if shown.exit_code:
        _one_line(shown)
    swept = cli("sweep", "run", "--now", NOW)
    assert swept.exit_code == 0, swept.stderr
    assert nested in store_path.read_bytes()
    stored = opened(store_path).get("a")
    assert stored is not None and stored.conversation.state is State.CLOSED


# ------------------------------------------------------------------------------------ the config

VALID_CONFIG = CONFIG.encode()
BROKEN_CONFIGS = {
    "truncated-in-a-string": (VALID_CONFIG[: VALID_CONFIG.index(b'"14d"') + 2], "is not valid TOML"),
    "truncated-in-a-header": (VALID_CONFIG[: VALID_CONFIG.index(b"[workstreams") + 8], "is not valid TOML"),
    "not-utf8": (VALID_CONFIG.replace(b"Contoso Chat", b"Contoso \xff Chat"), "not UTF-8"),
    "string-10mb": (b'x = "' + b"y" * 10_000_000 + b'"\n', "unknown key"),
    "bare-10mb": (b"z" * 10_000_000, "is not valid TOML"),
    "nested-array": (b"a = " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "config"),
    "nested-table": (b"[" + b".".join([b"a"] * 5_000) + b"]\n", "config"),  # tomllib is quadratic here
    "duplicate-key": (b'[rules.chat]\nopen = "1h"\nopen = "2h"\n', "is not valid TOML"),
    "duplicate-table": (b'[rules.chat]\nopen = "1h"\n[rules.chat]\nwrap-up = "2h"\n', "is not valid TOML"),
    "a-json-file": (b'{"rules": {}}', "is not valid TOML"),
    "bad-duration": (b'[rules.chat]\nopen = "' + b"9" * 5000 + b'd"\n', "rules.chat.open"),
    "key-with-newline": (b'[workstreams."a\\nb"]\nchannel = "fax"\n', "unknown channel 'fax'"),
    "key-with-escape": (b'[workstreams."\\u001b[2J"]\nchannel = "fax"\n', "unknown channel 'fax'"),
}


@pytest.mark.parametrize("case", list(BROKEN_CONFIGS), ids=list(BROKEN_CONFIGS))
def test_a_broken_config_is_refused_and_left_alone(cli: Any, tmp_path: Path, config_path: Path, case: str) -> None:
    data, needle = BROKEN_CONFIGS[case]
    config_path.write_bytes(data)
    _refused_everywhere(cli, tmp_path, CONFIG_READERS + CONFIG_WRITERS, 2, str(config_path), needle)
    assert not temp_files(config_path)


def test_an_empty_config_means_the_defaults(cli: Any, config_path: Path) -> None:
    config_path.write_bytes(b"")
    shown = cli("config", "show", "--json")
    assert shown.exit_code == 0
    assert {row["source"] for row in json.loads(shown.stdout)} == {"default"}
    assert cli("config", "set", "chat", "open", "25m").exit_code == 0
    assert config_path.read_text() == '[rules.chat]\nopen = "25m"\n'


# ------------------------------------------------------------------------------------ import files

BROKEN_IMPORTS = {
    "empty": (b"", "is not valid JSON"),
    "truncated": (b'[{"id": "a", "channel": "ch', "is not valid JSON"),
    "not-utf8-in-a-field": (
        b'[{"id": "a\xff", "channel": "chat", "modified_on": "2026-11-25T12:00:00Z"}]',
        "not UTF-8",
    ),
    "not-utf8-in-an-unknown-field": (
        b'[{"id": "a", "channel": "chat", "modified_on": "2026-11-25T12:00:00Z", "note": "\xff"}]',
        "not UTF-8",
    ),
    "array-of-numbers": (b"[1, 2]", "expected"),
    "string-10mb": (b'"' + b"s" * 10_000_000 + b'"', "expected"),
    "nested-deep": (b"[" * 200_000 + b"]" * 200_000, "import.json"),
    "duplicate-ids": (
        b'[{"id": "d", "channel": "chat", "modified_on": "2026-11-25T12:00:00Z"},'
        b' {"id": "d", "channel": "voice", "modified_on": "2026-11-25T12:00:00Z"}]',
        "duplicate id 'd'",
    ),
    "channel-of-10mb": (
        b'[{"id": "a", "channel": "' + b"c" * 10_000_000 + b'", "modified_on": "2026-11-25T12:00:00Z"}]',
        "channel",
    ),
    "time-without-offset": (b'[{"id": "a", "channel": "chat", "modified_on": "2026-11-25T12:00:00"}]', "no offset"),
}


@pytest.mark.parametrize("case", list(BROKEN_IMPORTS), ids=list(BROKEN_IMPORTS))
def test_a_broken_import_file_is_refused_and_the_store_left_alone(
    cli: Any, tmp_path: Path, store_path: Path, case: str
) -> None:
    data, needle = BROKEN_IMPORTS[case]
    store_path.write_bytes(VALID)
    source = tmp_path / "import.json"
    source.write_bytes(data)
    _refused_everywhere(cli, tmp_path, [("conversations", "import", str(source))], 2, "import.json", needle)


def test_an_import_file_that_is_missing_or_a_folder(cli: Any, tmp_path: Path, store_path: Path) -> None:
    store_path.write_bytes(VALID)
    (tmp_path / "folder.json").mkdir()
    missing = tmp_path / "no" / "such" / "import.json"
    _refused_everywhere(cli, tmp_path, [("conversations", "import", str(missing))], 2, "does not exist")
    folder = str(tmp_path / "folder.json")
    _refused_everywhere(cli, tmp_path, [("conversations", "import", folder)], 4, "is a directory")


# ------------------------------------------------------------------------- things in the way


def test_a_folder_where_the_store_should_be(cli: Any, tmp_path: Path, store_path: Path) -> None:
    store_path.mkdir()
    _refused_everywhere(cli, tmp_path, STORE_READERS + STORE_WRITERS, 4, "is a directory")


def test_a_folder_where_the_config_should_be(cli: Any, tmp_path: Path, config_path: Path) -> None:
    config_path.unlink()
    config_path.mkdir()
    _refused_everywhere(cli, tmp_path, CONFIG_READERS + CONFIG_WRITERS, 4, "is a directory")


def test_a_folder_where_the_history_should_be(cli: Any, tmp_path: Path, store_path: Path) -> None:
    store_path.write_bytes(VALID)
    trail_path(store_path).mkdir()
    _refused_everywhere(cli, tmp_path, [("sweep", "run", "--now", NOW), ("history",)], 4, "history", "is a directory")
    assert cli("conversations", "list", "--now", NOW).exit_code == 0


SPECIAL_COMMANDS: dict[str, list[tuple[str, ...]]] = {
    "store": [("conversations", "list", "--json", "--now", NOW), ("sweep", "run", "--now", NOW)],
    "config": [("config", "show"), ("config", "set", "chat", "open", "25m")],
    "history": [("history",), ("sweep", "run", "--now", NOW)],
    "import": [("conversations", "import", "IMPORT")],
}


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
@pytest.mark.parametrize("role", list(SPECIAL_COMMANDS))
def test_a_special_file_is_refused_without_hanging(
    cli: Any, tmp_path: Path, store_path: Path, config_path: Path, role: str, kind: str
) -> None:
    """A FIFO would block a reader forever, /dev/zero would flood it: both are refused at once."""
    if role != "store":
        store_path.write_bytes(VALID)
    path = {"store": store_path, "config": config_path, "history": trail_path(store_path),
            "import": tmp_path / "import.json"}[role]  # fmt: skip
    path.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    else:
        os.symlink("/dev/zero", path)
    commands = [tuple(str(path) if a == "IMPORT" else a for a in args) for args in SPECIAL_COMMANDS[role]]
    before = _folder_state(tmp_path)
    for args in commands:
        result = cli(*args)
        assert result.exit_code in (2, 4), (args, result.exit_code, result.stderr)
        assert str(path.name) in _one_line(result), args
        assert _folder_state(tmp_path) == before, f"{args} changed a file"


def test_a_history_that_is_a_symbolic_link_is_never_opened(cli: Any, tmp_path: Path, store_path: Path) -> None:
    store_path.write_bytes(VALID)
    victim = tmp_path / "elsewhere.jsonl"
    victim.write_bytes(b"precious\n")
    os.symlink(victim, trail_path(store_path))
    commands = [("history",), ("sweep", "run", "--now", NOW), ("records", "delete", "INC-1"),
                ("conversations", "add", "--channel", "chat", "--id", "new-1", "--now", NOW)]  # fmt: skip
    _refused_everywhere(cli, tmp_path, commands, 4, "symbolic link")
    assert victim.read_bytes() == b"precious\n"


def test_a_folder_where_the_lock_file_should_be(cli: Any, tmp_path: Path, store_path: Path, config_path: Path) -> None:
    store_path.write_bytes(VALID)
    config_path.write_text(CONFIG)
    for path in (store_path, config_path):
        path.with_name(path.name + ".lock").mkdir()
    _refused_everywhere(cli, tmp_path, STORE_WRITERS + CONFIG_WRITERS, 4, ".lock")


def test_a_file_where_the_parent_folder_should_be(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "plain-file").write_text("I am a file")
    monkeypatch.setenv("OCAC_STORE", str(tmp_path / "plain-file" / "conversations.json"))
    monkeypatch.setenv("OCAC_CONFIG", str(tmp_path / "plain-file" / "config.toml"))
    _refused_everywhere(cli, tmp_path, STORE_READERS + STORE_WRITERS + CONFIG_WRITERS, 4, "plain-file")


def test_a_missing_parent_folder(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Readers see an empty store; writers create the folders (as for the default paths)."""
    store_path = tmp_path / "new" / "data" / "conversations.json"
    config_path = tmp_path / "new" / "config" / "config.toml"
    monkeypatch.setenv("OCAC_STORE", str(store_path))
    monkeypatch.setenv("OCAC_CONFIG", str(config_path))
    shown = cli("history", "--json")
    assert (shown.exit_code, shown.stdout.strip()) == (0, "[]")
    listed = cli("conversations", "list", "--json", "--now", NOW)  # a named config that does not exist: refused
    assert listed.exit_code == 2 and "does not exist" in _one_line(listed)
    assert not (tmp_path / "new").exists(), "a reader created folders"
    assert cli("conversations", "add", "--channel", "chat", "--id", "a", "--now", NOW).exit_code == 0
    assert [c.id for c in opened(store_path).select(Selection())] == ["a"]
    created = cli("config", "set", "chat", "open", "25m")  # what the refusal above says creates the file
    assert created.exit_code == 0, created.stderr
    assert config_path.read_text() == '[rules.chat]\nopen = "25m"\n'


def test_a_symlink_loop_instead_of_the_store(cli: Any, tmp_path: Path, store_path: Path) -> None:
    other = tmp_path / "other.json"
    os.symlink(other, store_path)
    os.symlink(store_path, other)
    _refused_everywhere(cli, tmp_path, STORE_READERS + STORE_WRITERS, 4, "conversations.json")


# -------------------------------------------------------------------------------------- symlinks


def test_a_symlinked_store_and_config_keep_their_links(cli: Any, tmp_path: Path, store_path: Path,
                                                       config_path: Path) -> None:  # fmt: skip
    real = tmp_path / "real"
    real.mkdir()
    (real / "conversations.json").write_bytes(VALID)
    (real / "config.toml").write_text(CONFIG)
    config_path.unlink()
    os.symlink(Path("real") / "conversations.json", store_path)  # relative links, as people make them
    os.symlink(real / "config.toml", config_path)
    before = snapshot(VALID)
    assert cli("sweep", "run", "--now", NOW).exit_code == 0
    assert cli("config", "set", "chat", "open", "25m").exit_code == 0
    assert store_path.is_symlink() and os.readlink(store_path) == str(Path("real") / "conversations.json")
    assert config_path.is_symlink() and os.readlink(config_path) == str(real / "config.toml")
    after = snapshot((real / "conversations.json").read_bytes())
    assert after != before
    assert '[rules.chat]\nopen = "25m"' in (real / "config.toml").read_text()
    # the history, lock and temporary files live beside the target, not beside the link
    assert (real / "conversations.history.jsonl").exists()
    assert not (tmp_path / "conversations.history.jsonl").exists()
    assert not temp_files(real / "conversations.json") and not temp_files(store_path)
    shown = cli("history", "--json", "--action", "sweep")
    assert len(json.loads(shown.stdout)) == sum(1 for k in after if after[k][0] != before[k][0])


def test_a_dangling_symlink_store_is_created_at_its_target(cli: Any, tmp_path: Path, store_path: Path) -> None:
    target = tmp_path / "elsewhere" / "conversations.json"
    target.parent.mkdir()
    os.symlink(target, store_path)
    listed = cli("conversations", "list", "--json", "--now", NOW)
    assert (listed.exit_code, listed.stdout.strip()) == (0, "[]")
    assert cli("conversations", "add", "--channel", "chat", "--id", "a", "--now", NOW).exit_code == 0
    assert store_path.is_symlink() and target.is_file()


# ------------------------------------------------------------------------ read-only, for real

USER = unprivileged_user()


@pytest.fixture
def as_user() -> Iterator[tuple[str, Path]]:
    """A folder the unprivileged user owns, in a place it can reach; cleaned up afterwards."""
    if USER is None:
        pytest.skip("no unprivileged user to run as (root ignores permissions; 'nobody' + setpriv not available)")
    folder = Path(tempfile.mkdtemp(prefix="ocac-ro-", dir="/tmp"))
    os.chmod(folder, 0o755)
    shutil.chown(folder, USER)
    try:
        yield USER, folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                os.chmod(path, 0o755)
        shutil.rmtree(folder)


def _owned(user: str, path: Path, data: bytes, mode: int) -> Path:
    path.write_bytes(data)
    shutil.chown(path, user)
    os.chmod(path, mode)
    return path


def _run_as(user: str, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(ocac_argv(folder / "data" / "conversations.json", folder / "data" / "config.toml", *args), user=user)


def _data_folder(user: str, folder: Path) -> Path:
    """The user's data folder, with an empty configuration (a test may replace it)."""
    data = folder / "data"
    data.mkdir()
    shutil.chown(data, user)
    _owned(user, data / "config.toml", b"", 0o644)
    return data


def test_a_read_only_store_is_not_replaced(as_user: tuple[str, Path]) -> None:
    user, folder = as_user
    data = _data_folder(user, folder)
    path = _owned(user, data / "conversations.json", VALID, 0o444)
    assert snapshot(VALID) != {}
    for args in STORE_WRITERS:
        result = _run_as(user, folder, *args)
        assert_clean_failure(result, 4, str(path), "read-only")
        assert path.read_bytes() == VALID and stat.S_IMODE(path.stat().st_mode) == 0o444
        assert not temp_files(path)
        assert not (data / "conversations.history.jsonl").exists()
    for args in STORE_READERS:
        assert _run_as(user, folder, *args).returncode == 0, args


def test_a_read_only_config_is_not_replaced(as_user: tuple[str, Path]) -> None:
    user, folder = as_user
    data = _data_folder(user, folder)
    path = _owned(user, data / "config.toml", VALID_CONFIG, 0o444)
    for args in CONFIG_WRITERS:
        result = _run_as(user, folder, *args)
        assert_clean_failure(result, 4, str(path), "read-only")
        assert path.read_bytes() == VALID_CONFIG and not temp_files(path)
    for args in CONFIG_READERS:
        assert _run_as(user, folder, *args).returncode == 0, args


@pytest.mark.parametrize("lock_exists", [False, True], ids=["no-lock-file", "lock-file-left-earlier"])
def test_files_in_a_read_only_folder(as_user: tuple[str, Path], lock_exists: bool) -> None:
    user, folder = as_user
    data = _data_folder(user, folder)
    store_path = _owned(user, data / "conversations.json", VALID, 0o644)
    config_path = _owned(user, data / "config.toml", VALID_CONFIG, 0o644)
    if lock_exists:
        for path in (store_path, config_path):
            _owned(user, path.with_name(path.name + ".lock"), b"", 0o644)
    os.chmod(data, 0o555)
    before = sorted(p.name for p in data.iterdir())
    for args in STORE_WRITERS + CONFIG_WRITERS:
        result = _run_as(user, folder, *args)
        line = assert_clean_failure(result, 4, str(data))
        assert "permission denied" in line.lower(), line
        assert sorted(p.name for p in data.iterdir()) == before, "a temporary file was left behind"
        assert store_path.read_bytes() == VALID and config_path.read_bytes() == VALID_CONFIG
    for args in STORE_READERS + CONFIG_READERS:
        assert _run_as(user, folder, *args).returncode == 0, args


def test_a_missing_parent_that_cannot_be_created(as_user: tuple[str, Path]) -> None:
    user, folder = as_user
    os.chmod(folder, 0o555)
    creators = [args for args in STORE_WRITERS if args[:2] != ("sweep", "run")]  # a missing store: nothing to sweep
    for args in creators + CONFIG_WRITERS:
        result = _run_as(user, folder, *args)
        line = assert_clean_failure(result, 4, str(folder / "data"))
        assert "permission denied" in line.lower(), line
    assert list(folder.iterdir()) == []


def test_a_store_the_user_cannot_reach_fails_loudly_in_every_mode(as_user: tuple[str, Path]) -> None:
    """A folder the user cannot enter is an error, never "no store yet", even for the quiet cron form."""
    user, folder = as_user
    config_path = _owned(user, folder / "config.toml", VALID_CONFIG, 0o644)
    hidden = folder / "hidden"
    hidden.mkdir(mode=0o700)  # root's: the user cannot search it
    store_path = hidden / "conversations.json"
    store_path.write_bytes(VALID)
    for args in [("sweep", "run", "--quiet", "--now", NOW), *STORE_READERS, ("doctor", "--now", NOW), *STORE_WRITERS]:
        result = run(ocac_argv(store_path, config_path, *args), user=user)
        line = assert_clean_failure(result, 4, str(store_path))
        assert "permission denied" in line.lower(), line
        assert result.stdout == ""
    assert sorted(path.name for path in hidden.iterdir()) == ["conversations.json"]
    assert store_path.read_bytes() == VALID


def test_files_a_root_run_creates_beside_a_users_store_stay_the_users(as_user: tuple[str, Path]) -> None:
    user, folder = as_user
    data = _data_folder(user, folder)
    store_path = _owned(user, data / "conversations.json", VALID, 0o600)
    config_path = _owned(user, data / "config.toml", VALID_CONFIG, 0o600)
    as_root = [("sweep", "run", "--now", NOW), ("config", "set", "chat", "open", "25m")]
    for args in as_root:
        result = run(ocac_argv(store_path, config_path, *args))
        assert result.returncode == 0, (args, result.stderr)
    owner = (store_path.stat().st_uid, store_path.stat().st_gid)
    created = ["config.toml.lock", "conversations.history.jsonl", "conversations.json.lock"]
    assert sorted(path.name for path in data.iterdir()) == sorted([*created, "config.toml", "conversations.json"])
    for name in [*created, "config.toml", "conversations.json"]:
        info = (data / name).stat()
        assert (info.st_uid, info.st_gid) == owner, name
    later = "2026-11-27T12:00:00Z"
    for args in [("sweep", "run", "--now", later), ("history",), ("config", "set", "chat", "open", "30m"),
                 ("conversations", "add", "--channel", "chat", "--id", "mine", "--now", later)]:  # fmt: skip
        result = _run_as(user, folder, *args)
        assert result.returncode == 0, (args, result.stderr)


def test_doctor_reports_a_store_the_user_cannot_write(as_user: tuple[str, Path]) -> None:
    user, folder = as_user
    data = _data_folder(user, folder)
    store_path = _owned(user, data / "conversations.json", VALID, 0o444)
    result = _run_as(user, folder, "doctor", "--now", NOW)
    assert result.returncode == 7, result.stderr
    (finding,) = [line for line in result.stdout.splitlines() if line.startswith("writable:")]
    assert str(store_path) in finding and "not writable by this user" in finding
    os.chmod(store_path, 0o644)
    again = _run_as(user, folder, "doctor", "--now", NOW)
    assert not any(line.startswith("writable:") for line in again.stdout.splitlines()), again.stdout


def test_an_immutable_store_for_root_too(tmp_path: Path, store_path: Path) -> None:
    """chattr +i binds root as well: the rename is refused, the old store stays, no temp is left."""
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        pytest.skip("needs root and chattr")
    store_path.write_bytes(VALID)
    config_path = tmp_path / "config.toml"
    if subprocess.run(["chattr", "+i", str(tmp_path)], capture_output=True, check=False).returncode:
        pytest.skip(f"the file system of {tmp_path} does not support chattr +i")
    try:
        for args in STORE_WRITERS:
            result = run(ocac_argv(store_path, config_path, *args))
            assert_clean_failure(result, 4, str(tmp_path))
            assert store_path.read_bytes() == VALID
        assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "conversations.json"]
    finally:
        subprocess.run(["chattr", "-i", str(tmp_path)], check=True)


# --------------------------------------------------------------------------------------- history


def _swept_store(cli: Any, store_path: Path) -> bytes:
    store_path.write_bytes(VALID)
    assert cli("sweep", "run", "--now", NOW).exit_code == 0
    history = trail_bytes(store_path)
    assert history.count(b"\n") > 1
    return history


@pytest.mark.parametrize("damage", [b'{"run_id": "r\xff"}\n', b"not json\n", b'{"run_id": 1}\n'],
                         ids=["not-utf8", "not-json", "wrong-shape"])  # fmt: skip
def test_a_damaged_committed_line_is_skipped_reported_and_kept(cli: Any, store_path: Path, damage: bytes) -> None:
    history = _swept_store(cli, store_path)
    records = committed(store_path)
    damaged = damage + history[history.index(b"\n") + 1 :]  # the first record damaged
    trail_path(store_path).write_bytes(damaged)
    for args in (("history",), ("history", "--json")):
        result = cli(*args)
        assert result.exit_code == 0, result.stderr
        warning = result.stderr.strip()
        assert warning.startswith("ocac: warning: history ") and len(warning.splitlines()) == 1, warning
        assert str(trail_path(store_path)) in warning and "skipped 1 damaged line(s) (line 1 first)" in warning
    shown = cli("history", "--json")
    assert json.loads(shown.stdout) == as_shown(records[1:])
    later = cli("sweep", "run", "--now", "2026-11-27T12:00:00Z")
    assert later.exit_code == 0, later.stderr
    assert trail_bytes(store_path).startswith(damaged), "committed history was rewritten"
    assert committed(store_path)[: len(records) - 1] == records[1:]


@pytest.mark.parametrize("tail", [b'{"run_id": "r\xff"}\n', b"not json\n", b'{"run_id": "x", "id": "a"'],
                         ids=["not-utf8", "not-json", "half-a-line"])  # fmt: skip
def test_garbage_after_the_committed_history_is_skipped_and_never_glued_to(
    cli: Any, store_path: Path, tail: bytes
) -> None:
    history = _swept_store(cli, store_path)
    records = committed(store_path)
    trail_path(store_path).write_bytes(history + tail)
    shown = cli("history", "--json")
    assert shown.exit_code == 0, shown.stderr
    assert [row["id"] for row in json.loads(shown.stdout)] == [r.id for r in records]
    if tail.endswith(b"\n"):
        assert "damaged line" in shown.stderr
    else:  # a line still being appended, or torn by a killed writer: the next writer removes it
        assert shown.stderr == ""
    added = cli("conversations", "add", "--channel", "chat", "--id", "after", "--now", NOW)
    assert added.exit_code == 0, added.stderr
    data = trail_bytes(store_path)
    assert data.startswith(history), "committed history was rewritten"
    if tail.endswith(b"\n"):  # a whole line that is not a record: left alone, like any damaged line
        assert data.startswith(history + tail)
    lines = [line for line in data[len(history) :].splitlines() if line and line != tail.rstrip(b"\n")]
    written = [json.loads(line) for line in lines]  # the next writer's lines are whole, never glued to the garbage
    assert [(line.get("action"), line.get("id"), line.get("commit", False)) for line in written] == [
        ("add", "after", False), ("add", None, True),
    ]  # fmt: skip
    after = committed(store_path)
    assert after[: len(records)] == records
    assert [(r.kind, r.id) for r in after[len(records) :]] == [(Action.ADD, "after")]


def test_a_dataverse_import_that_is_not_utf8(cli: Any, tmp_path: Path, store_path: Path) -> None:
    store_path.write_bytes(VALID)
    source = tmp_path / "import.json"
    source.write_bytes(b'{"value": [{"activityid": "a\xff", "note": "\xfe"}]}')
    _refused_everywhere(
        cli, tmp_path, [("conversations", "import", "--format", "dataverse", str(source))], 2, "not UTF-8"
    )


# ------------------------------------------------------------------------------- a closed stdout


@pytest.mark.parametrize(
    "args",
    [("conversations", "list", "--now", NOW), ("conversations", "list", "--json", "--now", NOW),
     ("conversations", "show", "c000001", "--now", NOW), ("status", "--now", NOW), ("config", "show"),
     ("sweep", "run", "--dry-run", "--now", NOW)],
    ids=["list", "list-json", "show", "status", "config-show", "dry-run"],
)  # fmt: skip
def test_a_reader_that_goes_away_is_not_an_error(tmp_path: Path, args: tuple[str, ...]) -> None:
    """`ocac … | head -1`: the pipe closes early; ocac stops quietly with 0, as its handler intends."""
    store_path = tmp_path / "conversations.json"
    data = json.loads(VALID)
    data["conversations"][1]["id"] = "c000001"
    store_path.write_text(json.dumps(data))
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before ocac writes a byte
    try:
        process = subprocess.Popen(
            ocac_argv(store_path, tmp_path / "config.toml", *args), stdout=writer, stderr=subprocess.PIPE,
            env={**ENV, "COLUMNS": "200"},
        )  # fmt: skip
    finally:
        os.close(writer)
    _, err = process.communicate(timeout=60)
    assert (process.returncode, err.decode()) == (0, "")
