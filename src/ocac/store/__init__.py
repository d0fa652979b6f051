"""The conversation store: a JSON (or TOML) file that ocac owns, behind a small interface.

`load` reads and validates a store; `Document` is the in-memory view that commands change;
`transaction` wraps a read-modify-write in the store's lock and commits it atomically.
A backend (json or toml) turns bytes into a `Document` and a `Document` back into bytes,
keeping every field and top-level key it does not know exactly as it was.
"""

from ocac.store.document import Document, SweepMarker
from ocac.store.files import fields_of, history_path, load, transaction, upsert

__all__ = ["Document", "SweepMarker", "fields_of", "history_path", "load", "transaction", "upsert"]
