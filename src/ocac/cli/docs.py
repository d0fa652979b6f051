"""The command reference, docs/cli.md, generated from the commands' own help texts.

    python -m ocac.cli.docs > docs/cli.md

Walks every command of `ocac` (hidden ones left out) and writes, for each, its usage line,
help text, arguments and options as plain Markdown. Nothing depends on the terminal's width
or on the environment, so the output changes only when a help text does; tests/test_docs.py
fails when docs/cli.md is stale.
"""

import sys
from collections.abc import Iterator
from typing import Any

import typer.main

from ocac.cli import app

REFRESH = "python -m ocac.cli.docs > docs/cli.md"
"""The command that regenerates docs/cli.md."""

HELP_OPTION = "--help"


def render() -> str:
    """docs/cli.md's text."""
    root = typer.main.get_command(app)
    commands = list(_walk(root, root.context_class(root, info_name="ocac"), 0))
    lines = [
        "# Command reference",
        "",
        f"<!-- Generated from the commands' help texts by `{REFRESH}`: do not edit by hand. -->",
        "",
        "Every command also takes `-h`/`--help`, which prints the same text in the terminal.",
        "",
    ]
    for ctx, depth in commands:
        summary = _summary(ctx.command)
        link = f"[`{ctx.command_path}`](#{_anchor(ctx.command_path)})"
        lines.append(f"{'  ' * depth}- {link}" + (f": {_inline(summary)}" if summary else ""))
    for ctx, _depth in commands:
        lines.append("")
        lines.extend(_section(ctx))
    return "\n".join(lines).rstrip("\n") + "\n"


def _walk(command: Any, ctx: Any, depth: int) -> Iterator[tuple[Any, int]]:
    """Every visible command under `command`, depth first, in the order `--help` lists them."""
    yield ctx, depth
    if not hasattr(command, "list_commands"):
        return
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        if sub is None or sub.hidden:
            continue
        yield from _walk(sub, sub.context_class(sub, info_name=name, parent=ctx), depth + 1)


def _anchor(command_path: str) -> str:
    """The id GitHub gives the heading "## `ocac config set`": ocac-config-set."""
    return command_path.lower().replace(" ", "-")


def _summary(command: Any) -> str:
    """The first paragraph of the help, on one line."""
    text = _help_text(command)
    return " ".join(text.split("\n\n")[0].split())


def _help_text(command: Any) -> str:
    text: str = command.help or ""
    return text.split("\f")[0].strip()  # click ignores what follows a form feed


def _inline(text: str) -> str:
    """Prose made safe for Markdown: no raw HTML from `<placeholders>`."""
    return text.replace("<", "\\<")


def _section(ctx: Any) -> list[str]:
    command = ctx.command
    usage = " ".join([ctx.command_path, *command.collect_usage_pieces(ctx)])
    lines = [f"## `{ctx.command_path}`", "", "```text", usage, "```"]
    for paragraph in _paragraphs(_help_text(command)):
        lines.extend(["", *paragraph])
    arguments: list[str] = []
    options: list[str] = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None or getattr(param, "hidden", False) or HELP_OPTION in getattr(param, "opts", ()):
            continue
        names, help_text = record
        entry = f"- `{names}`" + (f": {_inline(' '.join(help_text.split()))}" if help_text.strip() else "")
        (options if param.param_type_name == "option" else arguments).append(entry)
    if arguments:
        lines.extend(["", "Arguments:", "", *arguments])
    if options:
        lines.extend(["", "Options:", "", *options])
    subcommands = _subcommands(ctx)
    if subcommands:
        lines.extend(["", "Commands:", "", *subcommands])
    epilog = (command.epilog or "").strip()
    for paragraph in _paragraphs(epilog):
        lines.extend(["", *paragraph])
    return lines


def _subcommands(ctx: Any) -> list[str]:
    command = ctx.command
    if not hasattr(command, "list_commands"):
        return []
    entries = []
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        if sub is None or sub.hidden:
            continue
        summary = _summary(sub)
        link = f"[`{name}`](#{_anchor(f'{ctx.command_path} {name}')})"
        entries.append(f"- {link}" + (f": {_inline(summary)}" if summary else ""))
    return entries


def _paragraphs(text: str) -> Iterator[list[str]]:
    """Help paragraphs as Markdown; an `Example: …` paragraph becomes a shell block."""
    for block in text.split("\n\n"):
        lines = [line.strip() for line in block.strip().splitlines() if line.strip() != "\b"]
        if not lines:
            continue
        if lines[0].startswith("Example: ") or lines[0].startswith("Examples:"):
            commands = [lines[0].split(":", 1)[1].strip(), *lines[1:]]
            yield ["Example:", "", "```sh", *[c for c in commands if c], "```"]
        else:
            yield [_inline(" ".join(lines))]


def main() -> None:
    """Print docs/cli.md on stdout."""
    sys.stdout.buffer.write(render().encode("utf-8"))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
