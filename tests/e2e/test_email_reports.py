"""Scheduled e-mail, through a real collector and a real SMTP server (aiosmtpd, in this process):
a weekly and a monthly report whose numbers are the stats API's for the same period (noise on),
no row the dashboard hides, no planted raw value; a signed unsubscribe link that works without a
login and a tampered one that does not; alerts once per cooldown; .eml files without a mail
server; bad input named in one line, and a mail server that is not there counted and logged (no
address) while the collector goes on. The schedule across a Monday and a 1st, under libfaketime:
tests/e2e/test_email_schedule.py."""

from __future__ import annotations

import email
import email.policy
import json
import re
import subprocess
import time
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from tests.e2e.harness import BROWSER_UA, SPII, Collector, eventually, free_port
from tests.mail.inbox import Inbox, parts, start_smtp

SITE = "shop.example"
ANA, BEN = "ana.reader@example.com", "ben.reader@example.com"
PLANTED_IP, PLANTED_POSTCODE, PLANTED_COOKIE = "203.0.113.77", "SW1A 2AA", "cookie-planted-9f3a1c"
PLANTED_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.85 Safari/537.36 Planted/4242"


@pytest.fixture
def smtp():
    inbox = Inbox()
    server = start_smtp(inbox)
    yield inbox, server.port
    server.stop()


def _collector(tmp_path, **env: str) -> Collector:
    (tmp_path / "data").mkdir()
    return Collector(tmp_path / "data", SPII_TRUSTED_PROXIES="127.0.0.1/32", SPII_MAIL_CHECK_SECONDS="0.3",
                     SPII_EMAIL_FROM="spii reports <reports@spii.example>", **env)


def _visitors(collector: Collector, count: int, path: str = "/", first: int = 1, **extra) -> int:
    for n in range(first, first + count):
        headers = {"X-Forwarded-For": f"198.51.100.{n}", "User-Agent": BROWSER_UA}
        assert collector.send({"n": "pageview", "u": f"https://{SITE}{path}", "d": SITE, **extra}, headers)[0] == 202
    return count


def _spii(collector: Collector, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SPII, *args, "--server", f"http://127.0.0.1:{collector.port}"], env=collector.env, capture_output=True,
                          text=True, timeout=120)


def _kpis(text: str) -> dict[str, str]:
    """The report's totals, as its text part writes them ("Unique visitors      12   +5% ...")."""
    return {m[1].strip(): m[2] for m in re.finditer(r"^(Unique visitors|Visits|Pageviews) +([0-9,–]+)", text, re.M)}


def _link(text: str) -> str:
    return re.search(r"^Unsubscribe \(this address only\): (\S+)$", text, re.M)[1]


def test_weekly_and_monthly_reports_are_the_api_numbers_and_unsubscribe_works(tmp_path, smtp):
    inbox, port = smtp
    collector = _collector(tmp_path, SPII_SMTP_URL=f"smtp://127.0.0.1:{port}")
    shop = collector.add_client("shop", SITE, k="5", cookies="consent")  # noise on: the same noisy value as the API's
    collector.cli("clients", "update", "shop", "--email-to", f"{ANA},{BEN}")
    collector.start()
    try:
        sent = _visitors(collector, 14, "/") + _visitors(collector, 9, "/pricing", first=20) + _visitors(collector, 2, "/rare-page", first=40)
        planted = {"X-Forwarded-For": PLANTED_IP, "User-Agent": PLANTED_UA}
        assert collector.send({"n": "pageview", "u": f"https://{SITE}/", "d": SITE, "pc": PLANTED_POSTCODE, "cid": PLANTED_COOKIE},
                              planted)[0] == 202
        collector.wait_shipped(sent + 1, shop["token"], SITE)
        today = datetime.now(UTC).date()
        for kind in ("weekly", "monthly"):
            out = _spii(collector, "reports", "send", "shop", "--kind", kind, "--period", today.isoformat())
            assert out.returncode == 0 and "to 2 recipient(s)" in out.stdout, out.stderr
        messages = inbox.wait_for(4)
        assert sorted(m["To"] for m in messages) == sorted([ANA, ANA, BEN, BEN])
        monday = today - timedelta(days=today.weekday())
        first_of_month = today.replace(day=1)
        queries = {"weekly": f"period=custom&date={monday},{monday + timedelta(days=6)}", "monthly": f"period=month&date={first_of_month}"}
        for message in messages:
            kind = "weekly" if "weekly report" in message["Subject"] else "monthly"
            text, html = parts(message)
            _, api = collector.get_json(f"/api/v1/stats/aggregate?{queries[kind]}&metrics=visitors,visits,pageviews", shop["token"])
            expected = {"Unique visitors": f"{api['results']['visitors']['value']:,}", "Visits": f"{api['results']['visits']['value']:,}",
                        "Pageviews": f"{api['results']['pageviews']['value']:,}"}
            assert _kpis(text) == expected, (kind, text)
            _, pages = collector.get_json(f"/api/v1/stats/breakdown?{queries[kind]}&property=event:page&metrics=visitors"
                                          "&filters=event:kind%3D%3Dpageview&limit=10", shop["token"])
            for row in pages["results"]:
                if row["page"] != "(other)":
                    assert re.search(rf"^  {re.escape(row['page'])} +{row['visitors']}$", text, re.M), (row, text)
            assert "/rare-page" not in text and "/rare-page" not in html  # hidden on the dashboard: hidden here
            assert "small noise" in text and "small noise" in html
            assert "<script" not in html.lower() and "<svg" not in html.lower() and not re.search(r"<img[^>]+src=\"?https?:", html)
            raw = bytes(message)
            for value in (PLANTED_IP, PLANTED_POSTCODE, PLANTED_UA, PLANTED_COOKIE, "Planted/4242"):
                assert value.encode() not in raw, value
        html_path = tmp_path / "weekly.html"
        html_path.write_text(parts(next(m for m in messages if "weekly" in m["Subject"]))[1])

        # the ledger and the log hold no address; the registry does (it is where recipients live)
        ledger = (collector.data_dir / "mail" / "sent.json").read_text() if (collector.data_dir / "mail" / "sent.json").exists() else ""
        for place in (ledger, collector.logs()):
            assert ANA not in place and BEN not in place and PLANTED_IP not in place

        # unsubscribe: GET asks, POST does it, for this address only; a tampered link does nothing
        ana_link = urlsplit(_link(parts(next(m for m in messages if m["To"] == ANA))[0])).path
        status, _, page = collector.request("GET", ana_link)
        assert status == 200 and b'id="unsubscribe"' in page and ANA.encode() not in page and b"a***@example.com" in page
        tampered = ana_link[:-1] + ("0" if ana_link[-1] != "0" else "1")
        assert collector.request("POST", tampered)[0] == 400
        forged = f"/unsubscribe/{shop['client_id']}.{'0' * 16}.{ana_link.rsplit('.', 1)[1]}"
        assert collector.request("POST", forged)[0] == 400  # another recipient's digest under Ana's MAC
        status, _, page = collector.request("POST", ana_link)
        assert status == 200 and b"Unsubscribed" in page
        _, settings = collector.get_json("/api/v1/admin/email?client=shop", collector.admin_token())
        assert settings["to"] == [BEN]
        status, _, page = collector.request("GET", ana_link)
        assert status == 200 and b"Already unsubscribed" in page
        out = _spii(collector, "reports", "send", "shop", "--kind", "weekly", "--period", today.isoformat())
        assert out.returncode == 0 and "to 1 recipient(s)" in out.stdout
        assert [m["To"] for m in inbox.wait_for(5)[4:]] == [BEN]
    finally:
        collector.stop()


def test_preview_and_eml_files_without_a_mail_server(tmp_path):
    collector = _collector(tmp_path, SPII_EMAIL_DIR=str(tmp_path / "outbox"))
    shop = collector.add_client("shop", SITE, k="5", perturb="off")
    collector.cli("clients", "update", "shop", "--email-to", ANA, "--email-report", "weekly,monthly")
    collector.start()
    try:
        collector.wait_shipped(_visitors(collector, 6), shop["token"], SITE)
        out = _spii(collector, "reports", "preview", "shop", "--kind", "weekly", "--period", date.today().isoformat(),
                    "--out", str(tmp_path / "preview.html"))
        assert out.returncode == 0, out.stderr
        html = (tmp_path / "preview.html").read_text()
        assert "weekly report" in html and "Unique visitors" in html and "Open the dashboard" in html
        assert "Unique visitors" in (tmp_path / "preview.txt").read_text()
        assert not (tmp_path / "outbox").exists()  # a preview sends nothing
        out = _spii(collector, "reports", "send", "shop", "--kind", "monthly")
        assert out.returncode == 0, out.stderr
        [eml] = (tmp_path / "outbox").glob("*.eml")
        message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        assert message["To"] == ANA and "monthly report" in message["Subject"]
    finally:
        collector.stop()


def test_alerts_fire_once_per_cooldown(tmp_path, smtp):
    inbox, port = smtp
    collector = _collector(tmp_path, SPII_SMTP_URL=f"smtp://127.0.0.1:{port}")
    shop = collector.add_client("shop", SITE, k="5", perturb="off")
    # a spike at 6 current visitors; a drop after 4 seconds without an event (0.0011 hours)
    collector.cli("clients", "update", "shop", "--email-to", ANA, "--alert-spike", "6", "--alert-drop-hours", "0.0011")
    collector.start()
    try:
        _visitors(collector, 5)
        collector.wait_shipped(5, shop["token"], SITE)
        time.sleep(1.5)
        assert inbox.messages == []  # 5 is under the threshold, and events arrived just now
        _visitors(collector, 3, first=10)
        spike = inbox.wait_for(1)[0]
        assert spike["Subject"] == "shop: 8 current visitors" and "at or above your alert threshold of 6" in parts(spike)[0]
        drop = inbox.wait_for(2, timeout=30)[1]
        assert drop["Subject"] == "shop: no event for 0 hours"
        assert "the last one arrived at" in parts(drop)[0]
        _visitors(collector, 3, first=20)  # a new spike and a new quiet spell, both within the cooldown: no alert
        time.sleep(6)
        assert len(inbox.messages) == 2
        status, _, metrics = collector.request("GET", "/metrics")
        assert b'spii_mail_sent_total{kind="alert"} 2.0' in metrics
    finally:
        collector.stop()


def test_bad_input_and_an_unreachable_mail_server(tmp_path):
    collector = _collector(tmp_path, SPII_SMTP_URL=f"smtp://127.0.0.1:{free_port()}")
    shop = collector.add_client("shop", SITE, k="5", perturb="off")
    collector.add_client("blog", "blog.example")
    out = subprocess.run([*SPII, "clients", "update", "shop", "--email-to", f"{ANA},not-an-address"], env=collector.env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "email_to" in out.stderr and "address 2" in out.stderr
    collector.cli("clients", "update", "shop", "--email-to", ANA, "--alert-spike", "5")
    collector.start()
    try:
        admin = {"Authorization": f"Bearer {collector.admin_token()}"}
        status, _, body = collector.request("GET", "/api/v1/admin/email/preview?client=shop&kind=daily", headers=admin)
        assert status == 400 and json.loads(body)["details"][0]["field"] == "kind"
        out = _spii(collector, "reports", "send", "blog", "--kind", "weekly")
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and "no e-mail recipients" in out.stderr
        status, _, body = collector.request("PUT", "/api/v1/admin/email", json.dumps({"client": "shop", "to": ["nope"]}),
                                            {**admin, "Content-Type": "application/json"})
        assert status == 400 and json.loads(body)["details"][0]["field"] == "to"
        out = _spii(collector, "reports", "send", "shop", "--kind", "weekly")
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and "mail server" in out.stderr and ANA not in out.stderr

        # the schedule's failures: counted, logged without an address, and the collector goes on
        collector.wait_shipped(_visitors(collector, 6), shop["token"], SITE)

        def failed() -> bool:
            return b'spii_mail_failures_total{kind="alert",reason="ConnectionRefusedError"}' in collector.request("GET", "/metrics")[2]

        assert eventually(failed, timeout=30) is True
        assert _visitors(collector, 1, first=50) == 1  # still 202
        logs = collector.logs()
        assert "e-mail not sent" in logs and ANA not in logs
    finally:
        collector.stop()
