"""`ocac conversations list/show/add/import/touch/set-state`."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ocac import store
from ocac.model import State

T = "2026-11-25T12:00:00Z"
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)

CONFIG = """\
[workstreams."SMS"]
channel = "sms"
auto_close_after = "2h"

[workstreams."Line"]
channel = "voice"
"""


def ago(minutes: int, offset_hours: int = 0) -> str:
    """NOW minus `minutes`, written with the given UTC offset."""
    instant = (NOW - timedelta(minutes=minutes)).astimezone(timezone(timedelta(hours=offset_hours)))
    return instant.isoformat().replace("+00:00", "Z")


def conv(cid: str, channel: str, state: str, minutes: int, offset_hours: int = 0, **extra: object) -> dict[str, object]:
    return {"id": cid, "channel": channel, "state": state, "modified_on": ago(minutes, offset_hours), **extra}


FLOOR = [
    conv("chat-due", "chat", "open", 30, queue="Web", score=1.5),
    conv("chat-soon", "chat", "open", 10),
    conv("chat-active", "chat", "active", 999),
    conv("voice-act", "voice", "active", 100, workstream="Line"),
    conv("sms-wait", "sms", "waiting", 60, workstream="SMS"),
    conv("teams-open", "teams", "open", 5),
    conv("case-open", "case", "open", 50, record_id="R1"),
    conv("closed", "chat", "closed", 5),
    conv("social-wrap", "social", "wrap-up", 1500, offset_hours=2),
]
# Soonest due first (social-wrap was due at 11:00, chat-due at 11:50, …), then never-due by id.
ORDER = ["social-wrap", "chat-due", "chat-soon", "voice-act", "sms-wait", "teams-open",
         "case-open", "chat-active", "closed"]  # fmt: skip


@pytest.fixture
def floor(store_path: Path, config_path: Path) -> Path:
    store_path.write_text(json.dumps({"conversations": FLOOR}, indent=2), encoding="utf-8")
    config_path.write_text(CONFIG, encoding="utf-8")
    return store_path


def listed(cli: Any, *args: str) -> list[dict[str, Any]]:
    result = cli("conversations", "list", "--json", "--now", T, *args)
    assert result.exit_code == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["id"] for row in rows]


def snapshot(path: Path) -> tuple[bytes, int, int]:
    info = os.stat(path)
    return path.read_bytes(), info.st_ino, info.st_mtime_ns


def stored(path: Path) -> dict[str, tuple[str, datetime]]:
    return {c.id: (str(c.state), c.modified_on) for c in store.load(path).conversations}


def fail(result: Any, code: int = 2) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ocac: error: "), result.stderr
    message: str = lines[0]
    return message


# --- list -----------------------------------------------------------------------------------------------

def test_list_sorts_by_due_time_with_never_due_last(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    assert ids(listed(cli)) == ORDER


def test_list_json_objects(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    rows = {row["id"]: row for row in listed(cli)}
    assert {k: rows["chat-due"][k] for k in ("id", "channel", "state", "modified_on", "due_at", "target")} == {
        "id": "chat-due", "channel": "chat", "state": "open", "modified_on": "2026-11-25T11:30:00Z",
        "due_at": "2026-11-25T11:50:00Z", "target": "closed",
    }  # fmt: skip
    assert rows["chat-due"]["due"] is True and rows["chat-due"]["reason"] == "AutoClosedBySystem"
    # An offset is read as an instant and written in UTC.
    assert (rows["social-wrap"]["modified_on"], rows["social-wrap"]["due_at"]) == (
        "2026-11-24T11:00:00Z", "2026-11-25T11:00:00Z",
    )  # fmt: skip
    assert (rows["sms-wait"]["target"], rows["sms-wait"]["reason"], rows["sms-wait"]["due_at"]) == (
        "closed", "AutoClosedFromWaitingState", "2026-11-25T13:00:00Z",
    )  # fmt: skip
    assert (rows["voice-act"]["target"], rows["voice-act"]["due_at"]) == ("wrap-up", "2026-11-25T12:20:00Z")
    for never in ("case-open", "chat-active", "closed"):
        assert (rows[never]["due_at"], rows[never]["target"], rows[never]["due"]) == (None, None, False)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--channel", "chat", "--channel", "VOICE"), ["chat-due", "chat-soon", "voice-act", "chat-active", "closed"]),
        (("--channel", "persistent_chat"), []),
        (("--state", "open"), ["chat-due", "chat-soon", "teams-open", "case-open"]),
        (("--state", "open", "--state", "wrap-up"), ["social-wrap", "chat-due", "chat-soon", "teams-open",
                                                     "case-open"]),
        (("--workstream", "SMS"), ["sms-wait"]),
        (("--due",), ["social-wrap", "chat-due"]),
        (("--due-within", "30m"), ["social-wrap", "chat-due", "chat-soon", "voice-act"]),
        (("--due-within", "1h"), ["social-wrap", "chat-due", "chat-soon", "voice-act"]),
        (("--due-within", "1h1m"), ["social-wrap", "chat-due", "chat-soon", "voice-act", "sms-wait"]),
        (("--limit", "3"), ["social-wrap", "chat-due", "chat-soon"]),
        (("--limit", "0"), []),
        (("--channel", "chat", "--due"), ["chat-due"]),
        (("--state", "open", "--due", "--limit", "1"), ["chat-due"]),
        (("--now", "2026-11-25T13:30:00Z", "--due"), ["social-wrap", "chat-due", "chat-soon", "voice-act",
                                                      "sms-wait"]),
        (("--now", "2026-11-25T14:20:00+02:00", "--due"), ["social-wrap", "chat-due", "chat-soon"]),
    ],
)
def test_list_filters(cli, floor: Path, args: tuple[str, ...], expected: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert ids(listed(cli, *args)) == expected


def test_list_text(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("conversations", "list", "--due", "--now", T)
    assert result.exit_code == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines() if line.strip()]
    assert lines[0] == ["id", "channel", "state", "idle", "due", "moves", "to"]
    assert lines[2] == ["social-wrap", "social", "wrap-up", "1d", "1h", "now", "closed"]
    assert lines[3] == ["chat-due", "chat", "open", "30m", "now", "closed"]
    assert len(lines) == 4
    assert result.stderr.strip() == "2 conversation(s)"
    empty = cli("conversations", "list", "--workstream", "Nobody", "--now", T)
    assert (empty.exit_code, empty.stdout, empty.stderr.strip()) == (0, "", "no conversations match")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--channel", "fax"), "unknown channel 'fax'"),
        (("--state", "pending"), "unknown state 'pending'"),
        (("--due-within", "soon"), "invalid duration 'soon'"),
        (("--due-within", "never"), "--due-within"),
        (("--now", "2026-11-25T12:00:00"), "no offset"),
    ],
)
def test_list_refuses_bad_options(cli, floor: Path, args: tuple[str, ...], fragment: str) -> None:  # type: ignore[no-untyped-def]
    assert fragment in fail(cli("conversations", "list", *args))


# --- show -----------------------------------------------------------------------------------------------

def show_lines(cli: Any, cid: str, now: str = T) -> list[str]:
    result = cli("conversations", "show", cid, "--now", now)
    assert result.exit_code == 0, result.stderr
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def test_show_every_field_and_the_explanation(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    lines = show_lines(cli, "chat-due")
    rows = [line.split(maxsplit=1) for line in lines[2:8]]
    assert rows == [
        ["id", "chat-due"], ["channel", "chat"], ["state", "open"], ["modified_on", "2026-11-25T11:30:00Z"],
        ["queue", "Web"], ["score", "1.5"],
    ]  # fmt: skip
    assert lines[8:] == [
        "applies: rule chat/open (default)",
        "idle: 30m",
        "threshold: 20m → closed (AutoClosedBySystem)",
        "eligible after: 2026-11-25T11:50:00Z (due now)",
    ]
    assert show_lines(cli, "sms-wait")[-2:] == [
        "threshold: 2h → closed (AutoClosedFromWaitingState)",
        "eligible after: 2026-11-25T13:00:00Z (not yet due)",
    ]


@pytest.mark.parametrize(
    ("cid", "because"),
    [
        ("chat-active", "never moved: rule chat/active is set to never"),
        ("case-open", "never moved: it closes when its linked record 'R1' is deleted"),
        ("closed", "never moved: the conversation is closed"),
    ],
)
def test_show_says_why_never(cli, floor: Path, cid: str, because: str) -> None:  # type: ignore[no-untyped-def]
    assert show_lines(cli, cid)[-1] == because


def test_show_flags_a_future_modified_on(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    lines = show_lines(cli, "chat-due", now="2026-11-25T11:00:00Z")
    assert "idle: -30m" in lines
    assert "warning: modified_on is after 2026-11-25T11:00:00Z: it is not swept until then" in lines
    assert lines[-1] == "eligible after: 2026-11-25T11:50:00Z (not yet due)"
    shown = cli("conversations", "show", "chat-due", "--json", "--now", "2026-11-25T11:00:00Z")
    assert json.loads(shown.stdout)["explanation"]["in_future"] is True


def test_show_json_has_every_field(cli, floor: Path, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    store_path.write_text(
        '{"conversations": [{"id": "x", "channel": "case", "state": "active", "modified_on": "2026-11-25T11:00:00Z",'
        ' "record_id": "R1", "customer": {"name": "Chlo\\u00e9", "tags": [1, 2.5e3]}, "vip": true}]}'
    )
    result = cli("conversations", "show", "x", "--json", "--now", T)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["fields"] == {
        "id": "x", "channel": "case", "state": "active", "modified_on": "2026-11-25T11:00:00Z", "record_id": "R1",
        "customer": {"name": "Chloé", "tags": [1, 2500.0]}, "vip": True,
    }  # fmt: skip
    explanation = document["explanation"]
    assert explanation["never_because"] == "it closes when its linked record 'R1' is deleted"
    assert explanation["due_at"] is None and explanation["in_future"] is False
    assert explanation["applies"] == "case conversations close with their record"


def test_show_unknown_id(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    assert "no conversation 'nope'" in fail(cli("conversations", "show", "nope", "--now", T))


# --- add ------------------------------------------------------------------------------------------------

def test_add_prints_the_generated_id(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("conversations", "add", "--channel", "Persistent Chat", "--workstream", "Chat", "--now", T)
    assert result.exit_code == 0, result.stderr
    new_id = result.stdout.strip()
    assert result.stdout == new_id + "\n"
    assert str(uuid.UUID(new_id)) == new_id
    assert new_id in result.stderr
    added = store.load(floor).get(new_id)
    assert added is not None
    assert (str(added.channel), added.state, added.workstream, added.modified_on, added.created_on) == (
        "persistent-chat", State.OPEN, "Chat", NOW, NOW,
    )  # fmt: skip
    again = cli("conversations", "add", "--channel", "chat", "--now", T)
    assert again.stdout.strip() not in (new_id, "")


def test_add_with_id_state_and_modified_on(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("conversations", "add", "--channel", "sms", "--state", "waiting", "--id", "s9", "--workstream",
                 "SMS", "--modified-on", "2026-11-25T11:00:00+02:00", "--now", T)
    assert (result.exit_code, result.stdout) == (0, "s9\n")
    added = store.load(floor).get("s9")
    assert added is not None
    assert (added.state, added.modified_on) == (State.WAITING, datetime(2026, 11, 25, 9, tzinfo=UTC))
    # Waiting in SMS closes after 2h; it has waited 3h.
    assert "s9" in ids(listed(cli, "--due"))


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--channel", "chat", "--id", "chat-due"), "a conversation 'chat-due' already exists"),
        (("--channel", "chat", "--state", "waiting"), "chat conversations cannot be waiting"),
        (("--channel", "voice", "--state", "waiting"), "voice conversations cannot be waiting"),
        (("--channel", "case", "--state", "waiting"), "case conversations cannot be waiting"),
        (("--channel", "fax"), "unknown channel 'fax'"),
        (("--channel", "chat", "--state", "later"), "unknown state 'later'"),
        (("--channel", "chat", "--id", " "), "--id must not be empty"),
        (("--channel", "chat", "--modified-on", "2026-11-25T11:00:00"), "no offset"),
    ],
)
def test_add_refuses(cli, floor: Path, args: tuple[str, ...], fragment: str) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(floor)
    assert fragment in fail(cli("conversations", "add", *args, "--now", T))
    assert snapshot(floor) == before


# --- import ---------------------------------------------------------------------------------------------

def test_import_json_list_upserts_by_id(cli, floor: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "in.json"
    source.write_text(
        '[{"id": "chat-due", "channel": "chat", "state": "active", "modified_on": "2026-11-25T11:55:00Z",'
        ' "queue": "Moved", "extra": 1.50e3},'
        ' {"id": "n1", "channel": "Persistent_Chat", "state": "Wrap-Up", "modified_on": "2026-11-25T13:00:00+02:00",'
        ' "tags": ["a"]}]'
    )
    result = cli("conversations", "import", str(source), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "added": 1, "updated": 1, "unchanged": 0, "records_deleted": 0, "replaced": False, "written": True,
    }  # fmt: skip
    document = store.load(floor, writable=True)
    assert [c.id for c in document.conversations] == [str(c["id"]) for c in FLOOR] + ["n1"]
    updated = store.fields_of(document, 0)
    assert updated == {"id": "chat-due", "channel": "chat", "state": "active", "modified_on": "2026-11-25T11:55:00Z",
                       "queue": "Moved", "extra": 1500.0}  # fmt: skip
    assert b'"extra":1.50e3' in floor.read_bytes().replace(b" ", b"")
    new = document.get("n1")
    assert new is not None and (str(new.channel), new.state, new.modified_on) == (
        "persistent-chat", State.WRAP_UP, datetime(2026, 11, 25, 11, tzinfo=UTC),
    )  # fmt: skip
    assert stored(floor)["chat-soon"] == ("open", NOW - timedelta(minutes=10))  # others untouched


def test_import_store_shaped_object(cli, floor: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "other-store.json"
    source.write_text(json.dumps({"conversations": [conv("o1", "teams", "active", 3)], "deleted_records": ["X"]}))
    result = cli("conversations", "import", str(source))
    assert result.exit_code == 0, result.stderr
    assert result.stderr.strip() == (
        "imported 1 conversation(s): 1 added, 0 updated, 0 unchanged; 1 linked record(s) newly marked deleted"
    )
    assert stored(floor)["o1"] == ("active", NOW - timedelta(minutes=3))
    assert len(stored(floor)) == len(FLOOR) + 1
    assert store.load(floor).deleted_records == {"X"}  # a store's deleted records come with it


def test_import_csv_with_header(cli, floor: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "in.csv"
    source.write_text(
        "id,channel,state,modified_on,workstream,record_id,queue\n"
        "c1,sms,waiting,2026-11-25T09:00:00Z,SMS,,Texts\n"
        "case-open,case,active,2026-11-25T11:00:00-05:00,,R7,\n"
        "c2,chat,,2026-11-25T11:59:00Z,,,\n",
        encoding="utf-8",
    )
    result = cli("conversations", "import", str(source), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["added"] == 2 and json.loads(result.stdout)["updated"] == 1
    document = store.load(floor, writable=True)
    c1 = document.index_of("c1")
    assert c1 is not None
    assert store.fields_of(document, c1) == {"id": "c1", "channel": "sms", "state": "waiting",
                                             "modified_on": "2026-11-25T09:00:00Z", "workstream": "SMS",
                                             "queue": "Texts"}  # fmt: skip
    case = document.get("case-open")
    assert case is not None and (case.state, case.record_id, case.modified_on) == (
        State.ACTIVE, "R7", datetime(2026, 11, 25, 16, tzinfo=UTC),
    )  # fmt: skip
    c2 = document.get("c2")
    assert c2 is not None and c2.state is State.OPEN  # state defaults to open


@pytest.mark.parametrize(
    ("name", "content", "fragments"),
    [
        ("bad.json", json.dumps([conv("ok1", "chat", "open", 1), conv("bad", "fax", "open", 1)]),
         ["bad.json", "row 2", "channel", "'fax'"]),
        ("bad.json", json.dumps([conv("ok1", "chat", "open", 1), {**conv("bad", "chat", "open", 1),
                                                                  "modified_on": "2026-11-25T11:00:00"}]),
         ["row 2", "modified_on", "no offset"]),
        ("bad.json", json.dumps([conv("ok1", "chat", "open", 1), {"id": "m", "channel": "chat"}]),
         ["row 2", "modified_on"]),
        ("bad.json", json.dumps([conv("w", "chat", "waiting", 1)]), ["row 1", "state", "cannot be waiting"]),
        ("bad.json", json.dumps([conv("d", "chat", "open", 1), conv("d", "chat", "open", 2)]),
         ["row 2", "duplicate id 'd'"]),
        ("bad.json", '[{"id": "x",', ["bad.json", "not valid JSON"]),
        ("bad.json", json.dumps({"items": []}), ["bad.json", "conversations"]),
        ("bad.csv", "id,channel,state,modified_on\nok,chat,open,2026-11-25T11:00:00Z\nb,chat,open,yesterday\n",
         ["bad.csv", "line 3", "modified_on", "'yesterday'"]),
        ("bad.csv",
         "id,channel,state,modified_on\nok,chat,open,2026-11-25T11:00:00Z\nb,teams,later,2026-11-25T11:00:00Z\n",
         ["line 3", "unknown state 'later'"]),
        ("bad.csv", "id,channel,modified_on\nb,chat,2026-11-25T11:00:00Z,extra\n", ["line 2", "more values"]),
        ("bad.csv", "", ["bad.csv", "empty CSV"]),
    ],
    ids=["channel", "offset", "missing", "waiting", "duplicate", "json", "shape", "csv time", "csv state",
         "csv width", "csv empty"],
)
def test_import_is_all_or_nothing(cli, floor: Path, tmp_path: Path, name: str, content: str,  # type: ignore[no-untyped-def]
                                  fragments: list[str]) -> None:
    source = tmp_path / name
    source.write_text(content, encoding="utf-8")
    before = snapshot(floor)
    for extra in ((), ("--replace",)):
        message = fail(cli("conversations", "import", str(source), *extra))
        for fragment in fragments:
            assert fragment in message, (fragment, message)
    assert snapshot(floor) == before


def test_import_missing_file(cli, floor: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert "does not exist" in fail(cli("conversations", "import", str(tmp_path / "none.json")))


def test_import_replace(cli, floor: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "in.json"
    source.write_text(json.dumps([conv("chat-due", "chat", "active", 1), conv("r2", "voice", "open", 2)]))
    result = cli("conversations", "import", str(source), "--replace", "--json")
    assert json.loads(result.stdout) == {
        "added": 2, "updated": 0, "unchanged": 0, "records_deleted": 0, "replaced": True, "written": True,
    }  # fmt: skip
    assert stored(floor) == {
        "chat-due": ("active", NOW - timedelta(minutes=1)), "r2": ("open", NOW - timedelta(minutes=2)),
    }  # fmt: skip
    fields = store.fields_of(store.load(floor, writable=True), 0)
    assert "queue" not in fields  # replaced whole


# --- touch ----------------------------------------------------------------------------------------------

def test_touch_restarts_the_clock(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("conversations", "touch", "chat-due", "--action", "Transfer", "--now", "2026-11-25T12:55:00+01:00")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.strip() == "transfer: chat-due: clock restarted"
    assert stored(floor)["chat-due"] == ("open", datetime(2026, 11, 25, 11, 55, tzinfo=UTC))
    assert "chat-due" not in ids(listed(cli, "--due"))
    fields = store.fields_of(store.load(floor, writable=True), 0)
    assert (fields["queue"], fields["score"]) == ("Web", 1.5)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("nope",), "no conversation 'nope'"),
        (("closed",), "conversation 'closed' is closed: closed is final"),
        (("chat-due", "--action", "poke"), "unknown --action 'poke'"),
        (("chat-due", "--now", "noon"), "invalid --now 'noon'"),
    ],
)
def test_touch_refuses(cli, floor: Path, args: tuple[str, ...], fragment: str) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(floor)
    assert fragment in fail(cli("conversations", "touch", *args))
    assert snapshot(floor) == before


# --- set-state ------------------------------------------------------------------------------------------

# The state model, written out independently of ocac.model.MANUAL_TRANSITIONS.
ALLOWED = {
    "open": ["active", "closed"],
    "active": ["wrap-up", "open", "waiting", "closed"],
    "waiting": ["active", "open", "closed"],
    "wrap-up": ["closed"],
    "closed": [],
}
EVERY_ALLOWED = [(a, b) for a, targets in ALLOWED.items() for b in targets]


@pytest.mark.parametrize(("source", "target"), EVERY_ALLOWED, ids=[f"{a}->{b}" for a, b in EVERY_ALLOWED])
def test_set_state_allowed(cli, store_path: Path, source: str, target: str) -> None:  # type: ignore[no-untyped-def]
    store_path.write_text(json.dumps({"conversations": [conv("t", "teams", source, 5, note="kept")]}))
    result = cli("conversations", "set-state", "t", target.upper().replace("-", "_"), "--now", T)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.strip() == f"t: now {target}"
    assert stored(store_path) == {"t": (target, NOW)}
    assert store.fields_of(store.load(store_path, writable=True), 0)["note"] == "kept"


REFUSED = [
    ("open", "wrap-up"), ("open", "waiting"), ("open", "open"), ("wrap-up", "open"), ("wrap-up", "active"),
    ("waiting", "wrap-up"), ("closed", "open"), ("closed", "active"), ("active", "active"),
]


@pytest.mark.parametrize(("source", "target"), REFUSED, ids=[f"{a}->{b}" for a, b in REFUSED])
def test_set_state_refused_names_the_allowed(cli, store_path: Path, source: str, target: str) -> None:  # type: ignore[no-untyped-def]
    store_path.write_text(json.dumps({"conversations": [conv("t", "teams", source, 5)]}))
    before = snapshot(store_path)
    message = fail(cli("conversations", "set-state", "t", target, "--now", T))
    allowed = ", ".join(ALLOWED[source]) or "none: closed is final"
    assert message == f"ocac: error: cannot move 't' from {source} to {target}: allowed: {allowed}"
    assert snapshot(store_path) == before


@pytest.mark.parametrize("channel", ["chat", "voice", "case"])
def test_set_state_waiting_refused_where_channels_cannot_wait(cli, store_path: Path, channel: str) -> None:  # type: ignore[no-untyped-def]
    store_path.write_text(json.dumps({"conversations": [conv("x", channel, "active", 5)]}))
    before = snapshot(store_path)
    assert f"{channel} conversations cannot be waiting" in fail(cli("conversations", "set-state", "x", "waiting"))
    assert snapshot(store_path) == before


def test_set_state_unknown(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    assert "no conversation 'nope'" in fail(cli("conversations", "set-state", "nope", "closed"))
    assert "unknown state 'shut'" in fail(cli("conversations", "set-state", "chat-due", "shut"))


def test_importing_what_is_already_stored_changes_nothing_and_does_not_rewrite(cli, sample_store, tmp_path):
    before = sample_store.stat()
    first = cli("conversations", "import", str(sample_store), "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {
        "added": 0, "updated": 0, "unchanged": 300, "records_deleted": 0, "replaced": False, "written": False,
    }  # fmt: skip
    after = sample_store.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_add_with_json_prints_the_new_conversation(cli, store_path):
    now = "2026-11-25T12:00:00+01:00"
    result = cli("conversations", "add", "--channel", "SMS", "--id", "n-1", "--now", now, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "id": "n-1", "channel": "sms", "state": "open", "modified_on": "2026-11-25T11:00:00Z",
    }  # fmt: skip
    assert store.load(store_path).get("n-1") is not None


def test_importing_the_sample_store_brings_its_deleted_records(cli, store_path):
    from conftest import SAMPLE, SAMPLE_NOW

    result = cli("--config", str(SAMPLE / "config.toml"), "conversations", "import", str(SAMPLE / "conversations.json"))
    assert result.exit_code == 0, result.output
    sweep = cli("--config", str(SAMPLE / "config.toml"), "sweep", "run", "--dry-run", "--now", SAMPLE_NOW, "--json")
    assert json.loads(sweep.stdout)["moved"] == 69  # the two record-deleted case conversations included
