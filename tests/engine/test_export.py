"""CSV exports: formula injection neutralised (OWASP), RFC 4180 round trip, UTF-8 with BOM for Excel."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from engine import neutralise_cell, safe_frame, to_csv_bytes


@pytest.mark.parametrize("cell", ["=1+1", "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")'])
def test_formula_cells_are_neutralised(cell):
    assert neutralise_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["plain", "", "a=b", "3-2", -5, 12.5, None])
def test_other_cells_are_untouched(cell):
    assert neutralise_cell(cell) == cell


def test_round_trip_is_rfc4180_with_bom():
    frame = pd.DataFrame(
        {
            "name": ['Müller, "Hans"', "line\nbreak", "=cmd|' /C calc'!A0", "€ 5"],
            "amount": [-5.5, 0.0, 12.0, 3.25],
            "=header": ["a", "b", "c", "d"],
        }
    )
    data = to_csv_bytes(frame)
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["name", "amount", "'=header"]
    assert rows[1] == ['Müller, "Hans"', "-5.5", "a"]
    assert rows[2][0] == "line\nbreak"
    assert rows[3][0] == "'=cmd|' /C calc'!A0"
    assert rows[4][0] == "€ 5"
    assert len(rows) == 5


def test_safe_frame_leaves_numbers_numeric():
    out = safe_frame(pd.DataFrame({"x": [-1, 2], "s": ["-1", "ok"]}))
    assert out["x"].tolist() == [-1, 2]
    assert out["s"].tolist() == ["'-1", "ok"]
