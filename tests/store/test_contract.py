"""The store contract: every operation of `ocac.store.base.Store`, against every backend.

Each test runs five times (JSON, TOML, SQLite, PostgreSQL through libpq and through psycopg: the
`backend` fixture), on an empty store of its own, and reopens the store before it asserts, so
that what it checks is what was written, not what one object remembers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from ocac.audit import Audit, HistoryQuery
from ocac.errors import NotFound, Refused
from ocac.model import Action, Channel, Conversation, Reason, State, moved, touched
from ocac.policy import Policy, Workstream, plan
from ocac.store import Incoming, Selection, Store, open_store

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
POLICY = Policy(workstreams={
    "Contoso SMS": Workstream("Contoso SMS", Channel.SMS, auto_close_after=60, wrap_up_block=45),
})  # fmt: skip


def ago(minutes: int) -> datetime:
    return NOW - minutes * MINUTE


def conversation(cid: str, channel: Channel = Channel.CHAT, state: State = State.OPEN, minutes: int = 0,
                 **fields: object) -> Conversation:  # fmt: skip
    return Conversation(cid, channel, state, ago(minutes), **fields)  # type: ignore[arg-type]


def audit(at: datetime = NOW, run: str = "run-1") -> Audit:
    return Audit(run, at, "tester@host")


def reopen(location: str) -> Store:
    return open_store(location, 5)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with closing(reopen(store_url)) as opened:
        yield opened


def fill(store: Store, *items: Conversation | Incoming, deleted: tuple[str, ...] = ()) -> None:
    incoming = [item if isinstance(item, Incoming) else Incoming(item) for item in items]
    store.import_conversations(incoming, deleted, audit(run="fill"), replace=False, dry_run=False, source="test")


FLOOR = (
    conversation("chat-due", minutes=21),  # chat open: 20m
    conversation("chat-not-yet", minutes=20),  # exactly at the threshold: not due (more than)
    conversation("chat-wrap", state=State.WRAP_UP, minutes=16),
    conversation("voice-active", Channel.VOICE, State.ACTIVE, minutes=121),  # → wrap-up
    conversation("sms-waiting", Channel.SMS, State.WAITING, minutes=61, workstream="Contoso SMS"),
    conversation("sms-waiting-other", Channel.SMS, State.WAITING, minutes=600, workstream="Other"),
    conversation("sms-wrap-blocked", Channel.SMS, State.WRAP_UP, minutes=2000, workstream="Contoso SMS"),
    conversation("case-linked", Channel.CASE, State.OPEN, minutes=5, record_id="INC-1"),
    conversation("case-other", Channel.CASE, State.ACTIVE, minutes=5, record_id="INC-2"),
    conversation("closed", state=State.CLOSED, minutes=9999),
)


def ids(transitions: object) -> list[str]:
    return [t.id for t in transitions]  # type: ignore[attr-defined]


# --- an empty store ---------------------------------------------------------------------------------------


def test_an_empty_store_reads_as_empty(store: Store) -> None:
    assert store.get("x") is None
    assert store.counts() == {}
    assert store.due(POLICY, NOW) == []
    assert store.count_due(POLICY, NOW) == {}
    assert store.history(HistoryQuery()) == []
    assert store.last_sweep() is None
    assert store.deleted_records() == []
    assert store.oldest_open() == {}
    assert store.ids_starting_with("", 10) == []
    assert list(store.select(Selection())) == []


def test_a_sweep_of_a_store_that_was_never_written_moves_nothing(store: Store) -> None:
    outcome = store.sweep(POLICY, audit())
    assert (outcome.transitions, outcome.written) == ([], False)


# --- import, add, get -------------------------------------------------------------------------------------


def test_import_counts_added_updated_unchanged_and_removed(store_url: str) -> None:
    with closing(reopen(store_url)) as store:
        first = store.import_conversations(
            [Incoming(conversation("a")), Incoming(conversation("b"))], [], audit(), replace=False, dry_run=False,
            source="one.json",
        )  # fmt: skip
        assert (first.added, first.updated, first.unchanged, first.written) == (2, 0, 0, True)
        again = store.import_conversations(
            [Incoming(conversation("a")), Incoming(conversation("b", minutes=3))], [], audit(run="r2"),
            replace=False, dry_run=False, source="two.json",
        )  # fmt: skip
        assert (again.added, again.updated, again.unchanged) == (0, 1, 1)
        replaced = store.import_conversations(
            [Incoming(conversation("c"))], [], audit(run="r3"), replace=True, dry_run=False, source="three.json"
        )
        assert (replaced.added, replaced.removed, replaced.written) == (1, 2, True)
    with closing(reopen(store_url)) as store:
        assert [c.id for c in store.select(Selection())] == ["c"]
        records = store.history(HistoryQuery(actions=frozenset({Action.IMPORT})))
        assert [r.detail["source"] for r in records if r.detail] == ["one.json", "two.json", "three.json"]
        assert records[2].detail is not None and records[2].detail["removed"] == 2


def test_an_import_that_brings_nothing_new_writes_nothing(store: Store) -> None:
    fill(store, conversation("a"))
    counts = store.import_conversations([Incoming(conversation("a"))], [], audit(run="again"), replace=False,
                                        dry_run=False, source="x")  # fmt: skip
    assert (counts.unchanged, counts.written) == (1, False)
    assert [r.run_id for r in store.history(HistoryQuery())] == ["fill"]


def test_a_dry_run_import_reports_and_writes_nothing(store_url: str) -> None:
    with closing(reopen(store_url)) as store:
        fill(store, conversation("a"), conversation("b"))
        counts = store.import_conversations(
            [Incoming(conversation("a", minutes=5)), Incoming(conversation("z"))], ["INC-9"], audit(run="dry"),
            replace=True, dry_run=True, source="x",
        )  # fmt: skip
    assert (counts.added, counts.updated, counts.removed, counts.records_deleted) == (1, 1, 1, 1)
    assert counts.written is False
    with closing(reopen(store_url)) as store:
        assert sorted(c.id for c in store.select(Selection())) == ["a", "b"]
        assert store.get("a").conversation.modified_on == NOW  # type: ignore[union-attr]
        assert store.deleted_records() == []
        assert [r.run_id for r in store.history(HistoryQuery())] == ["fill"]


def test_unknown_fields_come_back_as_they_went_in(store_url: str, backend: str) -> None:
    extra = {
        "priority": msgspec.Raw(b"3"),
        "customer": msgspec.Raw('{"name":"Zoë \\"Z\\"","tags":["a","b"],"score":1.50}'.encode()),
    }
    if backend != "toml":  # TOML has no null and 64-bit integers only
        extra |= {"big": msgspec.Raw(b"12345678901234567890123"), "nothing": msgspec.Raw(b"[null]")}
    with closing(reopen(store_url)) as store:
        fill(store, Incoming(conversation("a", workstream="W", created_on=ago(60)), extra))
    with closing(reopen(store_url)) as store:
        stored = store.get("a")
    assert stored is not None
    assert stored.conversation == conversation("a", workstream="W", created_on=ago(60))
    assert stored.fields["customer"] == {"name": 'Zoë "Z"', "tags": ["a", "b"], "score": 1.5}
    assert stored.fields["priority"] == 3
    if backend != "toml":
        assert (stored.fields["big"], stored.fields["nothing"]) == (12345678901234567890123, [None])
    assert (stored.fields["id"], stored.fields["channel"], stored.fields["modified_on"]) == (
        "a", "chat", "2026-11-25T12:00:00Z",
    )  # fmt: skip


def test_instants_compare_as_instants_whatever_their_offset(store_url: str) -> None:
    plus_two = timezone(timedelta(hours=2))
    # 13:39+02:00 is 11:39Z: 21 minutes before NOW, so due although "13:39" > "12:00" as text
    early = Conversation("offset", Channel.CHAT, State.OPEN, datetime(2026, 11, 25, 13, 39, tzinfo=plus_two))
    late = Conversation("utc", Channel.CHAT, State.OPEN, datetime(2026, 11, 25, 11, 41, tzinfo=UTC))
    with closing(reopen(store_url)) as store:
        fill(store, early, late)
    with closing(reopen(store_url)) as store:
        assert ids(store.due(POLICY, NOW)) == ["offset"]
        assert store.get("offset").conversation.modified_on == early.modified_on  # type: ignore[union-attr]


def test_add_is_audited_and_refuses_an_existing_id(store_url: str) -> None:
    with closing(reopen(store_url)) as store:
        store.add(conversation("new", Channel.VOICE, State.ACTIVE), audit(run="add-1"))
        with pytest.raises(Refused):
            store.add(conversation("new"), audit(run="add-2"))
    with closing(reopen(store_url)) as store:
        assert store.get("new").conversation.channel is Channel.VOICE  # type: ignore[union-attr]
        (record,) = store.history(HistoryQuery())
        assert (record.kind, record.run_id, record.id, record.to_state, record.by) == (
            Action.ADD, "add-1", "new", "active", "tester@host",
        )  # fmt: skip


# --- change -----------------------------------------------------------------------------------------------


def test_change_applies_a_pure_change_and_audits_it(store_url: str) -> None:
    later = NOW + 5 * MINUTE
    with closing(reopen(store_url)) as store:
        fill(store, conversation("a", Channel.VOICE, State.ACTIVE, minutes=10))
        old, new = store.change("a", lambda c: moved(c, State.WRAP_UP, later), Action.SET_STATE, audit(later, "set"))
    assert (old.state, new.state, new.modified_on) == (State.ACTIVE, State.WRAP_UP, later)
    with closing(reopen(store_url)) as store:
        assert store.get("a").conversation == new  # type: ignore[union-attr]
        record = store.history(HistoryQuery(actions=frozenset({Action.SET_STATE})))[0]
        assert (record.id, record.from_state, record.to_state, record.at) == ("a", "active", "wrap-up", later)


def test_a_refused_change_leaves_the_store_and_history_as_they_were(store_url: str) -> None:
    with closing(reopen(store_url)) as store:
        fill(store, conversation("done", state=State.CLOSED))
        with pytest.raises(Refused):
            store.change("done", lambda c: touched(c, NOW), Action.TOUCH, audit(run="refused"))
        with pytest.raises(NotFound):
            store.change("missing", lambda c: touched(c, NOW), Action.TOUCH, audit(run="missing"))
    with closing(reopen(store_url)) as store:
        assert store.get("done").conversation.state is State.CLOSED  # type: ignore[union-attr]
        assert [r.run_id for r in store.history(HistoryQuery())] == ["fill"]


def test_a_change_that_changes_nothing_is_not_recorded(store: Store) -> None:
    fill(store, conversation("a", minutes=0))
    old, new = store.change("a", lambda c: touched(c, NOW), Action.TOUCH, audit(run="same"))
    assert old == new
    assert [r.run_id for r in store.history(HistoryQuery())] == ["fill"]


# --- what is due ------------------------------------------------------------------------------------------


def test_due_is_the_policy_plan_soonest_due_first(store: Store) -> None:
    fill(store, *FLOOR, deleted=("INC-1",))
    expected = sorted(plan(FLOOR, POLICY, NOW, {"INC-1"}), key=lambda t: (t.due_at, t.id))
    due = store.due(POLICY, NOW)
    assert [(t.id, t.to_state, t.reason, t.rule, t.threshold_minutes, t.idle_minutes) for t in due] == [
        (t.id, t.to_state, t.reason, t.rule, t.threshold_minutes, t.idle_minutes) for t in expected
    ]
    assert set(ids(due)) == {"chat-due", "chat-wrap", "voice-active", "sms-waiting", "sms-wrap-blocked",
                             "case-linked"}  # fmt: skip
    assert {t.id: t.reason for t in due}["case-linked"] is Reason.RECORD_DELETED
    assert {t.id: t.threshold_minutes for t in due}["sms-wrap-blocked"] == 1440  # the rule's 1d beats a 45m block
    assert store.count_due(POLICY, NOW) == {Channel.CHAT: 2, Channel.VOICE: 1, Channel.SMS: 2, Channel.CASE: 1}


def test_due_with_a_limit_and_a_selection(store: Store) -> None:
    fill(store, *FLOOR, deleted=("INC-1",))
    everything = store.due(POLICY, NOW)
    assert store.due(POLICY, NOW, limit=2) == everything[:2]
    sms = Selection(channels=frozenset({Channel.SMS}))
    assert ids(store.due(POLICY, NOW, selection=sms)) == [t.id for t in everything if t.channel is Channel.SMS]
    wrap = Selection(states=frozenset({State.WRAP_UP}), workstreams=frozenset({"Contoso SMS"}))
    assert ids(store.due(POLICY, NOW, selection=wrap)) == ["sms-wrap-blocked"]
    assert store.count_due(POLICY, NOW, selection=sms) == {Channel.SMS: 2}


def test_counts_oldest_open_workstreams_and_select(store: Store) -> None:
    fill(store, *FLOOR)
    counts = store.counts()
    assert counts[Channel.CHAT, State.OPEN] == 2 and counts[Channel.CHAT, State.CLOSED] == 1
    assert sum(counts.values()) == len(FLOOR)
    oldest = store.oldest_open()
    assert oldest[Channel.CHAT] == ("chat-due", ago(21))
    assert oldest[Channel.SMS] == ("sms-wrap-blocked", ago(2000))
    assert store.workstreams() == {"Contoso SMS": {Channel.SMS: 2}, "Other": {Channel.SMS: 1}}
    waiting = Selection(states=frozenset({State.WAITING}))
    assert sorted(c.id for c in store.select(waiting)) == ["sms-waiting", "sms-waiting-other"]


def test_ids_starting_with_a_prefix(store: Store) -> None:
    fill(store, *FLOOR)
    assert store.ids_starting_with("chat-", 10) == ["chat-due", "chat-not-yet", "chat-wrap"]
    assert store.ids_starting_with("chat-", 2) == ["chat-due", "chat-not-yet"]
    assert store.ids_starting_with("nope", 10) == []


# --- the sweep --------------------------------------------------------------------------------------------


def test_a_sweep_moves_what_is_due_once_with_one_record_each(store_url: str) -> None:
    with closing(reopen(store_url)) as store:
        fill(store, *FLOOR, deleted=("INC-1",))
        planned = store.due(POLICY, NOW)
        outcome = store.sweep(POLICY, audit(run="sweep-1"))
    assert ids(outcome.transitions) == ids(planned)
    assert (outcome.considered, outcome.written, outcome.skipped) == (len(FLOOR), True, None)
    with closing(reopen(store_url)) as store:
        for t in planned:
            stored = store.get(t.id)
            assert stored is not None and (stored.conversation.state, stored.conversation.modified_on) == (
                t.to_state, NOW,
            )  # fmt: skip
        assert store.get("chat-not-yet").conversation.state is State.OPEN  # type: ignore[union-attr]
        records = store.history(HistoryQuery(actions=frozenset({Action.SWEEP})))
        assert [(r.id, r.from_state, r.to_state, r.reason, r.rule, r.idle_minutes, r.run_id) for r in records] == [
            (t.id, t.from_state, t.to_state, t.reason, t.rule, t.idle_minutes, "sweep-1") for t in planned
        ]
        last = store.last_sweep()
        assert last is not None and (last.run_id, last.at, last.moved) == ("sweep-1", NOW, len(planned))
        assert last.counts[("voice", "wrap-up", "AutoClosedBySystem")] == 1
        again = store.sweep(POLICY, audit(run="sweep-2"))
        assert again.transitions == [] and again.written is False
    with closing(reopen(store_url)) as store:
        last = store.last_sweep()
        assert last is not None and (last.run_id, last.moved) == ("sweep-2", 0)  # a sweep that moved nothing counts
        assert len(store.history(HistoryQuery(actions=frozenset({Action.SWEEP})))) == len(planned)


def test_voice_moves_to_wrap_up_then_closes_a_day_later(store_url: str) -> None:
    with closing(reopen(store_url)) as store:
        fill(store, conversation("v", Channel.VOICE, State.ACTIVE, minutes=121))
        assert [t.to_state for t in store.sweep(POLICY, audit()).transitions] == [State.WRAP_UP]
        assert store.sweep(POLICY, audit(NOW + 1440 * MINUTE, "r2")).transitions == []
        tomorrow = NOW + 1441 * MINUTE
        assert [t.to_state for t in store.sweep(POLICY, audit(tomorrow, "r3")).transitions] == [State.CLOSED]
    with closing(reopen(store_url)) as store:
        assert store.get("v").conversation.modified_on == tomorrow  # type: ignore[union-attr]


# --- linked records ---------------------------------------------------------------------------------------


def test_deleting_a_record_closes_its_case_conversations_at_the_next_sweep(store_url: str) -> None:
    with closing(reopen(store_url)) as store:
        fill(store, *FLOOR)
        dry = store.set_record_deleted("INC-2", True, audit(run="dry"), dry_run=True)
        assert (dry.changed, dry.linked) == (True, 1)
        assert store.deleted_records() == []
        change = store.set_record_deleted("INC-2", True, audit(run="del"), dry_run=False)
        assert (change.changed, change.linked) == (True, 1)
        assert store.set_record_deleted("INC-2", True, audit(run="again"), dry_run=False).changed is False
    with closing(reopen(store_url)) as store:
        assert store.deleted_records() == ["INC-2"]
        assert ids(store.due(POLICY, NOW)) == [t for t in ids(store.due(POLICY, NOW)) if t != "case-linked"]
        assert "case-other" in ids(store.due(POLICY, NOW))
        assert store.set_record_deleted("NOPE", True, audit(run="nope"), dry_run=False).linked == 0
        undo = store.set_record_deleted("INC-2", False, audit(run="undo"), dry_run=False)
        assert undo.changed is True
    with closing(reopen(store_url)) as store:
        assert store.deleted_records() == ["NOPE"]
        assert "case-other" not in ids(store.due(POLICY, NOW))
        actions = [(r.kind, (r.detail or {}).get("record_id")) for r in store.history(HistoryQuery())][1:]
        assert actions == [
            (Action.RECORD_DELETED, "INC-2"), (Action.RECORD_DELETED, "NOPE"), (Action.RECORD_UNDELETED, "INC-2"),
        ]  # fmt: skip


# --- history ----------------------------------------------------------------------------------------------


def test_history_filters_orders_and_limits(store_url: str) -> None:
    with closing(reopen(store_url)) as store:
        fill(store, *FLOOR, deleted=("INC-1",))
        store.sweep(POLICY, audit(run="sweep"))
        later = NOW + 10 * MINUTE
        store.change("chat-not-yet", lambda c: touched(c, later), Action.TOUCH, audit(later, "touch"))
        store.record([audit(later + MINUTE, "config").record(Action.CONFIG, detail={"change": "chat open: 20m → 30m"})])
    with closing(reopen(store_url)) as store:
        every = store.history(HistoryQuery())
        assert [r.kind for r in every][0] is Action.IMPORT and every[-1].kind is Action.CONFIG
        assert [r.at for r in every] == sorted(r.at for r in every)
        assert store.history(HistoryQuery(newest_first=True)) == every[::-1]
        assert store.history(HistoryQuery(limit=2)) == every[-2:]
        assert store.history(HistoryQuery(limit=2, newest_first=True)) == every[::-1][:2]
        assert [r.kind for r in store.history(HistoryQuery(id="chat-not-yet"))] == [Action.TOUCH]
        assert {r.kind for r in store.history(HistoryQuery(since=NOW + MINUTE))} == {Action.TOUCH, Action.CONFIG}
        assert {r.kind for r in store.history(HistoryQuery(until=NOW))} == {Action.IMPORT, Action.SWEEP}
        assert {r.channel for r in store.history(HistoryQuery(channels=frozenset({"voice"})))} == {"voice"}
        deleted = store.history(HistoryQuery(reasons=frozenset({"RecordDeleted"})))
        assert [r.id for r in deleted] == ["case-linked"]
        config = store.history(HistoryQuery(actions=frozenset({Action.CONFIG})))
        assert config[0].detail == {"change": "chat open: 20m → 30m"}


def test_a_conversations_history_survives_its_removal_return_sweeps_and_a_copy(
    store_url: str, tmp_path: object
) -> None:
    from pathlib import Path

    def kinds(store: Store, cid: str) -> list[tuple[str, str]]:
        return [(str(r.kind), r.run_id) for r in store.history(HistoryQuery(id=cid))]

    later = NOW + 30 * MINUTE
    with closing(reopen(store_url)) as store:
        store.add(conversation("x", minutes=25), audit(run="add"))
        store.change("x", lambda c: touched(c, ago(24)), Action.TOUCH, audit(run="touch"))
        store.sweep(POLICY, audit(run="sweep"))  # x was idle 25 minutes: closed
        store.import_conversations([Incoming(conversation("y"))], (), audit(run="replace"), replace=True,
                                   dry_run=False, source="test")  # fmt: skip  # x is no longer stored
        store.record([audit(later, "note").record(Action.CONFIG, id="x", detail={"why": "gone"})])
        store.record([audit(later, "told").record(Action.SWEEP, id="x")])  # a sweep's record, written by hand
    with closing(reopen(store_url)) as store:
        assert store.get("x") is None
        assert kinds(store, "x") == [
            ("add", "add"), ("touch", "touch"), ("sweep", "sweep"), ("config", "note"), ("sweep", "told"),
        ]  # fmt: skip
        store.add(conversation("x", minutes=40), audit(later, "back"))
        store.change("y", lambda c: touched(c, NOW + MINUTE), Action.TOUCH, audit(later, "other"))
        store.sweep(POLICY, audit(later, "again"))
    expected = [("add", "add"), ("touch", "touch"), ("sweep", "sweep"), ("config", "note"), ("sweep", "told"),
                ("add", "back"), ("sweep", "again")]  # fmt: skip
    copy = str(Path(str(tmp_path)) / "copy.sqlite")
    with closing(reopen(store_url)) as store:
        assert kinds(store, "x") == expected
        assert kinds(store, "y") == [("touch", "other"), ("sweep", "again")]
        assert kinds(store, "nobody") == []
        with closing(reopen(copy)) as target:
            target.fill(store.dump(), replace=False, progress=lambda n: None)
    with closing(reopen(copy)) as target:
        assert kinds(target, "x") == expected
        target.record([audit(later, "after-copy").record(Action.CONFIG, id="x", detail={"why": "copied"})])
        assert kinds(target, "x") == [*expected, ("config", "after-copy")]


# --- copying ----------------------------------------------------------------------------------------------


def test_dump_and_fill_copy_everything_to_a_json_store_and_back(store_url: str, tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    extra = {"note": msgspec.Raw(b'"kept"')}
    with closing(reopen(store_url)) as store:
        fill(store, *FLOOR[:-1], Incoming(FLOOR[-1], extra), deleted=("INC-1",))
        store.sweep(POLICY, audit(run="sweep"))
        original = _state(store)
        copy = str(folder / "copy.json")
        with closing(reopen(copy)) as target:
            assert target.fill(store.dump(), replace=False, progress=lambda n: None) == len(FLOOR)
        with closing(reopen(copy)) as target, pytest.raises(Refused):
            target.fill(store.dump(), replace=False, progress=lambda n: None)
    with closing(reopen(copy)) as target:
        assert _state(target) == original
        assert target.get("closed").fields["note"] == "kept"  # type: ignore[union-attr]
    with closing(reopen(store_url)) as store:
        with closing(reopen(copy)) as source:
            store.fill(source.dump(), replace=True, progress=lambda n: None)
    with closing(reopen(store_url)) as store:
        assert _state(store) == original


def _state(store: Store) -> tuple[object, ...]:
    conversations = sorted((c.id, c.channel, c.state, c.modified_on, c.workstream, c.record_id)
                           for c in store.select(Selection()))  # fmt: skip
    history = [(r.run_id, r.kind, r.at, r.id, r.to_state, r.reason) for r in store.history(HistoryQuery())]
    last = store.last_sweep()
    return conversations, store.deleted_records(), history, last and (last.run_id, last.at, last.moved)


def test_info_names_the_backend_and_counts(store: Store, backend: str) -> None:
    fill(store, *FLOOR)
    info = store.info()
    name = backend.removesuffix("-psycopg")
    assert (info.backend, info.conversations, info.by_state[State.OPEN]) == (name, len(FLOOR), 3)
    assert info.schema_version == {"sqlite": 4, "postgresql": 3}.get(name, 1)
    assert info.size_bytes is not None and info.size_bytes > 0
