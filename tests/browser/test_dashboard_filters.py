"""Click-to-filter and shared links in real Chromium: clicking a source row filters every panel
and puts the filter in the URL, the chip removes it, the back button brings it back, the export
is the filtered view; a shared link opens the dashboard without a token (with its password when
it has one), is no API token, and is refused once revoked or expired."""

import json
import re
import subprocess
import zipfile
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from tests.e2e.harness import BROWSER_UA, SPII, Collector

pytestmark = pytest.mark.browser
SITE = "news.example"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data = tmp_path_factory.mktemp("filters") / "data"
    data.mkdir()
    collector = Collector(data, SPII_TRUSTED_PROXIES="127.0.0.1/32", SPII_STATS_BURST="1000")
    news = collector.add_client("news", SITE, perturb="off")
    collector.start()
    n = 0
    # Google: 22 visitors (12 on /, 10 on /about); Bing: 12 visitors on /; direct: 11 on /about
    for referrer, path, count in (("https://www.google.com/", "/", 12), ("https://www.google.com/", "/about", 10),
                                  ("https://www.bing.com/", "/", 12), ("", "/about", 11)):
        for _ in range(count):
            n += 1
            headers = {"X-Forwarded-For": f"198.51.100.{n}", "User-Agent": BROWSER_UA}
            assert collector.send({"n": "pageview", "u": f"https://{SITE}{path}", "d": SITE, "r": referrer}, headers)[0] == 202
    collector.wait_shipped(n, news["token"], SITE)
    yield collector, news
    collector.stop()


def _base(collector):
    return f"http://127.0.0.1:{collector.port}"


def _kpi(page, metric="visitors"):
    return page.inner_text(f".kpi [data-metric={metric}]")


def _rows(page, panel):
    rows = page.locator(f'[data-panel="{panel}"] tbody tr')
    return [(rows.nth(i).locator("td:first-child").inner_text(), rows.nth(i).locator('[data-metric="visitors"]').inner_text())
            for i in range(rows.count())]


def test_click_a_source_filters_every_panel_and_the_chip_removes_it(browser, served):
    collector, news = served
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{_base(collector)}/dashboard/news")
        page.fill("#token", news["token"])
        page.click("#login")
        assert _kpi(page) == "45"
        page.click('[data-panel="visit:source"] a.filter:has-text("Google")')
        page.wait_for_url("**filters=*")
        assert parse_qs(urlsplit(page.url).query)["filters"] == ["visit:source==Google"]
        assert _kpi(page) == "22" and "source is Google" in page.inner_text(".chips")
        _, api = collector.get_json(f"/api/v1/stats/breakdown?period=30d&property=event:page&metrics=visitors"
                                    f"&filters={quote('visit:source==Google;event:kind==pageview')}", news["token"])
        assert _rows(page, "event:page") == [(r["page"], str(r["visitors"])) for r in api["results"]] == [("/", "12"), ("/about", "10")]
        assert _rows(page, "visit:source") == [("Google", "22")]
        # a second filter, on a page: both apply
        page.locator('[data-panel="event:page"] a.filter', has_text=re.compile("^/$")).click()
        page.wait_for_url("**event%3Apage*")
        assert _kpi(page) == "12" and page.locator(".chip").count() == 2
        # the export is what is shown
        href = page.get_attribute("#export", "href")
        assert "filters=" in href
        with page.expect_download() as download:
            page.click("#export")
        with zipfile.ZipFile(download.value.path()) as archive:
            assert "visitors,12" in archive.read("totals.csv").decode().replace("\r", "")
        # remove the source chip: only the page filter is left; back brings the source back
        page.click('.chip:has-text("source is Google")')
        page.wait_for_url(lambda url: "visit%3Asource" not in url)
        assert _kpi(page) == "24" and page.locator(".chip").count() == 1  # Google + Bing visitors of /
        page.go_back()
        page.wait_for_url("**visit%3Asource*")
        assert _kpi(page) == "12"
        page.click("#clear-filters")
        page.wait_for_url(lambda url: "filters" not in url)
        assert _kpi(page) == "45" and page.locator(".chip").count() == 0
        # the period picker keeps the filters
        page.goto(f"{_base(collector)}/dashboard/news?period=30d&filters={quote('visit:source==Bing')}")
        page.select_option("#period", "7d")
        page.wait_for_url("**period=7d*")
        assert parse_qs(urlsplit(page.url).query)["filters"] == ["visit:source==Bing"] and _kpi(page) == "12"
    finally:
        context.close()


def _share(collector, *args, stdin=None):
    out = subprocess.run([*SPII, "clients", "share", "news", "--json", "--server", _base(collector), *args], env=collector.env,
                         input=stdin, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _open(page, url):
    """Open a new link: the collector reloads the client registry within a second of a change."""
    for _ in range(20):
        if page.goto(url).status != 404:
            return
        page.wait_for_timeout(250)
    raise AssertionError("the shared link never opened")


def test_shared_links_open_read_only_and_stop_when_revoked_or_expired(browser, served):
    collector, news = served
    link = _share(collector)
    token = link["url"].rsplit("/", 1)[1]
    assert link["url"].startswith(f"{_base(collector)}/share/") and len(token) >= 40
    context = browser.new_context()  # no session, no token
    page = context.new_page()
    try:
        _open(page, link["url"])
        assert _kpi(page) == "45" and page.locator("#shared").count() == 1
        assert page.locator("#logout").count() == 0 and page.locator("#export").count() == 0
        page.click('[data-panel="visit:source"] a.filter:has-text("Bing")')  # filters work through the link too
        page.wait_for_url("**/share/*filters=*")
        assert _kpi(page) == "12"
        # the link's token is no API token, and opens no other route
        for path in ("/api/v1/stats/aggregate?metrics=visitors", "/api/v1/admin/flags", f"/api/v1/stats/export?site_id={news['client_id']}"):
            status, _ = collector.get_json(path, token)
            assert status == 401, path
        # stored hashed: the token itself is nowhere in the registry
        assert token not in (collector.data_dir / "clients.json").read_text()
        listed = collector.cli("clients", "shares", "news", "--json")
        assert [s["share_id"] for s in listed] == [link["share_id"]]
        collector.cli("clients", "unshare", "news", link["share_id"])
        page.wait_for_timeout(1500)  # the registry is reloaded within a second
        response = page.goto(link["url"])
        assert response.status == 404 and "revoked or has expired" in page.inner_text("body")

        # a password-protected link
        locked = _share(collector, "--password", stdin="correct horse battery\n")
        assert locked["password"] is True
        shown = json.dumps(collector.cli("clients", "list", "--json"))  # ids only: no token hash, no password hash
        assert locked["share_id"] in shown and "scrypt$" not in shown and "sha256" not in shown
        _open(page, locked["url"])
        assert page.locator("#password").count() == 1 and page.locator(".kpi").count() == 0
        page.fill("#password", "wrong password")
        page.click("#login")
        assert "Wrong password" in page.inner_text("#error")
        page.fill("#password", "correct horse battery")
        page.click("#login")
        page.wait_for_selector(".kpi")
        assert _kpi(page) == "45"
        cookie = next(c for c in context.cookies() if c["name"] == "spii_share")
        assert cookie["httpOnly"] and cookie["path"].startswith("/share/") and "correct" not in cookie["value"]

        # expiry: a link whose last day has passed is refused (its record aged in the registry)
        until_today = _share(collector, "--expires", datetime.now(UTC).date().isoformat())
        _open(page, until_today["url"])
        assert _kpi(page) == "45"
        registry_path = collector.data_dir / "clients.json"
        registry = json.loads(registry_path.read_text())
        yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
        for client in registry["clients"]:
            for share in client["shares"]:
                if share["share_id"] == until_today["share_id"]:
                    share["expires"] = yesterday
        registry_path.write_text(json.dumps(registry))
        page.wait_for_timeout(1500)
        assert page.goto(until_today["url"]).status == 404
        out = subprocess.run([*SPII, "clients", "share", "news", "--expires", yesterday], env=collector.env, capture_output=True, text=True)
        assert out.returncode == 2 and "in the past" in out.stderr
    finally:
        context.close()
