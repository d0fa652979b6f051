"""The channel-state configuration file: TOML holding rule overrides and workstreams.

Reading uses the standard library's parser; editing goes through tomlkit so that the user's
comments and layout survive, and always validates the whole document before it is written.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Mapping
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from ocac import fsutil
from ocac.durations import ACCEPTED, MAX_MINUTES, format_minutes, parse_minutes
from ocac.errors import ConfigError, InvalidInput, NotFound, Refused
from ocac.model import NETWORKS, RULE_STATES, Channel, State, workstream_key
from ocac.paths import ENV_CONFIG
from ocac.policy import DEFAULT_RULES, Policy, Rule, Workstream, rule_is_configurable, workstream_problem

if TYPE_CHECKING:
    from tomlkit import TOMLDocument

TOP_KEYS = ("rules", "workstreams", "dataverse")
WORKSTREAM_KEYS = ("channel", "id", "auto_close_after", "wrap_up_block")
DATAVERSE_KEYS = ("state_records",)
STATE_RECORD_KEYS = ("id", "channel_configuration", "name")

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_guid(text: str) -> bool:
    """Whether `text` is a GUID as ocac stores one: lower case, without braces."""
    return _GUID.fullmatch(text) is not None


class _Invalid(ConfigError):
    """A problem at a dotted key of the document; `load_config` adds the file's path."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")


def _suggest(word: str, allowed: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, allowed, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"{hint}allowed: {', '.join(allowed)}"


def _table(value: object, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _Invalid(key, f"expected a table, found {type(value).__name__}")
    return value


def _duration(value: object, key: str) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _Invalid(key, f'expected a duration string such as "2h" ({ACCEPTED})')
    if isinstance(value, int):
        if not 0 <= value <= MAX_MINUTES:
            raise _Invalid(key, f"{value} minutes is out of range (0 to {MAX_MINUTES})")
        return value
    try:
        return parse_minutes(value)
    except InvalidInput as error:
        raise _Invalid(key, str(error)) from None


def _channel(name: str, key: str) -> Channel:
    try:
        return Channel(name)
    except ValueError:
        raise _Invalid(key, f"unknown channel '{name}': {_suggest(name, list(Channel))}") from None


def policy_from_document(document: Mapping[str, Any]) -> Policy:
    """Validate a parsed configuration and build the effective policy from it."""
    for key in document:
        if key not in TOP_KEYS:
            raise _Invalid(key, f"unknown key: {_suggest(key, TOP_KEYS)}")
    state_records_from_document(document)
    rules = dict(DEFAULT_RULES)
    network_rules: dict[tuple[str, State], Rule] = {}
    for name, cells in _table(document.get("rules", {}), "rules").items():
        channel, network = _target(name, f"rules.{name}")
        for state_name, value in _table(cells, f"rules.{name}").items():
            key = f"rules.{name}.{state_name}"
            state = _rule_state(channel, state_name, key)
            default = DEFAULT_RULES[channel, state]
            rule = Rule(channel, state, _duration(value, key), default.target, "config", network)
            if network is None:
                rules[channel, state] = rule
            else:
                network_rules[network, state] = rule
    workstreams = {
        name: _workstream(name, _table(body, f"workstreams.{name}"))
        for name, body in _table(document.get("workstreams", {}), "workstreams").items()
    }
    return Policy(rules, workstreams, network_rules)


def _target(name: str, key: str) -> tuple[Channel, str | None]:
    """A rules table's name: a channel, or a network of one (`whatsapp`)."""
    if name in NETWORKS:
        return NETWORKS[name], name
    try:
        return Channel(name), None
    except ValueError:
        allowed = [*Channel, *NETWORKS]
        raise _Invalid(key, f"unknown channel '{name}': {_suggest(name, allowed)}") from None


def _rule_state(channel: Channel, name: str, key: str) -> State:
    names = [str(s) for s in RULE_STATES]
    try:
        state = State(name)
    except ValueError:
        raise _Invalid(key, f"unknown state '{name}': {_suggest(name, names)}") from None
    problem = rule_is_configurable(channel, state)
    if problem:
        raise _Invalid(key, problem)
    return state


def _workstream(name: str, body: Mapping[str, Any]) -> Workstream:
    prefix = f"workstreams.{name}"
    for key in body:
        if key not in WORKSTREAM_KEYS:
            raise _Invalid(f"{prefix}.{key}", f"unknown key: {_suggest(key, WORKSTREAM_KEYS)}")
    if "channel" not in body:
        raise _Invalid(prefix, "missing 'channel'")
    if not isinstance(body["channel"], str):
        raise _Invalid(f"{prefix}.channel", "expected a channel name")
    channel = _channel(body["channel"], f"{prefix}.channel")
    auto_close = _optional_duration(body, "auto_close_after", prefix)
    problem = workstream_problem(channel, auto_close)
    if problem:
        raise _Invalid(f"{prefix}.auto_close_after", problem)
    block = _optional_duration(body, "wrap_up_block", prefix)
    return Workstream(name, channel, auto_close, block, _workstream_id(body, prefix))


def _workstream_id(body: Mapping[str, Any], prefix: str) -> str | None:
    if "id" not in body:
        return None
    value = body["id"]
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(
            f"{prefix}.id", "expected the workstream's id, a GUID such as 0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e62"
        )
    return workstream_key(value)


def _optional_duration(body: Mapping[str, Any], key: str, prefix: str) -> int | None:
    return _duration(body[key], f"{prefix}.{key}") if key in body else None


class StateRecord(msgspec.Struct, frozen=True):
    """The service's channel-state configuration record of one cell, kept so that ocac can write to it."""

    key: str
    """The cell: a channel or network and a state, e.g. `chat/open` or `whatsapp/wrap-up`."""
    id: str
    """`msdyn_occhannelstateconfigurationid`: `config export --patch` writes to this record."""
    channel_configuration: str | None = None
    """`_msdyn_occhannelconfigurationid_value`: the channel's record."""
    name: str | None = None
    """`msdyn_name` as the service spells it, e.g. `Live Chat - Open`."""


def state_records_from_document(document: Mapping[str, Any]) -> dict[str, StateRecord]:
    """The `[dataverse.state_records."CELL"]` tables, validated."""
    dataverse = _table(document.get("dataverse", {}), "dataverse")
    for key in dataverse:
        if key not in DATAVERSE_KEYS:
            raise _Invalid(f"dataverse.{key}", f"unknown key: {_suggest(key, DATAVERSE_KEYS)}")
    tables = _table(dataverse.get("state_records", {}), "dataverse.state_records")
    return {cell: _state_record(cell, _table(body, _record_key(cell))) for cell, body in tables.items()}


def _record_key(cell: str) -> str:
    return f'dataverse.state_records."{cell}"'


def _state_record(cell: str, body: Mapping[str, Any]) -> StateRecord:
    prefix = _record_key(cell)
    target, _, state_name = cell.partition("/")
    channel, _ = _target(target, prefix)
    if not state_name:
        raise _Invalid(prefix, 'expected a channel or network and a state, such as "chat/open"')
    _rule_state(channel, state_name, prefix)
    for key in body:
        if key not in STATE_RECORD_KEYS:
            raise _Invalid(f"{prefix}.{key}", f"unknown key: {_suggest(key, STATE_RECORD_KEYS)}")
    if "id" not in body:
        raise _Invalid(prefix, "missing 'id' (the record's msdyn_occhannelstateconfigurationid)")
    record_id = _guid_value(body["id"], f"{prefix}.id")
    assert record_id is not None
    configuration = _guid_value(body.get("channel_configuration"), f"{prefix}.channel_configuration")
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise _Invalid(f"{prefix}.name", "expected the record's msdyn_name, a string")
    return StateRecord(cell, record_id, configuration, name)


def _guid_value(value: object, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not is_guid(workstream_key(value)):
        raise _Invalid(key, "expected a GUID such as 6283ab63-5778-e911-8196-000d3af7d71e")
    return workstream_key(value)


def set_state_record(record: StateRecord) -> Callable[[TOMLDocument], None]:
    """A mutation that keeps the service's record of one cell (replacing what was kept for it)."""

    def mutate(document: TOMLDocument) -> None:
        import tomlkit

        if "dataverse" not in document:
            document["dataverse"] = tomlkit.table(is_super_table=True)
        dataverse: Any = document["dataverse"]
        if "state_records" not in dataverse:
            dataverse["state_records"] = tomlkit.table(is_super_table=True)
        body = tomlkit.table()
        body["id"] = record.id
        if record.channel_configuration is not None:
            body["channel_configuration"] = record.channel_configuration
        if record.name is not None:
            body["name"] = record.name
        dataverse["state_records"][record.key] = body

    return mutate


class LoadedConfig(msgspec.Struct, frozen=True):
    """A configuration file as read: its path, whether it exists, its policy and the service's records it keeps."""

    path: Path
    exists: bool
    policy: Policy
    state_records: Mapping[str, StateRecord] = msgspec.field(default_factory=dict)

    @property
    def source(self) -> Path | None:
        """The file the policy came from, or None for the built-in defaults."""
        return self.path if self.exists else None


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"config {path} is not UTF-8 text (byte {error.start}): fix or remove the file") from None


def load_config(path: Path, *, required: bool = False) -> LoadedConfig:
    """Read and validate the configuration file.

    A missing file means the built-in defaults, unless it was named (`required`): a typo in
    a crontab's --config must not sweep with the wrong rules.
    """
    data = fsutil.read_bytes(path, "config")
    if data is None:
        if required:
            raise ConfigError(
                f"config {path} does not exist: check --config (or {ENV_CONFIG}); 'ocac config set' creates the file"
            )
        return LoadedConfig(path, False, Policy())
    try:
        document = tomllib.loads(_decode(path, data))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config {path} is not valid TOML ({error}): fix the file") from None
    except RecursionError:
        raise ConfigError(f"config {path}: nested too deeply to read: fix the file") from None
    policy = _validated(path, document)
    return LoadedConfig(path, True, policy, state_records_from_document(document))


def _validated(path: Path, document: Mapping[str, Any]) -> Policy:
    try:
        return policy_from_document(document)
    except _Invalid as error:
        raise ConfigError(f"config {path}: {error}") from None
    except RecursionError:
        raise ConfigError(f"config {path}: nested too deeply") from None


class ConfigChange(msgspec.Struct, frozen=True):
    """The policy before and after an edit, and whether the file was written."""

    before: Policy
    after: Policy
    written: bool


def _parse_for_edit(path: Path) -> TOMLDocument:
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    data = fsutil.read_bytes(path, "config")
    if data is None:
        return tomlkit.document()
    try:
        return tomlkit.parse(_decode(path, data))
    except TOMLKitError as error:
        raise ConfigError(f"config {path} is not valid TOML ({error}): fix the file; it was not changed") from None


def edit_config(
    path: Path,
    mutate: Callable[[TOMLDocument], None],
    *,
    lock_timeout: float,
    dry_run: bool = False,
) -> ConfigChange:
    """Apply `mutate` to the configuration document under its lock, validate, write atomically.

    A file that does not parse or validate is never written. `dry_run` validates and returns
    the would-be policy without writing.
    """
    import tomlkit

    owner = fsutil.owner_for(path)
    with fsutil.locked(path, lock_timeout, "config", owner):
        fsutil.remove_stale_temps(path)  # what a killed edit left; we hold the lock, so no live one did
        document = _parse_for_edit(path)
        original = tomlkit.dumps(document)
        before = _validated(path, document.unwrap())
        mutate(document)
        updated = tomlkit.dumps(document)
        after = _validated(path, document.unwrap())
        changed = updated != original
        if changed and not dry_run:
            fsutil.write_atomic(path, updated.encode("utf-8"), owner)
    return ConfigChange(before, after, changed and not dry_run)


def _rules_table(document: TOMLDocument) -> Any:
    import tomlkit

    if "rules" not in document:
        document["rules"] = tomlkit.table(is_super_table=True)
    return document["rules"]


def set_rule(
    channel: Channel, state: State, minutes: int | None, network: str | None = None
) -> Callable[[TOMLDocument], None]:
    """A mutation that sets the (channel or network, state) override."""
    _require_configurable(channel, state)
    name = network or str(channel)

    def mutate(document: TOMLDocument) -> None:
        import tomlkit

        rules = _rules_table(document)
        if name not in rules:
            rules[name] = tomlkit.table()
        rules[name][str(state)] = format_minutes(minutes)

    return mutate


def unset_rule(channel: Channel, state: State, network: str | None = None) -> Callable[[TOMLDocument], None]:
    """A mutation that drops the (channel or network, state) override: back to the default or the channel's rule."""
    _require_configurable(channel, state)
    name = network or str(channel)

    def mutate(document: TOMLDocument) -> None:
        rules = document.get("rules")
        if rules is None or name not in rules:
            return
        cells = rules[name]
        cells.pop(str(state), None)
        if not cells:
            del rules[name]
        if not rules:
            del document["rules"]

    return mutate


def reset_rules(document: TOMLDocument) -> None:
    """A mutation that drops every rule override (workstreams stay)."""
    document.pop("rules", None)


def _require_configurable(channel: Channel, state: State) -> None:
    problem = rule_is_configurable(channel, state)
    if problem:
        raise Refused(f"cannot set a rule for {channel}/{state}: {problem}")


class Keep(Enum):
    """The type of `KEEP`: leave a workstream's setting as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


def set_workstream(
    name: str,
    channel: Channel | None,
    auto_close_after: int | None | Keep,
    wrap_up_block: int | None | Keep,
    stream_id: str | None | Keep = KEEP,
) -> Callable[[TOMLDocument], None]:
    """A mutation that creates or updates a workstream.

    `channel` None keeps the existing channel; `KEEP` keeps a setting as it is; None removes it.
    """
    if not name.strip():
        raise InvalidInput("workstream name is empty: give a name such as 'Contoso Chat'")
    if channel is not None and isinstance(auto_close_after, int):
        _refuse_if(workstream_problem(channel, auto_close_after))

    def mutate(document: TOMLDocument) -> None:
        body = _workstream_table(document, name, channel)
        if channel is not None:
            _check_kept_auto_close(name, channel, body, auto_close_after)
            body["channel"] = str(channel)
        if stream_id is None:
            body.pop("id", None)
        elif not isinstance(stream_id, Keep):
            body["id"] = workstream_key(stream_id)
        for key, value in (("auto_close_after", auto_close_after), ("wrap_up_block", wrap_up_block)):
            if value is None:
                body.pop(key, None)
            elif not isinstance(value, Keep):
                body[key] = format_minutes(value)

    return mutate


def _workstream_table(document: TOMLDocument, name: str, channel: Channel | None) -> Any:
    """The workstream's table, created when it is new (which needs a channel)."""
    import tomlkit

    if "workstreams" not in document:
        document["workstreams"] = tomlkit.table(is_super_table=True)
    streams = document["workstreams"]
    if name not in streams:
        if channel is None:
            raise InvalidInput(f"workstream '{name}' does not exist: give --channel to create it")
        streams[name] = tomlkit.table()
    return streams[name]


def _check_kept_auto_close(name: str, channel: Channel, body: Any, auto_close_after: int | None | Keep) -> None:
    """A new channel must allow the auto-close time the workstream keeps."""
    kept = body.get("auto_close_after") if isinstance(auto_close_after, Keep) else None
    minutes = None if kept is None else _duration(kept, f"workstreams.{name}.auto_close_after")
    if minutes is not None and workstream_problem(channel, minutes):
        raise Refused(
            f"workstream '{name}' closes waiting conversations after {format_minutes(minutes)}, "
            f"which {channel} workstreams cannot: add --auto-close-after never to drop that"
        )


def _refuse_if(problem: str | None) -> None:
    if problem:
        raise Refused(problem)


def remove_workstream(name: str) -> Callable[[TOMLDocument], None]:
    """A mutation that removes a workstream."""

    def mutate(document: TOMLDocument) -> None:
        streams = document.get("workstreams")
        if streams is None or name not in streams:
            raise NotFound(f"no workstream named '{name}': see 'ocac workstream list'")
        del streams[name]
        if not streams:
            del document["workstreams"]

    return mutate


class Cell(msgspec.Struct, frozen=True):
    """One cell of the channel-state matrix, as `config show` prints it."""

    channel: Channel
    state: State
    minutes: int | None
    target: State
    source: str
    network: str | None = None

    @property
    def name(self) -> str:
        """The row's name: the channel, or a network's `social/whatsapp`."""
        return f"{self.channel}/{self.network}" if self.network else str(self.channel)

    def to_json(self) -> dict[str, object]:
        """The row `config show --json` prints."""
        return {
            "channel": str(self.channel),
            "network": self.network,
            "state": str(self.state),
            "minutes": self.minutes,
            "duration": format_minutes(self.minutes),
            "target": str(self.target),
            "source": self.source,
        }


def matrix(policy: Policy) -> list[Cell]:
    """Every channel × (open, active, wrap-up) cell, each followed by the networks that override it."""
    cells = []
    for channel in Channel:
        for state in RULE_STATES:
            rule = policy.rules[channel, state]
            cells.append(Cell(channel, state, rule.minutes, rule.target, rule.source))
            for network, override in sorted(policy.networks_of(channel, state).items()):
                cells.append(Cell(channel, state, override.minutes, override.target, override.source, network))
    return cells
