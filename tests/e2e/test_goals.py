"""Goals, conversion rates, revenue and funnels through the running service: goals managed by
the CLI and the admin API, event:goal breakdowns and filters with Plausible's conversion rate,
a funnel that counts steps only in order within a visit, and small groups hidden."""

from __future__ import annotations

import json

from tests.e2e.harness import Collector

SITE = "shop.example"


def _send(collector: Collector, ip: str, name: str, path: str, **extra) -> None:
    event = {"n": name, "u": f"https://{SITE}{path}", "d": SITE, **extra}
    headers = {"X-Forwarded-For": ip, **({"Sec-GPC": "1"} if extra.pop("gpc", False) else {})}
    event.pop("gpc", None)
    assert collector.send(event, headers)[0] == 202


def _load(collector: Collector) -> None:
    for n in range(1, 21):  # A1..A20
        ip = f"198.51.100.{n}"
        _send(collector, ip, "pageview", "/")
        if n <= 12:
            _send(collector, ip, "pageview", "/pricing")
        if n <= 10:
            _send(collector, ip, "Signup", "/signup")
        if n <= 5:
            _send(collector, ip, "pageview", "/thanks/welcome")
        if n <= 6:
            _send(collector, ip, "transaction", "/checkout", revenue={"amount": "10.00", "currency": "GBP"}, order=f"o-{n}")
    for n in range(1, 4):  # B1..B3: sign up first, look at pricing after: not the funnel's order
        ip = f"203.0.113.{n}"
        _send(collector, ip, "pageview", "/")
        _send(collector, ip, "Signup", "/signup")
        _send(collector, ip, "pageview", "/pricing")
    for n in range(1, 3):  # GPC: counted, nobody's visit or conversion
        ip = f"192.0.2.{n}"
        for name, path in (("pageview", "/pricing"), ("Signup", "/signup"), ("pageview", "/thanks/x")):
            _send(collector, ip, name, path, gpc=True)
    for n in range(1, 3):  # a rare goal: 2 visitors, under k
        _send(collector, f"198.51.100.{100 + n}", "Rare", "/")


def _get(collector: Collector, token: str, path: str) -> dict:
    status, body = collector.get_json(path, token)
    assert status == 200, body
    return body


def test_goals_conversions_revenue_and_an_ordered_funnel(tmp_path):
    collector = Collector(tmp_path / "data", SPII_TRUSTED_PROXIES="127.0.0.1/32")
    (tmp_path / "data").mkdir()
    shop = collector.add_client("shop", SITE, k="5", perturb="off")
    assert collector.cli("goals", "add", "shop", "--event", "Signup", "--json")["event"] == "Signup"
    assert collector.cli("goals", "add", "shop", "--page", "/thanks/**", "--json")["page"] == "/thanks/**"
    assert collector.cli("goals", "add", "shop", "--event", "Rare", "--json")["event"] == "Rare"
    collector.start()
    admin = collector.admin_token()
    try:
        # the admin API adds the rest: a page goal, a revenue goal, and the funnel
        for body in ({"client": "shop", "page": "/pricing"}, {"client": "shop", "event": "transaction", "revenue": "GBP"}):
            status, _, raw = collector.request("POST", "/api/v1/admin/goals", json.dumps(body),
                                               {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"})
            assert status == 201, raw
        status, _, raw = collector.request("POST", "/api/v1/admin/funnels", json.dumps(
            {"client": "shop", "name": "signup", "steps": ["Visit /pricing", "Signup", "Visit /thanks/**"]}),
            {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"})
        assert status == 201, raw
        status, _, raw = collector.request("POST", "/api/v1/admin/goals", json.dumps({"client": "shop", "event": "x"}),
                                           {"Authorization": f"Bearer {shop['token']}", "Content-Type": "application/json"})
        assert status == 401  # an analyst token manages nothing
        _load(collector)
        collector.wait_shipped(20 + 12 + 10 + 5 + 6 + 9 + 6 + 2, shop["token"], SITE)
        token = shop["token"]

        goals = _get(collector, token, "/api/v1/stats/breakdown?period=day&property=event:goal"
                                       "&metrics=visitors,events,conversion_rate,total_revenue,average_revenue")
        rows = {r["goal"]: r for r in goals["results"]}
        # 23 identified visitors in the period (the GPC ones are no one)
        assert rows["Signup"]["visitors"] == 13 and rows["Signup"]["conversion_rate"] == round(13 * 100 / 25, 1)
        assert rows["Visit /pricing"]["visitors"] == 15
        assert rows["transaction"]["visitors"] == 6 and rows["transaction"]["events"] == 6
        assert rows["transaction"]["total_revenue"] == 60.0 and rows["transaction"]["average_revenue"] == 10.0
        # Rare (2 visitors) is under k; alone it could be rebuilt, so the next smallest goes with it
        assert "Rare" not in rows and "Visit /thanks/**" not in rows and goals["hidden_rows"] == 2
        assert rows["(other)"]["visitors"] == 7 and rows["(other)"]["other"] is True
        total = _get(collector, token, "/api/v1/stats/aggregate?period=day&metrics=visitors,conversion_rate&filters=event:goal%3D%3DSignup")
        assert total["results"]["visitors"]["value"] == 13 and total["results"]["conversion_rate"]["value"] == round(13 * 100 / 25, 1)

        funnel = _get(collector, token, "/api/v1/stats/funnel?period=day&funnel=signup")
        steps = [(s["goal"], s["visitors"], s["dropoff"]) for s in funnel["steps"]]
        # B1..B3 reached /pricing after signing up: step 1 only; A11..A12 stopped at pricing
        assert steps == [("Visit /pricing", 15, None), ("Signup", 10, 5), ("Visit /thanks/**", 5, 5)]
        assert funnel["steps"][2]["conversion_rate"] == round(5 * 100 / 15, 1)
        status, body = collector.get_json("/api/v1/stats/funnel?period=day&funnel=nope", token)
        assert status == 400 and body["details"][0]["field"] == "funnel"
        status, body = collector.get_json("/api/v1/stats/aggregate?period=day&filters=event:goal%3D%3DNope", token)
        assert status == 400 and "no goal" in body["details"][0]["problem"]
    finally:
        collector.stop()
