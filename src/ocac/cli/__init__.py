"""The `ocac` command: root options, the sub-apps, and the one place errors become exit codes."""

import os
import re
import sys
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import typer
import typer.main
from typer.core import TyperArgument, TyperGroup

from ocac import __version__, paths, render
from ocac.cli import config as config_cli
from ocac.cli import conversations as conversations_cli
from ocac.cli import health as health_cli
from ocac.cli import history as history_cli
from ocac.cli import records as records_cli
from ocac.cli import status as status_cli
from ocac.cli import store as store_cli
from ocac.cli import sweep as sweep_cli
from ocac.cli import workstream as workstream_cli
from ocac.cli.common import Settings
from ocac.errors import ExitCode, InvalidInput, OcacError


# Help names every value by its placeholder only (TIME, DURATION, ID, PATH…), as git and kubectl
# do: Typer would brace a required argument in the usage line ("{ID}") and add its type after it.
# tests/test_docs.py holds every command's help to that.
def _argument_metavar(self: TyperArgument, ctx: typer.Context, *, usage: bool = False) -> str:
    name = self.human_readable_name
    if usage and not self.required:
        name = f"[{name}]"
    return name + ("..." if usage and self.nargs != 1 else "")


TyperArgument.make_metavar = _argument_metavar  # type: ignore[method-assign,assignment]

EXIT_CODES = (
    "Exit codes: 0 success (whether or not anything moved); 1 unexpected error; "
    "2 bad input (option, duration, name, store or config file); 3 a lock could not be had "
    "within --lock-timeout; 4 a file could not be read or written; 5 the notify command failed "
    "after a committed sweep; 6 the database server could not be reached; 7 a check found a problem "
    "(status --check, doctor)."
)


class OcacGroup(TyperGroup):
    """Turns ocac's errors into one line on stderr and a fixed exit code; builds command groups on demand.

    Typer would build every command of every group at start-up (~50 ms for ocac's ~35 commands);
    a run needs one group, so each noun's group is built when it is named (all of them for help).
    """

    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        return [name for name in super().list_commands(ctx) if name not in NOUNS] + list(NOUNS)

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:  # type: ignore[override]
        if cmd_name in NOUNS and cmd_name not in self.commands:
            group = typer.main.get_command(NOUNS[cmd_name])
            group.name = cmd_name
            self.add_command(group, cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: typer.Context, args: list[str]) -> Any:  # type: ignore[override]
        if args and args[0] not in self.commands and args[0] not in NOUNS:  # a typo: "did you mean" needs every name
            for name in NOUNS:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        ctx.meta[_ARGS] = list(args)  # the words as given, for messages about them
        return super().parse_args(ctx, args)

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except OcacError as error:
            _fail(ctx, str(error), error.exit_code)
        except BrokenPipeError:  # the reader went away (`ocac … | head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the flush at exit goes nowhere
            ctx.exit(ExitCode.OK)
        except OSError as error:
            name = f" {error.filename}" if error.filename else ""
            _fail(ctx, f"cannot access{name}: {error.strerror or error}", ExitCode.IO)
        except Exception as error:
            misplaced = _misplaced_option(error, ctx.meta.get(_ARGS, []))
            if misplaced:
                _fail(ctx, misplaced, ExitCode.USAGE)
            if _is_cli_signal(error) or os.environ.get(paths.ENV_DEBUG):
                raise
            message = f"unexpected error: {type(error).__name__}: {error} (set {paths.ENV_DEBUG}=1 for details)"
            _fail(ctx, message, ExitCode.UNEXPECTED)


_ARGS = "ocac.args"
ROOT_OPTIONS = ("--config", "--store", "--lock-timeout", "--color", "--no-color")
_NEGATIVE = re.compile(r"^-\d")


def _misplaced_option(error: Exception, args: list[str]) -> str | None:
    """One line for an unknown option that is a negative value or an option of ocac itself, else None."""
    if type(error).__name__ != "NoSuchOption":
        return None
    name = str(getattr(error, "option_name", ""))
    if _NEGATIVE.match(name):
        token = next((arg for arg in args if arg.startswith(name)), name)
        return f"'{token}' is not an option: durations, times and counts are never negative (give e.g. 5m)"
    root = name.split("=", 1)[0]
    if root in ROOT_OPTIONS:
        return f"{root} is an option of ocac itself: put it before the command, as in 'ocac {root} … sweep run'"
    return None


def _is_cli_signal(error: Exception) -> bool:
    """Usage errors, exits and aborts belong to the command-line framework, which reports them."""
    return type(error).__module__.split(".")[0] in ("click", "typer")


def _fail(ctx: typer.Context, message: str, code: int) -> None:
    render.message(f"ocac: error: {render.one_line(message)}")
    ctx.exit(code)


app = typer.Typer(
    cls=OcacGroup,
    name="ocac",
    help="Close stale contact-center conversations automatically.\n\n" + EXIT_CODES,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help, as git and kubectl print: greppable, and no rich start-up cost
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Example: ocac --store conversations.json sweep run --dry-run",
)
NOUNS = {
    "config": config_cli.app,
    "workstream": workstream_cli.app,
    "conversations": conversations_cli.app,
    "records": records_cli.app,
    "sweep": sweep_cli.app,
    "store": store_cli.app,
}
"""The command groups, in the order help lists them; OcacGroup builds each when it is named."""
history_cli.register(app)
status_cli.register(app)
health_cli.register(app)


def parse_zone(text: str) -> tzinfo:
    """`--tz`: an IANA zone name, `UTC`, or `local` (this host's zone)."""
    name = text.strip()
    if name.lower() == "local":
        local = datetime.now().astimezone().tzinfo
        assert local is not None
        return local
    if name.upper() in ("UTC", "Z"):
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # start-up: see docs/architecture.md

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone {text!r} for --tz: use a name such as Europe/Lisbon, UTC or local"
        ) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ocac {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None,
        "--config",
        envvar=paths.ENV_CONFIG,
        metavar="PATH",
        show_default=False,
        help="Configuration file (TOML). [default: the user config folder's ocac/config.toml]",
    ),
    store: str | None = typer.Option(
        None,
        "--store",
        envvar=paths.ENV_STORE,
        metavar="STORE",
        show_default=False,
        help="Conversation store: a path (.json, .toml, .sqlite, .sqlite3, .db), sqlite:///ABSOLUTE/PATH or "
        "postgresql://USER@HOST/DATABASE. [default: the user data folder's ocac/conversations.json]",
    ),
    lock_timeout: float = typer.Option(
        paths.DEFAULT_LOCK_TIMEOUT,
        "--lock-timeout",
        envvar=paths.ENV_LOCK_TIMEOUT,
        metavar="SECONDS",
        min=0,
        help="How long to wait for another ocac process to release a file's lock.",
    ),
    tz: str | None = typer.Option(
        None,
        "--tz",
        envvar=paths.ENV_TZ,
        metavar="ZONE",
        show_default=False,
        help="Show instants in tables in this time zone (e.g. Europe/Lisbon, or local); JSON stays in UTC. "
        "[default: UTC]",
    ),
    color: bool | None = typer.Option(
        None,
        "--color/--no-color",
        show_default=False,
        help="Force or disable colour. [default: colour on a terminal, unless NO_COLOR is set; FORCE_COLOR forces it]",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Close stale contact-center conversations automatically."""
    render.set_color(color)
    render.set_zone(parse_zone(tz) if tz is not None else None)
    ctx.obj = Settings(
        config_path=config or paths.default_config_path(),
        store=store if store is not None else str(paths.default_store_path()),
        lock_timeout=lock_timeout,
        config_explicit=config is not None,
    )


def main() -> None:
    """The console script."""
    app()
