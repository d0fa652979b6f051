"""Start-up baseline: a minimal Typer app shaped like ocac, doing nothing.

Global ``--store``/``--config`` options and four subcommands in two groups
(``sweep run``, ``conversations list``, ``conversations show``,
``config check``); every command returns at once. Used to time
``--help`` and one command against ``ocac``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

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
    store: Optional[Path] = typer.Option(None, "--store", help="Store file."),  # noqa: UP045
    config: Optional[Path] = typer.Option(None, "--config", help="Config file."),  # noqa: UP045
) -> None:
    """Global options, ignored."""


@sweep_app.command("run")
def sweep_run(
    now: str = typer.Option("", "--now", help="Instant of the sweep."),
    quiet: bool = typer.Option(False, "--quiet", help="No output."),
) -> None:
    """Do nothing (stands for a sweep)."""


@conversations_app.command("list")
def conversations_list(
    due: bool = typer.Option(False, "--due", help="Only due ones."),
    limit: int = typer.Option(50, "--limit", help="At most this many."),
    now: str = typer.Option("", "--now", help="Instant."),
    as_json: bool = typer.Option(False, "--json", help="JSON output."),
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
