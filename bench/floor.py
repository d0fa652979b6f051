"""Floor contender: parse, re-serialize and atomically rewrite a store.

``python bench/floor.py STORE`` does ``orjson.loads`` + ``orjson.dumps`` and an
atomic write (temp file in the same directory, fsync, ``os.replace``) and
nothing else: no sweep can be cheaper than this while keeping the file whole.
"""

from __future__ import annotations

import os
import sys
import tempfile

import orjson


def atomic_write(path: str, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync it, then replace."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".floor-", suffix=".tmp")
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    """Round-trip the store named by ``argv[1]`` in place."""
    path = argv[1]
    with open(path, "rb") as fh:
        doc = orjson.loads(fh.read())
    atomic_write(path, orjson.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
