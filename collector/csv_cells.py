"""Every CSV spii writes goes through :func:`csv_text`: cells that a spreadsheet would run as a
formula are neutralised (OWASP "CSV Injection").

Labels come from visitors (custom event names, UTM tags, paths): ``=HYPERLINK(...)`` sent by
enough visitors to be shown would otherwise run in the analyst's Excel or LibreOffice when the
export is opened. A text cell that begins with ``=``, ``+``, ``-``, ``@``, a TAB or a CR is
written with a leading ``'`` (which spreadsheets show as text and do not display); numbers,
including negative ones and text that is a plain number, are written as they are.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["FORMULA_STARTS", "csv_text", "neutralise"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")  # ASCII digits only


def neutralise(cell: Any) -> Any:
    """``cell`` as a spreadsheet may safely read it: numbers as they are, text that would start
    a formula behind a ``'``."""
    if not isinstance(cell, str) or not cell.startswith(FORMULA_STARTS) or _PLAIN_NUMBER.fullmatch(cell):
        return cell
    return "'" + cell


def csv_text(rows: Iterable[Iterable[Any]]) -> str:
    """The rows as CSV text (``\\n`` line ends), every cell through :func:`neutralise`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows([neutralise(cell) for cell in row] for row in rows)
    return out.getvalue()
