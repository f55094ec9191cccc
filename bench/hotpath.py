"""The beacon's whole in-server path per event, without sockets: the real `spii serve` state (keyring,
registry, pipeline, spool on disk) behind aiohttp's protocol with the inline answer installed
(collector/http/inline.py), fed the mix of bench/ingest.py's wrk script with bench/capacity.py's
browsers and referrers.

It sits between bench/privacy.py (the privacy pass alone) and bench/ingest.py (wrk over
loopback): what one event costs the event loop's core when no load generator shares the
machine and no system call for the socket is counted. Baseline in the same run: aiohttp's
C request parser alone on the same bytes (every spii event goes through it first).

    .venv/bin/python bench/hotpath.py [--events 20000] [--rounds 7] [--per-turn 8]

Each round feeds fresh visitors (new addresses), as wrk does, so the open visits grow the way
they do under load; garbage collection is timed too (gc.callbacks).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import uvloop  # noqa: E402
from aiohttp import web_protocol, web_server  # noqa: E402
from aiohttp.http_parser import HttpRequestParser  # noqa: E402

from tests.e2e.harness import Collector  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from capacity import REFERRERS, UAS  # noqa: E402  (the same browsers and referrers)


def requests(n: int, rng: random.Random) -> list[bytes]:
    """The mix of bench/ingest_events.lua: 80% pageviews, 10% custom events, 6% transactions
    with a postcode, 4% contacts; each from a new address through X-Forwarded-For."""
    out = []
    for _ in range(n):
        url = f"https://bench.example/p/{rng.randint(1, 300)}"
        roll = rng.random()
        if roll < 0.05:
            url += f"?utm_source=newsletter&utm_medium=email&utm_campaign=week-{rng.randint(1, 8)}"
        if roll < 0.80:
            body = f'{{"n":"pageview","u":"{url}","d":"bench.example","r":"{rng.choice(REFERRERS)}"}}'
        elif roll < 0.90:
            body = f'{{"n":"Signup","u":"{url}","d":"bench.example","p":{{"plan":"pro"}}}}'
        elif roll < 0.96:
            body = (f'{{"n":"transaction","u":"https://bench.example/checkout","d":"bench.example","order":"o-{rng.randint(1, 10**9)}",'
                    f'"revenue":{{"amount":"{rng.randint(5, 200)}.99","currency":"GBP"}},"pc":"SW1A 1AA","cc":"GB"}}')
        else:
            body = '{"n":"contact","u":"https://bench.example/contact","d":"bench.example","channel":"form"}'
        ip = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        data = body.encode()
        out.append((f"POST /api/event HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nUser-Agent: {rng.choice(UAS)}\r\n"
                    f"X-Forwarded-For: {ip}\r\nContent-Length: {len(data)}\r\n\r\n").encode() + data)
    return out


class Sink(asyncio.Transport):
    """A connection's transport that keeps the last answer written (no socket)."""

    def __init__(self) -> None:
        super().__init__()
        self.last = b""

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.last = data

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass


async def per_event_us(feed, batch: list[bytes], per_turn: int) -> float:
    """µs per request fed, the loop turning after every ``per_turn`` of them (the inline path
    writes a turn's rows to the spool and its answers at the end of the turn, as under load
    with that many connections ready at once)."""
    t0 = time.perf_counter_ns()
    for n, request in enumerate(batch, 1):
        feed(request)
        if n % per_turn == 0:
            await asyncio.sleep(0)
    await asyncio.sleep(0)
    return (time.perf_counter_ns() - t0) / len(batch) / 1000


async def measure(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="spii-bench-hotpath-"))
    collector = Collector(data_dir, SPII_CLIENT_RATE="0", SPII_TRUSTED_PROXIES="127.0.0.1/32",
                          SPII_MASTER_KEY=base64.b64encode(os.urandom(32)).decode())
    collector.add_client("bench", "bench.example", perturb="off")
    os.environ.update({k: v for k, v in collector.env.items() if k.startswith("SPII_")})
    from collector.config import Settings
    from collector.http import app, inline

    state = app.build_state(Settings())

    async def not_inline(request: object) -> None:
        raise RuntimeError("a bench request left the inline path")

    server = web_server.Server(not_inline)
    assert inline.install(server, state), "this aiohttp lacks what the inline path needs"
    protocol: web_protocol.RequestHandler = server()
    sink = Sink()
    protocol.connection_made(sink)
    await asyncio.sleep(0)  # the protocol's task starts and waits for a request: the connection is idle

    loop = asyncio.get_running_loop()
    parser = HttpRequestParser(protocol, loop, 2**16)
    batches = [requests(args.events, random.Random(n)) for n in range(args.rounds + 1)]
    await per_event_us(protocol.data_received, batches[0], args.per_turn)  # warm-up: caches, the first spool segment
    assert sink.last.startswith(b"HTTP/1.1 202"), sink.last[:120]

    gc.freeze()
    gc.set_threshold(*app.GC_THRESHOLDS)  # as `spii serve` sets it
    in_gc = [0.0, 0.0]

    def timer(phase: str, info: dict) -> None:
        if phase == "start":
            in_gc[1] = time.perf_counter()
        else:
            in_gc[0] += time.perf_counter() - in_gc[1]

    gc.callbacks.append(timer)
    rounds = []
    for batch in batches[1:]:
        rounds.append((await per_event_us(parser.feed_data, batch, args.per_turn),
                       await per_event_us(protocol.data_received, batch, args.per_turn)))
    gc.callbacks.remove(timer)
    assert sink.last.startswith(b"HTTP/1.1 202"), sink.last[:120]

    print(f"beacon hot path in-process: {args.rounds} rounds of {args.events} events (new visitors each), "
          f"{args.per_turn} per turn of the loop, no sockets")
    print(f"{'round':6} {'aiohttp parser µs/ev':>21} {'spii whole path µs/ev':>22}")
    for n, (parse, whole) in enumerate(rounds, 1):
        print(f"{n:<6} {parse:21.1f} {whole:22.1f}")
    parse_median, whole_median = statistics.median(r[0] for r in rounds), statistics.median(r[1] for r in rounds)
    print(f"median {parse_median:21.1f} {whole_median:22.1f}   ({whole_median / parse_median:.1f}x the parser alone)")
    print(f"garbage collection: {in_gc[0] * 1e6 / (args.events * args.rounds):.2f} µs/event; "
          f"open visits at the end: {len(state.pipeline.sessions):,}; rows appended: {state.spool.rows_appended:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000, help="events per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-turn", type=int, default=8, help="requests per turn of the event loop")
    uvloop.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
