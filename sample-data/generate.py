#!/usr/bin/env python3
"""Regenerate the bundled ocac sample data.

    python sample-data/generate.py

Writes, next to this script:

- ``conversations.json``          the store (a few hundred conversations)
- ``config.toml``                 a commented configuration that matches the store
- ``dataverse-conversations.json`` a small Dataverse Web API export of ``msdyn_ocliveworkitem``
- ``dataverse-workstreams.json``   the same workstreams as the service lists them (``msdyn_liveworkstream``)
- ``expected-sweep.json``         what a sweep at ``NOW`` must do, conversation by conversation
- ``README.md``                   what the files are, with the expected counts

Everything is relative to one fixed reference instant, ``NOW`` (below), and the random
generator has a fixed seed, so every run writes byte-identical files. Ages are chosen
relative to ``NOW``: run ocac with ``--now 2026-11-25T12:00:00Z`` to see the documented
result; without ``--now`` it uses the real clock, and nearly everything is due.

The script ends with a small implementation of the sweep rules, independent of ocac, that
computes what is due at ``NOW``; it checks the data against itself (no conversation is in
the future, none is due by less than a minute, so whole-minute and exact ages agree) and
prints the counts.

Its random parts (ids, names, queues, tags, how instants are written) come from the shared
seeded generator, tools/generator.py; the scenarios are this script's own. Standard library
only (json, datetime, re, uuid), Python 3.11 or later.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

from generator import Generator, Style, Weighted, may_be, store_bytes, store_document, write_instant  # noqa: E402

# The reference instant: every age in the sample is measured from here.
NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
NOW_TEXT = "2026-11-25T12:00:00Z"
SEED = 20261125
TOTAL = 300

HERE = Path(__file__).resolve().parent

MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

# ---------------------------------------------------------------------------
# Rules (the contract the sample is built against)
# ---------------------------------------------------------------------------

# Built-in defaults: channel -> state -> (duration text, target state). "never" = no rule.
DEFAULT_RULES = {
    "chat": {"open": ("20m", "closed"), "active": ("never", None), "wrap-up": ("15m", "closed")},
    "voice": {"open": ("30d", "closed"), "active": ("2h", "wrap-up"), "wrap-up": ("1d", "closed")},
    "sms": {"open": ("30d", "closed"), "active": ("30d", "closed"), "wrap-up": ("1d", "closed")},
    "teams": {"open": ("30d", "closed"), "active": ("30d", "closed"), "wrap-up": ("1d", "closed")},
    "social": {"open": ("30d", "closed"), "active": ("30d", "closed"), "wrap-up": ("1d", "closed")},
    "persistent-chat": {
        "open": ("30d", "closed"), "active": ("never", None), "wrap-up": ("1d", "closed"),
    },
    "case": {"open": ("never", None), "active": ("never", None)},
}  # fmt: skip

# Overrides in config.toml (kept in step with CONFIG_TOML below; checked with tomllib).
RULE_OVERRIDES = {"sms": {"open": "14d"}, "teams": {"active": "7d"}}

# Workstreams in config.toml: name -> keys.
WORKSTREAMS = {
    "Contoso Web Chat": {"channel": "chat"},
    "Contoso Support Line": {"channel": "voice", "wrap_up_block": "1h30m"},
    "Contoso Chat": {"channel": "persistent-chat", "auto_close_after": "3d"},
    "Contoso SMS": {"channel": "sms", "auto_close_after": "2d"},
    "Contoso IT Helpdesk": {"channel": "teams", "auto_close_after": "12h"},
    "Contoso Social": {"channel": "social"},
    "Contoso Case Routing": {"channel": "case"},
}

# Dataverse GUIDs of the same workstreams (msdyn_liveworkstream), for the Web API sample.
WORKSTREAM_GUIDS = {
    "Contoso Web Chat": "6a3f2c1e-8d4b-4f0a-9c2e-1b7d5e9a0c31",
    "Contoso Support Line": "0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e62",
    "Contoso Chat": "b2c7e4a9-31f5-4d8e-a6b0-7c9d2e1f3a85",  # persistent chat (live chat codes)
    "Contoso SMS": "4d1c9b8a-7e6f-4a5b-9c3d-2e1f0a9b8c74",
    "Contoso IT Helpdesk": "9e8f7a6b-5c4d-4e3f-a2b1-0c9d8e7f6a53",
    "Contoso Social": "c5d4e3f2-a1b0-4c9d-8e7f-6a5b4c3d2e16",
    "Contoso Case Routing": "e7f6a5b4-c3d2-4e1f-9a0b-8c7d6e5f4a97",
}

CONFIG_TOML = """\
# ocac configuration for the bundled sample (sample-data/conversations.json).
#
#   ocac --store sample-data/conversations.json --config sample-data/config.toml \\
#        sweep run --dry-run --now 2026-11-25T12:00:00Z
#
# Durations: "20m", "2h", "1d", "1h30m", "14d"... or "never" (the rule never fires).
# A conversation is due when it has been unchanged for strictly MORE than the duration:
# exactly 20 minutes is not yet due under a 20-minute rule.

# ---------------------------------------------------------------------------
# [rules.<channel>]: overrides of the built-in per-channel rules.
# Only the states you list change; the others keep their defaults, which are
# (channel: open / active / wrap-up)
#   chat             20m -> closed  / never          / 15m -> closed
#   voice            30d -> closed  / 2h -> wrap-up  / 1d  -> closed
#   sms, teams,      30d -> closed  / 30d -> closed  / 1d  -> closed
#   social
#   persistent-chat  30d -> closed  / never          / 1d  -> closed
#   case             never          / never
# ---------------------------------------------------------------------------

[rules.sms]
# Unanswered SMS threads are abandoned sooner than on other channels.
open = "14d"

[rules.teams]
# Internal Teams help requests go stale after a week of silence.
active = "7d"

# ---------------------------------------------------------------------------
# [workstreams."<name>"]: the workstreams conversations in the store refer to.
#   channel           (required) the channel the workstream serves
#   auto_close_after  (optional; persistent-chat, sms, social and teams only)
#                     close WAITING conversations after this long; without it
#                     waiting conversations are never closed by the sweep
#   wrap_up_block     (optional) wrap-up conversations wait at least this long
#                     before they are closed
# ---------------------------------------------------------------------------

[workstreams."Contoso Web Chat"]
channel = "chat"                 # chat has no waiting state, so no auto_close_after

[workstreams."Contoso Support Line"]
channel = "voice"
wrap_up_block = "1h30m"          # agents keep at least 90 minutes of after-call work

[workstreams."Contoso Chat"]
channel = "persistent-chat"
auto_close_after = "3d"          # waiting persistent chats close after 3 days

[workstreams."Contoso SMS"]
channel = "sms"
auto_close_after = "2d"

[workstreams."Contoso IT Helpdesk"]
channel = "teams"
auto_close_after = "12h"

[workstreams."Contoso Social"]
channel = "social"               # no auto_close_after: waiting social conversations stay open

[workstreams."Contoso Case Routing"]
channel = "case"                 # case conversations close only when their record is deleted
"""

# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+)([dhm])")


def parse_duration(text: str) -> timedelta | None:
    """'1h30m' -> timedelta; 'never' -> None. Only d/h/m units (all the sample uses)."""
    if text == "never":
        return None
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"bad duration {text!r}")
    unit = {"d": DAY, "h": HOUR, "m": MIN}
    return sum((int(n) * unit[u] for n, u in parts), timedelta())


def parse_instant(text: str) -> datetime:
    """RFC 3339 with Z or an offset (3 or 6 fraction digits) -> aware UTC datetime."""
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"no offset in {text!r}")
    return value.astimezone(timezone.utc)


# How the sample writes instants: 'z' (…Z), 'ms'/'us' (fractional …Z), '+02' or '-05' (offset).
STYLES = {
    "z": Style("Z", "none"), "ms": Style("Z", "milliseconds"), "us": Style("Z", "microseconds"),
    "+02": Style("+02:00", "none"), "-05": Style("-05:00", "none"),
}  # fmt: skip
# The style of a conversation not placed with one: mostly plain Z.
RANDOM_STYLE = Weighted([("+02", 5), ("-05", 5), ("ms", 6), ("us", 3), ("z", 81)])


def format_instant(value: datetime, style: str = "z") -> str:
    """Write an instant in one of the STYLES."""
    return write_instant(value, STYLES[style])


def effective_rules(with_config: bool) -> dict:
    """channel -> state -> (timedelta | None, target)."""
    rules = {}
    for channel, states in DEFAULT_RULES.items():
        rules[channel] = {}
        for state, (text, target) in states.items():
            if with_config and state in RULE_OVERRIDES.get(channel, {}):
                text = RULE_OVERRIDES[channel][state]
            rules[channel][state] = (parse_duration(text), target)
    return rules


RULES = effective_rules(with_config=True)
RULES_DEFAULT = effective_rules(with_config=False)


def thresholds(channel: str, state: str, workstream: str | None) -> list[timedelta]:
    """Every threshold that could matter for (channel, state), configured or default."""
    found = []
    for rules in (RULES, RULES_DEFAULT):
        limit = rules.get(channel, {}).get(state, (None, None))[0]
        if limit is not None:
            found.append(limit)
    if workstream:
        ws = WORKSTREAMS[workstream]
        for key in ("auto_close_after", "wrap_up_block"):
            if key in ws:
                found.append(parse_duration(ws[key]))
    return found


# ---------------------------------------------------------------------------
# Realistic decoration (unknown fields ocac must keep as they are)
# ---------------------------------------------------------------------------

# The names, locales, queues and tags of the unknown fields come from tools/generator.py.

# How long a conversation had existed before its last change, by channel (min, max).
LIFETIME = {
    "chat": (2 * MIN, 90 * MIN),
    "voice": (1 * MIN, 75 * MIN),
    "sms": (5 * MIN, 3 * DAY),
    "teams": (3 * MIN, 2 * DAY),
    "persistent-chat": (10 * MIN, 6 * DAY),
    "social": (5 * MIN, 4 * DAY),
    "case": (30 * MIN, 20 * DAY),
}


class Builder:
    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.rng = gen.rng
        self.conversations: list[dict] = []

    def add(
        self,
        channel: str,
        state: str,
        age: timedelta,
        *,
        workstream: str | None = None,
        style: str | None = None,
        record_id: str | None = None,
        note: str | None = None,
    ) -> dict:
        rng = self.rng
        assert timedelta(0) <= age, "no conversation in the future"
        assert may_be(channel, state), (channel, state)
        assert workstream is None or WORKSTREAMS[workstream]["channel"] == channel
        random_style = style is None
        if random_style:
            style = self.gen.choose(RANDOM_STYLE)
        if "threshold" not in (note or "") and age >= 2 * MIN:
            # blur round ages (5 % of the age, at most an hour) so that not every timestamp
            # ends in 12:00:00; only ever older, and never on a conversation placed at or
            # just under a threshold. decide() checks that no outcome depends on it.
            age += timedelta(seconds=rng.randrange(max(1, min(int(age.total_seconds() * 0.05), 3600))))
        modified = NOW - age
        if random_style and style in ("ms", "us") and note is None and modified.microsecond == 0:
            # a fraction that moves the instant a little further into the past (well under a
            # minute, and never on a conversation placed at or just under a threshold)
            modified -= timedelta(microseconds=rng.randrange(1, 1000) * (1000 if style == "ms" else 997))
        lo, hi = LIFETIME[channel]
        lifetime = timedelta(seconds=rng.randrange(int(lo.total_seconds()), int(hi.total_seconds())))
        created = (modified - lifetime).replace(microsecond=0)
        if channel == "case" and record_id is None:
            record_id = self.gen.case_number()
        conversation = {"id": self.gen.guid(), "channel": channel, "state": state}
        if workstream:
            conversation["workstream"] = workstream
        if record_id:
            conversation["record_id"] = record_id
        conversation["created_on"] = format_instant(created)
        conversation["modified_on"] = format_instant(modified, style)
        conversation["queue"] = self.gen.queue(channel)
        conversation["customer"] = self.gen.customer(channel)
        conversation["tags"] = self.gen.tags(channel)
        if note:
            conversation["_note"] = note  # removed before writing; used for the summary
        self.conversations.append(conversation)
        return conversation


# ---------------------------------------------------------------------------
# The scenarios: hand-placed conversations around every threshold
# ---------------------------------------------------------------------------

def d(days=0, hours=0, minutes=0, seconds=0, ms=0) -> timedelta:
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds, milliseconds=ms)


def build_scenarios(b: Builder) -> tuple[list[str], list[str]]:
    """Add the hand-placed conversations; return (deleted_records, ids closed by them)."""
    EXACT, UNDER = "exactly at threshold", "just under threshold"

    # chat: open 20m -> closed, active never, wrap-up 15m -> closed
    for age in (d(minutes=21), d(minutes=25), d(minutes=47), d(hours=3), d(days=2), d(days=9)):
        b.add("chat", "open", age, workstream=b.rng.choice([None, "Contoso Web Chat"]))
    b.add("chat", "open", d(minutes=20), style="+02", note=EXACT)
    b.add("chat", "open", d(minutes=19, seconds=59, ms=500), style="ms", note=UNDER)
    b.add("chat", "open", d(minutes=19), workstream="Contoso Web Chat", note=UNDER)
    b.add("chat", "open", d(minutes=4), workstream="Contoso Web Chat")
    for age in (d(minutes=3), d(minutes=40), d(hours=5), d(days=4), d(days=45)):
        b.add("chat", "active", age, workstream=b.rng.choice([None, "Contoso Web Chat"]),
              note="no rule (never)")  # fmt: skip
    for age in (d(minutes=16), d(hours=1), d(hours=6), d(days=12)):
        b.add("chat", "wrap-up", age, workstream=b.rng.choice([None, "Contoso Web Chat"]))
    b.add("chat", "wrap-up", d(minutes=15), style="-05", note=EXACT)
    b.add("chat", "wrap-up", d(minutes=14, seconds=59), note=UNDER)
    b.add("chat", "wrap-up", d(minutes=6), workstream="Contoso Web Chat")

    # voice: open 30d -> closed, active 2h -> wrap-up, wrap-up 1d -> closed
    for age in (d(days=31), d(days=64)):
        b.add("voice", "open", age)
    b.add("voice", "open", d(days=30), note=EXACT)
    b.add("voice", "open", d(days=29, hours=23, minutes=59), note=UNDER)
    b.add("voice", "open", d(minutes=2), workstream="Contoso Support Line")
    for age in (d(hours=2, minutes=1), d(hours=2, minutes=30), d(hours=5), d(hours=26), d(days=8)):
        b.add("voice", "active", age, workstream=b.rng.choice([None, "Contoso Support Line"]))
    b.add("voice", "active", d(hours=2), style="+02", note=EXACT)  # 12:00:00+02:00 = 10:00Z
    b.add("voice", "active", d(hours=1, minutes=59), workstream="Contoso Support Line", note=UNDER)
    for age in (d(minutes=7), d(minutes=45), d(hours=1, minutes=20)):
        b.add("voice", "active", age, workstream="Contoso Support Line")
    for age in (d(days=1, minutes=1), d(days=3), d(days=17)):
        b.add("voice", "wrap-up", age)
    b.add("voice", "wrap-up", d(days=1), note=EXACT)
    b.add("voice", "wrap-up", d(hours=23, minutes=59), note=UNDER)
    b.add("voice", "wrap-up", d(minutes=10))
    # in the workstream with wrap_up_block = 1h30m: only ages clear of both 1h30m and 1d,
    # so the block cannot change the outcome however it combines with the 1d rule
    b.add("voice", "wrap-up", d(minutes=40), workstream="Contoso Support Line")
    b.add("voice", "wrap-up", d(days=2), workstream="Contoso Support Line")

    # sms: open 14d (config; default 30d), active 30d, wrap-up 1d, waiting 2d in "Contoso SMS"
    for age in (d(days=14, hours=1), d(days=20), d(days=29, hours=23), d(days=45), d(days=120)):
        b.add("sms", "open", age, workstream=b.rng.choice([None, "Contoso SMS"]))
    b.add("sms", "open", d(days=30), note="exactly at the default threshold (due under config)")
    b.add("sms", "open", d(days=14), note=EXACT)
    b.add("sms", "open", d(days=13, hours=23, minutes=59), note=UNDER)
    b.add("sms", "open", d(hours=3), workstream="Contoso SMS")
    for age in (d(days=31), d(days=90)):
        b.add("sms", "active", age, workstream="Contoso SMS")
    b.add("sms", "active", d(days=30), style="-05", note=EXACT)
    b.add("sms", "active", d(days=29, hours=23), note=UNDER)
    b.add("sms", "active", d(hours=2), workstream="Contoso SMS")
    b.add("sms", "wrap-up", d(days=2), workstream="Contoso SMS")
    b.add("sms", "wrap-up", d(days=1), workstream="Contoso SMS", note=EXACT)
    b.add("sms", "wrap-up", d(hours=20), note=UNDER)
    for age in (d(days=2, minutes=1), d(days=5), d(days=40)):
        b.add("sms", "waiting", age, workstream="Contoso SMS")
    b.add("sms", "waiting", d(days=2), workstream="Contoso SMS", style="+02", note=EXACT)
    b.add("sms", "waiting", d(days=1, hours=23, minutes=59), workstream="Contoso SMS", note=UNDER)
    b.add("sms", "waiting", d(hours=6), workstream="Contoso SMS")
    for age in (d(days=10), d(days=90)):
        b.add("sms", "waiting", age, note="waiting without a workstream (never)")

    # teams: open 30d, active 7d (config; default 30d), wrap-up 1d, waiting 12h in "Contoso IT Helpdesk"
    b.add("teams", "open", d(days=35), workstream="Contoso IT Helpdesk")
    b.add("teams", "open", d(days=30), workstream="Contoso IT Helpdesk", note=EXACT)
    b.add("teams", "open", d(days=29), note=UNDER)
    b.add("teams", "open", d(hours=1))
    for age in (d(days=7, minutes=1), d(days=10), d(days=31)):
        b.add("teams", "active", age, workstream="Contoso IT Helpdesk")
    b.add("teams", "active", d(days=30), note="exactly at the default threshold (due under config)")
    b.add("teams", "active", d(days=7), workstream="Contoso IT Helpdesk", note=EXACT)
    b.add("teams", "active", d(days=6, hours=23, minutes=59), note=UNDER)
    b.add("teams", "active", d(hours=4), workstream="Contoso IT Helpdesk")
    b.add("teams", "wrap-up", d(days=1, hours=2), workstream="Contoso IT Helpdesk")
    b.add("teams", "wrap-up", d(hours=3), workstream="Contoso IT Helpdesk")
    for age in (d(hours=13), d(days=4)):
        b.add("teams", "waiting", age, workstream="Contoso IT Helpdesk")
    b.add("teams", "waiting", d(hours=12), workstream="Contoso IT Helpdesk", style="-05", note=EXACT)
    b.add("teams", "waiting", d(hours=11, minutes=59), workstream="Contoso IT Helpdesk", note=UNDER)
    b.add("teams", "waiting", d(days=20), note="waiting without a workstream (never)")

    # social: open 30d, active 30d, wrap-up 1d; "Contoso Social" has no auto_close_after
    for age in (d(days=32), d(days=75)):
        b.add("social", "open", age, workstream="Contoso Social")
    b.add("social", "open", d(days=30), note=EXACT)
    b.add("social", "open", d(days=29, hours=12), workstream="Contoso Social", note=UNDER)
    b.add("social", "active", d(days=40), workstream="Contoso Social")
    b.add("social", "active", d(days=2), workstream="Contoso Social")
    b.add("social", "active", d(days=29, hours=23, minutes=59), note=UNDER)
    b.add("social", "wrap-up", d(days=1, minutes=1), workstream="Contoso Social")
    b.add("social", "wrap-up", d(days=1), workstream="Contoso Social", style="ms", note=EXACT)
    b.add("social", "wrap-up", d(hours=1))
    for age in (d(days=3), d(days=45), d(days=120)):
        b.add("social", "waiting", age, workstream="Contoso Social",
              note="waiting in a workstream without auto_close_after (never)")  # fmt: skip
    b.add("social", "waiting", d(days=60), note="waiting without a workstream (never)")

    # persistent-chat: open 30d, active never, wrap-up 1d, waiting 3d in "Contoso Chat"
    b.add("persistent-chat", "open", d(days=31), workstream="Contoso Chat")
    b.add("persistent-chat", "open", d(days=30), workstream="Contoso Chat", note=EXACT)
    b.add("persistent-chat", "open", d(days=29, hours=23, minutes=59), note=UNDER)
    for age in (d(hours=2), d(days=40)):
        b.add("persistent-chat", "active", age, workstream="Contoso Chat", note="no rule (never)")
    for age in (d(days=1, minutes=5), d(days=4)):
        b.add("persistent-chat", "wrap-up", age, workstream="Contoso Chat")
    b.add("persistent-chat", "wrap-up", d(days=1), workstream="Contoso Chat", style="+02", note=EXACT)
    b.add("persistent-chat", "wrap-up", d(hours=23), workstream="Contoso Chat", note=UNDER)
    for age in (d(days=3, minutes=1), d(days=3, hours=1), d(days=10), d(days=65)):
        b.add("persistent-chat", "waiting", age, workstream="Contoso Chat")
    b.add("persistent-chat", "waiting", d(days=3), workstream="Contoso Chat", note=EXACT)
    b.add("persistent-chat", "waiting", d(days=2, hours=23, minutes=59, seconds=59, ms=500),
          workstream="Contoso Chat", style="ms", note=UNDER)  # fmt: skip
    b.add("persistent-chat", "waiting", d(days=2, hours=23, minutes=59), workstream="Contoso Chat",
          note=UNDER)  # fmt: skip
    b.add("persistent-chat", "waiting", d(days=15), note="waiting without a workstream (never)")

    # case: no time rules; two open/active ones whose records were deleted get closed
    for state, age in (("open", d(hours=1)), ("open", d(days=5)), ("open", d(days=45)),
                       ("open", d(days=150)), ("active", d(hours=2)), ("active", d(days=10)),
                       ("active", d(days=70))):  # fmt: skip
        b.add("case", state, age, workstream=b.rng.choice([None, "Contoso Case Routing"]),
              note="no rule (never)")  # fmt: skip
    gone_open = b.add("case", "open", d(days=12), workstream="Contoso Case Routing",
                      note="record deleted")  # fmt: skip
    gone_active = b.add("case", "active", d(hours=3), note="record deleted")
    orphan = b.gen.case_number()  # deleted record that no conversation refers to
    deleted = [gone_open["record_id"], orphan, gone_active["record_id"]]
    return deleted, [gone_open["id"], gone_active["id"]]


# random filler: (channel, state, weight); closed dominates, as in a real store
FILL = [
    ("chat", "closed", 22), ("voice", "closed", 20), ("sms", "closed", 10), ("teams", "closed", 8),
    ("social", "closed", 10), ("persistent-chat", "closed", 10), ("case", "closed", 8),
    ("chat", "open", 3), ("chat", "active", 3), ("chat", "wrap-up", 2),
    ("voice", "open", 1), ("voice", "active", 3), ("voice", "wrap-up", 2),
    ("sms", "open", 2), ("sms", "active", 2), ("sms", "waiting", 2),
    ("teams", "active", 2), ("teams", "waiting", 2),
    ("social", "open", 2), ("social", "active", 2), ("social", "waiting", 2),
    ("persistent-chat", "active", 2), ("persistent-chat", "waiting", 2),
    ("case", "open", 2), ("case", "active", 2),
]  # fmt: skip
FILL_TABLE = Weighted(((channel, state), weight) for channel, state, weight in FILL)
WS_BY_CHANNEL = {}
for _name, _ws in WORKSTREAMS.items():
    WS_BY_CHANNEL.setdefault(_ws["channel"], []).append(_name)


def fill(b: Builder) -> None:
    rng = b.rng
    while len(b.conversations) < TOTAL:
        channel, state = b.gen.choose(FILL_TABLE)
        candidates = WS_BY_CHANNEL.get(channel, [])
        workstream = rng.choice(candidates) if candidates and rng.random() < 0.7 else None
        # log-uniform age from 2 minutes to ~6 months
        minutes = int(2 * (130000 / 2) ** rng.random())
        age = timedelta(minutes=minutes, seconds=rng.randrange(60))
        if state != "closed" and any(abs(age - t) < 10 * MIN
                                     for t in thresholds(channel, state, workstream)):  # fmt: skip
            continue  # keep random conversations well clear of every threshold
        if channel == "voice" and state == "wrap-up" and workstream and HOUR <= age <= 2 * DAY:
            continue  # see the voice wrap-up note in build_scenarios
        b.add(channel, state, age, workstream=workstream)


# ---------------------------------------------------------------------------
# An independent implementation of the sweep rules, to compute what is due
# ---------------------------------------------------------------------------

def decide(conversation: dict, rules: dict, deleted: set[str], with_workstreams: bool = True):
    """(target, why) if the sweep at NOW moves this conversation, else None.

    Due means strictly more than the threshold. Also checks that the outcome is the same
    with exact ages and with ages in whole minutes rounded down (as ocac counts them).
    """
    channel, state = conversation["channel"], conversation["state"]
    if state == "closed":
        return None
    if channel == "case" and conversation.get("record_id") in deleted:
        return ("closed", "record deleted")
    modified = parse_instant(conversation["modified_on"])
    age = NOW - modified
    assert age >= timedelta(0), conversation["id"]
    ws = WORKSTREAMS.get(conversation.get("workstream") or "") if with_workstreams else None
    if state == "waiting":
        limit = parse_duration(ws["auto_close_after"]) if ws and "auto_close_after" in ws else None
        target, why = "closed", "workstream auto_close_after"
    else:
        limit, target = rules[channel][state]
        why = f"rule {channel}.{state}"
        if state == "wrap-up" and limit is not None and ws and "wrap_up_block" in ws:
            limit = max(limit, parse_duration(ws["wrap_up_block"]))
    if limit is None:
        return None
    exact = age > limit
    whole_minutes = (age // MIN) * MIN > limit
    assert exact == whole_minutes, f"{conversation['id']}: due by less than a minute"
    return (target, why) if exact else None


def summarise(conversations: list[dict], deleted: list[str], rules: dict, with_ws: bool = True):
    due = []
    for c in conversations:
        outcome = decide(c, rules, set(deleted), with_ws)
        if outcome:
            due.append({"id": c["id"], "channel": c["channel"], "state": c["state"],
                        "target": outcome[0], "why": outcome[1],
                        "modified_on": c["modified_on"]})  # fmt: skip
    return due


def counts_by_rule(due: list[dict]) -> Counter:
    return Counter(f"{x['channel']}/{x['state']} -> {x['target']}" for x in due)


# ---------------------------------------------------------------------------
# The Dataverse Web API sample (msdyn_ocliveworkitem)
# ---------------------------------------------------------------------------

CHANNEL_LABELS = {
    "192360000": "Live chat", "192370000": "Voice", "192440000": "Voice call",
    "192340000": "SMS", "19241000": "Microsoft Teams", "192350000": "Entity Records",
    "192300000": "WhatsApp", "192310000": "LINE", "192320000": "WeChat",
    "192330000": "Facebook", "192350001": "Twitter", "192450000": "Apple Messages for Business",
    "192450001": "Google's Business Messages", "192350002": "Custom", "192380000": "Video",
}  # fmt: skip
STATUS_LABELS = {1: "Open", 2: "Active", 3: "Waiting", 4: "Closed", 5: "Wrap-up"}

# (channel codes, statuscode, age, workstream or None, title, keep msdyn_modifiedon)
DATAVERSE_ROWS = [
    ("192360000,192380000", 2, d(minutes=7, seconds=12), "Contoso Web Chat", "Where is my order?", True),
    ("192360000", 1, d(minutes=26, seconds=3), "Contoso Web Chat", "Promo code not applied", True),
    ("192360000", 5, d(minutes=18, seconds=40), "Contoso Web Chat", "Change delivery address", True),
    ("192360000", 4, d(hours=5, minutes=2), "Contoso Web Chat", "Invoice copy", True),
    ("192360000", 3, d(days=4, hours=2, minutes=11), "Contoso Chat", "Return label follow-up", True),
    ("192360000", 2, d(hours=1, minutes=47, seconds=16), "Contoso Chat", "Exchange for a larger size", True),
    ("192370000", 2, d(hours=2, minutes=41, seconds=5), "Contoso Support Line", "Router keeps rebooting", True),
    ("192440000", 5, d(days=1, hours=3, minutes=9), "Contoso Support Line", "Billing dispute", False),
    ("192370000,192440000", 1, d(minutes=3, seconds=58), "Contoso Support Line", "Callback request", True),
    ("192340000", 3, d(days=2, hours=6, minutes=30), "Contoso SMS", "Delivery window confirmation", True),
    ("192340000", 4, d(days=9, hours=4), "Contoso SMS", "Appointment reminder reply", True),
    ("19241000", 3, d(hours=14, minutes=22, seconds=8), "Contoso IT Helpdesk", "VPN access for new laptop", True),
    ("19241000", 2, d(days=8, hours=1), "Contoso IT Helpdesk", "Software licence request", True),
    ("192300000", 3, d(days=6, minutes=44), "Contoso Social", "Warranty question", True),
    ("192330000", 2, d(days=33, hours=2), "Contoso Social", "Complaint about late delivery", True),
    ("192350001", 4, d(days=21, hours=7), "Contoso Social", "Public mention: outage", True),
    ("192450000", 1, d(days=31, hours=5), "Contoso Social", "Store opening hours", True),
    ("192450001", 5, d(hours=2, minutes=5), "Contoso Social", "Booking a repair", True),
    ("192310000", 4, d(days=48), None, "Gift card balance", False),
    ("192320000", 3, d(days=1, hours=9, minutes=2), "Contoso Social", "Order in Chinese", True),
    ("192350000", 2, d(days=3, hours=8), "Contoso Case Routing", "CAS-04711-K3P8T2", True),
    ("192350000", 4, d(days=64, hours=1), "Contoso Case Routing", "CAS-03390-M5N2W7", True),
]  # fmt: skip

SELECT = ("activityid,statecode,statuscode,msdyn_modifiedon,modifiedon,createdon,"
          "_msdyn_liveworkstreamid_value,msdyn_channel,msdyn_title,subject,_regardingobjectid_value,"
          "_msdyn_issueid_value")  # fmt: skip

# The case rows' records: the first names its case as the regarding record, the second as its issue.
CASE_LOOKUPS = {"CAS-04711-K3P8T2": "_regardingobjectid_value", "CAS-03390-M5N2W7": "_msdyn_issueid_value"}


def case_guid(title: str) -> str:
    """A fixed GUID for a case record (no draw from the generator, so the other rows stay as they were)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://contoso.crm.dynamics.com/incident/{title}"))


def dataverse(gen: Generator) -> dict:
    rng = gen.rng
    rows = []
    etag = 48213377
    for codes, status, age, workstream, title, keep_msdyn_modified in DATAVERSE_ROWS:
        assert status != 3 or workstream in ("Contoso Chat", "Contoso SMS", "Contoso IT Helpdesk",
                                             "Contoso Social"), title  # fmt: skip
        etag += rng.randrange(40, 4000)
        modified = NOW - age
        created = modified - timedelta(seconds=rng.randrange(120, 3 * 86400))
        # modifiedon (any change to the row) is at or after msdyn_modifiedon
        row_modified = modified + timedelta(seconds=rng.choice((0, 0, 1, 2, 14, 37)))
        if row_modified > NOW:
            row_modified = modified
        label = CHANNEL_LABELS[codes.split(",")[0]]
        customer = gen.person_name()
        row = {
            "@odata.etag": f'W/"{etag}"',
            "activityid": gen.guid(),
            "statecode@OData.Community.Display.V1.FormattedValue": "Closed" if status == 4 else "Active",
            "statecode": 1 if status == 4 else 0,
            "statuscode@OData.Community.Display.V1.FormattedValue": STATUS_LABELS[status],
            "statuscode": status,
        }
        if keep_msdyn_modified:
            row["msdyn_modifiedon@OData.Community.Display.V1.FormattedValue"] = _fmt_local(modified)
            row["msdyn_modifiedon"] = format_instant(modified)
        row["modifiedon@OData.Community.Display.V1.FormattedValue"] = _fmt_local(row_modified)
        row["modifiedon"] = format_instant(row_modified)
        row["createdon@OData.Community.Display.V1.FormattedValue"] = _fmt_local(created)
        row["createdon"] = format_instant(created)
        if workstream:
            row["_msdyn_liveworkstreamid_value@OData.Community.Display.V1.FormattedValue"] = workstream
            row["_msdyn_liveworkstreamid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"] = (
                "msdyn_liveworkstreamid"
            )
            row["_msdyn_liveworkstreamid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] = (
                "msdyn_liveworkstream"
            )
            row["_msdyn_liveworkstreamid_value"] = WORKSTREAM_GUIDS[workstream]
        else:
            row["_msdyn_liveworkstreamid_value"] = None
        row["msdyn_channel@OData.Community.Display.V1.FormattedValue"] = "; ".join(
            CHANNEL_LABELS[c] for c in codes.split(",")
        )
        row["msdyn_channel"] = codes
        row["msdyn_title"] = title
        row["subject"] = f"{label} conversation with {customer}"
        if title in CASE_LOOKUPS:
            lookup = CASE_LOOKUPS[title]
            row[f"{lookup}@OData.Community.Display.V1.FormattedValue"] = title
            row[f"{lookup}@Microsoft.Dynamics.CRM.lookuplogicalname"] = "incident"
            row[lookup] = case_guid(title)
        rows.append(row)
    rows.sort(key=lambda r: r["modifiedon"], reverse=True)  # $orderby=modifiedon desc
    return {
        "@odata.context": "https://contoso.crm.dynamics.com/api/data/v9.2/"
                          f"$metadata#msdyn_ocliveworkitems({SELECT})",  # fmt: skip
        "value": rows,
    }


# ---------------------------------------------------------------------------
# The Dataverse Web API sample (msdyn_liveworkstream)
# ---------------------------------------------------------------------------

STREAM_SOURCES = {
    "chat": "192360000", "persistent-chat": "192360000", "voice": "192370000", "sms": "192340000",
    "teams": "19241000", "social": "192300000", "case": "192350000",
}  # fmt: skip
LIVE_CHAT_MODE, PERSISTENT_CHAT_MODE = 192350000, 192350001
WEB_CHAT_INACTIVITY = 15
"""Minutes the live-chat workstream carries in msdyn_autocloseafterinactivity (the service requires a value):
live chat never waits, so `ocac workstream import` leaves it out and says so."""


def workstream_records() -> dict:
    """What `GET msdyn_liveworkstreams?$select=...` returns for the workstreams of config.toml."""
    rows = []
    for number, (name, settings) in enumerate(WORKSTREAMS.items()):
        channel = settings["channel"]
        code = STREAM_SOURCES[channel]
        minutes = parse_duration(settings.get("auto_close_after", "0m")) // MIN
        if name == "Contoso Web Chat":
            minutes = WEB_CHAT_INACTIVITY
        block = settings.get("wrap_up_block")
        row = {
            "@odata.etag": f'W/"{48100000 + 17 * number}"',
            "msdyn_liveworkstreamid": WORKSTREAM_GUIDS[name],
            "msdyn_name": name,
            "msdyn_streamsource@OData.Community.Display.V1.FormattedValue": CHANNEL_LABELS[code],
            "msdyn_streamsource": int(code),
        }
        mode = None
        if code == "192360000":  # annotations come before their column, as the service writes them
            mode = PERSISTENT_CHAT_MODE if channel == "persistent-chat" else LIVE_CHAT_MODE
            row["msdyn_conversationmode@OData.Community.Display.V1.FormattedValue"] = (
                "Persistent Chat" if mode == PERSISTENT_CHAT_MODE else "Live Chat"
            )
        row["msdyn_conversationmode"] = mode
        row["msdyn_autocloseafterinactivity"] = minutes
        row["msdyn_blockcapacityforwrapup"] = parse_duration(block) // MIN if block else None
        row["msdyn_blockcapacityforwrapupinseconds"] = int(parse_duration(block).total_seconds()) if block else None
        row["statecode"] = 0
        row["statuscode"] = 1
        rows.append(row)
    select = ("msdyn_liveworkstreamid,msdyn_name,msdyn_streamsource,msdyn_conversationmode,"
              "msdyn_autocloseafterinactivity,msdyn_blockcapacityforwrapup,msdyn_blockcapacityforwrapupinseconds,"
              "statecode,statuscode")  # fmt: skip
    return {
        "@odata.context": f"https://contoso.crm.dynamics.com/api/data/v9.2/$metadata#msdyn_liveworkstreams({select})",
        "value": rows,
    }


SOCIAL_CODES = ("192300000", "192310000", "192320000", "192330000", "192350001", "192450000", "192450001",
                "192350002")
CODE_CHANNELS = {
    "192360000": "chat", "192370000": "voice", "192440000": "voice", "192340000": "sms", "19241000": "teams",
    "192350000": "case", **{code: "social" for code in SOCIAL_CODES},
}  # fmt: skip
"""What each conversation code is (video, 192380000, is none: it rides along)."""


def dataverse_due(export: dict) -> list[tuple[str, str]]:
    """(title, target) of every row of the export a sweep at NOW moves, once imported with the workstreams.

    The documented rules, independently: the first code that names a conversation channel decides;
    a live-chat row in a persistent-chat workstream is persistent chat; msdyn_modifiedon, else modifiedon.
    """
    statuses = {1: "open", 2: "active", 3: "waiting", 4: "closed", 5: "wrap-up"}
    names = {guid: name for name, guid in WORKSTREAM_GUIDS.items()}
    due = []
    for row in export["value"]:
        channel = next(CODE_CHANNELS[c] for c in row["msdyn_channel"].split(",") if c in CODE_CHANNELS)
        workstream = names.get(row["_msdyn_liveworkstreamid_value"] or "")
        if channel == "chat" and workstream and WORKSTREAMS[workstream]["channel"] == "persistent-chat":
            channel = "persistent-chat"
        conversation = {
            "id": row["activityid"], "channel": channel, "state": statuses[row["statuscode"]],
            "modified_on": row.get("msdyn_modifiedon") or row["modifiedon"], "workstream": workstream,
        }  # fmt: skip
        outcome = decide(conversation, RULES, set())
        if outcome:
            due.append((row["msdyn_title"], outcome[0]))
    return sorted(due)


def _fmt_local(value: datetime) -> str:
    """The FormattedValue Dataverse adds: the user's local time (here UTC, en-US style)."""
    value = value.astimezone(timezone.utc)
    hour = value.hour % 12 or 12
    return f"{value.month}/{value.day}/{value.year} {hour}:{value.minute:02d} {'AM' if value.hour < 12 else 'PM'}"


# ---------------------------------------------------------------------------
# README
# ---------------------------------------------------------------------------

ORDER = ["chat", "voice", "sms", "teams", "social", "persistent-chat", "case"]
STATE_ORDER = ["open", "active", "waiting", "wrap-up", "closed"]


def readme(conversations, deleted, deleted_ids, due, due_default_rules, export_due) -> str:
    by_rule = counts_by_rule(due)
    states = Counter((c["channel"], c["state"]) for c in conversations)
    notes = Counter(c.get("_note") for c in conversations)
    due_ids = {x["id"] for x in due}
    default_ids = {x["id"] for x in due_default_rules}
    only_config = Counter(f"{x['channel']}/{x['state']}" for x in due if x["id"] not in default_ids)
    not_due_under_config = [x for x in due_default_rules if x["id"] not in due_ids]

    lines = [
        "# Sample data",
        "",
        "A small, realistic data set for trying ocac and for its tests. All files are written by",
        "`generate.py` (standard library only, fixed seed); regenerate them with",
        "",
        "```sh",
        "python sample-data/generate.py",
        "```",
        "",
        "Do not edit the generated files (this README included) by hand: change `generate.py`.",
        "",
        "| File | What it is |",
        "| --- | --- |",
        f"| `conversations.json` | The store: {len(conversations)} conversations on every channel and "
        "state, plus `deleted_records` (case records that no longer exist). Besides the fields ocac "
        "knows (`id`, `channel`, `state`, `workstream`, `record_id`, `created_on`, `modified_on`) "
        "each conversation has `queue`, `customer` and `tags`, which ocac must keep untouched. |",
        "| `config.toml` | A commented configuration: two rule overrides and the workstreams the "
        "store refers to. |",
        "| `dataverse-conversations.json` | A Dataverse Web API export of the conversation table "
        f"`msdyn_ocliveworkitem` ({len(DATAVERSE_ROWS)} rows, with OData annotations). |",
        "| `dataverse-workstreams.json` | The workstreams of `config.toml` as the service lists them "
        f"(`msdyn_liveworkstream`, {len(WORKSTREAMS)} records), with their GUIDs. |",
        "| `expected-sweep.json` | What a sweep at `NOW` with `config.toml` must do: every "
        "conversation that is due, its target state and why. |",
        "| `generate.py` | The script that writes all of the above. |",
        "",
        "## The reference instant",
        "",
        f"Every age in the sample is relative to **NOW = `{NOW_TEXT}`**. Pass it to get the",
        "documented result:",
        "",
        "```sh",
        "ocac --store sample-data/conversations.json --config sample-data/config.toml \\",
        f"     sweep run --dry-run --now {NOW_TEXT}",
        "```",
        "",
        "Without `--now` ocac uses the real clock, which is later than NOW, so nearly every",
        "conversation that has a rule is due.",
        "",
        "## The store",
        "",
        "Conversations by channel and state:",
        "",
        "| channel | " + " | ".join(STATE_ORDER) + " | total |",
        "| --- | " + " | ".join("---:" for _ in STATE_ORDER) + " | ---: |",
    ]
    for channel in ORDER:
        row = [states.get((channel, s), 0) for s in STATE_ORDER]
        lines.append(f"| {channel} | " + " | ".join(str(n) if n else "–" for n in row)
                     + f" | {sum(row)} |")  # fmt: skip
    lines += [
        "",
        "Timestamps are RFC 3339; most are UTC with `Z`, some carry `+02:00` or `-05:00` offsets or",
        "fractional seconds. None is later than NOW, and none is due by less than a whole minute,",
        "so counting ages in exact time or in whole minutes gives the same result.",
        "",
        "The ages are placed around every threshold: for each rule there are conversations well",
        f"past it, {notes['just under threshold']} just under a threshold and "
        f"{notes['exactly at threshold']} exactly at one (not due: due means strictly *more* than",
        "the threshold; one of these is `12:00:00+02:00`, exactly 2 hours before NOW). Waiting",
        "conversations sit in workstreams with and without `auto_close_after`, and without any",
        "workstream (those never close).",
        "",
        "## A sweep at NOW",
        "",
        f"With `config.toml`, at NOW, **{len(due)} conversations are due**:",
        "",
        "| channel/state → target | due |",
        "| --- | ---: |",
    ]
    for key in sorted(by_rule, key=lambda k: (ORDER.index(k.split("/")[0]),
                                              STATE_ORDER.index(k.split("/")[1].split(" ")[0]))):  # fmt: skip
        lines.append(f"| {key.replace(' -> ', ' → ')} | {by_rule[key]} |")
    lines += [
        f"| **total** | **{len(due)}** |",
        "",
        "Why they are due: the channel rules (with the overrides), `auto_close_after` of the",
        "workstream for waiting conversations, and for case conversations a deleted record:",
        "",
    ]
    for x in due:
        if x["why"] == "record deleted":
            c = next(c for c in conversations if c["id"] == x["id"])
            lines.append(f"- `{x['id']}` (case, {x['state']}, record `{c['record_id']}`)")
    lines += [
        "",
        f"`deleted_records` is a list of {len(deleted)} `record_id` strings; `{[r for r in deleted if r not in {c.get('record_id') for c in conversations}][0]}` "
        "belongs to no conversation.",
        "",
        "The overrides matter: "
        + ", ".join(f"{n} {k}" for k, n in sorted(only_config.items()))
        + " conversations are due only because of them"
        + (f", and {len(not_due_under_config)} would be due only without them." if not_due_under_config else "."),
        "The voice workstream's `wrap_up_block` (1h30m) changes nothing at NOW: no wrap-up",
        "conversation in it has an age between 1h30m and 1 day.",
        "",
        "## The Dataverse export",
        "",
        "`dataverse-conversations.json` is what",
        "`GET /api/data/v9.2/msdyn_ocliveworkitems?$select=...&$orderby=modifiedon desc` returns",
        "with `Prefer: odata.include-annotations=\"*\"`. Things to know:",
        "",
        "- `statuscode`: 1 open, 2 active, 3 waiting, 4 closed, 5 wrap-up; `statecode` is 1 on",
        "  closed rows and 0 otherwise.",
        "- `msdyn_channel` is a string of comma-separated option codes; one voice row has two",
        "  (`192370000,192440000`, Voice and Voice call) and one live-chat row carries video too",
        "  (`192360000,192380000`): the first code that names a conversation channel decides",
        "  ([docs/dataverse.md](../docs/dataverse.md)). Codes 192300000, 192310000, 192320000,",
        "  192330000, 192350001, 192450000 and 192450001 are social networks (WhatsApp, LINE,",
        "  WeChat, Facebook, Twitter, Apple Messages for Business, Google's Business Messages),",
        "  192440000 is the voice-call network, 192350000 is entity records (case).",
        f"- Two live-chat rows (`192360000`) belong to workstream `{WORKSTREAM_GUIDS['Contoso Chat']}`,",
        "  **Contoso Chat, a persistent chat workstream**: the channel code alone cannot tell",
        "  persistent chat from live chat; the workstream does (`channel = \"persistent-chat\"` in",
        "  `config.toml`, `msdyn_conversationmode` 192350001 in `dataverse-workstreams.json`).",
        "  One of them is waiting.",
        "- Two rows have no `msdyn_modifiedon`, only `modifiedon`; one row has no workstream",
        "  (`_msdyn_liveworkstreamid_value` is null).",
        "- The two case rows name their case as `_regardingobjectid_value` and as",
        "  `_msdyn_issueid_value`: ocac's `record_id`.",
        "- The workstream GUIDs:",
        "",
        "| workstream | `_msdyn_liveworkstreamid_value` | channel |",
        "| --- | --- | --- |",
    ]
    for name, guid in WORKSTREAM_GUIDS.items():
        lines.append(f"| {name} | `{guid}` | {WORKSTREAMS[name]['channel']} |")
    lines += [
        "",
        "`dataverse-workstreams.json` is what `GET /api/data/v9.2/msdyn_liveworkstreams?$select=...` returns",
        "for the same workstreams: `msdyn_autocloseafterinactivity` is in minutes, the voice workstream's",
        "wrap-up block is in `msdyn_blockcapacityforwrapup` (minutes) and",
        "`msdyn_blockcapacityforwrapupinseconds`. Importing it into `config.toml` adds each workstream's",
        f"id and changes nothing else; Contoso Web Chat's {WEB_CHAT_INACTIVITY}-minute inactivity time is left",
        "out (live chat never waits).",
        "",
        "The three files work together:",
        "",
        "```sh",
        "cp sample-data/config.toml /tmp/config.toml",
        "ocac --config /tmp/config.toml workstream import --format dataverse sample-data/dataverse-workstreams.json",
        "ocac --config /tmp/config.toml --store /tmp/dataverse.json conversations import --format dataverse \\",
        "     sample-data/dataverse-conversations.json",
        f"ocac --config /tmp/config.toml --store /tmp/dataverse.json sweep run --dry-run --now {NOW_TEXT}",
        "```",
        "",
        f"moves {len(export_due)} conversations, the waiting ones whose workstream closes them after",
        "inactivity among them:",
        "",
        "| `msdyn_title` | moves to |",
        "| --- | --- |",
    ]
    lines += [f"| {title} | {target} |" for title, target in export_due]
    lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------

def check_config() -> None:
    """config.toml must say what RULE_OVERRIDES and WORKSTREAMS say (when tomllib exists)."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11: nothing to compare with
        return
    parsed = tomllib.loads(CONFIG_TOML)
    assert parsed == {"rules": RULE_OVERRIDES, "workstreams": WORKSTREAMS}, parsed


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> int:
    check_config()
    b = Builder(Generator(SEED))
    deleted, deleted_ids = build_scenarios(b)
    fill(b)
    conversations = sorted(b.conversations, key=lambda c: (c["created_on"], c["id"]))
    assert len({c["id"] for c in conversations}) == len(conversations)
    for c in conversations:
        assert parse_instant(c["created_on"]) <= parse_instant(c["modified_on"]) <= NOW, c["id"]

    for c in conversations:  # the README's claim about wrap_up_block
        if c["state"] == "wrap-up" and "wrap_up_block" in WORKSTREAMS.get(c.get("workstream") or "", {}):
            age = NOW - parse_instant(c["modified_on"])
            assert not parse_duration(WORKSTREAMS[c["workstream"]]["wrap_up_block"]) <= age <= DAY, c

    due = summarise(conversations, deleted, RULES)
    due_default_rules = summarise(conversations, deleted, RULES_DEFAULT)
    assert sorted(x["id"] for x in due if x["why"] == "record deleted") == sorted(deleted_ids)
    export = dataverse(Generator(SEED + 1))

    text = readme(conversations, deleted, deleted_ids, due, due_default_rules, dataverse_due(export))
    for c in conversations:
        c.pop("_note", None)
    (HERE / "conversations.json").write_bytes(store_bytes(store_document(conversations, deleted_records=deleted)))
    (HERE / "config.toml").write_text(CONFIG_TOML, encoding="utf-8")
    write_json(HERE / "dataverse-conversations.json", export)
    write_json(HERE / "dataverse-workstreams.json", workstream_records())
    by_rule = counts_by_rule(due)
    write_json(HERE / "expected-sweep.json", {
        "now": NOW_TEXT,
        "store": "conversations.json",
        "config": "config.toml",
        "due_count": len(due),
        "counts": dict(sorted(by_rule.items())),
        "due": due,
    })  # fmt: skip
    (HERE / "README.md").write_text(text, encoding="utf-8")

    print(f"NOW = {NOW_TEXT}; {len(conversations)} conversations, {len(deleted)} deleted records")
    print(f"due at NOW with config.toml: {len(due)}")
    for key, n in sorted(by_rule.items()):
        print(f"  {key:40} {n}")
    print("closed because their record was deleted:", ", ".join(deleted_ids))
    print("persistent-chat workstream in the Dataverse sample:", WORKSTREAM_GUIDS["Contoso Chat"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
