"""`ocac config …`: show, set, unset, reset, path; errors as one line; files untouched on failure."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from conftest import SAMPLE, SAMPLE_NOW, Cli
from ocac.config import load_config
from ocac.durations import ACCEPTED
from ocac.model import Action, Channel, State
from ocac.store.trail import trail_path

from ._support import history

DEFAULT_ROWS = [
    ("chat", "open", "20m", "closed"),
    ("chat", "active", "never", "-"),
    ("chat", "wrap-up", "15m", "closed"),
    ("voice", "open", "30d", "closed"),
    ("voice", "active", "2h", "wrap-up"),
    ("voice", "wrap-up", "1d", "closed"),
    ("sms", "open", "30d", "closed"),
    ("sms", "active", "30d", "closed"),
    ("sms", "wrap-up", "1d", "closed"),
    ("teams", "open", "30d", "closed"),
    ("teams", "active", "30d", "closed"),
    ("teams", "wrap-up", "1d", "closed"),
    ("persistent-chat", "open", "30d", "closed"),
    ("persistent-chat", "active", "never", "-"),
    ("persistent-chat", "wrap-up", "1d", "closed"),
    ("social", "open", "30d", "closed"),
    ("social", "active", "30d", "closed"),
    ("social", "wrap-up", "1d", "closed"),
    ("case", "open", "never", "-"),
    ("case", "active", "never", "-"),
    ("case", "wrap-up", "never", "-"),
]
MINUTES = {"20m": 20, "15m": 15, "2h": 120, "1d": 1440, "30d": 43200, "never": None}


def table_rows(stdout: str) -> list[tuple[str, ...]]:
    """The data rows of a `config show` table: lines whose first word is a channel."""
    channels = {str(c) for c in Channel}
    return [tuple(line.split()) for line in stdout.splitlines() if line.split()[:1] and line.split()[0] in channels]


def error_line(result: Any) -> str:
    """The single line a failing command writes on stderr (and nothing on stdout)."""
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ocac: error: ")
    return str(lines[0])


def test_show_table_lists_every_default_cell(cli: Cli, config_path: Path) -> None:
    result = cli("config", "show")  # an empty file: the built-in rules
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"config: {config_path}"
    assert table_rows(result.stdout) == [(*row, "default") for row in DEFAULT_ROWS]
    assert result.stderr == ""


def test_show_says_when_no_file_is_there(cli: Cli, no_config: Path) -> None:
    result = cli("config", "show")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"config: {no_config} (does not exist: built-in defaults)"
    assert table_rows(result.stdout) == [(*row, "default") for row in DEFAULT_ROWS]


@pytest.mark.parametrize("command", [("config", "show"), ("config", "export", "--format", "dataverse")])
def test_a_named_config_that_does_not_exist_is_refused(cli: Cli, config_path: Path, command: tuple[str, ...]) -> None:
    config_path.unlink()
    assert error_line(cli(*command)) == (
        f"ocac: error: config {config_path} does not exist: check --config (or OCAC_CONFIG); "
        "'ocac config set' creates the file"
    )
    assert not config_path.exists()


def test_show_json_rows(cli: Cli) -> None:
    result = cli("config", "show", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [{k: r[k] for k in ("channel", "state", "minutes", "source")} for r in rows] == [
        {"channel": ch, "state": st, "minutes": MINUTES[after], "source": "default"}
        for ch, st, after, _ in DEFAULT_ROWS
    ]
    assert [r["target"] for r in rows if r["minutes"] is not None] == [t for *_, after, t in DEFAULT_ROWS if t != "-"]
    assert all(set(r) >= {"channel", "state", "minutes", "target", "source"} for r in rows)


def test_show_the_sample_config(cli: Cli, sample_store: Path) -> None:
    result = cli("config", "show")
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert ("sms", "open", "14d", "closed", "config") in rows
    assert ("teams", "active", "7d", "closed", "config") in rows
    assert sum(row[-1] == "config" for row in rows) == 2


def show_cell(cli: Cli, channel: str, state: str) -> dict[str, Any]:
    rows = json.loads(cli("config", "show", "--json").stdout)
    [row] = [r for r in rows if (r["channel"], r["state"]) == (channel, state)]
    return dict(row)


def test_set_then_show(cli: Cli, config_path: Path) -> None:
    result = cli("config", "set", "voice", "active", "3h")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == "changed: voice active: 2h → 3h"
    assert show_cell(cli, "voice", "active") == {
        "channel": "voice", "network": None, "state": "active", "minutes": 180, "duration": "3h",
        "target": "wrap-up", "source": "config",
    }  # fmt: skip
    assert config_path.read_text() == '[rules.voice]\nactive = "3h"\n'
    rule = load_config(config_path).policy.rules[Channel.VOICE, State.ACTIVE]
    assert (rule.minutes, rule.source) == (180, "config")
    back = cli("config", "set", "voice", "active", "2h")  # the default's value, as an override
    assert back.stderr.splitlines()[0] == "changed: voice active: 3h → 2h"
    assert show_cell(cli, "voice", "active")["source"] == "config"


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("", ("voice", "active", "2h"), "unchanged: voice active is already 2h (the default)"),
        ("", ("chat", "ACTIVE", "never"), "unchanged: chat active is already never (the default)"),
        (
            '[rules.voice]\nactive = "3h"\n',
            ("voice", "active", "180"),
            "unchanged: voice active is already 3h (set in {config})",
        ),
    ],
)
def test_set_to_the_value_the_cell_has_writes_nothing(
    cli: Cli, config_path: Path, store_path: Path, content: str, args: tuple[str, ...], message: str
) -> None:
    shutil.copy(SAMPLE / "conversations.json", store_path)
    config_path.write_text(content)
    before = config_path.stat()
    result = cli("config", "set", *args)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", message.format(config=config_path) + "\n")
    after = config_path.stat()
    assert (config_path.read_text(), after.st_ino, after.st_mtime_ns) == (content, before.st_ino, before.st_mtime_ns)
    assert history(store_path) == []  # nothing changed, nothing recorded


@pytest.mark.parametrize(
    ("args", "key", "value", "minutes"),
    [
        (("voice", "active", "1h30m"), ("voice", "active"), "1h30m", 90),
        (("Persistent_Chat", "WRAP UP", "P2D"), ("persistent-chat", "wrap-up"), "2d", 2880),
        (("voice", "Active", "never"), ("voice", "active"), "never", None),
        (("sms", "open", "90"), ("sms", "open"), "1h30m", 90),
    ],
)
def test_set_normalises_names_and_durations(
    cli: Cli, config_path: Path, args: tuple[str, ...], key: tuple[str, str], value: str, minutes: int | None
) -> None:
    result = cli("config", "set", *args)
    assert result.exit_code == 0, result.output
    assert tomlkit.parse(config_path.read_text()).unwrap() == {"rules": {key[0]: {key[1]: value}}}
    assert show_cell(cli, *key)["minutes"] == minutes


def test_set_a_bad_duration_exits_2_and_leaves_no_file(cli: Cli, config_path: Path) -> None:
    config_path.unlink()
    result = cli("config", "set", "voice", "active", "2x")
    assert result.exit_code == 2
    assert error_line(result) == f"ocac: error: invalid duration '2x': {ACCEPTED}"
    assert not config_path.exists()


def test_set_a_bad_duration_leaves_the_file_byte_for_byte(cli: Cli, sample_store: Path, config_path: Path) -> None:
    before = config_path.read_bytes()
    result = cli("config", "set", "voice", "active", "2x")
    assert result.exit_code == 2
    error_line(result)
    assert config_path.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("chat", "waiting", "1h"),
            "cannot set a rule for chat/waiting: chat conversations never wait (only persistent-chat, sms, social, "
            "teams do): set the chat open, active or wrap-up rule instead",
        ),
        (
            ("sms", "waiting", "1h"),
            "cannot set a rule for sms/waiting: waiting conversations close after their workstream's inactivity "
            "time: use 'ocac workstream set NAME --channel CH --auto-close-after DURATION'",
        ),
        (
            ("case", "open", "1h"),
            "cannot set a rule for case/open: case conversations close when their linked record is deleted: "
            "use 'ocac records delete RECORD_ID'",
        ),
        (
            ("voice", "closed", "1h"),
            "cannot set a rule for voice/closed: closed is final: closed conversations are never moved; "
            "set a voice open, active or wrap-up rule instead",
        ),
        (
            ("voic", "active", "1h"),
            "unknown channel 'voic': did you mean 'voice'? use one of chat, voice, sms, teams, persistent-chat, "
            "social, case, whatsapp, line, wechat, facebook, twitter, apple-messages, google-business-messages, "
            "custom-messaging, voice-call",
        ),  # fmt: skip
        (
            ("voice", "wrapup!", "1h"),
            "unknown state 'wrapup!': did you mean 'wrap-up'? use one of open, active, waiting, wrap-up, closed",
        ),  # fmt: skip
    ],
)
def test_set_refusals_say_what_to_do_instead(
    cli: Cli, config_path: Path, sample_store: Path, args: tuple[str, ...], message: str
) -> None:
    before = config_path.read_bytes()
    result = cli("config", "set", *args)
    assert result.exit_code == 2
    assert error_line(result) == f"ocac: error: {message}"
    assert config_path.read_bytes() == before


def test_unset_goes_back_to_the_default(cli: Cli, config_path: Path) -> None:
    assert cli("config", "set", "voice", "active", "45m").exit_code == 0
    result = cli("config", "unset", "voice", "active")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == "changed: voice active: 45m → 2h"
    assert show_cell(cli, "voice", "active")["source"] == "default"
    assert load_config(config_path).policy.rules[Channel.VOICE, State.ACTIVE].minutes == 120
    assert config_path.read_text() == ""
    again = cli("config", "unset", "voice", "active")
    assert (again.exit_code, again.stdout, again.stderr) == (
        0, "", "no override to remove: voice active is 2h, as its default says\n",
    )  # fmt: skip
    assert config_path.read_text() == ""


def test_unset_dry_run_shows_the_impact_and_writes_nothing(cli: Cli, sample_store: Path, config_path: Path) -> None:
    store_before, config_before = sample_store.read_bytes(), config_path.read_bytes()
    now = datetime.fromisoformat(SAMPLE_NOW)
    no_longer_due = idle_between("sms", "open", 14 * 1440, 30 * 1440, now)
    assert no_longer_due  # the sample has sms open conversations idle between 14 and 30 days
    due_now = json.loads((SAMPLE / "expected-sweep.json").read_text())["due_count"]
    within_1h = idle_between("sms", "open", 14 * 1440, 30 * 1440, now + timedelta(hours=1))
    within_1d = idle_between("sms", "open", 14 * 1440, 30 * 1440, now + timedelta(days=1))

    result = cli("config", "unset", "sms", "open", "--dry-run", "--now", SAMPLE_NOW)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "would change: sms open: 14d → 30d",
        f"impact (dry run): next sweep would move {due_now} → {due_now - len(no_longer_due)}; "
        f"within 1h: -{len(within_1h)}; within 1d: -{len(within_1d)} "
        f"(no longer due e.g. {', '.join(no_longer_due[:3])})",
    ]
    [now_row] = [line.split() for line in result.stdout.splitlines() if line.split()[:1] == ["now"]]
    assert now_row == ["now", str(due_now), str(due_now - len(no_longer_due)), f"-{len(no_longer_due)}",
                       *", ".join(no_longer_due[:3]).split()]  # fmt: skip

    as_json = cli("config", "unset", "sms", "open", "--dry-run", "--now", SAMPLE_NOW, "--json")
    report = json.loads(as_json.stdout)
    assert (report["dry_run"], report["written"], report["now"], report["config"]) == (
        True, False, SAMPLE_NOW, str(config_path),
    )  # fmt: skip
    assert report["changes"] == [{
        "channel": "sms", "network": None, "state": "open", "old": "14d", "new": "30d", "old_minutes": 20160,
        "new_minutes": 43200, "target": "closed",
    }]  # fmt: skip
    assert report["impact"]["now"] == {
        "before": due_now, "after": due_now - len(no_longer_due), "difference": -len(no_longer_due),
        "examples_newly_due": [], "examples_no_longer_due": no_longer_due[:5],
    }  # fmt: skip
    assert (sample_store.read_bytes(), config_path.read_bytes()) == (store_before, config_before)
    assert not trail_path(sample_store).exists()


def test_unset_writes_and_records_the_edit(cli: Cli, sample_store: Path, config_path: Path) -> None:
    result = cli("config", "unset", "sms", "open", "--now", SAMPLE_NOW, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["dry_run"], report["written"], report["impact_error"]) == (False, True, None)
    assert load_config(config_path).policy.rules[Channel.SMS, State.OPEN].source == "default"
    [record] = history(sample_store)
    assert (record.kind, record.at, record.detail) == (
        Action.CONFIG, datetime.fromisoformat(SAMPLE_NOW),
        {"config": str(config_path), "change": "sms open: 14d → 30d"},
    )  # fmt: skip


def test_reset_with_yes_drops_rules_and_keeps_workstreams(cli: Cli, sample_store: Path, config_path: Path) -> None:
    result = cli("config", "reset", "--yes")
    assert result.exit_code == 0, result.output
    assert result.stderr == f"reset: rule overrides removed from {config_path}\n"
    assert table_rows(cli("config", "show").stdout) == [(*row, "default") for row in DEFAULT_ROWS]
    assert len(load_config(config_path).policy.workstreams) == 7
    again = cli("config", "reset", "-y")
    assert (again.exit_code, again.stderr) == (0, "nothing to reset\n")


def test_reset_without_yes_and_without_a_terminal_is_refused(cli: Cli, sample_store: Path, config_path: Path) -> None:
    before = config_path.read_bytes()
    result = cli("config", "reset")
    assert result.exit_code == 2
    assert error_line(result) == "ocac: error: config reset needs confirmation: run it in a terminal or pass --yes"
    assert config_path.read_bytes() == before


def test_path(cli: Cli, config_path: Path) -> None:
    config_path.unlink()
    result = cli("config", "path")
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"{config_path}\n", "")
    assert not config_path.exists()


def test_a_hand_written_comment_survives_set(cli: Cli, config_path: Path) -> None:
    config_path.write_text('# keep me\n[rules.sms]\nopen = "14d"  # two weeks\n')
    assert cli("config", "set", "voice", "active", "3h").exit_code == 0
    text = config_path.read_text()
    assert text.startswith('# keep me\n[rules.sms]\nopen = "14d"  # two weeks\n')
    assert tomlkit.parse(text).unwrap() == {"rules": {"sms": {"open": "14d"}, "voice": {"active": "3h"}}}


@pytest.mark.parametrize("text", ['[rules.voice\nactive = "2h"\n', "x = [", '[rules.voice]\nactive = "2x"\n'])
def test_a_broken_config_is_left_as_it_was(cli: Cli, config_path: Path, text: str) -> None:
    config_path.write_text(text)
    for args in (("config", "set", "voice", "active", "2h"), ("config", "show"), ("config", "reset", "--yes")):
        result = cli(*args)
        assert result.exit_code == 2, args
        assert error_line(result).startswith(f"ocac: error: config {config_path}")
        assert config_path.read_text() == text


def idle_between(channel: str, state: str, low: int, high: int, at: datetime) -> list[str]:
    """Sample conversations in (channel, state) idle more than `low` and at most `high` minutes at `at`."""
    raw = json.loads((SAMPLE / "conversations.json").read_text())
    return sorted(
        c["id"]
        for c in raw["conversations"]
        if (c["channel"], c["state"]) == (channel, state)
        and timedelta(minutes=low) < at - datetime.fromisoformat(c["modified_on"]) <= timedelta(minutes=high)
    )


def due_ids_between(low: int, high: int, at: datetime) -> list[str]:
    """Sample voice/active conversations idle more than `low` and at most `high` minutes at `at`."""
    return idle_between("voice", "active", low, high, at)


def test_dry_run_prints_the_impact_on_the_store_and_writes_nothing(
    cli: Cli, sample_store: Path, config_path: Path
) -> None:
    store_before, config_before = sample_store.read_bytes(), config_path.read_bytes()
    now = datetime.fromisoformat(SAMPLE_NOW)
    newly_due = due_ids_between(60, 120, now)
    within_1h = due_ids_between(60, 120, now + timedelta(hours=1))
    assert len(newly_due) > 0  # the sample has voice calls active for between one and two hours
    due_now = json.loads((SAMPLE / "expected-sweep.json").read_text())["due_count"]

    result = cli("config", "set", "voice", "active", "1h", "--dry-run", "--now", SAMPLE_NOW)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "would change: voice active: 2h → 1h",
        f"impact (dry run): next sweep would move {due_now} → {due_now + len(newly_due)}; "
        f"within 1h: +{len(within_1h)}; within 1d: +0 (newly due e.g. {', '.join(newly_due[:3])})",
    ]
    [now_row] = [line.split() for line in result.stdout.splitlines() if line.split()[:1] == ["now"]]
    assert now_row[:4] == ["now", str(due_now), str(due_now + len(newly_due)), f"+{len(newly_due)}"]

    result = cli("config", "set", "voice", "active", "1h", "--dry-run", "--now", SAMPLE_NOW, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["dry_run"], report["written"], report["now"]) == (True, False, SAMPLE_NOW)
    assert report["changes"] == [{
        "channel": "voice", "network": None, "state": "active", "old": "2h", "new": "1h", "old_minutes": 120,
        "new_minutes": 60, "target": "wrap-up",
    }]  # fmt: skip
    assert report["impact"]["now"] == {
        "before": due_now, "after": due_now + len(newly_due), "difference": len(newly_due),
        "examples_newly_due": newly_due[:5], "examples_no_longer_due": [],
    }  # fmt: skip
    assert report["impact"]["within_1h"]["difference"] == len(within_1h)
    assert report["impact"]["within_1d"]["difference"] == 0
    assert (sample_store.read_bytes(), config_path.read_bytes()) == (store_before, config_before)


def test_dry_run_on_a_missing_config_leaves_it_missing(cli: Cli, no_config: Path) -> None:
    result = cli("config", "set", "voice", "active", "1h", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == "would change: voice active: 2h → 1h"
    assert not no_config.exists()


def test_set_creates_the_default_config_file(cli: Cli, no_config: Path) -> None:
    result = cli("config", "set", "voice", "active", "1h")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == "changed: voice active: 2h → 1h"
    assert no_config.read_text() == '[rules.voice]\nactive = "1h"\n'


def test_set_creates_a_named_config_that_does_not_exist(cli: Cli, config_path: Path) -> None:
    config_path.unlink()
    dry = cli("config", "set", "voice", "active", "1h", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.stderr.splitlines()[0] == "would change: voice active: 2h → 1h"
    assert not config_path.exists()
    result = cli("config", "set", "voice", "active", "1h")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == "changed: voice active: 2h → 1h"
    assert config_path.read_text() == '[rules.voice]\nactive = "1h"\n'


def test_set_json_reports_what_was_written(cli: Cli, store_path: Path, config_path: Path) -> None:
    shutil.copy(SAMPLE / "conversations.json", store_path)
    result = cli("config", "set", "sms", "open", "never", "--json", "--now", SAMPLE_NOW)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["dry_run"], report["written"], report["impact_error"]) == (False, True, None)
    assert report["changes"][0]["new_minutes"] is None
    assert report["impact"]["now"]["after"] < report["impact"]["now"]["before"]
    assert load_config(config_path).policy.rules[Channel.SMS, State.OPEN].minutes is None
    [record] = history(store_path)  # the edit is in the store's history
    assert (record.kind, record.detail) == (
        Action.CONFIG, {"config": str(config_path), "change": "sms open: 30d → never"},
    )  # fmt: skip


def test_an_edit_without_a_store_is_not_recorded_and_makes_no_store(cli: Cli, store_path: Path) -> None:
    result = cli("config", "set", "voice", "active", "3h", "--now", SAMPLE_NOW)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "changed: voice active: 2h → 3h", "impact: next sweep would move 0 → 0; within 1h: +0; within 1d: +0",
    ]  # fmt: skip
    assert not store_path.exists() and not trail_path(store_path).exists()


def test_dry_runs_and_refusals_are_not_recorded(cli: Cli, sample_store: Path) -> None:
    assert cli("config", "set", "voice", "active", "1h", "--dry-run").exit_code == 0
    assert cli("config", "unset", "voice", "active").exit_code == 0  # no override: nothing to remove
    assert cli("config", "set", "voice", "closed", "1h").exit_code == 2
    assert history(sample_store) == []


def test_config_path_json_says_whether_the_file_exists(cli: Cli, config_path: Path) -> None:
    config_path.unlink()
    result = cli("config", "path", "--json")
    assert (result.exit_code, json.loads(result.stdout)) == (0, {"path": str(config_path), "exists": False})
    config_path.write_text("")
    assert json.loads(cli("config", "path", "--json").stdout) == {"path": str(config_path), "exists": True}
