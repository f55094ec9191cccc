"""Web server log import benchmark: lines per second of `spii import logs`' work on one core
(this process pinned to CPU 0), next to reading and parsing alone in the same run (the
baseline), and end to end into embedded ClickHouse. Target: at least 50,000 lines a second.

    .venv/bin/python bench/import.py [--lines 300000] [--rounds 3]

The log is synthetic, in nginx's combined format: 6,000 visitors (IPv4 and IPv6) over two days,
real browsers' User-Agents, referrers, UTM tags, and the share of assets (40%), bots (5%),
redirects and errors (5%) a real site's log has.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.importing.logformat import LineParser  # noqa: E402
from collector.importing.weblog import WeblogImport  # noqa: E402
from collector.privacy.keyring import KeyringStore  # noqa: E402
from collector.privacy.masterkey import MasterKey  # noqa: E402
from collector.store.clickhouse import Store  # noqa: E402
from collector.tenants import Client  # noqa: E402

UAS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
       "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
       "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
       "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
       "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"]
BOTS = ["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Mozilla/5.0 (compatible; bingbot/2.0)"]
PAGES = ["/", "/pricing", "/about", "/blog/", "/blog/first-post", "/blog/second-post", "/docs/start", "/contact", "/shop/cups?utm_source=news"]
ASSETS = ["/static/app.css", "/static/app.js", "/img/logo.png", "/favicon.ico", "/fonts/inter.woff2"]
REFERRERS = ["-", "-", "https://www.google.com/", "https://duckduckgo.com/", "https://news.ycombinator.com/", "https://shop.example/"]


def make_log(lines: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    visitors = [(f"198.{51 + i // 60000}.{i // 250 % 240}.{i % 250 + 1}" if i % 4 else f"2001:db8:{i:x}::1", rng.choice(UAS))
                for i in range(6000)]
    out = []
    for n in range(lines):
        at = start + timedelta(seconds=n * 172800 // lines)
        ip, ua = rng.choice(visitors)
        roll = rng.random()
        path, status = (rng.choice(ASSETS), 200) if roll < 0.4 else (rng.choice(PAGES), 200)
        if 0.4 <= roll < 0.45:
            ua = rng.choice(BOTS)
        elif 0.45 <= roll < 0.5:
            status = rng.choice((301, 404, 500))
        out.append(f'{ip} - - [{at:%d/%b/%Y:%H:%M:%S} +0000] "GET {path} HTTP/1.1" {status} 5120 "{rng.choice(REFERRERS)}" "{ua}"')
    return out


def rate(seconds: float, lines: int) -> float:
    return lines / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    lines = make_log(args.lines)
    work = Path(tempfile.mkdtemp(prefix="spii-bench-import-"))
    path = work / "access.log"
    path.write_text("\n".join(lines) + "\n")
    client = Client(client_id="c_bench0000001", name="shop", domains=["shop.example"], perturb=False)
    keys = KeyringStore(work / "keyring.json", MasterKey(os.urandom(32)))
    keys.rotate(7)
    store = Store(f"chdb://{work / 'clickhouse'}")
    store.migrate()
    parse_only, dry, stored = [], [], []
    for round_ in range(args.rounds):
        started = time.perf_counter()
        parser_ = LineParser()
        with path.open() as f:
            for line in f:
                parser_.parse(line.rstrip("\n"))
        parse_only.append(rate(time.perf_counter() - started, args.lines))

        for into, kept in ((None, dry), (store, stored)):  # without a store (a dry run), then into ClickHouse
            store.command("TRUNCATE TABLE spii.events")
            started = time.perf_counter()
            importer = WeblogImport(client, into, keys)
            with path.open() as f:
                importer.feed(f)
            summary = importer.finish()
            kept.append(rate(time.perf_counter() - started, args.lines))
        print(f"round {round_ + 1}: parse only {parse_only[-1]:,.0f} lines/s, import without storing {dry[-1]:,.0f}, "
              f"import into ClickHouse {stored[-1]:,.0f} ({summary['imported']:,} page views stored)", flush=True)
    print(f"\n{args.lines:,} lines, one core (CPU 0), median of {args.rounds} rounds:")
    print(f"  read and parse only (baseline)   {statistics.median(parse_only):>10,.0f} lines/s")
    print(f"  import, privacy pass, no store   {statistics.median(dry):>10,.0f} lines/s  ({statistics.median(dry) / statistics.median(parse_only):.2f}x the baseline)")
    print(f"  import into embedded ClickHouse  {statistics.median(stored):>10,.0f} lines/s  ({statistics.median(stored) / statistics.median(parse_only):.2f}x the baseline)")
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
