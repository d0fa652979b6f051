"""`ocac status`: counts by channel and state, what is due, the oldest open conversations, the last sweep,
the configuration used, and `--check` for monitoring."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLE_NOW

from ._support import fail, last_sweep, words

T = "2026-11-25T12:00:00Z"


def conv(cid: str, channel: str, state: str, modified_on: str) -> dict[str, object]:
    return {"id": cid, "channel": channel, "state": state, "modified_on": modified_on}


@pytest.fixture
def small(store_path: Path) -> Path:
    store_path.write_text(json.dumps({"conversations": [
        conv("c1", "chat", "open", "2026-11-25T11:30:00Z"),    # due now
        conv("c2", "chat", "open", "2026-11-25T11:42:00Z"),    # due at 12:02
        conv("c3", "chat", "closed", "2026-01-01T00:00:00Z"),  # closed: counted, never oldest
        conv("v1", "voice", "active", "2026-11-25T11:00:00+01:00"),  # 10:00Z, due at 12:00: not yet
        conv("s1", "sms", "waiting", "2026-11-20T00:00:00Z"),  # no workstream: never
    ]}))  # fmt: skip
    return store_path


def status_json(cli: Any, *args: str, now: str = T) -> dict[str, Any]:
    result = cli("status", "--json", "--now", now, *args)
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def sweep(cli: Any, now: str) -> str:
    """Sweep at `now`; the run id."""
    result = cli("sweep", "run", "--json", "--now", now)
    assert result.exit_code == 0, result.stderr
    run_id: str = json.loads(result.stdout)["run_id"]
    return run_id


def test_json(cli, small: Path, config_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert status_json(cli) == {
        "now": T,
        "config": str(config_path),
        "counts": {"chat": {"open": 2, "closed": 1}, "voice": {"active": 1}, "sms": {"waiting": 1}},
        "due_now": 1,
        "due_next_sweep": 3,
        "interval_minutes": 5,
        "oldest_open": {
            "chat": {"id": "c1", "idle_minutes": 30},
            "sms": {"id": "s1", "idle_minutes": 7920},
            "voice": {"id": "v1", "idle_minutes": 120},
        },
        "last_sweep": None,
    }


def test_json_names_no_config_when_the_built_in_rules_apply(cli, small: Path, no_config: Path) -> None:  # type: ignore[no-untyped-def]
    assert status_json(cli)["config"] is None


def test_json_interval_and_last_sweep(cli, small: Path) -> None:  # type: ignore[no-untyped-def]
    assert status_json(cli, "--interval", "1h")["due_next_sweep"] == 3
    assert status_json(cli, "--interval", "1m")["due_next_sweep"] == 2
    run_id = sweep(cli, T)
    document = status_json(cli, now="2026-11-25T12:03:30Z")
    assert document["last_sweep"] == {"run_id": run_id, "at": T, "moved": 1, "age_minutes": 3}
    assert document["counts"]["chat"] == {"open": 1, "closed": 2}
    assert document["due_now"] == 2  # c2 since 12:02, v1 since 12:00


@pytest.mark.parametrize("interval", ["0", "never", "soon"])
def test_bad_interval_exits_2(cli, small: Path, interval: str) -> None:  # type: ignore[no-untyped-def]
    assert fail(cli("status", "--interval", interval, "--now", T)).startswith("ocac: error: ")


def test_text(cli, small: Path, config_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("status", "--now", T)
    assert (result.exit_code, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert words("\n".join(lines[:10])) == [
        ["status", "at", T],
        ["channel", "open", "active", "waiting", "wrap-up", "closed", "total"],
        [lines[2].strip()],  # the rule under the heading
        ["chat", "2", "-", "-", "-", "1", "3"],
        ["voice", "-", "1", "-", "-", "-", "1"],
        ["sms", "-", "-", "1", "-", "-", "1"],
        ["teams", "-", "-", "-", "-", "-", "0"],
        ["persistent-chat", "-", "-", "-", "-", "-", "0"],
        ["social", "-", "-", "-", "-", "-", "0"],
        ["case", "-", "-", "-", "-", "-", "0"],
    ]
    assert lines[10:] == [
        "due now: 1; due by the next sweep (+5m): 3",
        "oldest open chat: c1 (idle 30m)",
        "oldest open sms: s1 (idle 5d 12h)",
        "oldest open voice: v1 (idle 2h)",
        "last sweep: none recorded in this store",
        f"config: {config_path}",
    ]


def test_text_names_the_last_sweep_and_its_age(cli, small: Path) -> None:  # type: ignore[no-untyped-def]
    run_id = sweep(cli, T)
    result = cli("status", "--now", "2026-11-25T12:03:00Z")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-2] == f"last sweep: 3m ago ({T}), moved 1 (run {run_id})"


def test_text_with_the_built_in_rules(cli, small: Path, no_config: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("status", "--now", T)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == ["last sweep: none recorded in this store", "config: built-in defaults"]


def test_text_fits_80_columns(cli, sample_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "80")
    assert cli("sweep", "run", "-q", "--now", SAMPLE_NOW).exit_code == 0
    sweep = last_sweep(sample_store)
    assert sweep is not None
    result = cli("status", "--now", "2026-11-25T12:03:00Z")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    table = lines[: lines.index(next(line for line in lines if line.startswith("due now:")))]
    assert len(table) == 10
    assert [line for line in table if len(line) > 80] == []  # the table fits…
    assert any(line.split()[:1] == ["persistent-chat"] for line in table)
    # …and a line of text is never folded by ocac (the terminal wraps it; a copy keeps it whole)
    assert f"last sweep: 3m ago (2026-11-25T12:00:00Z), moved 69 (run {sweep.run_id})" in lines


def test_empty_store(cli, store_path: Path) -> None:  # type: ignore[no-untyped-def]
    document = status_json(cli)
    assert (document["counts"], document["due_now"], document["oldest_open"], document["last_sweep"]) == (
        {}, 0, {}, None,
    )  # fmt: skip
    assert not store_path.exists()


def test_a_named_config_that_does_not_exist_is_refused(cli, small: Path, config_path: Path) -> None:  # type: ignore[no-untyped-def]
    config_path.unlink()
    assert fail(cli("status", "--now", T)) == (
        f"ocac: error: config {config_path} does not exist: check --config (or OCAC_CONFIG); "
        "'ocac config set' creates the file"
    )


# --- status --check ----------------------------------------------------------------------------------------


def test_check_without_any_sweep_fails_with_7(cli, small: Path) -> None:  # type: ignore[no-untyped-def]
    assert fail(cli("status", "--check", "--now", T), 7) == (
        "ocac: error: no sweep recorded in this store: is the sweep scheduled (cron, systemd timer)?"
    )


@pytest.mark.parametrize(("now", "age"), [(T, "0m"), ("2026-11-25T12:03:59Z", "3m"), ("2026-11-25T12:15:00Z", "15m")])
def test_check_passes_while_the_last_sweep_is_recent_enough(cli, small: Path, now: str, age: str) -> None:  # type: ignore[no-untyped-def]
    sweep(cli, T)
    result = cli("status", "--check", "--now", now)
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"ok: last sweep {age} ago\n", "")


def test_check_fails_with_7_when_the_last_sweep_is_too_old(cli, small: Path) -> None:  # type: ignore[no-untyped-def]
    sweep(cli, T)
    assert fail(cli("status", "--check", "--now", "2026-11-25T12:16:00Z", "--max-sweep-age", "15m"), 7) == (
        "ocac: error: the last sweep was 16m ago (at 2026-11-25T12:00:00Z), more than 15m: "
        "is the sweep still scheduled?"
    )
    assert fail(cli("status", "--check", "--now", "2026-11-25T14:00:00Z", "--max-sweep-age", "1h"), 7) == (
        "ocac: error: the last sweep was 2h ago (at 2026-11-25T12:00:00Z), more than 1h: is the sweep still scheduled?"
    )
    ok = cli("status", "--check", "--now", "2026-11-25T14:00:00Z", "--max-sweep-age", "2h")
    assert (ok.exit_code, ok.stdout) == (0, "ok: last sweep 2h ago\n")


def test_check_json_says_whether_healthy(cli, small: Path, config_path: Path) -> None:  # type: ignore[no-untyped-def]
    run_id = sweep(cli, T)
    healthy = cli("status", "--check", "--json", "--now", "2026-11-25T12:10:00Z")
    assert (healthy.exit_code, healthy.stderr) == (0, "")
    document = json.loads(healthy.stdout)
    assert (document["healthy"], document["max_sweep_age_minutes"], document["config"]) == (True, 15, str(config_path))
    assert document["last_sweep"] == {"run_id": run_id, "at": T, "moved": 1, "age_minutes": 10}
    stale = cli("status", "--check", "--json", "--now", "2026-11-25T13:00:00Z")
    assert stale.exit_code == 7
    assert (json.loads(stale.stdout)["healthy"], json.loads(stale.stdout)["last_sweep"]["age_minutes"]) == (False, 60)
    assert len(stale.stderr.splitlines()) == 1 and stale.stderr.startswith("ocac: error: the last sweep was 1h ago")


def test_check_passes_after_a_sweep_that_moved_nothing(cli, store_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "in.json"
    source.write_text(json.dumps([conv("quiet", "chat", "open", "2026-11-25T11:55:00Z")]))
    assert cli("conversations", "import", str(source), "--now", T).exit_code == 0
    assert json.loads(cli("sweep", "run", "--json", "--now", T).stdout)["moved"] == 0
    result = cli("status", "--check", "--now", "2026-11-25T12:01:00Z")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "ok: last sweep 1m ago\n", "")
    sweep_ = last_sweep(store_url)
    assert sweep_ is not None and sweep_.moved == 0


@pytest.mark.parametrize("age", ["never", "soon", "0x"])
def test_check_refuses_a_bad_max_sweep_age(cli, small: Path, age: str) -> None:  # type: ignore[no-untyped-def]
    assert fail(cli("status", "--check", "--max-sweep-age", age, "--now", T)).startswith("ocac: error: ")
