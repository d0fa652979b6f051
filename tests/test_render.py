"""Tables: a long one is laid out by ocac, exactly as rich lays it out, at a fraction of the cost."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocac import render

text = st.text(st.sampled_from("ab xyz-01:→éü漢字…"), max_size=12)


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]], str | None]:
    columns = draw(st.integers(min_value=1, max_value=5))
    headers = draw(st.lists(text.filter(bool), min_size=columns, max_size=columns))
    rows = draw(st.lists(st.lists(text, min_size=columns, max_size=columns), max_size=6))
    return headers, rows, draw(st.none() | text.filter(bool))


def shown(capsys: pytest.CaptureFixture[str], headers: list[str], rows: list[list[str]], title: str | None) -> str:
    grid = render.table(*headers, title=title)
    for row in rows:
        grid.add_row(*row)
    render.show(grid)
    return capsys.readouterr().out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=tables(), width=st.sampled_from([20, 40, 80, 200]))
def test_a_long_table_is_laid_out_as_rich_lays_it_out(
    table: tuple[list[str], list[list[str]], str | None],
    width: int,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setattr(render, "LONG_TABLE", 10**9)
    by_rich = shown(capsys, *table)
    monkeypatch.setattr(render, "LONG_TABLE", -1)
    assert shown(capsys, *table) == by_rich


def test_a_table_ocac_cannot_lay_out_as_rich_would_is_left_to_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    grid = render.table("id", "reason", title="a title wider than the table itself")
    grid.add_row("c1", "inactivity")
    assert render.plain_layout(grid, 200) is None
    narrow = render.table("id", "reason")
    narrow.add_row("c1", "inactivity")
    assert render.plain_layout(narrow, 10) is None  # rich would fold it
    assert render.plain_layout(narrow, 20) == "id   reason\n───────────────\nc1   inactivity\n"
