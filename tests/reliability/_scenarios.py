"""The two long scenarios of the reliability suite, sized by their callers.

`concurrency` runs writers and readers against one store for a bounded time and then checks,
conversation by conversation, that the final store is what some serial order of the acknowledged
commands and the committed sweeps produces. `kill_campaign` kills a `sweep run` or an `import`
at random instants and checks that the store is always the old or the new version.

The tests in this folder run them small (CI); `soak.py` runs them for as long as it is asked.
Both raise AssertionError with the evidence when a promise is broken.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from ocac import store
from ocac.config import load_config
from ocac.instants import format_instant, minutes_between
from ocac.model import MANUAL_TRANSITIONS, State

from ._support import (
    BASE_NOW,
    CONFIG,
    ENV,
    Snapshot,
    Tally,
    assert_no_traceback,
    committed_history,
    conversation,
    entries_by_run,
    history_tail,
    ocac_argv,
    snapshot,
    store_bytes,
    temp_files,
)

LOCKED = "is locked by another ocac process"

# ===================================================================================== concurrency


@dataclass
class Done:
    """One finished command of a worker."""

    worker: str
    argv: list[str]
    code: int
    stdout: str
    stderr: str
    meta: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    """What one command asked of one conversation, and how it ended.

    kind: touch, set (state), add, import (whole record), or sweep (a committed history entry).
    `applied` is True for exit 0, False for a refusal that must have been right (exit 2),
    and None for a lock timeout (exit 3: nothing happened).
    """

    kind: str
    now: datetime
    state: str | None = None
    applied: bool | None = True
    from_state: str | None = None
    idle_minutes: int | None = None


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
        self.events: dict[str, list[Event]] = {}
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

    def run(self, worker: str, *args: str, meta: dict[str, object] | None = None) -> Done:
        argv = ocac_argv(self.store_path, self.config_path, *args)
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            completed = subprocess.run(
                argv, capture_output=True, text=True, timeout=120, env=ENV, check=False
            )
        finally:
            with self._lock:
                self.running -= 1
        done = Done(worker, argv, completed.returncode, completed.stdout, completed.stderr, meta or {})
        with self._lock:
            self.done.append(done)
            self.rounds[worker] = self.rounds.get(worker, 0) + 1
        return done

    def record(self, conversation_id: str, event: Event) -> None:
        with self._lock:
            self.events.setdefault(conversation_id, []).append(event)


def _applied(done: Done, refusal: str | None = None) -> bool | None:
    """True on exit 0, None on a lock timeout, False on the expected refusal; anything else fails."""
    if done.code == 0:
        return True
    if done.code == 3 and LOCKED in done.stderr:
        return None
    if refusal is not None and done.code == 2 and refusal in done.stderr:
        return False
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
        add({"id": f"q-{n:04d}", "channel": "voice", "state": "active",
             "modified_on": format_instant(now - timedelta(minutes=rng.randrange(60, 180)))})  # fmt: skip
        for n in range(group)
    ]
    race = [
        add({"id": f"r-{n:04d}", "channel": "chat", "state": "open",
             "modified_on": format_instant(now - timedelta(seconds=rng.randrange(0, 40 * 60)))})  # fmt: skip
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
    conversations: int

    def line(self) -> str:
        return (
            f"{self.commands} commands in {self.seconds:.1f}s, up to {self.most_at_once} at once; "
            f"{self.sweeps_committed} sweeps committed {self.transitions} transitions; "
            f"{self.conversations} conversations at the end; {self.by_outcome.line()}"
        )


def concurrency(
    folder: Path, *, seconds: float, count: int = 3000, seed: int = 6, speed: float = 600, min_rounds: int = 3
) -> ConcurrencyReport:
    """Writers and readers against one store for `seconds`; then check everything they were told."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    store_path, config_path = folder / "conversations.json", folder / "config.toml"
    population = build_population(count, rng)
    store_path.write_bytes(store_bytes(list(population.initial.values())))
    config_path.write_text(CONFIG)
    started = time.monotonic()
    runner = Runner(store_path, config_path, started + seconds, min_rounds)
    clock = SimClock(speed)
    sweeps: list[dict[str, object]] = []
    config_acks: dict[str, tuple[str, object]] = {}
    workstreams_tried: dict[str, str | None] = {}
    impatient = itertools.cycle(["20", "20", "0"])  # every third manual command gives up at once

    def guarded(body: Callable[[random.Random, str], None], worker_seed: int) -> Callable[[], None]:
        def loop() -> None:
            worker_rng = random.Random(worker_seed)
            name = f"{body.__name__}-{worker_seed}"
            try:
                while runner.live(name):
                    body(worker_rng, name)
            except BaseException as error:  # reported by the main thread
                runner.errors.append(error)

        return loop

    def sweeper(r: random.Random, me: str) -> None:
        now = clock.now()
        timeout = "0" if r.random() < 0.2 else "20"
        done = runner.run(me, "--lock-timeout", timeout, "sweep", "run", "--json", "--now", format_instant(now))
        if _applied(done):
            result = json.loads(done.stdout)
            assert result["now"] == format_instant(now), result["now"]
            sweeps.append(result)

    def toucher(r: random.Random, me: str) -> None:
        target = r.choice(population.touch_case if r.random() < 0.5 else population.touch_voice)
        now = clock.now()
        done = runner.run(
            me, "--lock-timeout", next(impatient), "conversations", "touch", target,
            "--action", r.choice(["monitor", "consult", "transfer", "message"]), "--now", format_instant(now),
        )  # fmt: skip
        runner.record(target, Event("touch", now, applied=_applied(done, "closed is final")))

    cycle_state = dict.fromkeys(population.cycle, "open")
    race_left = list(population.race)
    r_setter = random.Random(seed + 3)
    r_setter.shuffle(race_left)

    def setter(r: random.Random, me: str) -> None:
        now = clock.now()
        if race_left and r.random() < 0.4:
            target, state = race_left.pop(), "active"
        else:
            target = r.choice(population.cycle)
            state = "active" if cycle_state[target] == "open" else "open"
        done = runner.run(
            me, "--lock-timeout", next(impatient), "conversations", "set-state", target, state,
            "--now", format_instant(now),
        )  # fmt: skip
        applied = _applied(done, "cannot move")
        if applied and target in cycle_state:
            cycle_state[target] = state
        runner.record(target, Event("set", now, state, applied))

    added = itertools.count()

    def adder(r: random.Random, me: str) -> None:
        number, now = next(added), clock.now()
        channel = r.choice(["chat", "case"])
        target = f"a-{number:05d}"
        extra = ["--record-id", f"KEEP-a-{number}"] if channel == "case" else []
        done = runner.run(
            me, "--lock-timeout", next(impatient), "conversations", "add", "--channel", channel,
            "--id", target, "--now", format_instant(now), *extra,
        )  # fmt: skip
        applied = _applied(done)
        if applied:
            assert done.stdout.strip() == target, done.stdout
        runner.record(target, Event("add", now, "open", applied))

    batches = itertools.count()

    def importer(r: random.Random, me: str) -> None:
        batch, now = next(batches), clock.now()
        rows: list[dict[str, object]] = []
        states: dict[str, str] = {}
        for key in r.sample(population.imported, 5):
            states[key] = r.choice(["open", "active"])
        for j in range(10):
            states[f"n-{batch:04d}-{j}"] = "open"
        for key, state in states.items():
            rows.append({"id": key, "channel": "case", "state": state, "modified_on": format_instant(now),
                         "record_id": f"KEEP-{key}", "batch": batch})  # fmt: skip
        path = folder / f"import-{batch}.json"
        path.write_text(json.dumps(rows))
        done = runner.run(me, "--lock-timeout", next(impatient), "conversations", "import", str(path), "--json")
        applied = _applied(done)
        if applied:
            counts = json.loads(done.stdout)
            assert counts["added"] + counts["updated"] == len(rows), counts
        for key, state in states.items():
            runner.record(key, Event("import", now, state, applied))

    configs = itertools.count()

    def configurer(r: random.Random, me: str) -> None:
        number = next(configs)
        if number % 2 == 0:
            value = r.choice(["15m", "16m", "17m", "1h30m"])
            done = runner.run(me, "--lock-timeout", next(impatient), "config", "set", "chat", "wrap-up", value)
            if _applied(done):
                config_acks["chat/wrap-up"] = ("rule", value)
        else:
            name = f"Load {number % 7}"
            days = r.choice(["1d", "2d", "never"])
            done = runner.run(
                me, "--lock-timeout", next(impatient), "workstream", "set", name, "--channel", "sms",
                "--auto-close-after", days,
            )  # fmt: skip
            if _applied(done):
                config_acks[name] = ("workstream", days)
            workstreams_tried.setdefault(name, None)

    def reader(r: random.Random, me: str) -> None:
        choice = r.randrange(4)
        if choice == 0:
            done = runner.run(me, "conversations", "list", "--json", "--state", "waiting", "--limit", "5")
            assert done.code == 0, done.stderr
            assert isinstance(json.loads(done.stdout), list)
        elif choice == 1:
            done = runner.run(me, "config", "show", "--json")
            assert done.code == 0, done.stderr
            assert len(json.loads(done.stdout)) == 21
        elif choice == 2:
            done = runner.run(me, "history", "--json", "--limit", "3")
            assert done.code == 0, done.stderr
            assert isinstance(json.loads(done.stdout), list)
        else:
            done = runner.run(me, "status", "--json", "--now", format_instant(clock.now()))
            assert done.code == 0, done.stderr
            assert sum(sum(row.values()) for row in json.loads(done.stdout)["counts"].values()) >= count

    bodies = [sweeper, toucher, setter, adder, importer, configurer, reader, reader]
    threads = [threading.Thread(target=guarded(body, seed * 100 + i), daemon=True) for i, body in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 180)
        assert not thread.is_alive(), "a worker is stuck"
    if runner.errors:
        raise runner.errors[0]
    elapsed = time.monotonic() - started

    by_outcome = Tally()
    for done in runner.done:
        assert_no_traceback(done)  # type: ignore[arg-type]
        by_outcome.add(f"exit {done.code}")
        if done.code != 0:
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("ocac: error: "), done.stderr
    _check_final_store(store_path, population, runner, sweeps)
    _check_final_config(config_path, config_acks, workstreams_tried)
    final = store.load(store_path)
    return ConcurrencyReport(
        elapsed, len(runner.done), by_outcome, runner.most_at_once, sum(1 for s in sweeps if s["moved"]),
        sum(int(s["moved"]) for s in sweeps), len(final.conversations),  # type: ignore[call-overload]
    )


def _check_final_store(
    store_path: Path, population: Population, runner: Runner, sweeps: list[dict[str, object]]
) -> None:
    """Every acknowledged change is there, nothing else is, and store and history tell one story."""
    data = store_path.read_bytes()
    final = snapshot(data)  # also: no duplicate ids
    document = store.load(store_path)  # the store validates
    assert len(document.conversations) == len(final)
    assert history_tail(store_path) == 0, "history holds records no committed sweep vouches for"
    entries = committed_history(store_path)
    assert history_as_shown(store_path, store_path.with_name("config.toml")) == _as_tuples(store_path)

    # The history is exactly the acknowledged sweeps that moved something, each as it reported.
    runs = entries_by_run(entries)
    acknowledged = {str(s["run_id"]): s for s in sweeps if s["moved"]}
    assert set(runs) == set(acknowledged), (set(runs) ^ set(acknowledged))
    for run_id, run_entries in runs.items():
        reported = acknowledged[run_id]
        expected = {(t["id"], t["from"], t["to"]) for t in reported["transitions"]}  # type: ignore[attr-defined]
        assert {(e.id, e.from_state, e.to_state) for e in run_entries} == expected, run_id
        assert all(format_instant(e.at) == reported["now"] for e in run_entries), run_id

    for entry in entries:
        runner.record(entry.id, Event("sweep", entry.at, entry.to_state, True, entry.from_state, entry.idle_minutes))

    # Conversation by conversation: the final record is what some interleaving of its events gives.
    keys = set(population.initial) | set(runner.events)
    for key in sorted(keys):
        start: tuple[str, datetime] | None = None
        if key in population.initial:
            item = population.initial[key]
            start = (str(item["state"]), datetime.fromisoformat(str(item["modified_on"])).astimezone(UTC))
        events = runner.events.get(key, [])
        manual = [e for e in events if e.kind != "sweep"]
        swept = [e for e in events if e.kind == "sweep"]
        if not _explains(start, manual, swept, final.get(key)):
            raise AssertionError(
                f"conversation {key}: final {final.get(key)} is not what any order of its changes gives:\n"
                f"start {start}\nmanual {manual}\nsweeps {swept}"
            )
    unexpected = set(final) - keys
    assert not unexpected, f"conversations nobody added: {sorted(unexpected)[:5]}"

    # Unknown fields of conversations only sweeps and manual commands touched are kept.
    raw = {item["id"]: item for item in json.loads(data)["conversations"]}
    for key, item in population.initial.items():
        if key.startswith("i-"):
            continue
        for name, value in item.items():
            if name not in ("state", "modified_on"):
                assert raw[key].get(name) == value, (key, name)
    for key, events in runner.events.items():
        batches = [e for e in events if e.kind == "import" and e.applied]
        if batches and key in raw:
            assert "batch" in raw[key], key


def _explains(
    start: tuple[str, datetime] | None,
    manual: Sequence[Event],
    swept: Sequence[Event],
    final: tuple[str, datetime] | None,
) -> bool:
    """Whether some merge of the manual events (in issue order) and the sweeps (in history order) ends at `final`.

    Each event's precondition must hold where it is placed: a sweep moved the conversation from
    the state it was in, after exactly the idle time it recorded; a refusal saw a state that
    refuses; a manual change saw a state that allows it.
    """
    manual = [e for e in manual if e.applied is not None]  # lock timeouts did nothing
    seen: set[tuple[int, int, tuple[str, datetime] | None]] = set()

    def step(current: tuple[str, datetime] | None, event: Event) -> tuple[str, datetime] | None | bool:
        """The record after `event`, or False when the event cannot happen here."""
        if event.kind == "sweep":
            if current is None or current[0] != event.from_state:
                return False
            if minutes_between(current[1], event.now) != event.idle_minutes:
                return False
            return (str(event.state), event.now)
        if event.kind in ("add",):
            if event.applied:
                return (str(event.state), event.now) if current is None else False
            return current
        if event.kind == "import":
            return (str(event.state), event.now) if event.applied else current
        if current is None:
            return False
        if event.kind == "touch":
            closed = current[0] == State.CLOSED
            if event.applied:
                return False if closed else (current[0], event.now)
            return current if closed else False
        if event.kind == "set":
            allowed = event.state in MANUAL_TRANSITIONS[State(current[0])]
            if event.applied:
                return (str(event.state), event.now) if allowed else False
            return current if not allowed else False
        raise AssertionError(event.kind)

    def search(i: int, j: int, current: tuple[str, datetime] | None) -> bool:
        if (i, j, current) in seen:
            return False
        seen.add((i, j, current))
        if i == len(manual) and j == len(swept):
            return current == final
        for take_manual in (True, False):
            if take_manual and i < len(manual):
                after = step(current, manual[i])
                if after is not False and search(i + 1, j, after):  # type: ignore[arg-type]
                    return True
            if not take_manual and j < len(swept):
                after = step(current, swept[j])
                if after is not False and search(i, j + 1, after):  # type: ignore[arg-type]
                    return True
        return False

    return search(0, 0, start)


def _check_final_config(
    config_path: Path, acks: dict[str, tuple[str, object]], tried: dict[str, str | None]
) -> None:
    """The config parses and holds the last acknowledged value of everything that was set."""
    policy = load_config(config_path).policy
    from ocac.durations import parse_minutes
    from ocac.model import Channel
    from ocac.model import State as S

    for name, (kind, value) in acks.items():
        if kind == "rule":
            assert policy.rules[Channel.CHAT, S.WRAP_UP].minutes == parse_minutes(str(value)), name
        else:
            assert name in policy.workstreams, name
            assert policy.workstreams[name].auto_close_after == parse_minutes(str(value)), name
    for name in tried:
        if name not in acks:
            assert name not in policy.workstreams, f"workstream {name} was never acknowledged"


# ======================================================================================= kill -9


@dataclass
class Campaign:
    """A store, the command to kill, and the two versions the store may be in afterwards."""

    folder: Path
    kind: str
    argv: list[str]
    store_path: Path
    history_path: Path
    before: bytes
    before_history: bytes
    before_snapshot: Snapshot
    before_entries: int
    after: bytes = b""
    after_snapshot: Snapshot = field(default_factory=dict)
    after_run: str | None = None
    duration: float = 0.0
    mode: int = 0o640
    history_mode: int = 0o600
    tally: Tally = field(default_factory=Tally)


def _run_id(data: bytes) -> str | None:
    marker = msgspec.json.decode(data, type=dict[str, msgspec.Raw]).get("ocac")
    if marker is None:
        return None
    last = msgspec.json.decode(marker, type=dict[str, dict[str, object]]).get("last_sweep") or {}
    value = last.get("run_id")
    return value if isinstance(value, str) else None


def prepare_campaign(folder: Path, kind: str, *, count: int, seed: int) -> Campaign:
    """A store of `count` conversations with one committed sweep behind it, and the command to kill."""
    from ocac.config import load_config as load
    from ocac.sweep import run_sweep

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    store_path, config_path = folder / "conversations.json", folder / "config.toml"
    config_path.write_text(CONFIG)
    rng = random.Random(seed)
    items = [conversation(rng, n, BASE_NOW) for n in range(count)]
    store_path.write_bytes(store_bytes(items))
    policy = load(config_path).policy
    run_sweep(store_path, policy, BASE_NOW - timedelta(days=1), dry_run=False, lock_timeout=5)
    history_path = store.history_path(store_path)
    assert history_path.stat().st_size > 0
    if kind == "sweep":
        argv = ocac_argv(store_path, config_path, "sweep", "run", "--quiet", "--now", format_instant(BASE_NOW))
    else:
        incoming = folder / "incoming.json"
        rows = []
        for item in rng.sample(items, count // 20):  # updates of existing conversations
            rows.append(item | {"state": "closed", "modified_on": format_instant(BASE_NOW), "imported": True})
        for n in range(count // 20):  # and new ones
            rows.append(conversation(rng, count + n, BASE_NOW) | {"id": f"new-{n:06d}", "imported": True})
        incoming.write_bytes(msgspec.json.encode(rows))
        argv = ocac_argv(store_path, config_path, "conversations", "import", str(incoming))
    before = store_path.read_bytes()
    campaign = Campaign(
        folder, kind, argv, store_path, history_path, before, history_path.read_bytes(), snapshot(before),
        len(committed_history(store_path)),
    )  # fmt: skip
    timings = []
    for _ in range(3):
        reset(campaign)
        began = time.monotonic()
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=ENV, check=False)
        timings.append(time.monotonic() - began)
        assert completed.returncode == 0, completed.stderr
    campaign.duration = sorted(timings)[1]
    campaign.after = store_path.read_bytes()
    campaign.after_snapshot = snapshot(campaign.after)
    campaign.after_run = _run_id(campaign.after)
    assert campaign.after_snapshot != campaign.before_snapshot, "the command to kill changes nothing"
    check_agreement(campaign)
    return campaign


def reset(campaign: Campaign) -> None:
    """Put the old store and history back, with their permissions, and nothing else in the folder."""
    for leftover in temp_files(campaign.store_path):
        leftover.unlink()
    campaign.store_path.write_bytes(campaign.before)
    campaign.history_path.write_bytes(campaign.before_history)
    os.chmod(campaign.store_path, campaign.mode)
    os.chmod(campaign.history_path, campaign.history_mode)


def classify(campaign: Campaign) -> str:
    """'old' or 'new': which version the store is; anything else fails with the evidence."""
    data = campaign.store_path.read_bytes()
    assert stat.S_IMODE(campaign.store_path.stat().st_mode) == campaign.mode, "store permissions changed"
    assert stat.S_IMODE(campaign.history_path.stat().st_mode) == campaign.history_mode, "history permissions changed"
    if data == campaign.before:
        return "old"
    parsed = snapshot(data)  # parses, no duplicates
    store.load(campaign.store_path)  # and validates
    assert parsed == campaign.after_snapshot, (
        f"the store is neither the old nor the new version: {len(parsed)} conversations, "
        f"{sum(1 for k, v in parsed.items() if campaign.after_snapshot.get(k) != v)} differ from the new one"
    )
    run_id = _run_id(data)
    if campaign.after_run is not None and run_id is not None:  # the same bytes up to the run id
        assert data.replace(run_id.encode(), campaign.after_run.encode()) == campaign.after
    else:
        assert data == campaign.after
    return "new"


def check_agreement(campaign: Campaign) -> None:
    """Every committed run's entries are exactly the conversations whose state it changed."""
    entries = committed_history(campaign.store_path)
    current = snapshot(campaign.store_path.read_bytes())
    assert len(entries) >= campaign.before_entries
    runs = entries_by_run(entries[campaign.before_entries :])
    if campaign.kind == "import" or current == campaign.before_snapshot:
        assert not runs, f"history has runs the store does not reflect: {list(runs)}"
        return
    assert len(runs) == 1, f"expected one committed run, found {list(runs)}"
    ((run_id, run_entries),) = runs.items()
    assert run_id == _run_id(campaign.store_path.read_bytes())
    moved = {key for key, (state, _) in current.items() if campaign.before_snapshot[key][0] != state}
    assert {e.id for e in run_entries} == moved, "history and store disagree on what the sweep moved"
    assert len(run_entries) == len(moved), "a conversation appears twice in one run"
    for entry in run_entries:
        assert campaign.before_snapshot[entry.id][0] == entry.from_state
        assert current[entry.id] == (entry.to_state, entry.at)


def history_as_shown(store_path: Path, config_path: Path) -> list[tuple[str, str, str, str]]:
    """(run id, id, from, to) of every entry `ocac history --json` prints."""
    completed = subprocess.run(
        ocac_argv(store_path, config_path, "history", "--json"),
        capture_output=True, text=True, timeout=120, env=ENV, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    return [(e["run_id"], e["id"], e["from"], e["to"]) for e in json.loads(completed.stdout)]


def _as_tuples(store_path: Path) -> list[tuple[str, str, str, str]]:
    return [(e.run_id, e.id, e.from_state, e.to_state) for e in committed_history(store_path)]


def recover(campaign: Campaign) -> None:
    """The next run finishes (a killed holder's lock does not block it) and cleans what was left."""
    completed = subprocess.run(
        [*campaign.argv[:3], "--lock-timeout", "5", *campaign.argv[3:]],
        capture_output=True, text=True, timeout=120, env=ENV, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert not temp_files(campaign.store_path), "the next run left a temporary file"
    assert history_tail(campaign.store_path) == 0, "the next run kept an uncommitted history tail"
    assert classify(campaign) == "new"
    check_agreement(campaign)
    assert history_as_shown(campaign.store_path, campaign.folder / "config.toml") == _as_tuples(campaign.store_path)


def kill_once(campaign: Campaign, delay: float | None, rng: random.Random, *, aim: str = "write") -> str:
    """Start the command on the folder as the last kill left it; SIGKILL it after `delay` seconds.

    `delay` None aims: at the write (`aim="write"`: within 50 ms of the temporary file appearing)
    or at the history append (`aim="history"`: as soon as the history grows, before the rename).
    A store left in its old version is left as it is, with whatever temporary file or history
    tail the kill left, for the next command to clean up, as in real life; a store in its new
    version is put back to the old one.
    """
    earlier = set(temp_files(campaign.store_path))
    process = subprocess.Popen(campaign.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    try:
        if delay is None:
            base = len(campaign.before_history)
            truncated = False  # a tail an earlier kill left is cut off before the run appends its own
            limit = time.monotonic() + 60
            while process.poll() is None and time.monotonic() < limit:
                if aim == "write" and set(temp_files(campaign.store_path)) - earlier:
                    break
                if aim == "history":
                    size = campaign.history_path.stat().st_size
                    truncated = truncated or size <= base
                    if truncated and size > base:
                        break
                time.sleep(0.0002)
            delay = rng.uniform(0, 0.05) if aim == "write" else 0
        try:
            process.wait(timeout=delay)
            finished = True
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            finished = process.returncode == 0  # it exited just before the signal
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.stderr is not None
    stderr = process.stderr.read().decode()
    process.stderr.close()
    if finished:
        assert process.returncode == 0, stderr
        campaign.tally.add("finished before the kill")
    else:
        assert process.returncode == -signal.SIGKILL, (process.returncode, stderr)
    assert "Traceback" not in stderr, stderr
    outcome = classify(campaign)
    campaign.tally.add(outcome)
    check_agreement(campaign)
    leftovers = set(temp_files(campaign.store_path))
    tail = history_tail(campaign.store_path) > 0
    if outcome == "new":  # it got the lock, so it cleaned up after the kills before it
        assert not leftovers, "a committed run left temporary files behind"
        assert not tail, "an uncommitted history tail behind a committed store"
        reset(campaign)
    else:
        if leftovers - earlier:
            campaign.tally.add("left a temp file")
        if earlier - leftovers:
            campaign.tally.add("cleaned an earlier temp file")
        if tail:
            campaign.tally.add("left a history tail")
    return outcome


def kill_campaign(campaign: Campaign, *, kills: int, aimed: int, seed: int) -> Tally:
    """`kills` kills spread over the command's lifetime, `aimed` kills at its write, then one clean run."""
    rng = random.Random(seed)
    reset(campaign)
    for _ in range(kills):
        kill_once(campaign, rng.uniform(0, campaign.duration), rng)
    for number in range(aimed):
        kill_once(campaign, None, rng, aim="history" if campaign.kind == "sweep" and number % 3 == 2 else "write")
    recover(campaign)
    return campaign.tally
