"""The export: a ZIP of CSV files through the API and `spii report --format csv --out FILE.zip`,
equal to what the stats API answers, hidden rows marked; with differential privacy on, exports
spend the client's monthly budget and stop when it is spent."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import time
import zipfile

from tests.e2e.harness import SPII, Collector

SITE = "shop.example"


def _load(collector: Collector) -> None:
    ip = 1
    for page, visitors in (("/", 25), ("/pricing", 12), ("/rare", 3)):
        for _ in range(visitors):
            event = {"n": "pageview", "u": f"https://{SITE}{page}", "d": SITE, "r": "https://www.google.com/"}
            assert collector.send(event, {"X-Forwarded-For": f"198.51.100.{ip}"})[0] == 202
            ip += 1


def _zip(collector: Collector, token: str, query: str = "period=7d") -> tuple[int, dict, dict[str, list[dict]]]:
    status, headers, body = collector.request("GET", f"/api/v1/stats/export?{query}", headers={"Authorization": f"Bearer {token}"})
    if status != 200:
        return status, headers, {"error": json.loads(body)}
    archive = zipfile.ZipFile(io.BytesIO(body))
    files = {name: list(csv.DictReader(io.StringIO(archive.read(name).decode()))) for name in archive.namelist() if name.endswith(".csv")}
    return status, headers, files


def test_export_matches_the_api_and_the_cli_writes_the_same(tmp_path):
    collector = Collector(tmp_path / "data", SPII_TRUSTED_PROXIES="127.0.0.1/32")
    (tmp_path / "data").mkdir()
    shop = collector.add_client("shop", SITE)
    collector.start()
    try:
        _load(collector)
        collector.wait_shipped(40, shop["token"], SITE)
        status, headers, files = _zip(collector, shop["token"])
        assert status == 200 and headers["content-type"] == "application/zip"
        assert headers["content-disposition"].startswith('attachment; filename="spii-shop-7d-')
        assert {"totals.csv", "visitors_timeseries.csv", "top_pages.csv", "entry_pages.csv", "exit_pages.csv", "sources.csv",
                "utm_source.csv", "countries.csv", "devices.csv", "browsers.csv", "operating_systems.csv"} <= set(files)
        _, pages = collector.get_json("/api/v1/stats/breakdown?period=7d&property=event:page&metrics=visitors,pageviews&limit=10"
                                      "&filters=event:kind%3D%3Dpageview", shop["token"])
        shown = [(r["page"], int(r["visitors"])) for r in files["top_pages.csv"] if r["page"] != "(hidden)"]
        assert shown == [(r["page"], r["visitors"]) for r in pages["results"]]
        hidden = [r for r in files["top_pages.csv"] if r["page"] == "(hidden)"]
        assert len(hidden) == 1 and hidden[0]["visitors"] == "" and "rows under k=10" in hidden[0]["row"]
        assert "/rare" not in json.dumps(files)  # a hidden row's label is never written
        _, agg = collector.get_json("/api/v1/stats/aggregate?period=7d&metrics=visitors,pageviews", shop["token"])
        totals = {r["metric"]: r["value"] for r in files["totals.csv"]}
        assert int(totals["visitors"]) == agg["results"]["visitors"]["value"] and int(totals["pageviews"]) == agg["results"]["pageviews"]["value"]
        out = tmp_path / "report.zip"
        cli = subprocess.run([*SPII, "report", "shop", "--period", "7d", "--format", "csv", "--out", str(out),
                              "--server", f"http://127.0.0.1:{collector.port}", "--token", shop["token"]],
                             env=collector.env, capture_output=True, text=True, timeout=60)
        assert cli.returncode == 0, cli.stderr
        written = zipfile.ZipFile(out)
        _, _, body = collector.request("GET", "/api/v1/stats/export?period=7d", headers={"Authorization": f"Bearer {shop['token']}"})
        served = zipfile.ZipFile(io.BytesIO(body))
        assert sorted(written.namelist()) == sorted(served.namelist())
        assert all(written.read(n) == served.read(n) for n in served.namelist() if n.endswith(".csv"))  # the same report
    finally:
        collector.stop()


def test_differentially_private_exports_stop_when_the_budget_is_spent(tmp_path):
    collector = Collector(tmp_path / "data", SPII_TRUSTED_PROXIES="127.0.0.1/32")
    (tmp_path / "data").mkdir()
    shop = collector.add_client("shop", SITE, dp_budget="2", dp_export_epsilon="1")
    collector.start()
    try:
        _load(collector)
        collector.wait_shipped(40, shop["token"], SITE)
        first = _zip(collector, shop["token"])
        second = _zip(collector, shop["token"])
        assert first[0] == 200 and second[0] == 200
        status, headers, refused = _zip(collector, shop["token"])
        assert status == 429 and int(headers["retry-after"]) > 0
        assert refused["error"]["details"][0]["field"] == "period" and "budget" in refused["error"]["details"][0]["problem"]
        ledger = json.loads((tmp_path / "data" / "privacy_budget.json").read_text())
        assert list(ledger[shop["client_id"]].values()) == [2.0]
        files = first[2]
        assert set(files["totals.csv"][0]) >= {"metric", "value"} and [r["metric"] for r in files["totals.csv"]] == ["visitors"]
        assert set(files["top_pages.csv"][0]) == {"page", "visitors", "row"}  # only visitor counts are released
        noisy = [int(r["visitors"]) for r in files["top_pages.csv"] if r["visitors"]]
        again = [int(r["visitors"]) for r in second[2]["top_pages.csv"] if r["visitors"]]
        assert noisy != again or first[2]["totals.csv"] != second[2]["totals.csv"]  # fresh noise each release
        # the budget renews next month; another client's budget is its own
        other = collector.add_client("blog", "blog.example", dp_budget="1")
        time.sleep(1.5)  # the collector rereads the registry within a second
        assert _zip(collector, other["token"])[0] == 200
    finally:
        collector.stop()
