"""Dashboards kept ready (reports/ready.py) on real embedded ClickHouse: a big client's dashboard
asked ahead is then answered from memory, the same as counted afresh; a small client, or a
collector keeping no open answer, is not worth asking ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from collector.reports.request import parse_request
from collector.reports.kept import KeptAnswers
from collector.reports.overview import build_overview
from collector.reports.ready import ask_dashboard, ready_worth
from collector.reports.stats import Stats
from collector.reports.page import PageFetch
from collector.tenants import Client
from tests.reports.stores import CountingStore, loaded

TODAY = datetime.now(UTC).date()
C = Client(client_id="c_ready00000000", name="ready", domains=["ready.example"], perturb=False, k=5)


def _rows() -> bytes:
    return b"".join(orjson.dumps({"client_id": C.client_id, "ts": f"{TODAY - timedelta(days=d)} 10:00:00.000", "kind": "pageview",
                                  "name": "pageview", "host": "ready.example", "path": f"/p{v % 4}", "referrer_source": "Google" if v % 2 else "",
                                  "visitor_id": v, "session_id": v * 100 + d, "visit_event": 1, "visit_pageview": 1, "retention_days": 395}) + b"\n"
                    for d in range(0, 40, 3) for v in range(1, 25))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    yield from loaded(tmp_path_factory, "ready", _rows(), CountingStore)


def _page(stats: Stats) -> dict:
    fetch = PageFetch(stats, C, parse_request)
    page = build_overview(fetch, {"name": C.name, "client_id": C.client_id}, "30d", expect=fetch.expect)
    return {k: v for k, v in page.items() if k not in ("generated", "receiving")}


def test_a_dashboard_asked_ahead_is_answered_from_memory_as_counted(store):
    kept = KeptAnswers(store, fresh_seconds=600, fresh_rows=10)
    stats = Stats(store, kept=kept)
    assert ready_worth(stats, C, "30d")
    assert ask_dashboard(stats, C, "30d", parse_request) > 0
    before, hits = store.selects, kept.hits
    page = _page(stats)
    assert kept.hits - hits >= 15  # every answer of the page
    assert store.selects - before <= 3  # the closed previous period's row count, and the receiving status
    assert page == _page(Stats(store, kept=False))


def test_small_clients_and_collectors_keeping_nothing_open_are_not_worth_asking_ahead(store):
    assert not ready_worth(Stats(store, kept=KeptAnswers(store, fresh_seconds=600, fresh_rows=10_000)), C, "30d")
    assert not ready_worth(Stats(store, kept=KeptAnswers(store, fresh_seconds=0, fresh_rows=1)), C, "30d")
    assert not ready_worth(Stats(store, kept=False), C, "30d")
    assert ready_worth(Stats(store, kept=KeptAnswers(store, fresh_seconds=600, fresh_rows=10)), C, "7d")
