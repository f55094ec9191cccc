"""`spii import logs` against a running collector: a generated combined log (IPv4 and IPv6,
quoted User-Agents with escaped quotes, bots, assets, 404s, redirects, POSTs, malformed lines,
lines across midnight and so across an epoch boundary, lines past the client's retention, a
gzip file and a plain one) imported with every count of the summary checked, the stats API's
numbers for those days, the same files again storing nothing, a subject's objection honoured,
no planted raw value anywhere, bad input named in one line; and an import cut by SIGKILL of the
collector, run again: each line stored once."""

from __future__ import annotations

import gzip
import json
import re
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from tests.e2e.harness import BROWSER_UA, SPII, Collector

SITE = "shop.example"
QUOTED_UA = r"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 \"quoted\""
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
PLANTED_IP, PLANTED_UA = "198.51.100.77", BROWSER_UA + " Planted/4242"
PLANTED_QUERY = "email=jane.planted@example.com&session=SECRET123"


def access_line(ip: str, at: datetime, request: str, status: int = 200, referrer: str = "-", ua: str = BROWSER_UA) -> str:
    return f'{ip} - - [{at:%d/%b/%Y:%H:%M:%S} +0000] "{request}" {status} 1234 "{referrer}" "{ua}"'


def _spii(collector: Collector, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*SPII, *args, "--server", f"http://127.0.0.1:{collector.port}"], env=collector.env, capture_output=True,
                          text=True, timeout=timeout)


def _import(collector: Collector, *files: str) -> dict:
    out = _spii(collector, "import", "logs", *files, "--client", "shop", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_combined_log_imported_twice_counts_every_line_once(tmp_path):
    day = (datetime.now(UTC) - timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    first: list[str] = []
    for n in range(1, 13):  # 12 visits of two pages, referred by a search engine
        at = day + timedelta(hours=10, minutes=n)
        first += [access_line(f"198.51.100.{n}", at, "GET /?utm_source=news HTTP/1.1", referrer="https://www.google.com/"),
                  access_line(f"198.51.100.{n}", at + timedelta(minutes=5), "GET /pricing HTTP/1.1", referrer=f"https://{SITE}/")]
    first += [access_line(f"2001:db8::{n:x}", day + timedelta(hours=11, seconds=n), "GET /blog/post HTTP/2.0", ua=QUOTED_UA) for n in range(1, 9)]
    first += [access_line("66.249.66.1", day + timedelta(hours=12, seconds=n), "GET / HTTP/1.1", ua=BOT) for n in range(5)]
    first += [access_line("198.51.100.1", day + timedelta(hours=10, minutes=1), f"GET {path} HTTP/1.1")
              for path in ("/static/app.css", "/static/app.js", "/img/logo.png", "/favicon.ico", "/robots.txt", "/fonts/a.woff2")]
    first += [access_line("198.51.100.2", day + timedelta(hours=13), "GET /missing HTTP/1.1", 404) for _ in range(3)]
    first += [access_line("198.51.100.3", day + timedelta(hours=13), "GET /old HTTP/1.1", 301) for _ in range(2)]
    first += [access_line("198.51.100.4", day + timedelta(hours=13), "POST /contact HTTP/1.1") for _ in range(2)]
    first += ["this is not a log line", "\x00\x01 binary garbage"]
    first.insert(7, access_line("198.51.100.5", day, "GET / HTTP/1.1").replace(f"{day:%d/%b/%Y}", "99/Foo/2026"))  # line 8: a bad time
    first += [access_line("198.51.100.6", day - timedelta(days=40), "GET / HTTP/1.1") for _ in range(2)]  # past the 30-day retention
    second = [access_line("198.51.100.50", day + timedelta(hours=23, minutes=58), "GET /late HTTP/1.1"),  # across midnight and the epoch
              access_line("198.51.100.50", day + timedelta(days=1, minutes=3), "GET /later HTTP/1.1"),
              access_line(PLANTED_IP, day + timedelta(hours=14), f"GET /account?{PLANTED_QUERY} HTTP/1.1", ua=PLANTED_UA)]
    (tmp_path / "access.log.1.gz").write_bytes(gzip.compress(("\n".join(first) + "\n").encode()))
    (tmp_path / "access.log").write_text("\n".join(second))  # (no newline at the end: the last line still counts)
    files = [str(tmp_path / "access.log.1.gz"), str(tmp_path / "access.log")]

    (tmp_path / "data").mkdir()
    collector = Collector(tmp_path / "data", SPII_STATS_BURST="1000", SPII_SUBJECT_FLAGS_SECONDS="0.3")
    shop = collector.add_client("shop", SITE, k="5", perturb="off", retention_days="30")
    collector.start()
    try:
        summary = _import(collector, *files)
        assert {k: summary[k] for k in ("read", "imported", "already_imported", "bots", "past_retention", "key_destroyed")} == {
            "read": len(first) + len(second), "imported": 24 + 8 + 3, "already_imported": 0, "bots": 5, "past_retention": 2,
            "key_destroyed": 0}, summary
        assert summary["skipped"] == {"asset": 6, "error": 3, "redirect": 2, "not_get": 2}
        assert summary["bad"] == {"unreadable": 2, "bad_time": 1}
        garbage = len(first) - 2  # (1-based: the two garbage lines come just before the two old ones)
        assert summary["bad_lines"] == {"bad_time": [f"{files[0]}:8"], "unreadable": [f"{files[0]}:{garbage - 1}", f"{files[0]}:{garbage}"]}
        human = _spii(collector, "import", "logs", *files, "--client", "shop")
        assert human.returncode == 0 and "imported 0 page views" in human.stdout and "already imported: 35" in human.stdout, human.stdout
        for text in (human.stdout, human.stderr, collector.logs()):
            for planted in (PLANTED_IP, "Planted/4242", "jane.planted", "SECRET123", "2001:db8::"):
                assert planted not in text

        period = f"period=custom&date={day.date()},{(day + timedelta(days=1)).date()}"
        _, totals = collector.get_json(f"/api/v1/stats/aggregate?{period}&metrics=visitors,visits,pageviews", shop["token"])
        # 12 + 8 + the planted one + the late visitor once on each side of midnight (a new day's key: a new visitor)
        assert {m: totals["results"][m]["value"] for m in ("visitors", "visits", "pageviews")} == {
            "visitors": 23, "visits": 23, "pageviews": 35}, totals
        _, pages = collector.get_json(f"/api/v1/stats/breakdown?{period}&property=event:page&metrics=visitors,pageviews", shop["token"])
        # (the three pages of one visitor each are hidden, and /blog/post with them: complementary suppression)
        assert [(r["page"], r["visitors"]) for r in pages["results"]] == [("/", 12), ("/pricing", 12), ("(other)", 11)]
        _, sources = collector.get_json(f"/api/v1/stats/breakdown?{period}&property=visit:source&metrics=visitors", shop["token"])
        assert ("Google", 12) in [(r["source"], r["visitors"]) for r in sources["results"]]
        _, browsers = collector.get_json(f"/api/v1/stats/breakdown?{period}&property=visit:browser&metrics=visitors", shop["token"])
        assert {r["browser"]: r["visitors"] for r in browsers["results"]}.get("Chrome") == 23  # (the escaped quotes: still Chrome)

        # the dashboard shows the same numbers for those days (the last 7 days hold them, and nothing else)
        _, headers, _ = collector.request("POST", "/dashboard/shop/login", urlencode({"token": shop["token"]}),
                                          {"Content-Type": "application/x-www-form-urlencoded"})
        page = collector.request("GET", "/dashboard/shop?period=7d", headers={"Cookie": headers["set-cookie"].split(";", 1)[0]})[2].decode()
        shown = dict(re.findall(r'data-metric="?(visitors|visits|pageviews)"?[^>]*>([^<]+)<', page)[:3])
        assert shown == {"visitors": "23", "visits": "23", "pageviews": "35"}, shown

        # a subject who objects: their later lines are dropped as their live events would be
        out = _spii(collector, "subject", "object", "--client", "shop", "--ip", "198.51.100.9", "--reason", "test")
        assert out.returncode == 0, out.stderr
        time.sleep(1.5)  # (the collector rereads the flags)
        more = (access_line("198.51.100.9", day + timedelta(hours=15), "GET /again HTTP/1.1") + "\n"
                + access_line("198.51.100.10", day + timedelta(hours=15), "GET /again HTTP/1.1") + "\n")
        out = subprocess.run([*SPII, "import", "logs", "-", "--client", "shop", "--json", "--server", f"http://127.0.0.1:{collector.port}"],
                             env=collector.env, input=more, capture_output=True, text=True, timeout=60)  # (- reads stdin)
        assert out.returncode == 0, out.stderr
        again = json.loads(out.stdout)
        assert again["imported"] == 1 and again["dropped"] == {"objected": 1}, again

        # bad input: one line naming what is wrong
        for args, words in ((["import", "logs", str(tmp_path / "nope.log"), "--client", "shop"], "nope.log: no such file"),
                            (["import", "logs", files[1], "--client", "unknown"], "client"),
                            (["import", "logs", files[1], "--client", "shop", "--format", "$status only"], "format")):
            out = _spii(collector, *args)
            assert out.returncode == 2 and out.stderr.count("\n") == 1 and words in out.stderr, (args, out.stderr)
    finally:
        collector.stop()
    rows = collector.query("SELECT toJSONString(tuple(*)) AS row, import_id FROM spii.events")
    assert len(rows) == 36 and len({r["import_id"] for r in rows}) == 36 and all(int(r["import_id"]) != 0 for r in rows)
    stored = json.dumps(rows)
    for planted in (PLANTED_IP, "Planted/4242", "jane.planted", "SECRET123", "2001:db8::"):
        assert planted not in stored, planted


def test_an_import_cut_by_sigkill_and_run_again_stores_each_line_once(tmp_path):
    start = (datetime.now(UTC) - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
    lines = [access_line(f"198.{51 + n // 60000}.{n // 250 % 240}.{n % 250 + 1}", start + timedelta(seconds=n // 3), f"GET /p{n % 50} HTTP/1.1")
             for n in range(150_000)]
    log = tmp_path / "big.log"
    log.write_text("\n".join(lines) + "\n")
    (tmp_path / "data").mkdir()
    collector = Collector(tmp_path / "data")
    collector.add_client("shop", SITE, k="5")
    collector.start()
    cli = subprocess.Popen([*SPII, "import", "logs", str(log), "--client", "shop", "--server", f"http://127.0.0.1:{collector.port}"],
                           env=collector.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    collector.stop(signal.SIGKILL)  # mid-import
    _, err = cli.communicate(timeout=60)
    assert cli.returncode == 2 and err.count("\n") == 1, err
    collector.start()
    try:
        summary = _import(collector, str(log))
        assert 0 < summary["already_imported"] < 150_000 and summary["imported"] + summary["already_imported"] == 150_000, summary
    finally:
        collector.stop()
    [row] = collector.query("SELECT count() AS n, uniqExact(import_id) AS ids FROM spii.events")
    assert (int(row["n"]), int(row["ids"])) == (150_000, 150_000)
