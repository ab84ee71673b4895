"""What readers receive: printable terminal tables aligned for CJK, CSV cells no spreadsheet runs."""
from __future__ import annotations

import pytest

from infra import output


@pytest.mark.parametrize("hostile, shown", [
    ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),    # OSC: sets the window title
    ("ok\x9b2J", "ok\\x9b2J"),                      # C1 CSI: clears the screen on some terminals
    ("名单\u202e表", "名单\\u202e表"),                 # a bidirectional override reorders what follows
    ("line\rover", "line\\rover"),                   # a carriage return overwrites the line
    (None, ""),
])
def test_a_table_cell_is_printable_text(hostile, shown):
    assert output.printable(hostile) == shown
    assert output.printable(shown) == shown


def test_a_table_aligns_wide_characters():
    header, *rows = output.table([{"title": "社会保险", "n": 1}, {"title": "abc", "n": None}], ["title", "n"])
    assert output.width(header) == output.width(rows[0]) == len("社会保险") * 2 + 2 + 1
    assert header.index("n") == 10 and rows[0].index("1") == 6  # the same column on screen
    assert rows[1] == "abc", "no None, no trailing blanks"


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1"])
def test_a_csv_cell_that_starts_a_formula_is_neutralised(cell):
    assert output.csv_cell(cell) == "'" + cell


def test_other_csv_cells_are_kept():
    assert [output.csv_cell(v) for v in ("gd-hrss", "社会", 5, None, "a=b")] == ["gd-hrss", "社会", 5, None, "a=b"]
