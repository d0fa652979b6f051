"""Which store `--store` names, and how a URL is shown (its password never)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocac.errors import InvalidInput
from ocac.store import mask, parse_spec


@pytest.mark.parametrize(
    ("text", "backend", "target"),
    [
        ("conversations.json", "json", "conversations.json"),
        ("/srv/ocac/store", "json", "/srv/ocac/store"),
        ("kept.TOML", "toml", "kept.TOML"),
        ("a.sqlite", "sqlite", "a.sqlite"),
        ("a.sqlite3", "sqlite", "a.sqlite3"),
        ("/var/lib/ocac/a.db", "sqlite", "/var/lib/ocac/a.db"),
        ("sqlite:////srv/a.db", "sqlite", "//srv/a.db"),
        ("sqlite:///srv/a.db", "sqlite", "/srv/a.db"),
        ("postgresql://u@db.example/ocac", "postgresql", "postgresql://u@db.example/ocac"),
        ("postgres:///ocac?host=/run/postgresql", "postgresql", "postgres:///ocac?host=/run/postgresql"),
    ],
)
def test_the_backend_follows_the_path_or_scheme(text: str, backend: str, target: str) -> None:
    spec = parse_spec(text)
    assert (spec.backend, spec.target) == (backend, target)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("mysql://u:pw@host/db", "unknown scheme 'mysql'"),
        ("https://example.com/x.json", "unknown scheme 'https'"),
        ("sqlite://relative.db", "needs an absolute path"),
        ("sqlite:/tmp/a.db", "neither a path nor a URL"),
        ("  ", "--store is empty"),
    ],
)
def test_unknown_schemes_and_relative_sqlite_urls_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment) as caught:
        parse_spec(text)
    assert "pw" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://ocac:s3cret@db/ocac", "postgresql://ocac:***@db/ocac"),
        ("postgresql://ocac@db/ocac", "postgresql://ocac@db/ocac"),
        ("postgresql:///ocac?host=/run&password=s3cret", "postgresql:///ocac?host=/run&password=***"),
    ],
)
def test_a_password_is_masked(url: str, shown: str) -> None:
    assert mask(url) == shown


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="@/:?#&=%"), min_size=1))
def test_no_password_survives_masking(password: str) -> None:
    assert mask(f"postgresql://user:{password}@host/db") == "postgresql://user:***@host/db"
