"""Cell-key perturbation on real embedded ClickHouse: unbiased, bounded, the same for the same
visitors whatever the question, independent for nested cells, and never over suppression."""

import random
from datetime import date

import orjson
import pytest

from collector.reports.periods import Period
from collector.reports.perturb import PTABLE, cell_position
from collector.reports.query import parse_filters
from collector.reports.stats import Stats, StatsRequest
from collector.store.clickhouse import Store
from collector.tenants import Client

DAY = date(2026, 11, 20)
C = Client(client_id="c_pppppppppppp", name="p", domains=["p.example"])
CELLS = 3000


def _row(visitor: int, path: str) -> bytes:
    return orjson.dumps({"client_id": C.client_id, "ts": f"{DAY} 10:00:00.000", "kind": "pageview", "name": "pageview",
                         "host": "p.example", "path": path, "visitor_id": visitor, "session_id": visitor, "visit_event": 1,
                         "visit_pageview": 1, "retention_days": 395}) + b"\n"


@pytest.fixture(scope="module")
def stats(tmp_path_factory):
    rng = random.Random(11)
    rows, visitor = [], 1
    for cell in range(CELLS):  # thousands of cells of 10-60 visitors each, one page each
        for _ in range(rng.randint(10, 60)):
            rows.append(_row(visitor, f"/c/{cell}"))
            visitor += 1
    store = Store(f"chdb://{tmp_path_factory.mktemp('perturb')}/clickhouse")
    store.migrate()
    store.insert_segment(b"".join(rows), "cells")
    yield Stats(store, record_secret=lambda client_id: 0x5EC2E7), Stats(store)
    store.close()


def _breakdown(service: Stats) -> dict[str, int]:
    out = service.breakdown(C, StatsRequest(period=Period(DAY, DAY), metrics=["visitors", "pageviews"], prop="event:page", limit=1000))
    rows = {r["page"]: r["visitors"] for r in out["results"]}
    page = 2
    while len(rows) < out["total_rows"]:
        more = service.breakdown(C, StatsRequest(period=Period(DAY, DAY), metrics=["visitors"], prop="event:page", limit=1000, page=page))
        rows.update({r["page"]: r["visitors"] for r in more["results"]})
        page += 1
    return rows


def test_noise_is_unbiased_and_bounded_over_thousands_of_cells(stats):
    perturbed, exact = stats
    noisy, true = _breakdown(perturbed), _breakdown(exact)
    assert len(true) == CELLS
    adjustments = [noisy[p] - true[p] for p in true]
    mean = sum(adjustments) / len(adjustments)
    mean_abs = sum(map(abs, adjustments)) / len(adjustments)
    print(f"{len(adjustments)} cells: mean adjustment {mean:+.3f}, mean |adjustment| {mean_abs:.2f}, max |adjustment| "
          f"{max(map(abs, adjustments))}, unchanged {adjustments.count(0)}")
    assert abs(mean) < 0.12  # zero mean (standard error ~0.03)
    assert max(map(abs, adjustments)) <= PTABLE.max_adjustment
    assert 0.9 < mean_abs < 2.0 and adjustments.count(0) < len(adjustments) / 2


def test_the_same_visitors_get_the_same_noise_whatever_the_question(stats):
    perturbed, _ = stats
    period = Period(DAY, DAY)
    asked = [
        perturbed.aggregate(C, StatsRequest(period=period, metrics=["visitors"], filters=parse_filters(f)))["results"]["visitors"]["value"]
        for f in ("event:page==/c/7", "event:page==/c/7|/c/none", "event:page==/c/7;event:kind==pageview", "event:page==/c/none|/c/7")
    ]
    assert len(set(asked)) == 1, asked
    row = next(r for r in perturbed.breakdown(C, StatsRequest(period=period, metrics=["visitors"], prop="event:page",
                                                              filters=parse_filters("event:page==/c/7")))["results"])
    assert row["visitors"] == asked[0]  # the breakdown row is the same cell as the filtered total
    again = perturbed.aggregate(C, StatsRequest(period=period, metrics=["visitors"], filters=parse_filters("event:page==/c/7")))
    assert again["results"]["visitors"]["value"] == asked[0]  # asking again gains nothing


def test_nested_cells_get_independent_positions():
    rng = random.Random(3)
    same = 0
    for _ in range(2000):
        top = rng.getrandbits(64)
        n = rng.randint(20, 60)
        # the same largest record key, a few more visitors: the position must move as much as any other's
        a, b = PTABLE.adjustment(50, cell_position(top, n)), PTABLE.adjustment(50, cell_position(top, n + rng.randint(1, 5)))
        same += a == b
    assert same / 2000 < 0.22  # independent: P(equal) = sum of p^2 ~ 0.16


def test_suppression_still_decides_on_true_counts(stats):
    perturbed, _ = stats
    out = perturbed.aggregate(C, StatsRequest(period=Period(DAY, DAY), metrics=["visitors"], filters=parse_filters("event:page==/nowhere")))
    assert out["suppressed"] is True and out["results"]["visitors"]["value"] is None


def test_rows_are_ordered_and_paged_by_the_numbers_shown_never_by_the_exact_ones(stats):
    """Ordered by exact counts, the page would tell which of two noisy counts is really the
    larger. Two rows whose exact counts are ordered one way and whose perturbed counts the other
    are shown in the perturbed order, on every page."""
    perturbed, exact = stats
    true = _breakdown(exact)
    listed: list[tuple[str, int]] = []
    for page in (1, 2, 3):
        out = perturbed.breakdown(C, StatsRequest(period=Period(DAY, DAY), metrics=["visitors"], prop="event:page", limit=50, page=page))
        listed += [(r["page"], r["visitors"]) for r in out["results"]]
    assert len(listed) == 150
    assert listed == sorted(listed, key=lambda pair: (-pair[1], pair[0]))  # within pages and across them
    position = {page: n for n, (page, _) in enumerate(listed)}
    noisy = dict(listed)
    swapped = [(a, b) for a in position for b in position if true[a] > true[b] and noisy[a] < noisy[b]]
    assert swapped, "the fixture should have rows whose noise reverses their order"
    assert all(position[b] < position[a] for a, b in swapped)
    # the whole listing is the top of the perturbed order: no row left off shows more than the last shown
    everything = _breakdown(perturbed)
    last = listed[-1]
    assert not [p for p, v in everything.items() if p not in position and (-v, p) < (-last[1], last[0])]
