"""Plausible's Stats APIs, feature by feature, against a running collector with data: one
minimal, meaningful query per public feature of the v2 query schema and per documented v1
parameter value. Each answers 200 in Plausible's shape, except the features spii refuses (on
purpose, or not built yet), which answer a 400 naming the field.

The v2 features are those of Plausible's published schema, priv/json-schemas/query-api-schema.json
in plausible/analytics, read on 2026-12-05, plus the ones its docs added since (the `24h` range,
the `case_sensitive` modifier, `has_done` / `has_not_done`), as issue 41 lists them."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.e2e.harness import Collector

SITE = "shop.example"
RANGE = "7d"
V2_DATE_RANGES = ["all", "day", "7d", "30d", "month", "6mo", "12mo", "year", "24h", ["2026-11-01", "2026-11-30"],
                  ["2026-11-01T00:00:00+03:00", "2026-11-02T12:00:00+03:00"]]
V2_METRICS = ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration", "events"]
V2_GOAL_METRICS = ["percentage", "conversion_rate", "group_conversion_rate"]  # need a dimension, and a goal
V2_DIMENSIONS = ["event:name", "event:page", "event:hostname", "visit:source", "visit:channel", "visit:referrer", "visit:utm_medium",
                 "visit:utm_source", "visit:utm_campaign", "visit:utm_content", "visit:utm_term", "visit:screen", "visit:device",
                 "visit:browser", "visit:browser_version", "visit:os", "visit:os_version", "visit:country", "visit:region",
                 "visit:country_name", "visit:region_name", "visit:entry_page", "visit:exit_page", "visit:entry_page_hostname",
                 "visit:exit_page_hostname", "event:props:plan", "event:goal",
                 "time", "time:month", "time:week", "time:day", "time:hour"]
REFUSED_ON_PURPOSE = {"visit:city", "visit:city_name"}  # spii keeps no city (docs/stats-api.md)
V2_FILTERS = [["is", "event:page", ["/"]], ["is_not", "event:page", ["/"]], ["contains", "event:page", ["pric"]],
              ["contains_not", "event:page", ["pric"]], ["matches", "event:page", ["^/p"]], ["matches_not", "event:page", ["^/p"]],
              ["is", "event:goal", ["Signup"]], ["contains", "event:goal", ["Sign"]],
              ["is", "event:page", ["/PRICING"], {"case_sensitive": False}], ["contains", "visit:source", ["GOOG"], {"case_sensitive": False}],
              ["and", [["is", "visit:source", ["Google"]], ["is_not", "event:page", ["/x"]]]],
              ["or", [["is", "visit:source", ["Google"]], ["is", "event:page", ["/"]]]], ["not", ["is", "event:page", ["/blog"]]],
              ["has_done", ["is", "event:name", ["Signup"]]], ["has_not_done", ["is", "event:name", ["Signup"]]]]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data = tmp_path_factory.mktemp("conformance") / "data"
    data.mkdir()
    collector = Collector(data, SPII_TRUSTED_PROXIES="127.0.0.1/32", SPII_STATS_RATE="1000", SPII_STATS_BURST="1000")
    shop = collector.add_client("shop", SITE)
    collector.cli("goals", "add", "shop", "--event", "Signup")
    collector.start()
    ip = 1
    for path, visitors, signups in (("/", 30, 0), ("/pricing", 24, 14), ("/blog", 12, 0)):
        for n in range(visitors):
            headers = {"X-Forwarded-For": f"198.51.{ip // 250}.{ip % 250 + 1}"}
            ref = "https://www.google.com/" if n % 2 else ""
            assert collector.send({"n": "pageview", "u": f"https://{SITE}{path}?utm_source=news&utm_medium=email", "d": SITE, "r": ref},
                                  headers)[0] == 202
            if n < signups:
                assert collector.send({"n": "Signup", "u": f"https://{SITE}{path}", "d": SITE, "p": {"plan": "pro"}}, headers)[0] == 202
            ip += 1
    collector.wait_shipped(66 + 14, shop["token"], SITE)
    yield collector, shop["token"]
    collector.stop()


def _ok(status: int, answer: dict, what: object) -> None:
    assert status == 200, (what, answer)
    assert isinstance(answer["results"], list) and isinstance(answer["meta"], dict) and "query" in answer, (what, answer)
    for row in answer["results"]:
        assert set(row) == {"dimensions", "metrics"}, (what, row)


def test_every_v2_feature(served):
    collector, token = served
    asked = 0
    for date_range in V2_DATE_RANGES:
        _ok(*collector.v2(token, {"metrics": ["visitors"], "date_range": date_range}), date_range)
        asked += 1
    for metric in V2_METRICS:
        _ok(*collector.v2(token, {"metrics": [metric], "date_range": RANGE}), metric)
        asked += 1
    for metric in V2_GOAL_METRICS:
        body = {"metrics": ["visitors", metric], "date_range": RANGE, "dimensions": ["event:page"], "filters": [["is", "event:goal", ["Signup"]]]}
        _ok(*collector.v2(token, body), metric)
        asked += 1
    for dimension in V2_DIMENSIONS:
        metrics = ["visitors", "bounce_rate"] if dimension.startswith("visit:") else ["visitors"]
        _ok(*collector.v2(token, {"metrics": metrics, "date_range": RANGE, "dimensions": [dimension]}), dimension)
        asked += 1
    for dimension in sorted(REFUSED_ON_PURPOSE):
        status, answer = collector.v2(token, {"metrics": ["visitors"], "date_range": RANGE, "dimensions": [dimension]})
        assert status == 400 and answer["details"][0]["field"] in ("dimensions", "property"), (dimension, answer)
        assert "on purpose" in answer["details"][0]["problem"]
        asked += 1
    for flt in V2_FILTERS:
        _ok(*collector.v2(token, {"metrics": ["visitors"], "date_range": RANGE, "filters": [flt]}), flt)
        asked += 1
    for extra in ({"order_by": [["visitors", "asc"]], "dimensions": ["event:page"]}, {"order_by": [["event:page", "desc"]], "dimensions": ["event:page"]},
                  {"include": {"time_labels": True}, "dimensions": ["time:day"]}, {"include": {"imports": True}},
                  {"include": {"total_rows": True}, "dimensions": ["event:page"]},
                  {"pagination": {"limit": 1, "offset": 1}, "dimensions": ["event:page"]},
                  {"dimensions": ["visit:source", "event:page"]}):
        status, answer = collector.v2(token, {"metrics": ["visitors"], "date_range": RANGE, **extra})
        _ok(status, answer, extra)
        asked += 1
    status, answer = collector.v2(token, {"metrics": ["visitors"], "date_range": RANGE, "dimensions": ["time:day"], "include": {"time_labels": True}})
    assert len(answer["meta"]["time_labels"]) == 7
    status, answer = collector.v2(token, {"metrics": ["visitors"], "date_range": RANGE, "include": {"imports": True}})
    assert answer["meta"]["imports_included"] is False
    print(f"v2 features asked: {asked}")
    assert asked >= 77


def test_every_v1_parameter(served):
    collector, token = served
    asked = 0

    def ok(endpoint: str, **query: str) -> dict:
        nonlocal asked
        status, answer = collector.get_json(f"/api/v1/stats/{endpoint}?" + urlencode(query), token)
        assert status == 200, (endpoint, query, answer)
        asked += 1
        return answer

    for period in ("day", "7d", "30d", "month", "6mo", "12mo"):
        ok("aggregate", period=period, metrics="visitors")
    ok("aggregate", period="custom", date="2026-11-01,2026-11-30", metrics="visitors")
    for metric in ("visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration", "events"):
        ok("aggregate", period=RANGE, metrics=metric)
    ok("aggregate", period=RANGE, metrics="conversion_rate", filters="event:goal==Signup")
    for interval in ("date", "day", "month", "hour", "week"):
        ok("timeseries", period=RANGE, interval=interval, metrics="visitors")
    for prop in ("event:name", "event:page", "event:hostname", "event:goal", "event:props:plan", "visit:source", "visit:channel",
                 "visit:referrer", "visit:utm_medium", "visit:utm_source", "visit:utm_campaign", "visit:utm_content", "visit:utm_term",
                 "visit:device", "visit:browser", "visit:browser_version", "visit:os", "visit:os_version", "visit:country",
                 "visit:region", "visit:entry_page", "visit:exit_page", "visit:entry_page_hostname", "visit:exit_page_hostname"):
        ok("breakdown", period=RANGE, property=prop, metrics="visitors")
    for flt in ("event:page==/pricing", "event:page!=/pricing", "event:page==/pri*", "event:page==/|/blog", "visit:source~goo",
                "event:goal==Signup", "visit:source==Google;event:page==/"):
        ok("aggregate", period=RANGE, metrics="visitors", filters=flt)
    ok("aggregate", period=RANGE, metrics="visitors", compare="previous_period")
    ok("breakdown", period=RANGE, property="event:page", metrics="visitors", limit="1", page="2")
    ok("aggregate", period=RANGE, metrics="visitors", with_imported="true")
    status, _ = collector.get_json("/api/v1/stats/realtime/visitors", token)
    assert status == 200
    asked += 1
    print(f"v1 parameter values asked: {asked}")
    assert asked >= 43
