"""Start-up baseline: a minimal Typer app shaped like ocac, doing nothing.

Global ``--store``/``--config`` options and four subcommands in two groups
(``sweep run``, ``conversations list``, ``conversations show``,
``config check``); every command returns at once. Used to time
``--help`` and one command against ``ocac``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Minimal Typer app (start-up baseline for ocac).")
sweep_app = typer.Typer(help="Sweeps.")
conversations_app = typer.Typer(help="Conversations.")
config_app = typer.Typer(help="Config.")
app.add_typer(sweep_app, name="sweep")
app.add_typer(conversations_app, name="conversations")
app.add_typer(config_app, name="config")


@app.callback()
def main(
    store: Annotated[Path | None, typer.Option("--store", help="Store file.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Config file.")] = None,
) -> None:
    """Global options, ignored."""


@sweep_app.command("run")
def sweep_run(
    now: Annotated[str, typer.Option("--now", help="Instant of the sweep.")] = "",
    quiet: Annotated[bool, typer.Option("--quiet", help="No output.")] = False,
) -> None:
    """Do nothing (stands for a sweep)."""


@conversations_app.command("list")
def conversations_list(
    due: Annotated[bool, typer.Option("--due", help="Only due ones.")] = False,
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 50,
    now: Annotated[str, typer.Option("--now", help="Instant.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Do nothing (stands for a listing)."""


@conversations_app.command("show")
def conversations_show(conversation_id: str) -> None:
    """Do nothing (stands for showing one conversation)."""


@config_app.command("check")
def config_check() -> None:
    """Do nothing (stands for a config check)."""


if __name__ == "__main__":
    app()
