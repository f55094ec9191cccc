"""The dashboard in real Chromium: log in, see the chart, change the period, numbers equal the
stats API's, JavaScript off still shows the numbers, a phone-width layout, and client A's token
cannot open client B's dashboard."""

import csv
import io
import zipfile

import pytest

from tests.e2e.harness import BROWSER_UA, Collector

pytestmark = pytest.mark.browser
SHOP, BLOG = "shop.example", "blog.example"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data = tmp_path_factory.mktemp("dash") / "data"
    data.mkdir()
    collector = Collector(data, SPII_TRUSTED_PROXIES="127.0.0.1/32", SPII_STATS_BURST="1000")
    shop = collector.add_client("shop", SHOP, perturb="off")  # exact counts here; noise: tests/e2e/test_perturbation.py
    blog = collector.add_client("blog", BLOG, perturb="off")
    collector.start()
    for path, first, n in (("/", 1, 20), ("/pricing", 21, 11), ("/rare", 32, 3)):
        for i in range(first, first + n):
            headers = {"X-Forwarded-For": f"198.51.100.{i}", "User-Agent": BROWSER_UA}
            event = {"n": "pageview", "u": f"https://{SHOP}{path}?utm_source=news", "d": SHOP, "r": "https://www.google.com/"}
            assert collector.send(event, headers=headers)[0] == 202
    collector.wait_shipped(34, shop["token"], shop["client_id"])
    yield collector, shop, blog
    collector.stop()


def base(collector):
    return f"http://127.0.0.1:{collector.port}"


def login(page, collector, name, token):
    page.goto(f"{base(collector)}/dashboard/{name}")
    page.fill("#token", token)
    # the page is streamed (head first, panels after): wait for all of it, not its first element
    with page.expect_navigation(wait_until="load"):
        page.click("#login")


def test_login_chart_period_and_numbers_match_the_api(browser, served, artifacts):
    collector, shop, _ = served
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        login(page, collector, "shop", shop["token"])
        page.wait_for_selector("svg.chart")
        # today's bucket is still filling: the line to it is dashed, and the legend says so
        assert page.locator("svg.chart polyline.partial[data-series=Visitors]").count() == 1
        assert "still counting" in page.inner_text("#partial")
        cookie = next(c for c in context.cookies() if c["name"] == "spii_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/dashboard/shop"
        assert shop["token"] not in cookie["value"] and not cookie["secure"]  # a signed session, not the token; plain http here
        assert page.evaluate("document.cookie") == ""  # not readable by scripts

        _, api = collector.get_json("/api/v1/stats/aggregate?period=30d&metrics=visitors,pageviews,visits", shop["token"])
        for metric in ("visitors", "pageviews", "visits"):
            assert page.inner_text(f".kpi [data-metric={metric}]") == str(api["results"][metric]["value"])
        _, pages = collector.get_json("/api/v1/stats/breakdown?period=30d&property=event:page&metrics=visitors,pageviews&limit=10", shop["token"])
        rows = page.locator('[data-panel="event:page"] tbody tr')
        shown = [(rows.nth(i).locator("td span").inner_text(), rows.nth(i).locator('[data-metric="visitors"]').inner_text())
                 for i in range(rows.count())]
        assert shown == [(r["page"], str(r["visitors"])) for r in pages["results"]]
        assert shown == [("/", "20"), ("(other)", "14")]  # /rare (3) hidden with /pricing (11): complementary
        assert "hidden" in page.inner_text('[data-panel="event:page"] .note')
        _, _, now = collector.request("GET", "/api/v1/stats/realtime/visitors", headers={"Authorization": f"Bearer {shop['token']}"})
        assert page.inner_text("#realtime") == now.decode() == "34"  # visitors of the last 5 minutes
        refreshed = page.evaluate("fetch(document.getElementById('realtime').dataset.url).then(r => r.json())")
        assert refreshed == 34  # what dashboard.js fetches every 30 s, through the session
        page.screenshot(path=str(artifacts / "dashboard-30d.png"), full_page=True)

        page.select_option("#period", "7d")
        page.wait_for_url("**period=7d**", wait_until="load")
        assert page.input_value("#period") == "7d"
        _, api7 = collector.get_json("/api/v1/stats/aggregate?period=7d&metrics=visitors", shop["token"])
        assert page.inner_text(".kpi [data-metric=visitors]") == str(api7["results"]["visitors"]["value"])
        page.screenshot(path=str(artifacts / "dashboard-7d.png"), full_page=True)

        # the Export button: a ZIP of the panels, the same numbers as the API
        with page.expect_download() as download_info:
            page.click("#export")
        download = download_info.value
        assert download.suggested_filename.startswith("spii-shop-7d-") and download.suggested_filename.endswith(".zip")
        archive = zipfile.ZipFile(download.path())
        rows = list(csv.DictReader(io.StringIO(archive.read("top_pages.csv").decode())))
        _, pages7 = collector.get_json("/api/v1/stats/breakdown?period=7d&property=event:page&metrics=visitors,pageviews&limit=10"
                                       "&filters=event:kind%3D%3Dpageview", shop["token"])
        assert [(r["page"], int(r["visitors"])) for r in rows if r["page"] != "(hidden)"] == [(r["page"], r["visitors"]) for r in pages7["results"]]

        page.click("#logout")
        page.wait_for_selector("#token")
        assert not [c for c in context.cookies() if c["name"] == "spii_session"]
        # the logged-out session cannot be replayed
        context.add_cookies([{**cookie, "expires": -1} | {"sameSite": "Strict"}])
        page.goto(f"{base(collector)}/dashboard/shop")
        assert page.locator("#token").count() == 1 and page.locator("[data-metric]").count() == 0
    except Exception:
        page.screenshot(path=str(artifacts / "failure.png"), full_page=True)
        raise
    finally:
        context.close()


def test_a_token_of_client_a_cannot_open_client_b(browser, served, artifacts):
    collector, shop, blog = served
    context = browser.new_context()
    page = context.new_page()
    try:
        login(page, collector, "blog", shop["token"])
        assert "cannot open" in page.inner_text("#error")
        assert page.locator("[data-metric]").count() == 0
        # a token planted by hand as the cookie is no session, and shop's session does not open blog
        context.add_cookies([{"name": "spii_session", "value": shop["token"], "url": f"{base(collector)}/dashboard/blog"}])
        response = page.goto(f"{base(collector)}/dashboard/blog")
        assert response.status == 401 and page.locator("[data-metric]").count() == 0
        login(page, collector, "shop", shop["token"])
        page.wait_for_selector(".kpi")
        session = next(c for c in context.cookies() if c["name"] == "spii_session" and c["path"] == "/dashboard/shop")
        context.add_cookies([{"name": "spii_session", "value": session["value"], "url": f"{base(collector)}/dashboard/blog"}])
        response = page.goto(f"{base(collector)}/dashboard/blog")
        assert response.status == 403 and page.locator("[data-metric]").count() == 0
        page.screenshot(path=str(artifacts / "refused.png"))
        login(page, collector, "blog", blog["token"])
        page.wait_for_selector(".kpi")
    finally:
        context.close()


def test_numbers_without_javascript_and_on_a_phone(browser, served, artifacts):
    collector, shop, _ = served
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        login(page, collector, "shop", shop["token"])
        page.wait_for_selector(".kpi")
        assert page.inner_text(".kpi [data-metric=visitors]") == "34"
        page.select_option("#period", "day")
        page.click("noscript button, form#period-form button")  # the <noscript> button is live with JS off
        page.wait_for_url("**period=day**")
        assert page.inner_text(".kpi [data-metric=visitors]") == "34"
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"horizontal scrolling on a phone: {width}px"
        page.screenshot(path=str(artifacts / "phone-no-js.png"), full_page=True)
    finally:
        context.close()
