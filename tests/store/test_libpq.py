"""The libpq connection against a real server: values as psycopg gives them, parameters, errors
with their SQLSTATE, a lost connection, transactions, notices kept off stderr, and a URL's settings;
and which commands need psycopg at all."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocac.store import libpq
from postgresql_server import PostgreSQLServer, create_schema

LIB = libpq.library()
pytestmark = pytest.mark.skipif(LIB is None, reason="no libpq to load")


@pytest.fixture
def url(postgresql_server: PostgreSQLServer) -> str:
    return create_schema(postgresql_server.url(), f"t_{uuid.uuid4().hex[:16]}")


def connect(url: str) -> libpq.Connection:
    assert LIB is not None
    connection = libpq.Connection(LIB, url, application_name="ocac-test")
    connection.execute("SET TIME ZONE 'UTC'")
    return connection


@pytest.fixture
def connection(url: str) -> Iterator[libpq.Connection]:
    with connect(url) as opened:
        yield opened


@pytest.fixture
def reference(url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(url, autocommit=True) as opened:
        opened.execute("SET TIME ZONE 'UTC'")
        yield opened


EVERY_TYPE = """SELECT true, false, 42::smallint, 7::integer, 9007199254740993::bigint, 12::oid, 'é x'::text,
    'v'::varchar, 'n'::name, 'c'::"char", 'untyped', 1.250::numeric, 0.5::float8, 1.5::real,
    '2026-11-25 12:00:00.5+00'::timestamptz, '2026-11-25 12:00:00+05:30'::timestamptz,
    '{"a": [1, null, "x"]}'::json, '{"b": 2.5}'::jsonb, NULL::text, NULL::timestamptz,
    'pg_class'::regclass, pg_advisory_xact_lock(1), 'a%%b'"""


def test_every_type_ocac_reads_comes_back_as_psycopg_gives_it(
    connection: libpq.Connection, reference: psycopg.Connection[Any]
) -> None:
    expected = reference.execute(EVERY_TYPE).fetchall()
    assert connection.execute(EVERY_TYPE).fetchall() == expected
    assert connection.execute(EVERY_TYPE, ()).fetchall() == reference.execute(EVERY_TYPE, ()).fetchall()
    assert expected[0][-1] == "a%%b"  # without parameters a query is sent as it is, as psycopg does


def test_a_type_ocac_does_not_read_is_refused_not_guessed(connection: libpq.Connection) -> None:
    with pytest.raises(libpq.Error, match="oid 1186"):
        connection.execute("SELECT interval '1 day'")
    with pytest.raises(libpq.Error, match="bytes"):
        connection.execute("SELECT %s::bytea", (b"x",))
    assert connection.execute("SELECT 1").fetchone() == (1,)  # the connection is still fine


text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=20)
instants = st.datetimes(
    min_value=datetime(1970, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7, minutes=-30))]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    word=text,
    number=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    instant=instants,
    span=st.timedeltas(min_value=timedelta(days=-9999), max_value=timedelta(days=9999)),
    flag=st.booleans(),
    absent=st.none(),
)
def test_parameters_reach_the_server_as_psycopg_sends_them(
    connection: libpq.Connection,
    reference: psycopg.Connection[Any],
    word: str,
    number: int,
    instant: datetime,
    span: timedelta,
    flag: bool,
    absent: None,
) -> None:
    query = "SELECT %s::text, %s::bigint, %s::timestamptz, %s::interval::text, %s::boolean, %s::text, '%%'"
    params = (word, number, instant, span, flag, absent)
    assert connection.execute(query, params).fetchall() == reference.execute(query, params).fetchall()


def test_a_server_error_carries_its_sqlstate_and_keeps_the_connection(connection: libpq.Connection) -> None:
    with pytest.raises(libpq.Error) as raised:
        connection.execute("SELECT 1 / %s::integer", (0,))
    assert (raised.value.sqlstate, raised.value.lost, str(raised.value)) == ("22012", False, "division by zero")
    assert connection.execute("SELECT %s::integer + 1", (1,)).fetchone() == (2,)


def test_a_lost_connection_is_said_so_and_closed(
    connection: libpq.Connection, reference: psycopg.Connection[Any]
) -> None:
    (pid,) = connection.execute("SELECT pg_backend_pid()").fetchone() or ()
    reference.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(libpq.Error) as raised:
        connection.execute("SELECT 1")
    assert raised.value.lost or raised.value.sqlstate == "57P01"
    with pytest.raises(libpq.Error) as again:
        connection.execute("SELECT 1")
    assert again.value.lost and connection.closed


def test_no_server_is_an_error_on_connecting(tmp_path: Path) -> None:
    assert LIB is not None
    with pytest.raises(libpq.Error) as raised:
        libpq.Connection(LIB, f"postgresql:///db?host={tmp_path}&port=1", connect_timeout="2")
    assert raised.value.lost and raised.value.sqlstate is None and str(raised.value)


def test_a_transaction_commits_or_rolls_back_whole_and_nests_as_savepoints(connection: libpq.Connection) -> None:
    connection.execute("CREATE TABLE t (n integer)")
    with connection.transaction():
        connection.execute("INSERT INTO t VALUES (%s)", (1,))
        with pytest.raises(libpq.Error), connection.transaction():
            connection.execute("INSERT INTO t VALUES (%s)", (2,))
            connection.execute("SELECT 1 / 0")
        connection.execute("INSERT INTO t VALUES (%s)", (3,))
    with pytest.raises(RuntimeError), connection.transaction():
        connection.execute("INSERT INTO t VALUES (%s)", (4,))
        raise RuntimeError
    assert connection.execute("SELECT n FROM t ORDER BY n").fetchall() == [(1,), (3,)]
    assert connection.execute("UPDATE t SET n = n + 10").rowcount == 2  # type: ignore[attr-defined]


def test_the_servers_notices_stay_off_stderr(connection: libpq.Connection, capfd: pytest.CaptureFixture[str]) -> None:
    connection.execute("CREATE TABLE IF NOT EXISTS t (n integer)")
    connection.execute("CREATE TABLE IF NOT EXISTS t (n integer)")  # NOTICE: relation "t" already exists
    connection.execute("DO $$ BEGIN RAISE WARNING 'a warning'; END $$")
    assert capfd.readouterr().err == ""


def test_a_urls_settings_are_read_as_libpq_reads_them() -> None:
    assert LIB is not None
    url = "postgresql://ocac:s3cret@db.example:6432/ops?sslmode=require&options=-csearch_path%3Docac"
    assert libpq.conninfo(LIB, url) == psycopg.conninfo.conninfo_to_dict(url)
    assert libpq.conninfo(LIB, "postgresql:///ops?host=/run/postgresql")["host"] == "/run/postgresql"
    with pytest.raises(libpq.Error, match="bogus"):
        libpq.conninfo(LIB, "postgresql:///ops?bogus=1")


PROBE = """import sys
from ocac.cli import main
sys.argv = ["ocac", *sys.argv[1:]]
try:
    main()
except SystemExit as done:
    print("psycopg" in sys.modules, done.code, file=sys.stderr)
"""


EVERY_DAY = [
    ("sweep", "run", "--quiet", "--now", "2026-11-25T12:00:00Z"),
    ("sweep", "run", "--now", "2026-11-25T12:00:00Z"),  # again: nothing due
    ("conversations", "list", "--due", "--json", "--now", "2026-11-26T12:00:00Z"),
    ("conversations", "touch", "3e3eb2be-45af-4adb-bf97-ec7b2052af73", "--now", "2026-11-25T12:01:00Z"),
    ("conversations", "set-state", "3e3eb2be-45af-4adb-bf97-ec7b2052af73", "active", "--now", "2026-11-25T12:02:00Z"),
    ("status", "--json"),
    ("history", "--limit", "3"),
]


def test_the_commands_of_every_day_do_not_import_psycopg(url: str, sample_store: Path, config_path: Path) -> None:
    copied = subprocess.run(
        [sys.executable, "-m", "ocac", "store", "copy", str(sample_store), url], capture_output=True, text=True
    )
    assert copied.returncode == 0, copied.stderr
    for command in EVERY_DAY:
        argv = [sys.executable, "-c", PROBE, "--store", url, "--config", str(config_path), *command]
        probed = subprocess.run(argv, capture_output=True, text=True)
        assert probed.stderr.splitlines()[-1] == "False 0", (command, probed.stderr)


def test_a_driver_that_does_not_exist_is_exit_2(cli: Any, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCAC_POSTGRESQL_DRIVER", "odbc")
    result = cli("--store", url, "status")
    assert result.exit_code == 2
    assert result.stderr == "ocac: error: OCAC_POSTGRESQL_DRIVER='odbc': choose libpq (the default) or psycopg\n"


def test_text_is_utf8_whatever_the_client_encoding_says(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGCLIENTENCODING", "LATIN1")  # has no €
    with connect(url) as connection:
        assert connection.execute("SELECT %s::text || '€'", ("é",)).fetchone() == ("é€",)


def test_a_nul_character_is_refused_not_cut_short(connection: libpq.Connection) -> None:
    for query, params in (("SELECT %s::text", ("a\x00b",)), ("SELECT 'a\x00b'", None)):
        with pytest.raises(libpq.Error) as raised:
            connection.execute(query, params)
        assert raised.value.sqlstate == "22021" and not raised.value.lost


def test_a_value_ocac_cannot_read_is_an_error_and_the_connection_stays(connection: libpq.Connection) -> None:
    with pytest.raises(libpq.Error, match="cannot read") as raised:
        connection.execute("SELECT 'infinity'::timestamptz")
    assert not raised.value.lost
    assert connection.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize("style", ["postgres", "sql_standard", "iso_8601", "postgres_verbose"])
def test_a_span_means_the_same_under_every_interval_style(connection: libpq.Connection, style: str) -> None:
    connection.execute(f"SET intervalstyle = '{style}'")
    for span in (timedelta(days=-1, seconds=5), timedelta(minutes=20, microseconds=7), -timedelta(microseconds=1)):
        (seconds,) = connection.execute("SELECT extract(epoch FROM %s::interval)", (span,)).fetchone() or ()
        assert seconds == Decimal(str(span.total_seconds())), (style, span)
