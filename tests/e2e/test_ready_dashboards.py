"""Dashboards kept ready (reports/ready.py) by a real `spii serve` on real embedded ClickHouse:
with SPII_REPORT_FRESH_ROWS=1 every client with events counts as big, so the collector counts
its 30-day dashboard by itself, before anyone asks; the analyst who then logs in and opens it is
answered from memory (no answer computed for the page), with the visitors stored. A client
without events is not counted ahead at all. With the collector's wall clock moved to the next
day by libfaketime (monotonic untouched), the new day's 30 days are counted ahead in turn, after
the collector has written the closed day to spii.daily (reports/daily.py), where a consented
visitor's planted raw IP, User-Agent, cookie id, full postcode, e-mail and order id are absent."""

from __future__ import annotations

import ipaddress
import json
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.e2e.harness import Collector
from tests.e2e.test_kept_answers import _answers, _visit
from tests.e2e.test_simulated_year import LIBFAKETIME, SimulatedClock
from tests.e2e.test_subjects import SITE


PLANTED_IP = "203.0.113.77"
PLANTED_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.85 Safari/537.36 Planted/4242"
PLANTED_COOKIE, PLANTED_POSTCODE, PLANTED_EMAIL, PLANTED_ORDER = "cookie-planted-9f3a1c", "SW1A 2AA", "jane.planted@example.com", "ORD-PLANTED-77"
PLANTED_EVENTS = [
    {"n": "pageview", "u": f"https://{SITE}/basket?email={PLANTED_EMAIL}&sid={PLANTED_COOKIE}", "d": SITE, "cid": PLANTED_COOKIE},
    {"n": "pageview", "u": f"https://{SITE}/checkout?email={PLANTED_EMAIL}", "d": SITE, "cid": PLANTED_COOKIE, "pc": PLANTED_POSTCODE},
    {"n": "transaction", "u": f"https://{SITE}/checkout", "d": SITE, "cid": PLANTED_COOKIE, "pc": PLANTED_POSTCODE, "cc": "GB",
     "order": PLANTED_ORDER, "revenue": {"amount": "12.50", "currency": "gbp"}},
]
PLANTED_VALUES = [PLANTED_IP, PLANTED_UA, "Planted/4242", PLANTED_COOKIE, PLANTED_POSTCODE, PLANTED_POSTCODE.replace(" ", ""),
                  PLANTED_EMAIL, PLANTED_ORDER]
# (spii.daily's sets of 64-bit keyed hashes: no text in them)
STATES = "lasting, orders, lasting_buyers, lasting_engagers, lasting_scroll"


def _settled(collector: Collector, timeout: float = 60) -> dict[str, float]:
    """The answer counts once the collector has counted a dashboard by itself and computes no
    more (its later rounds find the answers kept: kept_open grows, computed stays)."""
    deadline = time.monotonic() + timeout
    computed: list[float] = []
    while time.monotonic() < deadline:
        now = _answers(collector)
        computed.append(now.get("computed", 0))
        if computed[-1] >= 10 and computed[-3:] == [computed[-1]] * 3:
            return now
        time.sleep(1.0)
    raise TimeoutError(f"no dashboard counted ahead: {computed}\n{collector.logs()[-2000:]}")


def _ready_collector(tmp_path: Path, **env: str) -> Collector:
    return Collector(tmp_path / "data", SPII_TRUSTED_PROXIES="127.0.0.1/32", SPII_REPORT_FRESH_ROWS="1",
                     SPII_REPORT_FRESH_SECONDS="600", SPII_REPORT_READY_SECONDS="1", **env)


def _session(collector: Collector, token: str) -> str:
    """The analyst's dashboard session cookie, logged in with the analyst token."""
    status, headers, _ = collector.request("POST", "/dashboard/shop/login", urlencode({"token": token}),
                                           {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303, status
    return headers["set-cookie"].split(";", 1)[0]


def test_a_big_clients_dashboard_is_counted_before_the_analyst_opens_it(tmp_path: Path) -> None:
    collector = _ready_collector(tmp_path)
    shop = collector.add_client("shop", SITE, k="5", perturb="off")
    collector.add_client("quiet", "quiet.example")
    collector.start()
    try:
        admin = collector.admin_token()
        assert _answers(collector).get("computed", 0) == 0  # no events yet: nothing is worth counting ahead
        _visit(collector, admin, range(12))
        collector.wait_shipped(12, admin, SITE)
        before = _settled(collector)  # counted by the collector itself: nobody has asked

        cookie = _session(collector, shop["token"])
        status, _, page = collector.request("GET", "/dashboard/shop?period=30d", headers={"Cookie": cookie})
        assert status == 200
        after = _answers(collector)
        assert after.get("computed", 0) == before["computed"]  # every answer of the page was ready
        assert after["kept_open"] >= before.get("kept_open", 0) + 6  # (the page's: its totals and one panel per card)
        assert b'data-metric="visitors">12<' in page and b'data-metric="pageviews">12<' in page

        status, _, _ = collector.request("GET", "/dashboard/shop?period=7d", headers={"Cookie": cookie})
        assert status == 200 and _answers(collector)["computed"] > after["computed"]  # another period: counted when asked
    finally:
        collector.stop()


@pytest.mark.skipif(not LIBFAKETIME.exists(), reason="Debian package faketime not installed")
def test_the_next_days_dashboard_is_counted_ahead_when_the_day_turns(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    clock = SimulatedClock(tmp_path / "faketime")
    collector = _ready_collector(tmp_path, LD_PRELOAD=str(LIBFAKETIME), FAKETIME_TIMESTAMP_FILE=str(clock.path), FAKETIME_NO_CACHE="1",
                                 FAKETIME_DONT_FAKE_MONOTONIC="1")
    shop = collector.add_client("shop", SITE, k="5", perturb="off", cookies="consent")
    collector.start()
    try:
        admin = collector.admin_token()
        _visit(collector, admin, range(12))
        for event in PLANTED_EVENTS:  # a consented visitor with raw values in every field that takes one
            status, headers, _ = collector.send(event, {"X-Forwarded-For": PLANTED_IP, "User-Agent": PLANTED_UA})
            assert status == 202 and "x-spii-dropped" not in headers, headers
        collector.wait_shipped(12 + len(PLANTED_EVENTS), admin, SITE)
        today = _settled(collector)

        clock.set_day(1)  # tomorrow: the last 30 days are another period, none of its answers kept yet
        deadline = time.monotonic() + 60
        while _answers(collector)["computed"] < today["computed"] + 10 and time.monotonic() < deadline:
            time.sleep(0.5)
        tomorrow = _settled(collector)
        assert tomorrow["computed"] >= today["computed"] + 10  # counted by the collector, nobody asked

        status, _, page = collector.request("GET", "/dashboard/shop?period=30d", headers={"Cookie": _session(collector, shop["token"])})
        assert status == 200 and clock.now().date().isoformat() in page.decode()
        assert _answers(collector)["computed"] == tomorrow["computed"]  # the new day's page was ready
        assert b'data-metric="visitors">13<' in page
    finally:
        collector.stop()
    # the collector wrote the closed day itself (reports/daily.py), and nothing raw went in
    day = collector.query("SELECT day, events FROM spii.daily_days")
    assert [(r["day"], r["events"]) for r in day] == [(str(clock.now().date() - timedelta(days=1)), 12 + len(PLANTED_EVENTS))]
    visits = collector.query("SELECT exit_path, pageviews FROM spii.daily_visits")
    assert [(r["exit_path"], r["pageviews"]) for r in visits] == [("/checkout", 2)]  # the consented visitor's visit
    exits = collector.query("SELECT label, visitors, visits FROM spii.daily WHERE dim = 'exit_page'")
    assert [(r["label"], r["visitors"], r["visits"]) for r in exits] == [("/", 12, 12)]  # the day-bound ones
    stored = json.dumps([collector.query(f"SELECT * EXCEPT ({STATES}) FROM spii.daily"), visits, day,
                         collector.query("SELECT * FROM spii.daily_visits")])
    assert "SW1A" in stored and "/checkout" in stored  # (the outward code and the scrubbed path are its labels)
    leaks = [value for value in PLANTED_VALUES if value.lower() in stored.lower()]
    assert leaks == [] and str(int(ipaddress.ip_address(PLANTED_IP))) not in stored
