"""Saved segments through a running collector: the API (list, save, remove) for a site's analysts
only, v1 `filters=segment==NAME` and v2 `["is", "segment", [ID]]` answering exactly what the
segment's own filters answer (suppression and the complement rule included), bad input named,
and the dashboard's "Save as segment" form whose redirect shares the segment in a URL."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

from tests.e2e.harness import Collector

SITE = "shop.example"


def _load(collector: Collector) -> None:
    ip = 1
    for referrer, page, visitors in (("https://www.google.com/", "/", 14), ("https://www.google.com/", "/pricing", 12),
                                     ("https://www.bing.com/", "/", 11), ("", "/about", 3)):
        for _ in range(visitors):
            event = {"n": "pageview", "u": f"https://{SITE}{page}", "d": SITE, "r": referrer}
            assert collector.send(event, {"X-Forwarded-For": f"198.51.100.{ip}"})[0] == 202
            ip += 1


def _json(collector: Collector, method: str, path: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    status, _, raw = collector.request(method, path, json.dumps(body) if body is not None else None,
                                       {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    return status, json.loads(raw)


def test_segments_answer_as_their_filters_do(tmp_path):
    collector = Collector(tmp_path / "data", SPII_TRUSTED_PROXIES="127.0.0.1/32")
    (tmp_path / "data").mkdir()
    shop = collector.add_client("shop", SITE)
    other = collector.add_client("other", "other.example")
    collector.start()
    try:
        _load(collector)
        collector.wait_shipped(40, shop["token"], SITE)
        token = shop["token"]
        status, google = _json(collector, "POST", "/api/v1/segments", token, {"name": "From Google", "filters": "visit:source==Google"})
        assert status == 201 and google["id"].startswith("s_") and google["filters"] == "visit:source==Google"
        status, tiny = _json(collector, "POST", "/api/v1/segments?site_id=shop", token, {"name": "About", "filters": "event:page==/about"})
        assert status == 201
        status, listed = _json(collector, "GET", "/api/v1/segments", token)
        assert status == 200 and [s["name"] for s in listed["segments"]] == ["From Google", "About"]

        for query in ("/api/v1/stats/aggregate?period=day&metrics=visitors,pageviews&filters={}",
                      "/api/v1/stats/breakdown?period=day&property=event:page&metrics=visitors&filters={}",
                      "/api/v1/stats/timeseries?period=day&interval=hour&metrics=visitors&filters={}"):
            by_segment = collector.get_json(query.format(quote("segment==From Google")), token)
            by_filters = collector.get_json(query.format(quote("visit:source==Google")), token)
            assert by_segment == by_filters and by_segment[0] == 200, (query, by_segment, by_filters)
        assert collector.get_json("/api/v1/stats/aggregate?period=day&filters=" + quote("segment==From Google"), token)[1][
            "results"]["visitors"]["value"] is not None
        # suppression and the complement rule apply to a segment as to its filters: 3 visitors on /about
        by_segment = collector.get_json("/api/v1/stats/aggregate?period=day&filters=" + quote(f"segment=={tiny['id']}"), token)[1]
        assert by_segment["suppressed"] is True and by_segment["results"]["visitors"]["value"] is None

        v2 = {"metrics": ["visitors", "pageviews"], "date_range": "day", "dimensions": ["event:page"]}
        status, by_id = _json(collector, "POST", "/api/v2/query", token, {**v2, "filters": [["is", "segment", [google["id"]]]]})
        _, by_dimension = _json(collector, "POST", "/api/v2/query", token, {**v2, "filters": [["is", "visit:source", ["Google"]]]})
        assert status == 200 and by_id["results"] == by_dimension["results"] and by_id["results"]

        # bad input, named
        status, body = collector.get_json("/api/v1/stats/aggregate?period=day&filters=" + quote("segment==Nope"), token)
        assert status == 400 and body["details"][0]["field"] == "filters" and "no segment 'Nope'" in body["details"][0]["problem"]
        status, body = _json(collector, "POST", "/api/v2/query", token, {**v2, "filters": [["is", "segment", ["s_nope"]]]})
        assert status == 400 and body["details"][0]["field"] == "filters"
        assert _json(collector, "POST", "/api/v1/segments", token, {"name": "From Google", "filters": "visit:source==Bing"})[0] == 409
        status, body = _json(collector, "POST", "/api/v1/segments", token, {"name": "Broken", "filters": "visit:nothing==x"})
        assert status == 400 and body["details"][0]["field"] == "filters"
        status, body = _json(collector, "POST", "/api/v1/segments", token, {"name": "a|b", "filters": "visit:source==Bing"})
        assert status == 400 and body["details"][0]["field"] == "name"
        # another client's token reads none of them and cannot add one
        assert _json(collector, "GET", "/api/v1/segments?site_id=shop", other["token"])[0] == 403
        assert _json(collector, "POST", "/api/v1/segments?site_id=shop", other["token"], {"name": "x", "filters": "visit:source==Bing"})[0] == 403

        # the dashboard's form: the page's filters saved, then the page filtered by the segment, by URL
        status, headers, _ = collector.request("POST", "/dashboard/shop/login", urlencode({"token": token}),
                                               {"Content-Type": "application/x-www-form-urlencoded"})
        cookie = headers["set-cookie"].split(";", 1)[0]
        status, headers, _ = collector.request("POST", "/dashboard/shop/segments", urlencode(
            {"name": "Bing", "filters": "visit:source==Bing", "period": "day"}), {"Cookie": cookie,
                                                                                 "Content-Type": "application/x-www-form-urlencoded"})
        assert status == 303 and "segment%3D%3DBing" in headers["location"], headers
        status, _, page = collector.request("GET", headers["location"], headers={"Cookie": cookie})
        filtered = collector.request("GET", "/dashboard/shop?period=day&filters=" + quote("visit:source==Bing"), headers={"Cookie": cookie})[2]
        assert status == 200 and b"segment is Bing" in page

        def kpi(html: bytes) -> bytes:
            return html.split(b'data-metric="visitors">', 1)[1].split(b"<", 1)[0]

        assert kpi(page) == kpi(filtered) and kpi(page).strip() not in (b"", "–".encode())
        assert b'id="save-segment"' in filtered and b"Segments:" in filtered  # the form, and the saved ones to pick from
        status, _, _ = collector.request("POST", "/dashboard/shop/segments", urlencode({"name": "x", "filters": "visit:source==Bing"}),
                                         {"Content-Type": "application/x-www-form-urlencoded"})
        assert status != 303  # no session: the login page, nothing saved

        assert _json(collector, "DELETE", f"/api/v1/segments?segment={google['id']}", token)[0] == 200
        assert collector.get_json("/api/v1/stats/aggregate?period=day&filters=" + quote("segment==From Google"), token)[0] == 400
        assert [s["name"] for s in _json(collector, "GET", "/api/v1/segments", token)[1]["segments"]] == ["About", "Bing"]
    finally:
        collector.stop()
