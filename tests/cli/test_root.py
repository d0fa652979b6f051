"""The root command: version, where files are (flag > environment > default), and help for every command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main

from conftest import Cli, run_ocac
from ocac import __version__
from ocac.cli import NOUNS, app
from ocac.errors import ExitCode


def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], object]]:
    """Every command and sub-command under `command`, with the words that invoke it (groups are built on demand)."""
    yield path, command
    if not hasattr(command, "list_commands"):
        return
    ctx = typer.Context(command)
    for name in sorted(command.list_commands(ctx)):
        yield from walk(command.get_command(ctx, name), (*path, name))


COMMANDS = list(walk(typer.main.get_command(app)))
PATHS = [path for path, _ in COMMANDS]


def test_the_tree_has_the_expected_commands() -> None:
    paths = {" ".join(p) for p in PATHS}
    assert {
        "", "config", "config show", "config set", "config unset", "config reset", "config path", "config export",
        "config import", "workstream", "workstream set", "workstream list", "workstream remove",
        "sweep", "sweep run", "sweep watch", "conversations", "conversations list", "conversations show",
        "conversations add", "conversations import", "conversations touch", "conversations set-state",
        "records", "records delete", "records undelete", "records list", "history", "status",
        "store", "store info", "store copy",
    } <= paths  # fmt: skip


def test_the_root_help_names_every_exit_code(cli: Cli) -> None:
    text = " ".join(cli("--help").stdout.split())
    paragraph = text.split("Exit codes: ", 1)[1].split(". ", 1)[0]
    described = {int(n) for n in re.findall(r"(?:^|; )(\d) ", paragraph)}
    assert described == {int(code) for code in ExitCode}, paragraph


def test_the_exit_codes_are_the_documented_ones() -> None:
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0, "UNEXPECTED": 1, "USAGE": 2, "LOCKED": 3, "IO": 4, "NOTIFY_FAILED": 5, "UNAVAILABLE": 6,
        "CHECK_FAILED": 7,
    }  # fmt: skip


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) or "ocac" for p in PATHS])
def test_every_command_has_a_summary_and_an_example(path: tuple[str, ...], command: object) -> None:
    help_text = getattr(command, "help", None) or ""
    epilog = getattr(command, "epilog", None) or ""
    summary = help_text.split("\n\n")[0]
    assert summary and "\n" not in summary.strip(), f"{path}: the summary is not one line: {summary!r}"
    assert summary.strip().endswith("."), f"{path}: {summary!r}"
    examples = [
        line.strip() for line in (help_text + "\n" + epilog).splitlines() if line.strip().startswith("Example:")
    ]
    assert examples, f"ocac {' '.join(path)} has no 'Example:' line"
    for example in examples:
        assert example.startswith("Example: ocac "), example


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) or "ocac" for p in PATHS])
def test_help_works_for_every_command(cli: Cli, path: tuple[str, ...]) -> None:
    for flag in ("--help", "-h"):
        result = cli(*path, flag)
        assert result.exit_code == 0, result.output
        assert result.stdout.lstrip().startswith(f"Usage: {' '.join(('ocac', *path))} ")
        assert "Example:" in result.stdout
        assert result.stderr == ""


def test_version(cli: Cli) -> None:
    result = cli("--version")
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"ocac {__version__}\n", "")


def test_version_as_a_process() -> None:
    result = run_ocac("--version", timeout=30)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"ocac {__version__}\n".encode(), b"")


def test_config_path_precedence(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCAC_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    assert cli("config", "path").stdout == f"{tmp_path / 'xdg-config' / 'ocac' / 'config.toml'}\n"
    monkeypatch.setenv("OCAC_CONFIG", str(tmp_path / "from-env.toml"))
    assert cli("config", "path").stdout == f"{tmp_path / 'from-env.toml'}\n"
    result = cli("--config", str(tmp_path / "from-flag.toml"), "config", "path")
    assert (result.exit_code, result.stdout) == (0, f"{tmp_path / 'from-flag.toml'}\n")


def write_store(path: Path, conversation_id: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "conversations": [
            {"id": conversation_id, "channel": "chat", "state": "open", "modified_on": "2026-11-25T11:00:00Z"}
        ],
        "deleted_records": [],
    }))  # fmt: skip


def listed_ids(cli: Cli, *root_options: str) -> list[str]:
    result = cli(*root_options, "conversations", "list", "--json", "--now", "2026-11-25T12:00:00Z")
    assert result.exit_code == 0, result.output
    return [c for c in ("default", "env", "flag") if f'"from-{c}"' in result.stdout]


def test_store_path_precedence(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_store(tmp_path / "xdg-data" / "ocac" / "conversations.json", "from-default")
    write_store(tmp_path / "env.json", "from-env")
    write_store(tmp_path / "flag.json", "from-flag")
    monkeypatch.delenv("OCAC_STORE")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    assert listed_ids(cli) == ["default"]
    monkeypatch.setenv("OCAC_STORE", str(tmp_path / "env.json"))
    assert listed_ids(cli) == ["env"]
    assert listed_ids(cli, "--store", str(tmp_path / "flag.json")) == ["flag"]


def test_config_flag_beats_the_environment_when_reading(cli: Cli, tmp_path: Path, config_path: Path) -> None:
    config_path.write_text('[rules.voice]\nactive = "1h"\n')
    flag = tmp_path / "flag.toml"
    flag.write_text('[rules.voice]\nactive = "3h"\n')
    rows = json.loads(cli("--config", str(flag), "config", "show", "--json").stdout)
    assert [r["minutes"] for r in rows if (r["channel"], r["state"]) == ("voice", "active")] == [180]
    rows = json.loads(cli("config", "show", "--json").stdout)
    assert [r["minutes"] for r in rows if (r["channel"], r["state"]) == ("voice", "active")] == [60]


def test_a_known_error_is_one_line_on_stderr_with_its_exit_code(cli: Cli, config_path: Path) -> None:
    config_path.write_text("rules = 1\n")
    result = cli("config", "show")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"ocac: error: config {config_path}: rules: expected a table, found int\n"


def test_a_folder_as_config_is_a_file_access_error(cli: Cli, tmp_path: Path) -> None:
    result = cli("--config", str(tmp_path), "config", "show")
    assert (result.exit_code, result.stdout) == (4, "")
    assert result.stderr == f"ocac: error: config {tmp_path} is a directory: give the path of a regular file\n"


def test_a_named_config_must_exist_but_the_default_one_need_not(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "typo.toml"
    result = cli("--config", str(missing), "status", "--now", "2026-11-25T12:00:00Z")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"ocac: error: config {missing} does not exist: check --config (or OCAC_CONFIG); "
        "'ocac config set' creates the file\n"
    )
    monkeypatch.delenv("OCAC_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    default = cli("status", "--now", "2026-11-25T12:00:00Z")
    assert default.exit_code == 0, default.stderr
    assert default.stdout.splitlines()[-1] == "config: built-in defaults"


def test_an_unknown_command_is_a_usage_error(cli: Cli) -> None:
    result = cli("confg")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "confg" in result.stderr


def test_shell_completion_script_is_available() -> None:
    # Typer otherwise guesses the shell from this process's ancestors (shellingham), which differ
    # from one test runner to the next; with detection off, --show-completion takes the shell's name.
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "ocac", "--show-completion", "bash"],
        capture_output=True, text=True, timeout=30, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "complete" in done.stdout and "ocac" in done.stdout.lower()


@pytest.mark.parametrize("command", [("status",), ("sweep", "run"), ("store", "info")])
def test_an_unreachable_database_is_exit_6_with_the_password_masked(cli: Cli, command: tuple[str, ...]) -> None:
    result = cli("--store", "postgresql://ocac:s3cret@127.0.0.1:1/floor", *command)
    assert (result.exit_code, result.stdout) == (6, "")
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("ocac: error: cannot reach PostgreSQL (host 127.0.0.1, database floor): ")
    assert "s3cret" not in result.stderr


def test_a_command_builds_only_its_own_group(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = typer.main.get_command(app)  # a fresh tree, not the suite's cached one
    args = ["--store", str(tmp_path / "s.json"), "sweep", "run", "--dry-run", "--now", "2026-11-25T12:00:00Z"]
    assert root.main(args, prog_name="ocac", standalone_mode=False) is None
    assert set(root.commands) & set(NOUNS) == {"sweep"}  # start-up builds one group, not all six
    assert "nothing due" in capsys.readouterr().out


def test_a_mistyped_command_builds_every_group_so_suggestions_can_name_them() -> None:
    root = typer.main.get_command(app)
    with pytest.raises(Exception):  # noqa: B017 - the framework's usage error, whatever its class
        root.main(["swep", "run"], prog_name="ocac", standalone_mode=False)
    assert set(NOUNS) <= set(root.commands)
    assert root.commands["sweep"].name == "sweep"
