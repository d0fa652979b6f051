"""Security: permissions are kept, new files follow the umask, input is data and never code or paths.

- the store, config and history keep their mode (and, when root writes them, their owner);
- new files get 0o666 & ~umask, so never world-writable under a sane umask;
- nothing evaluates input: no eval/exec/shell in the source, hostile strings in every field
  stay inert through every command, the notify command gets them on stdin only;
- paths in the data are never opened (checked with a Python audit hook in the real process);
- data cannot drive the terminal: control characters are shown as escapes;
- a lock file or leftover temp file that is a symlink cannot be used to clobber another file.
"""

from __future__ import annotations

import ast
import json
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from ocac.store.trail import trail_path
from process._support import CONFIG, PYTHON, generate_store, ocac_argv, run, temp_files, unprivileged_user

SRC = Path(__file__).resolve().parents[2] / "src" / "ocac"
NOW = "2026-11-25T12:00:00Z"
VALID = generate_store(60, seed=12)


# ---------------------------------------------------------------------------------- permissions

WRITERS = [
    ("sweep", "run", "--now", NOW),
    ("conversations", "add", "--channel", "chat", "--id", "sec-new", "--now", NOW),
    ("conversations", "touch", "sec-keep", "--now", NOW),
    ("conversations", "set-state", "sec-keep", "active", "--now", NOW),
    ("records", "delete", "INC-000003"),
    ("conversations", "import", "IMPORT"),
    ("config", "set", "chat", "open", "25m"),
    ("workstream", "set", "Sec", "--channel", "sms", "--auto-close-after", "1d"),
    ("config", "unset", "chat", "open"),
]


def _store_with_keeper() -> bytes:
    data = json.loads(VALID)
    data["conversations"].append({"id": "sec-keep", "channel": "case", "state": "open", "modified_on": NOW})
    return json.dumps(data).encode()


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o604, 0o660, 0o666], ids=oct)
def test_store_config_and_history_keep_their_mode(cli: Any, tmp_path: Path, store_path: Path, config_path: Path,
                                                  mode: int) -> None:  # fmt: skip
    store_path.write_bytes(_store_with_keeper())
    config_path.write_text(CONFIG)
    history = trail_path(store_path)
    history.write_bytes(b"")
    incoming = tmp_path / "incoming.json"
    incoming.write_text(json.dumps([{"id": "sec-imp", "channel": "chat", "modified_on": NOW}]))
    for path in (store_path, config_path, history):
        os.chmod(path, mode)
    before = {path: path.read_bytes() for path in (store_path, config_path)}
    for args in WRITERS:
        result = cli(*(str(incoming) if a == "IMPORT" else a for a in args))
        assert result.exit_code == 0, (args, result.stderr)
        for path in (store_path, config_path, history):
            assert stat.S_IMODE(path.stat().st_mode) == mode, (args, path.name, oct(path.stat().st_mode))
    assert all(path.read_bytes() != data for path, data in before.items()), "the files were not rewritten"
    assert history.stat().st_size > 0


def test_root_keeps_the_owner_of_files_it_replaces(tmp_path: Path) -> None:
    user = unprivileged_user()
    if user is None:
        pytest.skip("needs root and an unprivileged user to own the files")
    import pwd

    entry = pwd.getpwnam(user)
    store_path, config_path = tmp_path / "conversations.json", tmp_path / "config.toml"
    store_path.write_bytes(VALID)
    config_path.write_text(CONFIG)
    for path in (store_path, config_path):
        os.chown(path, entry.pw_uid, entry.pw_gid)
        os.chmod(path, 0o640)
    for args in (("sweep", "run", "--now", NOW), ("config", "set", "chat", "open", "25m")):
        result = run(ocac_argv(store_path, config_path, *args))
        assert result.returncode == 0, result.stderr
    for path in (store_path, config_path):
        info = path.stat()
        assert (info.st_uid, info.st_gid) == (entry.pw_uid, entry.pw_gid), f"{path.name} now belongs to root"
        assert stat.S_IMODE(info.st_mode) == 0o640


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o027, 0o002], ids=oct)
def test_new_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    folder = tmp_path / "new"
    store_path, config_path = folder / "data" / "conversations.json", folder / "config" / "config.toml"
    for args in (
        ("conversations", "add", "--channel", "chat", "--id", "a", "--now", "2026-11-25T10:00:00Z"),
        ("workstream", "set", "W", "--channel", "sms"),  # creates the (named) configuration
        ("sweep", "run", "--now", NOW),
        ("config", "set", "chat", "open", "25m"),
    ):
        result = run(ocac_argv(store_path, config_path, *args), umask=umask)
        assert result.returncode == 0, result.stderr
    created = list(folder.rglob("*"))
    names = {p.name for p in created}
    assert {"conversations.json", "conversations.history.jsonl", "config.toml"} <= names
    for path in created:
        mode = stat.S_IMODE(path.stat().st_mode)
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        if path.name.endswith(".lock"):  # the lock library's choice; it holds no data
            assert not mode & 0o002, (path.name, oct(mode))
            continue
        assert mode == expected, (path.name, oct(mode), oct(expected))
        assert not mode & 0o002, f"{path.name} is world-writable"


# ------------------------------------------------------------------------ nothing evaluates input

FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "execfile", "input"}
FORBIDDEN_ATTRIBUTES = {("os", "system"), ("os", "popen"), ("os", "execv"), ("os", "execvp"), ("os", "spawnl"),
                        ("pickle", "loads"), ("pickle", "load"), ("marshal", "loads"), ("yaml", "load"),
                        ("importlib", "import_module")}  # fmt: skip
FORBIDDEN_MODULES = {"pickle", "marshal", "shelve", "yaml", "dill", "code", "codeop"}


def _call_problems(node: ast.Call, where: str, subprocess_calls: list[str]) -> list[str]:
    """What a call does that ocac must never do: eval and friends, a shell, os.system, unpickling."""
    problems = []
    func = node.func
    if isinstance(func, ast.Name) and func.id in FORBIDDEN_CALLS:
        problems.append(f"{where}: {func.id}()")
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        if (func.value.id, func.attr) in FORBIDDEN_ATTRIBUTES:
            problems.append(f"{where}: {func.value.id}.{func.attr}()")
        if func.value.id == "subprocess":
            subprocess_calls.append(where)
    for keyword in node.keywords:
        off = isinstance(keyword.value, ast.Constant) and not keyword.value.value
        if keyword.arg == "shell" and not off:
            problems.append(f"{where}: shell=")
    return problems


def test_the_source_has_no_eval_no_shell_no_unpickling() -> None:
    problems = []
    subprocess_calls: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(SRC)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                problems += _call_problems(node, where, subprocess_calls)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                problems += [f"{where}: import {name}" for name in names if name.split(".")[0] in FORBIDDEN_MODULES]
    assert not problems, problems
    # Only the notify command (`ocac.sweep.notify`, for --notify-command) runs another program.
    assert subprocess_calls and all(call.startswith("sweep.py:") for call in subprocess_calls), subprocess_calls


HOSTILE = [
    "$(touch {marker})",
    "`touch {marker}`",
    "; touch {marker}",
    "| touch {marker}",
    "{{__import__('os').system('touch {marker}')}}",
    "__import__('os').system('touch {marker}')",
    "%(x)s %s %n {{0}} {{self}}",
    "../../../../{marker}",
    "{marker}",
    "file://{marker}",
    "\x1b]0;pwned\x07\x1b[2J\x1b[31m",
    "line\nbreak\r\x00nul",
    "' OR '1'='1",
]


def _hostile_store(marker: Path) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    for number, template in enumerate(HOSTILE):
        text = template.format(marker=marker)
        items.append({
            "id": f"{text}#{number}", "channel": ["chat", "voice", "sms", "case"][number % 4],
            "state": "open", "modified_on": "2026-11-20T00:00:00Z", "workstream": text, "record_id": text,
            "created_on": "2026-11-19T00:00:00Z", "path": str(marker), "note": {"cmd": text, "file": text},
        })  # fmt: skip
    return items


def _no_escape(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\x00" not in text, repr(text[:500])


def test_hostile_strings_stay_inert_through_every_command(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    store_path, config_path = tmp_path / "conversations.json", tmp_path / "config.toml"
    items = _hostile_store(marker)
    store_path.write_text(json.dumps({"conversations": items, "deleted_records": [items[3]["record_id"]]}))
    config_path.write_text(CONFIG + "".join(
        f'\n[workstreams.{json.dumps(str(item["workstream"]))}]\nchannel = "sms"\nauto_close_after = "1d"\n'
        for item in items[:4]
    ))  # fmt: skip
    incoming = tmp_path / "incoming.json"
    incoming.write_text(json.dumps([item | {"id": f"imported {item['id']}"} for item in items]))
    notified = tmp_path / "notified.json"
    notify = f"{PYTHON} -c \"import sys; open(sys.argv[1], 'wb').write(sys.stdin.buffer.read())\" {notified}"
    first_id = str(items[0]["id"])
    commands = [
        ("config", "show"),
        ("workstream", "list"),
        ("conversations", "list", "--now", NOW),
        ("conversations", "list", "--json", "--now", NOW),
        ("conversations", "show", first_id, "--now", NOW),
        ("status", "--now", NOW),
        ("sweep", "run", "--dry-run", "--now", NOW),
        ("conversations", "import", str(incoming)),
        ("conversations", "touch", f"imported {first_id}", "--now", NOW),
        ("sweep", "run", "--now", NOW, "--notify-command", notify),
        ("history",),
        ("history", "--json"),
        ("history", "--format", "dataverse"),
        ("records", "delete", str(items[5]["record_id"])),
        ("records", "list"),
        ("conversations", "show", "no such $(touch {marker})", "--now", NOW),
        ("config", "set", "chat", "open", "$(touch {marker})"),
        ("workstream", "set", f"; touch {marker}", "--channel", "`touch {marker}`"),
    ]
    for args in commands:
        result = run(ocac_argv(store_path, config_path, *args), cwd=tmp_path)
        assert result.returncode in (0, 2), (args, result.stderr)
        assert "Traceback" not in result.stderr
        if "--json" not in args:
            _no_escape(result.stdout)
        _no_escape(result.stderr)
        assert not marker.exists(), f"{args} ran something from the data"
    payload = json.loads(notified.read_text())  # the data reached the notify command on stdin, intact
    assert {t["id"] for t in payload["transitions"]} >= {str(items[0]["id"])}
    listed = run(ocac_argv(store_path, config_path, "conversations", "list", "--all", "--json", "--now", NOW))
    ids = {row["id"] for row in json.loads(listed.stdout)}
    assert {str(item["id"]) for item in items} <= ids  # stored and shown verbatim


AUDIT = r"""
import os, sys
log = []
WATCH = {"open", "os.listdir", "os.scandir", "glob.glob", "os.remove", "os.rename", "os.truncate",
         "os.chmod", "os.chown", "os.mkdir", "os.symlink", "os.link", "shutil.copyfile"}
RUN = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "pty.spawn"}
def hook(event, args):
    if event in WATCH and args and isinstance(args[0], (str, bytes, os.PathLike)):
        log.append((event, os.fsdecode(args[0])))
    elif event in RUN:
        log.append((event, repr(args)[:300]))
sys.addaudithook(hook)
from ocac.cli import app
try:
    app(args=sys.argv[2:], prog_name="ocac")
finally:
    import json
    data = json.dumps(log).encode()
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, data)
    os.close(fd)
"""


def test_paths_in_the_data_are_never_opened(tmp_path: Path) -> None:
    """Every file the process touches, seen by a Python audit hook, is ocac's own."""
    folder = tmp_path / "work"
    folder.mkdir()
    secret = folder / "ocac-sentinel.txt"
    secret.write_text("do not read")
    (folder / "sub").mkdir()
    (folder / "sub" / "ocac-sentinel.txt").write_text("do not read")
    store_path, config_path = folder / "conversations.json", folder / "config.toml"
    items = []
    references = [
        str(secret), "ocac-sentinel.txt", "./ocac-sentinel.txt", "sub/ocac-sentinel.txt", "../work/ocac-sentinel.txt",
        f"file://{secret}", "~/ocac-sentinel.txt", str(folder / "sub"),
    ]  # fmt: skip
    for reference in references:
        items.append({"id": reference, "channel": "chat", "state": "open", "modified_on": "2026-11-20T00:00:00Z",
                      "workstream": reference, "record_id": reference, "attachment": reference,
                      "path": {"file": reference}})  # fmt: skip
    store_path.write_text(json.dumps({"conversations": items, "deleted_records": references}))
    config_path.write_text(f'[workstreams.{json.dumps(str(secret))}]\nchannel = "sms"\n')
    incoming = folder / "incoming.json"
    incoming.write_text(json.dumps([item | {"id": f"new {item['id']}"} for item in items]))
    log_path = tmp_path / "audit.json"
    allowed = {store_path, config_path, trail_path(store_path), incoming,
               folder / "conversations.json.lock", folder / "config.toml.lock", folder}  # fmt: skip
    temp = re.compile(r"\.(conversations\.json|config\.toml)\.[0-9a-f]{12}\.tmp$")
    for args in (
        ("conversations", "list", "--now", NOW), ("conversations", "show", str(secret), "--now", NOW),
        ("conversations", "import", str(incoming)), ("sweep", "run", "--now", NOW), ("history",),
        ("status", "--now", NOW), ("records", "delete", "sub/ocac-sentinel.txt"),
        ("config", "set", "chat", "open", "25m"), ("workstream", "list"),
    ):  # fmt: skip
        result = run([PYTHON, "-c", AUDIT, str(log_path), "--store", str(store_path), "--config", str(config_path),
                      *args], cwd=folder)  # fmt: skip
        assert result.returncode == 0, (args, result.stderr)
        events = json.loads(log_path.read_text())
        for event, target in events:
            assert not event.startswith(("subprocess", "os.system", "os.exec", "os.posix_spawn", "os.fork")), (
                args, event, target)  # fmt: skip
            path = Path(os.path.abspath(os.path.join(folder, target)))
            if path == folder or folder not in path.parents:
                assert "ocac-sentinel" not in target, (args, event, target)
                continue
            assert path in allowed or temp.search(path.name), f"{args}: {event} {target}"


# ------------------------------------------------------------------------------------- terminal


def test_control_characters_in_data_do_not_reach_the_terminal(tmp_path: Path) -> None:
    store_path, config_path = tmp_path / "conversations.json", tmp_path / "config.toml"
    config_path.write_text(CONFIG)
    evil = "\x1b]0;owned\x07\x1b[2J\x9b31m\rX"
    store_path.write_text(json.dumps({"conversations": [
        {"id": f"a{evil}", "channel": "chat", "state": "open", "modified_on": "2026-11-20T00:00:00Z",
         "workstream": evil},
        {"id": f"a{evil}", "channel": "chat", "state": "open", "modified_on": "2026-11-20T00:00:00Z"},
    ]}))  # fmt: skip
    refused = run(ocac_argv(store_path, config_path, "conversations", "list"))
    assert refused.returncode == 2
    _no_escape(refused.stderr)
    assert "\\x1b]0;owned\\x07" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    document = json.loads(store_path.read_text())
    document["conversations"][1]["id"] = "b"
    store_path.write_text(json.dumps(document))
    for args in (("conversations", "list", "--now", NOW), ("conversations", "show", f"a{evil}", "--now", NOW),
                 ("sweep", "run", "--now", NOW), ("history",), ("status", "--now", NOW)):  # fmt: skip
        for color in ("--no-color", "--color"):
            result = run([*ocac_argv(store_path, config_path, color), *args])
            assert result.returncode == 0, (args, result.stderr)
            for stream in (result.stdout, result.stderr):
                assert "\x1b]" not in stream and "\x07" not in stream and "\x1b[2J" not in stream, repr(stream)
                assert "\x9b" not in stream and "\r" not in stream
                if color == "--no-color":
                    _no_escape(stream)


# ---------------------------------------------------------------------------------- symlink traps


def test_a_lock_file_that_is_a_symlink_does_not_clobber_its_target(tmp_path: Path) -> None:
    store_path, config_path = tmp_path / "conversations.json", tmp_path / "config.toml"
    config_path.write_text(CONFIG)
    store_path.write_bytes(VALID)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, tmp_path / "conversations.json.lock")
    result = run(ocac_argv(store_path, config_path, "sweep", "run", "--now", NOW))
    assert result.returncode in (0, 4), result.stderr
    if result.returncode:
        assert len(result.stderr.strip().splitlines()) == 1 and "lock" in result.stderr
    assert victim.read_text() == "precious"


def test_a_leftover_temp_file_that_is_a_symlink_is_removed_not_followed(tmp_path: Path) -> None:
    store_path, config_path = tmp_path / "conversations.json", tmp_path / "config.toml"
    config_path.write_text(CONFIG)
    store_path.write_bytes(VALID)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    trap = tmp_path / ".conversations.json.aaaaaaaaaaaa.tmp"
    os.symlink(victim, trap)
    result = run(ocac_argv(store_path, config_path, "sweep", "run", "--now", NOW))
    assert result.returncode == 0, result.stderr
    assert not trap.is_symlink() and victim.read_text() == "precious"
    assert not temp_files(store_path)


if sys.platform != "linux":  # pragma: no cover
    pytestmark = pytest.mark.skip(reason="POSIX permissions are tested on Linux")


def test_a_new_history_is_no_more_open_than_its_store(tmp_path: Path) -> None:
    import shutil

    from conftest import SAMPLE, SAMPLE_NOW, run_ocac

    store = tmp_path / "private.json"
    shutil.copy(SAMPLE / "conversations.json", store)
    os.chmod(store, 0o600)
    done = run_ocac("--store", str(store), "--config", str(SAMPLE / "config.toml"), "sweep", "run", "--now", SAMPLE_NOW)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((tmp_path / "private.history.jsonl").stat().st_mode) == 0o600
