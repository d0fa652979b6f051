"""Check the databases against the JSON store after the mass sweep (a child of bench/backends.py).

``python bench/verify_backends.py --original S --reference R [--meta M] [--limit 50]
[--copy sqlite=PATH ...] [--list json=PATH ...]``

- ``--reference``: the JSON store after ``ocac sweep run`` at the generator's now; it must
  have moved exactly the generator's count of due conversations (compared with ``--original``).
- ``--copy NAME=PATH``: a database's store after the same sweep, copied back to JSON with
  ``ocac store copy``. Per id: the same state, the same ``modified_on`` and ``created_on``
  instants (the spelling may differ), every other field (unknown ones included) equal, no id
  lost or added, the same deleted records.
- ``--sqlite PATH`` / ``--postgresql URL``: the database itself, read directly (one query on
  ``ocac_conversations``, no ocac code involved): per id the same state and ``modified_on``
  instant as the reference, no id lost or added. Cheap at 1M, unlike a copy back to JSON.
- ``--list NAME=PATH``: ``conversations list --due --limit N --json`` before the sweep: N ids,
  all of them moved by the reference sweep (and whether they are the JSON store's N, in order).

Prints ``{"ok": …, "lines": [...], "problems": [...]}``; exit status 1 on any problem.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from verify import instant, listed_ids, load, moved_from

MAX_REPORTED = 20
INSTANTS = ("modified_on", "created_on")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def micros(value: Any) -> int | None:
    """An instant (RFC 3339 text or aware datetime) as microseconds since 1970."""
    when = instant(value) if isinstance(value, str) else value
    return (when - EPOCH) // MICROSECOND if isinstance(when, datetime) else None


def database_rows(kind: str, where: str) -> dict[str, tuple[str, int | None]]:
    """id -> (state, modified_on in µs), straight from a database's ocac_conversations."""
    if kind == "sqlite":
        import sqlite3

        conn = sqlite3.connect(f"file:{where}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT id, state, modified_us FROM ocac_conversations").fetchall()
        finally:
            conn.close()
        return {cid: (state, us) for cid, state, us in rows}
    import psycopg

    with psycopg.connect(where) as pg:
        rows = pg.execute("SELECT id, state, modified_on FROM ocac_conversations").fetchall()
    return {cid: (state, micros(at)) for cid, state, at in rows}


def count_agreeing(
    name: str,
    ref: dict[str, dict[str, Any]],
    got: dict[str, Any],
    problems: list[str],
    differs: Callable[[dict[str, Any], Any], str | None],
) -> int:
    """How many conversations `got` has as `ref` has them; the ids either lacks and the first differences noted."""
    missing, extra = ref.keys() - got.keys(), got.keys() - ref.keys()
    if missing or extra:
        problems.append(
            f"{name}: {len(missing)} ids missing (e.g. {sorted(missing)[:3]}), "
            f"{len(extra)} ids added (e.g. {sorted(extra)[:3]})"
        )
    agree = 0
    for cid, want in ref.items():
        if cid not in got:
            continue
        problem = differs(want, got[cid])
        if problem is None:
            agree += 1
        elif len(problems) < MAX_REPORTED:
            problems.append(f"{name} != json: {cid}: {problem}")
    return agree


def check_database(
    name: str, got: dict[str, tuple[str, int | None]], ref: dict[str, dict[str, Any]], problems: list[str]
) -> int:
    """One database's rows against the reference; returns how many conversations agree."""

    def differs(want: dict[str, Any], have: tuple[str, int | None]) -> str | None:
        expected = (want.get("state"), micros(want.get("modified_on")))
        return None if have == expected else f"json (state, modified µs) {expected}, {name} {have}"

    return count_agreeing(name, ref, got, problems, differs)


def by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Conversations by id."""
    return {c["id"]: c for c in doc.get("conversations", [])}


def named(values: list[str]) -> list[tuple[str, Path]]:
    """``NAME=PATH`` arguments."""
    out = []
    for value in values:
        name, _, path = value.partition("=")
        out.append((name, Path(path)))
    return out


def same_conversation(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The fields that differ (instants compared as instants)."""
    diff = []
    for key in sorted(a.keys() | b.keys()):
        x, y = a.get(key), b.get(key)
        if key in INSTANTS:
            if x != y and (x is None or y is None or instant(x) != instant(y)):
                diff.append(key)
        elif key not in a or key not in b or x != y:
            diff.append(key)
    return diff


def check_copy(
    name: str, path: Path, ref: dict[str, dict[str, Any]], ref_records: set[str], problems: list[str]
) -> int:
    """One database's copy against the reference; returns how many conversations agree."""
    doc = load(path)
    got = by_id(doc)

    def differs(want: dict[str, Any], have: dict[str, Any]) -> str | None:
        diff = same_conversation(want, have)
        return f"fields {diff}: json {want}; {name} {have}" if diff else None

    agree = count_agreeing(name, ref, got, problems, differs)
    records = set(doc.get("deleted_records", []))
    if records != ref_records:
        problems.append(f"{name}: deleted records differ ({len(records)} vs {len(ref_records)})")
    return agree


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description="databases == JSON store after the mass sweep")
    ap.add_argument("--original", type=Path, required=True)
    ap.add_argument("--reference", type=Path, required=True)
    ap.add_argument("--meta", type=Path)
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--copy", action="append", default=[], help="NAME=PATH of a database copied back")
    ap.add_argument("--list", action="append", default=[], help="NAME=PATH of a list --due --json output")
    ap.add_argument("--sqlite", help="a SQLite store to read directly")
    ap.add_argument("--postgresql", help="a PostgreSQL store's URL to read directly")
    args = ap.parse_args(argv)
    problems: list[str] = []
    lines: list[str] = []

    original = by_id(load(args.original))
    ref_doc = load(args.reference)
    ref = by_id(ref_doc)
    ref_records = set(ref_doc.get("deleted_records", []))
    del ref_doc
    due = {cid for cid, conv in ref.items() if cid in original and moved_from(original[cid], conv)}
    del original
    expected = orjson.loads(args.meta.read_bytes())["due"] if args.meta else None
    if expected is not None and len(due) != expected:
        problems.append(f"json: the mass sweep moved {len(due)}, the generator expected {expected}")
    lines.append(
        f"JSON mass sweep moved {len(due):,} of {len(ref):,} (generator expected "
        f"{expected if expected is None else f'{expected:,}'})"
    )

    for kind, where in (("sqlite", args.sqlite), ("postgresql", args.postgresql)):
        if where:
            agree = check_database(kind, database_rows(kind, where), ref, problems)
            lines.append(
                f"{kind} after the mass sweep, read directly: {agree:,} of {len(ref):,} "
                "conversations in the JSON store's state, with its modified_on instant"
            )

    for name, path in named(args.copy):
        agree = check_copy(name, path, ref, ref_records, problems)
        lines.append(
            f"{name} after the mass sweep, copied back to JSON: {agree:,} of {len(ref):,} "
            f"conversations equal to the JSON store's (state, instants, every other field)"
        )

    lists = {name: listed_ids(path) for name, path in named(args.list)}
    want = min(args.limit, len(due))
    for name, ids in lists.items():
        if ids is None:
            problems.append(f"{name}: unrecognised list --json output")
            continue
        not_due = [i for i in ids if i not in due]
        if len(ids) != want or not_due:
            problems.append(
                f"{name}: list --due gave {len(ids)} ids (expected {want}), {len(not_due)} not due (e.g. {not_due[:3]})"
            )
        same = "same ids and order as JSON's" if ids == lists.get("json") else "NOT JSON's ids/order"
        lines.append(
            f"{name}: list --due --limit {args.limit} returned {len(ids)} ids, {len(ids) - len(not_due)} due; {same}"
        )

    ok = not problems
    print(orjson.dumps({"ok": ok, "lines": lines, "problems": problems}).decode())
    for line in problems:
        print("MISMATCH " + line, file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
