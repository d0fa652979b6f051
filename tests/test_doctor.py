"""`ocac doctor`: each kind of surprise is found, named, and turned into exit 7; a healthy setup is exit 0."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ocac.audit import Audit
from ocac.doctor import examine
from ocac.model import Channel, Conversation, State
from ocac.policy import Policy, Workstream
from ocac.store import Dump, Incoming, open_store

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
GUID = "0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e62"


def store_with(path: Path, *conversations: Conversation, swept_at: datetime | None = NOW) -> Any:
    store = open_store(str(path), 1)
    store.fill(Dump([Incoming(c) for c in conversations], [], [], None), replace=False, progress=lambda n: None)
    if swept_at is not None:
        store.sweep(Policy(), Audit("sweep", swept_at, "x"))
    return open_store(str(path), 1)


def conv(cid: str, channel: Channel = Channel.SMS, **fields: Any) -> Conversation:
    return Conversation(cid, channel, State.OPEN, NOW - timedelta(minutes=1), **fields)


def test_a_healthy_store_has_nothing_to_report(tmp_path: Path) -> None:
    policy = Policy(workstreams={"SMS": Workstream("SMS", Channel.SMS, 60, None, GUID)})
    store = store_with(tmp_path / "s.json", conv("a", workstream="SMS"), conv("b", workstream=GUID))
    assert examine(store, policy, NOW + timedelta(minutes=5)) == []


def test_each_surprise_is_found(tmp_path: Path) -> None:
    policy = Policy(workstreams={
        "SMS": Workstream("SMS", Channel.SMS, 60),
        "Chat": Workstream("Chat", Channel.CHAT, None, 30),  # chat wrap-up closes after 15m: the block applies
        "Cases": Workstream("Cases", Channel.CASE, None, 30),  # case wrap-up never closes: no effect
    })  # fmt: skip
    store = store_with(
        tmp_path / "s.json",
        conv("a", workstream="Nowhere"),
        conv("b", workstream=GUID),
        conv("c", Channel.TEAMS, workstream="SMS"),
        Conversation("d", Channel.CHAT, State.OPEN, NOW + timedelta(hours=1)),
        swept_at=NOW - timedelta(hours=2),
    )
    findings = examine(store, policy, NOW)
    checks = [f.check for f in findings]
    assert checks == ["workstream", "workstream", "workstream", "wrap-up-block", "future", "sweep"]
    text = "\n".join(f.message for f in findings)
    assert f"name workstream {GUID} by its id" in text and "--id" in text
    assert "'Nowhere', which the configuration lacks" in text
    assert "workstream 'SMS' is a sms workstream, but 1 of its conversations are teams" in text
    assert "'Cases' has a wrap-up block of 30m, but case wrap-up conversations never close" in text
    assert "1 conversation(s) were last changed after now" in text
    assert "the last sweep was 2h ago" in text


def test_a_store_never_swept_is_reported(tmp_path: Path) -> None:
    """(A store the user cannot write: tests/reliability/test_files.py, as an unprivileged user.)"""
    store = store_with(tmp_path / "s.json", conv("a"), swept_at=None)
    assert [f.check for f in examine(store, Policy(), NOW)] == ["sweep"]


def test_doctor_exits_7_with_each_finding_and_0_when_clean(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    store_with(path, conv("a", workstream="Nowhere"))
    found = cli("--store", str(path), "doctor", "--now", "2026-11-25T12:05:00Z")
    assert found.exit_code == 7
    assert found.stdout.startswith("workstream: 1 conversation(s) name workstream 'Nowhere'")
    assert found.stderr == "ocac: error: doctor found 1 thing(s) to look at\n"
    as_json = cli("--store", str(path), "doctor", "--json", "--now", "2026-11-25T12:05:00Z")
    assert as_json.exit_code == 7 and json.loads(as_json.stdout)["findings"][0]["check"] == "workstream"
    config = tmp_path / "with-stream.toml"
    config.write_text('[workstreams.Nowhere]\nchannel = "sms"\n')
    clean = cli("--store", str(path), "--config", str(config), "doctor", "--now", "2026-11-25T12:05:00Z")
    assert (clean.exit_code, clean.stderr) == (0, "")
    assert clean.stdout.startswith("ok: nothing to report")
