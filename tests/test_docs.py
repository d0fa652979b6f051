"""docs/cli.md: the command reference is generated from the help texts and kept up to date."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import typer.main

from conftest import ROOT
from ocac.cli import app
from ocac.cli import docs as cli_docs

DOC = ROOT / "docs" / "cli.md"


def _commands(command: Any, ctx: Any) -> Iterator[tuple[Any, Any]]:
    yield command, ctx
    for name in getattr(command, "list_commands", lambda _ctx: [])(ctx):
        sub = command.get_command(ctx, name)
        if not sub.hidden:
            yield from _commands(sub, sub.context_class(sub, info_name=name, parent=ctx))


def _all() -> list[tuple[Any, Any]]:
    root = typer.main.get_command(app)
    return list(_commands(root, root.context_class(root, info_name="ocac")))


def test_docs_cli_md_is_up_to_date() -> None:
    expected = cli_docs.render()
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    assert current == expected, f"docs/cli.md is stale: refresh it with `{cli_docs.REFRESH}`"


def test_every_command_and_option_is_documented() -> None:
    text = cli_docs.render()
    for command, ctx in _all():
        heading = f"\n## `{ctx.command_path}`\n"
        assert heading in text, ctx.command_path
        section = text.split(heading, 1)[1].split("\n## ", 1)[0]
        usage = " ".join([ctx.command_path, *command.collect_usage_pieces(ctx)])
        assert f"```text\n{usage}\n```" in section
        for param in command.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None or "--help" in getattr(param, "opts", ()):
                continue
            assert f"- `{record[0]}`" in section, (ctx.command_path, record[0])


def test_the_dataverse_commands_are_in_the_reference() -> None:
    text = cli_docs.render()
    assert "- [`ocac config export`](#ocac-config-export): Export every channel × state cell" in text
    assert "\n## `ocac config import`\n\n```text\nocac config import [OPTIONS] " in text
    assert "(dataverse) A live-chat workstream that is persistent chat (repeatable)." in text


def test_the_reference_does_not_depend_on_the_terminal_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    baseline = cli_docs.render()
    monkeypatch.setenv("COLUMNS", "33")
    monkeypatch.setenv("OCAC_LOCK_TIMEOUT", "77")
    monkeypatch.setenv("OCAC_CONFIG", "/elsewhere/config.toml")
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR")
    assert cli_docs.render() == baseline


def subcommand(root: Any, *names: str) -> Any:
    """The command that `names` invoke under `root` (groups are built when named)."""
    command = root
    for name in names:
        command = command.get_command(typer.Context(command), name)
    return command


def with_config_path_help(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    """Make the tree that docs are rendered from give `ocac config path` this help text."""
    original = typer.main.get_command

    def patched(typer_app: typer.Typer) -> Any:
        got = original(typer_app)
        if typer_app is app:  # the root; its groups are built through this function too
            subcommand(got, "config", "path").help = text
        return got

    monkeypatch.setattr(typer.main, "get_command", patched)


def test_the_reference_follows_the_help_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A changed help text changes the reference, so a stale docs/cli.md is caught."""
    baseline = cli_docs.render()
    with_config_path_help(monkeypatch, "A changed help text.")
    changed = cli_docs.render()
    assert changed != baseline
    assert "\n## `ocac config path`\n\n```text\nocac config path [OPTIONS]\n```\n\nA changed help text.\n" in changed


def test_examples_become_shell_blocks_and_markup_is_escaped() -> None:
    text = cli_docs.render()
    assert "\nExample:\n\n```sh\nocac config set voice active 2h\n```\n" in text
    assert "\nExample: " not in text
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)  # fenced blocks
    prose = re.sub(r"`[^`]*`", "", prose)  # code spans
    prose = prose.replace("\\<", "").split("-->", 1)[1]  # escaped, and the generated-by comment
    assert "<" not in prose
    assert "- `--id ID`: Only this conversation." in text
    assert "- `--channel CHANNEL`: Only this channel (repeatable)." in text


def test_a_placeholder_in_prose_is_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    with_config_path_help(monkeypatch, "Print the <path> of the file.")
    assert "\nPrint the \\<path> of the file.\n" in cli_docs.render()


def test_help_names_every_value_by_its_placeholder_only() -> None:
    for command, ctx in _all():
        usage = " ".join(command.collect_usage_pieces(ctx))
        assert not re.search(r"[{}<>]", usage), (ctx.command_path, usage)
        for param in command.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                assert not re.search(r"[{}<>]", record[0]), (ctx.command_path, record[0])


def test_the_generator_command_prints_the_reference() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ocac.cli.docs"], capture_output=True, timeout=60, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode("utf-8") == cli_docs.render()


def test_the_tests_the_readme_cites_exist() -> None:
    """The Guarantees table names the tests that hold each promise: a renamed test must not leave it stale."""
    readme = (ROOT / "README.md").read_text()
    sources = {path: path.read_text() for path in (ROOT / "tests").rglob("*.py")}
    paths = set(re.findall(r"`(tests/[\w/]+\.py)", readme))
    names = set(re.findall(r"(?:`|::)(test_\w+)\b(?!\.py)", readme))
    assert paths and names
    assert not {path for path in paths if not (ROOT / path).is_file()}
    defined = {name for name in names if any(f"def {name}(" in source for source in sources.values())}
    assert names - defined == set()
