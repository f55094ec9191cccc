"""`spii report` against a running collector (every format), and `spii demo` end to end."""

import csv
import io
import json
import re
import subprocess

from tests.e2e.harness import BROWSER_UA, SPII, Collector

SHOP = "shop.example"


def test_report_formats_match_the_api(tmp_path):
    (tmp_path / "data").mkdir()
    collector = Collector(tmp_path / "data", SPII_TRUSTED_PROXIES="127.0.0.1/32", SPII_STATS_BURST="1000",
                          SPII_SERVER_URL="")
    shop = collector.add_client("shop", SHOP, perturb="off")  # exact counts here; noise: tests/e2e/test_perturbation.py
    collector.start()
    collector.env["SPII_SERVER_URL"] = f"http://127.0.0.1:{collector.port}"
    try:
        for i in range(1, 16):
            headers = {"X-Forwarded-For": f"192.0.2.{i}", "User-Agent": BROWSER_UA}
            assert collector.send({"n": "pageview", "u": f"https://{SHOP}/", "d": SHOP}, headers=headers)[0] == 202
        collector.wait_shipped(15, shop["token"], SHOP)
        report = collector.cli("report", "shop", "--format", "json", "--period", "7d")
        assert report["aggregate"]["results"]["visitors"]["value"] == 15
        assert report["panels"][0]["results"] == [{"page": "/", "visitors": 15, "pageviews": 15}]
        # an analyst token works too, and is refused for a site it does not own
        out = subprocess.run([*SPII, "report", "shop", "--format", "csv", "--token", shop["token"]], env=collector.env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr[-2000:]
        rows = list(csv.DictReader(io.StringIO(out.stdout)))
        assert {"section": "total", "label": "", "metric": "visitors", "value": "15"} in rows
        html_path = tmp_path / "report.html"
        collector.cli("report", "shop", "--format", "html", "--out", str(html_path))
        html = html_path.read_text()
        assert "<svg" in html and 'data-metric="visitors">15<' in html
        assert not re.search(r'(src|href)="(https?:)?//', html), "the emailed report must not load anything"
        table = collector.cli("report", "shop")
        assert "Unique visitors" in table and "15" in table
        refused = subprocess.run([*SPII, "report", "other.example", "--token", shop["token"]], env=collector.env,
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2 and "HTTP 403" in refused.stderr
    finally:
        collector.stop()


def test_demo_loads_traffic_through_the_beacon(tmp_path):
    out = subprocess.run([*SPII, "demo", "--data-dir", str(tmp_path / "demo"), "--port", str(_port()), "--days", "3",
                          "--visitors-per-day", "20", "--no-serve"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert 0 < summary["accepted"] < summary["sent"]  # bots were dropped
    assert summary["dashboard"].endswith("/dashboard/demo") and len(summary["token"]) >= 40


def _port():
    from tests.e2e.harness import free_port

    return free_port()


def test_demo_ends_cleanly_on_sigterm_with_data_up_to_now(tmp_path):
    import os
    import signal
    import time

    port = _port()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([*SPII, "demo", "--port", str(port), "--days", "2", "--visitors-per-day", "15"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    summary_line = proc.stdout.readline()  # printed once the traffic is loaded and the collector serves
    summary = json.loads(summary_line)
    data_dir = summary["data_dir"]
    assert data_dir.startswith(str(tmp_path))
    import urllib.request

    def get(path):
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {summary['token']}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    today = get("/api/v1/stats/receiving")
    assert today["events_today"] > 0  # the synthetic traffic runs up to now
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert children, "the demo's collector should be running"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    deadline = time.monotonic() + 20
    while any(os.path.exists(f"/proc/{pid}") for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in children), "the collector outlived the demo"
    assert not os.path.exists(data_dir), "the temp data dir (master key, admin token) was left behind"


def test_demo_on_a_busy_port_sends_nothing_and_exits_2(tmp_path):
    """Another program holds the port: the demo says so in one line, exits 2, and that program
    receives nothing (it used to get the demo's thousands of events)."""
    import http.server
    import threading

    received: list[str] = []

    class Stranger(http.server.BaseHTTPRequestHandler):
        def _any(self) -> None:
            received.append(self.command + " " + self.path)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = _any

        def log_message(self, *args) -> None:
            pass

    stranger = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stranger)
    threading.Thread(target=stranger.serve_forever, daemon=True).start()
    try:
        out = subprocess.run([*SPII, "demo", "--data-dir", str(tmp_path / "demo"), "--port", str(stranger.server_port), "--days", "1",
                              "--no-serve"], capture_output=True, text=True, timeout=120)
    finally:
        stranger.shutdown()
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().count("\n") == 0 and "another program listens there" in out.stderr and "--port" in out.stderr, out.stderr
    assert received == [] and out.stdout == ""


def test_reports_in_a_row_wait_for_the_tokens_budget_instead_of_failing(tmp_path):
    """`spii report` asks ~25 questions; pasted three in a row (as docs/exports.md shows them),
    they spent the token's burst and the third failed with 429. The CLI now waits the
    Retry-After the collector names and asks again. (A burst of 12 is spent within each report.)"""
    (tmp_path / "data").mkdir()
    collector = Collector(tmp_path / "data", SPII_STATS_BURST="12", SPII_STATS_RATE="40")
    collector.add_client("shop", SHOP)
    collector.start()
    try:
        for _ in range(3):
            out = subprocess.run([*SPII, "report", "shop", "--format", "json", "--server", f"http://127.0.0.1:{collector.port}"],
                                 env=collector.env, capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, out.stderr[-2000:]
            assert "aggregate" in json.loads(out.stdout)
    finally:
        collector.stop()
