"""libpq through ctypes: the PostgreSQL connection of the commands that psycopg's import would slow.

Importing psycopg costs 100-160 ms, more than the whole work of a no-op sweep, a due listing or
a touch at 1M conversations; loading libpq through ctypes costs ~7 ms. This connection speaks
what those commands need and no more: a connection from a libpq URL (libpq itself reads the
password from the URL, ``PGPASSWORD`` or ``~/.pgpass``), statements with psycopg's ``%s``
placeholders and text parameters, rows decoded to the values psycopg gives, and transactions
as statements. The library is the one that psycopg's binary wheel ships, else the system's.

What it does not do (COPY, many rows at once), ocac does with psycopg; without a loadable
libpq, or with ``OCAC_POSTGRESQL_DRIVER=psycopg``, everything.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import itertools
import re
import select
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from importlib import util
from pathlib import Path
from typing import Any

import msgspec

_OK, _TUPLES_OK, _COPY_STATES = 1, 2, (3, 4, 8)
_CONNECTION_OK = 0
_SQLSTATE, _MESSAGE = ord("C"), ord("M")
_NOTICES = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)
_IGNORE_NOTICES = _NOTICES(lambda _arg, _message: None)
"""psycopg hands the server's notices to logging; ocac has no use for them, and libpq would print them."""


class Error(Exception):
    """What libpq or the server refused: the message, the SQLSTATE if the server gave one, and
    whether the connection is lost."""

    def __init__(self, message: str, sqlstate: str | None = None, *, lost: bool = False) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.lost = lost


@functools.cache
def library() -> ctypes.CDLL | None:
    """libpq with the signatures ocac calls, or None when no libpq can be loaded."""
    for candidate in _candidates():
        try:
            lib = ctypes.CDLL(candidate)
        except OSError:
            continue
        _declare(lib)
        return lib
    return None


def _candidates() -> Iterator[str]:
    """psycopg's own libpq first (the one a psycopg connection would use), then the system's."""
    spec = util.find_spec("psycopg_binary")  # finds the package without importing it
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        for libs in (Path(folder).with_name("psycopg_binary.libs"), Path(folder) / ".dylibs"):
            if libs.is_dir():
                yield from sorted(str(path) for path in libs.glob("libpq*"))
    yield from ("libpq.so.5", "libpq.5.dylib", "libpq.dll")


class _Option(ctypes.Structure):
    """libpq's PQconninfoOption."""

    _fields_ = [
        ("keyword", ctypes.c_char_p),
        ("envvar", ctypes.c_char_p),
        ("compiled", ctypes.c_char_p),
        ("val", ctypes.c_char_p),
        ("label", ctypes.c_char_p),
        ("dispchar", ctypes.c_char_p),
        ("dispsize", ctypes.c_int),
    ]


def _declare(lib: ctypes.CDLL) -> None:
    p, s, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    signatures: dict[str, tuple[Any, list[Any]]] = {
        "PQconnectdbParams": (p, [ctypes.POINTER(s), ctypes.POINTER(s), i]),
        "PQstatus": (i, [p]),
        "PQerrorMessage": (s, [p]),
        "PQsetNoticeProcessor": (p, [p, _NOTICES, p]),
        "PQfinish": (None, [p]),
        "PQsendQuery": (i, [p, s]),
        "PQsendQueryParams": (i, [p, s, i, p, ctypes.POINTER(s), p, p, i]),
        "PQgetResult": (p, [p]),
        "PQisBusy": (i, [p]),
        "PQconsumeInput": (i, [p]),
        "PQsocket": (i, [p]),
        "PQgetCancel": (p, [p]),
        "PQcancel": (i, [p, s, i]),
        "PQfreeCancel": (None, [p]),
        "PQresultStatus": (i, [p]),
        "PQresultErrorMessage": (s, [p]),
        "PQresultErrorField": (s, [p, i]),
        "PQntuples": (i, [p]),
        "PQnfields": (i, [p]),
        "PQftype": (ctypes.c_uint, [p, i]),
        "PQgetvalue": (s, [p, i, i]),
        "PQgetisnull": (i, [p, i, i]),
        "PQcmdTuples": (s, [p]),
        "PQclear": (None, [p]),
        "PQconninfoParse": (ctypes.POINTER(_Option), [s, ctypes.POINTER(p)]),
        "PQconninfoFree": (None, [ctypes.POINTER(_Option)]),
        "PQfreemem": (None, [p]),
    }
    for name, (result, arguments) in signatures.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = result, arguments


class Result:
    """A statement's rows (decoded) and the number of rows it changed, as psycopg's cursor gives them."""

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)


class Connection:
    """One libpq connection; statements run one at a time, in autocommit unless in `transaction`."""

    def __init__(self, lib: ctypes.CDLL, url: str, **options: str) -> None:
        self._lib = lib
        # Everything here is UTF-8, whatever PGCLIENTENCODING or the database says.
        settings = {**options, "client_encoding": "UTF8"}
        keywords = ["dbname", *settings, None]
        values = [url, *settings.values(), None]
        self._conn: int | None = lib.PQconnectdbParams(_strings(keywords), _strings(values), 1)
        if not self._conn:
            raise Error("out of memory", lost=True)
        if lib.PQstatus(self._conn) != _CONNECTION_OK:
            message = _text(lib.PQerrorMessage(self._conn))
            self.close()
            raise Error(message, lost=True)
        lib.PQsetNoticeProcessor(self._conn, _IGNORE_NOTICES, None)
        self._depth = 0

    @property
    def closed(self) -> bool:
        return self._conn is None

    def close(self) -> None:
        if self._conn is not None:
            self._lib.PQfinish(self._conn)
            self._conn = None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def execute(self, query: str, params: Sequence[Any] | None = None) -> Result:
        """Run one statement (with ``params``: psycopg's ``%s`` placeholders), or several without."""
        if self._conn is None:
            raise Error("the connection is closed", lost=True)
        if "\x00" in query:
            raise Error("a statement cannot contain NUL (0x00) characters", "22021")
        lib, conn = self._lib, self._conn
        if params is None:
            sent = lib.PQsendQuery(conn, query.encode())
        else:
            values = [_param(value) for value in params]
            sent = lib.PQsendQueryParams(
                conn, _numbered(query).encode(), len(values), None, _strings(values), None, None, 0
            )
        try:
            result = self._wait() if sent else None
        except KeyboardInterrupt:  # Ctrl-C: the server stops the statement (a lock wait, say) too
            self._cancel()
            raise
        try:
            return self._result(result)
        finally:
            lib.PQclear(result)

    def _wait(self) -> int | None:
        """The statement's result (of several, the last; an error ends them), waiting on the socket
        so that a signal (Ctrl-C) is handled while the server works, as it would not be in PQexec."""
        lib, conn = self._lib, self._conn
        kept: int | None = None
        while True:
            while lib.PQisBusy(conn):
                socket = lib.PQsocket(conn)
                if socket < 0:
                    break
                select.select([socket], [], [])
                if not lib.PQconsumeInput(conn):
                    break  # the connection broke: PQgetResult says how, or gives nothing
            result = lib.PQgetResult(conn)
            if not result:
                return kept
            lib.PQclear(kept)
            kept = result
            if lib.PQresultStatus(result) in _COPY_STATES:
                return kept  # never asked for: refused by `_result`

    def _cancel(self) -> None:
        """Ask the server to stop the running statement, then close the connection."""
        lib = self._lib
        cancel = lib.PQgetCancel(self._conn)
        if cancel:
            lib.PQcancel(cancel, ctypes.create_string_buffer(256), 256)
            lib.PQfreeCancel(cancel)
        self.close()

    def _result(self, result: int | None) -> Result:
        lib = self._lib
        status = lib.PQresultStatus(result) if result else -1
        if status == _TUPLES_OK:
            return Result(_rows(lib, result), -1)
        if status == _OK:
            changed = lib.PQcmdTuples(result)
            return Result([], int(changed) if changed else -1)
        if status in _COPY_STATES:
            raise Error("COPY is not spoken here: use psycopg")
        sqlstate = lib.PQresultErrorField(result, _SQLSTATE) if result else None
        primary = lib.PQresultErrorField(result, _MESSAGE) if result else None
        message = _text(primary or (lib.PQresultErrorMessage(result) if result else lib.PQerrorMessage(self._conn)))
        # The server's errors carry a SQLSTATE; libpq's own (the connection broke) do not.
        lost = sqlstate is None or lib.PQstatus(self._conn) != _CONNECTION_OK
        if lost:
            self.close()
        raise Error(message or "the server gave no answer", sqlstate.decode() if sqlstate else None, lost=lost)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction (a savepoint within one): committed on success, rolled back on error."""
        depth, self._depth = self._depth, self._depth + 1
        begin, commit, rollback = (
            ("BEGIN", "COMMIT", "ROLLBACK")
            if depth == 0
            else (f"SAVEPOINT s{depth}", f"RELEASE SAVEPOINT s{depth}", f"ROLLBACK TO SAVEPOINT s{depth}")
        )
        try:
            self.execute(begin)
            try:
                yield self
            except BaseException:
                if self._conn is not None:
                    with contextlib.suppress(Error):
                        self.execute(rollback)
                raise
            self.execute(commit)
        finally:
            self._depth = depth


def _strings(values: Sequence[str | None]) -> Any:
    return (ctypes.c_char_p * len(values))(*(None if v is None else v.encode() for v in values))


def _text(message: bytes | None) -> str:
    return (message or b"").decode(errors="replace").strip()


@functools.lru_cache(maxsize=256)
def _numbered(query: str) -> str:
    """psycopg's placeholders as libpq's: ``%s`` → ``$1``, ``$2``…; ``%%`` → ``%``."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(1) == "%":
            return "%"
        count += 1
        return f"${count}"

    return re.sub(r"%([s%])", number, query)


def _param(value: Any) -> str | None:
    """A parameter as PostgreSQL's text input; the server infers its type from the statement."""
    if value is None:
        return None
    if isinstance(value, str):
        if "\x00" in value:  # C strings end there: the text would be cut short, silently
            raise Error("PostgreSQL text cannot contain NUL (0x00) characters", "22021")
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal | float):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise Error(f"a naive instant as a parameter: {value}")
        return value.isoformat()
    if isinstance(value, timedelta):
        # Signed fields: read the same way under every IntervalStyle.
        return f"{value.days:+d} days {value.seconds:+d} seconds {value.microseconds:+d} microseconds"
    raise Error(f"a parameter of type {type(value).__name__} is not spoken here: use psycopg")


_json = msgspec.json.Decoder()

_DECODERS: dict[int, Callable[[str], Any]] = {
    16: lambda text: text == "t",  # bool
    18: str,  # "char"
    19: str,  # name
    20: int,  # bigint
    21: int,  # smallint
    23: int,  # integer
    25: str,  # text
    26: int,  # oid
    114: _json.decode,  # json
    700: float,
    701: float,
    705: str,  # unknown (an untyped literal)
    1043: str,  # varchar
    1184: datetime.fromisoformat,  # timestamptz (the session's time zone is UTC; ISO dates)
    1700: Decimal,  # numeric
    2205: str,  # regclass
    2278: str,  # void (what pg_advisory_xact_lock returns)
    3802: _json.decode,  # jsonb
}


def _rows(lib: ctypes.CDLL, result: int | None) -> list[tuple[Any, ...]]:
    ntuples, nfields = lib.PQntuples(result), lib.PQnfields(result)
    decoders = []
    for field in range(nfields):
        oid = lib.PQftype(result, field)
        decoder = _DECODERS.get(oid)
        if decoder is None:
            raise Error(f"a column of type oid {oid} is not spoken here: use psycopg")
        decoders.append(decoder)
    getvalue, isnull = lib.PQgetvalue, lib.PQgetisnull
    rows = []
    for row in range(ntuples):
        values: list[Any] = []
        for field, decode in enumerate(decoders):
            raw = getvalue(result, row, field)
            if not raw and isnull(result, row, field):
                values.append(None)
                continue
            try:
                values.append(decode(raw.decode()))
            except (ValueError, msgspec.DecodeError) as error:  # e.g. 'infinity', a year beyond 9999
                raise Error(f"column {field + 1} holds a value ocac cannot read ({raw[:40]!r}): {error}") from None
        rows.append(tuple(values))
    return rows


def conninfo(lib: ctypes.CDLL, url: str) -> dict[str, str]:
    """The settings a libpq URL or connection string gives (as psycopg's ``conninfo_to_dict``)."""
    message = ctypes.c_void_p()
    options = lib.PQconninfoParse(url.encode(), ctypes.byref(message))
    if not options:
        text = _text(ctypes.string_at(message.value)) if message.value else "out of memory"
        lib.PQfreemem(message)
        raise Error(text)
    try:
        settings = {}
        for option in itertools.takewhile(lambda option: option.keyword is not None, options):
            if option.val is not None:
                settings[option.keyword.decode()] = option.val.decode()
        return settings
    finally:
        lib.PQconninfoFree(options)
