"""The questions of one page counted together: one scan grouped several ways.

A dashboard asks about twenty questions of one client and period, one after another. Several
read the same rows, each grouped another way: the totals and the daily line (of the period, and
of the previous one), eleven panels by a stored visit column (sources, referrers, the UTM ones,
postcode areas, countries, regions, devices, browsers, operating systems) and the entry pages
(their group leaves out the events of no visit: query.BREAKDOWN_GROUPS), engagement and events
by an event property. ClickHouse's GROUPING SETS groups one scan several ways, so a page
that says what it will ask next (``expect``) has such a family counted in one pass the first
time one of its questions is computed: at 10M events the eleven panels' rows take one query of
~1.0 s instead of eleven of ~1.9 s together. A question that reads the engagement pings (the
totals' visit duration, the engagement panel's scroll depth) is fused only with others that
do: in one pass with one that does not, both cost more than apart. Under filters, the
complement rule's checks of a family start from one more pass, over a sample of its people
(``complement``).

Where a client's closed days are written (reports/daily.py), there is no scan to share: every
expected question they hold, of the period and of the one before, the exit pages and the
complement rule's exact counts of the panels of one kind of event, is added up in one read
(``Daily.page_rows``, its parts at the same time) at the first ask. At 10M events a cold page
then makes four calls (two of them the check of which days are whole, one the realtime count),
not sixteen.

Each question still gets exactly the rows its own query would have returned (the same WHERE and
aggregates, the columns its own metrics need), and suppression, the complement rule and
perturbation run per question as before. A group's rows are given once: a later ask (the
refresher recomputing a kept answer) queries afresh. One page, one thread: not shared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from collector.reports import complement
from collector.reports.catalogue import columns_for, reads_engagement
from collector.reports.daily import one_kind_group
from collector.reports.query import (
    EVENT_GROUPS, VISIT_LABELS, GoalGroup, Scope, grouped_complement_query, grouped_event_query, grouped_rows,
)

if TYPE_CHECKING:
    from collector.reports.daily import Daily

__all__ = ["Planned", "Together"]

Row = dict[str, Any]
_SAME_MOMENT = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class Planned:
    """One query a stats call will make: its scope, group (None: the total) and metrics."""

    scope: Scope
    group: str | None
    metrics: list[str]


def _scope_key(scope: Scope) -> str:
    """Scopes that select the same rows (the clock aside: a page is counted at one moment)."""
    return repr(replace(scope, now=_SAME_MOMENT))


def _fusable(planned: Planned) -> bool:
    return planned.group not in VISIT_LABELS and not isinstance(planned.group, GoalGroup)


@dataclass
class _Family:
    groups: list[str | None]
    metrics: list[str]
    rows: dict[str | None, dict[str, Row]] | None = None  # once counted; a group's entry is removed when given
    complement: dict[str | None, dict[str, Row]] | None = None  # the complement rule's counts, once asked


class Together:
    """The grouped passes of one page: planned by ``expect``, run at the first ``take`` (or
    ``complement``) of a family, given out per question."""

    def __init__(self, query_dicts: Callable[[str, dict[str, Any]], list[Row]], daily: Daily | None = None) -> None:
        self.query_dicts = query_dicts
        self.daily = daily  # closed days' counts (reports/daily.py): a family they hold is added up, not scanned
        self.from_daily = 0  # of the passes, those added up from spii.daily (tests read it)
        self._families: dict[tuple[str, bool, str | None], _Family] = {}  # (scope, event group?, group) -> family
        self._filtered: dict[tuple[str, str | None], _Family] = {}  # (scope, group) -> family, for the complement rule
        self._pending: list[Planned] = []  # expected, not yet asked of spii.daily
        self._added: dict[tuple[str, str | None], tuple[dict[str, Row], set[str]]] = {}  # (scope, group) -> its rows, their columns
        self._left_out: dict[tuple[str, str | None], dict[str, int]] = {}  # (scope, group) -> the complement rule's exact count
        self.passes = 0  # grouped queries run (tests read it)

    def expect(self, planned: list[Planned]) -> None:
        """These queries come next: each set of two or more over the same rows (and the same
        kind of group) is counted in one pass when the first of them is asked. Questions that
        read the engagement pings are counted apart from those that do not: a real site has
        about one ping per pageview, and a pass reading them for some groups reads and counts
        them for all (at 10M events plus 9M pings: the engagement panel with the events panel
        2,087 ms in one pass, 1,291 + 159 ms apart; the totals with the daily line 315 ms, 165 + 95 apart)."""
        if self.daily is not None:
            self._pending += (p for p in planned if not isinstance(p.group, GoalGroup))  # (the exit pages too)
        families: dict[tuple[str, bool, bool], _Family] = {}
        for p in filter(_fusable, planned):
            pings = reads_engagement(columns_for(p.metrics, p.scope.record_secret is not None))
            family = families.setdefault((_scope_key(p.scope), p.group in EVENT_GROUPS, pings), _Family([], []))
            if p.group not in family.groups:
                family.groups.append(p.group)
            family.metrics += [m for m in p.metrics if m not in family.metrics]
        for (scope, by_event, _), family in families.items():
            if len(family.groups) > 1:
                for group in family.groups:
                    self._families.setdefault((scope, by_event, group), family)
                    self._filtered.setdefault((scope, group), family)

    def take(self, scope: Scope, group: str | None, metrics: list[str]) -> dict[str, Row] | None:
        """The rows ``event_query(scope, group, metrics=metrics)`` would return, counted with
        the rest of their family; None when not expected (or already given): query it alone."""
        self._add_up()
        added = self._added.pop((_scope_key(scope), group), None)
        columns = columns_for(metrics, scope.record_secret is not None)
        if added is not None and set(columns) <= added[1] and (group is not None or "" in added[0]):
            rows = added[0]
            if not rows or set(columns) == next(iter(rows.values())).keys():
                return rows  # (given once, and no other question holds them: Daily.page_rows)
            return {label: {c: row[c] for c in columns} for label, row in rows.items()}
        family = self._families.pop((_scope_key(scope), group in EVENT_GROUPS, group), None)
        if family is None:
            return None
        if not set(columns) <= set(columns_for(family.metrics, scope.record_secret is not None)):
            return None  # asked with other metrics than planned
        if family.rows is None:
            perturbed = scope.record_secret is not None
            added_up = self.daily.family_query(scope, family.groups, columns_for(family.metrics, perturbed)) if self.daily else None
            sql, params = added_up or grouped_event_query(scope, family.groups, family.metrics)
            family.rows = grouped_rows(family.groups, self.query_dicts(sql, params))
            self.passes += 1
            self.from_daily += added_up is not None
        rows = family.rows.pop(group, None)
        if rows is None or (group is None and "" not in rows):
            return None  # (a total over no rows: only its own query answers one row of zeros)
        return {label: {c: row[c] for c in columns} for label, row in rows.items()}

    def left_out(self, scope: Scope, group: str | None) -> dict[str, int] | None:
        """``Daily.left_out`` of an expected panel of one kind of event, counted in the page's
        pass over spii.daily; None when not counted there."""
        self._add_up()
        return self._left_out.get((_scope_key(scope), group))

    def _add_up(self) -> None:
        """The expected questions spii.daily holds, added up in one query (``Daily.page_rows``)
        at the first ask after ``expect``; with them, for each panel of one kind of event, its
        group over all events, for the complement rule's exact count (``left_out``)."""
        if self.daily is None or not self._pending:
            return
        pending, self._pending = self._pending, []
        asks = [(p.scope, [p.group], columns_for(p.metrics, p.scope.record_secret is not None)) for p in pending]
        kinds = [(n, replace(p.scope, filters=[])) for n, p in enumerate(pending) if p.group is not None and one_kind_group(p.scope, p.group)]
        asks += [ask for n, everyone in kinds for ask in ((pending[n].scope, [pending[n].group], ["people"]),
                                                            (everyone, [pending[n].group], ["people"]))]
        added = self.daily.page_rows(asks)
        if added:
            self.passes += 1
            self.from_daily += 1
        for n, p in enumerate(pending):
            if n in added:
                self._added[_scope_key(p.scope), p.group] = added[n][p.group], set(asks[n][2])
        for m, (n, _) in enumerate(kinds):
            inside, everyone = len(pending) + 2 * m, len(pending) + 2 * m + 1
            if inside in added and everyone in added:
                group = pending[n].group
                self._left_out[_scope_key(pending[n].scope), group] = {
                    label: int(added[everyone][group][label]["people"]) - int(row["people"])
                    for label, row in added[inside][group].items() if label in added[everyone][group]}

    def complement(self, scope: Scope, group: str | None) -> dict[str, int] | None:
        """The complement rule's sampled pass (reports/complement.py) of ``group``: per label,
        the sample's people its filtered answer leaves out, counted for the whole family at its
        first check (the checks of a filtered page's panels then cost one sampled pass, plus
        the further passes of the few labels it leaves undecided); None when not expected:
        check it alone. Kept for the page, as one panel may check its labels in several batches."""
        family = self._filtered.get((_scope_key(scope), group))
        if family is None or not (scope.filters or scope.conditions):
            return None
        if family.complement is None:
            sql, params = grouped_complement_query(scope, family.groups, complement.SAMPLE)
            family.complement = grouped_rows(family.groups, self.query_dicts(sql, params))
            self.passes += 1
        rows = family.complement.get(group)
        if rows is None:
            return None
        return {label: complement.left_out(row) for label, row in rows.items()}
