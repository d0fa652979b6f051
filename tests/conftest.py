"""Shared fixtures: every test gets its own config and store paths, no colour, a fixed width."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ocac.cli import app

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample-data"
SAMPLE_NOW = "2026-11-25T12:00:00Z"


@pytest.fixture(autouse=True)
def isolation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point ocac at files under tmp_path and make output plain and wide."""
    monkeypatch.setenv("OCAC_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("OCAC_STORE", str(tmp_path / "conversations.json"))
    monkeypatch.setenv("OCAC_LOCK_TIMEOUT", "5")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("OCAC_DEBUG", raising=False)


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


class Cli:
    """Runs `ocac` in-process with CliRunner; stdout and stderr kept apart."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return self.runner.invoke(app, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def cli() -> Cli:
    return Cli()


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
