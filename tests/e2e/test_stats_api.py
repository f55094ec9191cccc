"""The stats API through a running `spii serve`: tokens scoped to one client, suppression on
real ingested traffic, clear errors, per-token rate limit."""

import os
import stat

from tests.e2e.harness import BROWSER_UA

SHOP, BLOG = "shop.example", "blog.example"


def visit(collector, site, path, n, first_ip=1):
    """``n`` distinct visitors (distinct IPs through a trusted proxy) view ``path``."""
    for i in range(first_ip, first_ip + n):
        headers = {"X-Forwarded-For": f"203.0.113.{i}", "User-Agent": BROWSER_UA}
        assert collector.send({"n": "pageview", "u": f"https://{site}{path}", "d": site}, headers=headers)[0] == 202


def test_stats_api_scoping_suppression_and_errors(tmp_path):
    from tests.e2e.harness import Collector

    (tmp_path / "data").mkdir()
    collector = Collector(tmp_path / "data", SPII_TRUSTED_PROXIES="127.0.0.1/32", SPII_STATS_BURST="1000")
    shop = collector.add_client("shop", SHOP, perturb="off")  # exact counts here; noise: tests/e2e/test_perturbation.py
    blog = collector.add_client("blog", BLOG, perturb="off")
    collector.start()
    try:
        visit(collector, SHOP, "/", 20, first_ip=1)
        visit(collector, SHOP, "/a", 11, first_ip=21)
        visit(collector, SHOP, "/rare", 3, first_ip=32)
        visit(collector, BLOG, "/blog-only", 15, first_ip=100)
        collector.wait_shipped(34, shop["token"], shop["client_id"])
        get = collector.get_json

        status, body = get(f"/api/v1/stats/aggregate?site_id={shop['client_id']}&period=day&metrics=visitors,pageviews,visits,bounce_rate", shop["token"])
        assert status == 200 and body["results"]["visitors"]["value"] == 34 and body["results"]["bounce_rate"]["value"] == 100
        # /rare (3) is under k=10; alone it could be rebuilt from the total, so /a (11) is hidden too
        status, body = get(f"/api/v1/stats/breakdown?site_id={SHOP}&period=day&property=event:page", shop["token"])
        assert status == 200
        assert body["results"] == [{"page": "/", "visitors": 20}, {"page": "(other)", "visitors": 14, "other": True}]
        assert body["hidden_rows"] == 2
        status, body = get("/api/v1/stats/timeseries?period=7d&metrics=visitors", shop["token"])  # site_id defaults to the token's
        assert status == 200 and body["results"][-1]["visitors"] == 34 and len(body["results"]) == 7

        # another client's site: 403, no data; no token or a bad one: 401
        status, body = get(f"/api/v1/stats/breakdown?site_id={blog['client_id']}&property=event:page", shop["token"])
        assert status == 403 and "results" not in body and body["details"][0]["field"] == "site_id"
        assert get(f"/api/v1/stats/aggregate?site_id={BLOG}", shop["token"])[0] == 403
        assert get(f"/api/v1/stats/aggregate?site_id={SHOP}")[0] == 401
        assert get(f"/api/v1/stats/aggregate?site_id={SHOP}", "not-a-token")[0] == 401
        # the admin token (generated 0600 in the data dir) reads any client
        admin = collector.admin_token()
        assert stat.S_IMODE(os.stat(collector.data_dir / "admin.token").st_mode) == 0o600
        status, body = get(f"/api/v1/stats/breakdown?site_id={BLOG}&period=day&property=event:page", admin)
        assert status == 200 and body["results"] == [{"page": "/blog-only", "visitors": 15}]

        # bad parameters name the field
        for query, field in (("period=2y", "period"), ("period=custom&date=2026-01-05", "date"), ("metrics=nope", "metrics"),
                             ("filters=event:page=/x", "filters"), ("limit=0", "limit"), ("interval=year", "interval"),
                             ("compare=last_year", "compare")):
            status, body = get(f"/api/v1/stats/aggregate?site_id={SHOP}&{query}", shop["token"])
            assert status == 400 and body["details"][0]["field"] == field, (query, body)
        status, body = get(f"/api/v1/stats/breakdown?site_id={SHOP}&property=visit:nope", shop["token"])
        assert status == 400 and body["details"][0]["field"] == "property"
    finally:
        collector.stop()


def test_stats_api_rate_limits_per_token(tmp_path):
    from tests.e2e.harness import Collector

    (tmp_path / "data").mkdir()
    collector = Collector(tmp_path / "data", SPII_STATS_BURST="3", SPII_STATS_RATE="0.01")
    shop = collector.add_client("shop", SHOP, perturb="off")
    other_token = collector.cli("clients", "token", "shop")["token"]
    collector.start()
    try:
        statuses = [collector.get_json("/api/v1/stats/aggregate", shop["token"])[0] for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        assert collector.get_json("/api/v1/stats/aggregate", other_token)[0] == 200  # its own budget
    finally:
        collector.stop()
