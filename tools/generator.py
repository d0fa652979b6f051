"""One seeded generator of plausible ocac stores, for the tests, the benchmark and the bundled sample.

Everything random comes from one `random.Random`, so a seed gives the same store every time: a
channel and a state that channel may be in, instants written in RFC 3339 with varied offsets and
fractions, ids, and the unknown fields real conversations carry (which ocac must keep as they are).
What each user builds on top (the benchmark's exact due count, the sample's hand-placed scenarios)
stays with it.

Standard library only, and independent of ocac: `sample-data/generate.py` runs without the venv.
Importers find it by path (`sys.path.insert(0, str(ROOT / "tools"))`).
"""

from __future__ import annotations

import itertools
import json
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")

CHANNELS = ("chat", "voice", "sms", "teams", "persistent-chat", "social", "case")
STATES = ("open", "active", "waiting", "wrap-up", "closed")
OPEN_STATES = ("open", "active", "waiting", "wrap-up")
"""Every state but closed: the ones a sweep can move."""
WAITING_CHANNELS = frozenset({"persistent-chat", "sms", "social", "teams"})
"""The only channels whose conversations can wait (ocac refuses a store with any other waiting)."""

CHANNEL_WEIGHTS = {"chat": 30, "voice": 20, "sms": 10, "teams": 10, "persistent-chat": 10, "social": 8, "case": 12}
STATE_WEIGHTS = {"open": 30, "active": 35, "waiting": 15, "wrap-up": 20, "closed": 100}
"""Relative weights; a channel that cannot wait shares its weight among its other states."""

OFFSET_WEIGHTS = {"Z": 50, "+02:00": 14, "-05:00": 12, "+05:30": 8, "+09:00": 6, "-03:30": 5, "+00:00": 5}
"""About half `Z`, the rest `+00:00` and offsets either side of UTC, half-hours included."""
FRACTION_WEIGHTS = {"none": 50, "milliseconds": 35, "microseconds": 15}
"""Fraction styles: no fraction, 3 digits or 6 digits."""
RESOLUTION_US = {"none": 1_000_000, "milliseconds": 1_000, "microseconds": 1}
"""The smallest step (µs) a fraction style can write: ages on that grid are written exactly."""

FIRST = ["Amelia", "Jonas", "Priya", "Mateo", "Chloé", "Kenji", "Fatima", "Liam", "Sofía",
         "Noah", "Ingrid", "Wei", "Oluwaseun", "Lucas", "Aisha", "Emma", "Rahul", "Zoë",
         "Mikael", "Hannah", "Diego", "Yuki", "Camille", "Tomasz", "Leila", "Ethan"]  # fmt: skip
LAST = ["Nguyen", "Schmidt", "Patel", "García", "Dubois", "Tanaka", "Haddad", "O'Brien",
        "Kowalski", "Larsen", "Chen", "Adeyemi", "Müller", "Rossi", "Fernández", "Johansson",
        "Kim", "Martin", "Silva", "Novak", "Cohen", "Walker"]  # fmt: skip
ESCAPED_NAMES = ['Ana "Nana" Silva', "O\\Neil", 'Zoë "Z" Ó Briain', "李雷", "Nguyễn Văn A", "Björk Á.", "Tab\tName"]
"""Names whose JSON needs escapes (quotes, a backslash, a tab) or whose UTF-8 is more than Latin-1."""
LOCALES = ["en-US", "en-US", "en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "ja-JP", "nl-NL",
           "pt-BR", "it-IT", "pl-PL", "sv-SE", "zh-CN"]  # fmt: skip
QUEUES = {
    "chat": ["Web Chat – General", "Web Chat – Billing", "Web Chat – Orders"],
    "voice": ["Support Line – Tier 1", "Support Line – Tier 2", "Support Line – Billing"],
    "sms": ["SMS – Delivery Updates", "SMS – General"],
    "teams": ["IT Helpdesk – Hardware", "IT Helpdesk – Access Requests"],
    "persistent-chat": ["Async Messaging – Orders", "Async Messaging – Returns"],
    "social": ["Social – WhatsApp", "Social – Facebook", "Social – X", "Social – Apple Messages"],
    "case": ["Case Routing – Escalations", "Case Routing – Warranty"],
}
TAGS = {
    "chat": ["order-status", "billing", "returns", "vip", "proactive-chat", "bot-handoff"],
    "voice": ["callback", "billing", "outage", "vip", "transfer", "ivr-escalation"],
    "sms": ["delivery", "appointment", "opt-in", "order-status"],
    "teams": ["laptop", "password-reset", "vpn", "new-starter", "software-request"],
    "persistent-chat": ["returns", "order-status", "warranty", "follow-up"],
    "social": ["complaint", "whatsapp", "facebook", "x", "apple-messages", "praise"],
    "case": ["warranty", "escalation", "field-service", "refund"],
}
SENTIMENTS = [-0.75, -0.2, 0.0, 0.1, 0.35, 0.9, 1]

DEFAULT_MAX_AGE = timedelta(days=40)


def states_of(channel: str, states: Iterable[str] = STATES) -> tuple[str, ...]:
    """The `states` a `channel` conversation may be in: waiting only on the channels that can wait."""
    return tuple(s for s in states if s != "waiting" or channel in WAITING_CHANNELS)


def may_be(channel: str, state: str) -> bool:
    """Whether a `channel` conversation may be in `state`."""
    return channel in CHANNELS and state in states_of(channel)


def channel_state_weights(states: Iterable[str] = STATES) -> dict[tuple[str, str], float]:
    """Each (channel, state) pair among `states` with its weight: the channel's, shared among its states."""
    wanted = tuple(states)
    weights: dict[tuple[str, str], float] = {}
    for channel, channel_weight in CHANNEL_WEIGHTS.items():
        allowed = states_of(channel, wanted)
        total = sum(STATE_WEIGHTS[s] for s in allowed)
        for state in allowed:
            weights[channel, state] = channel_weight * STATE_WEIGHTS[state] / total
    return weights


class Weighted(Generic[T]):
    """A fixed table of choices with weights; each pick is one `random()` draw (as `Random.choices`)."""

    def __init__(self, pairs: Iterable[tuple[T, float]]) -> None:
        items = list(pairs)
        if not items:
            raise ValueError("a weighted table needs at least one choice")
        self.choices = [choice for choice, _ in items]
        self.weights = [weight for _, weight in items]
        self.cum_weights = list(itertools.accumulate(self.weights))

    def pick(self, rng: random.Random) -> T:
        """One choice, drawn with `rng`."""
        return rng.choices(self.choices, cum_weights=self.cum_weights)[0]


class Style(NamedTuple):
    """How an instant is written: its offset (`Z`, `+00:00`, `+05:30`…) and fraction (see RESOLUTION_US)."""

    offset: str = "Z"
    fraction: str = "none"


UTC_SECONDS = Style()
"""`2026-11-25T12:00:00Z`: what ocac itself writes for whole seconds."""

_TIMESPEC = {"none": "seconds", "milliseconds": "milliseconds", "microseconds": "microseconds"}


def _zone(offset: str) -> timezone:
    if offset == "Z":
        return UTC
    sign = -1 if offset[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))


_ZONES = {offset: _zone(offset) for offset in OFFSET_WEIGHTS}


def write_instant(instant: datetime, style: Style = UTC_SECONDS) -> str:
    """`instant` (aware) in RFC 3339, at the style's offset, its fraction cut to the style's digits."""
    zone = _ZONES.get(style.offset) or _zone(style.offset)
    text = instant.astimezone(zone).isoformat(timespec=_TIMESPEC[style.fraction])
    return text[:-6] + "Z" if style.offset == "Z" else text


def conversation_id(number: int) -> str:
    """The id of the `number`th generated conversation: `c00000042`."""
    return f"c{number:08d}"


def record_id(number: int) -> str:
    """The linked record of the `number`th generated conversation: `INC-000042`."""
    return f"INC-{number:06d}"


CHANNEL_TABLE: Weighted[str] = Weighted(CHANNEL_WEIGHTS.items())
CHANNEL_STATE_TABLE: Weighted[tuple[str, str]] = Weighted(channel_state_weights().items())
OFFSET_TABLE: Weighted[str] = Weighted(OFFSET_WEIGHTS.items())
FRACTION_TABLE: Weighted[str] = Weighted(FRACTION_WEIGHTS.items())
_STATE_TABLES = {c: Weighted((s, STATE_WEIGHTS[s]) for s in states_of(c)) for c in CHANNELS}


class Generator:
    """Every random part of a generated store, drawn from one seeded `random.Random`."""

    def __init__(self, seed: int | str | random.Random = 0) -> None:
        """A generator seeded with `seed`, or drawing from a `random.Random` the caller also uses."""
        self.rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        self._case_numbers: set[str] = set()

    def choose(self, table: Weighted[T]) -> T:
        """One choice from a weighted table."""
        return table.pick(self.rng)

    # --- channels and states ----------------------------------------------------------------

    def channel(self) -> str:
        """A channel, weighted as a contact centre's mix (chat and voice most)."""
        return CHANNEL_TABLE.pick(self.rng)

    def state(self, channel: str) -> str:
        """A state `channel` conversations may be in (waiting only where they can wait)."""
        return _STATE_TABLES[channel].pick(self.rng)

    def channel_state(self, table: Weighted[tuple[str, str]] = CHANNEL_STATE_TABLE) -> tuple[str, str]:
        """A (channel, state) pair; by default from every pair a store may hold."""
        return table.pick(self.rng)

    # --- instants ---------------------------------------------------------------------------

    def style(self, table: Weighted[Style] | None = None) -> Style:
        """A way to write an instant: from `table`, else an offset and a fraction style drawn apart."""
        if table is not None:
            return table.pick(self.rng)
        return Style(OFFSET_TABLE.pick(self.rng), FRACTION_TABLE.pick(self.rng))

    def age(self, max_age: timedelta = DEFAULT_MAX_AGE, style: Style = UTC_SECONDS) -> timedelta:
        """An age under `max_age` on the style's grid: written from a whole-second `now`, it loses nothing."""
        step = RESOLUTION_US[style.fraction]
        return timedelta(microseconds=self.rng.randrange(0, max(step, max_age // timedelta(microseconds=1)), step))

    def instant(self, now: datetime, age: timedelta, style: Style | None = None) -> str:
        """The instant `age` before `now` in RFC 3339, in `style` (else one drawn)."""
        return write_instant(now - age, style or self.style())

    # --- ids --------------------------------------------------------------------------------

    def guid(self) -> str:
        """A random (version 4) GUID, as Dataverse names rows."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def case_number(self) -> str:
        """A Dynamics case number (`CAS-01234-B5C6D7`), never the same twice from one generator."""
        rng = self.rng
        while True:
            suffix = "".join(rng.choice("BCDFGHJKLMNPQRSTVWXZ") + str(rng.randrange(10)) for _ in range(3))
            number = f"CAS-{rng.randrange(1000, 9999):05d}-{suffix}"
            if number not in self._case_numbers:
                self._case_numbers.add(number)
                return number

    # --- the unknown fields -----------------------------------------------------------------

    def person_name(self) -> str:
        """A first and last name (some non-ASCII, some with an apostrophe)."""
        return f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}"

    def locale(self) -> str:
        """A language tag, `en-US` most often."""
        return self.rng.choice(LOCALES)

    def customer(self, channel: str, *, escaped: float = 0.0) -> dict[str, object]:
        """Who the conversation is with, as the channel knows them; `escaped`: share of names needing escapes."""
        rng = self.rng
        locale = rng.choice(LOCALES)
        if channel == "teams":  # internal employees
            name = self.person_name()
            return {"name": name, "locale": locale, "upn": name.lower().split()[0] + "@contoso.com"}
        if channel == "chat" and rng.random() < 0.15:  # anonymous visitor
            return {"name": f"Visitor {rng.randrange(1000, 9999)}", "locale": locale}
        name = rng.choice(ESCAPED_NAMES) if escaped and rng.random() < escaped else self.person_name()
        customer: dict[str, object] = {"name": name, "locale": locale}
        if channel in ("voice", "sms") and rng.random() < 0.6:
            customer["phone"] = f"+1 425 555 {rng.randrange(100, 10000):04d}"
        return customer

    def queue(self, channel: str) -> str:
        """The queue a `channel` conversation was routed through (names with an en dash)."""
        return self.rng.choice(QUEUES[channel])

    def tags(self, channel: str) -> list[str]:
        """Zero to three of the channel's tags, sorted."""
        return sorted(self.rng.sample(TAGS[channel], self.rng.choice((0, 1, 1, 2, 2, 3))))

    def unknown_fields(self, channel: str) -> dict[str, object]:
        """A few of the fields real conversations carry and ocac must keep: always `priority`, often more."""
        rng = self.rng
        fields: dict[str, object] = {"priority": rng.randint(1, 4)}
        roll = rng.random()
        if roll < 0.5:
            fields["language"] = rng.choice(LOCALES)
        if roll < 0.2:
            fields["customer"] = self.customer(channel, escaped=0.3)
        if 0.2 < roll < 0.4:
            fields["sentiment"] = rng.choice(SENTIMENTS)
        if roll > 0.85:
            fields["tags"] = self.tags(channel)
        if roll > 0.95:
            fields["x_legacy_ref"] = None
        if rng.random() < 0.3:
            fields["queue"] = self.queue(channel)
        return fields

    # --- conversations and stores -----------------------------------------------------------

    def workstream(self, channel: str, state: str, workstreams: Mapping[str, Sequence[str]]) -> str | None:
        """One of the channel's `workstreams`: always for a waiting conversation, else half the time."""
        names = workstreams.get(channel)
        if not names or (state != "waiting" and self.rng.random() >= 0.5):
            return None
        return self.rng.choice(names)

    def _fill_in(self, channel: str | None, state: str | None) -> tuple[str, str]:
        """The given channel and state, with what is missing drawn to fit; refuses a pair no store holds."""
        if channel is None:
            if state is None:
                return self.channel_state()
            if state not in STATES:
                raise ValueError(f"unknown state {state!r}")
            channel = self.channel()
            while not may_be(channel, state):  # only the channels that can be in `state`
                channel = self.channel()
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}")
        if state is None:
            state = self.state(channel)
        if not may_be(channel, state):
            raise ValueError(f"a {channel} conversation cannot be {state}")
        return channel, state

    def conversation(
        self,
        number: int,
        now: datetime,
        *,
        channel: str | None = None,
        state: str | None = None,
        age: timedelta | None = None,
        max_age: timedelta = DEFAULT_MAX_AGE,
        style: Style | None = None,
        workstream: str | None = None,
        workstreams: Mapping[str, Sequence[str]] | None = None,
    ) -> dict[str, object]:
        """The `number`th conversation, last changed `age` before `now`; what is not given is drawn.

        `workstream` names its workstream; without it one is drawn from `workstreams` (channel →
        names), if given. Case conversations (and a fifth of the others) link a record
        (`record_id(number)`); most have `created_on`; every one has unknown fields.
        """
        rng = self.rng
        channel, state = self._fill_in(channel, state)
        style = style or self.style()
        if age is None:
            age = self.age(max_age, style)
        item: dict[str, object] = {
            "id": conversation_id(number),
            "channel": channel,
            "state": state,
            "modified_on": write_instant(now - age, style),
        }
        if workstream is None and workstreams is not None:
            workstream = self.workstream(channel, state, workstreams)
        if workstream is not None:
            item["workstream"] = workstream
        if channel == "case" or rng.random() < 0.2:
            item["record_id"] = record_id(number)
        if rng.random() < 0.7:
            lifetime = timedelta(seconds=rng.randrange(0, 3 * 86_400))
            item["created_on"] = write_instant(now - age - lifetime)
        item.update(self.unknown_fields(channel))
        return item

    def store(
        self,
        count: int,
        now: datetime,
        *,
        deleted: int = 0,
        max_age: timedelta = DEFAULT_MAX_AGE,
        workstreams: Mapping[str, Sequence[str]] | None = None,
    ) -> dict[str, object]:
        """A store of `count` conversations (numbered from 0; see `conversation`), with the records of
        `deleted` of its case conversations in `deleted_records`."""
        conversations = [
            self.conversation(number, now, max_age=max_age, workstreams=workstreams) for number in range(count)
        ]
        linked = [str(c["record_id"]) for c in conversations if c["channel"] == "case"]
        records = sorted(self.rng.sample(linked, min(deleted, len(linked))))
        return store_document(conversations, deleted_records=records)


def store_document(
    conversations: Iterable[Mapping[str, object]], *, deleted_records: Iterable[str] | None = None, **top: object
) -> dict[str, object]:
    """A store: its conversations, the deleted records (when given) and any other top-level keys."""
    document: dict[str, object] = {"conversations": list(conversations)}
    if deleted_records is not None:
        document["deleted_records"] = list(deleted_records)
    document.update(top)
    return document


def store_bytes(document: Mapping[str, object], *, pretty: bool = True) -> bytes:
    """A store document as UTF-8 JSON: pretty (indented, a final newline) like the sample, or compact."""
    if pretty:
        return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
