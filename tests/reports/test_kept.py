"""Kept report answers (reports/kept.py) on real embedded ClickHouse. Closed periods: given again
with one count instead of the report's passes, and computed again as soon as a row of the period
changes (a backfilled event, an erasure, a restriction); a period with open days never kept that
way. Open periods of a big client: kept for their freshness, by a controllable timer, forgotten
when subject flags change, refreshed ahead while watched; a small client's always computed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
import time_machine

from collector.reports import kept
from collector.reports.kept import KeptAnswers
from collector.reports.periods import Period
from collector.reports.query import parse_filters
from collector.reports.stats import Stats, StatsRequest
from collector.tenants import Client
from tests.reports.stores import CountingStore, loaded

TODAY = datetime.now(UTC).date()
PAST = Period(TODAY - timedelta(days=12), TODAY - timedelta(days=3))
OPEN = Period(TODAY - timedelta(days=6), TODAY)
C = Client(client_id="c_closed000000", name="closed", domains=["closed.example"], perturb=False)


def _rows(day_offsets, visitors=range(1, 31), path="/a") -> bytes:
    return b"".join(orjson.dumps({"client_id": C.client_id, "ts": f"{TODAY - timedelta(days=d)} 10:00:00.000", "kind": "pageview",
                                  "name": "pageview", "host": "closed.example", "path": path if v % 3 else "/b", "visitor_id": v,
                                  "session_id": v * 100 + d, "visit_event": 1, "visit_pageview": 1, "retention_days": 395}) + b"\n"
                    for d in day_offsets for v in visitors)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    yield from loaded(tmp_path_factory, "closed", _rows(range(0, 14)), CountingStore)


@pytest.fixture(autouse=True)
def count_every_time(monkeypatch, request):
    if request.node.name != "test_a_dashboards_questions_of_one_scope_share_one_count":
        monkeypatch.setattr(kept, "COUNT_SECONDS", 0.0)


def _asked(stats: Stats, store: CountingStore, call):
    before = store.selects
    answer = call()
    return answer, store.selects - before


def test_a_closed_period_is_answered_again_with_one_count_until_its_rows_change(store):
    exclusions: list[str] = []
    stats = Stats(store, exclusions=lambda client_id: list(exclusions))
    fresh = Stats(store, exclusions=lambda client_id: list(exclusions))  # the same question, never kept before
    req = StatsRequest(period=PAST, metrics=["visitors", "pageviews"], prop="event:page")
    first, passes = _asked(stats, store, lambda: stats.breakdown(C, req))
    again, count_only = _asked(stats, store, lambda: stats.breakdown(C, req))
    assert again == first and count_only == 1 < passes
    assert stats.breakdown(C, StatsRequest(period=PAST, metrics=["visitors"], prop="event:page", filters=parse_filters("event:page==/a"))) \
        == fresh.breakdown(C, StatsRequest(period=PAST, metrics=["visitors"], prop="event:page", filters=parse_filters("event:page==/a")))

    store.insert_segment(_rows([5], visitors=range(100, 110), path="/c"), "closed-backfill")  # a backfill into the period
    changed, passes_again = _asked(stats, store, lambda: stats.breakdown(C, req))
    assert passes_again > 1 and changed == fresh.breakdown(C, req) != first

    store.delete_events("client_id = {c:String} AND visitor_id >= 100", {"c": C.client_id})  # an erasure
    assert stats.breakdown(C, req) == first

    exclusions.append("visitor_id > 10")  # a restriction
    restricted = stats.breakdown(C, req)
    assert restricted == fresh.breakdown(C, req) != first


def test_totals_and_the_comparison_line_of_a_closed_period_are_kept_too(store):
    stats = Stats(store)
    req = StatsRequest(period=PAST, metrics=["visitors", "pageviews", "visits"], compare=True)
    first, passes = _asked(stats, store, lambda: stats.aggregate(C, req))
    again, counts = _asked(stats, store, lambda: stats.aggregate(C, req))
    assert again == first and counts == 2 < passes  # this period and the one before: a count each
    line = StatsRequest(period=PAST, metrics=["visitors"])
    stats.timeseries(C, line)
    assert _asked(stats, store, lambda: stats.timeseries(C, line))[1] == 1


def test_a_period_with_open_days_is_never_kept_as_closed(store):
    stats = Stats(store)
    req = StatsRequest(period=OPEN, metrics=["visitors"], prop="event:page")
    first, passes = _asked(stats, store, lambda: stats.breakdown(C, req))
    again, passes_again = _asked(stats, store, lambda: stats.breakdown(C, req))
    assert stats.kept is not None
    assert again == first and passes_again == passes and stats.kept.hits == 0


def test_a_dashboards_questions_of_one_scope_share_one_count(store):
    stats = Stats(store)
    questions = [StatsRequest(period=PAST, metrics=["visitors"], prop=prop) for prop in ("event:page", "visit:source", "visit:device")]
    counts = store.counts
    for req in questions:
        stats.breakdown(C, req)
    assert store.counts - counts == 1  # three questions, asked within a second: one count
    answers, selects = _asked(stats, store, lambda: [stats.breakdown(C, req) for req in questions])
    assert selects == 0 and stats.kept is not None and stats.kept.hits == 3


def test_a_period_is_kept_only_once_the_clock_has_closed_it(store):
    req = StatsRequest(period=PAST, metrics=["visitors"], prop="visit:source")
    with time_machine.travel(datetime.combine(PAST.last + timedelta(days=1), datetime.min.time(), UTC), tick=False):
        stats = Stats(store)
        stats.breakdown(C, req)
        stats.breakdown(C, req)
        assert stats.kept is not None and stats.kept.hits == 0  # the day after its last day: still open
    with time_machine.travel(datetime.combine(PAST.last + timedelta(days=2), datetime.min.time(), UTC), tick=False):
        stats.breakdown(C, req)
        assert stats.breakdown(C, req) == Stats(store, kept=False).breakdown(C, req)
        assert stats.kept.hits == 1


class Timer:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _open_stats(store, timer, fresh_rows=100, **kwargs) -> Stats:
    return Stats(store, kept=KeptAnswers(store, fresh_seconds=60, fresh_rows=fresh_rows, timer=timer, **kwargs))


def test_a_big_clients_open_period_is_kept_for_its_freshness_then_computed_again(store):
    timer = Timer()
    stats = _open_stats(store, timer)
    req = StatsRequest(period=OPEN, metrics=["visitors", "pageviews"], prop="event:page")
    first, passes = _asked(stats, store, lambda: stats.breakdown(C, req))
    store.insert_segment(_rows([0], visitors=range(200, 210), path="/new"), "open-today")  # today's events keep arriving
    timer.now += 59
    again, selects = _asked(stats, store, lambda: stats.breakdown(C, req))
    assert again == first and selects == 0 and stats.kept.hits == 1  # from memory: no count, no pass
    timer.now += 1  # 60 s after its computation started
    fresh, passes_again = _asked(stats, store, lambda: stats.breakdown(C, req))
    assert fresh == Stats(store, kept=False).breakdown(C, req) != first and passes_again >= passes
    store.delete_events("client_id = {c:String} AND visitor_id >= 200", {"c": C.client_id})


def test_a_small_clients_open_period_is_always_computed(store):
    timer = Timer()
    stats = _open_stats(store, timer, fresh_rows=10_000)  # the period holds a few hundred rows
    req = StatsRequest(period=OPEN, metrics=["visitors"])
    first, passes = _asked(stats, store, lambda: stats.aggregate(C, req))
    again, passes_again = _asked(stats, store, lambda: stats.aggregate(C, req))
    assert again == first and passes_again == passes and stats.kept.hits == 0


def test_forgetting_drops_open_answers_and_one_computed_across_it_is_not_kept(store):
    timer = Timer()
    stats = _open_stats(store, timer)
    req = StatsRequest(period=OPEN, metrics=["visitors"])
    stats.aggregate(C, req)
    stats.forget()  # what subject flags changing or an erasure does
    _, passes = _asked(stats, store, lambda: stats.aggregate(C, req))
    assert passes > 0 and stats.kept.hits == 0
    racing = KeptAnswers(store, fresh_seconds=60, fresh_rows=1, timer=timer)
    scope = stats.scope(C, OPEN, [])
    computed = racing.answer(scope, "q", lambda: (racing.forget(), "answer before the erasure")[1])  # forgotten while it ran
    assert computed == "answer before the erasure" and racing.answer(scope, "q", lambda: "after") == "after"


def test_subject_flag_changes_and_erasures_make_the_stats_service_forget(store):
    from collector.subjects.flags import SubjectFlags

    flags = SubjectFlags(store)
    flags.load()
    forgotten = []
    flags.on_change.append(lambda: forgotten.append(1))
    flags.load()  # nothing changed
    assert forgotten == []
    store.command("INSERT INTO spii.subject_flags (client_id, flag, key_id, ip_token, expires_at) "
                  "VALUES ('c_closed000000', 'restrict', 'k', '::1', now() + 3600)")
    flags.load()
    assert forgotten == [1]
    store.command("DELETE FROM spii.subject_flags WHERE client_id = 'c_closed000000'")
    flags.load()
    assert forgotten == [1, 1]


def test_watched_open_answers_are_refreshed_before_they_go_stale_and_unwatched_ones_dropped(store):
    timer = Timer()
    stats = _open_stats(store, timer, warm_seconds=600)
    kept_answers = stats.kept
    watched = StatsRequest(period=OPEN, metrics=["visitors"], prop="visit:source")
    left = StatsRequest(period=OPEN, metrics=["visitors"], prop="visit:device")
    stats.breakdown(C, watched)
    stats.breakdown(C, left)
    assert kept_answers.due() == []  # both fresh
    timer.now += 44
    assert kept_answers.due() == []
    timer.now += 1  # three quarters of their freshness gone
    assert len(kept_answers.due()) == 2
    store.insert_segment(_rows([0], visitors=range(300, 320), path="/x"), "open-refresh")
    for full in kept_answers.due():
        assert kept_answers.refresh(full) >= 0
    timer.now += 30  # past the first computation's freshness, within the refresh's
    refreshed, selects = _asked(stats, store, lambda: stats.breakdown(C, watched))
    assert selects == 0 and refreshed == Stats(store, kept=False).breakdown(C, watched)
    timer.now += 550  # the device breakdown, asked 625 s ago and stale, is dropped; the source one is due again
    due = kept_answers.due()
    assert len(due) == 1 and all("visit:source" in repr(full) for full in due) and len(kept_answers._open) == 1
    store.delete_events("client_id = {c:String} AND visitor_id >= 300", {"c": C.client_id})


def test_a_period_reaching_the_retention_boundary_is_never_kept_open(store):
    timer = Timer()
    stats = _open_stats(store, timer)
    short = C.model_copy(update={"retention_days": 7})
    req = StatsRequest(period=OPEN, metrics=["visitors"])  # its first day is 6 days ago: inside retention
    stats.aggregate(short, req)
    stats.aggregate(short, req)
    assert stats.kept.hits == 1
    edge = StatsRequest(period=Period(TODAY - timedelta(days=7), TODAY), metrics=["visitors"])  # the cut moves through its first day
    stats.aggregate(short, edge)
    stats.aggregate(short, edge)
    assert stats.kept.hits == 1


def test_kept_answers_stay_within_their_byte_budget(store):
    kept_answers = KeptAnswers(store, max_bytes=4000)  # half of it for closed periods' answers
    scope = Stats(store).scope(C, PAST, [])
    for n in range(5):
        kept_answers.answer(scope, n, lambda: "x" * 900)  # 902 bytes as JSON
    assert len(kept_answers._answers) == 2 and kept_answers._answers.bytes == 1804
    assert kept_answers.answer(scope, 4, lambda: "computed") == "x" * 900  # the newest are kept
    assert kept_answers.answer(scope, 0, lambda: "computed") == "computed"  # the oldest went first


def test_answers_that_take_long_to_compute_are_kept_until_the_refresher_can_come_back(store):
    timer = Timer()
    kept_answers = KeptAnswers(store, fresh_seconds=60, fresh_rows=1, warm_seconds=600, timer=timer)
    scope = Stats(store).scope(C, OPEN, [])

    def slow() -> str:
        timer.now += 40  # a 100-million-event dashboard's panel
        return "computed"

    kept_answers.answer(scope, "panel", slow)
    kept_answers.answer(scope, "other panel", slow)
    timer.now += 1
    assert kept_answers.due() == [] and kept_answers.span == 320  # 80 s of work at a quarter of a core
    timer.now += 150  # past SPII_REPORT_FRESH_SECONDS, within the refresher's round trip
    assert kept_answers.answer(scope, "panel", lambda: "recomputed") == "computed"
    assert kept_answers.answer(scope, "other panel", lambda: "recomputed") == "computed"
    timer.now += 100
    assert len(kept_answers.due()) == 2  # three quarters of the round trip gone
    for _ in range(20):
        kept_answers.answer(scope, f"panel {_}", slow)
    kept_answers.due()
    assert kept_answers.span == 600  # never longer than SPII_REPORT_WARM_SECONDS


def test_two_panels_of_one_dashboard_share_their_complement_check(store, monkeypatch):
    monkeypatch.setattr(kept, "COUNT_SECONDS", 1.0)
    checks = []
    plain_query_dicts = CountingStore.query_dicts

    def query_dicts(self, sql, parameters=None):
        checks.append(" AS inside" in sql)
        return plain_query_dicts(self, sql, parameters)

    monkeypatch.setattr(CountingStore, "query_dicts", query_dicts)
    stats = Stats(store)
    pages = parse_filters("event:kind==pageview")
    top = stats.breakdown(C, StatsRequest(period=OPEN, metrics=["visitors", "pageviews"], prop="event:page", filters=pages))
    first = sum(checks)  # (its sampled pass, then the full count of the labels it left undecided)
    engagement = stats.breakdown(C, StatsRequest(period=OPEN, metrics=["visitors", "events"], prop="event:page", filters=pages))
    assert first >= 1 and sum(checks) == first and [r["page"] for r in top["results"]] == [r["page"] for r in engagement["results"]]
    stats.forget()
    stats.breakdown(C, StatsRequest(period=OPEN, metrics=["visitors"], prop="event:page", filters=pages))
    assert sum(checks) == 2 * first  # an erasure or a flag change: checked again


def test_the_total_of_a_closed_period_without_rows_is_kept_too(store):
    stats = Stats(store)
    empty = Period(TODAY - timedelta(days=40), TODAY - timedelta(days=30))  # before the module's rows
    req = StatsRequest(period=empty, metrics=["visitors", "pageviews"])
    first, passes = _asked(stats, store, lambda: stats.aggregate(C, req))
    again, counts = _asked(stats, store, lambda: stats.aggregate(C, req))
    assert again == first and counts == 1 < passes
