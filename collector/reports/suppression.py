"""Small-count suppression (after the ONS "10-5" rule for published statistics).

No number computed from fewer than ``k`` distinct visitors is shown:

1. a row (breakdown value or time bucket) with fewer than k visitors is hidden;
2. complementary suppression: when the hidden rows together hold fewer than k distinct visitors,
   the next-smallest shown rows are hidden too, until they hold at least k (or nothing is left),
   so no hidden row can be rebuilt as "total minus the shown rows";
3. hidden rows are folded into one ``(other)`` row, shown only when it has at least k visitors;
4. optionally, shown counts are rounded to a multiple of ``rounding`` (e.g. 5).

Visitors without an identifier (GPC/DNT) count as no one here, so rows made only of them are
hidden: suppression errs towards showing less. Events a shop's server sent with no visitor
(fulfilments) count their distinct orders instead (the ``people`` of reports/query.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from collector.reports.catalogue import METRICS

__all__ = ["Suppression", "suppress", "round_counts", "COUNT_METRICS", "OTHER"]

OTHER = "(other)"
# Integer counts (rounded when asked); rates, durations and money are derived, not rounded.
COUNT_METRICS = frozenset(name for name, metric in METRICS.items() if metric.count)

Row = dict[str, Any]


@dataclass
class Suppression:
    shown: list[Row]
    hidden: list[Row] = field(default_factory=list)
    other_visitors: int = 0  # distinct visitors across the hidden rows
    other: Row | None = None  # the hidden rows' metrics totalled, when measuring them gave it (reports/stats.py)

    def other_shown(self, k: int) -> bool:
        """The hidden rows may appear as one (other) row: they hold at least k visitors."""
        return bool(self.hidden) and self.other_visitors >= k


def suppress(
    rows: Sequence[Row],
    k: int,
    distinct_visitors: Callable[[list[Row]], int] | None = None,
    visitors_key: str = "visitors",
) -> Suppression:
    """Split ``rows`` into shown and hidden. ``distinct_visitors(hidden)`` counts the distinct
    visitors of a set of rows (a query; a visitor may be in several rows). Without it the sum is
    used, which is only right when each visitor is in at most one row."""
    measure = distinct_visitors or (lambda group: sum(r[visitors_key] for r in group))
    ordered = sorted(rows, key=lambda r: r[visitors_key], reverse=True)  # stable: ties keep input order
    shown = [r for r in ordered if r[visitors_key] >= k]
    hidden = [r for r in ordered if r[visitors_key] < k]
    if not hidden:
        return Suppression(shown)
    # cheap necessary condition first (the sum bounds the distinct count from above) ...
    while shown and sum(r[visitors_key] for r in hidden) < k:
        hidden.insert(0, shown.pop())
    # ... then the exact distinct count, one row more at a time
    other = measure(hidden)
    while shown and other < k:
        hidden.insert(0, shown.pop())
        other = measure(hidden)
    return Suppression(shown, hidden, other)


def round_counts(row: Row, rounding: int) -> Row:
    """Counts to the nearest multiple of ``rounding`` (0/1 = unchanged)."""
    if rounding <= 1:
        return row
    out = dict(row)
    for key, value in row.items():
        if key in COUNT_METRICS and isinstance(value, int):
            out[key] = int((value + rounding / 2) // rounding * rounding)
    return out
