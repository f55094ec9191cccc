"""The scroll depth counted in two GROUP BYs (query._scroll_depth) gives what one pass's map of
visitors per row gives (each visitor's deepest scroll on the row's pages, averaged): per label,
in total, for labels taken together, and in the GROUPING SETS of a page's family, nullable
labels (the entry page of no visit) included."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from collector.reports.catalogue import COLUMNS, COUNTED
from collector.reports.periods import Period
from collector.reports.query import BREAKDOWN_GROUPS, Scope, event_query, grouped_event_query, grouped_rows, parse_filters
from tests.reports.stores import loaded
from tests.reports.test_together import C, TODAY, _events

ONE_PASS = COLUMNS["scroll_depth"].sql  # the catalogue's definition, one pass
METRICS = ["visitors", "scroll_depth", "time_on_page"]
ENTRY = BREAKDOWN_GROUPS["visit:entry_page"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    yield from loaded(tmp_path_factory, "scroll", _events(seed=11, visitors=400))


def _scope(filters: str = "") -> Scope:
    return Scope(C.client_id, Period(TODAY - timedelta(days=29), TODAY), parse_filters(filters))


def _one_pass(store, scope: Scope, group: str | None, labels: list[str] | None = None) -> dict[str, float]:
    params: dict = {}
    where = scope.where(params, engagement=True)
    if labels is not None:
        params["labels"] = labels
        where += f" AND toString({group}) IN {{labels:Array(String)}}"
        group = None
    if group is None:
        rows = store.query(f"SELECT '', {ONE_PASS}, countIf(kind = 'engagement') FROM spii.events WHERE {where}", params)
    else:
        rows = store.query(f"SELECT toString({group}) AS label, {ONE_PASS}, countIf(kind = 'engagement') FROM spii.events "
                           f"WHERE {where} GROUP BY label HAVING countIf({COUNTED}) > 0", params)
    return {label: value for label, value, pings in rows if label is not None and pings}


def _same(counted: dict[str, dict], expected: dict[str, float]) -> None:
    pinged = {label: row["scroll_depth"] for label, row in counted.items() if row.get("engagers")}
    assert pinged.keys() == expected.keys()
    for label, value in expected.items():
        assert math.isclose(pinged[label], value, rel_tol=1e-9), label


@pytest.mark.parametrize("filters", ["", "visit:country==GB", "event:page!=/b"])
@pytest.mark.parametrize("group", [None, "path", "referrer_source", ENTRY, "day"])
def test_per_label_and_in_total(store, group, filters):
    scope = _scope(filters)
    sql, params = event_query(scope, group, metrics=METRICS)
    counted = {row.pop("label", ""): row for row in store.query_dicts(sql, params)}
    _same({k: v for k, v in counted.items() if k is not None}, _one_pass(store, scope, group))
    assert _one_pass(store, scope, group), "the data has pings on these rows"


def test_labels_taken_together(store):
    scope = _scope()
    sql, params = event_query(scope, "path", ["/a", "/pinged-only", "/b"], combine=True, metrics=METRICS)
    _same({"": store.query_dicts(sql, params)[0]}, _one_pass(store, scope, "path", ["/a", "/pinged-only", "/b"]))


@pytest.mark.parametrize("groups", [[None, "day", "referrer_source", ENTRY, "country"], ["path", "name"], [None, "path"]])
def test_grouping_sets_of_a_family(store, groups):
    scope = _scope()
    sql, params = grouped_event_query(scope, groups, METRICS)
    family = grouped_rows(groups, store.query_dicts(sql, params))
    for group in groups:
        _same(family[group], _one_pass(store, scope, group))
