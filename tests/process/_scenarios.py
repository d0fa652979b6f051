"""The two long scenarios of the process suite, sized by their callers.

`concurrency` runs writers and readers against one store for a bounded time, then replays the
committed audit trail (every change is audited, in the order the store lock serialised them)
from the initial store and checks that it gives the final store exactly, and that the trail
holds exactly the changes the commands acknowledged. `kill_campaign` kills a `sweep run` or a
`conversations import` at random instants and at each step of its commit, and checks after each
kill that the store is the old or the new version and that its history agrees.

The tests in this folder run them small; `tests/reliability/soak.py` runs them for as long as
it is asked. Both raise AssertionError with the evidence when a promise is broken.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import stat
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ocac.audit import AuditRecord
from ocac.config import load_config
from ocac.durations import parse_minutes
from ocac.instants import format_instant, minutes_between, parse_instant
from ocac.model import MANUAL_TRANSITIONS, Action, Channel, State
from ocac.store.trail import trail_path

from ._support import (
    BASE_NOW,
    BEFORE_RENAME,
    CONFIG,
    ENV,
    PHASES,
    WAIT,
    Change,
    Tally,
    as_shown,
    assert_no_traceback,
    by_run,
    committed,
    conversation,
    history_shown,
    hooked_argv,
    ocac_argv,
    opened,
    snapshot,
    store_bytes,
    store_run,
    tail_records,
    temp_files,
    trail_tail,
)

LOCKED = "is locked by another process"
REFUSALS = {
    "closed": "closed is final",
    "backwards": "the clock would run backwards",
    "not allowed": "cannot move",
}
"""The refusals (exit 2) a manual change may meet when others change the conversation first."""
NOT_RECORDED = "the edit stands, but it is not in the store's history"

# ===================================================================================== concurrency


@dataclass
class Done:
    """One finished command of a worker."""

    worker: str
    argv: list[str]
    code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Ack:
    """What one command asked of one conversation (or one import file), and how it ended.

    `outcome` is "applied" (exit 0), "locked" (exit 3 with --lock-timeout 0: nothing happened)
    or the key of the refusal in REFUSALS (exit 2).
    """

    kind: str
    target: str
    now: datetime
    outcome: str
    state: str | None = None


class SimClock:
    """The `--now` every worker uses: starts at BASE_NOW and runs `speed` times faster than the wall."""

    def __init__(self, speed: float) -> None:
        self.start = time.monotonic()
        self.speed = speed

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self.start) * self.speed
        return (BASE_NOW + timedelta(seconds=elapsed)).replace(microsecond=0)


class Runner:
    """Runs commands for the workers and records what each did; counts processes alive at once."""

    def __init__(self, store_path: Path, config_path: Path, deadline: float, min_rounds: int) -> None:
        self.store_path, self.config_path, self.deadline = store_path, config_path, deadline
        self.min_rounds = min_rounds
        self.hard_deadline = deadline + 120
        self.rounds: dict[str, int] = {}
        self.done: list[Done] = []
        self.acks: list[Ack] = []
        self._lock = threading.Lock()
        self.running = 0
        self.most_at_once = 0
        self.errors: list[BaseException] = []

    def live(self, worker: str) -> bool:
        """Go on until the deadline, and past it until this worker has done `min_rounds` (on a loaded machine)."""
        if self.errors:
            return False
        now = time.monotonic()
        rounds = self.rounds.get(worker, 0)
        return now < self.deadline or (rounds < self.min_rounds and now < self.hard_deadline)

    def run(self, worker: str, *args: str) -> Done:
        argv = ocac_argv(self.store_path, self.config_path, *args)
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            completed = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=ENV, check=False)
        finally:
            with self._lock:
                self.running -= 1
        done = Done(worker, argv, completed.returncode, completed.stdout, completed.stderr)
        with self._lock:
            self.done.append(done)
            self.rounds[worker] = self.rounds.get(worker, 0) + 1
        return done

    def ack(self, ack: Ack) -> None:
        with self._lock:
            self.acks.append(ack)


def _outcome(done: Done, timeout: str, *refusals: str) -> str:
    """Exit 0 is "applied", a lock not had at once "locked", a refusal its key; anything else fails."""
    if done.code == 0:
        return "applied"
    if done.code == 3 and LOCKED in done.stderr and timeout == "0":
        return "locked"  # with a patient --lock-timeout, a busy store is waited for: exit 3 would be a bug
    for key in refusals:
        if done.code == 2 and REFUSALS[key] in done.stderr:
            return key
    raise AssertionError(f"{done.worker}: unexpected exit {done.code}: {done.argv[3:]}\n{done.stderr}")


@dataclass
class Population:
    """Who owns which conversations in the concurrency store."""

    initial: dict[str, dict[str, object]]
    touch_case: list[str]
    touch_voice: list[str]
    cycle: list[str]
    race: list[str]
    imported: list[str]


def build_population(count: int, rng: random.Random) -> Population:
    """`count` conversations: most only sweeps change, some owned by one manual worker each."""
    now = BASE_NOW
    initial: dict[str, dict[str, object]] = {}

    def add(item: dict[str, object]) -> str:
        initial[str(item["id"])] = item
        return str(item["id"])

    def case(prefix: str, number: int) -> dict[str, object]:
        return {"id": f"{prefix}-{number:04d}", "channel": "case", "state": "open",
                "modified_on": format_instant(now - timedelta(days=1)), "record_id": f"KEEP-{prefix}-{number}",
                "note": {"owner": prefix}}  # fmt: skip

    group = max(count // 15, 20)
    touch_case = [add(case("t", n)) for n in range(group)]
    cycle = [add(case("m", n)) for n in range(group)]
    imported = [add(case("i", n)) for n in range(group)]
    touch_voice = [
        add(
            {
                "id": f"q-{n:04d}",
                "channel": "voice",
                "state": "active",
                "modified_on": format_instant(now - timedelta(minutes=rng.randrange(60, 180))),
            }
        )  # fmt: skip
        for n in range(group)
    ]
    race = [
        add(
            {
                "id": f"r-{n:04d}",
                "channel": "chat",
                "state": "open",
                "modified_on": format_instant(now - timedelta(seconds=rng.randrange(0, 40 * 60))),
            }
        )  # fmt: skip
        for n in range(group)
    ]
    number = 0
    while len(initial) < count:  # swept-only conversations, due over the next few simulated hours
        add(conversation(rng, number, now, max_age_days=1.2))
        number += 1
    return Population(initial, touch_case, touch_voice, cycle, race, imported)


@dataclass
class ConcurrencyReport:
    """What a concurrency run did."""

    seconds: float
    commands: int
    by_outcome: Tally
    most_at_once: int
    sweeps_committed: int
    transitions: int
    records: int
    conversations: int

    def line(self) -> str:
        return (
            f"{self.commands} commands in {self.seconds:.1f}s, up to {self.most_at_once} at once; "
            f"{self.sweeps_committed} sweeps committed {self.transitions} transitions; {self.records} audit "
            f"records; {self.conversations} conversations at the end; {self.by_outcome.line()}"
        )


@dataclass
class ConfigAck:
    """A configuration edit that exited 0: what it set, whether it wrote, whether its record went to the store."""

    key: str
    kind: str
    value: str
    written: bool
    recorded: bool


def concurrency(
    folder: Path, *, seconds: float, count: int = 3000, seed: int = 6, speed: float = 600, min_rounds: int = 3
) -> ConcurrencyReport:
    """Writers and readers against one store for `seconds`; then check everything they were told."""
    scenario = Scenario(folder, count, seed, speed, min_rounds)
    started = time.monotonic()
    scenario.run(seconds)
    elapsed = time.monotonic() - started
    runner = scenario.runner
    by_outcome = Tally()
    for done in runner.done:
        assert_no_traceback(done)  # type: ignore[arg-type]
        by_outcome.add(f"exit {done.code}")
        if done.code != 0:
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("ocac: error: "), done.stderr
    for ack in runner.acks:
        by_outcome.add(f"{ack.kind} {ack.outcome}")
    records = _check_final_store(scenario)
    _check_final_config(scenario.config_path, scenario.config_acks, scenario.workstreams_tried)
    moving = [s for s in scenario.sweeps if s["moved"]]
    return ConcurrencyReport(
        elapsed, len(runner.done), by_outcome, runner.most_at_once, len(moving),
        sum(int(s["moved"]) for s in moving), records, len(snapshot(scenario.store_path.read_bytes())),  # type: ignore[call-overload]
    )  # fmt: skip


def _is_list(value: object) -> bool:
    return isinstance(value, list)


class Scenario:
    """One store and config, the workers that change and read them, and what each was told."""

    def __init__(self, folder: Path, count: int, seed: int, speed: float, min_rounds: int) -> None:
        rng = random.Random(seed)
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.count, self.seed, self.min_rounds = folder, count, seed, min_rounds
        self.store_path, self.config_path = folder / "conversations.json", folder / "config.toml"
        self.population = build_population(count, rng)
        self.store_path.write_bytes(store_bytes(list(self.population.initial.values())))
        self.config_path.write_text(CONFIG)
        self.clock = SimClock(speed)
        self.runner = Runner(self.store_path, self.config_path, time.monotonic(), min_rounds)  # run() sets its time
        self.sweeps: list[dict[str, object]] = []
        self.config_acks: list[ConfigAck] = []
        self.workstreams_tried: set[str] = set()
        self.imports: dict[str, tuple[datetime, dict[str, str]]] = {}
        self.impatient = itertools.cycle(["20", "20", "0"])  # every third manual command gives up at once
        self.cycle_state = dict.fromkeys(self.population.cycle, "open")
        self.race_left = list(self.population.race)
        random.Random(seed + 3).shuffle(self.race_left)
        self.numbers = {"add": itertools.count(), "import": itertools.count(), "config": itertools.count()}

    def run(self, seconds: float) -> None:
        """Every worker in its own thread until the deadline (and its minimum rounds)."""
        self.runner = Runner(self.store_path, self.config_path, time.monotonic() + seconds, self.min_rounds)
        self.clock = SimClock(self.clock.speed)
        bodies = [self.sweeper, self.toucher, self.setter, self.adder, self.importer, self.configurer, self.reader,
                  self.reader]  # fmt: skip
        threads = [threading.Thread(target=self._loop, args=(body, self.seed * 100 + i), daemon=True)
                   for i, body in enumerate(bodies)]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 180)
            assert not thread.is_alive(), "a worker is stuck"
        if self.runner.errors:
            raise self.runner.errors[0]

    def _loop(self, body: Callable[[random.Random, str], None], worker_seed: int) -> None:
        rng = random.Random(worker_seed)
        name = f"{body.__name__}-{worker_seed}"
        try:
            while self.runner.live(name):
                body(rng, name)
        except BaseException as error:  # reported by the main thread
            self.runner.errors.append(error)

    def sweeper(self, r: random.Random, me: str) -> None:
        now = self.clock.now()
        timeout = "0" if r.random() < 0.2 else "20"
        done = self.runner.run(me, "--lock-timeout", timeout, "sweep", "run", "--json", "--now", format_instant(now))
        if _outcome(done, timeout) == "applied":
            result = json.loads(done.stdout)
            assert result["now"] == format_instant(now), result["now"]
            self.sweeps.append(result)

    def toucher(self, r: random.Random, me: str) -> None:
        population = self.population
        target = r.choice(population.touch_case if r.random() < 0.5 else population.touch_voice)
        now, timeout = self.clock.now(), next(self.impatient)
        done = self.runner.run(
            me, "--lock-timeout", timeout, "conversations", "touch", target,
            "--action", r.choice(["monitor", "consult", "transfer", "message"]), "--now", format_instant(now),
        )  # fmt: skip
        self.runner.ack(Ack("touch", target, now, _outcome(done, timeout, "closed", "backwards")))

    def setter(self, r: random.Random, me: str) -> None:
        now, timeout = self.clock.now(), next(self.impatient)
        if self.race_left and r.random() < 0.4:
            target, state = self.race_left.pop(), "active"
        else:
            target = r.choice(self.population.cycle)
            state = "active" if self.cycle_state[target] == "open" else "open"
        done = self.runner.run(
            me, "--lock-timeout", timeout, "conversations", "set-state", target, state, "--now", format_instant(now),
        )  # fmt: skip
        outcome = _outcome(done, timeout, "not allowed", "backwards")
        if outcome == "applied" and target in self.cycle_state:
            self.cycle_state[target] = state
        self.runner.ack(Ack("set", target, now, outcome, state))

    def adder(self, r: random.Random, me: str) -> None:
        number, now, timeout = next(self.numbers["add"]), self.clock.now(), next(self.impatient)
        channel = r.choice(["chat", "case"])
        target = f"a-{number:05d}"
        extra = ["--record-id", f"KEEP-a-{number}"] if channel == "case" else []
        done = self.runner.run(
            me, "--lock-timeout", timeout, "conversations", "add", "--channel", channel,
            "--id", target, "--now", format_instant(now), *extra,
        )  # fmt: skip
        outcome = _outcome(done, timeout)
        if outcome == "applied":
            assert done.stdout.strip() == target, done.stdout
        self.runner.ack(Ack("add", target, now, outcome, "open"))

    def importer(self, r: random.Random, me: str) -> None:
        batch, now, timeout = next(self.numbers["import"]), self.clock.now(), next(self.impatient)
        states = {key: r.choice(["open", "active"]) for key in r.sample(self.population.imported, 5)}
        states |= {f"n-{batch:04d}-{j}": "open" for j in range(10)}
        rows = [
            {"id": key, "channel": "case", "state": state, "modified_on": format_instant(now),
             "record_id": f"KEEP-{key}", "batch": batch}
            for key, state in states.items()
        ]  # fmt: skip
        path = self.folder / f"import-{batch}.json"
        path.write_text(json.dumps(rows))
        self.imports[str(path)] = (now, states)
        done = self.runner.run(me, "--lock-timeout", timeout, "conversations", "import", str(path), "--json")
        outcome = _outcome(done, timeout)
        if outcome == "applied":
            counts = json.loads(done.stdout)
            assert counts["added"] + counts["updated"] == len(rows) and counts["written"], counts
        self.runner.ack(Ack("import", str(path), now, outcome))

    def configurer(self, r: random.Random, me: str) -> None:
        number, timeout = next(self.numbers["config"]), next(self.impatient)
        if number % 2 == 0:
            key, kind, value = "chat/wrap-up", "rule", r.choice(["15m", "16m", "17m", "1h30m"])
            args = ("config", "set", "chat", "wrap-up", value, "--json")
        else:
            key, kind, value = f"Load {number % 7}", "workstream", r.choice(["1d", "2d", "never"])
            args = ("workstream", "set", key, "--channel", "sms", "--auto-close-after", value, "--json")
            self.workstreams_tried.add(key)
        done = self.runner.run(me, "--lock-timeout", timeout, *args)
        if _outcome(done, timeout) != "applied":
            return
        written = bool(done.stdout.strip()) and bool(json.loads(done.stdout)["written"])  # "unchanged": no JSON
        recorded = NOT_RECORDED not in done.stderr
        assert recorded or timeout == "0", done.stderr  # a patient edit waits for the store to record it
        self.config_acks.append(ConfigAck(key, kind, value, written, written and recorded))

    def reader(self, r: random.Random, me: str) -> None:
        readers: list[tuple[tuple[str, ...], Callable[[Any], bool]]] = [
            (("conversations", "list", "--json", "--state", "waiting", "--limit", "5"), _is_list),
            (("config", "show", "--json"), lambda out: len(out) == 21),
            (("history", "--json", "--limit", "3"), _is_list),
            (("status", "--json", "--now", format_instant(self.clock.now())),
             lambda out: sum(sum(row.values()) for row in out["counts"].values()) >= self.count),
        ]  # fmt: skip
        args, expected = r.choice(readers)
        done = self.runner.run(me, *args)
        assert done.code == 0, done.stderr
        assert expected(json.loads(done.stdout)), (args, done.stdout[:500])
        assert done.stderr == "", done.stderr  # readers never meet anything to warn about


Timeline = list[tuple[str, datetime]]


def replay(
    initial: dict[str, tuple[str, datetime]],
    records: list[AuditRecord],
    imports: dict[str, tuple[datetime, dict[str, str]]] | None = None,
) -> tuple[dict[str, tuple[str, datetime]], dict[str, Timeline]]:
    """Apply the committed records, in trail order, to the initial (state, modified_on) of each conversation.

    Each record's precondition must hold where the trail puts it: a sweep moved a conversation from
    the state it was in after exactly the idle time it recorded; a touch or manual change found a
    state that allows it and did not turn its clock back; an add found no such id. Returns the
    conversations at the end, and every (state, modified_on) each went through.
    """
    current = dict(initial)
    timelines: dict[str, Timeline] = {key: [value] for key, value in current.items()}

    def becomes(key: str, value: tuple[str, datetime]) -> None:
        current[key] = value
        timelines.setdefault(key, []).append(value)

    for r in records:
        where = f"record {r.to_json()}"
        state, modified = current.get(str(r.id), ("", BASE_NOW))
        if r.kind in (Action.SWEEP, Action.TOUCH, Action.SET_STATE):
            assert r.id in current, f"{where}: no such conversation"
            assert r.from_state == state, f"{where}: the conversation was {state}"
        if r.kind is Action.SWEEP:
            assert minutes_between(modified, r.at) == r.idle_minutes, f"{where}: idle since {modified}"
            becomes(str(r.id), (str(r.to_state), r.at))
        elif r.kind is Action.TOUCH:
            assert r.to_state == state != State.CLOSED and r.at >= modified, f"{where}: {state} since {modified}"
            becomes(str(r.id), (state, r.at))
        elif r.kind is Action.SET_STATE:
            assert State(str(r.to_state)) in MANUAL_TRANSITIONS[State(state)], f"{where}: from {state}"
            assert r.at >= modified, f"{where}: the clock ran back from {modified}"
            becomes(str(r.id), (str(r.to_state), r.at))
        elif r.kind is Action.ADD:
            assert r.id not in current, f"{where}: the id existed"
            becomes(str(r.id), (str(r.to_state), r.at))
        elif r.kind is Action.IMPORT:
            assert imports is not None and r.detail is not None and r.detail["source"] in imports, where
            now, states = imports[str(r.detail["source"])]
            new = sum(1 for key in states if key not in current)
            assert (r.detail["added"], r.detail["updated"]) == (new, len(states) - new), where
            for key, value in states.items():
                becomes(key, (value, now))
        else:
            assert r.kind is Action.CONFIG, where
    return current, timelines


def _check_final_store(scenario: Scenario) -> int:
    """The trail, replayed from the initial store, is the final store; it holds exactly the acknowledged changes."""
    store_path = scenario.store_path
    data = store_path.read_bytes()
    final = snapshot(data)  # also: no duplicate ids
    with closing(opened(store_path)) as store:  # the store validates
        assert sum(store.counts().values()) == len(final)
    assert trail_tail(store_path) == b"", "the trail ends with records no commit line vouches for"
    assert not temp_files(store_path), "a finished writer left a temporary file"
    records = committed(store_path)
    shown, warnings = history_shown(store_path)
    assert shown == as_shown(records), "`ocac history --json` differs from the committed records"
    assert warnings == "", warnings

    initial = {key: (str(item["state"]), parse_instant(str(item["modified_on"]))) for key, item in
               scenario.population.initial.items()}  # fmt: skip
    current, timelines = replay(initial, records, scenario.imports)
    assert current == final, (
        "the committed history, replayed from the initial store, is not the store: "
        f"{sorted(k for k in set(current) | set(final) if current.get(k) != final.get(k))[:10]}"
    )
    _check_acknowledged(scenario, records, timelines)
    _check_unknown_fields(scenario, json.loads(data)["conversations"])
    return len(records)


def _check_acknowledged(scenario: Scenario, records: list[AuditRecord], timelines: dict[str, Timeline]) -> None:
    """The trail holds exactly the changes the commands acknowledged; each refusal was right at some point."""
    swept = by_run(r for r in records if r.kind is Action.SWEEP)
    acknowledged = {str(s["run_id"]): s for s in scenario.sweeps if s["moved"]}
    assert set(swept) == set(acknowledged), set(swept) ^ set(acknowledged)
    for run_id, run_records in swept.items():
        reported = acknowledged[run_id]
        expected = {(t["id"], t["from"], t["to"]) for t in reported["transitions"]}  # type: ignore[attr-defined]
        assert {(e.id, e.from_state, e.to_state) for e in run_records} == expected, run_id
        assert all(format_instant(e.at) == reported["now"] for e in run_records), run_id

    applied = [a for a in scenario.runner.acks if a.outcome == "applied"]
    acked = {kind: Counter((a.target, a.now) for a in applied if a.kind == kind) for kind in ("touch", "add")}
    found = {kind: Counter((r.id, r.at) for r in records if r.kind is kind) for kind in (Action.TOUCH, Action.ADD)}
    assert found[Action.ADD] == acked["add"]
    assert Counter((r.id, r.to_state, r.at) for r in records if r.kind is Action.SET_STATE) == Counter(
        (a.target, a.state, a.now) for a in applied if a.kind == "set"
    )  # fmt: skip
    imported = sorted(str(r.detail["source"]) for r in records if r.kind is Action.IMPORT and r.detail)
    assert imported == sorted(a.target for a in applied if a.kind == "import")
    unacknowledged = found[Action.TOUCH] - acked["touch"]
    assert not unacknowledged, f"touch records nobody acknowledged: {unacknowledged}"
    for target, now in acked["touch"] - found[Action.TOUCH]:  # a touch that changed nothing: the clock was at --now
        assert any(at == now for _, at in timelines[str(target)]), (target, now)
    config_runs = {r.run_id for r in records if r.kind is Action.CONFIG}
    assert len(config_runs) == sum(1 for a in scenario.config_acks if a.recorded), "config edits and records differ"

    for ack in scenario.runner.acks:
        timeline = timelines.get(ack.target, [])
        if ack.outcome == "closed":
            assert timeline[-1][0] == State.CLOSED, ack
        elif ack.outcome == "backwards":
            assert any(at > ack.now for _, at in timeline), ack
        elif ack.outcome == "not allowed":
            assert any(State(str(ack.state)) not in MANUAL_TRANSITIONS[State(s)] for s, _ in timeline), ack


def _check_unknown_fields(scenario: Scenario, stored: list[dict[str, object]]) -> None:
    """Unknown fields of conversations only sweeps and manual commands touched are kept; imports bring theirs."""
    raw = {item["id"]: item for item in stored}
    for key, item in scenario.population.initial.items():
        if key.startswith("i-"):
            continue
        for name, value in item.items():
            if name not in ("state", "modified_on"):
                assert raw[key].get(name) == value, (key, name)
    applied = {a.target for a in scenario.runner.acks if a.kind == "import" and a.outcome == "applied"}
    for path, (_, states) in scenario.imports.items():
        if path in applied:
            assert all("batch" in raw[key] for key in states), path


def _check_final_config(config_path: Path, acks: list[ConfigAck], tried: set[str]) -> None:
    """The config parses and holds the last acknowledged value of everything that was set."""
    policy = load_config(config_path).policy
    last = {ack.key: ack for ack in acks}
    for name, ack in last.items():
        if ack.kind == "rule":
            assert policy.rules[Channel.CHAT, State.WRAP_UP].minutes == parse_minutes(ack.value), name
        else:
            assert name in policy.workstreams, name
            assert policy.workstreams[name].auto_close_after == parse_minutes(ack.value), name
    for name in tried - set(last):
        assert name not in policy.workstreams, f"workstream {name} was never acknowledged"


# ======================================================================================= kill -9


@dataclass
class Campaign:
    """A change to kill again and again, its timing, and what the kills did."""

    change: Change
    duration: float = 0.0
    mode: int = 0o640
    trail_mode: int = 0o600
    tally: Tally = field(default_factory=Tally)


def prepare_campaign(change: Change, *, timings: int = 3) -> Campaign:
    """Time the uninterrupted command (the median of `timings` runs) to spread random kills over its life."""
    campaign = Campaign(change)
    durations = []
    for _ in range(timings):
        reset(campaign)
        began = time.monotonic()
        completed = subprocess.run(change.argv(), capture_output=True, text=True, timeout=WAIT, env=ENV, check=False)
        durations.append(time.monotonic() - began)
        assert completed.returncode == 0, completed.stderr
        assert change.check_agreement() == "new"
    campaign.duration = sorted(durations)[len(durations) // 2]
    reset(campaign)
    return campaign


def reset(campaign: Campaign) -> None:
    """The old store and trail, with their permissions, and no temporary file."""
    campaign.change.reset()
    os.chmod(campaign.change.store_path, campaign.mode)
    os.chmod(trail_path(campaign.change.store_path), campaign.trail_mode)


def _check_modes(campaign: Campaign) -> None:
    store_path = campaign.change.store_path
    assert stat.S_IMODE(store_path.stat().st_mode) == campaign.mode, "store permissions changed"
    assert stat.S_IMODE(trail_path(store_path).stat().st_mode) == campaign.trail_mode, "trail permissions changed"


def kill_once(campaign: Campaign, delay: float | None, phase: str | None = None) -> str:
    """Run the command on the folder as the last kill left it; SIGKILL it after `delay` seconds or at `phase`.

    A store left in its old version is left as it is, with whatever temporary file or trail tail
    the kill left, for the next command to clean up, as in real life; a store in its new version
    is put back to the old one.
    """
    change = campaign.change
    earlier = set(temp_files(change.store_path))
    argv = change.argv() if phase is None else hooked_argv(phase, "kill", change.store_path, change.config_path,
                                                           *change.args)  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    finished = False
    try:
        try:
            process.wait(timeout=delay if phase is None else WAIT)
            finished = process.returncode == 0
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=WAIT)
            finished = process.returncode == 0  # it exited just before the signal
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.stderr is not None
    stderr = process.stderr.read().decode()
    process.stderr.close()
    if finished:
        assert phase is None, f"ocac never reached {phase}: {stderr}"
        campaign.tally.add("finished before the kill")
    else:
        assert process.returncode == -signal.SIGKILL, (process.returncode, stderr)
    assert "Traceback" not in stderr, stderr
    outcome = change.check_agreement()
    if phase is not None:
        assert outcome == ("old" if phase in BEFORE_RENAME else "new"), (phase, outcome)
    _check_modes(campaign)
    campaign.tally.add(outcome)
    leftovers = set(temp_files(change.store_path))
    run_id = store_run(change.store_path.read_bytes())
    uncommitted = [r for r in tail_records(change.store_path) if r.get("run_id") != run_id]
    if outcome == "new":  # it held the lock, so it cleaned up after the kills before it
        assert not leftovers, "a committed run left temporary files behind"
        assert not uncommitted, "uncommitted records behind a committed store"
        reset(campaign)
    else:
        if leftovers - earlier:
            campaign.tally.add("left a temp file")
        if earlier - leftovers:
            campaign.tally.add("cleaned an earlier temp file")
        if uncommitted:
            campaign.tally.add("left uncommitted records")
    return outcome


def recover(campaign: Campaign) -> None:
    """The next run finishes (a killed holder's lock does not block it) and cleans up what was left."""
    change = campaign.change
    completed = subprocess.run(change.argv("--lock-timeout", "5"), capture_output=True, text=True, timeout=WAIT,
                               env=ENV, check=False)  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert not temp_files(change.store_path), "the next run left a temporary file"
    assert trail_tail(change.store_path) == b"", "the next run left an unsealed trail"
    assert change.check_agreement() == "new"
    _check_modes(campaign)
    shown, _ = history_shown(change.store_path)
    assert shown == as_shown(committed(change.store_path))


def kill_campaign(campaign: Campaign, *, kills: int, phases: bool, seed: int) -> Tally:
    """`kills` kills at random instants of the command's life, one at each step of its commit, then a clean run."""
    rng = random.Random(seed)
    reset(campaign)
    for _ in range(kills):
        kill_once(campaign, rng.uniform(0, campaign.duration))
    if phases:
        for phase in rng.sample(list(PHASES), len(PHASES)):
            kill_once(campaign, None, phase)
    recover(campaign)
    return campaign.tally
