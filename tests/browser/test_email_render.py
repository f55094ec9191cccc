"""The e-mailed report as a mail client would show it, in real Chromium: at 600 px (the common
width of mail clients' reading panes) and at 390 px (a phone), nothing wider than the pane, no
request leaves the message (no external image, font or script), axe-core finds no serious or
critical violation in it or in the unsubscribe page; screenshots kept under artifacts/."""

from __future__ import annotations

import email
import email.policy
import json
import re
from datetime import date

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.browser.test_dashboard_surface import AXE
from tests.e2e.harness import BROWSER_UA, Collector
from tests.mail.inbox import parts

pytestmark = pytest.mark.browser
SITE = "shop.example"
LONG_PATH = "/blog/a-very-long-article-title-that-goes-on-and-on-without-a-break-to-see-how-it-wraps"


@pytest.fixture(scope="module")
def letter(tmp_path_factory):
    """The weekly report's HTML and its unsubscribe link, from a collector with a varied week."""
    data = tmp_path_factory.mktemp("email") / "data"
    data.mkdir()
    collector = Collector(data, SPII_TRUSTED_PROXIES="127.0.0.1/32", SPII_EMAIL_DIR=str(data / "outbox"))
    shop = collector.add_client("shop", SITE, k="5")
    collector.cli("clients", "update", "shop", "--email-to", "ana.reader@example.com")
    collector.start()
    try:
        n = 0
        for path, referrer, visitors in (("/", "https://www.google.com/", 40), ("/pricing", "", 22),
                                         (LONG_PATH, "https://news.ycombinator.com/", 15), ("/about", "https://duckduckgo.com/", 9)):
            for _ in range(visitors):
                n += 1
                headers = {"X-Forwarded-For": f"198.51.{n // 200}.{n % 200 + 1}", "User-Agent": BROWSER_UA}
                assert collector.send({"n": "pageview", "u": f"https://{SITE}{path}", "d": SITE, "r": referrer}, headers)[0] == 202
        collector.wait_shipped(n, shop["token"], SITE)
        out = collector.cli("reports", "send", "shop", "--kind", "weekly", "--period", date.today().isoformat(),
                            "--server", f"http://127.0.0.1:{collector.port}")
        assert "1 recipient" in out
        [eml] = (data / "outbox").glob("*.eml")
        text, html = parts(email.message_from_bytes(eml.read_bytes(), policy=email.policy.default))
        (ARTIFACTS / "email").mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "email" / "weekly.html").write_text(html)
        yield html, re.search(r"^Unsubscribe \(this address only\): (\S+)$", text, re.M)[1]
    finally:
        collector.stop()


def _violations(page) -> list:  # noqa: ANN001 - a Playwright page
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                          ".map(v => [v.id, v.impact, v.nodes.length])")
    return [v for v in found if v[1] in ("serious", "critical")]


@pytest.mark.parametrize("width", [600, 390])
def test_the_report_fits_the_pane_and_asks_for_nothing_outside(browser, letter, artifacts, width):
    html, _ = letter
    context = browser.new_context(viewport={"width": width, "height": 900}, java_script_enabled=True)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.set_content(html, wait_until="load")
        assert requested == []  # no image, font or stylesheet to fetch: nothing tells a sender the mail was opened
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert page.locator("text=Unique visitors").count() == 1 and page.get_by_text(LONG_PATH, exact=True).count() == 1
        page.screenshot(path=str(artifacts / f"email-{width}.png"), full_page=True)
        if AXE.exists():
            assert _violations(page) == []
    finally:
        context.close()


def test_the_unsubscribe_page_is_accessible(browser, letter, artifacts):
    _, link = letter
    context = browser.new_context(viewport={"width": 390, "height": 700}, user_agent=BROWSER_UA, bypass_csp=True)
    page = context.new_page()
    try:
        page.goto(link)
        assert page.locator("#unsubscribe").count() == 1
        page.screenshot(path=str(artifacts / "unsubscribe.png"))
        if AXE.exists():
            assert _violations(page) == [], json.dumps(_violations(page))
        page.click("#unsubscribe")
        page.wait_for_load_state("load")
        assert "Unsubscribed" in page.inner_text("h1")
    finally:
        context.close()
