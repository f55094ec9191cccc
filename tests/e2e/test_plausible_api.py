"""Plausible's Stats API features added for scripts written against Plausible (issue 41, first
part), through a running collector: v1's `interval=date`, v2's `{"case_sensitive": false}`
modifier, the `percentage` metric, the `has_done` / `has_not_done` behavioural filters and the
`24h` date range; each under the same suppression as every number, bad input named."""

from __future__ import annotations


from tests.e2e.harness import Collector

SITE = "shop.example"


def _exact_collector(tmp_path, *more_domains: str, **env: str) -> tuple[Collector, str]:
    """A started collector whose client's counts are exact (perturbation off: shares and sets are
    checked to the visitor), with a Signup goal; and its analyst token."""
    collector = Collector(tmp_path / "data", SPII_TRUSTED_PROXIES="127.0.0.1/32", **env)
    (tmp_path / "data").mkdir()
    shop = collector.add_client("shop", SITE, *more_domains, perturb="off")
    collector.cli("goals", "add", "shop", "--event", "Signup")
    return collector.start(), shop["token"]


def _pages_and_signups(collector: Collector, plan: tuple[tuple[str, int, int], ...]) -> int:
    """For each (path, visitors, signups): that many visitors view the path, the first ones sign
    up; each visitor from an address of its own. The number of events sent."""
    sent, visitor = 0, 1
    for path, visitors, signups in plan:
        for n in range(visitors):
            headers = {"X-Forwarded-For": f"198.51.{visitor // 250}.{visitor % 250 + 1}"}
            for name in ("pageview", "Signup")[:2 if n < signups else 1]:
                assert collector.send({"n": name, "u": f"https://{SITE}{path}", "d": SITE}, headers)[0] == 202
                sent += 1
            visitor += 1
    return sent


def test_plausible_features(tmp_path):
    collector, token = _exact_collector(tmp_path)
    try:
        sent = _pages_and_signups(collector, (("/Pricing", 20, 12), ("/blog", 15, 0), ("/", 25, 0), ("/rare", 3, 0)))
        assert sent == 63 + 12
        collector.wait_shipped(sent, token, SITE)

        # v1: interval=date is Plausible's name for daily buckets, and its default
        status, by_date = collector.get_json("/api/v1/stats/timeseries?period=7d&interval=date&metrics=visitors", token)
        assert status == 200 and by_date == collector.get_json("/api/v1/stats/timeseries?period=7d&interval=day&metrics=visitors", token)[1]

        base = {"metrics": ["visitors"], "date_range": "7d"}
        # case_sensitive false on is and contains; matching is case-sensitive without it
        assert collector.v2(token, {**base, "filters": [["is", "event:page", ["/pricing"]]]})[1]["meta"]["suppressed"] is True
        status, answer = collector.v2(token, {**base, "filters": [["is", "event:page", ["/pricing"], {"case_sensitive": False}]]})
        assert status == 200 and answer["results"][0]["metrics"] == [20]
        status, answer = collector.v2(token, {**base, "filters": [["contains", "event:page", ["PRIC"], {"case_sensitive": False}]]})
        assert status == 200 and answer["results"][0]["metrics"] == [20]
        assert collector.v2(token, {**base, "filters": [["contains", "event:page", ["PRIC"]]]})[1]["meta"]["suppressed"] is True
        status, answer = collector.v2(token, {**base, "filters": [["is_not", "event:page", ["/PRICING"], {"case_sensitive": False}]]})
        assert status == 200 and answer["results"][0]["metrics"] == [43]
        for bad in ({"case_sensitive": "no"}, {"case": False}):
            status, answer = collector.v2(token, {**base, "filters": [["is", "event:page", ["/x"], bad]]})
            assert status == 400 and answer["details"][0]["field"] == "filters"
        status, answer = collector.v2(token, {**base, "filters": [["matches", "event:page", ["^/"], {"case_sensitive": False}]]})
        assert status == 400 and "case_sensitive applies to" in answer["details"][0]["problem"]

        # percentage: each shown row's share of the total's visitors, from the numbers shown
        status, answer = collector.v2(token, {"metrics": ["visitors", "percentage"], "date_range": "7d", "dimensions": ["event:page"]})
        assert status == 200, answer
        shares = {r["dimensions"][0]: r["metrics"] for r in answer["results"]}
        assert shares == {"/": [25, 39.7], "/Pricing": [20, 31.7]}  # /rare (3) hidden, with /blog (15) so that it cannot be told apart
        assert answer["meta"]["hidden_rows"] == 2
        status, answer = collector.v2(token, {"metrics": ["percentage"], "date_range": "7d", "dimensions": ["visit:device"]})
        assert status == 200 and sum(r["metrics"][0] for r in answer["results"]) == 100.0  # (one device: everyone)
        status, answer = collector.v2(token, {"metrics": ["percentage"], "date_range": "7d"})
        assert status == 400 and answer["details"][0]["field"] == "metrics"

        # has_done / has_not_done: visitors who did (not) send a matching event in the period
        status, answer = collector.v2(token, {**base, "filters": [["has_done", ["is", "event:name", ["Signup"]]]]})
        assert status == 200 and answer["results"][0]["metrics"] == [12]
        status, answer = collector.v2(token, {**base, "filters": [["has_not_done", ["is", "event:name", ["Signup"]]]]})
        assert status == 200 and answer["results"][0]["metrics"] == [51]
        status, answer = collector.v2(token, {"metrics": ["visitors", "pageviews"], "date_range": "7d", "dimensions": ["event:page"],
                                                "filters": [["has_done", ["is", "event:name", ["Signup"]]]]})
        # /Pricing's 12 who signed up would leave 8 of its 20 outside: under k, so the complement rule withholds the row
        assert status == 200 and answer["results"] == [] and answer["meta"]["hidden_rows"] == 1
        # under the complement rule like every filter: who did it is only told when k others did not
        status, answer = collector.v2(token, {**base, "filters": [["has_done", ["is", "event:page", ["/rare"]]]]})
        assert status == 200 and answer["meta"]["suppressed"] is True

        # 24h: the last 24 hours (the events above are minutes old)
        status, answer = collector.v2(token, {"metrics": ["visitors"], "date_range": "24h"})
        assert status == 200 and answer["results"][0]["metrics"] == [63]
        status, answer = collector.v2(token, {"metrics": ["visitors"], "date_range": "24h", "dimensions": ["time:hour"]})
        assert status == 200 and sum(r["metrics"][0] for r in answer["results"]) == 63
    finally:
        collector.stop()


def test_a_city_is_refused_on_purpose_and_says_so(tmp_path):
    collector = Collector(tmp_path / "data")
    (tmp_path / "data").mkdir()
    shop = collector.add_client("shop", SITE)
    collector.start()
    try:
        for body in ({"metrics": ["visitors"], "date_range": "7d", "dimensions": ["visit:city"]},
                     {"metrics": ["visitors"], "date_range": "7d", "filters": [["is", "visit:city_name", ["London"]]]}):
            status, answer = collector.v2(shop["token"], body)
            assert status == 400 and "spii keeps no city, on purpose" in answer["details"][0]["problem"], answer
    finally:
        collector.stop()


def test_named_dimensions_country_region_and_screen(tmp_path):
    """visit:country_name and visit:screen group by the stored code and name it after counting; a
    filter on names filters on their codes (pycountry's ISO 3166 names)."""
    from collector.commands.demo import country_addresses

    addresses = country_addresses(seed=3, per_country=12)
    collector, token = _exact_collector(tmp_path)
    phone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
    try:
        for country, count in (("GB", 12), ("NL", 11)):
            for n, address in enumerate(addresses[country][:count]):
                headers = {"X-Forwarded-For": address, **({"User-Agent": phone} if country == "NL" else {})}
                assert collector.send({"n": "pageview", "u": f"https://{SITE}/", "d": SITE}, headers)[0] == 202
        collector.wait_shipped(23, token, SITE)
        status, answer = collector.v2(token, {"metrics": ["visitors"], "date_range": "7d", "dimensions": ["visit:country_name"]})
        assert status == 200 and {tuple(r["dimensions"]): r["metrics"][0] for r in answer["results"]} == {
            ("United Kingdom",): 12, ("Netherlands",): 11}, answer
        status, answer = collector.v2(token, {"metrics": ["visitors"], "date_range": "7d", "dimensions": ["visit:screen", "visit:country"]})
        assert status == 200 and sorted(r["dimensions"] for r in answer["results"]) == [["Desktop", "GB"], ["Mobile", "NL"]]
        for flt, expected in ((["is", "visit:country_name", ["Netherlands"]], 11),
                              (["contains", "visit:country_name", ["kingdom"], {"case_sensitive": False}], 12),
                              (["is_not", "visit:screen", ["Mobile"]], 12), (["matches", "visit:country_name", ["^Neth"]], 11)):
            status, answer = collector.v2(token, {"metrics": ["visitors"], "date_range": "7d", "filters": [flt]})
            assert status == 200 and answer["results"][0]["metrics"] == [expected], (flt, answer)
        status, answer = collector.v2(token, {"metrics": ["visitors"], "date_range": "7d", "filters": [["is", "visit:country_name", ["Atlantis"]]]})
        assert status == 200 and answer["meta"]["suppressed"] is True  # no such country: nobody
        status, answer = collector.v2(token, {"metrics": ["visitors"], "date_range": "7d", "dimensions": ["visit:region_name"]})
        assert status == 200  # (no GeoIP database here: every region unknown, one row of ''))
    finally:
        collector.stop()


def test_acquisition_channels_in_v1_v2_and_filters(tmp_path):
    collector, token = _exact_collector(tmp_path)
    try:
        ip = 1
        for referrer, query, visitors in (("https://www.google.com/", "", 12), ("https://www.facebook.com/", "", 11),
                                          ("", "?utm_source=newsletter&utm_medium=email", 10), ("", "", 13),
                                          ("https://www.google.com/", "?utm_source=google&utm_medium=cpc", 10)):
            for _ in range(visitors):
                headers = {"X-Forwarded-For": f"198.51.{ip // 250}.{ip % 250 + 1}"}
                event = {"n": "pageview", "u": f"https://{SITE}/{query}", "d": SITE, "r": referrer}
                assert collector.send(event, headers)[0] == 202
                ip += 1
        collector.wait_shipped(56, token, SITE)
        expected = {"Direct": 13, "Organic Search": 12, "Organic Social": 11, "Email": 10, "Paid Search": 10}
        status, answer = collector.v2(token, {"metrics": ["visitors"], "date_range": "7d", "dimensions": ["visit:channel"]})
        assert status == 200 and {r["dimensions"][0]: r["metrics"][0] for r in answer["results"]} == expected, answer
        status, v1 = collector.get_json("/api/v1/stats/breakdown?period=7d&property=visit:channel&metrics=visitors", token)
        assert status == 200 and {r["channel"]: r["visitors"] for r in v1["results"]} == expected, v1
        status, v1 = collector.get_json("/api/v1/stats/aggregate?period=7d&metrics=visitors&filters=visit:channel%3D%3DPaid%20Search", token)
        assert status == 200 and v1["results"]["visitors"]["value"] == 10
    finally:
        collector.stop()


def test_group_conversion_rate(tmp_path):
    """Of each group's visitors (the goal filter left out), the share that converted."""
    collector, token = _exact_collector(tmp_path)
    try:
        sent = _pages_and_signups(collector, (("/pricing", 25, 12), ("/", 40, 20)))
        assert sent == 65 + 32
        collector.wait_shipped(sent, token, SITE)
        status, answer = collector.v2(token, {"metrics": ["visitors", "group_conversion_rate"], "date_range": "7d",
                                              "dimensions": ["event:page"], "filters": [["is", "event:goal", ["Signup"]]]})
        assert status == 200 and {r["dimensions"][0]: r["metrics"] for r in answer["results"]} == {"/": [20, 50.0], "/pricing": [12, 48.0]}
        status, answer = collector.v2(token, {"metrics": ["visitors", "group_conversion_rate"], "date_range": "7d", "dimensions": ["event:goal"]})
        assert status == 200 and answer["results"] == [{"dimensions": ["Signup"], "metrics": [32, round(32 * 100 / 65, 1)]}]
        status, answer = collector.v2(token, {"metrics": ["group_conversion_rate"], "date_range": "7d", "dimensions": ["event:page"]})
        assert status == 400 and answer["details"][0]["field"] == "metrics"  # no goal: no conversion
    finally:
        collector.stop()


def test_entry_and_exit_page_hostnames(tmp_path):
    """A visit's entry host is its first pageview's, its exit host its last's: counted per visit,
    as the exit page is; a breakdown in v1 and v2, not a filter (a 400 naming it)."""
    docs = "docs.example"
    collector, token = _exact_collector(tmp_path, docs)
    try:
        ip = 1
        for hosts, visitors in (((SITE, docs), 12), ((docs, docs), 11), ((SITE, SITE), 10)):
            for _ in range(visitors):
                headers = {"X-Forwarded-For": f"198.51.{ip // 250}.{ip % 250 + 1}"}
                for n, host in enumerate(hosts):
                    assert collector.send({"n": "pageview", "u": f"https://{host}/p{n}", "d": SITE}, headers)[0] == 202
                ip += 1
        collector.wait_shipped(66, token, SITE)
        for dimension, expected in (("visit:entry_page_hostname", {SITE: 22, docs: 11}), ("visit:exit_page_hostname", {docs: 23, SITE: 10})):
            status, answer = collector.v2(token, {"metrics": ["visitors", "visits", "bounce_rate"], "date_range": "7d", "dimensions": [dimension]})
            assert status == 200 and {r["dimensions"][0]: r["metrics"][0] for r in answer["results"]} == expected, answer
            assert all(r["metrics"][1:] == [r["metrics"][0], 0] for r in answer["results"])  # one visit each, two pages: no bounce
            status, v1 = collector.get_json(f"/api/v1/stats/breakdown?period=7d&property={dimension}&metrics=visitors", token)
            assert status == 200 and {r[dimension.split(":")[1]]: r["visitors"] for r in v1["results"]} == expected, v1
        status, answer = collector.v2(token, {"metrics": ["visitors"], "date_range": "7d", "filters": [["is", "visit:exit_page_hostname", [docs]]]})
        assert status == 400 and answer["details"][0]["field"] == "filters", answer
        status, answer = collector.v2(token, {"metrics": ["visitors"], "date_range": "7d",
                                              "dimensions": ["visit:entry_page_hostname", "visit:device"]})
        assert status == 400 and answer["details"][0]["field"] == "dimensions", answer
    finally:
        collector.stop()


def test_metric_warnings_in_the_meta(tmp_path):
    """meta.metric_warnings as Plausible's ({metric: {code, warning}}): revenue added up across
    currencies, and an average left null for fewer than k visitors."""
    collector, token = _exact_collector(tmp_path)
    try:
        ip = 1
        for currency in ("GBP", "EUR"):
            for _ in range(11):
                headers = {"X-Forwarded-For": f"198.51.{ip // 250}.{ip % 250 + 1}"}
                assert collector.send({"n": "transaction", "u": f"https://{SITE}/checkout", "d": SITE,
                                       "revenue": {"amount": "10", "currency": currency}}, headers)[0] == 202
                ip += 1
        collector.wait_shipped(22, token, SITE)
        status, answer = collector.v2(token, {"metrics": ["visitors", "revenue", "scroll_depth"], "date_range": "7d"})
        assert status == 200, answer
        warnings = answer["meta"]["metric_warnings"]
        assert warnings["revenue"]["code"] == "no_single_revenue_currency" and "EUR, GBP" in warnings["revenue"]["warning"]
        assert warnings["scroll_depth"]["code"] == "fewer_than_k" and "visitors" not in warnings  # (no pings: no scroll depth)
        status, answer = collector.v2(token, {"metrics": ["revenue"], "date_range": "7d", "filters": [["is", "event:currency", ["GBP"]]]})
        assert status == 200 and "metric_warnings" not in answer["meta"] and answer["results"][0]["metrics"] == [110.0], answer
    finally:
        collector.stop()
