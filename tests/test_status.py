"""`ocac.status.summarise`: counts, what is due now and by the next sweep, the oldest open, the last sweep."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ocac.audit import Audit, SweepSummary
from ocac.model import Channel, State
from ocac.policy import Policy, Workstream
from ocac.status import summarise
from ocac.store import Store, open_store

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
DEFAULTS = Policy()


def conv(cid: str, channel: str, state: str, modified_on: str, **extra: str) -> dict[str, str]:
    return {"id": cid, "channel": channel, "state": state, "modified_on": modified_on, **extra}


FLOOR = [
    conv("c1", "chat", "open", "2026-11-25T11:30:00Z"),  # due now (11:50)
    conv("c2", "chat", "open", "2026-11-25T11:42:00Z"),  # due at 12:02
    conv("c3", "chat", "closed", "2026-01-01T00:00:00Z"),  # counted, never due, never the oldest
    conv("v1", "voice", "active", "2026-11-25T11:00:00+01:00"),  # 10:00Z, due at 12:00: not yet at 12:00
    conv("s1", "sms", "waiting", "2026-11-20T00:00:00Z", workstream="SMS"),  # due only if SMS auto-closes
    conv("s2", "sms", "open", "2026-11-24T00:00:00Z"),  # due in December
]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"conversations": FLOOR}))
    return path


@pytest.fixture
def store(path: Path) -> Iterator[Store]:
    with closing(open_store(str(path), 5)) as opened:
        yield opened


def test_counts_are_by_channel_then_state_in_name_order(store: Store) -> None:
    counts = summarise(store, DEFAULTS, NOW, 5, None).counts
    assert counts == {
        Channel.CHAT: {State.CLOSED: 1, State.OPEN: 2},
        Channel.SMS: {State.OPEN: 1, State.WAITING: 1},
        Channel.VOICE: {State.ACTIVE: 1},
    }
    assert [(c, list(row)) for c, row in counts.items()] == [
        (Channel.CHAT, [State.CLOSED, State.OPEN]),
        (Channel.SMS, [State.OPEN, State.WAITING]),
        (Channel.VOICE, [State.ACTIVE]),
    ]


@pytest.mark.parametrize(
    ("interval", "due_next"),
    [
        (0, 1),  # the next sweep is now: c1
        (1, 2),  # 12:01: v1 (due at 12:00) too
        (2, 2),  # 12:02: c2 is due strictly after 12:02
        (3, 3),
        (5, 3),
        (60 * 24 * 30, 4),  # a month ahead: s2 too, s1 never (its workstream is not configured)
    ],
)
def test_due_now_and_due_by_the_next_sweep(store: Store, interval: int, due_next: int) -> None:
    summary = summarise(store, DEFAULTS, NOW, interval, None)
    assert (summary.due_now, summary.due_next, summary.interval_minutes) == (1, due_next, interval)


def test_a_configured_workstream_counts_its_waiting_conversations_due(store: Store) -> None:
    policy = Policy(workstreams={"SMS": Workstream("SMS", Channel.SMS, 60)})
    summary = summarise(store, policy, NOW, 5, None)
    assert (summary.due_now, summary.due_next) == (2, 4)


def test_the_oldest_open_conversation_per_channel_with_its_idle_minutes(store: Store) -> None:
    oldest = summarise(store, DEFAULTS, NOW, 5, None).oldest
    assert oldest == {Channel.CHAT: ("c1", 30), Channel.SMS: ("s1", 7920), Channel.VOICE: ("v1", 120)}
    assert list(oldest) == [Channel.CHAT, Channel.SMS, Channel.VOICE]


def test_a_store_never_swept_has_no_last_sweep(store: Store) -> None:
    summary = summarise(store, DEFAULTS, NOW, 5, None)
    assert (summary.last_sweep, summary.sweep_age_minutes) == (None, None)
    assert summary.to_json()["last_sweep"] is None


def test_after_a_sweep_the_last_sweep_and_the_counts_show_it(path: Path) -> None:
    with closing(open_store(str(path), 5)) as store:
        store.sweep(DEFAULTS, Audit("run-1", NOW, "tester@host"))
    later = NOW + timedelta(minutes=10)
    with closing(open_store(str(path), 5)) as store:
        summary = summarise(store, DEFAULTS, later, 5, None)
    assert summary.last_sweep == SweepSummary("run-1", NOW, 1, {("chat", "closed", "AutoClosedBySystem"): 1})
    assert summary.sweep_age_minutes == 10
    assert summary.counts[Channel.CHAT] == {State.CLOSED: 2, State.OPEN: 1}
    assert summary.oldest[Channel.CHAT] == ("c2", 28)
    assert (summary.due_now, summary.due_next) == (2, 2)  # c2 and v1, both due since 12:02
    assert summary.to_json()["last_sweep"] == {
        "run_id": "run-1",
        "at": "2026-11-25T12:00:00Z",
        "moved": 1,
        "age_minutes": 10,
    }


def test_a_sweep_that_moved_nothing_is_still_the_last_sweep(path: Path) -> None:
    early = NOW - timedelta(hours=1)  # 11:00: nothing is due yet
    with closing(open_store(str(path), 5)) as store:
        store.sweep(DEFAULTS, Audit("run-0", early, "tester@host"))
        summary = summarise(store, DEFAULTS, NOW, 5, None)
    assert summary.last_sweep is not None
    assert (summary.last_sweep.run_id, summary.last_sweep.moved, summary.sweep_age_minutes) == ("run-0", 0, 60)


@pytest.mark.parametrize("config", [None, Path("/etc/ocac/config.toml")])
def test_the_config_path_is_carried_through(store: Store, config: Path | None) -> None:
    summary = summarise(store, DEFAULTS, NOW, 5, config)
    assert summary.config == config
    assert summary.to_json()["config"] == (None if config is None else "/etc/ocac/config.toml")


def test_the_summary_as_json(store: Store) -> None:
    summary = summarise(store, DEFAULTS, NOW, 90, Path("/etc/ocac/config.toml"))
    assert (summary.now_text, summary.interval_text) == ("2026-11-25T12:00:00Z", "1h30m")
    assert summary.to_json() == {
        "now": "2026-11-25T12:00:00Z",
        "config": "/etc/ocac/config.toml",
        "counts": {"chat": {"closed": 1, "open": 2}, "sms": {"open": 1, "waiting": 1}, "voice": {"active": 1}},
        "due_now": 1,
        "due_next_sweep": 3,
        "interval_minutes": 90,
        "oldest_open": {
            "chat": {"id": "c1", "idle_minutes": 30},
            "sms": {"id": "s1", "idle_minutes": 7920},
            "voice": {"id": "v1", "idle_minutes": 120},
        },
        "last_sweep": None,
    }


def test_a_missing_store_reads_as_empty(tmp_path: Path) -> None:
    with closing(open_store(str(tmp_path / "missing.json"), 5)) as store:
        summary = summarise(store, DEFAULTS, NOW, 5, None)
    assert (summary.counts, summary.due_now, summary.due_next, summary.oldest, summary.last_sweep) == (
        {},
        0,
        0,
        {},
        None,
    )


def test_an_interval_past_the_year_9999_is_clamped(store: Store) -> None:
    late = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    summary = summarise(store, DEFAULTS, late, 120, None)
    assert (summary.due_now, summary.due_next) == (4, 4)  # all but the closed one and s1
