"""Every CSV cell a spreadsheet could run as a formula is neutralised; numbers stay numbers."""

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from collector.csv_cells import FORMULA_STARTS, csv_text, neutralise


def test_formula_starts_get_a_quote_and_numbers_do_not():
    assert neutralise("=2+5") == "'=2+5"
    assert neutralise("+2+5") == "'+2+5"
    assert neutralise('=HYPERLINK("//evil.example","x")') == '\'=HYPERLINK("//evil.example","x")'
    assert neutralise("@SUM(1+1)") == "'@SUM(1+1)"
    assert neutralise("-cmd|' /C calc'!A0") == "'-cmd|' /C calc'!A0"
    assert neutralise("\tTAB") == "'\tTAB" and neutralise("\rCR") == "'\rCR"
    for number in (-4, -4.5, 0, 17, "-4", "-4.50", "+3", "1e5", "-.5"):
        assert neutralise(number) == number
    for plain in ("/pricing", "google.com", "", "a=b", "(none)"):
        assert neutralise(plain) == plain


@given(st.lists(st.lists(st.one_of(st.text(max_size=12), st.integers(), st.floats(allow_nan=False)), max_size=5), max_size=5))
def test_no_written_cell_starts_a_formula(rows):
    for row in csv.reader(io.StringIO(csv_text(rows), newline="")):
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS) or is_number(cell), cell


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
