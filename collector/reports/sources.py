"""The report path's sources step: a question's exact counts per label (the catalogue's
columns, reports/catalogue.py), from wherever they are at hand: the page's questions counted
together (reports/together.py), the closed days (reports/daily.py), the events (reports/query.py),
and imported history added where it can answer (reports/imported.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from collector.reports.catalogue import columns_for
from collector.reports.imported import imported_rows, merge, skip_reason
from collector.reports.query import VISIT_LABELS, GoalGroup, Scope, event_query, grouped_rows, visit_query

if TYPE_CHECKING:
    from collector.reports.daily import Daily
    from collector.reports.together import Together
    from collector.store.clickhouse import Store

__all__ = ["Sources"]

Row = dict[str, Any]


class Sources:
    def __init__(self, store: Store, daily: Daily | None = None) -> None:
        self.store, self.daily = store, daily

    def rows(
        self, scope: Scope, group: str | None, metrics: list[str], labels: list[str] | None = None, combine: bool = False,
        together: Together | None = None,
    ) -> dict[str, Row]:
        """label -> the catalogue's exact columns ('' is the label of a total, grouped or not);
        ``together`` may have them counted already with the page's other questions."""
        counted = together.take(scope, group, metrics) if together is not None and labels is None and not combine else None
        if counted is not None:
            rows = counted
        elif isinstance(group, GoalGroup) and not scope.goals:
            rows = {}  # a client without goals: no event meets one, so no scan (a dashboard's Goals panel)
        elif (added_up := self._added_up(scope, group, metrics, labels, combine)) is not None:
            rows = added_up
        elif group in VISIT_LABELS:  # the visit properties not stored on each event
            sql, params = visit_query(scope, group, metrics, labels, combine)
            rows = {row.pop("label", ""): row for row in self.store.query_dicts(sql, params)}
        else:
            sql, params = event_query(scope, group, labels, combine, metrics)
            rows = {row.pop("label", ""): row for row in self.store.query_dicts(sql, params)}
        # (every metric: the imported days add to those they have, nothing to the others, as Plausible's)
        if scope.imports and skip_reason(self.store, scope, group, []) is None:
            imported = imported_rows(self.store, scope, group, labels)
            if combine and imported:
                imported = {"": {name: sum(row[name] for row in imported.values()) for name in next(iter(imported.values()))}}
            rows = merge(rows, imported, columns_for(metrics, scope.record_secret is not None))
        # (None: the rows a group gives no label, such as the events of no visit by entry page)
        return {label: row for label, row in rows.items() if label is not None}

    def _added_up(self, scope: Scope, group: str | None, metrics: list[str], labels: list[str] | None,
                  combine: bool) -> dict[str, Row] | None:
        """A breakdown's rows, or a total, added up from closed days (reports/daily.py), where they hold them."""
        if self.daily is None or labels is not None or combine:
            return None
        added_up = self.daily.family_query(scope, [group], columns_for(metrics, scope.record_secret is not None))
        rows = None if added_up is None else grouped_rows([group], self.store.query_dicts(*added_up))[group]
        return None if rows is None or (group is None and "" not in rows) else rows  # (a total of no rows: its own query's zeros)

