"""Fixtures of the command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def named_config_exists(config_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """OCAC_CONFIG names `config_path` (tests/conftest.py), and a configuration named that way must exist.

    An empty file is the built-in rules. Tests of a missing configuration remove the file or
    name another one. Tables show instants in UTC whatever the developer's OCAC_TZ.
    """
    config_path.touch()
    monkeypatch.delenv("OCAC_TZ", raising=False)


@pytest.fixture
def no_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No configuration named, and none at the default place: the built-in rules. Returns the default place."""
    monkeypatch.delenv("OCAC_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-config-here"))
    return tmp_path / "no-config-here" / "ocac" / "config.toml"
