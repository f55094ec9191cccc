"""The stats service on crafted rows in real embedded ClickHouse: metrics, visits, periods,
suppression with (other) and complementary hiding, rounding, and client isolation."""

from datetime import UTC, date, datetime, timedelta

import orjson
import pytest

from collector.reports.periods import Period, parse_period
from collector.reports.query import QueryError, Scope, event_query, parse_filters
from collector.reports.stats import Stats, StatsRequest
from collector.reports.v2 import parse_v2
from collector.store.clickhouse import Store
from collector.tenants import Client

DAY = date(2026, 11, 20)
A = Client(client_id="c_aaaaaaaaaaaa", name="a", domains=["a.example"])
A5 = Client(client_id="c_aaaaaaaaaaaa", name="a", domains=["a.example"], rounding=5)
B = Client(client_id="c_bbbbbbbbbbbb", name="b", domains=["b.example"])


def event(client, visitor, path, minute=0, kind="pageview", day=DAY, session=None, **extra):
    ts = datetime(day.year, day.month, day.day, 10) + timedelta(minutes=minute)
    return {"client_id": client.client_id, "ts": ts.strftime("%Y-%m-%d %H:%M:%S.000"), "kind": kind, "name": kind,
            "host": "a.example", "path": path, "entry_page": path, "visitor_id": visitor,
            "session_id": session if session is not None else visitor, "retention_days": 395, **extra}


def crafted():
    rows = []
    v = 1
    for path, people in (("/", 30), ("/big", 12), ("/small", 3), ("/tiny", 2)):
        for _ in range(people):
            rows.append(event(A, v, path, referrer_source="Google" if path == "/" else "", country="GB"))
            v += 1
    # visitor 1 reads a second page in the same visit (not a bounce) 5 minutes later
    rows.append(event(A, 1, "/pricing", minute=5))
    # 50 pageviews by people who sent GPC: counted, never identified, never a visit
    rows += [event(A, 0, "/gpc", session=0) for _ in range(50)]
    # a transaction of 19.99
    rows.append(event(A, 2, "/checkout", minute=7, kind="transaction", revenue="19.99", currency="GBP"))
    # another client's rows: 100 visitors on one page
    rows += [event(B, 10_000 + n, "/b-secret") for n in range(100)]
    # the previous day for compare: 10 visitors of client A
    rows += [event(A, 500 + n, "/", day=DAY - timedelta(days=1)) for n in range(20)]
    # each event's place in its visit, as the ingest session cache writes it
    seen: dict[int, dict] = {}
    for r in sorted(rows, key=lambda r: r["ts"]):
        if r["session_id"]:
            v = seen.setdefault(r["session_id"], {"events": 0, "pageviews": 0, "last": None})
            v["events"] += 1
            v["pageviews"] += r["kind"] == "pageview"
            ts = datetime.fromisoformat(r["ts"])
            r.update(visit_event=v["events"], visit_pageview=v["pageviews"] if r["kind"] == "pageview" else 0,
                     visit_seconds=int((ts - v["last"]).total_seconds()) if v["last"] else 0)
            v["last"] = ts
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


@pytest.fixture(scope="module")
def stats(tmp_path_factory):
    store = Store(f"chdb://{tmp_path_factory.mktemp('stats')}/clickhouse")
    store.migrate()
    store.insert_segment(crafted(), "crafted")
    yield Stats(store)
    store.close()


def req(**kw):
    kw.setdefault("period", Period(DAY, DAY))
    return StatsRequest(**kw)


def test_aggregate_metrics_and_visits(stats):
    out = stats.aggregate(A, req(metrics=["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate",
                                          "visit_duration", "transactions", "revenue", "average_order_value", "conversion_rate"]))
    r = {m: v["value"] for m, v in out["results"].items()}
    assert r["visitors"] == 47 and r["visits"] == 47  # GPC pageviews are nobody's visit
    assert r["pageviews"] == 30 + 12 + 3 + 2 + 1 + 50
    assert r["bounce_rate"] == round(46 * 100 / 47) and r["visit_duration"] == round((5 + 7) * 60 / 47)  # visits of 5 and 7 minutes
    assert (r["transactions"], r["revenue"], r["average_order_value"]) == (1, 19.99, 19.99)
    assert r["conversion_rate"] == round(100 / 47, 1)
    assert out["suppressed"] is False


def test_compare_with_previous_period(stats):
    out = stats.aggregate(A, req(metrics=["visitors"], compare=True))
    assert out["results"]["visitors"] == {"value": 47, "change": round((47 - 20) * 100 / 20)}


def test_breakdown_hides_small_rows_complementarily_and_folds_them_into_other(stats):
    out = stats.breakdown(A, req(prop="event:page", metrics=["visitors", "pageviews"]))
    rows = {r["page"]: r for r in out["results"]}
    # /small (3) and /tiny (2) are under k; together 5 < 10, so /big (12) is hidden too;
    # /gpc has no identified visitor at all; /pricing and /checkout are one visitor each
    assert list(rows) == ["/", "(other)"]
    assert rows["/"] == {"page": "/", "visitors": 30, "pageviews": 30}
    # (other) = the distinct visitors of the hidden rows, including visitors 1 and 2 of /pricing, /checkout
    assert rows["(other)"]["visitors"] == 12 + 3 + 2 + 2 and rows["(other)"]["other"] is True
    assert out["hidden_rows"] == 6
    assert "/b-secret" not in rows


def test_filtered_aggregate_under_k_is_suppressed(stats):
    out = stats.aggregate(A, req(metrics=["visitors", "pageviews"], filters=parse_filters("event:page==/small")))
    assert out["suppressed"] is True and out["results"]["visitors"]["value"] is None
    assert out["results"]["pageviews"]["value"] is None
    shown = stats.aggregate(A, req(metrics=["visitors"], filters=parse_filters("event:page==/big|/small")))
    assert shown["results"]["visitors"]["value"] == 15


def test_rounding_to_five(stats):
    out = stats.breakdown(A5, req(prop="visit:source", metrics=["visitors"]))
    assert out["results"][0] == {"source": "Google", "visitors": 30}
    assert stats.aggregate(A5, req(metrics=["visitors"]))["results"]["visitors"]["value"] == 45


def test_timeseries_fills_buckets_and_suppresses_small_ones(stats):
    out = stats.timeseries(A, req(period=Period(DAY - timedelta(days=2), DAY), metrics=["visitors", "pageviews"]))
    assert [r["date"] for r in out["results"]] == ["2026-11-18", "2026-11-19", "2026-11-20"]
    assert out["results"][0] == {"date": "2026-11-18", "visitors": 0, "pageviews": 0}
    assert out["results"][1]["visitors"] == 20 and out["results"][2]["visitors"] == 47
    hourly = stats.timeseries(A, req(interval="hour", metrics=["visitors"], filters=parse_filters("event:page==/small")))
    assert hourly["suppressed_buckets"] == 1 and hourly["results"][10] == {"date": "2026-11-20 10:00:00", "visitors": None, "suppressed": True}


def test_client_b_sees_only_its_own_rows(stats):
    out = stats.breakdown(B, req(prop="event:page", metrics=["visitors"]))
    assert out["results"] == [{"page": "/b-secret", "visitors": 100}]


def test_exit_page_and_entry_page(stats):
    out = stats.breakdown(A, req(prop="visit:exit_page", metrics=["visits", "bounce_rate"]))
    assert out["results"][0] == {"exit_page": "/", "visits": 29, "bounce_rate": 100}
    with pytest.raises(QueryError) as err:
        stats.breakdown(A, req(prop="visit:exit_page", metrics=["revenue"]))
    assert err.value.field == "metrics"
    # the 50 pageviews of people who sent GPC belong to no visit: no entry page, neither a row nor in (other)
    entry = stats.breakdown(A, req(prop="visit:entry_page", metrics=["visitors", "visits", "pageviews"]))
    assert entry["results"] == [{"entry_page": "/", "visitors": 30, "visits": 30, "pageviews": 30},
                                {"entry_page": "(other)", "visitors": 19, "visits": 17, "pageviews": 18, "other": True}]
    assert entry["hidden_rows"] == 5
    # the Stats API v2 by the same group: the same shown rows; with a second dimension, the events
    # of no visit are still no row (their entry page is NULL, and so is the joined label)
    dates = [DAY.isoformat(), DAY.isoformat()]
    v2 = stats.query_v2(A, parse_v2({"metrics": ["visitors", "visits", "pageviews"], "date_range": dates,
                                     "dimensions": ["visit:entry_page"]}))
    assert v2["results"][0] == {"dimensions": ["/"], "metrics": [30, 30, 30]} and v2["meta"]["hidden_rows"] == 5
    both = stats.query_v2(A, parse_v2({"metrics": ["pageviews"], "date_range": dates, "dimensions": ["visit:entry_page", "event:page"]}))
    assert both["results"] == [{"dimensions": ["/", "/"], "metrics": [30]}]
    assert both["meta"]["hidden_rows"] == 5  # /big, /small, /tiny, /pricing, /checkout: not /gpc


def test_bad_parameters_name_the_field():
    for call, field in ((lambda: StatsRequest(Period(DAY, DAY), metrics=["nope"]), "metrics"),
                        (lambda: StatsRequest(Period(DAY, DAY), interval="year"), "interval"),
                        (lambda: parse_filters("visit:source=Google"), "filters"),
                        (lambda: parse_filters("visit:exit_page==/x"), "filters")):
        with pytest.raises(QueryError) as err:
            call()
        assert err.value.field == field
    with pytest.raises(ValueError):
        parse_period("2y", None, DAY)


def test_the_complement_rule_hides_a_filtered_answer_that_leaves_fewer_than_k_out(stats):
    # total 47 identified visitors; "not /small" leaves out the 3 who saw only /small: 47 - 44 would give them away
    hidden = stats.aggregate(A, req(metrics=["visitors"], filters=parse_filters("event:page!=/small")))
    assert hidden["suppressed"] is True and hidden["results"]["visitors"]["value"] is None
    shown = stats.aggregate(A, req(metrics=["visitors"], filters=parse_filters("event:page!=/big")))  # leaves 12 out: fine
    assert shown["results"]["visitors"]["value"] == 47 - 12
    # the same rule row by row: sources of "not /tiny" -- the (none) source loses only /tiny's 2 visitors
    rows = stats.breakdown(A, req(prop="visit:source", metrics=["visitors"], filters=parse_filters("event:page!=/tiny")))
    assert "" not in {r["source"] for r in rows["results"]} and rows["hidden_rows"] >= 1
    series = stats.timeseries(A, req(metrics=["visitors"], interval="day", filters=parse_filters("event:page!=/small")))
    assert series["results"][0]["visitors"] is None and series["suppressed_buckets"] == 1


def test_a_client_without_goals_gets_an_empty_goals_breakdown_without_a_scan(stats, monkeypatch):
    asked = []
    monkeypatch.setattr(stats.store, "query_dicts", lambda sql, params=None: asked.append(sql) or [])
    out = Stats(stats.store, kept=False).breakdown(A, req(prop="event:goal", metrics=["visitors", "events", "conversion_rate"]))
    assert out == {"results": [], "hidden_rows": 0, "k": A.k, "page": 1, "total_rows": 0}
    assert asked == []



def _counted(stats, scope: Scope, metrics: list[str]) -> tuple[dict, str]:
    """The scope's total row of ``metrics`` as the query layer asks it, and its SQL."""
    sql, params = event_query(scope, None, metrics=metrics)
    return stats.store.query_dicts(sql, params)[0], sql


def test_rows_past_retention_leave_a_period_before_ttl_removes_them_and_later_days_read_no_timestamp(stats):
    # a day and 5 minutes later: with one day's retention the cut runs through the period's day,
    # and only the events at 10:05 or later are left (visitor 1's second page, visitor 2's transaction)
    now = datetime(DAY.year, DAY.month, DAY.day, 10, 5, tzinfo=UTC) + timedelta(days=1)
    kept, sql = _counted(stats, Scope(A.client_id, Period(DAY, DAY), now=now, retention_days=1), ["visitors"])
    assert kept["visitors"] == 2 and "ts >= " in sql
    everyone, sql = _counted(stats, Scope(A.client_id, Period(DAY, DAY), now=now, retention_days=2), ["visitors"])
    assert everyone["visitors"] == 47 and " ts" not in sql.split("WHERE", 1)[1]  # (wholly inside retention: the stored day alone)


def test_a_kind_filter_compares_the_stored_enum_and_an_unknown_kind_matches_nothing(stats):
    def pageviews(filters: str) -> tuple[tuple[int, int], str]:
        row, sql = _counted(stats, Scope(A.client_id, Period(DAY, DAY), parse_filters(filters)), ["pageviews", "events"])
        return (row["pageviews"], row["events"]), sql

    (views, events), sql = pageviews("event:kind==pageview")
    assert (views, events) == (98, 98) and "toString(kind)" not in sql
    assert pageviews("event:kind==pageview|no-such-kind")[0] == (98, 98)
    assert pageviews("event:kind==transaction")[0] == (0, 1)
    assert pageviews("event:kind==no-such-kind")[0] == (0, 0)
    assert pageviews("event:kind!=no-such-kind")[0] == pageviews("")[0] == (98, 99)
    assert pageviews("event:kind~VIEW")[0] == (98, 98)  # (contains: the kind's name, case-insensitive)


def test_a_row_shown_for_orders_without_a_visitor_withholds_its_visitors_in_v2_as_in_v1(stats):
    """Fulfilments a shop's server sends carry orders, not visitors: the row is shown for its 12
    orders, and its visitors (fewer than k: none) are withheld, in v2 as in v1, never shown as 0
    (nor raised to k as a row of k people's visitors is)."""
    shop = Client(client_id="c_cccccccccccc", name="c", domains=["c.example"])
    rows = [event(shop, 0, "/orders", kind="fulfilment", session=0, fulfilment_status="shipped", order_id=f"o{n}") for n in range(12)]
    rows += [event(shop, 100 + n, "/", session=100 + n) for n in range(12)]
    stats.store.insert_segment(b"".join(orjson.dumps(r) + b"\n" for r in rows), "orders")
    v1 = stats.breakdown(shop, req(prop="event:fulfilment_status", metrics=["visitors", "fulfilments"]))["results"]
    v2 = stats.query_v2(shop, parse_v2({"metrics": ["visitors", "fulfilments"], "date_range": [str(DAY), str(DAY)],
                                        "dimensions": ["event:fulfilment_status"]}))["results"]
    assert [r for r in v1 if r["fulfilment_status"] == "shipped"] == [{"fulfilment_status": "shipped", "visitors": None, "fulfilments": 12}]
    assert [r for r in v2 if r["dimensions"] == ["shipped"]] == [{"dimensions": ["shipped"], "metrics": [None, 12]}]
