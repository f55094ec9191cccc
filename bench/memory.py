"""Memory stays flat: resident memory of the real ingest pipeline after 10,000 events and after
1,000,000 events from 1,000,000 distinct addresses and User-Agents, in the same run, with the
size of every in-process cache next to its bound.

Each event is a new visitor (a new address, a new UA string), the worst case for every cache:
open visits, UA parse and bot caches, cipher contexts, rate-limiter buckets, host lookups.

    .venv/bin/python bench/memory.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import base64
import gc
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.ingest.payload import EventPayload  # noqa: E402
from collector.ingest.pipeline import Pipeline, RequestFacts, TokenBucket  # noqa: E402
from collector.privacy import ipcrypt  # noqa: E402
from collector.privacy.keyring import KeyringStore  # noqa: E402
from collector.privacy.masterkey import MasterKey  # noqa: E402
from collector.privacy.useragent import is_bot, parse_user_agent  # noqa: E402
from collector.tenants import Client, Registry  # noqa: E402

CLIENTS = [Client(client_id=f"c_{name:0<12}", name=name, domains=[f"{name}.example"]) for name in ("big", "mid", "small")]
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.{}.{} Safari/537.36"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def event(i: int) -> tuple[EventPayload, RequestFacts]:
    client = CLIENTS[i % 3]
    ip = f"{10 + (i >> 24) % 200}.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"  # distinct for i < 200 * 2^24
    body = {"n": "pageview", "d": client.domains[0], "u": f"https://{client.domains[0]}/p/{i % 500}", "r": "https://www.google.com/"}
    return EventPayload.model_validate(body), RequestFacts(ip=ip, user_agent=UA.format(i // 1000, i % 1000), origin=None,
                                                          refuses_tracking=False)


def caches(pipeline: Pipeline, registry: Registry) -> str:
    return (f"open visits {len(pipeline.sessions):,}/{pipeline.sessions.max_entries:,}, "
            f"UA parse {parse_user_agent.cache_info().currsize:,}/{parse_user_agent.cache_info().maxsize:,}, "
            f"bot {is_bot.cache_info().currsize:,}/{is_bot.cache_info().maxsize:,}, "
            f"cipher contexts {ipcrypt.cached_contexts():,}/{4096:,} per thread, "
            f"rate buckets {len(pipeline.rate_limiter):,}/{pipeline.rate_limiter.max_keys:,}, "
            f"host lookups {len(registry._host_cache):,}/10,000")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--first", type=int, default=10_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="spii-bench-memory-"))
    keys = KeyringStore(tmp / "keyring.json", MasterKey.load(base64.b64encode(b"m" * 32).decode(), None, tmp / "master.key"))
    keys.rotate(2)
    keyring, registry = keys.load(), Registry(CLIENTS)
    pipeline = Pipeline(TokenBucket(0, 1))
    now = datetime.now(UTC)
    gc.collect()
    base = rss_mb()
    print(f"memory benchmark: {args.events:,} events, each from a new address and a new User-Agent; RSS at start {base:.0f} MB")
    started = time.perf_counter()
    for i in range(args.events):
        payload, facts = event(i)
        assert pipeline.process(payload, facts, registry, keyring, now).row is not None
        pipeline.sessions.commit()
        if i + 1 in (args.first, args.events) or (i + 1) % 250_000 == 0:
            gc.collect()
            rss = rss_mb()
            print(f"after {i + 1:>9,} events: RSS {rss:6.0f} MB ({rss - base:+.0f} MB), {(rss - base) * 1e6 / (i + 1):.0f} bytes/event; "
                  f"{caches(pipeline, registry)}")
    print(f"{args.events / (time.perf_counter() - started):,.0f} events/s through the pipeline while measuring")


if __name__ == "__main__":
    main()
