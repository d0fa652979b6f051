"""`ocac sweep run`: output, order, exit codes, the lock, history, the configuration used, the notify command."""

from __future__ import annotations

import json
import os
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLE, SAMPLE_NOW
from ocac import fsutil
from ocac.audit import AuditRecord, HistoryQuery
from ocac.model import Action
from ocac.store.trail import trail_path

from ._support import fail, history, last_sweep, snapshot, states

T = "2026-11-25T12:00:00Z"
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
TRANSITION_KEYS = {"id", "channel", "from", "to", "reason", "rule", "idle_minutes", "threshold_minutes", "modified_on"}

CONFIG = """\
[workstreams."SMS"]
channel = "sms"
auto_close_after = "2h"

[workstreams."Quiet"]
channel = "teams"
"""


def conv(cid: str, channel: str, state: str, modified_on: str, **extra: object) -> dict[str, object]:
    return {"id": cid, "channel": channel, "state": state, "modified_on": modified_on, **extra}


SMALL = [
    conv("c1", "chat", "open", "2026-11-25T11:30:00Z", queue="Web"),  # due at 11:50
    conv("c2", "chat", "open", "2026-11-25T11:40:00Z"),  # exactly 20 minutes: not due
    conv("v1", "voice", "active", "2026-11-25T11:59:00+02:00"),  # 09:59Z, 2h1m: due at 11:59
    conv("s1", "sms", "waiting", "2026-11-25T09:00:00Z", workstream="SMS"),  # due at 11:00
    conv("t1", "teams", "waiting", "2026-01-01T00:00:00Z", workstream="Quiet"),  # never
    conv("k1", "case", "open", "2026-11-25T11:59:00Z", record_id="R1"),  # record deleted: due at 11:59
]
SUMMARY = "moved 4 of 6 conversation(s): case→closed 1, chat→closed 1, sms→closed 1, voice→wrap-up 1"


@pytest.fixture
def small(store_path: Path, config_path: Path) -> Path:
    store_path.write_text(json.dumps({"conversations": SMALL, "deleted_records": ["R1"]}, indent=2))
    config_path.write_text(CONFIG)
    return store_path


def run_json(cli: Any, *args: str) -> dict[str, Any]:
    result = cli("sweep", "run", "--json", *args)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def sweep_records(path: Path) -> list[AuditRecord]:
    return history(path, HistoryQuery(actions=frozenset({Action.SWEEP})))


def test_sample_sweep_matches_the_expected_transitions(cli, sample_store: Path, config_path: Path) -> None:  # type: ignore[no-untyped-def]
    expected = json.loads((SAMPLE / "expected-sweep.json").read_text())
    reason = {"workstream auto_close_after": "AutoClosedFromWaitingState", "record deleted": "RecordDeleted"}
    want = sorted((d["id"], d["channel"], d["state"], d["target"], reason.get(d["why"], "AutoClosedBySystem"))
                  for d in expected["due"])  # fmt: skip
    document = run_json(cli, "--now", SAMPLE_NOW)
    got = sorted((t["id"], t["channel"], t["from"], t["to"], t["reason"]) for t in document["transitions"])
    assert got == want
    assert (document["now"], document["dry_run"], document["moved"], document["considered"]) == (
        SAMPLE_NOW, False, 69, 300,
    )  # fmt: skip
    assert (document["config"], document["skipped"], document["applied"]) == (str(config_path), None, True)
    for t in document["transitions"]:
        assert set(t) == TRANSITION_KEYS
        assert t["idle_minutes"] > t["threshold_minutes"]
    keys = [(datetime.fromisoformat(t["modified_on"]).timestamp() + 60 * t["threshold_minutes"], t["id"])
            for t in document["transitions"]]  # fmt: skip
    assert keys == sorted(keys)  # soonest due first, then by id
    now = datetime.fromisoformat(SAMPLE_NOW)
    after = states(sample_store)
    for d in expected["due"]:
        assert after[d["id"]] == (d["target"], now)


def test_json_output(cli, small: Path, config_path: Path) -> None:  # type: ignore[no-untyped-def]
    document = run_json(cli, "--now", "2026-11-25T14:00:00+02:00")
    assert {k: v for k, v in document.items() if k not in ("run_id", "transitions")} == {
        "now": T, "dry_run": False, "applied": True, "skipped": None, "config": str(config_path), "considered": 6,
        "moved": 4,
    }  # fmt: skip
    assert document["run_id"].startswith("20261125T120000Z-")
    # Soonest due first: s1 (11:00), c1 (11:50), then k1 and v1 (both 11:59) by id.
    assert document["transitions"] == [
        {"id": "s1", "channel": "sms", "from": "waiting", "to": "closed", "reason": "AutoClosedFromWaitingState",
         "rule": "workstream:SMS", "idle_minutes": 180, "threshold_minutes": 120,
         "modified_on": "2026-11-25T09:00:00Z"},
        {"id": "c1", "channel": "chat", "from": "open", "to": "closed", "reason": "AutoClosedBySystem",
         "rule": "chat/open", "idle_minutes": 30, "threshold_minutes": 20, "modified_on": "2026-11-25T11:30:00Z"},
        {"id": "k1", "channel": "case", "from": "open", "to": "closed", "reason": "RecordDeleted",
         "rule": "case/record-deleted", "idle_minutes": 1, "threshold_minutes": 0,
         "modified_on": "2026-11-25T11:59:00Z"},
        {"id": "v1", "channel": "voice", "from": "active", "to": "wrap-up", "reason": "AutoClosedBySystem",
         "rule": "voice/active", "idle_minutes": 121, "threshold_minutes": 120,
         "modified_on": "2026-11-25T09:59:00Z"},
    ]  # fmt: skip
    assert {k: v[0] for k, v in states(small).items()} == {
        "c1": "closed", "c2": "open", "v1": "wrap-up", "s1": "closed", "t1": "waiting", "k1": "closed",
    }  # fmt: skip


def test_transitions_are_ordered_by_due_instant_then_id_on_every_backend(
    cli,
    store_url: str,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    config_path: Path,
) -> None:
    # Listed against due order: by channel, id or modified_on alone the order would differ.
    source = tmp_path / "in.json"
    source.write_text(json.dumps([
        conv("a-late", "chat", "open", "2026-11-25T11:39:00Z"),  # due 11:59
        conv("z-early", "voice", "active", "2026-11-25T09:10:00Z"),  # due 11:10
        conv("b-tie", "chat", "wrap-up", "2026-11-25T11:44:00Z"),  # due 11:59 (15m)
        conv("m-tie", "voice", "wrap-up", "2026-11-24T11:59:00Z"),  # due 11:59 (1d)
        conv("c-mid", "sms", "waiting", "2026-11-25T09:30:00Z", workstream="SMS"),  # due 11:30
        conv("d-not", "chat", "open", "2026-11-25T11:45:00Z"),  # due 12:05: not yet
    ]))  # fmt: skip
    config_path.write_text(CONFIG)
    imported = cli("conversations", "import", str(source), "--now", "2026-11-25T11:45:00Z")
    assert imported.exit_code == 0, imported.stderr
    expected = ["z-early", "c-mid", "a-late", "b-tie", "m-tie"]
    dry = run_json(cli, "--dry-run", "--now", T)
    assert [t["id"] for t in dry["transitions"]] == expected
    document = run_json(cli, "--now", T)
    assert [t["id"] for t in document["transitions"]] == expected
    assert [r.id for r in sweep_records(store_url)] == expected  # applied and recorded in that order too


def test_text_output(cli, small: Path, config_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("sweep", "run", "--now", T)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    lines = [line.split() for line in result.stdout.splitlines() if line.strip()]
    assert lines[0] == ["sweep", "at", T]
    assert lines[1] == ["id", "channel", "from", "→", "to", "idle", "threshold", "reason"]
    assert lines[3:-1] == [
        ["s1", "sms", "waiting", "→", "closed", "3h", "2h", "AutoClosedFromWaitingState"],
        ["c1", "chat", "open", "→", "closed", "30m", "20m", "AutoClosedBySystem"],
        ["k1", "case", "open", "→", "closed", "1m", "0m", "RecordDeleted"],
        ["v1", "voice", "active", "→", "wrap-up", "2h", "1m", "2h", "AutoClosedBySystem"],
    ]
    assert result.stdout.splitlines()[-1] == f"{SUMMARY} (config: {config_path})"
    again = cli("sweep", "run", "--now", T)
    assert (again.exit_code, again.stdout, again.stderr) == (0, f"nothing due at {T} (config: {config_path})\n", "")


def test_with_no_configuration_the_built_in_rules_are_named(cli, store_path: Path, no_config: Path) -> None:  # type: ignore[no-untyped-def]
    store_path.write_text(json.dumps({"conversations": SMALL[:2]}))
    result = cli("sweep", "run", "--now", T)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "moved 1 of 2 conversation(s): chat→closed 1 (config: built-in defaults)"
    again = cli("sweep", "run", "--now", T)
    assert again.stdout == f"nothing due at {T} (config: built-in defaults)\n"
    dry = run_json(cli, "--dry-run", "--now", T)
    assert (dry["config"], dry["moved"]) == (None, 0)


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_a_named_configuration_that_does_not_exist_is_refused(  # type: ignore[no-untyped-def]
    cli, small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    missing = tmp_path / "typo.toml"
    before = snapshot(small)
    if how == "flag":
        result = cli("--config", str(missing), "sweep", "run", "--now", T)
    else:
        monkeypatch.setenv("OCAC_CONFIG", str(missing))
        result = cli("sweep", "run", "--now", T)
    assert fail(result) == (
        f"ocac: error: config {missing} does not exist: check --config (or OCAC_CONFIG); "
        "'ocac config set' creates the file"
    )
    assert snapshot(small) == before
    assert not missing.exists()


def test_dry_run_writes_nothing(cli, small: Path) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(small)
    document = run_json(cli, "--dry-run", "--now", T)
    assert (document["dry_run"], document["applied"], document["moved"], document["considered"]) == (True, False, 4, 6)
    assert [t["id"] for t in document["transitions"]] == ["s1", "c1", "k1", "v1"]
    text = cli("sweep", "run", "--dry-run", "--now", T)
    assert text.stdout.splitlines()[0].strip() == f"dry run: sweep at {T}"
    assert text.stdout.splitlines()[-1].startswith("would move 4 of 6 conversation(s): case→closed 1,")
    assert snapshot(small) == before
    assert not trail_path(small).exists()
    assert last_sweep(small) is None


def test_quiet_prints_nothing(cli, small: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("sweep", "run", "--quiet", "--now", T)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert states(small)["c1"] == ("closed", NOW)
    again = cli("sweep", "run", "-q", "--now", T)
    assert (again.exit_code, again.stdout, again.stderr) == (0, "", "")


def test_second_sweep_at_the_same_instant_changes_nothing_but_is_recorded(cli, small: Path) -> None:  # type: ignore[no-untyped-def]
    first = run_json(cli, "--now", T)
    assert first["moved"] == 4
    before, records = snapshot(small), sweep_records(small)
    again = run_json(cli, "--now", T)
    assert (again["transitions"], again["applied"], again["considered"]) == ([], False, 6)
    assert snapshot(small) == before  # the store is not rewritten
    assert sweep_records(small) == records
    sweep = last_sweep(small)
    assert sweep is not None and (sweep.run_id, sweep.at, sweep.moved) == (again["run_id"], NOW, 0)


def test_history_records_equal_the_applied_transitions(cli, small: Path) -> None:  # type: ignore[no-untyped-def]
    first = run_json(cli, "--now", T)
    second = run_json(cli, "--now", "2026-11-26T12:00:00Z")  # c2 is due now, and v1 has been a day in wrap-up
    assert [t["id"] for t in second["transitions"]] == ["c2"]
    third = run_json(cli, "--now", "2026-11-26T12:01:00Z")
    assert [(t["id"], t["from"], t["to"]) for t in third["transitions"]] == [("v1", "wrap-up", "closed")]
    records = sweep_records(small)
    applied = [(d["run_id"], d["now"], t) for d in (first, second, third) for t in d["transitions"]]
    assert len(records) == len(applied) == 6
    for record, (run_id, now, t) in zip(records, applied, strict=True):
        assert (record.run_id, record.at) == (run_id, datetime.fromisoformat(now))
        assert (record.id, record.channel, record.from_state, record.to_state, record.reason, record.rule,
                record.idle_minutes, record.threshold_minutes) == (
            t["id"], t["channel"], t["from"], t["to"], t["reason"], t["rule"], t["idle_minutes"],
            t["threshold_minutes"],
        )  # fmt: skip
        assert record.by is not None and "@" in record.by
    sweep = last_sweep(small)
    assert sweep is not None and (sweep.run_id, sweep.moved) == (third["run_id"], 1)


def test_the_trail_commits_each_run_after_its_records(cli, small: Path) -> None:  # type: ignore[no-untyped-def]
    document = run_json(cli, "--now", T)
    lines = [json.loads(line) for line in trail_path(small).read_text().splitlines()]
    assert [line.get("id") for line in lines] == ["s1", "c1", "k1", "v1", None]
    assert all(line["run_id"] == document["run_id"] for line in lines)
    assert lines[-1]["commit"] is True and lines[-1]["action"] == "sweep"
    assert not any(line.get("commit") for line in lines[:-1])


@pytest.mark.parametrize(
    ("now", "fragment"),
    [("2026-11-25T12:00:00", "--now '2026-11-25T12:00:00' has no offset"), ("noon", "invalid --now 'noon'")],
)
def test_bad_now_exits_2(cli, small: Path, now: str, fragment: str) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(small)
    assert fragment in fail(cli("sweep", "run", "--now", now))
    assert snapshot(small) == before


def test_bad_store_exits_2(cli, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    store_path.write_text(json.dumps({"conversations": [conv("x", "chat", "waiting", T)]}))
    before = snapshot(store_path)
    assert fail(cli("sweep", "run", "--now", T)) == (
        f"ocac: error: store {store_path}: conversation 'x': state: chat conversations cannot be waiting "
        "(only persistent-chat, sms, social, teams can)"
    )
    assert snapshot(store_path) == before


def test_bad_config_exits_2(cli, small: Path, config_path: Path) -> None:  # type: ignore[no-untyped-def]
    config_path.write_text('[rules.chat]\nopen = "soon"\n')
    before = snapshot(small)
    assert "rules.chat.open" in fail(cli("sweep", "run", "--now", T))
    assert snapshot(small) == before


def test_lock_held_exits_3(cli, small: Path) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(small)
    with fsutil.locked(small, 1, "store"):
        result = cli("--lock-timeout", "0.2", "sweep", "run", "--now", T)
    assert fail(result, 3) == (
        f"ocac: error: store {small} is locked by another process (pid {os.getpid()}) (lock file {small}.lock); "
        "gave up after 0.2s: try again, or raise --lock-timeout"
    )
    assert snapshot(small) == before
    assert not trail_path(small).exists()
    assert cli("sweep", "run", "-q", "--now", T).exit_code == 0  # released: the next run goes through


def copy_stdin_to(path: Path) -> str:
    code = f"import sys; open({str(path)!r}, 'wb').write(sys.stdin.buffer.read())"
    return shlex.join([sys.executable, "-c", code])


def test_notify_command_gets_the_json_on_stdin(cli, small: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    received = tmp_path / "notified.json"
    result = cli("sweep", "run", "--json", "--now", T, "--notify-command", copy_stdin_to(received))
    assert result.exit_code == 0, result.stderr
    assert json.loads(received.read_bytes()) == json.loads(result.stdout)
    assert json.loads(received.read_bytes())["moved"] == 4


def test_notify_command_is_not_run_when_nothing_is_committed(cli, small: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    received = tmp_path / "notified.json"
    dry = cli("sweep", "run", "--dry-run", "-q", "--now", T, "--notify-command", copy_stdin_to(received))
    assert dry.exit_code == 0 and not received.exists()
    assert cli("sweep", "run", "-q", "--now", T).exit_code == 0
    idle = cli("sweep", "run", "-q", "--now", T, "--notify-command", copy_stdin_to(received))
    assert idle.exit_code == 0 and not received.exists()


def test_failing_notify_command_exits_5_and_the_sweep_stands(cli, small: Path) -> None:  # type: ignore[no-untyped-def]
    command = shlex.join([sys.executable, "-c", "import sys; sys.stderr.write('hook down\\n'); sys.exit(3)"])
    result = cli("sweep", "run", "-q", "--now", T, "--notify-command", command)
    assert fail(result, 5) == "ocac: error: sweep committed, but --notify-command exited with 3: hook down"
    assert {k for k, (state, _) in states(small).items() if state == "closed"} == {"c1", "s1", "k1"}
    assert [r.id for r in sweep_records(small)] == ["s1", "c1", "k1", "v1"]


def test_notify_command_that_cannot_start_exits_5(cli, small: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("sweep", "run", "-q", "--now", T, "--notify-command", str(tmp_path / "no-such-program"))
    assert fail(result, 5).startswith("ocac: error: sweep committed, but --notify-command failed: ")
    assert len(sweep_records(small)) == 4


@pytest.mark.parametrize(("command", "fragment"), [("'unterminated", "fix the quoting"), ("  ", "is empty")])
def test_bad_notify_command_is_refused_before_sweeping(cli, small: Path, command: str, fragment: str) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(small)
    message = fail(cli("sweep", "run", "--now", T, "--notify-command", command))
    assert message.startswith("ocac: error: --notify-command") and fragment in message
    assert snapshot(small) == before
    assert not trail_path(small).exists()


def test_a_missing_store_is_nothing_to_sweep_and_nothing_is_created(cli, tmp_path: Path, config_path: Path) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "typo" / "conversations.json"
    result = cli("--store", str(missing), "sweep", "run", "--now", T)
    assert result.exit_code == 0, result.output
    assert result.stderr == f"ocac: warning: store {missing} does not exist: nothing to sweep (check --store)\n"
    assert result.stdout == f"nothing due at {T} (config: {config_path})\n"
    assert not (tmp_path / "typo").exists()  # no folder, no lock file: a mistyped path leaves no trace
    quiet = cli("--store", str(missing), "sweep", "run", "--quiet")
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")
    as_json = cli("--store", str(missing), "sweep", "run", "--json", "--now", T)
    assert (as_json.exit_code, as_json.stderr) == (0, "")
    document = json.loads(as_json.stdout)
    assert (document["considered"], document["moved"], document["applied"]) == (0, 0, False)
    assert not (tmp_path / "typo").exists()


def test_the_summary_line_is_one_line_however_long(cli, sample_store: Path, config_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A log line for cron mail and scripts: never folded at the width of the output, path included.
    result = cli("sweep", "run", "--now", SAMPLE_NOW)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        "moved 69 of 300 conversation(s): case→closed 2, chat→closed 20, persistent-chat→closed 7, sms→closed 13, "
        f"social→closed 4, teams→closed 11, voice→closed 6, voice→wrap-up 6 (config: {config_path})"
    )


def test_a_sweep_stands_down_while_another_hosts_sweep_holds_a_postgresql_store(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, config_path: Path
) -> None:
    import psycopg

    from conftest import store_location
    from ocac.store.postgresql import SWEEP_LOCK

    location = store_location("postgresql", tmp_path, request)
    monkeypatch.setenv("OCAC_STORE", location)
    config_path.write_text(CONFIG)
    source = tmp_path / "in.json"
    source.write_text(json.dumps({"conversations": SMALL, "deleted_records": ["R1"]}))
    assert cli("conversations", "import", str(source), "--now", "2026-11-25T11:59:00Z").exit_code == 0
    before = states(location)
    with psycopg.connect(location) as other, other.transaction():
        other.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", (SWEEP_LOCK,)
        )  # the other host's sweep, running
        document = run_json(cli, "--now", T)
        text = cli("sweep", "run", "--now", T)
    reason = "another sweep is in progress on this store (another host?)"
    assert (document["skipped"], document["applied"], document["moved"], document["transitions"]) == (
        reason, False, 0, [],
    )  # fmt: skip
    assert text.exit_code == 0
    assert text.stderr == f"sweep skipped: {reason}\n"
    assert states(location) == before
    assert last_sweep(location) is None
    after = run_json(cli, "--now", T)  # the other sweep is over: this one goes through
    assert (after["skipped"], after["moved"]) == (None, 4)
