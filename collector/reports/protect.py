"""The report path's protection step: what makes counts fit to leave (docs/protection.md).
Cell-key perturbation of every count (``finish``, reports/perturb.py), small-count suppression
with complementary cells (``Protection.suppress``, reports/suppression.py), the complement rule
for filtered answers (``Protection.complement_small``, reports/complement.py), and the order and
page of a breakdown by the numbers shown, never by the exact ones (``Protection.page``)."""

from __future__ import annotations

import heapq
from functools import partial
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from collector.reports import complement
from collector.reports.catalogue import COLUMNS, METRICS
from collector.reports.perturb import PTABLE, PTable, cell_position
from collector.reports.query import VISIT_LABELS, Scope, distinct_visitors_query, event_query
from collector.reports.suppression import Suppression, round_counts
from collector.reports import suppression
from collector.tenants import Client

if TYPE_CHECKING:
    from collector.reports.daily import Daily
    from collector.reports.kept import KeptAnswers
    from collector.reports.together import Together
    from collector.store.clickhouse import Store

__all__ = ["AT_LEAST_ONE_EACH", "PERTURBED_COUNTS", "Protection", "at_least_k", "finish", "perturbed"]

Row = dict[str, Any]
PERTURBED_COUNTS = tuple(name for name, column in COLUMNS.items() if column.perturbed)
# The counts of which each visitor of a row has at least one: never shown below its visitors
# (32 visitors sending 31 contacts is a contradiction a reader sees, and noise alone made it).
AT_LEAST_ONE_EACH = ("visits", "events", "pageviews")


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def perturbed(ev: Row, secret: int, ptable: PTable = PTABLE) -> Row:
    """The row's counts moved by the p-table at its cell's position (reports/perturb.py), kept
    consistent: a visitor of a row has at least one of its visits, events and pageviews (where
    the exact counts say so), engaged visits and buyers are subsets."""
    position = cell_position(int(ev.get("cell_key") or 0), int(ev.get("visitors") or 0), secret)
    out = dict(ev)
    for name in PERTURBED_COUNTS:
        if name in out:
            out[name] = ptable.perturb(int(out[name]), position)
    for name in AT_LEAST_ONE_EACH:
        if name in out and ev.get(name, 0) >= ev.get("visitors", 0):
            out[name] = max(out[name], out["visitors"])
    if "engaged_visits" in out:
        out["engaged_visits"] = min(out["engaged_visits"], out.get("visits", out["engaged_visits"]))
    if "buyers" in out:
        out["buyers"] = min(out["buyers"], out["visitors"])
    return out


def finish(metrics: list[str], ev: Row, secret: int | None = None) -> Row:
    """Requested metrics (and visitors, and people for suppression) from one row of catalogue
    columns; counts are perturbed first (under the client's record ``secret``) when the row
    carries its cell key."""
    people = ev.get("people", ev.get("visitors", 0))
    support = {c: int(ev.get(c) or 0) for m in metrics if (c := METRICS[m].support)}  # true counts: they judge, never shown
    support["exact_visitors"] = int(ev.get("visitors") or 0)  # (at_least_k: a row of orders only has none)
    imported = {"imported_visitors": ev["imported_visitors"]} if "imported_visitors" in ev else {}  # (suppression adds them up)
    if "cell_key" in ev and secret is not None:
        ev = perturbed(ev, secret)
    return {"people": people, **support, **imported, **{m: _number(METRICS[m].compute(ev)) for m in ["visitors", *metrics]}}


def at_least_k(shown: Row, true_visitors: int, k: int, exact: Row | None = None) -> Row:
    """A shown row's visitors never below k: the row is shown because at least k people are in
    it (``true_visitors`` of them identified), and noise must not make it look like a row the page says it hides.
    A row shown for its orders placed without a visitor id (fulfilments sent by a shop's server)
    may have fewer than k visitors: those are withheld (null), as any number of fewer than k
    people is. Its visits, events and pageviews are raised with them (where the ``exact`` counts,
    when known, are k or more), as perturbed() keeps them: never below the visitors shown."""
    visitors = shown.get("visitors")
    if isinstance(visitors, int) and visitors < k:
        shown["visitors"] = k if true_visitors >= k else None
        for name in AT_LEAST_ONE_EACH if shown["visitors"] is not None else ():
            if isinstance(shown.get(name), int) and (exact is None or int(exact.get(name) or 0) >= k):
                shown[name] = max(shown[name], k)
    return shown


def _contenders(rows: list[Row], end: int, by: str, margin: int) -> list[Row]:
    """The rows that could be among the first ``end`` by ``by`` once each count moves by at most
    ``margin``: those within twice the margin of the end-th largest exact count (a count that is
    not a plain column, such as a rate, has no such bound: every row)."""
    if len(rows) <= end or by not in PERTURBED_COUNTS:
        return rows
    values = [int(r["columns"].get(by) or 0) for r in rows]
    floor = heapq.nlargest(end, values)[-1] - 2 * margin
    return [r for r, value in zip(rows, values) if value >= floor]



class Protection:
    """The protection of one service's answers: its store answers the exact counts the checks
    need; complement-rule answers are kept a moment (``kept``) and closed days read (``daily``)."""

    def __init__(self, store: Store, kept: KeptAnswers | None = None, daily: Daily | None = None) -> None:
        self.store, self.kept, self.daily = store, kept, daily

    def complement_small(self, scope: Scope, group: str | None, k: int, labels: list[str] | None = None,
                          combine: bool = False, together: Together | None = None) -> set[str]:
        """The complement rule (reports/complement.py): labels of ``group`` among ``labels`` (or
        '' for a total, or for ``labels`` combined) whose filtered answer leaves fewer than k
        people outside it, so that "unfiltered minus filtered" would single them out."""
        if not (scope.filters or scope.conditions) or group in VISIT_LABELS or labels == []:
            return set()
        exact = together.left_out(scope, group) if together is not None and group is not None and not combine else None
        if exact is None and self.daily is not None and group is not None and not combine:
            exact = self.daily.left_out(scope, group)
        if exact is not None:  # (a panel of one kind of event, from closed days: the exact count at once)
            return {label for label in labels or [] if 0 < exact.get(label, 0) < k}
        sampled = together.complement(scope, group) if together is not None and not combine else None
        return complement.withheld(self._complement, scope, group, k, labels, combine, sampled)

    def _complement(self, sql: str, params: dict[str, Any]) -> list[Row]:
        run = partial(self.store.query_dicts, sql, params)
        return self.kept.recent(sql, params, run) if self.kept is not None else run()

    def complement_rows(self, scope: Scope, group: str, k: int, shown: list[Row], needed: int,
                         together: Together | None = None) -> tuple[list[Row], int]:
        """The shown rows minus those the complement rule withholds, checking only as many as the
        requested page needs (the check is an exact count per row). Returns (rows, withheld)."""
        if not (scope.filters or scope.conditions):
            return shown, 0
        withheld: set[str] = set()
        checked = 0
        while checked < len(shown) and (passed := checked - len(withheld)) < needed:
            batch = [r["label"] for r in shown[checked:checked + needed - passed]]
            withheld |= self.complement_small(scope, group, k, batch, together=together)
            checked += len(batch)
        return [r for r in shown if r["label"] not in withheld], len(withheld)

    def page(self, scope: Scope, group: str, client: Client, metrics: list[str], shown: list[Row], start: int, end: int,
              together: Together | None = None) -> tuple[list[tuple[str, Row]], int, int]:
        """The rows [start, end) of a breakdown, each as (label, numbers shown), in the order of
        the numbers shown: the first count asked, as perturbed and rounded, then the label. Never
        by the exact counts, whose order would tell a reader which of two noisy counts is really
        the larger. Only the rows that could reach the page are finished (the contenders), and only
        they are checked by the complement rule (an exact count per row). Also returns the rows
        left after the complement rule, and how many it withheld."""
        by = "visitors" if "visitors" in metrics else metrics[0]
        margin = PTABLE.max_adjustment + client.rounding  # how far noise and rounding can move one count
        checked: set[str] = set()
        withheld: set[str] = set()
        filtered = bool(scope.filters or scope.conditions)
        while True:
            rows = [r for r in shown if r["label"] not in withheld]
            contenders = _contenders(rows, end, by, margin)
            unchecked = [r["label"] for r in contenders if r["label"] not in checked] if filtered else []
            if not unchecked:
                break
            withheld |= self.complement_small(scope, group, client.k, unchecked, together=together)
            checked.update(unchecked)
        finished = [(r["label"], at_least_k(self.shown(finish(metrics, r["columns"], scope.record_secret), metrics, client),
                                            int(r["columns"].get("visitors") or 0), client.k, r["columns"]))
                    for r in contenders]
        finished.sort(key=lambda pair: (-(pair[1].get(by) or 0), pair[0]))
        return finished[start:end], len(rows), len(withheld)

    def suppress(self, scope: Scope, group: str, rows: list[Row], k: int, metrics: list[str] | None = None) -> Suppression:
        """Small-count suppression, measuring hidden rows in exact distinct visitors. With
        ``metrics``, each measuring pass also totals the hidden rows' metrics, so the (other)
        row of the final hidden set needs no pass of its own (``Suppression.other``)."""
        totals: dict[tuple[str, ...], Row] = {}

        def distinct_visitors(hidden: list[Row]) -> int:
            labels = [r["label"] for r in hidden]
            if metrics is None or group in VISIT_LABELS or scope.imports:
                sql, params = distinct_visitors_query(scope, group, labels)
                # (imported visitors are counts per day, not ids: they add up, as Plausible adds them)
                imported = sum(int((r.get("columns") or r).get("imported_visitors") or 0) for r in hidden) if scope.imports else 0
                return int(self.store.query(sql, params)[0][0]) + imported
            sql, params = event_query(scope, group, labels, combine=True, metrics=metrics, exact_people=True)
            row = self.store.query_dicts(sql, params)[0]
            people = int(row.pop("exact_people"))
            totals[tuple(labels)] = finish(metrics, row, scope.record_secret)
            return people

        cut = suppression.suppress(rows, k, distinct_visitors, visitors_key="people")
        cut.other = totals.get(tuple(r["label"] for r in cut.hidden))
        return cut

    def shown(self, row: Row, metrics: list[str], client: Client) -> Row:
        """The metrics as shown: counts rounded; an average of fewer than k people's values
        (scroll depth, time on page) withheld as null."""
        row = round_counts(row, client.rounding)
        return {m: None if (support := METRICS[m].support) and row.get(support, 0) < client.k else row[m] for m in metrics}

