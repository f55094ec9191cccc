"""The e-mail schedule of a real `spii serve` whose wall clock libfaketime moves (monotonic clock
untouched): killed on a Sunday before midnight and started again after it, on Monday the 1st of
February 2027, it sends each recipient exactly one weekly report (25–31 January) and one monthly
report (January), and started again sends nothing more; running across the next Monday 00:00 (not
a 1st), it sends each recipient that week's report, once."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e.harness import BROWSER_UA, Collector
from tests.e2e.test_simulated_year import LIBFAKETIME
from tests.mail.inbox import Inbox, parts, start_smtp

pytestmark = pytest.mark.skipif(not LIBFAKETIME.exists(), reason="Debian package faketime not installed")
SITE = "shop.example"
ANA, BEN = "ana.reader@example.com", "ben.reader@example.com"


class FakeClock:
    """The collector's wall clock set to a moment (an offset from real time, re-read on every
    call: FAKETIME_NO_CACHE), from which it runs on at real speed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def set(self, moment: datetime) -> None:
        offset = int((moment - datetime.now(UTC)).total_seconds())
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(f"{offset:+d}\n")
        tmp.replace(self.path)


def _sent(inbox: Inbox) -> list[tuple[str, str]]:
    return sorted((m["To"], m["Subject"].split(":")[0] if ":" in m["Subject"] else m["Subject"]) for m in inbox.messages)


def test_reports_go_once_across_a_monday_and_a_first_of_the_month(tmp_path):
    inbox = Inbox()
    server = start_smtp(inbox)
    clock = FakeClock(tmp_path / "faketime")
    clock.set(datetime(2027, 1, 31, 23, 58, 30, tzinfo=UTC))  # a Sunday
    (tmp_path / "data").mkdir()
    collector = Collector(tmp_path / "data", LD_PRELOAD=str(LIBFAKETIME), FAKETIME_TIMESTAMP_FILE=str(clock.path), FAKETIME_NO_CACHE="1",
                          FAKETIME_DONT_FAKE_MONOTONIC="1", SPII_TRUSTED_PROXIES="127.0.0.1/32", SPII_KEYS_CHECK_SECONDS="0.2",
                          SPII_MAIL_CHECK_SECONDS="0.3", SPII_SMTP_URL=f"smtp://127.0.0.1:{server.port}")
    shop = collector.add_client("shop", SITE, k="5", perturb="off")
    collector.cli("clients", "update", "shop", "--email-to", f"{ANA},{BEN}", "--email-report", "weekly,monthly")
    collector.start()
    try:
        for n in range(1, 7):
            headers = {"X-Forwarded-For": f"198.51.100.{n}", "User-Agent": BROWSER_UA}
            assert collector.send({"n": "pageview", "u": f"https://{SITE}/", "d": SITE}, headers)[0] == 202
        collector.wait_shipped(6, shop["token"], SITE)
        time.sleep(1.5)  # several checks before midnight: nothing is due yet (reports were wanted from today on)
        assert inbox.messages == []

        # killed before midnight, started again after it: what fell due meanwhile is sent, once
        collector.stop(signal.SIGKILL)
        clock.set(datetime(2027, 2, 1, 0, 0, 30, tzinfo=UTC))  # Monday the 1st
        collector.start()
        inbox.wait_for(4)
        time.sleep(2)
        weekly, monthly = "shop weekly report, 25–31 Jan 2027", "shop monthly report, January 2027"
        assert _sent(inbox) == sorted([(ANA, weekly), (ANA, monthly), (BEN, weekly), (BEN, monthly)]), _sent(inbox)
        for message in inbox.messages:
            assert "Unique visitors                   6" in parts(message)[0]  # the 6 visitors of Sunday 31 January
        collector.stop(signal.SIGKILL)
        collector.start()
        time.sleep(2)
        assert len(inbox.messages) == 4  # the ledger remembers across the restart

        # running across the next Monday's midnight: that week's report, once per recipient
        clock.set(datetime(2027, 2, 7, 23, 59, 57, tzinfo=UTC))
        inbox.wait_for(6, timeout=30)
        time.sleep(2)
        next_week = "shop weekly report, 1–7 Feb 2027"
        assert _sent(inbox)[-6:] == sorted([(ANA, weekly), (ANA, monthly), (BEN, weekly), (BEN, monthly), (ANA, next_week),
                                            (BEN, next_week)])
        assert len(inbox.messages) == 6
        assert ANA not in collector.logs() and ANA not in (collector.data_dir / "mail" / "sent.json").read_text()
    finally:
        if collector.proc is not None:
            collector.stop()
        server.stop()
