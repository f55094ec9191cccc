"""The tracker in real Chromium, against a running `spii serve`: each scenario runs in its own
browser context on a test site served on loopback (shop.example is mapped to 127.0.0.1 inside
Chromium only), then the collector is stopped and what actually landed in ClickHouse is checked.
"""

import http.server
import json
import threading
from functools import partial
from pathlib import Path

import pytest

from tests.browser.conftest import ARGS, ARTIFACTS, CHROMIUM
from tests.e2e.harness import BROWSER_UA, Collector, free_port

pytestmark = pytest.mark.browser
VENDOR = Path(__file__).resolve().parent / "vendor" / "plausible-tracker"
SITE = "shop.example"
TALL = "<div style='height:4000px'>a long read</div>"  # scroll depth = (scrollY + viewport) / 4000 px
QUEUE_STUB = "<script>window.spii=window.spii||function(){(spii.q=spii.q||[]).push(arguments)}</script>"


def page(body: str, script_attrs: str = "data-local", head: str = "") -> str:
    return (f"<!doctype html><html><head><meta charset=utf-8>{head}"
            f'<script defer data-domain="{SITE}" {script_attrs} src="{{collector}}/js/spii.js"></script></head>'
            f"<body>{body}</body></html>")


PAGES = {
    "load.html": page("<h1>load</h1>"),
    "spa.html": page("<h1>spa</h1>"),
    "hash.html": page("<h1>hash</h1>", "data-local data-hash"),
    "calls.html": page("<h1>calls</h1>"),
    "consent.html": page("<h1>consent</h1>", 'data-local data-consent="granted"'),
    "gpc.html": page("<h1>gpc</h1>", 'data-local data-consent="granted"'),
    "optout.html": page("<h1>optout</h1>"),
    "queued.html": page("<h1>queued</h1>", "data-local async",
                        head=QUEUE_STUB + "<script>spii('event', 'Queued', {early: 'yes'})</script>"),
    "noscript.html": page(f'<noscript><img src="{{collector}}/px.gif?d={SITE}&u=http://{SITE}/noscript-pixel"></noscript>'),
    "webdriver.html": page("<h1>automated</h1>", ""),
    "plausible.html": ("<!doctype html><html><head><meta charset=utf-8><script type=module>"
                       "import {{ init, track }} from '/plausible.js';"
                       f"init({{ domain: '{SITE}', endpoint: '{{collector}}/api/event' }});"
                       "track('Purchase', {{ props: {{ plan: 'gold' }}, revenue: {{ amount: 15.99, currency: 'USD' }} }});"
                       f"</script></head><body style='margin:0'>{TALL}</body></html>").replace("{{", "{").replace("}}", "}"),
    "long.html": page(TALL),
    "excluded-area.html": page("<h1>excluded</h1>", 'data-local data-exclude="/excluded-*,/never"'),
    "form.html": page('<form id=newsletter action="/form.html"><button id=go>go</button></form>', 'data-local data-auto="forms"'),
    "auto.html": page('<a id=out href="https://elsewhere.example/x?secret=1">out</a> <a id=dl href="/files/report.pdf">pdf</a>',
                      'data-local data-auto="outbound,downloads"'),
}


@pytest.fixture(scope="module")
def landed(tmp_path_factory, browser):
    """Run every scenario, then return the stored rows by path."""
    tmp = tmp_path_factory.mktemp("tracker")
    (tmp / "data").mkdir()
    collector = Collector(tmp / "data")
    client = collector.add_client("shop", SITE, cookies="consent")
    collector.start()
    origin = f"http://127.0.0.1:{collector.port}"
    site_dir = tmp / "site"
    (site_dir / "files").mkdir(parents=True)
    (site_dir / "files" / "report.pdf").write_bytes(b"%PDF-1.4")
    (site_dir / "plausible.js").write_bytes((VENDOR / "plausible.js").read_bytes())
    for name, html in PAGES.items():
        (site_dir / name).write_text(html.replace("{collector}", origin))
    site_port = free_port()
    handler = partial(_QuietHandler, directory=str(site_dir))
    site = http.server.ThreadingHTTPServer(("127.0.0.1", site_port), handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    base = f"http://{SITE}:{site_port}"
    # a browser of its own: shop.example resolves to loopback inside this Chromium only; its
    # UA is a normal browser's everywhere, also for the beacons a page sends as it unloads
    # (the context's UA override no longer applies to those: they would say HeadlessChrome)
    own = browser.browser_type.launch(executable_path=CHROMIUM, headless=True,
                                      args=[*ARGS, f"--host-resolver-rules=MAP {SITE} 127.0.0.1", f"--user-agent={BROWSER_UA}"])
    log: dict[str, object] = {}
    try:
        for scenario in SCENARIOS:
            context = own.new_context(user_agent=BROWSER_UA, java_script_enabled=scenario.__name__ != "noscript")
            tab = context.new_page()
            tab.on("console", lambda m, n=scenario.__name__: log.setdefault(n, []).append(m.text))
            try:
                log[scenario.__name__ + ":result"] = scenario(tab, base)
                tab.wait_for_timeout(600)  # beacons in flight
            except Exception:
                (ARTIFACTS / "tracker").mkdir(parents=True, exist_ok=True)
                tab.screenshot(path=str(ARTIFACTS / "tracker" / f"{scenario.__name__}-failure.png"))
                raise
            finally:
                context.close()
    finally:
        own.close()
        site.shutdown()
        collector.stop()
    (ARTIFACTS / "tracker").mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "tracker" / "console.json").write_text(json.dumps(log, indent=1, default=str))
    rows = collector.query("SELECT path, kind, name, props, revenue, currency, postcode_area, country, order_id, "
                           "fulfilment_status, contact_channel, cookie_hash, visitor_id, toString(ip_token) AS ip, "
                           "tracking_refused, client_id, scroll_depth, engaged_ms, session_id FROM spii.events ORDER BY ts")
    # engagement pings (time on page, scroll depth) apart: the other tests count events
    return {"rows": [r for r in rows if r["kind"] != "engagement"], "engagement": [r for r in rows if r["kind"] == "engagement"],
            "client": client, "log": log}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def opened(tab, url):
    """Open a test page and wait until the tracker has run (window.spii is its API)."""
    tab.goto(url)
    tab.wait_for_function("typeof window.spii === 'function'")


def load(tab, base):
    opened(tab, f"{base}/load.html")


def spa(tab, base):
    opened(tab, f"{base}/spa.html")
    tab.evaluate("history.pushState({}, '', '/spa/step-2')")
    tab.evaluate("history.pushState({}, '', '/spa/step-2')")  # the same URL again: no second pageview
    tab.evaluate("history.replaceState({}, '', '/spa/step-3')")
    tab.evaluate("history.pushState({}, '', '/spa/step-4')")
    tab.go_back()  # popstate -> back at step-3
    tab.wait_for_url("**/spa/step-3")


def hash_routing(tab, base):
    opened(tab, f"{base}/hash.html#/cart")
    tab.evaluate("location.hash = '#/checkout'")


def calls(tab, base):
    opened(tab, f"{base}/calls.html")
    tab.evaluate("""() => {
        spii('event', 'Signup', {plan: 'pro', seats: 3});
        spii('transaction', {order: 'ORD-7', amount: 19.99, currency: 'GBP', postcode: 'SW1A 1AA', country: 'GB',
                             items: [{sku: 'tea', quantity: 2, price: 9.995}]});
        spii('fulfilment', {order: 'ORD-7', status: 'shipped'});
        spii('contact', {channel: 'email'});
    }""")


def consent(tab, base):
    opened(tab, f"{base}/consent.html")
    cookie = tab.evaluate("document.cookie")
    tab.evaluate("spii('event', 'Consented')")
    tab.evaluate("spii('consent', false)")
    tab.evaluate("spii('event', 'Withdrawn')")
    return {"cookie": cookie, "after": tab.evaluate("document.cookie")}


def gpc(tab, base):
    tab.add_init_script("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})")
    opened(tab, f"{base}/gpc.html")


def optout(tab, base):
    opened(tab, f"{base}/optout.html")
    tab.evaluate("spii('optout')")
    tab.evaluate("spii('event', 'AfterOptout')")
    opened(tab, f"{base}/optout.html?again=1")  # the flag is stored: no pageview on the next load either


def queued(tab, base):
    tab.goto(f"{base}/queued.html")
    tab.wait_for_function("typeof window.spii === 'function' && !window.spii.q")


def noscript(tab, base):
    tab.goto(f"{base}/noscript.html")
    tab.wait_for_load_state("load")


def webdriver(tab, base):
    opened(tab, f"{base}/webdriver.html")


def auto_events(tab, base):
    opened(tab, f"{base}/auto.html")
    tab.evaluate("document.addEventListener('click', e => e.preventDefault())")  # stay on the page
    tab.click("#out")
    tab.click("#dl")


def scroll_to(tab, fraction):
    """Scroll so that the bottom of the viewport is at ``fraction`` of the page."""
    tab.evaluate(f"window.scrollTo(0, document.documentElement.scrollHeight * {fraction} - innerHeight)")
    tab.wait_for_timeout(200)  # scroll events are delivered on the next frame


def plausible_npm(tab, base):
    tab.add_init_script("window.__plausible = true")  # Plausible's own switch for automated browsers
    tab.goto(f"{base}/plausible.html")
    tab.wait_for_timeout(1200)  # visible and focused: engaged time
    scroll_to(tab, 0.5)
    tab.goto("about:blank")  # leaving the page hides it: the tracker sends its engagement ping


def engagement(tab, base):
    opened(tab, f"{base}/long.html")
    tab.wait_for_timeout(1200)
    scroll_to(tab, 0.5)
    tab.evaluate("history.pushState({}, '', '/long/next')")  # SPA navigation: the ping of the page left
    scroll_to(tab, 1)
    tab.wait_for_timeout(500)
    tab.goto("about:blank")


def excluded(tab, base):
    opened(tab, f"{base}/excluded-area.html")
    tab.evaluate("spii('event', 'InExcludedArea')")


def form(tab, base):
    opened(tab, f"{base}/form.html")
    tab.evaluate("document.addEventListener('submit', e => e.preventDefault())")  # stay on the page
    tab.click("#go")


SCENARIOS = [excluded, form, plausible_npm, engagement, load, spa, hash_routing, calls, consent, gpc, optout, queued, noscript, webdriver, auto_events]


def rows_at(landed, path):
    return [r for r in landed["rows"] if r["path"] == path]


def test_pageview_on_load(landed):
    (row,) = rows_at(landed, "/load.html")
    assert row["kind"] == "pageview" and row["client_id"] == landed["client"]["client_id"] and row["visitor_id"] != 0


def test_spa_navigation_without_duplicates(landed):
    paths = [r["path"] for r in landed["rows"] if r["path"].startswith("/spa")]
    assert paths == ["/spa.html", "/spa/step-2", "/spa/step-3", "/spa/step-4", "/spa/step-3"]


def test_hash_routing(landed):
    assert [r["path"] for r in landed["rows"] if r["path"].startswith("/hash")] == ["/hash.html#/cart", "/hash.html#/checkout"]


def test_custom_event_transaction_fulfilment_contact(landed):
    calls_rows = rows_at(landed, "/calls.html")
    by_kind = {r["kind"]: r for r in calls_rows}
    signup = next(r for r in calls_rows if r["name"] == "Signup")
    assert signup["props"] == {"plan": "pro", "seats": "3"}
    tx = by_kind["transaction"]
    assert (tx["revenue"], tx["currency"], tx["postcode_area"], tx["country"]) == ("19.9900", "GBP", "SW1A", "GB")
    assert tx["order_id"] and tx["order_id"] != "ORD-7" and tx["order_id"] == by_kind["fulfilment"]["order_id"]
    assert by_kind["fulfilment"]["fulfilment_status"] == "shipped" and by_kind["contact"]["contact_channel"] == "email"


def test_consent_on_stores_a_cookie_hash_and_off_stores_none(landed):
    result = landed["log"]["consent:result"]
    assert result["cookie"].startswith("_spii=") and result["after"] == ""
    consented = next(r for r in landed["rows"] if r["name"] == "Consented")
    withdrawn = next(r for r in landed["rows"] if r["name"] == "Withdrawn")
    assert consented["cookie_hash"] != 0 and withdrawn["cookie_hash"] == 0
    assert rows_at(landed, "/load.html")[0]["cookie_hash"] == 0  # cookieless by default


def test_gpc_stores_no_identifier(landed):
    (row,) = rows_at(landed, "/gpc.html")
    assert (row["cookie_hash"], row["visitor_id"], row["ip"], row["tracking_refused"]) == (0, 0, "::", 1)


def test_optout_sends_nothing(landed):
    assert [r["name"] for r in rows_at(landed, "/optout.html")] == ["pageview"]  # the one before opting out
    assert not [r for r in landed["rows"] if r["name"] == "AfterOptout"]


def test_calls_queued_before_load_are_replayed(landed):
    queued_rows = [r for r in landed["rows"] if r["name"] == "Queued"]
    assert len(queued_rows) == 1 and queued_rows[0]["props"] == {"early": "yes"}


def test_noscript_pixel(landed):
    (row,) = rows_at(landed, "/noscript-pixel")
    assert row["kind"] == "pageview"


def test_automated_browsers_send_nothing_unless_asked(landed):
    assert rows_at(landed, "/webdriver.html") == []


def test_outbound_and_download_auto_events_without_query_strings(landed):
    names = {r["name"]: r for r in rows_at(landed, "/auto.html")}
    assert names["Outbound"]["props"] == {"url": "https://elsewhere.example/x"}
    assert names["Download"]["props"]["url"].endswith("/files/report.pdf")


def test_plausible_npm_tracker_posts_to_spii(landed):
    rows = rows_at(landed, "/plausible.html")
    assert [r["kind"] for r in rows] == ["pageview", "event"]
    purchase = rows[1]
    assert (purchase["name"], purchase["props"], purchase["revenue"], purchase["currency"]) == ("Purchase", {"plan": "gold"}, "15.9900", "USD")


def test_excluded_paths_send_nothing(landed):
    assert rows_at(landed, "/excluded-area.html") == []
    assert not [r for r in landed["rows"] if r["name"] == "InExcludedArea"]


def test_form_submission_auto_event(landed):
    names = [(r["name"], r["props"]) for r in rows_at(landed, "/form.html")]
    assert ("Form", {"form": "newsletter"}) in names


def test_no_errors_in_the_page_console(landed):
    errors = [m for lines in landed["log"].values() if isinstance(lines, list) for m in lines if "rror" in m]
    assert errors == []


def _pings(landed, path):
    return [r for r in landed["engagement"] if r["path"] == path]


def test_plausible_npm_tracker_engagement_gives_scroll_depth_and_time_on_page(landed):
    (pageview,) = [r for r in rows_at(landed, "/plausible.html") if r["kind"] == "pageview"]
    pings = _pings(landed, "/plausible.html")
    assert pings, "Plausible's tracker sent no engagement ping that was stored"
    assert 40 <= max(r["scroll_depth"] for r in pings) <= 60
    assert sum(int(r["engaged_ms"]) for r in pings) >= 1000
    assert {r["session_id"] for r in pings} == {pageview["session_id"]} and pageview["session_id"] != "0"


def test_spii_tracker_engagement_on_spa_navigation_and_leaving(landed):
    (first,) = _pings(landed, "/long.html")  # sent when the SPA navigated away
    assert 40 <= first["scroll_depth"] <= 60 and int(first["engaged_ms"]) >= 1000
    (last,) = _pings(landed, "/long/next")  # sent when the page was left
    assert last["scroll_depth"] == 100 and int(last["engaged_ms"]) >= 400
    assert first["session_id"] == last["session_id"] == rows_at(landed, "/long.html")[0]["session_id"]
