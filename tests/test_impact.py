"""`ocac.impact`: what a configuration edit does to the store, at three horizons, in a line and in a report."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import json_store
from ocac.config import policy_from_document
from ocac.impact import CellChange, Horizon, impact, report, summary_line
from ocac.model import Channel, State
from ocac.policy import DEFAULT_RULES, Policy, Rule
from ocac.store import Store, open_store

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
DEFAULTS = Policy()


def conv(cid: str, channel: str, state: str, modified_on: str, **extra: str) -> dict[str, str]:
    return {"id": cid, "channel": channel, "state": state, "modified_on": modified_on, **extra}


# Under the defaults (chat open 20m, voice active 2h, voice wrap-up 1d), at 12:00:
FLOOR = [
    conv("a", "chat", "open", "2026-11-25T11:35:00Z"),  # due at 11:55
    conv("b", "chat", "open", "2026-11-25T11:45:00Z"),  # due at 12:05
    conv("c", "chat", "open", "2026-11-25T11:15:00Z"),  # due at 11:35
    conv("v", "voice", "active", "2026-11-25T10:30:00Z"),  # due at 12:30
    conv("w", "voice", "wrap-up", "2026-11-25T06:00:00Z"),  # due at 11-26 06:00
    conv("x", "chat", "closed", "2026-01-01T00:00:00Z"),  # never
    conv("z", "sms", "open", "2026-10-27T18:00:00Z"),  # due at 11-26 18:00: after a day
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with json_store(tmp_path / "s.json", FLOOR) as opened:
        yield opened


def with_rules(rules: dict[str, Any]) -> Policy:
    """The policy a configuration file with these `[rules]` gives."""
    return policy_from_document({"rules": rules})


def counts(horizons: list[Horizon]) -> list[tuple[str, int, int, list[str], list[str]]]:
    return [(h.name, h.before, h.after, h.newly_due, h.no_longer_due) for h in horizons]


def test_an_unchanged_policy_changes_no_count(store: Store) -> None:
    assert counts(impact(store, DEFAULTS, DEFAULTS, NOW)) == [
        ("now", 2, 2, [], []),
        ("within_1h", 4, 4, [], []),
        ("within_1d", 5, 5, [], []),
    ]


def test_a_longer_rule_makes_some_conversations_stop_being_due_now(store: Store) -> None:
    assert counts(impact(store, DEFAULTS, with_rules({"chat": {"open": "30m"}}), NOW)) == [
        ("now", 2, 1, [], ["a"]),  # a is due at 12:05 now; c (12:15→11:45) still is
        ("within_1h", 4, 4, [], []),
        ("within_1d", 5, 5, [], []),
    ]


def test_a_much_longer_rule_shows_at_each_horizon(store: Store) -> None:
    assert counts(impact(store, DEFAULTS, with_rules({"chat": {"open": "2h"}}), NOW)) == [
        ("now", 2, 0, [], ["a", "c"]),
        ("within_1h", 4, 1, [], ["a", "b", "c"]),  # due at 13:35, 13:45, 13:15: past the hour
        ("within_1d", 5, 5, [], []),
    ]


def test_a_shorter_rule_makes_conversations_newly_due(store: Store) -> None:
    assert counts(impact(store, DEFAULTS, with_rules({"voice": {"wrap-up": "1h"}}), NOW)) == [
        ("now", 2, 3, ["w"], []),
        ("within_1h", 4, 5, ["w"], []),
        ("within_1d", 5, 5, [], []),
    ]


def test_never_takes_a_cell_out_of_every_horizon(store: Store) -> None:
    assert counts(impact(store, DEFAULTS, with_rules({"voice": {"active": "never", "wrap-up": "never"}}), NOW)) == [
        ("now", 2, 2, [], []),
        ("within_1h", 4, 3, [], ["v"]),
        ("within_1d", 5, 3, [], ["v", "w"]),
    ]


def test_examples_are_the_first_five_ids_in_order(tmp_path: Path) -> None:
    floor = [conv(f"n{i}", "chat", "open", "2026-11-25T11:50:00Z") for i in (7, 3, 1, 6, 2, 5, 4)]
    with json_store(tmp_path / "s.json", floor) as store:
        now, hour, day = impact(store, DEFAULTS, with_rules({"chat": {"open": "5m"}}), NOW)
        back = impact(store, with_rules({"chat": {"open": "5m"}}), DEFAULTS, NOW)[0]
    assert (now.before, now.after, now.newly_due) == (0, 7, ["n1", "n2", "n3", "n4", "n5"])
    assert (hour.before, hour.after, hour.newly_due, day.newly_due) == (7, 7, [], [])
    assert (back.before, back.after, back.no_longer_due) == (7, 0, ["n1", "n2", "n3", "n4", "n5"])


def test_a_horizon_as_json_gives_the_difference(store: Store) -> None:
    now = impact(store, DEFAULTS, with_rules({"chat": {"open": "2h"}}), NOW)[0]
    assert now.to_json() == {
        "before": 2, "after": 0, "difference": -2, "examples_newly_due": [], "examples_no_longer_due": ["a", "c"],
    }  # fmt: skip


def test_horizons_near_the_end_of_time_are_clamped_not_overflowing(store: Store) -> None:
    late = datetime(9999, 12, 31, 23, 30, tzinfo=UTC)
    assert counts(impact(store, DEFAULTS, with_rules({"chat": {"open": "never"}}), late)) == [
        ("now", 6, 3, [], ["a", "b", "c"]),
        ("within_1h", 6, 3, [], ["a", "b", "c"]),
        ("within_1d", 6, 3, [], ["a", "b", "c"]),
    ]


def test_an_empty_store_has_no_impact(tmp_path: Path) -> None:
    with closing(open_store(str(tmp_path / "missing.json"), 5)) as store:
        horizons = impact(store, DEFAULTS, with_rules({"chat": {"open": "1m"}}), NOW)
    assert counts(horizons) == [("now", 0, 0, [], []), ("within_1h", 0, 0, [], []), ("within_1d", 0, 0, [], [])]
    assert summary_line(horizons) == "next sweep would move 0 → 0; within 1h: +0; within 1d: +0"


@pytest.mark.parametrize(
    ("rules", "line"),
    [
        ({}, "next sweep would move 2 → 2; within 1h: +0; within 1d: +0"),
        ({"chat": {"open": "30m"}}, "next sweep would move 2 → 1; within 1h: +0; within 1d: +0 (no longer due e.g. a)"),
        (
            {"chat": {"open": "2h"}},
            "next sweep would move 2 → 0; within 1h: -3; within 1d: +0 (no longer due e.g. a, c)",
        ),
        ({"voice": {"wrap-up": "1h"}}, "next sweep would move 2 → 3; within 1h: +1; within 1d: +0 (newly due e.g. w)"),
        ({"voice": {"active": "never"}}, "next sweep would move 2 → 2; within 1h: -1; within 1d: -1"),
    ],
)
def test_the_summary_line(store: Store, rules: dict[str, Any], line: str) -> None:
    assert summary_line(impact(store, DEFAULTS, with_rules(rules), NOW)) == line


def test_the_summary_line_names_three_examples_and_prefers_the_newly_due() -> None:
    horizons = [
        Horizon("now", 4, 6, ["p", "q", "r", "s"], ["a", "b"]),
        Horizon("within_1h", 4, 6, [], []),
        Horizon("within_1d", 10, 9, [], []),
    ]
    assert (
        summary_line(horizons) == "next sweep would move 4 → 6; within 1h: +2; within 1d: -1 (newly due e.g. p, q, r)"
    )


def test_a_report_names_the_changed_cell_and_its_impact(store: Store) -> None:
    after = with_rules({"chat": {"open": "2h"}})
    result = report(store, DEFAULTS, after, [(Channel.CHAT, State.OPEN, None)], NOW)
    old, new = DEFAULT_RULES[Channel.CHAT, State.OPEN], Rule(Channel.CHAT, State.OPEN, 120, State.CLOSED, "config")
    assert result.cells == [CellChange(Channel.CHAT, State.OPEN, None, old, new)]
    assert [cell.line() for cell in result.cells] == ["chat open: 20m → 2h"]
    assert result.cells[0].to_json() == {
        "channel": "chat", "network": None, "state": "open", "old": "20m", "new": "2h",
        "old_minutes": 20, "new_minutes": 120, "target": "closed",
    }  # fmt: skip
    assert result.horizons == impact(store, DEFAULTS, after, NOW)
    assert result.problem is None


def test_a_report_of_a_network_cell_compares_it_with_the_channel_rule_it_overrides(store: Store) -> None:
    after = with_rules({"whatsapp": {"open": "1h"}})
    result = report(store, DEFAULTS, after, [(Channel.SOCIAL, State.OPEN, "whatsapp")], NOW)
    assert [cell.line() for cell in result.cells] == ["whatsapp open: 30d → 1h"]
    assert (result.cells[0].old.network, result.cells[0].new.network) == (None, "whatsapp")
    assert counts(result.horizons or []) == [
        ("now", 2, 2, [], []), ("within_1h", 4, 4, [], []), ("within_1d", 5, 5, [], []),
    ]  # fmt: skip


def test_a_report_of_a_cell_set_to_never(store: Store) -> None:
    after = with_rules({"voice": {"active": "never"}})
    result = report(store, DEFAULTS, after, [(Channel.VOICE, State.ACTIVE, None)], NOW)
    assert [cell.line() for cell in result.cells] == ["voice active: 2h → never"]
    assert result.cells[0].to_json()["target"] == "wrap-up"
    assert (result.cells[0].to_json()["old_minutes"], result.cells[0].to_json()["new_minutes"]) == (120, None)


def test_a_workstream_edit_reports_no_cells_but_its_impact(tmp_path: Path) -> None:
    floor = [
        conv("named", "voice", "wrap-up", "2026-11-24T11:00:00Z", workstream="Line"),  # due at 11-25 11:00
        conv("unnamed", "voice", "wrap-up", "2026-11-24T11:00:00Z"),  # no workstream: no block
    ]
    blocked = policy_from_document({"workstreams": {"Line": {"channel": "voice", "wrap_up_block": "2d"}}})
    with json_store(tmp_path / "s.json", floor) as store:
        result = report(store, DEFAULTS, blocked, [], NOW)
    assert result.cells == []
    assert counts(result.horizons or []) == [
        ("now", 2, 1, [], ["named"]), ("within_1h", 2, 1, [], ["named"]), ("within_1d", 2, 2, [], []),
    ]  # fmt: skip


def test_a_store_that_cannot_be_read_makes_the_impact_unknown_not_the_report_fail(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with closing(open_store(str(path), 5)) as store:
        result = report(store, DEFAULTS, with_rules({"chat": {"open": "1h"}}), [(Channel.CHAT, State.OPEN, None)], NOW)
    assert [cell.line() for cell in result.cells] == ["chat open: 20m → 1h"]
    assert result.horizons is None
    assert result.problem is not None and result.problem.startswith(f"store {path}")
