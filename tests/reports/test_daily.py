"""Closed days counted once (reports/daily.py) on real embedded ClickHouse: with visitor ids as
the key scheme makes them (a cookieless id per day's epoch, a consented cookie's hash every day,
a two-day epoch's ids on both its days, orders of fulfilments with no visitor, engagement pings),
the dashboard added up from spii.daily is the dashboard scanned from the events, number for
number; a late event, an erasure, a filter or a retention cut falls back to the events; today is
never written."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest

from collector.reports.request import parse_request
from collector.privacy.keyring import IP, Epoch
from collector.reports.catalogue import available_for_visits, columns_for
from collector.reports.daily import Daily, Days, rolled_days
from collector.reports.overview import build_overview
from collector.reports.periods import Period
from collector.reports.query import complement_query, grouped_event_query, grouped_rows, parse_filters, visit_query
from collector.reports.ready import ask_dashboard, roll_closed_days
from collector.reports.stats import Stats
from collector.reports.page import PageFetch
from collector.tenants import Client
from tests.reports.stores import loaded

TODAY = datetime.now(UTC).date()
C = Client(client_id="c_daily0000000", name="daily", domains=["daily.example"], k=5)
TWO_DAY = TODAY - timedelta(days=12)  # an epoch of 48 hours: its ids are on this day and the next


def _key_id(day) -> str:
    return str(TWO_DAY) if day in (TWO_DAY, TWO_DAY + timedelta(days=1)) else str(day)


def _epochs() -> list[Epoch]:
    out = []
    for n in range(70):
        day = TODAY - timedelta(days=n)
        if day == TWO_DAY + timedelta(days=1):
            continue
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        length = timedelta(days=2 if day == TWO_DAY else 1)
        out.append(Epoch(_key_id(day), IP, start, start + length, start, wrapped="(not read)"))
    return out


def _row(day, step: int, person: int, visit: dict, **fields) -> bytes:
    cookie = person % 7 == 0  # a consented cookie: the same id every day
    visitor = 10_000_000 + person if cookie else int.from_bytes(hashlib.blake2b(f"{person}/{_key_id(day)}".encode(), digest_size=6).digest(), "big")
    return orjson.dumps({
        "client_id": C.client_id, "ts": f"{day} 10:{step:02d}:{30 if fields.get('kind') == 'engagement' else 0:02d}.000",
        "host": "daily.example", "key_id": _key_id(day), "visitor_id": visitor, "cookie_hash": visitor if cookie else 0,
        # (a consented visitor's visit now and then runs past midnight: the same visit on two days)
        "session_id": visitor * 10 + (day.toordinal() // 2 if cookie else day.toordinal()) % 10, "visit_event": step + 1, "visit_pageview": step + 1,
        "visit_seconds": 30 * step, "retention_days": 395, **visit, **fields}) + b"\n"


def _events(seed: int = 11, people: int = 300) -> bytes:
    rnd = random.Random(seed)
    lines = []
    for person in range(1, people + 1):
        visit = {"referrer_source": rnd.choice(["Google", "", "", "Bing", "Ecosia"]), "country": rnd.choice(["GB", "GB", "US", "DE"]),
                 "device": rnd.choice(["Desktop", "Mobile"]), "browser": rnd.choice(["Chrome", "Firefox", "Safari"]),
                 "os": rnd.choice(["Windows", "Android", "iOS"]), "utm_source": rnd.choice(["", "", "news"]),
                 "region": "GB-ENG", "entry_page": rnd.choice(["/", "/a", "/b"])}
        for day in sorted({TODAY - timedelta(days=rnd.randrange(0, 45)) for _ in range(rnd.randint(1, 4))}):  # (a set's order is per process)
            for step in range(rnd.randint(1, 4)):
                kind = rnd.choice(["pageview", "pageview", "pageview", "event", "transaction"])
                lines.append(_row(day, step, person, visit, kind=kind, name="Signup" if kind == "event" else kind,
                                  path=rnd.choice(["/", "/a", "/b", "/c"]), order_id=f"o{person}-{day}" if kind == "transaction" else "",
                                  revenue="9.5" if kind == "transaction" else "0", currency="EUR" if kind == "transaction" else ""))
                if kind == "pageview" and rnd.random() < 0.4:  # its engagement ping, now and then on a page no event has
                    lines.append(_row(day, step, person, visit, kind="engagement", name="engagement", visit_event=0, visit_pageview=0,
                                      path="/pinged-only" if rnd.random() < 0.1 else "/a", visit_seconds=30 * step + 20,
                                      scroll_depth=rnd.randrange(10, 100), engaged_ms=rnd.randrange(1000, 60000)))
    for n in range(40):  # a shop's fulfilments: no visitor, their orders counted as people
        day = TODAY - timedelta(days=n % 30)
        lines.append(orjson.dumps({"client_id": C.client_id, "ts": f"{day} 12:00:00.000", "kind": "fulfilment", "name": "fulfilment",
                                   "order_id": f"order{n % 25}", "fulfilment_status": "shipped", "retention_days": 395}) + b"\n")
    return b"".join(lines)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    yield from loaded(tmp_path_factory, "daily", _events())


@pytest.fixture
def daily(store):
    daily = Daily(store, epochs=_epochs)
    daily.forget(C.client_id)
    yield daily
    daily.forget(C.client_id)


def _page(store, daily: Daily | None, period: str = "30d", filters: str = "", lazy: bool = False) -> tuple[dict, int]:
    stats = Stats(store, record_secret=lambda client_id: 0x5EC2E7, kept=False, daily=daily)
    fetch = PageFetch(stats, C, parse_request)
    page = build_overview(fetch, {"name": C.name}, period, filters=filters, expect=fetch.expect, lazy_panels=lazy)
    page["panels"] = list(page["panels"])
    page.pop("generated")
    page["receiving"].pop("as_of")
    return page, fetch.together.from_daily


def _first_difference(a, b, at: str = "") -> str:
    """Where two documents first differ (for a failing comparison's message)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{at}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for n, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{at}[{n}]")
    return f"{at}: {a!r} != {b!r}"


def test_the_dashboard_added_up_from_closed_days_is_the_dashboard_scanned(store, daily):
    scanned, _ = _page(store, None)
    assert daily.roll_closed(C.client_id, TODAY - timedelta(days=59), TODAY, 395, TODAY) >= 40
    assert daily.roll_closed(C.client_id, TODAY - timedelta(days=59), TODAY, 395, TODAY) == 0  # all written, none stale
    added, from_daily = _page(store, daily)
    assert from_daily == 1  # the whole page's questions in one query (Daily.page_rows)
    assert added == scanned, _first_difference(added, scanned)
    assert _page(store, daily, lazy=True) == (scanned, 2)  # streamed: the head's query, then the panels'
    # the days' parts merged into one per table (as spii serve does after a ready round that wrote days): the same page
    parts = "SELECT table, count() FROM system.parts WHERE active AND database = 'spii' AND table LIKE 'daily%' GROUP BY table"
    assert max(n for _, n in store.query(parts)) > 1
    assert daily.compact() and not daily.compact()  # (nothing written since)
    assert {n for _, n in store.query(parts)} == {1} and _page(store, daily) == (scanned, 1)

    panels = {p["title"]: p for p in added["panels"]}
    assert panels["Sources"]["results"][0]["visitors"] > 10 and panels["Devices"]["results"]
    # any period of the written days, today counted from the events (here a seventh of the week's rows: allowed up to half)
    week = Daily(store, epochs=_epochs, at_most_unrolled=1 / 2)
    assert _page(store, week, "7d") == (_page(store, None, "7d")[0], 1)


def test_every_cell_of_the_pass_is_the_scan_s(store, daily):
    daily.roll_closed(C.client_id, TODAY - timedelta(days=59), TODAY, 395, TODAY)
    stats = Stats(store, record_secret=lambda client_id: 0x5EC2E7, kept=False)
    scope = stats.scope(C, Period(TODAY - timedelta(days=29), TODAY), [])
    visit_groups = ["referrer_source", "country", "device", "if(session_id != 0, entry_page, NULL)", "day", None]
    event_groups = ["path", "name", "fulfilment_status"]
    metrics = ["visitors", "pageviews", "events", "transactions", "revenue", "fulfilments", "conversion_rate"]
    visit_level = [*metrics, "visits", "bounce_rate", "views_per_visit", "visit_duration"]
    engagement = ["visitors", "scroll_depth", "time_on_page"]  # the Engagement panel: its pings' scroll depth and time
    for groups, asked in ((visit_groups, visit_level), ([None], visit_level), (["path"], engagement), (event_groups, metrics)):
        added_up = daily.family_query(scope, groups, columns_for(asked, True))
        assert added_up is not None
        scanned = grouped_rows(groups, store.query_dicts(*grouped_event_query(scope, groups, asked)))
        assert grouped_rows(groups, store.query_dicts(*added_up)) == scanned
        assert all(scanned[g] for g in groups)
    assert scanned["fulfilment_status"]["shipped"]["people"] == 25  # orders with no visitor are people too
    for kind, group in (("pageview", "path"), ("fulfilment", "fulfilment_status")):  # the panels filtered to one kind
        only = stats.scope(C, scope.period, parse_filters(f"event:kind=={kind}"))
        added_up = daily.family_query(only, [group], columns_for(metrics, True))
        assert added_up is not None
        scanned = grouped_rows([group], store.query_dicts(*grouped_event_query(only, [group], metrics)))
        assert grouped_rows([group], store.query_dicts(*added_up)) == scanned and scanned[group]
        # the complement rule's exact count (people outside the kind per label), as its own exact pass counts it
        exact = {row["label"]: row["everyone"] - row["inside"] for row in store.query_dicts(*complement_query(only, group, list(scanned[group])))}
        assert daily.left_out(only, group) == exact and (any(exact.values()) or kind == "fulfilment")  # (a status is a fulfilment's only)
    # a page's questions at once (Daily.page_rows, two periods): each ask's rows as its own family_query gives them
    asks = [(scope, visit_groups, columns_for(visit_level, True)), (scope, ["path"], columns_for(engagement, True)),
            (stats.scope(C, scope.period, parse_filters("event:kind==pageview")), ["path"], columns_for(metrics, True)),
            (stats.scope(C, scope.period, []), ["path"], ["people"]), (stats.scope(C, scope.period.previous(), []), [None, "day"],
                                                                        columns_for(visit_level, True))]
    together = daily.page_rows(asks)
    assert sorted(together) == list(range(len(asks)))
    for n, (asked_scope, groups, columns) in enumerate(asks):
        alone = grouped_rows(groups, store.query_dicts(*daily.family_query(asked_scope, groups, columns)))
        assert {g: {label: {c: row[c] for c in columns} for label, row in rows.items()} for g, rows in together[n].items()} == alone
        assert all(alone[g] for g in groups)
    assert daily.page_rows([(stats.scope(C, scope.period, parse_filters("visit:country==GB")), ["path"], ["visitors"])]) == {}
    # the exit pages: day-bound visits added up, the others joined from their days' parts
    visit_metrics = [m for m in visit_level if available_for_visits(m)]
    for period in (scope.period, Period(TODAY - timedelta(days=6), TODAY)):  # (a week: a visit of two days cut by its first)
        exits = stats.scope(C, period, [])
        added_up = Daily(store, epochs=_epochs, at_most_unrolled=1 / 2).family_query(exits, ["exit_page"], columns_for(visit_metrics, True))
        assert added_up is not None
        scanned = {row.pop("label"): row for row in store.query_dicts(*visit_query(exits, "exit_page", visit_metrics))}
        assert grouped_rows(["exit_page"], store.query_dicts(*added_up))["exit_page"] == scanned and len(scanned) >= 4
        columns = columns_for(visit_metrics, True)  # (and with a page's other questions, in its one query)
        together = Daily(store, epochs=_epochs, at_most_unrolled=1 / 2).page_rows([(exits, ["country"], ["visitors"]), (exits, ["exit_page"], columns)])
        assert {label: {c: row[c] for c in columns} for label, row in together[1]["exit_page"].items()} == scanned
    assert store.query("SELECT countIf(sessions > 1) FROM (SELECT session_id, uniqExact(day) AS sessions FROM spii.daily_visits "
                       "GROUP BY session_id)")[0][0] > 0  # (visits run past midnight)
    assert daily.family_query(stats.scope(C, scope.period, parse_filters("event:kind==pageview|event")), ["path"], ["visitors"]) is None
    assert daily.family_query(scope, event_groups, columns_for(["visits"], True)) is None  # distinct sessions: not held


def test_a_late_event_or_an_erasure_is_counted_from_the_events(store, daily):
    daily.roll_closed(C.client_id, TODAY - timedelta(days=59), TODAY, 395, TODAY)
    late_day = TODAY - timedelta(days=3)
    rolled = rolled_days(store, C.client_id, late_day, late_day).rolled
    assert rolled == {late_day}
    store.insert_segment(_row(late_day, 9, 99_999, {"referrer_source": "Late", "country": "GB"}, kind="pageview", name="pageview",
                              path="/late"), "daily-late")
    assert rolled_days(store, C.client_id, late_day, late_day).rolled == set()  # its row count changed: stale
    added, from_daily = _page(store, daily)
    assert from_daily == 1 and added == _page(store, None)[0]
    assert daily.roll_closed(C.client_id, TODAY - timedelta(days=59), TODAY, 395, TODAY) == 1  # written anew

    def seen(first: date, last: date) -> Days:
        daily.changed()
        return daily._rolled_days(C.client_id, first, last)  # (from what was recorded and one count, while no day changed)

    month = (TODAY - timedelta(days=29), TODAY)
    assert seen(*month) == rolled_days(store, C.client_id, *month, daily._every_day_key()) and TODAY in seen(*month).unrolled
    store.insert_segment(_row(late_day, 10, 99_998, {"country": "GB"}, kind="pageview", name="pageview", path="/late"), "daily-late-2")
    assert late_day not in seen(*month).rolled and seen(*month) == rolled_days(store, C.client_id, *month, daily._every_day_key())
    daily.roll_closed(C.client_id, TODAY - timedelta(days=59), TODAY, 395, TODAY)
    store.delete_events("client_id = {c:String} AND path = '/late'", {"c": C.client_id})  # (a deletion no erasure made)
    assert late_day not in seen(*month).rolled and seen(*month) == rolled_days(store, C.client_id, *month, daily._every_day_key())
    daily.forget(C.client_id)  # (what an erasure does: subjects/service.py)
    assert store.query("SELECT count() FROM spii.daily WHERE client_id = {c:String}", {"c": C.client_id})[0][0] == 0
    page, from_daily = _page(store, daily)
    assert from_daily == 0 and page == _page(store, None)[0]


def test_a_backfilled_event_is_counted_from_the_events(store, daily):
    """An operator's backfill dates a row days before its key's day (ingest/pipeline.py): its
    visitor is on both days, so a period holding that row scans, whether the day is written or not."""
    daily.roll_closed(C.client_id, TODAY - timedelta(days=59), TODAY, 395, TODAY)
    stats = Stats(store, kept=False)
    week = stats.scope(C, Period(TODAY - timedelta(days=6), TODAY), [])
    yesterday = TODAY - timedelta(days=1)
    assert daily.family_query(week, ["country", None], ["visitors", "people"]) is not None
    line = orjson.loads(_row(yesterday, 5, 78, {"country": "GB"}, kind="pageview", name="pageview", path="/backfilled"))
    line["key_id"] = str(TODAY)  # (the key of the day it was sent)
    store.insert_segment(orjson.dumps(line) + b"\n", "daily-backfill")
    try:
        daily.changed()
        assert daily.family_query(week, ["country", None], ["visitors", "people"]) is None  # its day unwritten: counted
        daily.roll_closed(C.client_id, TODAY - timedelta(days=59), TODAY, 395, TODAY)
        assert store.query("SELECT backdated FROM spii.daily_days FINAL WHERE client_id = {c:String} AND day = {d:Date}",
                           {"c": C.client_id, "d": yesterday})[0][0] == 1
        assert daily.family_query(week, ["country", None], ["visitors", "people"]) is None  # written: as written
        assert daily.family_query(week, ["exit_page"], ["visitors", "people"]) is None
        # (the week before holds no backfill: its totals and daily line, the comparison, are added up)
        assert _page(store, daily, "7d") == (_page(store, None, "7d")[0], 1)
        earlier = stats.scope(C, Period(TODAY - timedelta(days=29), TODAY - timedelta(days=2)), [])
        assert daily.family_query(earlier, ["country", None], ["visitors", "people"]) is not None  # a period without it
    finally:
        store.command("DELETE FROM spii.events WHERE client_id = {c:String} AND path = '/backfilled'", {"c": C.client_id})


def test_today_is_never_written_and_a_filtered_or_cut_pass_scans(store, daily):
    daily.roll_closed(C.client_id, TODAY - timedelta(days=59), TODAY, 395, TODAY)
    assert store.query("SELECT count() FROM spii.daily_days WHERE client_id = {c:String} AND day >= {d:Date}",
                       {"c": C.client_id, "d": TODAY})[0][0] == 0
    stats = Stats(store, kept=False)
    period = Period(TODAY - timedelta(days=29), TODAY)
    groups = ["country", "device", None]
    assert daily.family_query(stats.scope(C, period, []), groups, ["visitors", "people"]) is not None
    assert daily.family_query(stats.scope(C, period, parse_filters("visit:country==GB")), groups, ["visitors", "people"]) is None
    assert daily.family_query(stats.scope(C, period, []), groups, ["visitors", "people", "scroll_depth"]) is not None
    cut = Client(client_id=C.client_id, name=C.name, domains=C.domains, k=5, retention_days=20)  # the cut runs through the period
    assert daily.family_query(stats.scope(cut, period, []), groups, ["visitors", "people"]) is None
    assert _page(store, daily, filters="visit:country==GB")[1] == 0


def test_keeping_a_dashboard_ready_writes_its_closed_days_first(store, daily):
    """spii serve's ready round (reports/ready.py) writes the closed days of the period and of
    the one before it (the comparison), then counts the page: from them."""
    stats = Stats(store, record_secret=lambda client_id: 0x5EC2E7, kept=False, daily=daily)
    ask_dashboard(stats, C, "30d", parse_request)
    written = store.query("SELECT count(), min(day), max(day) FROM spii.daily_days WHERE client_id = {c:String}", {"c": C.client_id})[0]
    with_events = store.query("SELECT uniq(day) FROM spii.events WHERE client_id = {c:String} AND day BETWEEN {f:Date} AND {l:Date}",
                              {"c": C.client_id, "f": TODAY - timedelta(days=59), "l": TODAY - timedelta(days=1)})[0][0]
    assert written == (with_events, TODAY - timedelta(days=44), TODAY - timedelta(days=1))
    assert roll_closed_days(stats, C, "30d") == 0  # nothing stale: the next round writes nothing
    assert _page(store, daily)[1] == 1
