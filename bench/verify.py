"""Check that ocac's sweep equals the jq sweep (run as a child of run.py).

``python bench/verify.py --original S --jq J --ocac O [--meta M] [--list L]``

Compares per conversation id: ``state`` and ``modified_on`` (as instants),
and that every other field (known or unknown) is unchanged from the original,
for both outputs; top-level keys other than ``conversations`` must be kept
(keys a tool adds, such as ocac's own ``ocac`` marker, are reported, not failed).
With ``--list`` also checks a ``conversations list --due --limit N --json``
output: at most N ids, all of them due per jq. Prints a JSON summary; exit
status 1 on any mismatch (details on stderr).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

MAX_REPORTED = 20
SWEPT = ("state", "modified_on")


def load(path: Path) -> dict[str, Any]:
    """Parse one JSON store."""
    with open(path, "rb") as fh:
        doc: dict[str, Any] = orjson.loads(fh.read())
    return doc


def instant(text: Any) -> datetime | str:
    """RFC 3339 text as an aware datetime (the text itself if unparsable)."""
    try:
        return datetime.fromisoformat(text.replace("z", "Z"))
    except (ValueError, AttributeError, TypeError):
        return str(text)


def rest(conv: dict[str, Any]) -> dict[str, Any]:
    """A conversation without the fields a sweep may change."""
    return {k: v for k, v in conv.items() if k not in SWEPT}


class Checker:
    """Collects mismatches between the original, jq's and ocac's stores."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, text: str) -> None:
        """Record one problem (only the first few are kept in full)."""
        if len(self.problems) < MAX_REPORTED:
            self.problems.append(text)
        elif len(self.problems) == MAX_REPORTED:
            self.problems.append("... (more mismatches not shown)")

    def top_level(self, name: str, orig: dict[str, Any], out: dict[str, Any]) -> list[str]:
        """Other top-level keys must survive unchanged; return the keys added."""
        for key, value in orig.items():
            if key != "conversations" and out.get(key, ...) != value:
                self.fail(f"{name}: top-level key {key!r} lost or changed")
        return sorted(out.keys() - orig.keys())

    def index(self, name: str, doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Conversations by id; duplicates are a problem."""
        convs = doc.get("conversations", [])
        by_id = {c["id"]: c for c in convs}
        if len(by_id) != len(convs):
            self.fail(f"{name}: {len(convs) - len(by_id)} duplicate ids")
        return by_id

    def same_ids(self, name: str, orig: dict[str, Any], out: dict[str, Any]) -> None:
        """Nothing lost, nothing added."""
        missing, extra = orig.keys() - out.keys(), out.keys() - orig.keys()
        if missing or extra:
            self.fail(
                f"{name}: {len(missing)} ids missing (e.g. {sorted(missing)[:3]}), "
                f"{len(extra)} ids added (e.g. {sorted(extra)[:3]})"
            )

    def untouched(self, name: str, orig: dict[str, Any], out: dict[str, Any]) -> int:
        """All fields but state/modified_on unchanged; return how many moved."""
        moved = 0
        for cid, conv in out.items():
            before = orig.get(cid)
            if before is None:
                continue
            moved += moved_from(before, conv)
            if conv.keys() != before.keys() or rest(conv) != rest(before):
                diff = sorted(k for k in before.keys() ^ conv.keys()) + sorted(
                    k for k in before.keys() & conv.keys() if k not in SWEPT and before[k] != conv[k]
                )
                self.fail(f"{name}: {cid}: fields changed, added or lost: {diff} before={before} after={conv}")
        return moved


def moved_from(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """True if the sweep changed the state or the modified_on instant."""
    if after.get("state") != before.get("state"):
        return True
    b, a = before.get("modified_on"), after.get("modified_on")
    return a != b and instant(a) != instant(b)


def swept(by_id: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, Any]]:
    """id -> (state, modified_on) of one output."""
    return {cid: (c.get("state"), c.get("modified_on")) for cid, c in by_id.items()}


def compare(
    chk: Checker, orig: dict[str, dict[str, Any]], jq: dict[str, tuple[Any, Any]], ocac: dict[str, tuple[Any, Any]]
) -> None:
    """Per id: same state and the same modified_on instant."""
    for cid, (state, stamp) in ocac.items():
        want = jq.get(cid)
        if want is None:
            continue
        same_time = stamp == want[1] or instant(stamp) == instant(want[1])
        if state != want[0] or not same_time:
            o = orig.get(cid, {})
            chk.fail(
                f"ocac != jq: {cid} ({o.get('channel')}, ws={o.get('workstream')}, "
                f"record={o.get('record_id')}): original {o.get('state')} "
                f"{o.get('modified_on')}; jq {want[0]} {want[1]}; ocac {state} {stamp}"
            )


def listed_ids(path: Path) -> list[Any] | None:
    """Ids in a ``list --json`` output (array, {key: array} or JSON lines)."""
    raw = path.read_bytes()
    try:
        doc: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        doc = [orjson.loads(line) for line in raw.splitlines() if line.strip()]
    if isinstance(doc, dict):
        doc = next((v for v in doc.values() if isinstance(v, list)), None)
    if not isinstance(doc, list):
        return None
    return [item.get("id") if isinstance(item, dict) else item for item in doc]


def check_list(chk: Checker, path: Path, limit: int, due: set[str]) -> int:
    """The listing has min(limit, due) ids, all of them due per jq."""
    ids = listed_ids(path)
    if ids is None:
        chk.fail(f"list: unrecognised --json output in {path}")
        return 0
    if len(ids) != min(limit, len(due)):
        chk.fail(f"list: {len(ids)} items, expected {min(limit, len(due))}")
    not_due = [i for i in ids if i not in due]
    if not_due:
        chk.fail(f"list: ids not due per jq: {not_due[:5]}")
    return len(ids)


def run(args: argparse.Namespace) -> tuple[Checker, dict[str, Any]]:
    """Do every check; return the checker and a summary."""
    chk, summary = Checker(), dict[str, Any]()
    orig_doc = load(args.original)
    orig = chk.index("original", orig_doc)
    results: dict[str, dict[str, tuple[Any, Any]]] = {}
    outputs = [("jq", args.jq)] if args.jq else []
    for name, path in [*outputs, ("ocac", args.ocac)]:
        doc = load(path)
        summary[f"{name}_added_top_level_keys"] = chk.top_level(name, orig_doc, doc)
        by_id = chk.index(name, doc)
        chk.same_ids(name, orig, by_id)
        summary[f"{name}_moved"] = chk.untouched(name, orig, by_id)
        results[name] = swept(by_id)
        del doc, by_id
    ref = "jq" if args.jq else "ocac"  # without jq: only the generator's count
    if args.jq:
        compare(chk, orig, results["jq"], results["ocac"])
    expected = orjson.loads(args.meta.read_bytes())["due"] if args.meta else None
    if expected is not None and summary[f"{ref}_moved"] != expected:
        chk.fail(f"{ref} moved {summary[f'{ref}_moved']}, the generator expected {expected}")
    if args.list and args.jq:
        due = {
            cid
            for cid, (state, stamp) in results["jq"].items()
            if cid in orig and moved_from(orig[cid], {"state": state, "modified_on": stamp})
        }
        summary["listed"] = check_list(chk, args.list, args.limit, due)
    summary["conversations"] = len(orig)
    summary["reference"] = ref if args.jq else "generator"
    return chk, summary


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description="ocac sweep == jq sweep check")
    ap.add_argument("--original", type=Path, required=True)
    ap.add_argument("--jq", type=Path, help="jq's output (omit where jq is missing)")
    ap.add_argument("--ocac", type=Path, required=True)
    ap.add_argument("--meta", type=Path)
    ap.add_argument("--list", type=Path, help="output of list --due --json")
    ap.add_argument("--limit", type=int, default=50)
    args = ap.parse_args(argv)
    chk, summary = run(args)
    summary["ok"] = not chk.problems
    summary["problems"] = chk.problems
    print(orjson.dumps(summary).decode())
    for line in chk.problems:
        print("MISMATCH " + line, file=sys.stderr)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
