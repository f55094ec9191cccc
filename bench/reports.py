"""Report benchmark: loads synthetic events into embedded ClickHouse (default 10 million, three
clients, 60 days), then times every dashboard query as spii runs it (the stats service, with
suppression follow-ups) next to the same numbers asked by hand on the raw table, in the same run,
each panel with and without cell-key perturbation (goal: under 10% slower), and measures the
perturbation's deviation over every cell of the dashboard (mean, mean absolute, maximum).
Target: every panel under 300 ms.

    .venv/bin/python bench/reports.py [--events 10000000] [--runs 5] [--engagement]

--events counts the events the sessions are made of; --engagement adds one engagement ping per
pageview on top (about 9 in 10 of them), as a site running Plausible's tracker has: the
Engagement panel, visit durations and exit pages then read the rows they read in production.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.reports.request import parse_request  # noqa: E402
from collector.privacy.keyring import IP, Epoch  # noqa: E402
from collector.reports.daily import Daily  # noqa: E402
from collector.reports import complement  # noqa: E402
from collector.reports.complement import SAMPLE  # noqa: E402
from collector.reports.kept import COUNT_SECONDS, KeptAnswers  # noqa: E402
from collector.reports.overview import build_overview, overview_calls, render_chunks, shown_panels  # noqa: E402
from collector.reports.ready import ask_dashboard, ready_worth  # noqa: E402
from collector.reports.page import PageFetch  # noqa: E402
from collector.reports.stats import Stats  # noqa: E402
from collector.reports.v2 import parse_v2  # noqa: E402
from collector.store.clickhouse import Store  # noqa: E402
from collector.tenants import Client  # noqa: E402

LAST_DAY = date(2026, 11, 21)
BIG = Client(client_id="c_big000000000", name="big", domains=["big.example"])

# Sessions of 3 consecutive events; 8 in 10 sessions belong to the big client; visitors return
# (session % 900k); paths, sources, devices skewed like real traffic.
LOAD = """
INSERT INTO spii.events (client_id, ts, kind, name, host, path, entry_page, referrer_host, referrer_source, utm_source,
    utm_medium, utm_campaign, browser, browser_version, os, os_version, device, postcode_area, country, key_id, ip_token,
    visitor_id, session_id, visit_event, visit_pageview, visit_seconds, revenue, currency, retention_days)
SELECT
    multiIf(session % 10 < 8, 'c_big000000000', session % 10 = 8, 'c_mid000000000', 'c_small0000000') AS client_id,
    toDateTime64('{start} 00:00:00', 3, 'UTC') + toIntervalMillisecond(number * {step_ms}) AS ts,
    multiIf(h % 100 < 90, 'pageview', h % 100 < 95, 'event', h % 100 < 98, 'transaction', h % 100 < 99, 'fulfilment', 'contact') AS kind,
    if(kind = 'event', 'Signup', toString(kind)) AS name,
    'big.example' AS host,
    concat('/p/', toString(toUInt32(pow((cityHash64(number, 'p') % 10000) / 10000, 3) * 2000))) AS path,
    concat('/p/', toString(toUInt32(pow((cityHash64(session * 3, 'p') % 10000) / 10000, 3) * 2000))) AS entry_page,
    arrayElement(['google.com', '', 't.co', 'bing.com', '', 'duckduckgo.com'], 1 + cityHash64(session, 'r') % 6) AS referrer_host,
    arrayElement(['Google', '', 'Twitter', 'Bing', 'Newsletter', 'DuckDuckGo'], 1 + cityHash64(session, 'r') % 6) AS referrer_source,
    if(referrer_source = 'Newsletter', 'newsletter', '') AS utm_source,
    if(referrer_source = 'Newsletter', 'email', '') AS utm_medium,
    if(referrer_source = 'Newsletter', concat('week-', toString(cityHash64(session, 'c') % 8)), '') AS utm_campaign,
    arrayElement(['Chrome', 'Safari', 'Firefox', 'Edge', 'Samsung Internet'], 1 + cityHash64(session, 'b') % 5) AS browser,
    toString(100 + cityHash64(session, 'bv') % 32) AS browser_version,
    arrayElement(['Windows', 'iOS', 'Android', 'Mac OS X', 'Linux'], 1 + cityHash64(session, 'o') % 5) AS os,
    toString(cityHash64(session, 'ov') % 15) AS os_version,
    arrayElement(['desktop', 'mobile', 'mobile', 'tablet'], 1 + cityHash64(session, 'd') % 4) AS device,
    if(kind = 'transaction', arrayElement(['SW1A', 'M1', 'EH1', 'B33', 'LS1', 'CF10', '100', '941', '1012'], 1 + cityHash64(number, 'pc') % 9), '') AS postcode_area,
    arrayElement(['GB', 'GB', 'GB', 'US', 'NL', 'DE', 'FR', 'IE'], 1 + cityHash64(session, 'cc') % 8) AS country,
    formatDateTime(ts, '%F') AS key_id,
    toIPv6(IPv6NumToString(toFixedString(concat(reinterpretAsFixedString(cityHash64(visitor_id, 't')), reinterpretAsFixedString(visitor_id)), 16))) AS ip_token,
    cityHash64(session % 900000, 'v') AS visitor_id,
    cityHash64(session, 's') AS session_id,
    toUInt16(number % 3 + 1) AS visit_event,
    toUInt16(if(kind = 'pageview', number % 3 + 1, 0)) AS visit_pageview,
    toUInt32(if(number % 3 = 0, 0, 10 + cityHash64(number, 'sec') % 200)) AS visit_seconds,
    if(kind = 'transaction', toDecimal64((cityHash64(number, 'm') % 10000) / 100, 4), toDecimal64(0, 4)) AS revenue,
    if(kind = 'transaction', 'GBP', '') AS currency,
    395 AS retention_days
FROM (SELECT number, intDiv(number, 3) AS session, cityHash64(number, 'k') AS h FROM numbers({events}))
"""


def per_epoch_ids(load: str, cookie_percent: int) -> str:
    """LOAD with visitor ids as spii's key scheme makes them (docs/design.md, "Keys"): a
    cookieless visitor's id is a keyed hash under the day's epoch key, so one person is a new id
    each day; ``cookie_percent`` of the people have a consented cookie, the same id every day
    (stored as cookie_hash too). (LOAD itself gives each person one id for all 60 days, as a site
    where everyone consented would.)"""
    person = "session % 900000"
    cookie = f"({person}) % 100 < {cookie_percent}"
    ids = (f"if({cookie}, cityHash64({person}, 'cookie'), cityHash64({person}, toDate(ts), 'v')) AS visitor_id, "
           f"if({cookie}, visitor_id, 0) AS cookie_hash")
    old = f"cityHash64({person}, 'v') AS visitor_id"
    assert old in load and "visitor_id, session_id" in load
    return load.replace(old, ids).replace("visitor_id, session_id", "visitor_id, cookie_hash, session_id", 1)


def day_epochs(first: date, last: date) -> list[Epoch]:
    """The keyring's 24-hour IP epochs of first..last, named as LOAD names its key ids."""
    out = []
    for n in range(first.toordinal(), last.toordinal() + 1):
        start = datetime.combine(date.fromordinal(n), datetime.min.time(), UTC)
        out.append(Epoch(start.date().isoformat(), IP, start, start + timedelta(days=1), start, wrapped="(not read)"))
    return out


# --engagement: one engagement ping per pageview, as Plausible's tracker sends when a page is left
# (its visit's columns, a scroll depth and an engaged time; the seconds it extends the visit by)
PINGS = """
INSERT INTO spii.events (client_id, ts, kind, name, host, path, entry_page, referrer_host, referrer_source, utm_source,
    utm_medium, utm_campaign, browser, browser_version, os, os_version, device, postcode_area, country, key_id, ip_token,
    visitor_id, session_id, visit_event, visit_pageview, visit_seconds, scroll_depth, engaged_ms, retention_days)
SELECT client_id, ts + toIntervalSecond(5 + cityHash64(session_id, ts, 'e') % 120), 'engagement', 'engagement', host, path,
    entry_page, referrer_host, referrer_source, utm_source, utm_medium, utm_campaign, browser, browser_version, os, os_version,
    device, postcode_area, country, key_id, ip_token, visitor_id, session_id, 0, 0, toUInt32(cityHash64(session_id, ts, 's') % 60),
    toUInt8(cityHash64(session_id, ts, 'd') % 101), toUInt32(1000 + cityHash64(session_id, ts, 'm') % 120000), retention_days
FROM spii.events WHERE kind = 'pageview'
"""

# The same numbers written by hand on the raw table, one statement per panel: no suppression, no
# follow-up queries, only the first metric of the panel.
WHERE = "client_id = 'c_big000000000' AND day BETWEEN '{first}' AND '{last}'"
HAND = {
    "aggregate": "SELECT uniq(visitor_id), countIf(visit_event = 1), countIf(kind = 'pageview'), count(), sumIf(revenue, kind = 'transaction') "
                 "FROM spii.events WHERE {where}",
    "timeseries": "SELECT day d, uniq(visitor_id), countIf(kind = 'pageview') FROM spii.events WHERE {where} GROUP BY d ORDER BY d",
    "visit": "SELECT {col}, count(), uniq(v) FROM (SELECT session_id, any(visitor_id) v, {inner} AS {col} FROM spii.events "
             "WHERE {where} GROUP BY session_id) GROUP BY {col} ORDER BY 2 DESC LIMIT 10",
    "breakdown": "SELECT {col}, uniq(visitor_id) u FROM spii.events WHERE {where} GROUP BY {col} ORDER BY u DESC LIMIT 10",
}


def hand_sql(name: str, query: dict[str, str], where: str) -> str:
    if name == "aggregate":
        return HAND["aggregate"].format(where=where)
    if name in ("timeseries", "previous"):
        return HAND["timeseries"].format(where=where)
    prop = query["property"]
    col = {"event:page": "path", "visit:entry_page": "entry_page", "visit:source": "referrer_source", "visit:referrer": "referrer_host",
           "event:name": "name", "event:goal": "name"}.get(prop, prop.split(":")[-1])
    if prop == "visit:exit_page":
        return HAND["visit"].format(col="exit_page", inner="argMax(path, ts)", where=where)
    return HAND["breakdown"].format(col=col, where=where)


COUNTS = ("visitors", "visits", "pageviews", "events", "transactions", "fulfilments", "contacts")


def cell_deviations(noisy: dict, exact: dict) -> list[int]:
    """Perturbed minus exact, for every count shown by both answers (rows matched by label)."""
    if "results" in noisy and isinstance(noisy["results"], dict):  # an aggregate
        return [noisy["results"][m]["value"] - exact["results"][m]["value"] for m in COUNTS
                if m in noisy["results"] and noisy["results"][m]["value"] is not None and exact["results"][m]["value"] is not None]
    def label(row: dict) -> str:
        return str(row.get("date", next((v for k, v in row.items() if k not in COUNTS and not isinstance(v, (int, float, bool))), "")))
    truth = {label(r): r for r in exact["results"]}
    out = []
    for row in noisy["results"]:
        other = truth.get(label(row))
        if other is not None and not row.get("other"):
            out += [row[m] - other[m] for m in COUNTS if isinstance(row.get(m), int) and isinstance(other.get(m), int)]
    return out


def with_sample(sample: int) -> None:
    """The complement rule's sampled pass counts one person in ``sample`` (1: every label counted in full)."""
    complement.SAMPLE = sample


def strip_generated(page: dict) -> dict:
    """A page document without the moments it was made at (two computations of one page compare equal)."""
    return {key: value for key, value in page.items() if key not in ("generated", "receiving")}


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--period", default="30d")
    parser.add_argument("--engagement", action="store_true",
                        help="add one engagement ping per pageview (Plausible's tracker sends one when a page is left)")
    parser.add_argument("--cookie-percent", type=int, default=10,
                        help="the people with a consented cookie (the same visitor id every day); the others get a new id each day")
    parser.add_argument("--one-id-per-person", action="store_true",
                        help="one visitor id per person for all 60 days, as the figures before 2026-12-03 were measured (no spii.daily)")
    parser.add_argument("--only-closed-days", action="store_true",
                        help="only the closing section: the dashboard added up from spii.daily against scanned and by hand (for 100M events)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="spii-bench-reports-"))
    store = Store(f"chdb://{tmp}/clickhouse")
    store.migrate()
    days = 60
    start = date.fromordinal(LAST_DAY.toordinal() - days + 1)
    t0 = time.perf_counter()
    load = LOAD if args.one_id_per_person else per_epoch_ids(LOAD, args.cookie_percent)
    store.command(load.format(start=start, step_ms=days * 86_400_000 // args.events, events=args.events))
    if args.engagement:
        store.command(PINGS)
    store.command("OPTIMIZE TABLE spii.events FINAL")
    load_s = time.perf_counter() - t0
    rows, big, pings, disk = store.query("SELECT count(), countIf(client_id = 'c_big000000000'), countIf(kind = 'engagement'), "
                                  "(SELECT sum(data_compressed_bytes) FROM system.parts WHERE active AND table = 'events') FROM spii.events")[0]
    print(f"report benchmark: {rows:,} events ({big:,} of the big client, {pings:,} engagement pings) over {days} days, loaded + merged in {load_s:.1f} s, "
          f"{disk / rows:.1f} compressed bytes/event; {os.cpu_count()} cpus, embedded chDB; {args.runs} runs per query, "
          f"period {args.period} ending {LAST_DAY}; visitor ids "
          + ("one per person" if args.one_id_per_person else f"per day's epoch, {args.cookie_percent}% of people with a consented cookie"))

    # as spii serves it, counts perturbed; every pass timed (the period is closed: kept answers would answer runs 2+ from memory)
    stats = Stats(store, record_secret=lambda client_id: 0x5EC2E7, kept=False)
    exact = Stats(store, kept=False)  # the baseline: the same service without perturbation
    calls = overview_calls(args.period, LAST_DAY.isoformat())
    req0 = parse_request(calls[0][2])
    where = WHERE.format(first=req0.period.first, last=req0.period.last) + (" AND kind != 'engagement'" if args.engagement else "")

    def ask(service: Stats, endpoint: str, query: dict[str, str]) -> dict:
        return getattr(service, endpoint)(BIG, parse_request(query))

    def dashboard(service: Stats) -> list:
        """Every answer of the dashboard, as the overview asks them."""
        return [ask(service, e, q) for _, e, q in calls]

    def page(service: Stats, lazy_panels: bool = False, filters: str = "", panels: list[str] | None = None) -> dict:
        """The dashboard as the page asks it: questions over the same rows in one pass each (reports/together.py);
        ``panels``: only those (the dashboard's tabbed cards ask one panel per card)."""
        fetch = PageFetch(service, BIG, parse_request)
        return build_overview(fetch, {"name": BIG.name, "client_id": BIG.client_id}, args.period, LAST_DAY.isoformat(),
                              lazy_panels=lazy_panels, expect=fetch.expect, filters=filters, panels=panels)

    if args.only_closed_days:
        closed_days(store, args, calls, stats, page, ask, where)
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)
        return

    print(f"{'panel':22} {'spii p50 ms':>12} {'spii max':>9} {'exact p50':>10} {'cost':>6} {'by hand p50':>12} {'ratio':>6}  target < 300 ms")
    worst, deviations = 0.0, []
    totals = {"spii": 0.0, "exact": 0.0}
    for name, endpoint, query in calls:
        req = parse_request(query)
        spii = timed(lambda: getattr(stats, endpoint)(BIG, req), args.runs)
        plain = timed(lambda: getattr(exact, endpoint)(BIG, req), args.runs)
        sql = hand_sql(name, query, where)
        hand = timed(lambda: store.query(sql), args.runs)
        p50, p50e, p50h = statistics.median(spii), statistics.median(plain), statistics.median(hand)
        totals["spii"] += p50
        totals["exact"] += p50e
        worst = max(worst, p50)
        print(f"{name:22} {p50:12.1f} {max(spii):9.1f} {p50e:10.1f} {p50 / p50e - 1:+6.0%} {p50h:12.1f} {p50 / p50h:6.2f}  "
              f"{'ok' if p50 < 300 else 'OVER'}")
        deviations += cell_deviations(getattr(stats, endpoint)(BIG, req), getattr(exact, endpoint)(BIG, req))
    # Stats API v2 next to v1, the same numbers asked both ways
    first, last = req0.period.first.isoformat(), req0.period.last.isoformat()
    for name, v1_call, body in (
            ("aggregate", lambda: stats.aggregate(BIG, parse_request({"period": "custom", "date": f"{first},{last}",
                                                                     "metrics": "visitors,pageviews,bounce_rate"})),
             {"metrics": ["visitors", "pageviews", "bounce_rate"], "date_range": [first, last]}),
            ("breakdown by page", lambda: stats.breakdown(BIG, parse_request({"period": "custom", "date": f"{first},{last}", "property": "event:page",
                                                                              "metrics": "visitors,pageviews", "limit": "10"})),
             {"metrics": ["visitors", "pageviews"], "date_range": [first, last], "dimensions": ["event:page"], "pagination": {"limit": 10}})):
        query = parse_v2(body)
        v1_ms = statistics.median(timed(v1_call, args.runs))
        v2_ms = statistics.median(timed(lambda: stats.query_v2(BIG, query), args.runs))
        print(f"stats API v2 {name:18} p50 {v2_ms:7.1f} ms; v1 {v1_ms:7.1f} ms")

    full, together = [], []
    for _ in range(args.runs):  # interleaved: the machine's speed drifts
        full += timed(lambda: dashboard(stats), 1)
        together += timed(lambda: page(stats), 1)
    print(f"slowest panel p50 {worst:.1f} ms; whole dashboard ({len(calls)} calls, one at a time) p50 {statistics.median(full):.0f} ms; "
          f"as the page asks them (11 fewer queries: reports/together.py) p50 {statistics.median(together):.0f} ms; "
          f"perturbation costs {totals['spii'] / totals['exact'] - 1:+.1%} over the sum of panel p50s")
    # a country clicked: the complement rule's checks sampled first (reports/complement.py), against counting them in
    # full (a sample of one: every label's exact count) in the same run, interleaved; the same page either way
    clicked = "visit:country==GB"
    sampled_ms, full_ms, pages = [], [], []
    for _ in range(args.runs):
        sampled_ms += timed(lambda: pages.append(page(stats, filters=clicked)), 1)
        with_sample(1)
        full_ms += timed(lambda: pages.append(page(stats, filters=clicked)), 1)
        with_sample(SAMPLE)
    same = all(strip_generated(p) == strip_generated(pages[0]) for p in pages)
    print(f"dashboard filtered by {clicked}, as the page asks it: p50 {statistics.median(sampled_ms):.0f} ms with the complement rule "
          f"sampled first, {statistics.median(full_ms):.0f} ms counted in full; same page: {'yes' if same else 'NO'}")
    # as the dashboard page is sent (http/streamed.py): its head (totals, chart) first, then each panel as it is computed
    t0 = time.perf_counter()
    streamed = page(stats, lazy_panels=True)
    head_ms = (time.perf_counter() - t0) * 1000
    html = "".join(render_chunks(streamed, interactive=True))
    print(f"dashboard page as sent: its head (totals, chart, previous period) after {head_ms:.0f} ms, the whole page after "
          f"{(time.perf_counter() - t0) * 1000:.0f} ms ({len(html) // 1024} KiB)")
    # as `spii serve` answers a closed period asked again (reports/kept.py): one count per answer
    kept = Stats(store, record_secret=lambda client_id: 0x5EC2E7)
    first_view = timed(lambda: page(kept), 1)[0]
    again = []
    for _ in range(args.runs):
        time.sleep(COUNT_SECONDS + 0.1)  # a reload a moment later: each answer's row count is asked again
        again += timed(lambda: page(kept), 1)
    same = dashboard(kept) == dashboard(stats)
    print(f"whole dashboard of this closed period with its answers kept: first view {first_view:.0f} ms, asked again p50 "
          f"{statistics.median(again):.0f} ms; same answers as computed: {'yes' if same else 'NO'}")
    # as `spii serve` answers the same 30 days while today is in them (reports/kept.py): a big
    # client's answers kept for SPII_REPORT_FRESH_SECONDS, then recomputed (ahead, while watched)
    today_in_it = Stats(store, record_secret=lambda client_id: 0x5EC2E7,
                        kept=KeptAnswers(store, clock=lambda: datetime.combine(LAST_DAY, datetime.min.time(), UTC), fresh_seconds=60))
    first_open = timed(lambda: page(today_in_it), 1)[0]
    again_open = timed(lambda: page(today_in_it), args.runs)
    same = dashboard(today_in_it) == dashboard(stats)
    print(f"whole dashboard with today in its period (SPII_REPORT_FRESH_SECONDS=60): first view {first_open:.0f} ms, asked again "
          f"within 60 s p50 {statistics.median(again_open):.0f} ms; same answers as computed: {'yes' if same else 'NO'}")
    # as `spii serve` keeps a big client's dashboard ready (reports/ready.py, SPII_REPORT_READY_PERIODS): counted ahead by
    # the collector itself, so the analyst's first view is answered from memory
    ready = Stats(store, record_secret=lambda client_id: 0x5EC2E7,
                  kept=KeptAnswers(store, clock=lambda: datetime.combine(LAST_DAY, datetime.min.time(), UTC), fresh_seconds=60))
    worth = ready_worth(ready, BIG, args.period, LAST_DAY)
    ahead_ms = ask_dashboard(ready, BIG, args.period, parse_request, LAST_DAY.isoformat()) * 1000
    first_views = timed(lambda: page(ready), args.runs)
    slowest_ready = max(statistics.median(timed(lambda: ask(ready, e, q), args.runs)) for _, e, q in calls)
    same = dashboard(ready) == dashboard(stats)
    print(f"whole dashboard kept ready (reports/ready.py; a big client: {'yes' if worth else 'NO'}): counted ahead by the collector in "
          f"{ahead_ms:.0f} ms, then the analyst's first view p50 {statistics.median(first_views):.0f} ms, its slowest panel alone "
          f"{slowest_ready:.1f} ms; same answers as computed: {'yes' if same else 'NO'}")
    if not args.one_id_per_person:
        closed_days(store, args, calls, stats, page, ask, where)
    if deviations:
        print(f"perturbation over {len(deviations):,} shown counts: mean adjustment {statistics.mean(deviations):+.3f}, "
              f"mean |adjustment| {statistics.mean(map(abs, deviations)):.2f}, max |adjustment| {max(map(abs, deviations))}, "
              f"unchanged {deviations.count(0) / len(deviations):.0%}")
    store.close()
    shutil.rmtree(tmp, ignore_errors=True)


def closed_days(store: Store, args: argparse.Namespace, calls: list, stats: Stats, page, ask, where: str) -> None:
    """The same dashboard with its closed days written to spii.daily (reports/daily.py), as
    `spii serve` writes them for a big client's ready periods: each panel alone and the whole
    page against the same asked of the events, and the panel's first number by hand (HAND), in
    the same run, interleaved."""
    period = parse_request(calls[0][2]).period
    daily = Daily(store, epochs=lambda: day_epochs(period.previous().first, LAST_DAY))
    t0 = time.perf_counter()
    written = daily.roll_closed(BIG.client_id, period.previous().first, period.last, 395, LAST_DAY + timedelta(days=1))
    roll_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    daily.compact()  # (as spii serve does after a ready round that wrote days)
    compact_s = time.perf_counter() - t0
    size, rows = store.query("SELECT sum(data_compressed_bytes), sum(rows) FROM system.parts WHERE active AND table = 'daily'")[0]
    added = Stats(store, record_secret=lambda client_id: 0x5EC2E7, kept=False, daily=daily)
    print(f"closed days written to spii.daily: {written} days of the big client in {roll_s:.1f} s (merged into one part in "
          f"{compact_s:.1f} s), {rows:,} rows, {size / 1e6:.1f} MB")
    print(f"{'panel':22} {'added up p50':>13} {'scanned p50':>12} {'by hand p50':>12}")
    slowest = 0.0
    for name, endpoint, query in calls:
        with_daily = statistics.median(timed(lambda: ask(added, endpoint, query), args.runs))
        scanned = statistics.median(timed(lambda: ask(stats, endpoint, query), args.runs))
        sql = hand_sql(name, query, where)
        hand = statistics.median(timed(lambda: store.query(sql), args.runs))
        slowest = max(slowest, with_daily)
        print(f"{name:22} {with_daily:13.1f} {scanned:12.1f} {hand:12.1f}")
    # the process's first pages: the readers' connections opened (Store.query_at_once), and ClickHouse compiles an
    # aggregation it sees the third time (compile_aggregate_expressions): once per process, then steady
    first = timed(lambda: page(added), 3)
    added_ms, scanned_ms = [], []
    for _ in range(args.runs):  # interleaved: the machine's speed drifts
        added_ms += timed(lambda: page(added), 1)
        scanned_ms += timed(lambda: page(stats), 1)
    numbers, differ, largest, other = differences(strip_generated(page(added)), strip_generated(page(stats)))
    # the page asked back to back, as each panel alone was (a scan in between evicts what the page's query reads from caches)
    back_to_back = statistics.median(timed(lambda: page(added), args.runs))
    print(f"whole dashboard with its closed days added up: p50 {statistics.median(added_ms):.0f} ms each after a scanned one, "
          f"{back_to_back:.0f} ms asked back to back as the panels were (slowest panel alone {slowest:.1f} ms: "
          f"{statistics.median(added_ms) / slowest:.1f}x and {back_to_back / slowest:.1f}x; the process's first three "
          f"{', '.join(f'{ms:.0f}' for ms in first)} ms), "
          f"scanned p50 {statistics.median(scanned_ms):.0f} ms; of its {numbers} numbers {differ} differ, those of 100 or more by at most {largest:.2%}, "
          f"and {other} rows or values are in one only (a row shown or hidden): the scan's uniq is approximate past "
          f"65,536 visitors a row, the days' counts exact")
    # the dashboard's tabbed cards ask one panel per card (its default tabs), against the whole page of every panel
    # (the export's, and the dashboard's before the tabs), in the same run, interleaved
    tabs = shown_panels({})
    tabbed_ms, whole_ms, tabbed_scanned_ms = [], [], []
    for _ in range(args.runs):
        tabbed_ms += timed(lambda: page(added, panels=tabs), 1)
        whole_ms += timed(lambda: page(added), 1)
        tabbed_scanned_ms += timed(lambda: page(stats, panels=tabs), 1)
    print(f"dashboard with tabbed cards ({len(tabs)} panels, the default tabs): p50 {statistics.median(tabbed_ms):.0f} ms with closed days "
          f"added up, {statistics.median(tabbed_scanned_ms):.0f} ms scanned; every panel (the page before the tabs, and the export) "
          f"p50 {statistics.median(whole_ms):.0f} ms, same run")


def differences(a, b) -> tuple[int, int, float, int]:
    """Two documents compared: their numbers, those that differ, the largest relative difference,
    and the other values that differ (or the parts whose shape does)."""
    if isinstance(a, list) and isinstance(b, list) and all(isinstance(r, dict) for r in a + b) and a + b:
        # a panel's rows: matched by their label (the first text in each), whichever order they are in
        def by_label(rows: list) -> dict:
            return {next((v for v in r.values() if isinstance(v, str)), n): r for n, r in enumerate(rows)}
        left, right = by_label(a), by_label(b)
        found = [differences(left[k], right[k]) for k in left.keys() & right.keys()] + [(0, 0, 0.0, 1)] * len(left.keys() ^ right.keys())
    elif isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        found = [differences(a[k], b[k]) for k in a]
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        found = [differences(x, y) for x, y in zip(a, b)]
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        # (the largest relative difference among numbers of 100 or more: a change of 0% against -1% is not "100%")
        return (1, 0, 0.0, 0) if a == b else (1, 1, abs(a - b) / abs(b) if abs(b) >= 100 else 0.0, 0)
    else:
        return (0, 0, 0.0, 0) if a == b else (0, 0, 0.0, 1)
    return (sum(f[0] for f in found), sum(f[1] for f in found), max((f[2] for f in found), default=0.0), sum(f[3] for f in found))


if __name__ == "__main__":
    main()
