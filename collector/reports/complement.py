"""The complement rule, counted only as far as it has to be.

Under filters, a row of a breakdown (or a total) is withheld when 1 to k-1 people of its label
are left outside the filters: "unfiltered minus filtered" would single them out. Counting that
exactly takes two sets of distinct people per label over every row of the period, unfiltered:
7.2 s of a 12.3 s filtered 30-day dashboard at 10M events (3.1 s for the eleven visit columns
alone). Most labels leave far more than k people out, or nobody, and two cheaper passes show it:

1. **sampled**: the same count over one sample of the people, 1/SAMPLE of the visitors
   (query._complement_parts; ~1/8 of the period's rows read). The sample's people left outside
   are some of all the people left outside, so their number is an exact lower bound, not an
   estimate: a label whose bound reaches k passes the rule.
2. **outside**: for the labels left, whether any person's row lies outside the filters at all
   (a count, no sets). The filter's own label (GB under ``visit:country==GB``) has none: nobody
   is outside, the difference discloses nobody.
3. **exact**: the full count, for the labels still left (usually none).

What is withheld is what the exact count alone withholds
(tests/reports/test_complement_sample.py compares them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from collector.reports.query import Scope, complement_query

__all__ = ["SAMPLE", "left_out", "withheld"]

Row = dict[str, Any]
Run = Callable[[str, dict[str, Any]], list[Row]]

# The sampled pass counts one person in this many (a power of two: the sample is an id range).
SAMPLE = 16


def left_out(row: Row) -> int:
    """The people of a complement row that the filters leave out (of a sample, when sampled)."""
    return int(row["everyone"]) - int(row["inside"])


def withheld(run: Run, scope: Scope, group: str | None, k: int, labels: list[str] | None = None,
             combine: bool = False, sampled: dict[str, int] | None = None) -> set[str]:
    """The labels of ``group`` among ``labels`` (or '' for the total, or for ``labels`` taken
    together with ``combine``) whose filtered answer leaves 1 to k-1 people outside the filters.
    ``sampled`` is the sampled pass's count per label when already made (reports/together.py,
    for a page's family of panels); ``run(sql, params)`` runs a pass."""
    total = group is None or combine
    if not total and labels is None:
        raise ValueError("the complement rule checks the labels of a group it is given")
    asked = [""] if total else list(labels or [])
    if not asked:
        return set()
    if sampled is None:
        sql, params = complement_query(scope, group, labels, combine, sample=SAMPLE)
        sampled = {row["label"]: left_out(row) for row in run(sql, params)}
    unclear = {label for label in asked if sampled.get(label, 0) < k}  # (a label no sampled person has: 0)
    if unclear:
        sql, params = complement_query(scope, group, labels if total else sorted(unclear), combine, outside=True)
        unclear &= {row["label"] for row in run(sql, params) if int(row["outside"]) > 0}
    if not unclear:
        return set()
    sql, params = complement_query(scope, group, labels if total else sorted(unclear), combine)
    return {row["label"] for row in run(sql, params) if row["label"] in unclear and 0 < left_out(row) < k}
