"""Experiment for issue 17 (a dashboard in one breath): would per-day pre-aggregated visitor
sketches make the visit-column panels cheap? Loads bench/reports.py's synthetic events into
embedded ClickHouse, builds a per-(client, day, dimension, label) AggregatingMergeTree rollup of
the 12 stored visit columns with one sketch function, and times merging 30 days of it against
the GROUPING SETS scan of the raw events the dashboard runs now (reports/together.py), in the
same run, then compares every cell (visitors, cell key, visits, events).

    .venv/bin/python bench/rollups.py [--events 10000000] [--sketch uniq|uniqCombined|uniqHLL12|per-epoch] [--runs 5]
        [--cookie-percent 10]

--sketch per-epoch loads visitor ids as spii's key scheme makes them (docs/design.md, "Keys"): a
cookieless visitor's id is a keyed hash under the day's epoch key, so one person is a new id
each day, and only a consented cookie (--cookie-percent of the people) is the same id every day. The
distinct visitors of a period are then the sum over its days of each day's distinct day-bound
ids, plus the distinct long-lived ids of the period: the rollup keeps, per (day, column, label),
a plain exact count of the day-bound ids and the (small) exact set of the long-lived ones. The
scan it is compared with counts uniqExact, and every cell must be identical.

Not used by spii: a measurement for the product decision (docs/capacity.md has the figures).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import reports  # noqa: E402  (its LOAD and its last day)

from collector.store.clickhouse import Store  # noqa: E402

DIMS = ["referrer_source", "referrer_host", "utm_source", "utm_medium", "utm_campaign", "postcode_area", "country", "region",
        "device", "browser", "os", "entry_page"]
CLIENT = "c_big000000000"


def timed(store: Store, sql: str, runs: int) -> tuple[list[dict], list[float]]:
    times, rows = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        rows = store.query_dicts(sql)
        times.append((time.perf_counter() - t0) * 1000)
    return rows, times


# A row's visitor id is day-bound when no other day can hold it: a cookieless id under an epoch
# key of that day (a 24-hour epoch is named by its day; shorter ones by the day and hour, and they
# are aligned to divisors of 24 hours). Anything else (a consented cookie, a longer epoch) is
# long-lived: counted as a set, merged across days.
DAY_BOUND = "visitor_id != 0 AND cookie_hash = 0 AND (key_id = toString(day) OR startsWith(key_id, concat(toString(day), 'T')))"


def built(store: Store, t0: float) -> tuple[float, list[dict]]:
    """spii.rollup merged: the seconds since ``t0``, and its size and the events' (bytes, rows)."""
    store.command("OPTIMIZE TABLE spii.rollup FINAL")
    build_s = time.perf_counter() - t0
    return build_s, store.query_dicts("SELECT sum(data_compressed_bytes) AS b, sum(rows) AS r FROM system.parts WHERE active "
                                      "AND table IN ('rollup', 'events') GROUP BY table ORDER BY table")


def per_epoch(store: Store, runs: int, events: int, cookie_percent: int) -> None:
    """The per-epoch rollup: plain counts of day-bound ids plus sets of long-lived ones, merged for
    30 days, against the GROUPING SETS scan with uniqExact, every cell compared."""
    # the 12 visit columns, and what the other visitor panels group by: pages, events, the total
    columns = {**{d: d for d in DIMS}, "path": "path", "name": "name", "total": "''"}
    dims = list(columns)
    pairs = ", ".join(f"('{d}', toString({e}))" for d, e in columns.items())
    t0 = time.perf_counter()
    store.command("""CREATE TABLE spii.rollup (client_id LowCardinality(String), day Date, dim LowCardinality(String), label String,
        day_bound SimpleAggregateFunction(sum, UInt64), long_lived AggregateFunction(uniqExact, UInt64), cell_key SimpleAggregateFunction(max, UInt64),
        visits SimpleAggregateFunction(sum, UInt64), events SimpleAggregateFunction(sum, UInt64))
        ENGINE = AggregatingMergeTree ORDER BY (client_id, dim, day, label)""")
    # each (day, column, label) written once, after its day closed: day_bound is a plain count
    store.command(f"""INSERT INTO spii.rollup SELECT client_id, day, p.1 AS dim, p.2 AS label,
        uniqExactIf(visitor_id, {DAY_BOUND}), uniqExactStateIf(visitor_id, visitor_id != 0 AND NOT ({DAY_BOUND})),
        maxIf(visitor_id, visitor_id != 0), countIf(visit_event = 1), count()
        FROM spii.events ARRAY JOIN [{pairs}] AS p WHERE kind != 'engagement' GROUP BY client_id, day, dim, label""")
    build_s, size = built(store, t0)
    last = reports.LAST_DAY
    first = date.fromordinal(last.toordinal() - 29)
    where = f"client_id = '{CLIENT}' AND day BETWEEN '{first}' AND '{last}' AND kind != 'engagement'"
    keys = ", ".join(f"toString({e}) AS g{i}" for i, e in enumerate(columns.values()))
    sets = f"GROUPING SETS ({', '.join(f'(g{i})' for i in range(len(dims)))})"
    grouped = f"grouping({', '.join(f'g{i}' for i in range(len(dims)))}) AS gb"
    scans = {fn: (f"SELECT {keys}, {grouped}, {fn}If(visitor_id, visitor_id != 0) AS v, maxIf(visitor_id, visitor_id != 0) AS m, "
                  f"countIf(visit_event = 1) AS visits, count() AS events FROM spii.events WHERE {where} GROUP BY {sets}")
             for fn in ("uniqExact", "uniq")}
    merged = (f"SELECT dim, label, sum(day_bound) + uniqExactMerge(long_lived) AS v, max(cell_key) AS m, sum(visits) AS visits, "
              f"sum(events) AS events FROM spii.rollup WHERE client_id = '{CLIENT}' AND day BETWEEN '{first}' AND '{last}' GROUP BY dim, label")
    exact_rows, exact_ms = timed(store, scans["uniqExact"], runs)
    uniq_rows, uniq_ms = timed(store, scans["uniq"], runs)
    merged_rows, merged_ms = timed(store, merged, runs)
    exact_rows2, exact_ms2 = timed(store, scans["uniqExact"], runs)  # again: the machine's speed drifts

    def cells(rows: list[dict]) -> dict:
        bits = len(dims)
        out = {}
        for row in rows:
            i = next(i for i in range(bits) if not row["gb"] >> (bits - 1 - i) & 1)
            out[(dims[i], row[f"g{i}"])] = (row["v"], row["m"], row["visits"], row["events"])
        return out

    by_scan, by_uniq = cells(exact_rows), cells(uniq_rows)
    by_rollup = {(r["dim"], r["label"]): (r["v"], r["m"], r["visits"], r["events"]) for r in merged_rows}
    identical = sum(1 for k, v in by_scan.items() if by_rollup.get(k) == v)
    uniq_off = max(abs(by_uniq[k][0] - v[0]) / max(v[0], 1) for k, v in by_scan.items())
    long_lived, ids = store.query(f"SELECT uniqExactIf(visitor_id, visitor_id != 0 AND NOT ({DAY_BOUND})), uniqExactIf(visitor_id, visitor_id != 0) "
                                  f"FROM spii.events WHERE {where}")[0]
    print(f"rollup experiment: {events:,} events, ids per epoch (a new cookieless id each day; {cookie_percent}% of people with a consented cookie), "
          f"{len(DIMS)} visit columns, pages, events and the total, 30 days of the big client: {ids:,} distinct ids, {long_lived:,} of them long-lived")
    print(f"rollup built in {build_s:.1f} s: {size[1]['r']:,} rows, {size[1]['b'] / 1e6:.1f} MB compressed "
          f"(the events: {size[0]['b'] / 1e6:.1f} MB)")
    print(f"{'':44} {'median ms':>10}  runs")
    for name, ms in (("scan of the events, uniqExact", exact_ms), ("scan of the events, uniq (spii now)", uniq_ms),
                     ("merge of 30 days of rollup (exact)", merged_ms), ("scan of the events, uniqExact, again", exact_ms2)):
        print(f"{name:44} {statistics.median(ms):10.0f}  {[round(x) for x in ms]}")
    print(f"cells: {len(by_scan)} scanned, {len(by_rollup)} merged, {identical} identical to the exact scan (visitors, cell key, visits, "
          f"events); the uniq scan's visitors off by up to {uniq_off:.2%}; the second exact scan the same: {'yes' if cells(exact_rows2) == by_scan else 'NO'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--sketch", default="uniq", choices=["uniq", "uniqCombined", "uniqHLL12", "per-epoch"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cookie-percent", type=int, default=10, help="with per-epoch: the people with a consented cookie")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="spii-bench-rollups-"))
    store = Store(f"chdb://{tmp}/clickhouse")
    try:
        measure(store, args)
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)


def measure(store: Store, args: argparse.Namespace) -> None:
    fn = args.sketch
    store.migrate()
    days = 60
    start = date.fromordinal(reports.LAST_DAY.toordinal() - days + 1)
    load = reports.LOAD if fn != "per-epoch" else reports.per_epoch_ids(reports.LOAD, args.cookie_percent)
    store.command(load.format(start=start, step_ms=days * 86_400_000 // args.events, events=args.events))
    store.command("OPTIMIZE TABLE spii.events FINAL")
    if fn == "per-epoch":
        return per_epoch(store, args.runs, args.events, args.cookie_percent)

    pairs = ", ".join(f"('{d}', toString({d}))" for d in DIMS)
    t0 = time.perf_counter()
    store.command(f"""CREATE TABLE spii.rollup (client_id LowCardinality(String), day Date, dim LowCardinality(String), label String,
        visitors AggregateFunction({fn}, UInt64), cell_key SimpleAggregateFunction(max, UInt64),
        visits SimpleAggregateFunction(sum, UInt64), events SimpleAggregateFunction(sum, UInt64))
        ENGINE = AggregatingMergeTree ORDER BY (client_id, dim, day, label)""")
    store.command(f"""INSERT INTO spii.rollup SELECT client_id, toDate(ts) AS day, p.1 AS dim, p.2 AS label,
        {fn}StateIf(visitor_id, visitor_id != 0), maxIf(visitor_id, visitor_id != 0), countIf(visit_event = 1), count()
        FROM spii.events ARRAY JOIN [{pairs}] AS p WHERE kind != 'engagement' GROUP BY client_id, day, dim, label""")
    build_s, size = built(store, t0)

    last = reports.LAST_DAY
    first = date.fromordinal(last.toordinal() - 29)
    where = f"client_id = '{CLIENT}' AND day BETWEEN '{first}' AND '{last}' AND kind != 'engagement'"
    keys = ", ".join(f"toString({d}) AS g{i}" for i, d in enumerate(DIMS))
    scan = (f"SELECT {keys}, grouping({', '.join(f'g{i}' for i in range(len(DIMS)))}) AS gb, uniqIf(visitor_id, visitor_id != 0) AS v, "
            f"maxIf(visitor_id, visitor_id != 0) AS m, countIf(visit_event = 1) AS visits, count() AS events FROM spii.events "
            f"WHERE {where} GROUP BY GROUPING SETS ({', '.join(f'(g{i})' for i in range(len(DIMS)))})")
    merged = (f"SELECT dim, label, {fn}Merge(visitors) AS v, max(cell_key) AS m, sum(visits) AS visits, sum(events) AS events "
              f"FROM spii.rollup WHERE client_id = '{CLIENT}' AND day BETWEEN '{first}' AND '{last}' GROUP BY dim, label")
    scan_rows, scan_ms = timed(store, scan, args.runs)
    merged_rows, merged_ms = timed(store, merged, args.runs)

    bits = len(DIMS)
    by_scan = {}
    for row in scan_rows:
        i = next(i for i in range(bits) if not row["gb"] >> (bits - 1 - i) & 1)
        by_scan[(DIMS[i], row[f"g{i}"])] = (row["v"], row["m"], row["visits"], row["events"])
    by_rollup = {(r["dim"], r["label"]): (r["v"], r["m"], r["visits"], r["events"]) for r in merged_rows}
    identical = sum(1 for k, v in by_scan.items() if by_rollup.get(k) == v)
    relative = [abs(by_rollup[k][0] - v[0]) / max(v[0], 1) for k, v in by_scan.items() if k in by_rollup]
    small_off = sum(1 for k, v in by_scan.items() if v[0] < 1000 and by_rollup.get(k, (None,))[0] != v[0])
    others_off = sum(1 for k, v in by_scan.items() if by_rollup.get(k, (None,) * 4)[1:] != v[1:])

    print(f"rollup experiment: {args.events:,} events, {len(DIMS)} visit columns, 30 days of the big client, sketch {fn}")
    print(f"rollup built in {build_s:.1f} s: {size[1]['r']:,} rows, {size[1]['b'] / 1e6:.1f} MB compressed "
          f"(the events: {size[0]['b'] / 1e6:.1f} MB)")
    print(f"{'':34} {'median ms':>10}  runs")
    print(f"{'scan of the events (GROUPING SETS)':34} {statistics.median(scan_ms):10.0f}  {[round(x) for x in scan_ms]}")
    print(f"{'merge of 30 days of rollup':34} {statistics.median(merged_ms):10.0f}  {[round(x) for x in merged_ms]}")
    print(f"cells: {len(by_scan)} scanned, {len(by_rollup)} merged, {identical} identical; visitors off by at most "
          f"{max(relative):.2%} (mean {statistics.mean(relative):.3%}); cells under 1,000 visitors that differ: {small_off}; "
          f"cells whose cell key, visits or events differ: {others_off}")


if __name__ == "__main__":
    main()
