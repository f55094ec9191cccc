"""Engagement through the running service: Plausible's engagement pings (sd = scroll depth, e =
engaged time) become scroll depth and time on page per page, extend visit duration to when the
page was left, are never pageviews or events, attach only to an open visit, and an average of
fewer than k people's values is withheld."""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile

from tests.e2e.harness import Collector

SITE = "news.example"


def _event(name: str, path: str, **extra) -> dict:
    return {"n": name, "u": f"https://{SITE}{path}", "d": SITE, **extra}


def _send(collector: Collector, ip: str, event: dict, **headers: str) -> tuple[int, dict, bytes]:
    return collector.send(event, {"X-Forwarded-For": ip, **headers})


def test_scroll_depth_time_on_page_and_visit_duration(tmp_path):
    collector = Collector(tmp_path / "data", SPII_TRUSTED_PROXIES="127.0.0.1/32")
    (tmp_path / "data").mkdir()
    news = collector.add_client("news", SITE, k="5", perturb="off")
    collector.start()
    token = news["token"]
    try:
        article = [f"198.51.100.{n}" for n in range(1, 9)]  # 8 readers of /article, all engaged
        short = [f"203.0.113.{n}" for n in range(1, 9)]  # 8 visitors of /short, only 2 engaged
        for ip in article:
            assert _send(collector, ip, _event("pageview", "/article"))[0] == 202
        for ip in short:
            assert _send(collector, ip, _event("pageview", "/short"))[0] == 202
        time.sleep(1.2)  # the pings come later: the visit lasts until the page was left
        pings = 0
        for n, ip in enumerate(article):
            # two pings per reader, as the tracker sends on hide and on leave: depth grows, time adds up
            for sd, e in ((40, 2000), (40 + 5 * n, 4000)):
                status, headers, _ = _send(collector, ip, _event("engagement", "/article", sd=sd, e=e))
                assert status == 202 and "x-spii-dropped" not in headers
                pings += 1
        for ip in short[:2]:
            assert _send(collector, ip, _event("engagement", "/short", sd=150.4, e=1000.7))[0] == 202  # clamped to 100 %, whole ms
            pings += 1
        # no open visit to attach to: a stranger, and a visitor who refuses tracking
        assert _send(collector, "192.0.2.99", _event("engagement", "/article", sd=10, e=10))[1]["x-spii-dropped"] == "engagement_without_visit"
        assert _send(collector, "192.0.2.98", _event("pageview", "/article"), **{"Sec-GPC": "1"})[0] == 202
        assert _send(collector, "192.0.2.98", _event("engagement", "/article", sd=10, e=10),
                     **{"Sec-GPC": "1"})[1]["x-spii-dropped"] == "engagement_without_visit"
        # a bad field is named
        status, _, body = _send(collector, article[0], _event("engagement", "/article", sd="deep", e=5))
        assert status == 400 and json.loads(body)["details"][0]["field"] == "sd"
        collector.wait_shipped(17 + pings, token, SITE)

        _, pages = collector.get_json("/api/v1/stats/breakdown?period=day&property=event:page"
                                      "&metrics=visitors,pageviews,scroll_depth,time_on_page", token)
        rows = {r["page"]: r for r in pages["results"]}
        depths = [40 + 5 * n for n in range(8)]
        # (one pageview more than visitors: the visitor who refuses tracking is no one)
        assert rows["/article"] == {"page": "/article", "visitors": 8, "pageviews": 9, "scroll_depth": round(sum(depths) / 8),
                                    "time_on_page": 6}  # (2 + 4 s) per engaged visitor
        assert rows["/short"]["visitors"] == 8 and rows["/short"]["scroll_depth"] is None and rows["/short"]["time_on_page"] is None
        assert set(rows) == {"/article", "/short"}

        # pings are neither pageviews nor events, and no event name of their own
        _, total = collector.get_json("/api/v1/stats/aggregate?period=day&metrics=visitors,pageviews,events,visits,visit_duration", token)
        values = {m: v["value"] for m, v in total["results"].items()}
        assert (values["visitors"], values["pageviews"], values["events"], values["visits"]) == (16, 17, 17, 16)
        assert values["visit_duration"] >= 1  # 10 of 16 visits lasted until their ping, 1.2 s or more after landing
        _, names = collector.get_json("/api/v1/stats/breakdown?period=day&property=event:name&metrics=visitors,events", token)
        assert [r["name"] for r in names["results"]] == ["pageview"]
        _, kinds = collector.get_json("/api/v1/stats/breakdown?period=day&property=event:kind&metrics=visitors", token)
        assert [r["kind"] for r in kinds["results"]] == ["pageview"]
        # without the engagement metrics, the same visitors (engagement rows change no count)
        _, plain = collector.get_json("/api/v1/stats/breakdown?period=day&property=event:page&metrics=visitors", token)
        assert {r["page"]: r["visitors"] for r in plain["results"]} == {p: r["visitors"] for p, r in rows.items()}

        # Stats API v2 gives the same
        status, _, raw = collector.request("POST", "/api/v2/query", json.dumps(
            {"metrics": ["visitors", "scroll_depth", "time_on_page"], "date_range": "day", "dimensions": ["event:page"]}),
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        v2 = {r["dimensions"][0]: r["metrics"] for r in json.loads(raw)["results"]}
        assert status == 200 and v2["/article"] == [8, rows["/article"]["scroll_depth"], 6] and v2["/short"] == [8, None, None]
        # and so does the dashboard's engagement panel (here in its export: the same page, as CSV)
        status, _, zipped = collector.request("GET", "/api/v1/stats/export?period=day", headers={"Authorization": f"Bearer {token}"})
        panel = list(csv.reader(io.StringIO(zipfile.ZipFile(io.BytesIO(zipped)).read("engagement.csv").decode())))
        assert status == 200 and panel[0] == ["page", "visitors", "scroll_depth", "time_on_page", "row"]
        assert {r[0]: r[1:4] for r in panel[1:]} == {"/article": ["8", str(rows["/article"]["scroll_depth"]), "6"], "/short": ["8", "", ""]}
    finally:
        collector.stop()
    stored = collector.query("SELECT kind, path, scroll_depth, engaged_ms, session_id, visit_event, visit_seconds "
                             "FROM spii.events WHERE kind = 'engagement'")
    assert len(stored) == pings and all(r["session_id"] != "0" and int(r["visit_event"]) == 0 for r in stored)
    assert {(r["scroll_depth"], r["engaged_ms"]) for r in stored if r["path"] == "/short"} == {(100, 1000)}
