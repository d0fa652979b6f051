"""Shared fixtures: every test gets its own config and store paths, no colour, a fixed width."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
import typer.main
import typer.testing
from hypothesis import HealthCheck, settings
from typer.testing import CliRunner

from ocac.cli import app
from ocac.store import Store, open_store
from postgresql_server import PostgreSQLServer, create_schema
from postgresql_server import postgresql_server as postgresql_server  # the session's throwaway server (a fixture)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))  # the shared store generator (tools/generator.py)
SAMPLE = ROOT / "sample-data"
SAMPLE_NOW = "2026-11-25T12:00:00Z"

# Hypothesis's deadline and its "input generation is slow" check time each example by the wall
# clock; beside the process tests on two busy cores they failed on pauses, not on ocac (seen:
# 1.5 s for one example). What the properties assert does not depend on time.
settings.register_profile("ocac", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ocac")


@pytest.fixture(autouse=True)
def isolation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point ocac at files under tmp_path and make output plain and wide.

    OCAC_CONFIG names an (empty) configuration file: a named file must exist, and an empty one
    means the built-in defaults. XDG folders point into tmp_path too, so that no test reads the
    user's own configuration or store.
    """
    (tmp_path / "config.toml").touch()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("OCAC_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("OCAC_STORE", str(tmp_path / "conversations.json"))
    monkeypatch.setenv("OCAC_LOCK_TIMEOUT", "5")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("OCAC_DEBUG", raising=False)
    monkeypatch.delenv("OCAC_TZ", raising=False)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return tmp_path / "config.toml"


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "conversations.json"


@pytest.fixture
def sample_store(store_path: Path, config_path: Path) -> Path:
    """The bundled sample store and config, copied into the test's folder."""
    shutil.copy(SAMPLE / "conversations.json", store_path)
    shutil.copy(SAMPLE / "config.toml", config_path)
    return store_path


# Typer rebuilds the whole click command tree on every CliRunner.invoke (~20 ms, thousands of times
# in this suite); the tree is stateless, so the tests build it once.
_COMMAND = typer.main.get_command(app)
_build_command = typer.testing._get_command
typer.testing._get_command = lambda given: _COMMAND if given is app else _build_command(given)


class Cli:
    """Runs `ocac` in-process with CliRunner; stdout and stderr kept apart."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return self.runner.invoke(app, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def cli() -> Cli:
    return Cli()


@contextmanager
def json_store(path: Path, conversations: Sequence[Mapping[str, object]]) -> Iterator[Store]:
    """A JSON store file at `path` holding `conversations`, opened (and closed when done)."""
    path.write_text(json.dumps({"conversations": list(conversations)}))
    with closing(open_store(str(path), 5)) as store:
        yield store


def run_ocac(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None, input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run `ocac` as a separate process (for locks, crashes, cron-style runs)."""
    return subprocess.run(
        [sys.executable, "-m", "ocac", *args],
        capture_output=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        input=input,
        check=False,
    )


@pytest.fixture
def ocac_process() -> Callable[..., subprocess.CompletedProcess[bytes]]:
    return run_ocac


BACKENDS = ("json", "toml", "sqlite", "postgresql", "postgresql-psycopg")
"""Every store backend: the contract suite runs each of its tests against each. PostgreSQL runs
twice: through libpq (the default) and through psycopg alone (OCAC_POSTGRESQL_DRIVER=psycopg)."""

_SUFFIX = {"json": ".json", "toml": ".toml", "sqlite": ".sqlite"}


def store_location(backend: str, tmp_path: Path, request: pytest.FixtureRequest, name: str = "store") -> str:
    """A new, empty store of `backend` for one test: a path, or a fresh schema on the session's server."""
    if backend.startswith("postgresql"):
        server: PostgreSQLServer = request.getfixturevalue("postgresql_server")
        return create_schema(server.url(), f"t_{uuid.uuid4().hex[:16]}")
    return str(tmp_path / f"{name}{_SUFFIX[backend]}")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each store backend in turn."""
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty store of each backend in turn; OCAC_STORE points at it."""
    location = store_location(backend, tmp_path, request)
    monkeypatch.setenv("OCAC_STORE", location)
    if backend == "postgresql-psycopg":
        monkeypatch.setenv("OCAC_POSTGRESQL_DRIVER", "psycopg")
    return location
