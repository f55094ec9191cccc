"""Dashboards kept ready (reports/ready.py) by a real `spii serve` on real embedded ClickHouse:
with SPII_REPORT_FRESH_ROWS=1 every client with events counts as big, so the collector counts
its 30-day dashboard by itself, before anyone asks; the analyst who then logs in and opens it is
answered from memory (no answer computed for the page), with the visitors stored. A client
without events is not counted ahead at all."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlencode

from tests.e2e.harness import Collector
from tests.e2e.test_kept_answers import _answers, _visit
from tests.e2e.test_subjects import SITE


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


def test_a_big_clients_dashboard_is_counted_before_the_analyst_opens_it(tmp_path: Path) -> None:
    collector = Collector(tmp_path / "data", SPII_TRUSTED_PROXIES="127.0.0.1/32", SPII_REPORT_FRESH_ROWS="1",
                          SPII_REPORT_FRESH_SECONDS="600", SPII_REPORT_READY_SECONDS="1")
    shop = collector.add_client("shop", SITE, k="5", perturb="off")
    collector.add_client("quiet", "quiet.example")
    collector.start()
    try:
        admin = collector.admin_token()
        assert _answers(collector).get("computed", 0) == 0  # no events yet: nothing is worth counting ahead
        _visit(collector, admin, range(12))
        collector.wait_shipped(12, admin, SITE)
        before = _settled(collector)  # counted by the collector itself: nobody has asked

        status, headers, _ = collector.request("POST", "/dashboard/shop/login", urlencode({"token": shop["token"]}),
                                               {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 303, status
        cookie = headers["set-cookie"].split(";", 1)[0]
        status, _, page = collector.request("GET", "/dashboard/shop?period=30d", headers={"Cookie": cookie})
        assert status == 200
        after = _answers(collector)
        assert after.get("computed", 0) == before["computed"]  # every answer of the page was ready
        assert after["kept_open"] >= before.get("kept_open", 0) + 10  # (the page's, and the collector's own later asks)
        assert b'data-metric="visitors">12<' in page and b'data-metric="pageviews">12<' in page

        status, _, _ = collector.request("GET", "/dashboard/shop?period=7d", headers={"Cookie": cookie})
        assert status == 200 and _answers(collector)["computed"] > after["computed"]  # another period: counted when asked
    finally:
        collector.stop()
