"""CSV export cells a spreadsheet could run as formulas (issue 12 item 22)."""

from __future__ import annotations

import csv
import io

from agentdeck.web.routes.exports import _csv


def test_formula_cells_are_defused_and_every_cell_is_quoted():
    text = _csv([("x;=1+1", "＝1+1", "  =SUM(A1)", "a,@x", "plain, text", "-2", "ok")])
    assert text.startswith('"')
    cells = next(csv.reader(io.StringIO(text)))
    assert cells[:4] == ["'x;=1+1", "'＝1+1", "'  =SUM(A1)", "'a,@x"]
    assert cells[4:] == ["plain, text", "'-2", "ok"]
