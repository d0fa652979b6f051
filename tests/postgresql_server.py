"""A throwaway PostgreSQL server for the test suite, and the fixture that decides whether tests get one.

The server is initdb'd into a fresh temporary folder and listens only on a Unix socket in that folder,
so it never clashes with a system cluster (Debian's on 5432) or with a parallel test session. fsync and
full_page_writes are off: they only guard against an operating-system crash, and the data is thrown away.
synchronous_commit stays on by default: with it off, a commit is acknowledged before its WAL leaves
PostgreSQL's memory, so `stop("immediate")` (a simulated server crash) loses commits the client saw
succeed; measured with fsync off, turning it off saves nothing (~0.27 ms a commit either way).

Environment:
- ``OCAC_TEST_POSTGRESQL_URL``: use that existing server (a ``postgresql://`` URL) instead of
  starting one; tests that stop or start the server skip.
- ``OCAC_REQUIRE_POSTGRESQL=1``: no server available is a failure, not a skip (CI sets it).
"""

from __future__ import annotations

import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

URL_ENV = "OCAC_TEST_POSTGRESQL_URL"
REQUIRE_ENV = "OCAC_REQUIRE_POSTGRESQL"
FOLDER_PREFIX = "ocac-pg-"
OWNER_FILE = "owner"  # "<hostname> <pid>" of the session that owns a folder; see reap_abandoned()

StopMode = Literal["smart", "fast", "immediate"]

# A plain identifier needs no quoting in a search_path setting or a URL; tests choose their names.
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# A Unix socket path is limited to 107 bytes; ".s.PGSQL.NNNNN" takes 14 of them plus a slash.
_MAX_SOCKET_FOLDER = 90


class PostgreSQLServerError(RuntimeError):
    """A PostgreSQL tool failed or timed out; the message carries its output and the server log's tail."""


class PostgreSQLRequiredError(RuntimeError):
    """No server is available although OCAC_REQUIRE_POSTGRESQL=1 says tests must not skip."""


class PostgreSQLServer(Protocol):
    """What the fixture yields: a throwaway server or an external one."""

    @property
    def can_restart(self) -> bool:
        """Whether stop() and start() work (not for an external server)."""
        ...

    def url(self, dbname: str = "postgres") -> str:
        """A libpq URL of database `dbname` as the superuser."""
        ...

    def create_database(self, name: str) -> str:
        """Create an empty database `name` (dropping one of that name) and return its URL."""
        ...

    def stop(self, mode: StopMode = "fast") -> None:
        """Stop the server; "immediate" kills it as a crash would."""
        ...

    def start(self) -> None:
        """Start the server (again)."""
        ...

    def restart(self) -> None:
        """Stop ("fast") and start again on the same data."""
        ...

    def cleanup(self) -> None:
        """Stop the server and remove its files; the server is unusable afterwards."""
        ...


# --- finding the binaries -------------------------------------------------------------------------


def _has_tools(folder: Path) -> bool:
    return all(os.access(folder / tool, os.X_OK) for tool in ("initdb", "pg_ctl"))


def _version_key(folder: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin: "15" or "9.6"; sort numerically so 15 beats 9.6.
    return tuple(int(part) for part in re.findall(r"\d+", folder.parent.name))


def find_binaries() -> Path | None:
    """The folder holding `initdb` and `pg_ctl`, or None when PostgreSQL is not installed.

    Looks on PATH, then at `pg_config --bindir`, then at the newest `/usr/lib/postgresql/*/bin`
    (Debian keeps the server binaries off PATH).
    """
    candidates: list[Path] = []
    initdb = shutil.which("initdb")
    if initdb is not None:
        # Prefer the real folder behind a symlink: it also holds postgres, createdb and psql.
        candidates += [Path(initdb).resolve().parent, Path(initdb).parent]
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        try:
            done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            done = None
        if done is not None and done.returncode == 0 and done.stdout.strip():
            candidates.append(Path(done.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    return next((folder for folder in candidates if _has_tools(folder)), None)


# --- the throwaway server -------------------------------------------------------------------------


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _tool_command(bindir: Path, tool: str, *args: str) -> list[str]:
    """The argv that runs a PostgreSQL tool; as root through runuser, since initdb, pg_ctl and postgres
    refuse to run as root."""
    command = [str(bindir / tool), *args]
    return ["runuser", "-u", "postgres", "--", *command] if _running_as_root() else command


def _postmaster_alive(data_dir: Path) -> bool:
    """Whether the postmaster named in `data_dir`'s postmaster.pid is running (the file outlives a kill -9)."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        os.kill(pid, 0)
    except PermissionError:
        return True  # alive, another user's (postgres's, when we are not root)
    except (OSError, ValueError, IndexError):
        return False
    return True


def _kill(bindir: Path, data_dir: Path) -> None:
    """Stop the server of `data_dir` now, whatever state it is in. Best effort: never raises."""
    if not _postmaster_alive(data_dir):
        return
    argv = _tool_command(bindir, "pg_ctl", "stop", "-w", "-t", "20", "-m", "immediate", "-D", str(data_dir))
    try:
        subprocess.run(argv, capture_output=True, timeout=30, cwd=data_dir.parent, check=False)
    except (OSError, subprocess.TimeoutExpired):
        pass
    if _postmaster_alive(data_dir):
        # pg_ctl failed or is missing: SIGQUIT is what "immediate" sends the postmaster.
        try:
            os.kill(int((data_dir / "postmaster.pid").read_text().split()[0]), signal.SIGQUIT)
        except (OSError, ValueError, IndexError):
            pass


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-chars:]


def _base_folder() -> Path:
    """Where server folders go: the temp folder, unless its path is too long for a socket or, as root,
    not searchable by the postgres user (e.g. TMPDIR under /root)."""
    base = Path(tempfile.gettempdir()).resolve()
    too_long = len(str(base)) + len(FOLDER_PREFIX) + 10 > _MAX_SOCKET_FOLDER
    hidden = _running_as_root() and not all(os.stat(p).st_mode & 0o001 for p in [base, *base.parents])
    return Path("/tmp") if too_long or hidden else base


def _owner_stamp() -> str:
    return f"{socket.gethostname()} {os.getpid()}"


def _owner_is_gone(folder: Path) -> bool:
    """Whether the session that made `folder` has died (on this host; another host's can't be judged)."""
    try:
        host, pid_text = (folder / OWNER_FILE).read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return False  # no stamp yet: a session is creating it right now
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


class ThrowawayServer:
    """A private PostgreSQL server in a fresh temporary folder, reachable only through its Unix socket.

    ``start()`` initdbs on first use (about 1-2 s) and starts the server; ``stop()``/``start()`` reuse the
    data. As root every tool runs as the ``postgres`` user through ``runuser``, since initdb, pg_ctl and
    postgres refuse root. Usable as a context manager (start, then cleanup).
    """

    def __init__(
        self,
        bindir: Path | None = None,
        *,
        timeout: float = 60,
        max_connections: int = 50,
        shared_buffers: str = "32MB",
        synchronous_commit: bool = True,
    ) -> None:
        found = bindir or find_binaries()
        if found is None:
            raise PostgreSQLServerError("PostgreSQL's initdb and pg_ctl were not found")
        self.bindir: Path = found
        self.timeout = timeout
        self.max_connections = max_connections
        self.shared_buffers = shared_buffers
        self.synchronous_commit = synchronous_commit
        # The port only names the socket file in our own folder, so any value works; a random one keeps
        # URLs from different sessions apart in logs.
        self.port: int = random.randint(20000, 40000)
        self.folder: Path | None = None  # made by the first start()

    # paths ------------------------------------------------------------------------------------------

    def _folder(self) -> Path:
        if self.folder is None:
            raise PostgreSQLServerError("the server has not been started")
        return self.folder

    @property
    def data_dir(self) -> Path:
        return self._folder() / "data"

    @property
    def log_file(self) -> Path:
        return self._folder() / "server.log"

    @property
    def can_restart(self) -> bool:
        return True

    @property
    def running(self) -> bool:
        """Whether the server is up; asked of the system, so a postmaster killed behind our back counts."""
        return self.folder is not None and _postmaster_alive(self.data_dir)

    # running the tools ------------------------------------------------------------------------------

    def _run(self, tool: str, *args: str, timeout: float | None = None) -> None:
        """Run a PostgreSQL tool; raise with its output and the server log's tail when it fails."""
        command = _tool_command(self.bindir, tool, *args)
        # PG* variables (PGDATA, PGPORT, PGOPTIONS...) from the caller's shell must not steer our server.
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout or self.timeout,
                env=env,
                cwd=self._folder(),  # a cwd the postgres user can enter; it complains about /root
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise PostgreSQLServerError(self._report(command, f"timed out after {error.timeout} s")) from None
        except OSError as error:
            raise PostgreSQLServerError(self._report(command, str(error))) from None
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip()[-3000:]
            raise PostgreSQLServerError(self._report(command, f"exit {done.returncode}\n{output}"))

    def _report(self, command: list[str], what: str) -> str:
        message = f"{' '.join(command)}: {what}"
        if self.folder is not None and (log := _tail(self.log_file)):
            message += f"\n--- {self.log_file} (tail) ---\n{log}"
        return message

    # lifecycle --------------------------------------------------------------------------------------

    def _create(self) -> None:
        """Make the folder and initdb into it."""
        if _running_as_root() and shutil.which("runuser") is None:
            raise PostgreSQLServerError("running as root needs `runuser` to run PostgreSQL as postgres")
        base = _base_folder()
        reap_abandoned(base)
        self.folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=base))
        (self.folder / OWNER_FILE).write_text(_owner_stamp())
        if _running_as_root():
            postgres = pwd.getpwnam("postgres")
            for path in (self.folder, self.folder / OWNER_FILE):
                os.chown(path, postgres.pw_uid, postgres.pw_gid)
        self._run(
            "initdb",
            "--pgdata",
            str(self.data_dir),
            "--auth=trust",
            "-U",
            "postgres",
            "--encoding=UTF8",
            # C: valid everywhere (a container's LANG may name a locale that is not installed) and
            # byte-order collation, so test results do not depend on the machine.
            "--locale=C",
            "--no-sync",
        )
        socket_folder = str(self.folder).replace("'", "''")
        settings = {
            "listen_addresses": "''",  # Unix socket only: no TCP port to collide on
            "unix_socket_directories": f"'{socket_folder}'",
            "port": str(self.port),
            "fsync": "off",
            # on: see the module docstring; off only for tests that never crash the server
            "synchronous_commit": "on" if self.synchronous_commit else "off",
            "full_page_writes": "off",
            "max_connections": str(self.max_connections),
            "shared_buffers": f"'{self.shared_buffers}'",
        }
        # Appended settings override initdb's; kept in the file so a plain restart keeps them.
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# ocac test server\n" + "".join(f"{key} = {value}\n" for key, value in settings.items()))

    def start(self) -> None:
        """Start the server, initdb'ing a fresh folder on first use; waits until it accepts connections."""
        if self.running:
            return
        if self.folder is None:
            self._create()
        wait = max(int(self.timeout), 1)
        self._run(
            "pg_ctl", "start", "-w", "-t", str(wait), "-D", str(self.data_dir), "-l", str(self.log_file),
            timeout=wait + 10,
        )  # fmt: skip

    def stop(self, mode: StopMode = "fast") -> None:
        """Stop the server: "fast" rolls back and disconnects clients, "immediate" kills it (crash recovery
        runs at the next start), "smart" waits for clients to leave."""
        if not self.running:
            return
        wait = max(int(self.timeout), 1)
        self._run("pg_ctl", "stop", "-w", "-t", str(wait), "-m", mode, "-D", str(self.data_dir), timeout=wait + 10)

    def restart(self) -> None:
        """Stop ("fast") and start again on the same data folder and socket."""
        self.stop("fast")
        self.start()

    def cleanup(self) -> None:
        """Stop the server (immediately: its data is going away) and remove its folder. Never raises."""
        if self.folder is None:
            return
        _kill(self.bindir, self.data_dir)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def __enter__(self) -> ThrowawayServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()

    # URLs and databases -----------------------------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        """A libpq URL of `dbname` through this server's socket, e.g.
        ``postgresql://postgres@/ocac?host=/tmp/ocac-pg-x1y2&port=31234``."""
        return f"postgresql://postgres@/{quote(dbname, safe='')}?host={quote(str(self._folder()))}&port={self.port}"

    def create_database(self, name: str) -> str:
        """Create an empty database `name` (dropping one of that name) and return its URL."""
        return _create_database(self.url("postgres"), name, self.url(name))

    def __repr__(self) -> str:
        return f"ThrowawayServer(folder={self.folder}, port={self.port}, running={self.running})"


def reap_abandoned(base: Path | None = None) -> list[Path]:
    """Stop the servers and remove the folders of test sessions that died without cleaning up.

    A killed session (kill -9, a crashed xdist worker) leaves a running postmaster and its folder; a new
    session never trips over them (its own folder and socket), but they would pile up. Only folders whose
    owner process is gone on this host are touched. Returns the folders removed.
    """
    base = base or _base_folder()
    abandoned = [folder for folder in base.glob(FOLDER_PREFIX + "*") if folder.is_dir() and _owner_is_gone(folder)]
    bindir = find_binaries() if abandoned else None
    for folder in abandoned:
        if bindir is not None:
            _kill(bindir, folder / "data")
        # Best effort: another user's folder may resist, and another session may be reaping it too.
        shutil.rmtree(folder, ignore_errors=True)
    return [folder for folder in abandoned if not folder.exists()]


# --- an external server ---------------------------------------------------------------------------


class ExternalServer:
    """A server someone else runs (OCAC_TEST_POSTGRESQL_URL): URLs and databases, but no stop or start."""

    def __init__(self, url: str) -> None:
        if urlsplit(url).scheme not in ("postgresql", "postgres"):
            raise ValueError(f"{URL_ENV} must be a postgresql:// URL, not {url!r}")
        self.base_url = url

    @property
    def can_restart(self) -> bool:
        return False

    def url(self, dbname: str = "postgres") -> str:
        """The external URL with its database replaced by `dbname`."""
        return urlunsplit(urlsplit(self.base_url)._replace(path="/" + quote(dbname, safe="")))

    def create_database(self, name: str) -> str:
        """Create an empty database `name` (dropping one of that name) and return its URL."""
        return _create_database(self.base_url, name, self.url(name))

    def stop(self, mode: StopMode = "fast") -> None:
        pytest.skip(f"cannot stop the external server of {URL_ENV}")

    def start(self) -> None:
        """Nothing to do: the server is someone else's and already running."""

    def restart(self) -> None:
        pytest.skip(f"cannot restart the external server of {URL_ENV}")

    def cleanup(self) -> None:
        """Nothing to do: the server is not ours."""

    def __repr__(self) -> str:
        return f"ExternalServer({self.base_url!r})"


# --- databases and schemas ------------------------------------------------------------------------


def _check_name(name: str) -> None:
    if not _PLAIN_NAME.fullmatch(name):
        raise ValueError(f"use a plain lower-case identifier (a-z, 0-9, _), not {name!r}")


def _create_database(admin_url: str, name: str, result: str) -> str:
    import psycopg  # lazily: importing psycopg costs ~0.45 s and only PostgreSQL tests need it
    from psycopg import sql

    _check_name(name)
    # CREATE DATABASE cannot run in a transaction block, hence autocommit.
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return result


def url_with_search_path(base_url: str, schema: str) -> str:
    """`base_url` with ``options=-csearch_path%3D<schema>``, so every connection made with it (by psycopg,
    by ocac) finds and creates unqualified tables in `schema`. Other options in the URL are kept."""
    _check_name(schema)
    parts = urlsplit(base_url)
    query = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key != "options"]
    options = [value for key, value in parse_qsl(parts.query, keep_blank_values=True) if key == "options"]
    query.append(("options", " ".join([*options, f"-csearch_path={schema}"])))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote, safe="/")))


def create_schema(base_url: str, schema: str) -> str:
    """Create `schema` in the database of `base_url` and return the URL whose search_path is it."""
    import psycopg  # lazily, as above
    from psycopg import sql

    _check_name(schema)
    with psycopg.connect(base_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return url_with_search_path(base_url, schema)


def drop_schema(base_url: str, schema: str) -> None:
    """Drop `schema` and everything in it, if it exists (tidiness on an external server)."""
    import psycopg  # lazily, as above
    from psycopg import sql

    _check_name(schema)
    with psycopg.connect(base_url, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


# --- the decision and the fixture -----------------------------------------------------------------


def postgresql_required() -> bool:
    """Whether OCAC_REQUIRE_POSTGRESQL asks that PostgreSQL tests never skip."""
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in ("1", "true", "yes")


def server_or_skip_reason() -> tuple[PostgreSQLServer | None, str | None]:
    """The server tests should use (not started yet) and None, or None and why tests skip.

    An external URL wins; otherwise a throwaway server when the binaries (and, as root, a postgres user
    and runuser) exist. Raises PostgreSQLRequiredError instead of giving a reason when
    OCAC_REQUIRE_POSTGRESQL=1.
    """
    external = os.environ.get(URL_ENV, "").strip()
    if external:
        return ExternalServer(external), None
    reason: str | None = None
    bindir = find_binaries()
    if bindir is None:
        reason = (
            "PostgreSQL is not installed (no initdb/pg_ctl on PATH, from pg_config or in /usr/lib/postgresql); "
            f"install it or set {URL_ENV}"
        )
    elif _running_as_root():
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            reason = "running as root, and there is no postgres user to run PostgreSQL as"
        else:
            if shutil.which("runuser") is None:
                reason = "running as root, and there is no runuser to run PostgreSQL as the postgres user"
    if reason is None:
        return ThrowawayServer(bindir), None
    if postgresql_required():
        raise PostgreSQLRequiredError(f"{REQUIRE_ENV}=1 but no PostgreSQL server is available: {reason}")
    return None, reason


def provide_server() -> Iterator[PostgreSQLServer]:
    """Body of a server fixture of any scope: skips (or fails, when required) without a server, starts
    one, yields it and cleans it up."""
    try:
        server, reason = server_or_skip_reason()
    except PostgreSQLRequiredError as error:
        pytest.fail(str(error), pytrace=False)
    if server is None:
        pytest.skip(reason or "no PostgreSQL server")
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[PostgreSQLServer]:
    """A PostgreSQL server for the whole session (one per xdist worker); see the module docstring."""
    yield from provide_server()
