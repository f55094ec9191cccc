"""Capacity figures for docs/capacity.md, measured on the real data path:

1. realistic raw events (3 clients, 30 days, ~300k visitor IPs, browser UAs, referrers, UTM tags,
   custom events with props, transactions with full postcodes, fulfilments, contacts) go through
   the real ingest pipeline (Pipeline.process: bot filter, ipcrypt, postcode cut, URL scrub,
   visits) into spool lines;
2. the lines are inserted into embedded ClickHouse as spool segments (5,000 rows per INSERT,
   what the shipper sends) -- rows/s per insert, p50/p99 ms per segment -- next to a baseline in
   the same run: the same rows in one single INSERT;
3. after a final merge: compressed and uncompressed bytes per stored event, the largest columns.

    .venv/bin/python bench/capacity.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import base64
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.ingest.payload import EventPayload  # noqa: E402
from collector.ingest.pipeline import Pipeline, RequestFacts, TokenBucket  # noqa: E402
from collector.privacy.keyring import KeyringStore  # noqa: E402
from collector.privacy.masterkey import MasterKey  # noqa: E402
from collector.store.clickhouse import Store  # noqa: E402
from collector.tenants import Client, Registry  # noqa: E402

SEGMENT_ROWS = 5_000
DAYS = 30
UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1",
]
REFERRERS = ["", "", "", "https://www.google.com/", "https://www.bing.com/", "https://t.co/abc", "https://duckduckgo.com/",
             "https://news.ycombinator.com/item?id=1", "https://www.facebook.com/"]
POSTCODES = ["SW1A 1AA", "M1 1AE", "EH1 1YZ", "B33 8TH", "LS1 4AP", "CF10 1EP", "10001", "94105-1804", "1012 AB"]
CLIENTS = [Client(client_id=f"c_{name:0<12}", name=name, domains=[f"{name}.example"]) for name in ("big", "mid", "small")]


def raw_events(count: int, seed: int = 7) -> list[tuple[EventPayload, RequestFacts, datetime]]:
    rnd = random.Random(seed)
    start = datetime.now(UTC) - timedelta(days=DAYS)
    ips = [f"{rnd.randrange(1, 223)}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}" for _ in range(250_000)]
    ips += [f"2a02:{rnd.randrange(65536):x}:{rnd.randrange(65536):x}::{rnd.randrange(65536):x}" for _ in range(50_000)]
    out = []
    visitor = client = None
    for i in range(count):
        if i % 4 == 0:  # a visit of 4 events by one visitor; 300k visitors, so most return
            session = i // 4
            client = CLIENTS[0 if session % 10 < 8 else 1 if session % 10 == 8 else 2]
            visitor = rnd.randrange(len(ips))
        assert client is not None and visitor is not None
        roll = rnd.random()
        path = f"/p/{min(int(rnd.paretovariate(0.7)), 5000)}"
        body: dict = {"n": "pageview", "d": client.domains[0], "r": rnd.choice(REFERRERS),
                      "u": f"https://{client.domains[0]}{path}" + ("?utm_source=newsletter&utm_medium=email&utm_campaign=week-3" if roll < 0.05 else "")}
        if 0.90 <= roll < 0.95:
            body.update(n="Signup", p={"plan": rnd.choice(["free", "pro", "team"]), "step": str(rnd.randrange(3))})
        elif 0.95 <= roll < 0.98:
            body.update(n="transaction", order=f"o-{i}", pc=rnd.choice(POSTCODES), cc="GB",
                        revenue={"amount": f"{rnd.randrange(100, 20000) / 100:.2f}", "currency": "GBP"})
        elif 0.98 <= roll < 0.99:
            body.update(n="fulfilment", order=f"o-{i - 37}", status="shipped")
        elif roll >= 0.99:
            body.update(n="contact", channel="form")
        facts = RequestFacts(ip=ips[visitor], user_agent=UAS[visitor % len(UAS)], origin=None, refuses_tracking=roll < 0.02)
        out.append((EventPayload.model_validate(body), facts, start + timedelta(seconds=i * DAYS * 86400 / count)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="spii-bench-capacity-"))
    keys = KeyringStore(tmp / "keyring.json", MasterKey.load(base64.b64encode(b"c" * 32).decode(), None, tmp / "master.key"))
    keys.rotate(2)
    keyring, registry = keys.load(), Registry(CLIENTS)
    pipeline = Pipeline(TokenBucket(1e12, 1e12))

    t0 = time.perf_counter()
    events = raw_events(args.events)
    t1 = time.perf_counter()
    now = datetime.now(UTC)
    lines = [o.row for p, f, at in events if (o := pipeline.process(p, f, registry, keyring, now, event_time=at)).row]
    t2 = time.perf_counter()
    spool_bytes = sum(map(len, lines))
    print(f"capacity benchmark: {args.events:,} raw events generated in {t1 - t0:.1f} s; pipeline {len(lines):,} rows "
          f"({args.events - len(lines):,} dropped) at {(t2 - t1) / args.events * 1e6:.1f} µs/event = "
          f"{args.events / (t2 - t1):,.0f} events/s on one core; spool {spool_bytes / len(lines):.0f} bytes/row (JSON)")

    store = Store(f"chdb://{tmp}/clickhouse")
    store.migrate()
    segments = [b"".join(lines[i:i + SEGMENT_ROWS]) for i in range(0, len(lines), SEGMENT_ROWS)]
    times = []
    for n, segment in enumerate(segments):
        s0 = time.perf_counter()
        store.insert_segment(segment, f"bench-{n}")
        times.append(time.perf_counter() - s0)
    seg_total = sum(times)
    store.command("CREATE TABLE spii.events_baseline AS spii.events")
    b0 = time.perf_counter()
    store.insert_segment(b"".join(lines), "bench-baseline", table="spii.events_baseline")
    baseline = time.perf_counter() - b0
    qs = statistics.quantiles(times, n=100)
    print(f"insert, {SEGMENT_ROWS:,}-row segments (shipper): {len(lines) / seg_total:,.0f} rows/s; per segment p50 "
          f"{qs[49] * 1e3:.1f} ms, p99 {qs[98] * 1e3:.1f} ms | baseline, one {len(lines):,}-row INSERT: "
          f"{len(lines) / baseline:,.0f} rows/s ({baseline:.1f} s)")

    store.command("OPTIMIZE TABLE spii.events FINAL")
    rows, compressed, uncompressed = store.query(
        "SELECT sum(rows), sum(data_compressed_bytes), sum(data_uncompressed_bytes) FROM system.parts "
        "WHERE active AND database = 'spii' AND table = 'events'")[0]
    print(f"stored: {rows:,} rows, {compressed / rows:.1f} compressed bytes/event ({uncompressed / rows:.0f} uncompressed, "
          f"ratio {uncompressed / compressed:.1f}x; spool JSON {spool_bytes / rows:.0f} bytes/row)")
    top = store.query("SELECT column, sum(column_data_compressed_bytes) c FROM system.parts_columns "
                      "WHERE active AND database = 'spii' AND table = 'events' GROUP BY column ORDER BY c DESC LIMIT 8")
    print("largest columns (compressed bytes/event): " + ", ".join(f"{name} {c / rows:.1f}" for name, c in top))
    store.close()


if __name__ == "__main__":
    main()
