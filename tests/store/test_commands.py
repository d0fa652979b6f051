"""Every command gives the same output, JSON and exit code on every backend.

One scenario (the bundled sample imported, then listed, shown, swept, changed, audited) runs
through the command line against each backend; its output must equal the JSON store's, once
run ids (random by design) and the store's location are set aside.
"""

from __future__ import annotations

import difflib
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLE, SAMPLE_NOW, store_location

RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")
LATER = "2026-11-25T12:30:00Z"
SCENARIO: list[tuple[str, ...]] = [
    ("conversations", "import", "{sample}", "--now", SAMPLE_NOW),
    ("conversations", "list", "--due", "--limit", "7", "--now", SAMPLE_NOW),
    ("conversations", "list", "--json", "--channel", "sms", "--now", SAMPLE_NOW),
    ("conversations", "show", "3e3eb2be", "--now", SAMPLE_NOW),
    ("conversations", "show", "3e3eb2be", "--json", "--now", SAMPLE_NOW),
    ("status", "--now", SAMPLE_NOW),
    ("status", "--json", "--now", SAMPLE_NOW),
    ("sweep", "run", "--dry-run", "--json", "--now", SAMPLE_NOW),
    ("sweep", "run", "--now", SAMPLE_NOW),
    ("sweep", "run", "--json", "--now", LATER),
    ("conversations", "touch", "3e3eb2be", "--now", LATER),
    ("conversations", "set-state", "3e3eb2be", "active", "--now", LATER),
    ("conversations", "set-state", "3e3eb2be", "waiting", "--now", LATER),
    ("conversations", "touch", "3e3eb2be", "--now", SAMPLE_NOW),
    ("records", "delete", "CAS-07874-Q4T8Z8", "--now", LATER),
    ("records", "delete", "NOT-LINKED", "--now", LATER),
    ("records", "list", "--json"),
    ("history", "--json", "--limit", "5"),
    ("history", "--reverse", "--limit", "4", "--now", LATER),
    ("history", "--format", "dataverse", "--json", "--limit", "3"),
    ("history", "--action", "record-deleted", "--json"),
    ("conversations", "list", "--limit", "3", "--now", LATER),
    ("status", "--check", "--max-sweep-age", "1h", "--now", LATER),
]


def run(cli: Any, store: str, tmp_path: Path) -> list[tuple[int, str, str]]:
    sample = tmp_path / "sample.json"
    shutil.copy(SAMPLE / "conversations.json", sample)
    config = tmp_path / "sample-config.toml"
    shutil.copy(SAMPLE / "config.toml", config)
    outputs = []
    for command in SCENARIO:
        args = [a.replace("{sample}", str(sample)) for a in command]
        result = cli("--store", store, "--config", str(config), *args)
        outputs.append((result.exit_code, _normal(result.stdout, store), _normal(result.stderr, store)))
    return outputs


def _normal(text: str, store: str) -> str:
    return RUN_ID.sub("RUN", text.replace(store, "STORE"))


def test_every_command_says_the_same_on_every_backend(
    cli: Any, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    baseline = run(cli, store_location("json", tmp_path / "json", request), tmp_path)
    refused = {12, 13}  # a case conversation cannot wait; a change may not turn its clock back
    assert [code for code, _, _ in baseline] == [2 if i in refused else 0 for i in range(len(SCENARIO))]
    for other in ("toml", "sqlite", "postgresql", "postgresql-psycopg"):
        (tmp_path / other).mkdir()
        if other == "postgresql-psycopg":
            monkeypatch.setenv("OCAC_POSTGRESQL_DRIVER", "psycopg")
        _compare(other, baseline, run(cli, store_location(other, tmp_path / other, request), tmp_path))


def _compare(backend: str, baseline: list[tuple[int, str, str]], compared: list[tuple[int, str, str]]) -> None:
    for command, expected, got in zip(SCENARIO, baseline, compared, strict=True):
        if got != expected:
            before, after = "\n".join(expected[1:]).splitlines(), "\n".join(got[1:]).splitlines()
            diff = difflib.unified_diff(before, after, lineterm="")
            pytest.fail(f"{backend}: {' '.join(command)}: exit {expected[0]} vs {got[0]}\n" + "\n".join(diff))
