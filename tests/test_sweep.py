"""The sweep: what is due at T (the reference table, workstreams, deleted records) and how it is applied."""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import SAMPLE
from ocac.audit import Audit, AuditRecord, HistoryQuery
from ocac.config import load_config
from ocac.instants import format_instant
from ocac.model import Action, Channel, Conversation, State
from ocac.policy import Policy, Workstream, explain
from ocac.store import Selection, open_store
from ocac.store.trail import trail_path
from ocac.sweep import SweepResult, run_sweep

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
DAY = 1440

# The reference table, written out independently of ocac.policy: (channel, state) → (minutes, target).
REFERENCE: dict[tuple[str, str], tuple[int | None, str | None]] = {
    ("chat", "open"): (20, "closed"), ("chat", "active"): (None, None), ("chat", "wrap-up"): (15, "closed"),
    ("voice", "open"): (30 * DAY, "closed"), ("voice", "active"): (120, "wrap-up"),
    ("voice", "wrap-up"): (DAY, "closed"),
    ("persistent-chat", "open"): (30 * DAY, "closed"), ("persistent-chat", "active"): (None, None),
    ("persistent-chat", "wrap-up"): (DAY, "closed"),
    ("case", "open"): (None, None), ("case", "active"): (None, None),
    **{(ch, s): (m, "closed") for ch in ("sms", "teams", "social")
       for s, m in (("open", 30 * DAY), ("active", 30 * DAY), ("wrap-up", DAY))},
}  # fmt: skip


def conv(cid: str, channel: str, state: str, idle_minutes: int, **extra: object) -> dict[str, object]:
    stamp = format_instant(NOW - timedelta(minutes=idle_minutes))
    return {"id": cid, "channel": channel, "state": state, "modified_on": stamp, **extra}


def write_store(path: Path, conversations: list[dict[str, object]], **top: object) -> Path:
    path.write_text(json.dumps({"conversations": conversations, **top}, indent=2), encoding="utf-8")
    return path


def sweep(path: Path, policy: Policy | None = None, now: datetime = NOW, dry_run: bool = False) -> SweepResult:
    store = open_store(str(path), 1)
    try:
        return run_sweep(store, policy or Policy(), Audit(f"run-{now:%H%M}", now, "tester@host"), dry_run=dry_run,
                         config=None)  # fmt: skip
    finally:
        store.close()


def moves(result: SweepResult) -> list[tuple[str, str, str]]:
    return [(t.id, str(t.to_state), str(t.reason)) for t in result.transitions]


def stored(path: Path) -> list[Conversation]:
    return list(open_store(str(path), 1).select(Selection()))


def committed_history(path: Path) -> list[AuditRecord]:
    return open_store(str(path), 1).history(HistoryQuery(actions=frozenset({Action.SWEEP})))


# --- the sample ----------------------------------------------------------------------------------------------

REASON_OF_WHY = {"workstream auto_close_after": "AutoClosedFromWaitingState", "record deleted": "RecordDeleted"}


def test_sample_sweep_equals_the_independently_computed_expectation(sample_store: Path, config_path: Path) -> None:
    expected = json.loads((SAMPLE / "expected-sweep.json").read_text(encoding="utf-8"))
    assert expected["now"] == format_instant(NOW)
    want = sorted((d["id"], d["target"], REASON_OF_WHY.get(d["why"], "AutoClosedBySystem")) for d in expected["due"])
    original = {c.id: c for c in stored(sample_store)}

    result = sweep(sample_store, load_config(config_path).policy)

    assert sorted(moves(result)) == want
    assert len(result.transitions) == expected["due_count"] == 69
    assert result.written and result.considered == 300
    by_id = {d["id"]: d for d in expected["due"]}
    for t in result.transitions:
        assert (str(t.channel), str(t.from_state)) == (by_id[t.id]["channel"], by_id[t.id]["state"])
        assert t.modified_on == original[t.id].modified_on
    counts = Counter(f"{t.channel}/{t.from_state} -> {t.to_state}" for t in result.transitions)
    assert counts == expected["counts"]

    after = {c.id: c for c in stored(sample_store)}
    assert list(after) == list(original)
    targets = {t.id: t.to_state for t in result.transitions}
    for cid, conversation in after.items():
        if cid in targets:
            assert (conversation.state, conversation.modified_on) == (targets[cid], NOW)
        else:
            assert conversation == original[cid]


# --- the reference table, cell by cell, at the threshold ± 1 minute -------------------------------------------


@pytest.mark.parametrize(("channel", "state"), list(REFERENCE), ids=[f"{c}/{s}" for c, s in REFERENCE])
def test_reference_cell_at_its_threshold(tmp_path: Path, channel: str, state: str) -> None:
    minutes, target = REFERENCE[channel, state]
    path = tmp_path / "s.json"
    if minutes is None:
        write_store(path, [conv("ancient", channel, state, 40 * 365 * DAY), conv("recent", channel, state, 1)])
        assert sweep(path).transitions == []
        return
    write_store(path, [
        conv("under", channel, state, minutes - 1),
        conv("at", channel, state, minutes),
        conv("over", channel, state, minutes + 1),
    ])  # fmt: skip
    result = sweep(path)
    assert moves(result) == [("over", target, "AutoClosedBySystem")]
    (t,) = result.transitions
    assert (t.rule, t.threshold_minutes, t.idle_minutes) == (f"{channel}/{state}", minutes, minutes + 1)
    assert (str(t.channel), str(t.from_state)) == (channel, state)
    loaded = {c.id: (str(c.state), c.modified_on) for c in stored(path)}
    assert loaded["over"] == (target, NOW)
    assert loaded["at"][0] == loaded["under"][0] == state


def test_closed_is_never_moved(tmp_path: Path) -> None:
    path = write_store(tmp_path / "s.json", [conv(f"{ch}", ch, "closed", 40 * 365 * DAY) for ch in Channel])
    assert sweep(path).transitions == []


def test_the_threshold_is_exact_to_the_second(tmp_path: Path) -> None:
    path = write_store(tmp_path / "s.json", [
        {"id": "plus1s", "channel": "chat", "state": "open", "modified_on": "2026-11-25T11:39:59Z"},
        {"id": "exact", "channel": "chat", "state": "open", "modified_on": "2026-11-25T13:40:00+02:00"},
        {"id": "minus1ms", "channel": "chat", "state": "open", "modified_on": "2026-11-25T11:40:00.001Z"},
    ])  # fmt: skip
    assert [t.id for t in sweep(path).transitions] == ["plus1s"]


# --- reasons ----------------------------------------------------------------------------------------------

WORKSTREAMS = Policy(workstreams={
    "SMS": Workstream("SMS", Channel.SMS, auto_close_after=2 * DAY),
    "IT": Workstream("IT", Channel.TEAMS, auto_close_after=12 * 60),
    "Chat": Workstream("Chat", Channel.PERSISTENT_CHAT, auto_close_after=3 * DAY),
    "Social": Workstream("Social", Channel.SOCIAL, auto_close_after=60),
    "Quiet": Workstream("Quiet", Channel.SMS),
    "Line": Workstream("Line", Channel.VOICE, wrap_up_block=2 * DAY),
})  # fmt: skip


@pytest.mark.parametrize(
    ("channel", "workstream", "minutes"),
    [("sms", "SMS", 2 * DAY), ("teams", "IT", 12 * 60), ("persistent-chat", "Chat", 3 * DAY), ("social", "Social", 60)],
)
def test_waiting_closes_after_its_workstream_setting(
    tmp_path: Path, channel: str, workstream: str, minutes: int
) -> None:
    path = write_store(tmp_path / "s.json", [
        conv("at", channel, "waiting", minutes, workstream=workstream),
        conv("over", channel, "waiting", minutes + 1, workstream=workstream),
    ])  # fmt: skip
    result = sweep(path, WORKSTREAMS)
    assert moves(result) == [("over", "closed", "AutoClosedFromWaitingState")]
    assert result.transitions[0].rule == f"workstream:{workstream}"
    assert result.transitions[0].threshold_minutes == minutes


def test_waiting_without_a_workstream_setting_never_closes(tmp_path: Path) -> None:
    years = 40 * 365 * DAY
    path = write_store(tmp_path / "s.json", [
        conv("no-setting", "sms", "waiting", years, workstream="Quiet"),
        conv("unknown-workstream", "teams", "waiting", years, workstream="Nobody"),
        conv("no-workstream", "social", "waiting", years),
    ])  # fmt: skip
    assert sweep(path, WORKSTREAMS).transitions == []
    assert sweep(path, Policy()).transitions == []  # and without any workstream configured
    verdicts = [explain(c, WORKSTREAMS).never_because for c in stored(path)]
    assert verdicts == [
        "workstream 'Quiet' has no auto-close after inactivity",
        "workstream 'Nobody' is not configured",
        "the conversation has no workstream",
    ]


def test_deleted_record_closes_open_and_active_case_conversations(tmp_path: Path) -> None:
    path = write_store(tmp_path / "s.json", [
        conv("open", "case", "open", 1, record_id="R1"),
        conv("active", "case", "active", 40 * 365 * DAY, record_id="R1"),
        conv("closed", "case", "closed", 5, record_id="R1"),
        conv("other-record", "case", "open", 5, record_id="R2"),
        conv("no-record", "case", "open", 5),
        conv("not-a-case", "chat", "active", 5, record_id="R1"),
    ], deleted_records=["R1", "R9"])  # fmt: skip
    result = sweep(path)
    assert moves(result) == [("active", "closed", "RecordDeleted"), ("open", "closed", "RecordDeleted")]  # oldest first
    assert {t.rule for t in result.transitions} == {"case/record-deleted"}


def test_wrap_up_block_longer_than_the_rule_wins(tmp_path: Path) -> None:
    path = write_store(tmp_path / "s.json", [
        conv("one-day", "voice", "wrap-up", DAY + 1, workstream="Line"),
        conv("two-days", "voice", "wrap-up", 2 * DAY + 1, workstream="Line"),
        conv("elsewhere", "voice", "wrap-up", DAY + 1),
    ])  # fmt: skip
    assert sorted(moves(sweep(path, WORKSTREAMS))) == [
        ("elsewhere", "closed", "AutoClosedBySystem"), ("two-days", "closed", "AutoClosedBySystem"),
    ]  # fmt: skip


def test_voice_moves_in_two_steps_over_two_sweeps(tmp_path: Path) -> None:
    path = write_store(tmp_path / "s.json", [conv("call", "voice", "active", 121)])
    first = sweep(path)
    assert moves(first) == [("call", "wrap-up", "AutoClosedBySystem")]
    assert sweep(path, now=NOW + timedelta(days=1)).transitions == []  # exactly a day in wrap-up
    second = sweep(path, now=NOW + timedelta(days=1, minutes=1))
    assert moves(second) == [("call", "closed", "AutoClosedBySystem")]
    assert (second.transitions[0].rule, second.transitions[0].idle_minutes) == ("voice/wrap-up", DAY + 1)
    entries = committed_history(path)
    assert [(e.run_id, e.from_state, e.to_state, e.at) for e in entries] == [
        (first.run_id, "active", "wrap-up", NOW),
        (second.run_id, "wrap-up", "closed", NOW + timedelta(days=1, minutes=1)),
    ]
    (final,) = stored(path)
    assert (final.state, final.modified_on) == (State.CLOSED, NOW + timedelta(days=1, minutes=1))


# --- applying -----------------------------------------------------------------------------------------------


def test_history_entries_equal_the_applied_transitions(tmp_path: Path) -> None:
    path = write_store(tmp_path / "s.json", [
        conv("a", "chat", "open", 30), conv("b", "voice", "active", 500), conv("c", "chat", "open", 3),
        conv("d", "sms", "waiting", 3 * DAY, workstream="SMS"),
    ])  # fmt: skip
    result = sweep(path, WORKSTREAMS)
    entries = committed_history(path)
    assert [
        (e.id, e.channel, e.from_state, e.to_state, e.reason, e.rule, e.threshold_minutes, e.idle_minutes)
        for e in entries
    ] == [
        (
            t.id,
            str(t.channel),
            str(t.from_state),
            str(t.to_state),
            str(t.reason),
            t.rule,
            t.threshold_minutes,
            t.idle_minutes,
        )
        for t in result.transitions
    ]
    assert {e.run_id for e in entries} == {result.run_id} and {e.at for e in entries} == {NOW}
    last = open_store(str(path), 1).last_sweep()
    assert last is not None
    assert (last.run_id, last.at, last.moved) == (result.run_id, NOW, 3)


def test_second_sweep_at_the_same_instant_changes_nothing(tmp_path: Path) -> None:
    path = write_store(tmp_path / "s.json", [conv("a", "chat", "open", 30), conv("b", "voice", "active", 500)])
    assert len(sweep(path).transitions) == 2
    log = trail_path(path)
    before = (path.read_bytes(), os.stat(path).st_ino, os.stat(path).st_mtime_ns)
    committed = committed_history(path)
    again = sweep(path, now=NOW + timedelta(seconds=1))
    assert again.transitions == [] and not again.written
    assert (path.read_bytes(), os.stat(path).st_ino, os.stat(path).st_mtime_ns) == before  # the store is not rewritten
    assert committed_history(path) == committed
    last_line = log.read_bytes().splitlines()[-1]  # but the sweep is on record, for `status --check`
    assert b'"commit":true' in last_line and b'"moved":0' in last_line


def test_dry_run_plans_and_writes_nothing(tmp_path: Path) -> None:
    path = write_store(tmp_path / "s.json", [conv("a", "chat", "open", 30)])
    before = (path.read_bytes(), os.stat(path).st_mtime_ns)
    result = sweep(path, dry_run=True)
    assert moves(result) == [("a", "closed", "AutoClosedBySystem")]
    assert result.dry_run and not result.written
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "s.json"]


def test_sweep_of_a_missing_store_moves_nothing(tmp_path: Path) -> None:
    result = sweep(tmp_path / "none.json")
    assert result.transitions == [] and result.considered == 0 and not result.written
    assert not (tmp_path / "none.json").exists()


def test_to_json_has_the_documented_fields(tmp_path: Path) -> None:
    path = write_store(tmp_path / "s.json", [conv("a", "chat", "open", 30)])
    document = sweep(path).to_json()
    assert {k: document[k] for k in ("now", "dry_run", "applied", "considered", "moved")} == {
        "now": "2026-11-25T12:00:00Z", "dry_run": False, "applied": True, "considered": 1, "moved": 1,
    }  # fmt: skip
    assert document["transitions"] == [{
        "id": "a", "channel": "chat", "from": "open", "to": "closed", "reason": "AutoClosedBySystem",
        "rule": "chat/open", "idle_minutes": 30, "threshold_minutes": 20, "modified_on": "2026-11-25T11:30:00Z",
    }]  # fmt: skip
