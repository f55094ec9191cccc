"""Kept report answers through the running service (real `spii serve`, real embedded ClickHouse):
with SPII_REPORT_FRESH_ROWS=1 every client counts as big, so the aggregate of a period that
includes today is given again from memory while new events arrive, and an erasure or a
restriction through the admin API shows in the very next answer."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from tests.e2e.harness import Collector
from tests.e2e.test_subjects import SITE, SUBJECT, _aggregate, _post, _send


def _shop(tmp_path: Path, fresh_seconds: str) -> tuple[Collector, str]:
    """A running collector where every client counts as big (SPII_REPORT_FRESH_ROWS=1), counting
    no dashboard ahead (tests/e2e/test_ready_dashboards.py does): what it counts is what was asked."""
    collector = Collector(tmp_path / "data", SPII_TRUSTED_PROXIES="127.0.0.1/32", SPII_REPORT_FRESH_ROWS="1",
                          SPII_REPORT_FRESH_SECONDS=fresh_seconds, SPII_REPORT_READY_PERIODS="")
    collector.add_client("shop", SITE, k="5", perturb="off")
    collector.start()
    return collector, collector.admin_token()


def _visit(collector: Collector, admin: str, visitors: range, path: str = "/") -> None:
    for n in visitors:
        assert _send(collector, admin, f"198.51.100.{n + 1}", datetime.now(UTC), path)[0] == 202


def test_open_answers_are_kept_until_an_erasure_or_restriction(tmp_path: Path) -> None:
    collector, admin = _shop(tmp_path, fresh_seconds="600")
    try:
        _visit(collector, admin, range(12))
        assert _send(collector, admin, SUBJECT, datetime.now(UTC), "/")[0] == 202
        collector.wait_shipped(13, admin, SITE)
        first = _aggregate(collector, admin)
        assert first == {"visitors": 13, "pageviews": 13}

        _visit(collector, admin, range(12, 18))  # new visitors: the kept answer stays as it was, at most SPII_REPORT_FRESH_SECONDS old
        collector.wait_shipped(19, admin, SITE)
        assert _aggregate(collector, admin) == first

        status, erased = _post(collector, "/api/v1/admin/subject/erase", {"client": "shop", "ip": SUBJECT}, admin)
        assert status == 200 and erased["erased"] == 1, erased
        assert _aggregate(collector, admin) == {"visitors": 18, "pageviews": 18}  # forgotten at once, computed again

        _visit(collector, admin, range(1), "/two")
        collector.wait_shipped(19, admin, SITE)  # (18 left after the erasure)
        assert _aggregate(collector, admin) == {"visitors": 18, "pageviews": 18}  # kept again
        status, _ = _post(collector, "/api/v1/admin/subject/restrict", {"client": "shop", "ip": "198.51.100.1"}, admin)
        assert status == 200
        assert _aggregate(collector, admin) == {"visitors": 17, "pageviews": 17}
    finally:
        collector.stop()


def _answers(collector: Collector) -> dict[str, float]:
    status, _, raw = collector.request("GET", "/metrics", "", {})
    assert status == 200
    return {line.split('how="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
            for line in raw.decode().splitlines() if line.startswith("spii_report_answers_total{")}


def test_a_watched_open_answer_is_refreshed_in_the_background(tmp_path: Path) -> None:
    collector, admin = _shop(tmp_path, fresh_seconds="2")
    try:
        _visit(collector, admin, range(12))
        collector.wait_shipped(12, admin, SITE)
        assert _aggregate(collector, admin) == {"visitors": 12, "pageviews": 12}
        assert _aggregate(collector, admin) == {"visitors": 12, "pageviews": 12}  # kept: the refresher watches it
        _visit(collector, admin, range(12, 15))
        collector.wait_shipped(15, admin, SITE)
        shipped = _answers(collector).get("refreshed", 0)
        deadline = time.monotonic() + 20
        while _answers(collector).get("refreshed", 0) < shipped + 2 and time.monotonic() < deadline:
            time.sleep(0.2)  # recomputed ahead every 1.5 s: the second from now started after the new visitors were stored
        before = _answers(collector)
        assert before.get("refreshed", 0) >= shipped + 2
        assert _aggregate(collector, admin) == {"visitors": 15, "pageviews": 15}
        after = _answers(collector)
        assert after["kept_open"] > before["kept_open"] and after.get("computed") == before.get("computed")
    finally:
        collector.stop()
