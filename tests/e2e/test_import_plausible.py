"""`spii import plausible` against a running collector: a ZIP written in Plausible CE's export
format (its files and columns as lib/plausible/imported/csv_importer.ex has them) imported as
daily aggregates beside the events, reports with and without them (v1 with_imported, v2
include.imports and its meta, the dashboard's toggle), suppression on imported rows, each bad
export refused in one line naming the file and line with nothing half-imported, and
`import list` / `import delete`."""

from __future__ import annotations

import json
import re
import subprocess
import zipfile
from urllib.parse import urlencode

from tests.e2e.harness import BROWSER_UA, SPII, Collector

SITE = "shop.example"
DAYS = ("2026-11-01", "2026-11-02", "2026-11-03")
RANGE = f"{DAYS[0]}_{DAYS[-1]}".replace("-", "")
FILES = {
    "visitors": ("date,visitors,pageviews,bounces,visits,visit_duration",
                 [f"{d},{v},{v * 3},{v // 2},{v + 5},{v * 60}" for d, v in zip(DAYS, (40, 50, 60))]),
    "sources": ("date,source,referrer,utm_source,utm_medium,utm_campaign,utm_content,utm_term,pageviews,visitors,visits,visit_duration,bounces",
                [f"{d},Google,https://www.google.com/search?q=secret,,,,,,60,30,32,600,10" for d in DAYS]
                + [f"{d},Twitter,https://t.co/x,,,,,,6,4,4,30,1" for d in DAYS] + [f"{d},Bing,,,,,,,1,1,1,10,1" for d in DAYS]),
    "pages": ("date,hostname,page,visits,visitors,pageviews,scroll_depth,pageleave_visitors",
              [f"{d},{SITE},/,30,25,50,,20" for d in DAYS] + [f"{d},{SITE},/pricing,12,11,15,40,10" for d in DAYS]),
    "entry_pages": ("date,entry_page,visitors,entrances,visit_duration,bounces,pageviews", [f"{d},/,25,30,900,10,50" for d in DAYS]),
    "exit_pages": ("date,exit_page,visitors,visit_duration,exits,bounces,pageviews", [f"{d},/pricing,11,300,12,2,15" for d in DAYS]),
    "locations": ("date,country,region,city,visitors,visits,visit_duration,bounces,pageviews",
                  [f"{d},GB,GB-ENG,2643743,20,22,400,5,40" for d in DAYS]),
    "devices": ("date,device,visitors,visits,visit_duration,bounces,pageviews", [f"{d},Desktop,35,37,700,9,80" for d in DAYS]),
    "browsers": ("date,browser,browser_version,visitors,visits,visit_duration,bounces,pageviews", [f"{d},Firefox,133,15,15,200,3,30" for d in DAYS]),
    "operating_systems": ("date,operating_system,operating_system_version,visitors,visits,visit_duration,bounces,pageviews",
                          [f"{d},Linux,,12,12,100,2,20" for d in DAYS]),
    "custom_events": ("date,name,link_url,path,visitors,events", [f"{d},Signup,,,10,12" for d in DAYS]),
}


def plausible_export(path, files=FILES, names=None, broken_line=None) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        for table, (header, rows) in files.items():
            lines = [header, *rows]
            if broken_line and broken_line[0] == table:
                lines[broken_line[1] - 1] = broken_line[2]
            archive.writestr((names or {}).get(table, f"imported_{table}_{RANGE}.csv"), "\n".join(lines) + "\n")
    return str(path)


def _kpi(page: str) -> str:
    return re.search(r'data-metric="?visitors"?[^>]*>([^<]+)<', page)[1]


def _spii(collector: Collector, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SPII, *args, "--server", f"http://127.0.0.1:{collector.port}"], env=collector.env, capture_output=True,
                          text=True, timeout=120)


def test_a_plausible_export_in_reports_with_and_without_imports(tmp_path):
    (tmp_path / "data").mkdir()
    collector = Collector(tmp_path / "data", SPII_TRUSTED_PROXIES="127.0.0.1/32", SPII_STATS_BURST="1000", SPII_STATS_RATE="1000")
    shop = collector.add_client("shop", SITE, perturb="off")
    collector.start()
    token = shop["token"]
    try:
        for n in range(1, 13):  # 12 visitors today, from Google
            headers = {"X-Forwarded-For": f"198.51.100.{n}", "User-Agent": BROWSER_UA}
            assert collector.send({"n": "pageview", "u": f"https://{SITE}/", "d": SITE, "r": "https://www.google.com/"}, headers)[0] == 202
        collector.wait_shipped(12, token, SITE)

        # each bad export: one line naming the file (and the line), nothing stored
        bad = [(plausible_export(tmp_path / "names.zip", names={"pages": "pages.csv"}), "pages.csv: not a file of a Plausible export"),
               (plausible_export(tmp_path / "column.zip", broken_line=("devices", 1, "date,device,visitors,colour")), "line 1: unknown column 'colour'"),
               (plausible_export(tmp_path / "date.zip", broken_line=("visitors", 3, "2026-13-45,1,1,1,1,1")), "line 3: date '2026-13-45' is not a date"),
               (plausible_export(tmp_path / "count.zip", broken_line=("sources", 2, f"{DAYS[0]},Google,,,,,,,x,1,1,1,1")), "line 2: pageviews 'x' is not a count")]
        whole = (tmp_path / "whole.zip")
        plausible_export(whole)
        (tmp_path / "truncated.zip").write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2])
        bad.append((str(tmp_path / "truncated.zip"), "truncated.zip: not a complete ZIP file"))
        for path, words in bad:
            out = _spii(collector, "import", "plausible", path, "--client", "shop")
            assert out.returncode == 2 and out.stderr.count("\n") == 1 and words in out.stderr, (path, out.stderr)
        assert "has no imports" in _spii(collector, "import", "list", "shop").stdout

        out = _spii(collector, "import", "plausible", str(whole), "--client", "shop")
        assert out.returncode == 0 and "from 10 files, 2026-11-01 to 2026-11-03" in out.stdout, out.stderr
        [listed] = json.loads(_spii(collector, "import", "list", "shop", "--json").stdout)["imports"]
        assert (listed["source"], listed["first_day"], listed["last_day"], listed["file"]) == ("plausible", DAYS[0], DAYS[-1], "whole.zip")

        def v2(body: dict) -> dict:
            status, answer = collector.v2(token, {"date_range": [DAYS[0], DAYS[-1]], "metrics": ["visitors"], **body})
            assert status == 200, answer
            return answer

        with_imports = v2({"metrics": ["visitors", "pageviews", "visits", "bounce_rate", "visit_duration"], "include": {"imports": True}})
        assert with_imports["results"][0]["metrics"] == [150, 450, 165, 45, 55] and with_imports["meta"]["imports_included"] is True
        assert v2({})["results"] == []  # without them: nobody on those days
        sources = v2({"dimensions": ["visit:source"], "include": {"imports": True}})
        assert [(r["dimensions"][0], r["metrics"][0]) for r in sources["results"]] == [("Google", 90)]  # Bing's 3 hidden (k = 10), Twitter's 12 with them
        by_day = v2({"dimensions": ["time:day"], "include": {"imports": True}})
        assert [(r["dimensions"][0], r["metrics"][0]) for r in by_day["results"]] == [(DAYS[0], 40), (DAYS[1], 50), (DAYS[2], 60)]
        for dimension, label, visitors in (("visit:country", "GB", 60), ("visit:device", "desktop", 105), ("visit:browser", "Firefox", 45),
                                           ("visit:os", "Linux", 36), ("event:page", "/", 75), ("visit:entry_page", "/", 75),
                                           ("visit:exit_page", "/pricing", 33), ("event:name", "Signup", 30), ("visit:referrer", "google.com", 90)):
            rows = {r["dimensions"][0]: r["metrics"][0] for r in v2({"dimensions": [dimension], "include": {"imports": True}})["results"]}
            assert rows.get(label) == visitors, (dimension, rows)
        filtered = v2({"filters": [["is", "visit:source", ["Google"]]], "include": {"imports": True}})
        assert filtered["meta"]["imports_included"] is False and filtered["meta"]["imports_skip_reason"] == "unsupported_query"
        assert "not supported" in filtered["meta"]["imports_warning"]
        hourly = v2({"dimensions": ["time:hour"], "include": {"imports": True}})
        assert hourly["meta"]["imports_skip_reason"] == "unsupported_interval"

        # v1, the live events and the imported days together
        today = collector.get_json("/api/v1/stats/realtime/visitors", token)
        period = f"period=custom&date={DAYS[0]},2026-12-31"
        _, v1 = collector.get_json(f"/api/v1/stats/aggregate?{period}&metrics=visitors&with_imported=true", token)
        assert v1["results"]["visitors"]["value"] == 150 + 12, (today, v1)
        _, v1 = collector.get_json(f"/api/v1/stats/breakdown?{period}&property=visit:source&metrics=visitors&with_imported=true", token)
        assert v1["results"][0] == {"source": "Google", "visitors": 102}
        _, v1 = collector.get_json(f"/api/v1/stats/aggregate?{period}&metrics=visitors", token)
        assert v1["results"]["visitors"]["value"] == 12
        status, v1 = collector.get_json(f"/api/v1/stats/aggregate?{period}&metrics=visitors&with_imported=maybe", token)
        assert status == 400 and v1["details"][0]["field"] == "with_imported"

        # the dashboard: a toggle, kept in the URL, that adds the imported days to every number
        _, headers, _ = collector.request("POST", "/dashboard/shop/login", urlencode({"token": token}),
                                          {"Content-Type": "application/x-www-form-urlencoded"})
        cookie = {"Cookie": headers["set-cookie"].split(";", 1)[0]}
        page = collector.request("GET", "/dashboard/shop?period=6mo", headers=cookie)[2].decode()
        assert 'id="imported"' in page and "With imported data" in page and _kpi(page) == "12"
        toggled = re.search(r'href="([^"]+)" id="imported"', page)[1].replace("&amp;", "&")
        page = collector.request("GET", f"/dashboard/shop{toggled}", headers=cookie)[2].decode()
        assert "imported=1" in toggled and "Without imported data" in page and _kpi(page) == "162"
        top_pages = re.search(r'data-panel="event:page".*?</table>', page, re.S)[0]
        assert re.search(r'>/</span>.*?data-metric="?visitors"?[^>]*>(\d+)<', top_pages, re.S)[1] == "87"  # 75 imported + 12 live
        assert "imported=1" in re.search(r'href="([^"]+)" id="export"', page)[1]  # the export is what is shown

        out = _spii(collector, "import", "delete", "shop", str(listed["import_id"]))
        assert out.returncode == 0 and f"deleted import {listed['import_id']}" in out.stdout
        assert v2({"include": {"imports": True}})["meta"]["imports_skip_reason"] == "no_imported_data"
        out = _spii(collector, "import", "delete", "shop", str(listed["import_id"]))
        assert out.returncode == 2 and "has no import" in out.stderr
    finally:
        collector.stop()
    stored = json.dumps(collector.query("SELECT * FROM spii.imported"))
    assert "secret" not in stored and "2643743" not in stored  # referrers cut to their host; no city
