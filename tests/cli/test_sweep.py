"""`ocac sweep run`: output, exit codes, the lock, history, and the notify command."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLE, SAMPLE_NOW
from ocac import fsutil, history, store
from ocac.model import State

T = "2026-11-25T12:00:00Z"
TRANSITION_KEYS = {"id", "channel", "from", "to", "reason", "idle_minutes", "threshold_minutes"}

CONFIG = """\
[workstreams."SMS"]
channel = "sms"
auto_close_after = "2h"

[workstreams."Quiet"]
channel = "teams"
"""


def conv(cid: str, channel: str, state: str, modified_on: str, **extra: object) -> dict[str, object]:
    return {"id": cid, "channel": channel, "state": state, "modified_on": modified_on, **extra}


@pytest.fixture
def small(store_path: Path, config_path: Path) -> Path:
    store_path.write_text(json.dumps({"conversations": [
        conv("c1", "chat", "open", "2026-11-25T11:30:00Z", queue="Web"),
        conv("c2", "chat", "open", "2026-11-25T11:40:00Z"),  # exactly 20 minutes: not due
        conv("v1", "voice", "active", "2026-11-25T11:59:00+02:00"),  # 09:59Z, 2h1m
        conv("s1", "sms", "waiting", "2026-11-25T09:00:00Z", workstream="SMS"),
        conv("t1", "teams", "waiting", "2026-01-01T00:00:00Z", workstream="Quiet"),
        conv("k1", "case", "open", "2026-11-25T11:59:00Z", record_id="R1"),
    ], "deleted_records": ["R1"]}, indent=2))  # fmt: skip
    config_path.write_text(CONFIG)
    return store_path


def snapshot(path: Path) -> tuple[bytes, int, int]:
    info = os.stat(path)
    return path.read_bytes(), info.st_ino, info.st_mtime_ns


def run_json(cli: Any, *args: str) -> dict[str, Any]:
    result = cli("sweep", "run", "--json", *args)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def committed(path: Path) -> list[history.Entry]:
    return list(history.read(store.history_path(path), store.load(path).meta.last_sweep))


def test_sample_sweep_matches_the_expected_transitions(cli, sample_store: Path) -> None:  # type: ignore[no-untyped-def]
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
    for t in document["transitions"]:
        assert TRANSITION_KEYS <= set(t)
        assert t["idle_minutes"] > t["threshold_minutes"]
    states = {c.id: (str(c.state), c.modified_on.isoformat()) for c in store.load(sample_store).conversations}
    for d in expected["due"]:
        assert states[d["id"]] == (d["target"], "2026-11-25T12:00:00+00:00")


def test_json_output(cli, small: Path) -> None:  # type: ignore[no-untyped-def]
    document = run_json(cli, "--now", "2026-11-25T14:00:00+02:00")
    assert document["now"] == T and document["dry_run"] is False and document["applied"] is True
    assert [{k: t[k] for k in TRANSITION_KEYS} for t in document["transitions"]] == [
        {"id": "c1", "channel": "chat", "from": "open", "to": "closed", "reason": "AutoClosedBySystem",
         "idle_minutes": 30, "threshold_minutes": 20},
        {"id": "v1", "channel": "voice", "from": "active", "to": "wrap-up", "reason": "AutoClosedBySystem",
         "idle_minutes": 121, "threshold_minutes": 120},
        {"id": "s1", "channel": "sms", "from": "waiting", "to": "closed", "reason": "AutoClosedFromWaitingState",
         "idle_minutes": 180, "threshold_minutes": 120},
        {"id": "k1", "channel": "case", "from": "open", "to": "closed", "reason": "RecordDeleted",
         "idle_minutes": 1, "threshold_minutes": 0},
    ]  # fmt: skip
    states = {c.id: c.state for c in store.load(small).conversations}
    assert states == {"c1": State.CLOSED, "c2": State.OPEN, "v1": State.WRAP_UP, "s1": State.CLOSED,
                      "t1": State.WAITING, "k1": State.CLOSED}  # fmt: skip


def test_text_output(cli, small: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("sweep", "run", "--now", T)
    assert result.exit_code == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines() if line.strip()]
    assert lines[0] == ["sweep", "at", T]
    assert ["c1", "chat", "open", "→", "closed", "30m", "20m", "AutoClosedBySystem"] in lines
    assert ["s1", "sms", "waiting", "→", "closed", "3h", "2h", "AutoClosedFromWaitingState"] in lines
    assert " ".join(lines[-1]) == (
        "moved 4 of 6 conversation(s): case→closed 1, chat→closed 1, sms→closed 1, voice→wrap-up 1"
    )
    again = cli("sweep", "run", "--now", T)
    assert again.stdout.strip() == f"nothing due at {T}"


def test_dry_run_writes_nothing(cli, small: Path) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(small)
    document = run_json(cli, "--dry-run", "--now", T)
    assert document["dry_run"] is True and document["applied"] is False and document["moved"] == 4
    text = cli("sweep", "run", "--dry-run", "--now", T)
    assert text.stdout.splitlines()[0].strip() == f"dry run: sweep at {T}"
    assert "would move 4 of 6" in text.stdout
    assert snapshot(small) == before
    assert not store.history_path(small).exists()


def test_quiet_prints_nothing(cli, small: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("sweep", "run", "--quiet", "--now", T)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert store.load(small).get("c1").state is State.CLOSED  # type: ignore[union-attr]
    again = cli("sweep", "run", "-q", "--now", T)
    assert (again.exit_code, again.stdout, again.stderr) == (0, "", "")


def test_second_sweep_at_the_same_instant_changes_nothing(cli, small: Path) -> None:  # type: ignore[no-untyped-def]
    assert run_json(cli, "--now", T)["moved"] == 4
    log = store.history_path(small)
    before = snapshot(small), log.read_bytes()
    again = run_json(cli, "--now", T)
    assert again["transitions"] == [] and again["applied"] is False
    assert (snapshot(small), log.read_bytes()) == before


def test_history_entries_equal_the_applied_transitions(cli, small: Path) -> None:  # type: ignore[no-untyped-def]
    first = run_json(cli, "--now", T)
    second = run_json(cli, "--now", "2026-11-26T12:00:00Z")  # c2 is due now, and v1 has been a day in wrap-up
    assert [t["id"] for t in second["transitions"]] == ["c2"]
    third = run_json(cli, "--now", "2026-11-26T12:01:00Z")
    assert [(t["id"], t["from"], t["to"]) for t in third["transitions"]] == [("v1", "wrap-up", "closed")]
    entries = committed(small)
    applied = [(d["run_id"], d["now"], t) for d in (first, second, third) for t in d["transitions"]]
    assert len(entries) == len(applied) == 6
    for entry, (run_id, now, t) in zip(entries, applied, strict=True):
        assert (entry.run_id, entry.at.isoformat().replace("+00:00", "Z")) == (run_id, now)
        assert (entry.id, entry.channel, entry.from_state, entry.to_state, entry.reason, entry.rule,
                entry.idle_minutes, entry.threshold_minutes) == (
            t["id"], t["channel"], t["from"], t["to"], t["reason"], t["rule"], t["idle_minutes"],
            t["threshold_minutes"],
        )  # fmt: skip
    marker = store.load(small).meta.last_sweep
    assert marker is not None and (marker.run_id, marker.moved) == (third["run_id"], 1)


@pytest.mark.parametrize(
    ("now", "fragment"),
    [("2026-11-25T12:00:00", "--now '2026-11-25T12:00:00' has no offset"), ("noon", "invalid --now 'noon'")],
)
def test_bad_now_exits_2(cli, small: Path, now: str, fragment: str) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(small)
    result = cli("sweep", "run", "--now", now)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("ocac: error: ") and fragment in result.stderr
    assert snapshot(small) == before


def test_bad_store_exits_2(cli, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    store_path.write_text(json.dumps({"conversations": [conv("x", "chat", "waiting", T)]}))
    before = snapshot(store_path)
    result = cli("sweep", "run", "--now", T)
    assert result.exit_code == 2
    assert result.stderr == (
        f"ocac: error: store {store_path}: conversation 'x': state: chat conversations cannot be waiting "
        "(only persistent-chat, sms, social and teams can)\n"
    )
    assert snapshot(store_path) == before


def test_bad_config_exits_2(cli, small: Path, config_path: Path) -> None:  # type: ignore[no-untyped-def]
    config_path.write_text('[rules.chat]\nopen = "soon"\n')
    before = snapshot(small)
    result = cli("sweep", "run", "--now", T)
    assert result.exit_code == 2 and "rules.chat.open" in result.stderr
    assert snapshot(small) == before


def test_lock_held_exits_3(cli, small: Path) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(small)
    with fsutil.locked(small, 1, "store"):
        result = cli("--lock-timeout", "0.2", "sweep", "run", "--now", T)
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr.startswith(f"ocac: error: store {small} is locked by another ocac process")
    assert "0.2s" in result.stderr
    assert snapshot(small) == before
    assert not store.history_path(small).exists()
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
    assert result.exit_code == 5
    assert result.stderr == "ocac: error: sweep committed, but --notify-command exited with 3: hook down\n"
    assert {c.id for c in store.load(small).conversations if c.state is State.CLOSED} == {"c1", "s1", "k1"}
    assert [e.id for e in committed(small)] == ["c1", "v1", "s1", "k1"]


def test_notify_command_that_cannot_start_exits_5(cli, small: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("sweep", "run", "-q", "--now", T, "--notify-command", str(tmp_path / "no-such-program"))
    assert result.exit_code == 5 and "sweep committed" in result.stderr
    assert len(committed(small)) == 4


@pytest.mark.parametrize(("command", "fragment"), [("'unterminated", "fix the quoting"), ("  ", "is empty")])
def test_bad_notify_command_is_refused_before_sweeping(cli, small: Path, command: str, fragment: str) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(small)
    result = cli("sweep", "run", "--now", T, "--notify-command", command)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("ocac: error: --notify-command") and fragment in result.stderr
    assert snapshot(small) == before
    assert not store.history_path(small).exists()


def test_a_missing_store_is_nothing_to_sweep_and_nothing_is_created(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "typo" / "conversations.json"
    result = cli("--store", str(missing), "sweep", "run", "--now", "2026-11-25T12:00:00Z")
    assert result.exit_code == 0, result.output
    assert "does not exist: nothing to sweep" in result.stderr
    assert not (tmp_path / "typo").exists()  # no folder, no lock file: a mistyped path leaves no trace
    quiet = cli("--store", str(missing), "sweep", "run", "--quiet")
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")
