"""Stats API v2 through the running service: v2 answers equal v1's on the same data, filters
combine with and/or/not, dimensions include time and goals, and bad fields are named."""

from __future__ import annotations


from tests.e2e.harness import Collector

SITE = "shop.example"


def test_v2_matches_v1_and_names_bad_fields(tmp_path):
    collector = Collector(tmp_path / "data", SPII_TRUSTED_PROXIES="127.0.0.1/32")
    (tmp_path / "data").mkdir()
    shop = collector.add_client("shop", SITE)  # perturbed, as clients are by default: v2 and v1 get the same noise
    collector.cli("goals", "add", "shop", "--event", "Signup")
    collector.start()
    token = shop["token"]
    try:
        ip = 1
        for path, visitors, signups in (("/", 30, 0), ("/pricing", 20, 12), ("/blog", 12, 0), ("/rare", 3, 0)):
            for n in range(visitors):
                headers = {"X-Forwarded-For": f"10.0.{ip // 256}.{ip % 256}"}
                ref = "https://www.google.com/" if n % 2 else ""
                assert collector.send({"n": "pageview", "u": f"https://{SITE}{path}", "d": SITE, "r": ref}, headers)[0] == 202
                if n < signups:
                    assert collector.send({"n": "Signup", "u": f"https://{SITE}{path}", "d": SITE}, headers)[0] == 202
                ip += 1
        collector.wait_shipped(65 + 12, token, SITE)

        status, v1 = collector.get_json("/api/v1/stats/aggregate?period=7d&metrics=visitors,pageviews,visits,bounce_rate", token)
        status, v2 = collector.v2(token, {"site_id": "shop", "metrics": ["visitors", "pageviews", "visits", "bounce_rate"], "date_range": "7d"})
        assert status == 200, v2
        assert v2["results"][0]["metrics"] == [v1["results"][m]["value"] for m in ("visitors", "pageviews", "visits", "bounce_rate")]
        assert v2["query"]["site_id"] == shop["client_id"] and len(v2["query"]["date_range"]) == 2

        _, pages1 = collector.get_json("/api/v1/stats/breakdown?period=7d&property=event:page&metrics=visitors,pageviews&limit=10", token)
        status, pages2 = collector.v2(token, {"metrics": ["visitors", "pageviews"], "date_range": "7d", "dimensions": ["event:page"],
                                                "include": {"total_rows": True}})
        assert status == 200, pages2
        v1_rows = {r["page"]: [r["visitors"], r["pageviews"]] for r in pages1["results"] if not r.get("other")}
        v2_rows = {r["dimensions"][0]: r["metrics"] for r in pages2["results"]}
        assert v2_rows == v1_rows and "/rare" not in v2_rows and pages2["meta"]["hidden_rows"] >= 1
        assert [r["metrics"][0] for r in pages2["results"]] == sorted((r["metrics"][0] for r in pages2["results"]), reverse=True)

        # filters: is / is_not / contains / matches, and / or / not; v1 gives the same for the same condition
        _, v1_or = collector.get_json("/api/v1/stats/aggregate?period=7d&metrics=visitors&filters=event:page%3D%3D/%7C/blog", token)
        _, v2_or = collector.v2(token, {"metrics": ["visitors"], "date_range": "7d",
                                          "filters": [["or", [["is", "event:page", ["/"]], ["matches", "event:page", ["^/bl"]]]]]})
        assert v2_or["results"][0]["metrics"][0] == v1_or["results"]["visitors"]["value"]
        _, v2_not = collector.v2(token, {"metrics": ["visitors"], "date_range": "7d",
                                           "filters": [["not", ["contains", "event:page", ["pric"]]], ["is_not", "visit:source", ["Nowhere"]]]})
        assert v2_not["results"][0]["metrics"][0] is not None
        # the complement rule holds in v2 too: "not /rare" would single out /rare's 3 visitors
        _, complement = collector.v2(token, {"metrics": ["visitors"], "date_range": "7d", "filters": [["is_not", "event:page", ["/rare"]]]})
        assert complement["results"] == [] and complement["meta"]["suppressed"] is True

        # goals, time and two dimensions
        status, goals = collector.v2(token, {"metrics": ["visitors", "events", "conversion_rate"], "date_range": "7d",
                                               "dimensions": ["event:goal"]})
        assert status == 200 and goals["results"][0]["dimensions"] == ["Signup"]
        status, series = collector.v2(token, {"metrics": ["visitors"], "date_range": "7d", "dimensions": ["time:day"],
                                                "include": {"time_labels": True}})
        assert status == 200 and len(series["meta"]["time_labels"]) == 7 and len(series["results"]) == 1
        status, two = collector.v2(token, {"metrics": ["visitors"], "date_range": "day", "dimensions": ["event:page", "visit:source"]})
        assert status == 200 and all(len(r["dimensions"]) == 2 for r in two["results"])
        status, limited = collector.v2(token, {"metrics": ["visitors"], "date_range": "7d", "dimensions": ["event:page"],
                                                 "order_by": [["event:page", "asc"]], "pagination": {"limit": 1, "offset": 1}})
        assert status == 200 and len(limited["results"]) == 1

        for body, field in (({"metrics": ["nope"], "date_range": "7d"}, "metrics"), ({"metrics": ["visitors"], "date_range": "9d"}, "date_range"),
                            ({"metrics": ["visitors"], "date_range": "7d", "dimensions": ["visit:nope"]}, "dimensions"),
                            ({"metrics": ["visitors"], "date_range": "7d", "filters": [["like", "event:page", ["/"]]]}, "filters"),
                            ({"metrics": ["visitors"], "date_range": "7d", "filters": [["matches", "event:page", ["("]]]}, "filters"),
                            ({"metrics": ["visitors"], "date_range": "7d", "surprise": 1}, "surprise"),
                            ({"metrics": [], "date_range": "7d"}, "metrics")):
            status, refused = collector.v2(token, body)
            assert status == 400 and refused["details"][0]["field"] == field, (body, refused)
        status, _ = collector.v2("wrong-token", {"metrics": ["visitors"], "date_range": "7d"})
        assert status == 401
    finally:
        collector.stop()
