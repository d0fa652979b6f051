"""Colour, plain output and progress bars, seen through a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from conftest import SAMPLE, SAMPLE_NOW

ESC = b"\x1b["


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS")}
    env.update(extra)
    return env


def run_in_pty(args: list[str], env: dict[str, str], timeout: float = 30) -> bytes:
    """Run ocac with stdout and stderr on a pseudo-terminal; return everything it wrote."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "ocac", *args], stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    output = bytearray()
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], timeout)
            if not ready:
                raise AssertionError(f"no output for {timeout}s: {bytes(output)!r}")
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the follower side closed: the process is done
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(leader)
        process.wait(timeout=timeout)
    assert process.returncode == 0, bytes(output)
    return bytes(output)


def _piped(args: list[str], env: dict[str, str]) -> bytes:
    done = subprocess.run([sys.executable, "-m", "ocac", *args], capture_output=True, env=env, timeout=30, check=True)
    return done.stdout + done.stderr


@pytest.fixture
def listing(sample_store: Path) -> list[str]:
    return ["conversations", "list", "--due", "--limit", "5", "--now", SAMPLE_NOW]


def test_terminal_output_is_coloured(listing: list[str]) -> None:
    assert ESC in run_in_pty(listing, _env())


COLOUR = re.compile(rb"\x1b\[[0-9;]*(?:3[0-9]|9[0-7]|38;)")


def test_no_color_env_and_flag_turn_colour_off(listing: list[str]) -> None:
    coloured = run_in_pty(listing, _env())
    assert COLOUR.search(coloured)
    assert not COLOUR.search(run_in_pty(listing, _env(NO_COLOR="1")))  # NO_COLOR: bold may stay
    assert ESC not in run_in_pty(["--no-color", *listing], _env())  # --no-color: nothing at all


def test_piped_output_is_plain_unless_forced(listing: list[str]) -> None:
    assert ESC not in _piped(listing, _env())
    assert ESC in _piped(["--color", *listing], _env())
    assert ESC in _piped(listing, _env(FORCE_COLOR="1"))


def _large_store(path: Path) -> None:
    """A store over the progress-bar threshold, made from the sample repeated with new ids."""
    sample = msgspec.json.decode((SAMPLE / "conversations.json").read_bytes())
    conversations = []
    copies = 0
    while len(msgspec.json.encode(conversations)) < 9 * 1024 * 1024:
        for item in sample["conversations"]:
            conversations.append({**item, "id": f"{item['id']}-{copies}", "padding": "x" * 200})
        copies += 1
    path.write_bytes(msgspec.json.encode({"conversations": conversations}))


def test_progress_bar_on_terminal_only(store_path: Path, config_path: Path) -> None:
    _large_store(store_path)
    shutil.copy(SAMPLE / "config.toml", config_path)
    args = ["sweep", "run", "--dry-run", "--now", SAMPLE_NOW]
    assert b"sweeping" in run_in_pty(args, _env())
    assert b"sweeping" not in _piped(args, _env())
    assert b"sweeping" not in run_in_pty([*args, "--quiet"], _env())


OPEN_RECORD = "6283ab63-5778-e911-8196-000d3af7d71e"


def test_config_export_is_a_table_on_a_terminal_and_json_in_a_pipe(sample_store: Path, config_path: Path) -> None:
    with config_path.open("a", encoding="utf-8") as config:  # a kept record's id, and a network's own rule
        config.write(
            f'\n[rules.whatsapp]\nopen = "7d"\n\n[dataverse.state_records."chat/open"]\nid = "{OPEN_RECORD}"\n'
        )
    args = ["--no-color", "config", "export", "--format", "dataverse"]
    lines = [line.rstrip() for line in run_in_pty(args, _env(COLUMNS="200")).decode().splitlines()]
    assert lines[0].split() == ["msdyn_name", "msdyn_ocliveworkitemstate", "auto-close", "after", "record", "id"]
    assert set(lines[1]) == {"─"}
    rows = [[cell.strip() for cell in line.split("   ") if cell.strip()] for line in lines[2:]]
    assert rows == [
        ["Live Chat - Open", "0 (open)", "20m", OPEN_RECORD], ["Live Chat - Active", "1 (active)", "never", "-"],
        ["Live Chat - Wrap-up", "4 (wrap-up)", "15m", "-"],
        ["Voice - Open", "0 (open)", "30d", "-"], ["Voice - Active", "1 (active)", "2h", "-"],
        ["Voice - Wrap-up", "4 (wrap-up)", "1d", "-"],
        ["SMS - Open", "0 (open)", "14d", "-"], ["SMS - Active", "1 (active)", "30d", "-"],
        ["SMS - Wrap-up", "4 (wrap-up)", "1d", "-"],
        ["Teams - Open", "0 (open)", "30d", "-"], ["Teams - Active", "1 (active)", "7d", "-"],
        ["Teams - Wrap-up", "4 (wrap-up)", "1d", "-"],
        ["Persistent Chat - Open", "0 (open)", "30d", "-"], ["Persistent Chat - Active", "1 (active)", "never", "-"],
        ["Persistent Chat - Wrap-up", "4 (wrap-up)", "1d", "-"],
        ["Social - Open", "0 (open)", "30d", "-"], ["Social - Active", "1 (active)", "30d", "-"],
        ["Social - Wrap-up", "4 (wrap-up)", "1d", "-"],
        ["WhatsApp - Open", "0 (open)", "7d", "-"],
    ]  # fmt: skip
    piped = msgspec.json.decode(_piped(args, _env()))
    assert [r["msdyn_name"] for r in piped["value"]] == [row[0] for row in rows]  # the same records
    assert piped["value"][0] == {
        "msdyn_occhannelstateconfigurationid": OPEN_RECORD, "msdyn_name": "Live Chat - Open",
        "msdyn_ocliveworkitemstate": 0, "msdyn_autocloseliveworkitemafter": 20,
    }  # fmt: skip
    assert piped["value"][-1] == {
        "msdyn_name": "WhatsApp - Open", "msdyn_ocliveworkitemstate": 0, "msdyn_autocloseliveworkitemafter": 10080,
    }  # fmt: skip
