"""Output: rich tables for people, one JSON document for scripts. Data on stdout, messages on stderr."""

from __future__ import annotations

import contextlib
import csv
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from ocac.instants import format_instant

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

_color: bool | None = None
_zone: tzinfo | None = None
PIPE_WIDTH = 10_000
"""Piped output is as wide as its longest line: never wrapped at a made-up terminal width."""


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def set_color(color: bool | None) -> None:
    """`--color` forces colour, `--no-color` disables it, None follows NO_COLOR/FORCE_COLOR and the TTY."""
    global _color
    _color = color


def _console(stderr: bool) -> Console:
    from rich.console import Console

    kwargs: dict[str, Any] = {"stderr": stderr, "markup": False, "highlight": False, "emoji": False}
    stream = sys.stderr if stderr else sys.stdout
    if not _isatty(stream) and "COLUMNS" not in os.environ:
        kwargs["width"] = PIPE_WIDTH  # piped output: whole lines, never wrapped to a made-up 80 columns
    if _color is True:
        kwargs["force_terminal"] = True
    elif _color is False:
        kwargs["color_system"] = None  # --no-color: no escape codes at all
    console = Console(**kwargs)
    console.on_broken_pipe = _broken_pipe  # type: ignore[method-assign]
    return console


def _broken_pipe() -> None:
    """Rich would exit with 1; the command line's handler stops quietly instead."""
    raise BrokenPipeError


def out() -> Console:
    """The data console (stdout)."""
    return _console(stderr=False)


def err() -> Console:
    """The message console (stderr)."""
    return _console(stderr=True)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""Control characters, line and paragraph separators and bidirectional controls: data may never move the
cursor, break a line or turn the text around on an admin's terminal."""
CELL_LIMIT = 500
"""Longer table cells are cut in the middle (the JSON output keeps everything)."""
_LONG = re.compile(r"[^\s']{200,}")


def printable(text: str) -> str:
    """`text` with control, separator and bidi characters shown as escapes (`\\n`, `\\x1b`, `\\u202e`)."""
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return repr(char)[1:-1] if char.isascii() or ord(char) < 0x100 else f"\\u{ord(char):04x}"


def cell(text: str) -> str:
    """A table cell: printable, and an absurdly long one cut in the middle, saying how long it was."""
    if len(text) > CELL_LIMIT:
        text = f"{text[:200]}…({len(text)} characters)…{text[-50:]}"
    return printable(text)


def one_line(text: str, limit: int = 1000) -> str:
    """`text` as one printable line; in a long one, runs of 200+ characters are cut in the middle."""
    text = printable(text)
    if len(text) <= limit:
        return text
    return _LONG.sub(lambda m: f"{m.group()[:60]}…({len(m.group())} characters)…{m.group()[-20:]}", text)


def message(text: str) -> None:
    """A message for the user, on stderr."""
    err().print(printable(text), soft_wrap=True)


def print_csv(headings: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """CSV with a header on stdout, for spreadsheets (values as they are: no escapes, no colour)."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(headings)
    writer.writerows(rows)
    sys.stdout.flush()


def compact(value: object) -> str:
    """A value as compact JSON, for a table cell."""
    return msgspec.json.encode(value).decode()


def set_zone(zone: tzinfo | None) -> None:
    """The time zone tables show instants in (`--tz`); None: UTC. JSON always says UTC."""
    global _zone
    _zone = zone


def instant(value: datetime) -> str:
    """An instant as tables show it: RFC 3339, in UTC or in the zone of `--tz`."""
    if _zone is None:
        return format_instant(value)
    try:
        return value.astimezone(_zone).isoformat()
    except OverflowError:
        return format_instant(value)


def print_json(document: object) -> None:
    """One JSON document on stdout."""
    data = msgspec.json.format(msgspec.json.encode(document), indent=2)
    sys.stdout.buffer.write(data + b"\n")
    sys.stdout.flush()


NARROW = 120
"""A terminal narrower than this shows ids by their shortest unique start (at least SHORT_ID characters)."""
SHORT_ID = 8


def id_shortener(ids: Iterable[str]) -> Callable[[str], str]:
    """On a narrow terminal, each id's shortest start that no other listed id shares, as git shows hashes.

    Piped output, and terminals wide enough, keep whole ids.
    """
    console = out()
    if not console.is_terminal or console.width >= NARROW:
        return lambda text: text
    listed = sorted(set(ids))
    length = SHORT_ID
    while length < max((len(i) for i in listed), default=0) and len({i[:length] for i in listed}) < len(listed):
        length += 1
    return lambda text: text if len(text) <= length + 1 else text[:length] + "…"


COLUMN_STYLES = {"id": "cyan", "from → to": "yellow", "moves to": "yellow", "due": "magenta"}
"""Colour for the columns people scan for (only on a terminal; never in piped output)."""


def table(*columns: str, title: str | None = None) -> Table:
    """A plain table with these column headings."""
    from rich import box
    from rich.table import Table

    class _Table(Table):
        plain_rows: list[tuple[str, ...]] | None = None
        """The rows as text, for `plain_layout` (None once a row is not plain text)."""

        def add_row(self, *cells: Any, **options: Any) -> None:
            row = tuple(cell(c) if isinstance(c, str) else c for c in cells)
            if self.plain_rows is not None:
                if options or not all(isinstance(c, str) for c in row):
                    self.plain_rows = None
                else:
                    self.plain_rows.append(row)
            super().add_row(*row, **options)

    grid = _Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, show_edge=False)
    grid.plain_rows = []
    for column in columns:
        style = COLUMN_STYLES.get(column, "")
        grid.add_column(column, overflow="fold", style=style)  # data is never cut short with an ellipsis
    return grid


LONG_TABLE = 1000
"""Rows beyond which `show` lays a table out itself (`plain_layout`): rich takes ~0.8 ms a row,
so a sweep that moved 250k conversations spent 200 s printing its table."""


def plain_layout(grid: Table, width: int) -> str | None:
    """A table of `table` as rich lays it out without colour, at a fraction of the cost; None when
    rich would do more than pad cells (a line wider than `width`, a title wider than the table,
    cells that are not plain text)."""
    from rich.cells import cell_len

    rows: list[tuple[str, ...]] | None = getattr(grid, "plain_rows", None)
    if rows is None or not grid.columns:
        return None
    headers = [str(column.header) for column in grid.columns]
    widths = [cell_len(header) for header in headers]
    for row in rows:
        for i, text in enumerate(row):
            length = cell_len(text)
            if length > widths[i]:
                widths[i] = length
    total = sum(widths) + 3 * (len(widths) - 1)  # rich's padding and SIMPLE_HEAD's blank column divider
    title = None if grid.title is None else str(grid.title)
    if total > width or (title is not None and (cell_len(title) > total or title != title.strip())):
        return None
    lines = [] if title is None else [title]
    lines.append(_padded(headers, widths))
    lines.append("─" * total)
    lines.extend(_padded(row, widths) for row in rows)
    return "\n".join(lines) + "\n"


def _padded(cells: Sequence[str], widths: Sequence[int]) -> str:
    from rich.cells import cell_len

    return "   ".join(text + " " * (width - cell_len(text)) for text, width in zip(cells, widths, strict=True)).rstrip()


def show(renderable: object) -> None:
    """Print a table or text on stdout; plain output carries no padding at the ends of its lines."""
    console = out()
    if isinstance(renderable, str):
        console.print(printable(renderable), soft_wrap=True)  # a line of text is never folded
        return
    if getattr(renderable, "row_count", 0) > LONG_TABLE:
        laid_out = plain_layout(renderable, console.width)  # type: ignore[arg-type]
        if laid_out is not None:  # a long table goes without colour: it is read with less or grep
            sys.stdout.write(laid_out)
            sys.stdout.flush()
            return
    if console.color_system is not None:
        console.print(renderable)
        return
    with console.capture() as captured:
        console.print(renderable)
    text = "\n".join(line.rstrip() for line in captured.get().splitlines())
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


PROGRESS_MIN_BYTES = 8 * 1024 * 1024
"""Stores smaller than this load in a blink: no progress bar for them."""


@contextlib.contextmanager
def progress(steps: int, *, wanted: bool) -> Iterator[Callable[[str], None]]:
    """A transient progress bar on stderr, on a terminal only; yields `step(description)`."""
    if not wanted or not _isatty(sys.stderr):
        yield lambda description: None
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
        console=err(), transient=True,
    )  # fmt: skip
    with bar:
        task = bar.add_task("starting", total=steps)
        started = False

        def step(description: str) -> None:
            nonlocal started
            if started:
                bar.advance(task)
            started = True
            bar.update(task, description=description)

        yield step


def large(path: Path) -> bool:
    """Whether a file is big enough for a progress bar."""
    try:
        return path.stat().st_size >= PROGRESS_MIN_BYTES
    except OSError:
        return False


@contextlib.contextmanager
def counter(total: int | None, *, wanted: bool, description: str) -> Iterator[Callable[[int], None]]:
    """A transient progress bar counting items on stderr, on a terminal only; yields `done(n)`."""
    if not wanted or not _isatty(sys.stderr):
        yield lambda done: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err(), transient=True,
    )  # fmt: skip
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.update(task, completed=done)
