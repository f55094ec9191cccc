"""The dashboard as an analyst sees it, on the demo's data in real Chromium: tabbed cards whose
tab is in the URL, labels that never wrap inside a word, rows in the order of the numbers shown,
no shown row under k, the page's height, axe-core's serious and critical violations on five
pages, every tab, filter link and chip reachable by keyboard with a visible focus. Screenshots at
1280 and 390 px are written to artifacts/."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.harness import SPII, free_port

AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
K = 10


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`spii demo` serving 35 days of its synthetic traffic; its summary line."""
    data = tmp_path_factory.mktemp("demo") / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPII_")}
    proc = subprocess.Popen([*SPII, "demo", "--data-dir", str(data), "--port", str(free_port()), "--days", "35",
                             "--visitors-per-day", "40"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("{"), "the demo printed no summary"
        summary = json.loads(line)
        share = subprocess.run([*SPII, "clients", "share", "demo"], env={**env, "SPII_DATA_DIR": str(data)}, capture_output=True,
                               text=True, timeout=60)
        assert share.returncode == 0, share.stderr
        link = next(word for word in share.stdout.split() if "/share/" in word).strip('",')
        summary["share"] = summary["dashboard"].split("/dashboard/")[0] + "/share/" + link.split("/share/")[1]  # on the demo's port
        yield summary
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)


def _login(browser, demo, width=1280):
    context = browser.new_context(viewport={"width": width, "height": 900}, user_agent=UA)
    page = context.new_page()
    page.goto(demo["dashboard"])
    page.fill("#token", demo["token"])
    page.click("#login")
    page.wait_for_selector('[data-panel="event:fulfilment_status"]')
    return context, page


def _panel_rows(page) -> dict[str, list[tuple[str, list[str]]]]:
    """Each panel's rows: (label, the numbers shown) as text, (other) included."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('[data-panel]')].map(panel => [
        panel.dataset.panel,
        [...panel.querySelectorAll('tbody tr')].filter(tr => tr.querySelectorAll('td').length > 1).map(tr => [
            tr.querySelector('td').innerText, [...tr.querySelectorAll('td[data-metric]')].map(td => td.dataset.metric + '=' + td.innerText)])]))""")


def _number(text: str) -> float | None:
    text = text.replace(",", "")
    try:
        return float(text)
    except ValueError:
        return None


def _check_panels(page) -> int:
    """Rows in the order of the numbers shown, no shown row under k, no row with fewer visits,
    events or pageviews than visitors, labels on one line at most two; returns how many rows
    were checked."""
    checked = 0
    for panel, rows in _panel_rows(page).items():
        shown = [(label, dict(cell.split("=", 1) for cell in cells)) for label, cells in rows]
        ordinary = [(label, cells) for label, cells in shown if label != "(other)"]
        if not ordinary:
            continue
        by = "visitors" if "visitors" in ordinary[0][1] else next(iter(ordinary[0][1]))
        values = [_number(cells[by]) or 0 for _, cells in ordinary]  # ("–": withheld, last)
        assert values == sorted(values, reverse=True), (panel, by, values)
        for label, cells in shown:
            visitors = _number(cells.get("visitors", "")) if "visitors" in cells else None
            assert visitors is None or visitors >= K, (panel, label, visitors)
            for each in ("visits", "events", "pageviews"):  # a visitor of a row has at least one of each
                count = _number(cells.get(each, ""))
                assert visitors is None or count is None or count >= visitors, (panel, label, each, visitors, count)
        checked += len(shown)
    heights = page.evaluate("""() => [...document.querySelectorAll('[data-panel] tbody td:first-child:not(.muted)')].map(td => {
        const line = parseFloat(getComputedStyle(td).lineHeight) || 20; return td.getBoundingClientRect().height / line; })""")
    assert heights and max(heights) <= 2.2, max(heights)  # no label wraps to more than two lines
    return checked


def test_tabs_order_and_suppression_on_every_tab(browser, demo, artifacts):
    context, page = _login(browser, demo)
    try:
        height = page.evaluate("document.documentElement.scrollHeight")
        print(f"dashboard height at 1280 px: {height} px")
        assert height <= 2 * 900 + 200, height  # about two screens
        page.screenshot(path=str(artifacts / "dashboard-1280.png"), full_page=True)
        assert page.locator("[data-panel]").count() == 6  # one panel per card
        checked = _check_panels(page)
        tabs = page.eval_on_selector_all(".tabs a:not([aria-current])", "links => links.map(a => a.getAttribute('href'))")
        assert len(tabs) == 20 - 6
        for href in tabs:
            page.goto(demo["dashboard"] + href)
            page.wait_for_load_state("load")
            current = page.eval_on_selector_all(".tabs a[aria-current]", "links => links.map(a => a.getAttribute('href'))")
            assert href in current, (href, current)  # the tab's state is in the URL, and the page shows it
            checked += _check_panels(page)
            tab = href.split("?", 1)[-1].replace("=", "-").replace("&", "_")
            page.screenshot(path=str(artifacts / f"tab-{tab}.png"), full_page=True)
        assert checked > 60
        # a tab keeps the filters, and the filters keep the tab
        page.goto(demo["dashboard"] + "?period=30d&sources=referrers")
        page.click('[data-panel="visit:country"] a.filter:has-text("GB")')
        page.wait_for_url("**filters=*")
        query = parse_qs(urlsplit(page.url).query)
        assert query["filters"] == ["visit:country==GB"] and query["sources"] == ["referrers"]
        assert page.locator('[data-panel="visit:referrer"]').count() == 1
    finally:
        context.close()


def test_a_segment_saved_from_a_filtered_page_reopens_its_numbers_by_url(browser, demo):
    context, page = _login(browser, demo)
    try:
        page.goto(demo["dashboard"] + "?period=30d&filters=" + "visit:country%3D%3DGB")
        page.wait_for_load_state("load")
        filtered = page.inner_text(".kpi [data-metric=visitors]")
        page.fill("#segment-name", "UK visitors")
        page.click('#save-segment button[type="submit"]')
        page.wait_for_url("**segment*")
        url = page.url
        assert "segment%3D%3DUK+visitors" in url or "segment%3D%3DUK%20visitors" in url, url
        assert page.inner_text(".kpi [data-metric=visitors]") == filtered and "segment is UK visitors" in page.inner_text(".chips")
        other = context.new_page()  # the URL alone opens it (for anyone logged in to this site)
        other.goto(url)
        assert other.inner_text(".kpi [data-metric=visitors]") == filtered
        assert other.locator('.segments nav a[aria-current]').inner_text() == "UK visitors"
    finally:
        context.close()


def test_the_page_on_a_phone(browser, demo, artifacts):
    context, page = _login(browser, demo, width=390)
    try:
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width  # nothing wider than the screen
        page.screenshot(path=str(artifacts / "dashboard-390.png"), full_page=True)
        _check_panels(page)
    finally:
        context.close()


def test_keyboard_reaches_every_tab_filter_link_and_chip_with_a_visible_focus(browser, demo):
    context, page = _login(browser, demo)
    try:
        page.goto(demo["dashboard"] + "?period=30d&filters=visit:country%3D%3DGB")
        page.wait_for_load_state("load")
        wanted = page.evaluate("() => document.querySelectorAll('.tabs a, a.filter, a.chip').length")
        reached, unfocused = set(), []
        for _ in range(wanted + 40):
            page.keyboard.press("Tab")
            seen = page.evaluate("""() => { const a = document.activeElement;
                if (!a || !a.matches('.tabs a, a.filter, a.chip')) return null;
                const style = getComputedStyle(a);
                return [a.getAttribute('href'), style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0]; }""")
            if seen:
                reached.add(seen[0])
                if not seen[1]:
                    unfocused.append(seen[0])
        hrefs = set(page.eval_on_selector_all(".tabs a, a.filter, a.chip", "links => links.map(a => a.getAttribute('href'))"))
        assert hrefs <= reached, hrefs - reached
        assert not unfocused, unfocused[:5]
    finally:
        context.close()


@pytest.mark.skipif(not AXE.exists(), reason="axe-core not installed (scripts/test.sh runs npm install in tests/browser)")
def test_axe_finds_no_serious_or_critical_violation(browser, demo, artifacts):
    # the pages' CSP forbids inline scripts: axe is injected past it, as a browser extension would be
    context = browser.new_context(viewport={"width": 1280, "height": 900}, user_agent=UA, bypass_csp=True)
    page = context.new_page()
    found = {}
    try:
        pages = [("login", demo["dashboard"], False), ("dashboard", demo["dashboard"], True),
                 ("filtered", demo["dashboard"] + "?period=30d&filters=visit:source%3D%3DGoogle", True),
                 ("tab", demo["dashboard"] + "?period=7d&pages=engagement&events=goals", True), ("shared", demo["share"], False)]
        for name, url, logged_in in pages:
            if logged_in and not context.cookies():
                page.goto(demo["dashboard"])
                page.fill("#token", demo["token"])
                page.click("#login")
                page.wait_for_selector("svg.chart")
            page.goto(url)
            page.wait_for_load_state("load")
            page.add_script_tag(path=str(AXE))
            result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                                   ".map(v => [v.id, v.impact, v.nodes.length])")
            found[name] = [v for v in result if v[1] in ("serious", "critical")]
        (artifacts / "axe.json").write_text(json.dumps(found, indent=1))
        assert all(not v for v in found.values()), found
    finally:
        context.close()
