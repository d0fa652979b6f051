"""The configuration file: validation with errors that name the file and key, and comment-keeping edits."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLE
from ocac.config import (
    KEEP,
    Cell,
    edit_config,
    load_config,
    matrix,
    policy_from_document,
    remove_workstream,
    reset_rules,
    set_rule,
    set_workstream,
    unset_rule,
)
from ocac.durations import MAX_MINUTES
from ocac.errors import ConfigError, FileAccessError, InvalidInput, NotFound, Refused
from ocac.model import RULE_STATES, Channel, State
from ocac.policy import DEFAULT_RULES, Policy, Workstream, rule_is_configurable

DAY = 1440
CONFIGURABLE = [(c, s) for c in Channel for s in RULE_STATES if rule_is_configurable(c, s) is None]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def in_order(wanted: list[str], lines: list[str]) -> bool:
    """Whether `wanted` appears in `lines` in order (other lines may come between)."""
    remaining = iter(lines)
    return all(any(line == w for line in remaining) for w in wanted)


# --- reading -----------------------------------------------------------------------------------


def test_a_missing_file_means_the_defaults(config_path: Path) -> None:
    config_path.unlink()
    loaded = load_config(config_path)
    assert (loaded.path, loaded.exists, loaded.policy) == (config_path, False, Policy())
    assert not config_path.exists()


def test_an_empty_file_means_the_defaults(config_path: Path) -> None:
    loaded = load_config(write(config_path, ""))
    assert loaded.exists and loaded.policy == Policy()


def test_the_sample_config() -> None:
    policy = load_config(SAMPLE / "config.toml").policy
    overrides = {key: rule.minutes for key, rule in policy.rules.items() if rule.source == "config"}
    assert overrides == {(Channel.SMS, State.OPEN): 14 * DAY, (Channel.TEAMS, State.ACTIVE): 7 * DAY}
    assert policy.rules[Channel.SMS, State.OPEN].target is State.CLOSED
    assert dict(policy.workstreams) == {
        "Contoso Web Chat": Workstream("Contoso Web Chat", Channel.CHAT),
        "Contoso Support Line": Workstream("Contoso Support Line", Channel.VOICE, wrap_up_block=90),
        "Contoso Chat": Workstream("Contoso Chat", Channel.PERSISTENT_CHAT, auto_close_after=3 * DAY),
        "Contoso SMS": Workstream("Contoso SMS", Channel.SMS, auto_close_after=2 * DAY),
        "Contoso IT Helpdesk": Workstream("Contoso IT Helpdesk", Channel.TEAMS, auto_close_after=12 * 60),
        "Contoso Social": Workstream("Contoso Social", Channel.SOCIAL),
        "Contoso Case Routing": Workstream("Contoso Case Routing", Channel.CASE),
    }


def test_overrides_keep_the_default_target_and_other_cells() -> None:
    policy = policy_from_document({"rules": {"voice": {"active": "45m", "wrap-up": "never"}, "chat": {"active": 90}}})
    active = policy.rules[Channel.VOICE, State.ACTIVE]
    assert (active.minutes, active.target, active.source) == (45, State.WRAP_UP, "config")
    assert policy.rules[Channel.VOICE, State.WRAP_UP].minutes is None
    assert policy.rules[Channel.CHAT, State.ACTIVE].minutes == 90
    untouched = {k: v for k, v in policy.rules.items() if v.source == "default"}
    assert untouched == {k: v for k, v in DEFAULT_RULES.items() if k not in untouched.keys() ^ DEFAULT_RULES.keys()}
    assert len(untouched) == 18


BAD_DOCUMENTS = [
    ("rule = 1\n", "rule: unknown key: did you mean 'rules'? allowed: rules, workstreams"),
    (
        '[workstream.A]\nchannel = "sms"\n',
        "workstream: unknown key: did you mean 'workstreams'? allowed: rules, workstreams",
    ),
    ('[rules.voice]\nactive = "2x"\n', "rules.voice.active: invalid duration '2x': use minutes (90)"),
    ('[rules.voice]\nactive = "30s"\n', "rules.voice.active: duration '30s' is not a whole number of minutes"),
    ("[rules.voice]\nactive = -5\n", f"rules.voice.active: -5 minutes is out of range (0 to {MAX_MINUTES})"),
    ("[rules.voice]\nactive = true\n", 'rules.voice.active: expected a duration string such as "2h"'),
    ("[rules.voice]\nactive = 1.5\n", 'rules.voice.active: expected a duration string such as "2h"'),
    ('[rules.voicee]\nactive = "2h"\n', "rules.voicee: unknown channel 'voicee': did you mean 'voice'? allowed: chat"),
    ('[rules.Voice]\nactive = "2h"\n', "rules.Voice: unknown channel 'Voice': did you mean 'voice'?"),
    (
        '[rules.voice]\nactiv = "2h"\n',
        "rules.voice.activ: unknown state 'activ': did you mean 'active'? allowed: open, ",
    ),
    ('[rules.sms]\nwaiting = "1h"\n', "rules.sms.waiting: waiting conversations close after their workstream's"),
    ('[rules.chat]\nwaiting = "1h"\n', "rules.chat.waiting: chat conversations never wait"),
    ('[rules.voice]\nclosed = "1h"\n', "rules.voice.closed: closed is final"),
    ('[rules.case]\nopen = "1h"\n', "rules.case.open: case conversations close when their linked record is deleted"),
    ('[rules.case]\nwrap-up = "1h"\n', "rules.case.wrap-up: case conversations close when"),
    ('rules = "2h"\n', "rules: expected a table, found str"),
    ('[rules]\nvoice = "2h"\n', "rules.voice: expected a table, found str"),
    ('[workstreams.A]\nauto_close_after = "1h"\n', "workstreams.A: missing 'channel'"),
    ("[workstreams.A]\nchannel = 5\n", "workstreams.A.channel: expected a channel name"),
    ('[workstreams.A]\nchannel = "smss"\n', "workstreams.A.channel: unknown channel 'smss': did you mean 'sms'?"),
    (
        '[workstreams.A]\nchannel = "chat"\nauto_close_after = "1h"\n',
        "workstreams.A.auto_close_after: 'auto close after inactivity' exists only for persistent-chat, sms, social, "
        "teams workstreams, not for chat: chat conversations never wait",
    ),
    ('[workstreams.A]\nchannel = "voice"\nauto_close_after = "1h"\n', "workstreams.A.auto_close_after: 'auto close"),
    (
        '[workstreams.A]\nchannel = "sms"\nautoclose_after = "1h"\n',
        "workstreams.A.autoclose_after: unknown key: did you mean 'auto_close_after'?",
    ),
    ('[workstreams.A]\nchannel = "sms"\nwrap_up_block = "2x"\n', "workstreams.A.wrap_up_block: invalid duration '2x'"),
    ("workstreams = 3\n", "workstreams: expected a table, found int"),
]


@pytest.mark.parametrize(("text", "problem"), BAD_DOCUMENTS, ids=[p.split(":")[0] for _, p in BAD_DOCUMENTS])
def test_invalid_config_names_the_file_and_the_key(config_path: Path, text: str, problem: str) -> None:
    write(config_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(config_path)
    message = str(caught.value)
    assert message.startswith(f"config {config_path}: {problem}"), message
    assert "\n" not in message


@pytest.mark.parametrize(("text", "problem"), BAD_DOCUMENTS[:6], ids=[p.split(":")[0] for _, p in BAD_DOCUMENTS[:6]])
def test_policy_from_document_raises_config_error_naming_the_key(text: str, problem: str) -> None:
    import tomllib

    with pytest.raises(ConfigError) as caught:
        policy_from_document(tomllib.loads(text))
    assert str(caught.value).startswith(problem)


def test_malformed_toml_is_a_config_error(config_path: Path) -> None:
    write(config_path, '[rules.voice\nactive = "2h"\n')
    with pytest.raises(ConfigError, match=rf"^config {config_path} is not valid TOML \(.*\): fix the file$"):
        load_config(config_path)


def test_non_utf8_is_a_config_error(config_path: Path) -> None:
    config_path.write_bytes(b'[rules.voice]\nactive = "2h" # \xff\n')
    with pytest.raises(ConfigError, match=r"is not UTF-8 text \(byte 30\): fix or remove the file$"):
        load_config(config_path)


def test_a_folder_is_a_file_access_error(tmp_path: Path) -> None:
    with pytest.raises(FileAccessError, match=f"config {tmp_path} is a directory: give the path of a regular file"):
        load_config(tmp_path)


# --- editing -----------------------------------------------------------------------------------

COMMENTED = """\
# my note
[rules.sms]
# why
open = "14d"  # two weeks

[workstreams."Contoso SMS"]
channel = "sms"
"""


def test_set_rule_writes_a_table_and_keeps_comments(config_path: Path) -> None:
    write(config_path, COMMENTED)
    change = edit_config(config_path, set_rule(Channel.VOICE, State.ACTIVE, 90), lock_timeout=5)
    assert change.written
    assert change.before.rules[Channel.VOICE, State.ACTIVE].minutes == 120
    assert change.after.rules[Channel.VOICE, State.ACTIVE].minutes == 90
    text = config_path.read_text()
    assert in_order(COMMENTED.splitlines(), text.splitlines())
    assert tomlkit.parse(text).unwrap()["rules"] == {"sms": {"open": "14d"}, "voice": {"active": "1h30m"}}
    assert load_config(config_path).policy == change.after


def test_set_rule_on_a_missing_file_creates_it(config_path: Path) -> None:
    edit_config(config_path, set_rule(Channel.CHAT, State.ACTIVE, None), lock_timeout=5)
    assert tomlkit.parse(config_path.read_text()).unwrap() == {"rules": {"chat": {"active": "never"}}}


def test_dry_run_writes_nothing(config_path: Path) -> None:
    config_path.unlink()
    change = edit_config(config_path, set_rule(Channel.VOICE, State.ACTIVE, 60), lock_timeout=5, dry_run=True)
    assert not change.written and not config_path.exists()
    assert change.after.rules[Channel.VOICE, State.ACTIVE].minutes == 60
    write(config_path, COMMENTED)
    edit_config(config_path, set_rule(Channel.VOICE, State.ACTIVE, 60), lock_timeout=5, dry_run=True)
    assert config_path.read_text() == COMMENTED


def test_unset_and_reset(config_path: Path) -> None:
    write(config_path, COMMENTED)
    edit_config(config_path, set_rule(Channel.VOICE, State.ACTIVE, 60), lock_timeout=5)
    edit_config(config_path, unset_rule(Channel.VOICE, State.ACTIVE), lock_timeout=5)
    assert "voice" not in tomlkit.parse(config_path.read_text()).unwrap()["rules"]
    unchanged = edit_config(config_path, unset_rule(Channel.VOICE, State.ACTIVE), lock_timeout=5)
    assert not unchanged.written
    edit_config(config_path, reset_rules, lock_timeout=5)
    policy = load_config(config_path).policy
    assert dict(policy.rules) == dict(DEFAULT_RULES)
    assert list(policy.workstreams) == ["Contoso SMS"]


def test_unsetting_the_last_rule_drops_the_tables(config_path: Path) -> None:
    edit_config(config_path, set_rule(Channel.VOICE, State.ACTIVE, 60), lock_timeout=5)
    edit_config(config_path, unset_rule(Channel.VOICE, State.ACTIVE), lock_timeout=5)
    assert tomlkit.parse(config_path.read_text()).unwrap() == {}


@pytest.mark.parametrize(
    ("channel", "state", "problem"),
    [
        (Channel.SMS, State.WAITING, "use 'ocac workstream set NAME --channel CH --auto-close-after DURATION'"),
        (Channel.CHAT, State.WAITING, "chat conversations never wait"),
        (Channel.VOICE, State.CLOSED, "closed is final"),
        (Channel.CASE, State.OPEN, "use 'ocac records delete RECORD_ID'"),
    ],
)
def test_rules_that_cannot_exist_are_refused(channel: Channel, state: State, problem: str) -> None:
    with pytest.raises(Refused, match=rf"^cannot set a rule for {channel}/{state}: .*{problem}"):
        set_rule(channel, state, 60)
    with pytest.raises(Refused):
        unset_rule(channel, state)


@pytest.mark.parametrize(
    "text",
    ['[rules.voice\nactive = "2h"\n', "rules = 1\n", '[rules.voice]\nactive = "2x"\n', "[a]\nb = 1\n[a]\nb = 2\n"],
)
def test_an_invalid_file_is_never_touched_by_edits(config_path: Path, text: str) -> None:
    write(config_path, text)
    before = config_path.read_bytes()
    for mutation in (set_rule(Channel.VOICE, State.ACTIVE, 60), reset_rules, remove_workstream("X")):
        with pytest.raises(ConfigError, match=f"^config {config_path}"):
            edit_config(config_path, mutation, lock_timeout=5)
    assert config_path.read_bytes() == before
    leftovers = {p.name for p in config_path.parent.iterdir()} - {"config.toml", "config.toml.lock"}
    assert not {name for name in leftovers if "config" in name}


def test_an_edit_that_would_make_the_file_invalid_is_not_written(config_path: Path) -> None:
    write(config_path, '[workstreams.A]\nchannel = "chat"\n')
    with pytest.raises(ConfigError, match="workstreams.A.auto_close_after: 'auto close after inactivity'"):
        edit_config(config_path, set_workstream("A", None, 60, KEEP), lock_timeout=5)
    assert config_path.read_text() == '[workstreams.A]\nchannel = "chat"\n'


def test_set_workstream_creates_updates_and_removes(config_path: Path) -> None:
    edit_config(config_path, set_workstream("Contoso SMS", Channel.SMS, 2 * DAY, None), lock_timeout=5)
    assert load_config(config_path).policy.workstreams["Contoso SMS"] == Workstream("Contoso SMS", Channel.SMS, 2 * DAY)
    edit_config(config_path, set_workstream("Contoso SMS", None, KEEP, 90), lock_timeout=5)
    assert load_config(config_path).policy.workstreams["Contoso SMS"] == Workstream(
        "Contoso SMS", Channel.SMS, 2 * DAY, 90
    )
    edit_config(config_path, set_workstream("Contoso SMS", None, None, KEEP), lock_timeout=5)
    assert load_config(config_path).policy.workstreams["Contoso SMS"] == Workstream(
        "Contoso SMS", Channel.SMS, None, 90
    )
    assert tomlkit.parse(config_path.read_text()).unwrap() == {
        "workstreams": {"Contoso SMS": {"channel": "sms", "wrap_up_block": "1h30m"}}
    }
    edit_config(config_path, remove_workstream("Contoso SMS"), lock_timeout=5)
    assert tomlkit.parse(config_path.read_text()).unwrap() == {}


def test_set_workstream_refusals(config_path: Path) -> None:
    config_path.unlink()
    with pytest.raises(Refused, match="exists only for persistent-chat, sms, social, teams workstreams, not for chat"):
        set_workstream("Web", Channel.CHAT, 60, KEEP)
    with pytest.raises(InvalidInput, match="workstream name is empty"):
        set_workstream("  ", Channel.SMS, None, None)
    with pytest.raises(InvalidInput, match="workstream 'New' does not exist: give --channel to create it"):
        edit_config(config_path, set_workstream("New", None, 60, KEEP), lock_timeout=5)
    with pytest.raises(NotFound, match="no workstream named 'New': see 'ocac workstream list'"):
        edit_config(config_path, remove_workstream("New"), lock_timeout=5)
    assert not config_path.exists()


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(CONFIGURABLE), st.one_of(st.none(), st.integers(min_value=0, max_value=MAX_MINUTES)))
def test_what_is_set_is_what_is_loaded(cell: tuple[Channel, State], minutes: int | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        write(path, COMMENTED)
        edit_config(path, set_rule(*cell, minutes), lock_timeout=5)
        rule = load_config(path).policy.rules[cell]
        assert (rule.minutes, rule.source) == (minutes, "config")
        lines = path.read_text().splitlines()
        assert in_order([line for line in COMMENTED.splitlines() if not line.startswith("open")], lines)
        assert any(line.startswith("open = ") and line.endswith("  # two weeks") for line in lines)


def test_matrix_lists_every_cell_in_order() -> None:
    cells = matrix(load_config(SAMPLE / "config.toml").policy)
    assert [(c.channel, c.state) for c in cells] == [(c, s) for c in Channel for s in RULE_STATES]
    assert Cell(Channel.SMS, State.OPEN, 14 * DAY, State.CLOSED, "config") in cells
    assert cells[4].to_json() == {
        "channel": "voice", "network": None, "state": "active", "minutes": 120, "duration": "2h", "target": "wrap-up",
        "source": "default",
    }  # fmt: skip


def test_changing_a_workstream_to_a_channel_that_cannot_wait_says_how_to_fix(cli: Any, config_path: Path) -> None:
    """The refusal blamed the file ('config …: workstreams.X.auto_close_after: …'), though the file is fine."""
    created = cli("workstream", "set", "X", "--channel", "sms", "--auto-close-after", "2d")
    assert created.exit_code == 0, created.stderr
    before = config_path.read_text()
    result = cli("workstream", "set", "X", "--channel", "chat")
    assert result.exit_code == 2
    assert result.stderr == (
        "ocac: error: workstream 'X' closes waiting conversations after 2d, which chat workstreams cannot: "
        "add --auto-close-after never to drop that\n"
    )
    assert config_path.read_text() == before
    both = cli("workstream", "set", "X", "--channel", "chat", "--auto-close-after", "never")
    assert both.exit_code == 0, both.stderr
    stream = load_config(config_path).policy.workstreams["X"]
    assert (stream.channel, stream.auto_close_after) == ("chat", None)


def test_a_workstream_whose_auto_close_is_never_can_change_to_any_channel(cli: Any, config_path: Path) -> None:
    config_path.write_text('[workstreams.X]\nchannel = "sms"\nauto_close_after = "never"\n')
    result = cli("workstream", "set", "X", "--channel", "voice")
    assert result.exit_code == 0, result.stderr
    assert load_config(config_path).policy.workstreams["X"].channel == "voice"


def test_a_network_has_rules_of_its_own_and_a_workstream_an_id(config_path: Path) -> None:
    config_path.write_text(
        '[rules.whatsapp]\nopen = "7d"\n[rules.social]\nopen = "10d"\n'
        '[workstreams.W]\nchannel = "sms"\nid = "{0F9E8D7C-6B5A-4C3D-8E2F-1A0B9C8D7E62}"\n'
    )
    policy = load_config(config_path).policy
    assert policy.rule(Channel.SOCIAL, State.OPEN, "whatsapp").minutes == 7 * 1440  # type: ignore[union-attr]
    assert policy.rule(Channel.SOCIAL, State.OPEN, "facebook").minutes == 10 * 1440  # type: ignore[union-attr]
    assert policy.workstreams["W"].id == "0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e62"  # stored as the service writes it
    rows = [(c.name, str(c.state), c.minutes) for c in matrix(policy) if c.channel is Channel.SOCIAL]
    assert rows[:2] == [("social", "open", 10 * 1440), ("social/whatsapp", "open", 7 * 1440)]
    assert len(rows) == 4  # the seed's one social row per state, and the one network that differs


def test_a_networks_rule_is_set_and_unset_by_its_name(config_path: Path) -> None:
    edit_config(config_path, set_rule(Channel.SOCIAL, State.OPEN, 10080, "whatsapp"), lock_timeout=5)
    assert config_path.read_text() == '[rules.whatsapp]\nopen = "7d"\n'
    edit_config(config_path, unset_rule(Channel.SOCIAL, State.OPEN, "whatsapp"), lock_timeout=5)
    assert config_path.read_text() == ""


def test_an_unknown_channel_or_network_in_the_rules_names_the_key(config_path: Path) -> None:
    config_path.write_text('[rules.whatsap]\nopen = "7d"\n')
    with pytest.raises(ConfigError, match=r"rules\.whatsap: unknown channel 'whatsap': did you mean 'whatsapp'\?"):
        load_config(config_path)
