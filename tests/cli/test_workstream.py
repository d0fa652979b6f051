"""`ocac workstream …`: set, list, remove; refusals and dry runs leave the file alone."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from conftest import SAMPLE, SAMPLE_NOW, Cli
from ocac.config import load_config
from ocac.model import Action, Channel
from ocac.policy import Workstream
from ocac.store.trail import trail_path

from ._support import history


def error_line(result: Any) -> str:
    """The single line a failing command writes on stderr (and nothing on stdout)."""
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ocac: error: ")
    return str(lines[0])


def streams(config_path: Path) -> dict[str, Workstream]:
    return dict(load_config(config_path).policy.workstreams)


def test_set_creates_a_workstream(cli: Cli, config_path: Path) -> None:
    result = cli("workstream", "set", "Contoso SMS", "--channel", "SMS", "--auto-close-after", "2d")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == "changed: workstream 'Contoso SMS'"
    assert config_path.read_text() == '[workstreams."Contoso SMS"]\nchannel = "sms"\nauto_close_after = "2d"\n'
    assert streams(config_path) == {"Contoso SMS": Workstream("Contoso SMS", Channel.SMS, auto_close_after=2880)}


def test_set_changes_only_what_is_given(cli: Cli, config_path: Path) -> None:
    assert cli("workstream", "set", "Line", "--channel", "voice", "--wrap-up-block", "90").exit_code == 0
    assert cli("workstream", "set", "Chat", "--channel", "persistent_chat", "--auto-close-after", "3d").exit_code == 0
    assert cli("workstream", "set", "Chat", "--wrap-up-block", "PT45M").exit_code == 0
    assert streams(config_path) == {
        "Line": Workstream("Line", Channel.VOICE, wrap_up_block=90),
        "Chat": Workstream("Chat", Channel.PERSISTENT_CHAT, auto_close_after=4320, wrap_up_block=45),
    }
    assert cli("workstream", "set", "Chat", "--auto-close-after", "never").exit_code == 0
    assert streams(config_path)["Chat"] == Workstream("Chat", Channel.PERSISTENT_CHAT, wrap_up_block=45)
    assert tomlkit.parse(config_path.read_text()).unwrap()["workstreams"]["Chat"] == {
        "channel": "persistent-chat",
        "wrap_up_block": "45m",
    }


def test_list_table_and_json(cli: Cli, sample_store: Path) -> None:
    result = cli("workstream", "list")
    assert result.exit_code == 0, result.output
    rows = [line.split("   ") for line in result.stdout.splitlines()]
    rows = [[cell.strip() for cell in row if cell.strip()] for row in rows]
    assert rows[0] == ["name", "channel", "waiting auto-close", "wrap-up block", "id"]
    assert ["Contoso Support Line", "voice", "never", "1h30m", "-"] in rows
    assert ["Contoso IT Helpdesk", "teams", "12h", "-", "-"] in rows
    assert ["Contoso Chat", "persistent-chat", "3d", "-", "-"] in rows
    result = cli("workstream", "list", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"name": "Contoso Web Chat", "id": None, "channel": "chat", "auto_close_after_minutes": None,
         "wrap_up_block_minutes": None},
        {"name": "Contoso Support Line", "id": None, "channel": "voice", "auto_close_after_minutes": None,
         "wrap_up_block_minutes": 90},
        {"name": "Contoso Chat", "id": None, "channel": "persistent-chat", "auto_close_after_minutes": 4320,
         "wrap_up_block_minutes": None},
        {"name": "Contoso SMS", "id": None, "channel": "sms", "auto_close_after_minutes": 2880,
         "wrap_up_block_minutes": None},
        {"name": "Contoso IT Helpdesk", "id": None, "channel": "teams", "auto_close_after_minutes": 720,
         "wrap_up_block_minutes": None},
        {"name": "Contoso Social", "id": None, "channel": "social", "auto_close_after_minutes": None,
         "wrap_up_block_minutes": None},
        {"name": "Contoso Case Routing", "id": None, "channel": "case", "auto_close_after_minutes": None,
         "wrap_up_block_minutes": None},
    ]  # fmt: skip


def test_list_without_workstreams(cli: Cli, config_path: Path) -> None:
    result = cli("workstream", "list")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "no workstreams: add one with 'ocac workstream set NAME --channel CH'\n"
    result = cli("workstream", "list", "--json")
    assert (result.exit_code, json.loads(result.stdout)) == (0, [])
    assert config_path.read_text() == ""


def waiting_idle_over(workstream: str, minutes: int, at: datetime) -> list[str]:
    """Sample waiting conversations of `workstream` idle more than `minutes` at `at`."""
    raw = json.loads((SAMPLE / "conversations.json").read_text())
    return sorted(
        c["id"]
        for c in raw["conversations"]
        if c["state"] == "waiting" and c.get("workstream") == workstream
        and at - datetime.fromisoformat(c["modified_on"]) > timedelta(minutes=minutes)
    )  # fmt: skip


def test_remove(cli: Cli, sample_store: Path, config_path: Path) -> None:
    now = datetime.fromisoformat(SAMPLE_NOW)
    no_longer_due = waiting_idle_over("Contoso SMS", 2 * 1440, now)  # it closes waiting SMS after 2d
    within_1h = waiting_idle_over("Contoso SMS", 2 * 1440, now + timedelta(hours=1))
    within_1d = waiting_idle_over("Contoso SMS", 2 * 1440, now + timedelta(days=1))
    assert len(no_longer_due) < len(within_1h)
    due_now = json.loads((SAMPLE / "expected-sweep.json").read_text())["due_count"]
    result = cli("workstream", "remove", "Contoso SMS", "--now", SAMPLE_NOW)
    assert (result.exit_code, result.stdout) == (0, ""), result.output
    assert result.stderr.splitlines() == [
        "changed: workstream 'Contoso SMS'",
        f"impact: next sweep would move {due_now} → {due_now - len(no_longer_due)}; within 1h: -{len(within_1h)}; "
        f"within 1d: -{len(within_1d)} (no longer due e.g. {', '.join(no_longer_due[:3])})",
    ]
    assert "Contoso SMS" not in streams(config_path)
    assert len(streams(config_path)) == 6
    assert '# [workstreams."<name>"]: the workstreams conversations in the store refer to.' in config_path.read_text()
    [record] = history(sample_store)
    assert (record.kind, record.at, record.detail) == (
        Action.CONFIG, now, {"config": str(config_path), "change": "workstream 'Contoso SMS'"},
    )  # fmt: skip


def test_remove_dry_run_shows_the_impact_and_writes_nothing(cli: Cli, sample_store: Path, config_path: Path) -> None:
    before = config_path.read_bytes(), sample_store.read_bytes()
    now = datetime.fromisoformat(SAMPLE_NOW)
    no_longer_due = waiting_idle_over("Contoso SMS", 2 * 1440, now)
    result = cli("workstream", "remove", "Contoso SMS", "--dry-run", "--now", SAMPLE_NOW)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == "would change: workstream 'Contoso SMS'"
    assert result.stderr.splitlines()[1].startswith("impact (dry run): next sweep would move ")
    [now_row] = [line.split() for line in result.stdout.splitlines() if line.split()[:1] == ["now"]]
    assert now_row[3:] == [f"-{len(no_longer_due)}", *", ".join(no_longer_due[:3]).split()]
    as_json = cli("workstream", "remove", "Contoso SMS", "--dry-run", "--now", SAMPLE_NOW, "--json")
    report = json.loads(as_json.stdout)
    assert (report["dry_run"], report["written"], report["changes"]) == (True, False, [])
    assert report["workstream"] == {
        "name": "Contoso SMS",
        "old": {"channel": "sms", "auto_close_after_minutes": 2880, "wrap_up_block_minutes": None},
        "new": None,
    }
    assert report["impact"]["now"]["examples_no_longer_due"] == no_longer_due[:5]
    assert report["impact"]["now"]["difference"] == -len(no_longer_due)
    assert (config_path.read_bytes(), sample_store.read_bytes()) == before
    assert not trail_path(sample_store).exists()


def test_remove_an_unknown_workstream(cli: Cli, sample_store: Path, config_path: Path) -> None:
    before = config_path.read_bytes()
    result = cli("workstream", "remove", "Contoso Fax")
    assert result.exit_code == 2
    assert error_line(result) == "ocac: error: no workstream named 'Contoso Fax': see 'ocac workstream list'"
    assert config_path.read_bytes() == before


def test_auto_close_after_on_a_chat_workstream_is_refused(cli: Cli, config_path: Path) -> None:
    result = cli("workstream", "set", "Web", "--channel", "chat", "--auto-close-after", "1h")
    assert result.exit_code == 2
    assert error_line(result) == (
        "ocac: error: 'auto close after inactivity' exists only for persistent-chat, sms, social, teams "
        "workstreams, not for chat: chat conversations never wait"
    )
    assert config_path.read_text() == ""


def test_auto_close_after_on_an_existing_chat_workstream_is_refused(
    cli: Cli, sample_store: Path, config_path: Path
) -> None:
    before = config_path.read_bytes()
    result = cli("workstream", "set", "Contoso Web Chat", "--auto-close-after", "1h")
    assert result.exit_code == 2
    assert "workstreams.Contoso Web Chat.auto_close_after: 'auto close after inactivity' exists only for" in (
        error_line(result)
    )
    assert config_path.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("New",), "workstream 'New' does not exist: give --channel to create it"),
        (
            ("New", "--channel", "smss"),
            "unknown channel 'smss': did you mean 'sms'? use one of chat, voice, sms, "
            "teams, persistent-chat, social, case",
        ),  # fmt: skip
        (("New", "--channel", "sms", "--auto-close-after", "2x"), "invalid duration '2x': use minutes (90)"),
        (("New", "--channel", "sms", "--wrap-up-block", "30s"), "duration '30s' is not a whole number of minutes"),
        (("", "--channel", "sms"), "workstream name is empty: give a name such as 'Contoso Chat'"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(cli: Cli, config_path: Path, args: tuple[str, ...], message: str) -> None:
    result = cli("workstream", "set", *args)
    assert result.exit_code == 2
    assert error_line(result).startswith(f"ocac: error: {message}")
    assert config_path.read_text() == ""


def test_dry_run_writes_nothing(cli: Cli, config_path: Path) -> None:
    result = cli("workstream", "set", "X", "--channel", "sms", "--auto-close-after", "1h", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == "would change: workstream 'X'"
    assert config_path.read_text() == ""
    config_path.write_text('# mine\n[workstreams.X]\nchannel = "sms"\n')
    result = cli("workstream", "set", "X", "--auto-close-after", "1h", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["dry_run"], report["written"]) == (True, False)
    assert report["workstream"] == {
        "name": "X",
        "old": {"channel": "sms", "auto_close_after_minutes": None, "wrap_up_block_minutes": None},
        "new": {"channel": "sms", "auto_close_after_minutes": 60, "wrap_up_block_minutes": None},
    }
    assert config_path.read_text() == '# mine\n[workstreams.X]\nchannel = "sms"\n'


def test_dry_run_impact_on_the_sample(cli: Cli, sample_store: Path, config_path: Path) -> None:
    before = config_path.read_bytes()
    raw = json.loads((SAMPLE / "conversations.json").read_text())
    now = datetime.fromisoformat(SAMPLE_NOW)
    newly_due = sorted(
        c["id"]
        for c in raw["conversations"]
        if c["state"] == "waiting" and c.get("workstream") == "Contoso Social"
        and now - datetime.fromisoformat(c["modified_on"]) > timedelta(days=1)
    )  # fmt: skip
    assert newly_due  # the sample has waiting social conversations older than a day
    result = cli(
        "workstream", "set", "Contoso Social", "--auto-close-after", "1d", "--dry-run", "--now", SAMPLE_NOW, "--json"
    )
    assert result.exit_code == 0, result.output
    impact = json.loads(result.stdout)["impact"]["now"]
    assert (impact["after"] - impact["before"], impact["examples_newly_due"]) == (len(newly_due), newly_due[:5])
    assert config_path.read_bytes() == before
