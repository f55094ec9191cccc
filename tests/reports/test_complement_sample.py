"""The complement rule's passes (reports/complement.py: a sampled lower bound, then whether anyone is
outside at all, then the exact count of the labels left) withhold exactly what a full count
withholds: hypothesis picks the sample, k, breakdown, filter and labels over a few thousand
crafted people in real embedded ClickHouse, and the answer is compared with the single
full-count pass. Visitor ids are spread over the whole id space, as the keyed hashes are, so
each sample holds its share of them."""

import random
from datetime import date, datetime, timedelta

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from collector.reports import complement
from collector.reports.periods import Period
from collector.reports.query import complement_query, parse_filters, property_expr
from collector.reports.stats import Stats
from collector.store.clickhouse import Store
from collector.tenants import Client
from tests.reports.stores import loaded

CLIENT = "c_sample000000"
DAY = date(2026, 11, 20)
SHOP = Client(client_id=CLIENT, name="s", domains=["s.example"])
PERIOD = Period(DAY - timedelta(days=2), DAY)
FILTERS = ["event:kind==pageview", "event:page!=/p/1", "visit:country==GB", "event:page==/p/0", "visit:source==Google",
           "event:kind==fulfilment", "visit:country!=DE", "event:page!=/p/60", "event:page!=/p/30", "event:kind!=event"]
GROUPS = [None, "event:page", "visit:country", "visit:source", "event:kind", "event:fulfilment_status"]


def _spread(visitor: int) -> int:
    """A visitor number as a 64-bit id spread like a keyed hash (a bijection: distinct stay distinct)."""
    return (visitor * 0x9E3779B97F4A7C15 + 13) % 2**64


def rows() -> bytes:
    """Labels of every size: a few pages with thousands of people and a long tail of small ones,
    kinds other than pageviews, and orders without a visitor (counted by their order id)."""
    rng = random.Random(7)
    out = []
    for visitor in range(1, 4001):
        country = rng.choice(["GB", "GB", "GB", "US", "DE", "NL"])
        source = rng.choice(["Google", "", "", "Bing", "Newsletter"])
        for _ in range(rng.randint(1, 4)):
            path = f"/p/{min(int(rng.paretovariate(0.8)) - 1, 60)}"
            kind = rng.choices(["pageview", "event", "transaction", "fulfilment"], [80, 12, 5, 3])[0]
            ts = datetime(DAY.year, DAY.month, DAY.day, 9) - timedelta(hours=rng.randint(0, 60))
            out.append({"client_id": CLIENT, "ts": ts.strftime("%Y-%m-%d %H:%M:%S.000"), "kind": kind, "name": kind, "path": path,
                        "visitor_id": _spread(visitor), "session_id": visitor, "country": country, "referrer_source": source,
                        "fulfilment_status": rng.choice(["shipped", ""]) if kind == "fulfilment" else "", "retention_days": 395})
    for order in range(300):  # a shop's server: fulfilments of orders, no visitor
        out.append({"client_id": CLIENT, "ts": f"{DAY} 08:00:00.000", "kind": "fulfilment", "name": "fulfilment", "path": "/p/0",
                    "visitor_id": 0, "order_id": f"o{order:05d}", "fulfilment_status": "shipped", "retention_days": 395})
    return b"".join(orjson.dumps(r) + b"\n" for r in out)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    yield from loaded(tmp_path_factory, "complement", rows())


def full_count(store: Store, scope, group, k, labels, combine) -> set[str]:
    sql, params = complement_query(scope, group, labels, combine)
    return {r["label"] for r in store.query_dicts(sql, params) if 0 < int(r["everyone"]) - int(r["inside"]) < k}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sample=st.sampled_from([2, 4, 16, 64, 256]), k=st.integers(1, 60) | st.integers(1, 2000), prop=st.sampled_from(GROUPS),
       filter_text=st.sampled_from(FILTERS), pick=st.none() | st.lists(st.integers(0, 70), max_size=6), combine=st.booleans())
# the empty source (direct visits) of "country GB" leaves 1,088 people out and "not /p/1" 63: a
# sample's difference scaled up (an estimate, not a bound) would clear them for these k
@example(sample=16, k=1500, prop="visit:source", filter_text="visit:country==GB", pick=[2], combine=False)
@example(sample=16, k=70, prop="visit:source", filter_text="event:page!=/p/1", pick=[2, 0], combine=False)
def test_the_sampled_pass_withholds_exactly_what_a_full_count_withholds(store, monkeypatch, sample, k, prop, filter_text, pick, combine):
    monkeypatch.setattr(complement, "SAMPLE", sample)
    stats = Stats(store, kept=False)
    bound: dict = {}
    group = property_expr(prop, bound, "g") if prop else None
    labels = None if pick is None or group is None else [(f"/p/{n}" if n % 7 else "") if prop == "event:page"
                                                          else ["GB", "US", "", "shipped", "pageview"][n % 5] for n in pick]
    combine = combine and labels is not None
    scope = stats.scope(SHOP, PERIOD, parse_filters(filter_text), bound)
    expected = full_count(store, scope, group, k, labels, combine)
    if group is not None and labels is None:  # every label of the group (and one no row has)
        labels = [row[0] for row in store.query(f"SELECT DISTINCT toString({group}) FROM spii.events", bound)] + ["/none"]
    assert stats.protect.complement_small(scope, group, k, labels, combine) == expected


def _passes(store, monkeypatch) -> list[str]:
    """The SQL of every query the store is asked from now on."""
    queries: list[str] = []
    plain = Store.query_dicts

    def counted(self, sql, parameters=None):
        queries.append(sql)
        return plain(self, sql, parameters)

    monkeypatch.setattr(Store, "query_dicts", counted)
    return queries


def test_a_label_that_leaves_many_out_needs_no_full_count(store, monkeypatch):
    """Fulfilment statuses filtered to fulfilments: '' is every other event's label, thousands
    of people outside the filter, cleared by the sample alone (one query, not two)."""
    queries = _passes(store, monkeypatch)
    stats = Stats(store, kept=False)
    bound: dict = {}
    group = property_expr("event:fulfilment_status", bound, "g")
    scope = stats.scope(SHOP, PERIOD,
                        parse_filters("event:kind==fulfilment"), bound)
    assert stats.protect.complement_small(scope, group, 5, [""]) == set()
    assert len(queries) == 1 and "visitor_id < {sample_below:UInt64}" in queries[0]


def test_the_filters_own_label_leaves_nobody_out_without_an_exact_count(store, monkeypatch):
    """Countries filtered to GB: GB's people are all inside the filter, which the sample cannot
    show (0 of its people left out) but a count of rows outside the filter does, with no
    distinct sets; a country the filter leaves wholly out is counted exactly."""
    queries = _passes(store, monkeypatch)
    stats = Stats(store, kept=False)
    scope = stats.scope(SHOP, PERIOD, parse_filters("visit:country==GB"), {})
    assert stats.protect.complement_small(scope, "country", 10, ["GB"]) == set()
    assert len(queries) == 2 and " AS outside" in queries[1]
    assert full_count(store, scope, "country", 10**6, ["GB", "US"], False) == {"US"}
    queries.clear()
    assert stats.protect.complement_small(scope, "country", 10**6, ["GB", "US"]) == {"US"}
    assert len(queries) == 3 and " AS inside" in queries[2]
