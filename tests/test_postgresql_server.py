"""The throwaway PostgreSQL server the suite's PostgreSQL tests run against, and the skip-or-fail decision."""

from __future__ import annotations

import pwd
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import postgresql_server as pgs
from postgresql_server import (
    ExternalServer,
    PostgreSQLRequiredError,
    PostgreSQLServer,
    ThrowawayServer,
    create_schema,
    provide_server,
    reap_abandoned,
    server_or_skip_reason,
    url_with_search_path,
)


@pytest.fixture(scope="module")
def server() -> Iterator[PostgreSQLServer]:
    """One server for this module: its own, since these tests stop and kill it."""
    yield from provide_server()


def restartable(server: PostgreSQLServer) -> ThrowawayServer:
    if not isinstance(server, ThrowawayServer):
        pytest.skip(f"stops and starts the server, which {pgs.URL_ENV} does not allow")
    return server


# --- against a real server ------------------------------------------------------------------------


def test_a_schema_url_connects_with_that_search_path(server: PostgreSQLServer) -> None:
    url = create_schema(server.url(), "t_search_path")
    assert "options=-csearch_path%3Dt_search_path" in url
    with psycopg.connect(url) as connection:
        assert connection.execute("SHOW search_path").fetchone() == ("t_search_path",)
        connection.execute("CREATE TABLE things (id int)")
        row = connection.execute("SELECT schemaname FROM pg_tables WHERE tablename = 'things'").fetchone()
    assert row == ("t_search_path",)


def test_a_created_database_is_empty_and_reachable(server: PostgreSQLServer) -> None:
    url = server.create_database("ocac_fresh")
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT current_database()").fetchone() == ("ocac_fresh",)
        connection.execute("CREATE TABLE leftover (id int)")
    # Creating it again gives an empty database, not an error.
    with psycopg.connect(server.create_database("ocac_fresh")) as connection:
        assert connection.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'leftover'").fetchone() == (0,)


def test_the_throwaway_server_is_private_and_fast(server: PostgreSQLServer) -> None:
    throwaway = restartable(server)
    with psycopg.connect(throwaway.url()) as connection:

        def setting(name: str) -> str:
            row = connection.execute("SELECT setting FROM pg_settings WHERE name = %s", (name,)).fetchone()
            assert row is not None
            return str(row[0])

        assert setting("listen_addresses") == ""
        assert setting("unix_socket_directories") == str(throwaway.folder)
        assert setting("port") == str(throwaway.port)
        assert (setting("fsync"), setting("full_page_writes")) == ("off", "off")
        # On, so that a commit the client saw succeed survives stop("immediate").
        assert setting("synchronous_commit") == "on"
        assert (setting("max_connections"), setting("shared_buffers")) == ("50", "4096")  # 4096 pages of 8 kB


def test_an_immediate_stop_breaks_connections_and_a_start_recovers(server: PostgreSQLServer) -> None:
    throwaway = restartable(server)
    url = create_schema(throwaway.url(), "t_crash")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE kept (id int)")
        connection.execute("INSERT INTO kept VALUES (1)")

    doomed = psycopg.connect(url)
    try:
        doomed.execute("INSERT INTO kept VALUES (2)")  # left uncommitted by the crash
        throwaway.stop("immediate")
        assert not throwaway.running
        with pytest.raises(psycopg.OperationalError):
            doomed.execute("SELECT 1")
    finally:
        doomed.close()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url).close()

    throwaway.start()
    assert throwaway.running
    with psycopg.connect(url) as connection:
        # The acknowledged commit survived the crash; the open transaction did not.
        assert connection.execute("SELECT id FROM kept ORDER BY id").fetchall() == [(1,)]

    throwaway.restart()
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT count(*) FROM kept").fetchone() == (1,)


def test_the_server_of_a_killed_session_is_reaped(server: PostgreSQLServer) -> None:
    restartable(server)  # needs the binaries, not an external server
    orphan = ThrowawayServer()
    orphan.start()
    folder, url = orphan.folder, orphan.url()
    assert folder is not None
    try:
        # Make its owner a process that has exited, as a killed test session would be.
        dead = subprocess.Popen([sys.executable, "-c", ""])
        dead.wait()
        (folder / pgs.OWNER_FILE).write_text(f"{socket.gethostname()} {dead.pid}")
        assert reap_abandoned(folder.parent) == [folder]
        assert not folder.exists()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url).close()
    finally:
        orphan.cleanup()
    # The live session's own server is left alone.
    assert isinstance(server, ThrowawayServer) and server.folder is not None and server.folder.exists()


# --- the decision, without a server ---------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv(pgs.URL_ENV, raising=False)
    monkeypatch.delenv(pgs.REQUIRE_ENV, raising=False)
    return monkeypatch


def test_without_binaries_tests_skip_with_a_reason(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setattr(pgs, "find_binaries", lambda: None)
    server, reason = server_or_skip_reason()
    assert server is None and reason is not None and "not installed" in reason
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        next(provide_server())


def test_without_binaries_tests_fail_when_postgresql_is_required(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setattr(pgs, "find_binaries", lambda: None)
    clean_env.setenv(pgs.REQUIRE_ENV, "1")
    with pytest.raises(PostgreSQLRequiredError, match="not installed"):
        server_or_skip_reason()
    with pytest.raises(pytest.fail.Exception, match=f"{pgs.REQUIRE_ENV}=1"):
        next(provide_server())


def test_as_root_without_a_postgres_user_tests_skip(clean_env: pytest.MonkeyPatch) -> None:
    def no_such_user(name: str) -> object:
        raise KeyError(name)

    clean_env.setattr(pgs, "find_binaries", lambda: Path("/opt/pg/bin"))
    clean_env.setattr(pgs, "_running_as_root", lambda: True)
    clean_env.setattr(pwd, "getpwnam", no_such_user)
    server, reason = server_or_skip_reason()
    assert server is None and reason is not None and "postgres user" in reason


def test_with_binaries_a_throwaway_server_is_offered(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setattr(pgs, "find_binaries", lambda: Path("/opt/pg/bin"))
    clean_env.setattr(pgs, "_running_as_root", lambda: False)
    clean_env.setenv(pgs.REQUIRE_ENV, "1")
    server, reason = server_or_skip_reason()
    assert isinstance(server, ThrowawayServer) and server.bindir == Path("/opt/pg/bin") and reason is None
    assert not server.running  # the fixture starts it


def test_an_external_url_wins_and_cannot_be_stopped(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setattr(pgs, "find_binaries", lambda: None)
    clean_env.setenv(pgs.URL_ENV, "postgresql://me:pw@db.example:5433/main?sslmode=require")
    server, reason = server_or_skip_reason()
    assert isinstance(server, ExternalServer) and reason is None
    assert server.url("ocac_x") == "postgresql://me:pw@db.example:5433/ocac_x?sslmode=require"
    assert not server.can_restart
    with pytest.raises(pytest.skip.Exception, match=pgs.URL_ENV):
        server.stop("immediate")


def test_an_external_url_must_be_a_url(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(pgs.URL_ENV, "host=db dbname=main")
    with pytest.raises(ValueError, match="postgresql://"):
        server_or_skip_reason()


def test_url_with_search_path_keeps_the_rest_of_the_url() -> None:
    base = "postgresql://postgres@/ocac?host=/tmp/ocac-pg-x&port=21234"
    assert url_with_search_path(base, "t_1") == base + "&options=-csearch_path%3Dt_1"
    with_options = url_with_search_path(base + "&options=-cstatement_timeout%3D5s", "t_1")
    assert with_options == base + "&options=-cstatement_timeout%3D5s%20-csearch_path%3Dt_1"
    with pytest.raises(ValueError, match="plain lower-case identifier"):
        url_with_search_path(base, "Robert'); DROP")
