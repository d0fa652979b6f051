"""`ocac conversations list/show/add/import/touch/set-state`."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ocac.audit import HistoryQuery
from ocac.model import Action
from ocac.store.trail import trail_path

from ._support import deleted_records, fail, fields, history, snapshot, states, words

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
    conv("sms-wait", "sms", "waiting", 60, workstream="SMS", network="whatsapp"),
    conv("teams-open", "teams", "open", 5),
    conv("case-open", "case", "open", 50, record_id="R1"),
    conv("closed", "chat", "closed", 5),
    conv("social-wrap", "social", "wrap-up", 1500, offset_hours=2),
]
FLOOR_IDS = [str(c["id"]) for c in FLOOR]
# Soonest due first (social-wrap was due at 11:00, chat-due at 11:50, …), then never-due by id;
# closed conversations are left out unless asked for.
ORDER = ["social-wrap", "chat-due", "chat-soon", "voice-act", "sms-wait", "teams-open", "case-open", "chat-active"]
ORDER_ALL = [*ORDER, "closed"]


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


def stored_ids_in_file_order(path: Path) -> list[str]:
    return [c["id"] for c in json.loads(path.read_text(encoding="utf-8"))["conversations"]]


# --- list -----------------------------------------------------------------------------------------------


def test_list_sorts_by_due_time_with_never_due_last_and_leaves_closed_out(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    assert ids(listed(cli)) == ORDER
    assert ids(listed(cli, "--all")) == ORDER_ALL


def test_list_json_objects(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    rows = {row["id"]: row for row in listed(cli, "--all")}
    assert rows["chat-due"] == {
        "id": "chat-due", "channel": "chat", "state": "open", "modified_on": "2026-11-25T11:30:00Z",
        "workstream": None, "record_id": None, "network": None, "idle_minutes": 30,
        "due_at": "2026-11-25T11:50:00Z", "due": True, "target": "closed", "reason": "AutoClosedBySystem",
        "rule": "chat/open", "threshold_minutes": 20, "in_future": False,
    }  # fmt: skip
    assert rows["sms-wait"] == {
        "id": "sms-wait", "channel": "sms", "state": "waiting", "modified_on": "2026-11-25T11:00:00Z",
        "workstream": "SMS", "record_id": None, "network": "whatsapp", "idle_minutes": 60,
        "due_at": "2026-11-25T13:00:00Z", "due": False, "target": "closed", "reason": "AutoClosedFromWaitingState",
        "rule": "workstream:SMS", "threshold_minutes": 120, "in_future": False,
    }  # fmt: skip
    # An offset is read as an instant and written in UTC.
    assert (rows["social-wrap"]["modified_on"], rows["social-wrap"]["due_at"]) == (
        "2026-11-24T11:00:00Z", "2026-11-25T11:00:00Z",
    )  # fmt: skip
    assert (rows["voice-act"]["target"], rows["voice-act"]["due_at"]) == ("wrap-up", "2026-11-25T12:20:00Z")
    assert rows["case-open"]["record_id"] == "R1"
    for never in ("case-open", "chat-active", "closed"):
        assert (rows[never]["due_at"], rows[never]["target"], rows[never]["due"]) == (None, None, False)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--channel", "chat", "--channel", "VOICE"), ["chat-due", "chat-soon", "voice-act", "chat-active"]),
        (("--channel", "chat", "--all"), ["chat-due", "chat-soon", "chat-active", "closed"]),
        (("--channel", "persistent_chat"), []),
        (("--state", "open"), ["chat-due", "chat-soon", "teams-open", "case-open"]),
        (
            ("--state", "open", "--state", "wrap-up"),
            ["social-wrap", "chat-due", "chat-soon", "teams-open", "case-open"],
        ),
        (("--state", "closed"), ["closed"]),
        (("--state", "open", "--state", "closed"), ["chat-due", "chat-soon", "teams-open", "case-open", "closed"]),
        (("--workstream", "SMS"), ["sms-wait"]),
        (("--due",), ["social-wrap", "chat-due"]),
        (("--due", "--all"), ["social-wrap", "chat-due"]),
        (("--due-within", "30m"), ["social-wrap", "chat-due", "chat-soon", "voice-act"]),
        (("--due-within", "1h"), ["social-wrap", "chat-due", "chat-soon", "voice-act"]),
        (("--due-within", "1h1m"), ["social-wrap", "chat-due", "chat-soon", "voice-act", "sms-wait"]),
        (("--limit", "3"), ["social-wrap", "chat-due", "chat-soon"]),
        (("--limit", "0"), []),
        (("--channel", "chat", "--due"), ["chat-due"]),
        (("--state", "open", "--due", "--limit", "1"), ["chat-due"]),
        (("--now", "2026-11-25T13:30:00Z", "--due"), ["social-wrap", "chat-due", "chat-soon", "voice-act", "sms-wait"]),
        (("--now", "2026-11-25T14:20:00+02:00", "--due"), ["social-wrap", "chat-due", "chat-soon"]),
    ],
)
def test_list_filters(cli, floor: Path, args: tuple[str, ...], expected: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert ids(listed(cli, *args)) == expected


def test_list_text(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("conversations", "list", "--due", "--now", T)
    assert result.exit_code == 0, result.stderr
    lines = words(result.stdout)
    assert lines[0] == ["id", "channel", "state", "idle", "due", "moves", "to"]
    assert lines[2:] == [
        ["social-wrap", "social", "wrap-up", "1d", "1h", "now", "closed"],
        ["chat-due", "chat", "open", "30m", "now", "closed"],
    ]
    assert result.stderr == "2 conversation(s)\n"

    every = cli("conversations", "list", "--now", T)
    assert [line[0] for line in words(every.stdout)[2:]] == ORDER
    assert words(every.stdout)[4] == ["chat-soon", "chat", "open", "10m", "in", "10m", "closed"]
    assert words(every.stdout)[-1] == ["chat-active", "chat", "active", "16h", "39m", "never", "-"]
    assert every.stderr == "8 conversation(s)\n"


@pytest.mark.parametrize(
    ("args", "footer"),
    [
        (("--limit", "3"), "3 of 8 conversation(s)"),
        (("--limit", "3", "--all"), "3 of 9 conversation(s)"),
        (("--limit", "8"), "8 conversation(s)"),
        (("--due", "--limit", "1"), "1 of 2 conversation(s)"),
        (("--due", "--limit", "2"), "2 conversation(s)"),
        (("--due-within", "1h1m", "--limit", "2"), "2 of 5 conversation(s)"),
        (("--state", "closed"), "1 conversation(s)"),
    ],
)
def test_list_footer_says_when_the_limit_cut_the_list(cli, floor: Path, args: tuple[str, ...], footer: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("conversations", "list", "--now", T, *args)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == footer + "\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--workstream", "Nobody"), "no conversations match (closed ones are left out: --all)"),
        (
            ("--channel", "chat", "--workstream", "Nobody", "--due"),
            "no conversations match (closed ones are left out: --all)",
        ),
        (("--workstream", "Nobody", "--all"), "no conversations match"),
        (("--workstream", "Nobody", "--state", "closed"), "no conversations match"),
        (("--channel", "voice", "--state", "open"), "no conversations match"),
    ],
)
def test_list_says_when_nothing_matches(cli, floor: Path, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("conversations", "list", "--now", T, *args)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", message + "\n")


def test_list_hints_at_all_when_only_closed_conversations_match(cli, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    store_path.write_text(json.dumps({"conversations": [conv("done", "voice", "closed", 5)]}))
    result = cli("conversations", "list", "--now", T)
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "no conversations match (closed ones are left out: --all)\n"
    assert ids(listed(cli, "--all")) == ["done"]


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
    assert lines[0].split() == ["field", "value"]
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


def test_show_takes_a_unique_start_of_an_id(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    assert show_lines(cli, "sms")[2].split() == ["id", "sms-wait"]
    assert show_lines(cli, "chat-d")[2].split() == ["id", "chat-due"]
    result = cli("conversations", "show", "soc", "--json", "--now", T)
    assert json.loads(result.stdout)["fields"]["id"] == "social-wrap"


def test_an_id_that_is_also_the_start_of_others_means_itself(cli, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    both = [conv("c1", "chat", "open", 1), conv("c10", "chat", "open", 2)]
    store_path.write_text(json.dumps({"conversations": both}))
    result = cli("conversations", "show", "c1", "--json", "--now", T)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["fields"]["id"] == "c1"


def test_show_an_ambiguous_start_lists_the_matches(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    assert fail(cli("conversations", "show", "chat", "--now", T)) == (
        "ocac: error: 'chat' is the start of several conversation ids (chat-active, chat-due, chat-soon): "
        "give more of the id"
    )


def test_an_ambiguous_start_lists_ten_matches_at_most(cli, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    many = [conv(f"x{n:02d}", "chat", "open", 1) for n in range(12)]
    store_path.write_text(json.dumps({"conversations": many}))
    shown = ", ".join(f"x{n:02d}" for n in range(10))
    assert fail(cli("conversations", "show", "x", "--now", T)) == (
        f"ocac: error: 'x' is the start of several conversation ids ({shown}, …): give more of the id"
    )


def test_show_unknown_id(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    assert fail(cli("conversations", "show", "nope", "--now", T)) == (
        f"ocac: error: no conversation 'nope' in {floor}: see 'ocac conversations list'"
    )


# --- add ------------------------------------------------------------------------------------------------


def test_add_prints_the_generated_id(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("conversations", "add", "--channel", "Persistent Chat", "--now", T)
    assert result.exit_code == 0, result.stderr
    new_id = result.stdout.strip()
    assert result.stdout == new_id + "\n"
    assert str(uuid.UUID(new_id)) == new_id
    assert result.stderr == f"added persistent-chat conversation {new_id} (open)\n"
    assert fields(floor, new_id) == {
        "id": new_id, "channel": "persistent-chat", "state": "open", "modified_on": T, "created_on": T,
    }  # fmt: skip
    [record] = history(floor)
    assert (record.kind, record.id, record.channel, record.to_state, record.at) == (
        Action.ADD, new_id, "persistent-chat", "open", NOW,
    )  # fmt: skip
    again = cli("conversations", "add", "--channel", "chat", "--now", T)
    assert again.stdout.strip() not in (new_id, "")


def test_add_with_id_state_and_modified_on(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli(
        "conversations",
        "add",
        "--channel",
        "sms",
        "--state",
        "waiting",
        "--id",
        "s9",
        "--workstream",
        "SMS",
        "--modified-on",
        "2026-11-25T11:00:00+02:00",
        "--now",
        T,
    )
    assert (result.exit_code, result.stdout, result.stderr) == (0, "s9\n", "added sms conversation s9 (waiting)\n")
    assert states(floor)["s9"] == ("waiting", datetime(2026, 11, 25, 9, tzinfo=UTC))
    assert fields(floor, "s9")["workstream"] == "SMS"
    # Waiting in SMS closes after 2h; it has waited 3h.
    assert "s9" in ids(listed(cli, "--due"))


@pytest.mark.parametrize(
    ("args", "warning"),
    [
        (
            ("--channel", "sms", "--workstream", "Nobody's"),
            "workstream 'Nobody's' is not in the configuration: its waiting and wrap-up settings do not apply",
        ),
        (
            ("--channel", "sms", "--workstream", "Line"),
            "workstream 'Line' is a voice workstream; this is a sms conversation",
        ),
    ],
)
def test_add_warns_about_a_workstream_that_will_not_apply(  # type: ignore[no-untyped-def]
    cli, floor: Path, args: tuple[str, ...], warning: str
) -> None:
    result = cli("conversations", "add", *args, "--id", "w1", "--now", T)
    assert (result.exit_code, result.stdout) == (0, "w1\n")
    assert result.stderr == f"ocac: warning: {warning}\nadded sms conversation w1 (open)\n"
    assert states(floor)["w1"] == ("open", NOW)


def test_add_to_a_configured_workstream_of_its_channel_does_not_warn(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("conversations", "add", "--channel", "voice", "--workstream", "Line", "--id", "l1", "--now", T)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "l1\n", "added voice conversation l1 (open)\n")


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
    assert not trail_path(floor).exists()


def test_add_with_json_prints_the_new_conversation(cli, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    now = "2026-11-25T12:00:00+01:00"
    result = cli("conversations", "add", "--channel", "SMS", "--id", "n-1", "--now", now, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "id": "n-1", "channel": "sms", "state": "open", "modified_on": "2026-11-25T11:00:00Z",
    }  # fmt: skip
    assert states(store_path) == {"n-1": ("open", datetime(2026, 11, 25, 11, tzinfo=UTC))}


# --- import ---------------------------------------------------------------------------------------------


def counts(**given: object) -> dict[str, object]:
    """What `import --json` prints: these counts, the rest zero or false."""
    document: dict[str, object] = {
        "added": 0, "updated": 0, "unchanged": 0, "removed": 0, "records_deleted": 0, "written": False,
        "replaced": False, "dry_run": False, "skipped": [],
    }  # fmt: skip
    assert set(given) <= set(document)
    return document | given


def test_import_json_list_upserts_by_id(cli, floor: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "in.json"
    source.write_text(
        '[{"id": "chat-due", "channel": "chat", "state": "active", "modified_on": "2026-11-25T11:55:00Z",'
        ' "queue": "Moved", "extra": 1.50e3},'
        ' {"id": "n1", "channel": "Persistent_Chat", "state": "Wrap-Up", "modified_on": "2026-11-25T13:00:00+02:00",'
        ' "tags": ["a"]}]'
    )
    result = cli("conversations", "import", str(source), "--json", "--now", T)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == counts(added=1, updated=1, written=True)
    assert stored_ids_in_file_order(floor) == [*FLOOR_IDS, "n1"]  # updated in place, added at the end
    assert fields(floor, "chat-due") == {
        "id": "chat-due", "channel": "chat", "state": "active", "modified_on": "2026-11-25T11:55:00Z",
        "queue": "Moved", "extra": 1500.0,
    }  # fmt: skip
    assert b'"extra":1.50e3' in floor.read_bytes().replace(b" ", b"")  # unknown values are kept as written
    assert fields(floor, "n1") == {
        "id": "n1", "channel": "persistent-chat", "state": "wrap-up", "modified_on": "2026-11-25T11:00:00Z",
        "tags": ["a"],
    }  # fmt: skip
    assert states(floor)["chat-soon"] == ("open", NOW - timedelta(minutes=10))  # others untouched
    [record] = history(floor)
    assert (record.kind, record.at, record.detail) == (Action.IMPORT, NOW, {
        "source": str(source), "replace": False, "added": 1, "updated": 1, "unchanged": 0, "removed": 0,
        "records_deleted": 0,
    })  # fmt: skip


def test_import_store_shaped_object(cli, floor: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "other-store.json"
    source.write_text(json.dumps({"conversations": [conv("o1", "teams", "active", 3)], "deleted_records": ["X"]}))
    result = cli("conversations", "import", str(source))
    assert (result.exit_code, result.stdout) == (0, ""), result.stderr
    assert result.stderr == (
        "imported 1 conversation(s): 1 added, 0 updated, 0 unchanged; 1 linked record(s) newly marked deleted\n"
    )
    assert states(floor)["o1"] == ("active", NOW - timedelta(minutes=3))
    assert len(states(floor)) == len(FLOOR) + 1
    assert deleted_records(floor) == ["X"]  # a store's deleted records come with it


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
    assert json.loads(result.stdout) == counts(added=2, updated=1, written=True)
    assert fields(floor, "c1") == {"id": "c1", "channel": "sms", "state": "waiting",
                                   "modified_on": "2026-11-25T09:00:00Z", "workstream": "SMS",
                                   "queue": "Texts"}  # fmt: skip
    assert fields(floor, "case-open") == {"id": "case-open", "channel": "case", "state": "active",
                                          "modified_on": "2026-11-25T16:00:00Z", "record_id": "R7"}  # fmt: skip
    assert states(floor)["c2"] == ("open", datetime(2026, 11, 25, 11, 59, tzinfo=UTC))  # state defaults to open


def test_several_files_are_one_import(cli, floor: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = tmp_path / "page-1.json"
    first.write_text(json.dumps([conv("p1", "chat", "open", 1), conv("chat-due", "chat", "active", 2)]))
    second = tmp_path / "page-2.csv"
    second.write_text("id,channel,state,modified_on\np2,voice,active,2026-11-25T11:00:00Z\n")
    result = cli("conversations", "import", str(first), str(second), "--now", T)
    assert (result.exit_code, result.stdout) == (0, ""), result.stderr
    assert result.stderr == "imported 3 conversation(s): 2 added, 1 updated, 0 unchanged\n"
    assert {k: states(floor)[k][0] for k in ("p1", "p2", "chat-due")} == {
        "p1": "open", "p2": "active", "chat-due": "active",
    }  # fmt: skip
    [record] = history(floor)  # one import, one record
    assert record.kind is Action.IMPORT and record.detail is not None
    assert (record.detail["source"], record.detail["added"], record.detail["updated"]) == (
        f"{first}, {second}", 2, 1,
    )  # fmt: skip


def test_an_id_in_two_files_rejects_the_import(cli, floor: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = tmp_path / "a.json"
    first.write_text(json.dumps([conv("p1", "chat", "open", 1)]))
    second = tmp_path / "b.json"
    second.write_text(json.dumps([conv("p1", "chat", "open", 2)]))
    before = snapshot(floor)
    assert fail(cli("conversations", "import", str(first), str(second))) == (
        f"ocac: error: {second}: id 'p1' is also in {first}: an id may appear once"
    )
    assert snapshot(floor) == before


def test_format_overrides_the_extension(cli, floor: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "export.txt"
    source.write_text("id,channel,state,modified_on\nx1,teams,open,2026-11-25T11:00:00Z\n")
    before = snapshot(floor)
    assert "not valid JSON" in fail(cli("conversations", "import", str(source)))  # auto: not .csv, so JSON
    assert fail(cli("conversations", "import", "--format", "json", str(source))).startswith(f"ocac: error: {source}")
    assert snapshot(floor) == before
    result = cli("conversations", "import", "--format", "csv", str(source), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == counts(added=1, written=True)
    assert states(floor)["x1"] == ("open", datetime(2026, 11, 25, 11, tzinfo=UTC))


def test_an_unknown_format_is_a_usage_error(cli, floor: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "in.json"
    source.write_text(json.dumps([conv("x1", "chat", "open", 1)]))
    before = snapshot(floor)
    result = cli("conversations", "import", "--format", "xml", str(source))
    assert (result.exit_code, result.stdout) == (2, "")
    assert snapshot(floor) == before


def test_dry_run_reports_the_counts_and_writes_nothing(cli, floor: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "in.json"
    source.write_text(json.dumps({
        "conversations": [conv("chat-due", "chat", "active", 1), conv("new", "voice", "open", 2),
                          conv("chat-soon", "chat", "open", 10)],
        "deleted_records": ["R1"],
    }))  # fmt: skip
    before = snapshot(floor)
    text = cli("conversations", "import", str(source), "--dry-run")
    assert (text.exit_code, text.stdout) == (0, ""), text.stderr
    assert text.stderr == (
        "would import 3 conversation(s): 1 added, 1 updated, 1 unchanged; 1 linked record(s) newly marked deleted; "
        "nothing written (dry run)\n"
    )
    as_json = cli("conversations", "import", str(source), "--dry-run", "--json")
    assert json.loads(as_json.stdout) == counts(added=1, updated=1, unchanged=1, records_deleted=1, dry_run=True)
    replacing = cli("conversations", "import", str(source), "--dry-run", "--replace")
    assert replacing.stderr == (
        "would import 3 conversation(s) (replacing the store's conversations): 1 added, 1 updated, 1 unchanged, "
        "7 removed; 1 linked record(s) newly marked deleted; nothing written (dry run)\n"
    )
    assert snapshot(floor) == before
    assert not trail_path(floor).exists()


def test_dry_run_into_a_missing_store_creates_nothing(cli, store_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "in.json"
    source.write_text(json.dumps([conv("x", "chat", "open", 1)]))
    result = cli("conversations", "import", str(source), "--dry-run", "--json")
    assert json.loads(result.stdout) == counts(added=1, dry_run=True)
    assert not store_path.exists() and not trail_path(store_path).exists()


@pytest.mark.parametrize(
    ("name", "content", "fragments"),
    [
        (
            "bad.json",
            json.dumps([conv("ok1", "chat", "open", 1), conv("bad", "fax", "open", 1)]),
            ["bad.json", "row 2", "channel", "'fax'"],
        ),
        (
            "bad.json",
            json.dumps(
                [
                    conv("ok1", "chat", "open", 1),
                    {**conv("bad", "chat", "open", 1), "modified_on": "2026-11-25T11:00:00"},
                ]
            ),
            ["row 2", "modified_on", "no offset"],
        ),
        (
            "bad.json",
            json.dumps([conv("ok1", "chat", "open", 1), {"id": "m", "channel": "chat"}]),
            ["row 2", "modified_on"],
        ),
        ("bad.json", json.dumps([conv("w", "chat", "waiting", 1)]), ["row 1", "state", "cannot be waiting"]),
        (
            "bad.json",
            json.dumps([conv("d", "chat", "open", 1), conv("d", "chat", "open", 2)]),
            ["row 2", "duplicate id 'd'"],
        ),
        ("bad.json", '[{"id": "x",', ["bad.json", "not valid JSON"]),
        ("bad.json", json.dumps({"items": []}), ["bad.json", "conversations"]),
        (
            "bad.csv",
            "id,channel,state,modified_on\nok,chat,open,2026-11-25T11:00:00Z\nb,chat,open,yesterday\n",
            ["bad.csv", "line 3", "modified_on", "'yesterday'"],
        ),
        (
            "bad.csv",
            "id,channel,state,modified_on\nok,chat,open,2026-11-25T11:00:00Z\nb,teams,later,2026-11-25T11:00:00Z\n",
            ["line 3", "unknown state 'later'"],
        ),
        ("bad.csv", "id,channel,modified_on\nb,chat,2026-11-25T11:00:00Z,extra\n", ["line 2", "more values"]),
        ("bad.csv", "", ["bad.csv", "empty CSV"]),
    ],
    ids=[
        "channel",
        "offset",
        "missing",
        "waiting",
        "duplicate",
        "json",
        "shape",
        "csv time",
        "csv state",
        "csv width",
        "csv empty",
    ],
)
def test_import_is_all_or_nothing(
    cli,
    floor: Path,
    tmp_path: Path,
    name: str,
    content: str,  # type: ignore[no-untyped-def]
    fragments: list[str],
) -> None:
    source = tmp_path / name
    source.write_text(content, encoding="utf-8")
    good = tmp_path / "good.json"
    good.write_text(json.dumps([conv("fine", "chat", "open", 1)]))
    before = snapshot(floor)
    for extra in ((), ("--replace",), ("--dry-run",)):
        message = fail(cli("conversations", "import", str(good), str(source), *extra))
        for fragment in fragments:
            assert fragment in message, (fragment, message)
    assert snapshot(floor) == before
    assert not trail_path(floor).exists()


def test_import_missing_file(cli, floor: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "none.json"
    assert fail(cli("conversations", "import", str(missing))) == f"ocac: error: import file {missing} does not exist"


def test_import_replace(cli, floor: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "in.json"
    source.write_text(json.dumps([conv("chat-due", "chat", "active", 1), conv("r2", "voice", "open", 2)]))
    result = cli("conversations", "import", str(source), "--replace", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == counts(added=1, updated=1, removed=8, written=True, replaced=True)
    assert states(floor) == {
        "chat-due": ("active", NOW - timedelta(minutes=1)), "r2": ("open", NOW - timedelta(minutes=2)),
    }  # fmt: skip
    assert "queue" not in fields(floor, "chat-due")  # replaced whole


def test_import_replace_text_says_what_was_removed(cli, floor: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "in.json"
    source.write_text(json.dumps([conv("chat-soon", "chat", "open", 10)]))
    result = cli("conversations", "import", str(source), "--replace")
    assert (result.exit_code, result.stdout) == (0, ""), result.stderr
    assert result.stderr == (
        "imported 1 conversation(s) (replacing the store's conversations): 0 added, 0 updated, 1 unchanged, 8 removed\n"
    )
    assert list(states(floor)) == ["chat-soon"]


def test_importing_what_is_already_stored_changes_nothing_and_does_not_rewrite(cli, sample_store: Path) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(sample_store)
    first = cli("conversations", "import", str(sample_store), "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == counts(unchanged=300)
    assert snapshot(sample_store) == before
    assert not trail_path(sample_store).exists()  # nothing changed: nothing to record


def test_importing_the_sample_store_brings_its_deleted_records(cli, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    from conftest import SAMPLE, SAMPLE_NOW

    result = cli("--config", str(SAMPLE / "config.toml"), "conversations", "import", str(SAMPLE / "conversations.json"))
    assert result.exit_code == 0, result.output
    sample = json.loads((SAMPLE / "conversations.json").read_text())
    assert deleted_records(store_path) == sorted(sample["deleted_records"])
    sweep = cli("--config", str(SAMPLE / "config.toml"), "sweep", "run", "--dry-run", "--now", SAMPLE_NOW, "--json")
    assert json.loads(sweep.stdout)["moved"] == 69  # the two record-deleted case conversations included


# --- touch ----------------------------------------------------------------------------------------------


def test_touch_restarts_the_clock(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("conversations", "touch", "chat-due", "--action", "Transfer", "--now", "2026-11-25T12:55:00+01:00")
    assert (result.exit_code, result.stdout) == (0, ""), result.stderr
    assert result.stderr == "transfer: chat-due: clock restarted\n"
    assert states(floor)["chat-due"] == ("open", datetime(2026, 11, 25, 11, 55, tzinfo=UTC))
    assert "chat-due" not in ids(listed(cli, "--due"))
    assert (fields(floor, "chat-due")["queue"], fields(floor, "chat-due")["score"]) == ("Web", 1.5)
    [record] = history(floor)
    assert (record.kind, record.id, record.from_state, record.to_state, record.detail) == (
        Action.TOUCH, "chat-due", "open", "open", {"activity": "transfer"},
    )  # fmt: skip


def test_touch_takes_a_unique_start_of_an_id(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("conversations", "touch", "voice", "--now", T)
    assert result.stderr == "message: voice-act: clock restarted\n"
    assert states(floor)["voice-act"] == ("active", NOW)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope",), "no conversation 'nope' in {store}: see 'ocac conversations list'"),
        (
            ("chat",),
            "'chat' is the start of several conversation ids (chat-active, chat-due, chat-soon): give more of the id",
        ),
        (("closed",), "conversation 'closed' is closed: closed is final"),
        (("chat-due", "--action", "poke"), "unknown --action 'poke': use one of monitor, consult, transfer, message"),
    ],
)
def test_touch_refuses(cli, floor: Path, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(floor)
    assert fail(cli("conversations", "touch", *args, "--now", T)) == "ocac: error: " + message.format(store=floor)
    assert snapshot(floor) == before


def test_touch_refuses_a_bad_now(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(floor)
    assert "invalid --now 'noon'" in fail(cli("conversations", "touch", "chat-due", "--now", "noon"))
    assert snapshot(floor) == before


@pytest.mark.parametrize("command", [("touch", "chat-due"), ("set-state", "chat-due", "active")])
def test_a_now_before_the_last_change_is_refused_unless_forced(cli, floor: Path, command: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(floor)
    assert fail(cli("conversations", *command, "--now", "2026-11-25T12:29:59+01:00")) == (
        "ocac: error: --now 2026-11-25T11:29:59Z is before conversation 'chat-due' last changed "
        "(2026-11-25T11:30:00Z): the clock would run backwards; add --force to do it anyway"
    )
    assert snapshot(floor) == before
    assert not trail_path(floor).exists()
    forced = cli("conversations", *command, "--now", "2026-11-25T11:00:00Z", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert states(floor)["chat-due"] == (command[-1] if command[0] == "set-state" else "open",
                                         datetime(2026, 11, 25, 11, tzinfo=UTC))  # fmt: skip
    assert [r.id for r in history(floor)] == ["chat-due"]


@pytest.mark.parametrize("command", [("touch", "chat-due"), ("set-state", "chat-due", "active")])
def test_a_now_equal_to_the_last_change_is_accepted(cli, floor: Path, command: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    result = cli("conversations", *command, "--now", "2026-11-25T11:30:00Z")
    assert result.exit_code == 0, result.stderr
    assert states(floor)["chat-due"][1] == datetime(2026, 11, 25, 11, 30, tzinfo=UTC)


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
    assert (result.exit_code, result.stdout) == (0, ""), result.stderr
    assert result.stderr == f"t: now {target}\n"
    assert states(store_path) == {"t": (target, NOW)}
    assert fields(store_path, "t")["note"] == "kept"
    [record] = history(store_path, HistoryQuery(actions=frozenset({Action.SET_STATE})))
    assert (record.id, record.channel, record.from_state, record.to_state, record.at) == (
        "t", "teams", source, target, NOW,
    )  # fmt: skip


REFUSED = [
    ("open", "wrap-up"),
    ("open", "waiting"),
    ("open", "open"),
    ("wrap-up", "open"),
    ("wrap-up", "active"),
    ("waiting", "wrap-up"),
    ("closed", "open"),
    ("closed", "active"),
    ("active", "active"),
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
    message = fail(cli("conversations", "set-state", "x", "waiting", "--now", T))
    assert f"{channel} conversations cannot be waiting" in message
    assert snapshot(store_path) == before


def test_set_state_takes_a_unique_start_of_an_id(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("conversations", "set-state", "teams", "closed", "--now", T)
    assert (result.exit_code, result.stderr) == (0, "teams-open: now closed\n")
    assert states(floor)["teams-open"] == ("closed", NOW)


def test_set_state_unknown(cli, floor: Path) -> None:  # type: ignore[no-untyped-def]
    assert fail(cli("conversations", "set-state", "nope", "closed", "--now", T)) == (
        f"ocac: error: no conversation 'nope' in {floor}: see 'ocac conversations list'"
    )
    assert "unknown state 'shut'" in fail(cli("conversations", "set-state", "chat-due", "shut", "--now", T))
    assert "'chat' is the start of several conversation ids" in fail(
        cli("conversations", "set-state", "chat", "closed", "--now", T)
    )
