"""Ingest benchmark, measured by a C load generator: `wrk` drives three servers in turn with the
same realistic, varied events (bench/ingest_events.lua). Every request carries a new visitor
address through X-Forwarded-For from a trusted proxy, one of 300 paths, a referrer, a real
browser UA, and a mix of pageviews, custom events, transactions with postcodes and contacts.

* **spii serve**: the real collector on the embedded store, answering 202 (with `--with-pure`, the
  same collector a second time with its hot path as plain Python, SPII_PURE_PYTHON=1: the
  compiled build's baseline, collector/build_info.py).
* **bare aiohttp**: a `web.Application` whose handler reads the body and answers 204.
* **Python ceiling**: a bare uvloop `asyncio.Protocol` that answers a fixed 204 to each request.

The server is pinned to CPU 0 and wrk to CPU 1 (`taskset`). Rounds are interleaved (each round
runs every server once), and the median round is reported. For each run it prints events/s, the
server's CPU µs per event (utime + stime from /proc, all its threads, the embedded store's
included), p50 and p99 latency. Afterwards every accepted event is counted in ClickHouse. The
in-process cost of the privacy pass alone (bench/privacy.py's figure) is printed beside it.

    .venv/bin/python bench/ingest.py [--duration 10] [--connections 32] [--rounds 3]

Needs Debian's `wrk` (apt-get install wrk) and `taskset` (util-linux).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.processes import stop  # noqa: E402
from tests.e2e.harness import Collector, free_port  # noqa: E402

LUA = Path(__file__).resolve().parent / "ingest_events.lua"
SPII, SPII_PURE = "spii serve (202)", "spii pure Python (202)"
SERVER_CPU, LOAD_CPU = "0", "1"

BARE_AIOHTTP = """
import asyncio, sys, uvloop
from aiohttp import web
async def handler(request):
    await request.read()
    return web.Response(status=204)
asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
app = web.Application()
app.router.add_post("/api/event", handler)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""

# The Python ceiling: no HTTP framework at all. It finds each request's end (headers, then
# Content-Length bytes of body) and writes a fixed answer. This is a baseline, not a server.
PROTOCOL_CEILING = """
import asyncio, sys, uvloop
ANSWER = b"HTTP/1.1 204 No Content\\r\\nServer: ceiling\\r\\n\\r\\n"
class Ceiling(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        buffer = self.buffer + data
        answers = 0
        while True:
            end = buffer.find(b"\\r\\n\\r\\n")
            if end < 0:
                break
            head = buffer[:end].lower()
            at = head.find(b"content-length:")
            length = int(head[at + 15:head.find(b"\\r\\n", at) if head.find(b"\\r\\n", at) > 0 else None]) if at >= 0 else 0
            if len(buffer) < end + 4 + length:
                break
            buffer = buffer[end + 4 + length:]
            answers += 1
        self.buffer = buffer
        if answers:
            self.transport.write(ANSWER * answers)
async def main():
    server = await asyncio.get_running_loop().create_server(Ceiling, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    await server.serve_forever()
uvloop.run(main())
"""


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """utime + stime of the whole process (every thread), or of one of its threads."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_port(port: int, timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(port)


def run_wrk(port: int, pid: int, duration: float, connections: int) -> dict:
    before, loop_before = cpu_seconds(pid), cpu_seconds(pid, pid)
    out = subprocess.run(["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections}", f"-d{int(duration)}s", "-s", str(LUA),
                          f"http://127.0.0.1:{port}/api/event"], capture_output=True, text=True, timeout=duration + 60)
    cpu, loop_cpu = cpu_seconds(pid) - before, cpu_seconds(pid, pid) - loop_before
    match = re.search(r"WRK_RESULT (\{.*\})", out.stdout)
    if not match:
        raise RuntimeError(f"wrk gave no result: {out.stdout[-500:]} {out.stderr[-500:]}")
    result = json.loads(match.group(1))
    errors = result["non2xx"] + result["connect_errors"] + result["read_errors"] + result["write_errors"] + result["timeouts"]
    ok = result["requests"] - errors
    seconds = result["duration_us"] / 1e6
    return {"events_per_s": ok / seconds, "ok": ok, "errors": errors, "cpu_us": cpu * 1e6 / max(ok, 1),
            "loop_us": loop_cpu * 1e6 / max(ok, 1),
            "p50_ms": result["p50_us"] / 1000, "p99_ms": result["p99_us"] / 1000}


def pinned(args: list[str], env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(["taskset", "-c", SERVER_CPU, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def privacy_pass_us() -> float | None:
    """bench/privacy.py's whole-pass figure, in this run, for the in-server comparison."""
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "privacy.py")], capture_output=True, text=True, timeout=600)
    match = re.search(r"whole pass median ([\d.]+)", out.stdout)
    return float(match.group(1)) if match else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--only-spii", action="store_true", help="profile helper: run spii alone, no baselines")
    parser.add_argument("--with-pure", action="store_true",
                        help="also run spii with its hot path as plain Python (SPII_PURE_PYTHON=1): the compiled build's baseline")
    parser.add_argument("--store-on-serving-cpu", action="store_true",
                        help="pin all of spii to the serving CPU, the embedded store's threads included")
    args = parser.parse_args()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: apt-get install {'wrk' if tool == 'wrk' else 'util-linux'}")

    servers: dict[str, tuple[int, subprocess.Popen]] = {}
    if not args.only_spii:
        for name, code in (("Python ceiling (204)", PROTOCOL_CEILING), ("bare aiohttp (204)", BARE_AIOHTTP)):
            port = free_port()
            servers[name] = (port, pinned([sys.executable, "-c", code, str(port)]))
    collectors = {SPII: _start_spii(args)}
    if args.with_pure:  # the same collector with its hot path as plain Python: the compiled build's baseline
        collectors[SPII_PURE] = _start_spii(args, SPII_PURE_PYTHON="1")
    servers.update((name, (c.port, c.proc)) for name, c in collectors.items())
    try:
        rounds, accepted = _measure(servers, args)
    finally:
        for _, proc in servers.values():
            stop(proc, 120)
    stored = {}
    for name, collector in collectors.items():
        collector.proc = None
        stored[name] = collector.query("SELECT count() AS n FROM spii.events")[0]["n"]
        shutil.rmtree(collector.data_dir, ignore_errors=True)
    _print(rounds, servers, args, accepted, stored)


def _start_spii(args: argparse.Namespace, **env: str) -> Collector:
    data_dir = Path(tempfile.mkdtemp(prefix="spii-bench-ingest-"))
    collector = Collector(data_dir, SPII_CLIENT_RATE="0", SPII_TRUSTED_PROXIES="127.0.0.1/32",
                          SPII_MASTER_KEY=base64.b64encode(os.urandom(32)).decode(), SPII_SPOOL_SEGMENT_SECONDS="1.0", **env)
    collector.add_client("bench", "bench.example", perturb="off")
    # spii's event loop gets CPU 0 like the baselines; its other threads (spool sync, the embedded
    # store's inserts and merges) go to CPU 1 beside wrk (SPII_SERVE_CPUS; --store-on-serving-cpu keeps them on 0)
    if args.store_on_serving_cpu:
        collector.proc = pinned([sys.executable, "-m", "collector", "serve", "--port", str(collector.port)], env=collector.env)
    else:
        collector.env["SPII_SERVE_CPUS"] = SERVER_CPU
        collector.proc = subprocess.Popen(["taskset", "-c", f"{SERVER_CPU},{LOAD_CPU}", sys.executable, "-m", "collector", "serve",
                                           "--port", str(collector.port)], env=collector.env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
    return collector


def _measure(servers: dict[str, tuple[int, subprocess.Popen]], args: argparse.Namespace) -> tuple[list[dict[str, dict]], dict[str, int]]:
    for port, _ in servers.values():
        wait_port(port)
    accepted: dict[str, int] = {}
    for name, (port, proc) in servers.items():  # warm-up runs, discarded (their events are stored too)
        warm = run_wrk(port, proc.pid, 2, args.connections)
        accepted[name] = warm["ok"]
    rounds: list[dict[str, dict]] = []
    for _ in range(args.rounds):
        results = {}
        for name, (port, proc) in servers.items():
            time.sleep(1.5)  # the shipper drains the previous run before the next server's turn
            results[name] = run_wrk(port, proc.pid, args.duration, args.connections)
        for name in results:
            accepted[name] += results[name]["ok"]
        rounds.append(results)
    return rounds, accepted


def _print(rounds: list[dict[str, dict]], servers: dict, args: argparse.Namespace, accepted: dict[str, int],
           stored: dict[str, int]) -> None:
    print(f"ingest benchmark (wrk): {args.rounds} interleaved rounds of {args.duration:g} s, {args.connections} connections, "
          f"server on cpu {SERVER_CPU}, wrk on cpu {LOAD_CPU}, realistic varied events (bench/ingest_events.lua)")
    print(f"{'round':6} {'server':24} {'events/s':>10} {'cpu µs/ev':>10} {'loop µs/ev':>11} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for n, results in enumerate(rounds, 1):
        for name, r in results.items():
            print(f"{n:<6} {name:24} {r['events_per_s']:10.0f} {r['cpu_us']:10.1f} {r['loop_us']:11.1f} {r['p50_ms']:8.2f} "
                  f"{r['p99_ms']:8.2f} {r['errors']:7d}")
    print("median:")
    for name in servers:
        series = [results[name] for results in rounds]
        print(f"       {name:24} {statistics.median(r['events_per_s'] for r in series):10.0f} "
              f"{statistics.median(r['cpu_us'] for r in series):10.1f} {statistics.median(r['loop_us'] for r in series):11.1f} "
              f"{statistics.median(r['p50_ms'] for r in series):8.2f} {statistics.median(r['p99_ms'] for r in series):8.2f}")
    print("(cpu µs/ev: every thread of the server; loop µs/ev: its event loop's thread alone)")
    bases = [base for base in (SPII_PURE, "bare aiohttp (204)", "Python ceiling (204)") if base in servers]
    for spii in [name for name in (SPII, SPII_PURE) if name in servers]:
        for base in bases:
            if base != spii:
                ratios = [results[spii]["events_per_s"] / results[base]["events_per_s"] for results in rounds]
                print(f"{spii} / {base}: " + ", ".join(f"{r:.2f}x" for r in ratios) + f"; median {statistics.median(ratios):.2f}x")
    in_flight = (args.rounds + 1) * args.connections  # answered after wrk stopped counting: stored, not counted
    for name, count in stored.items():
        verdict = "OK" if accepted[name] <= count <= accepted[name] + in_flight else "MISMATCH"
        print(f"{name}: accepted {accepted[name]}, stored in ClickHouse {count} (up to {in_flight} more: requests in flight "
              f"when wrk stopped counting): {verdict}")
    pass_us = privacy_pass_us()
    spii_cpu = statistics.median(results[SPII]["cpu_us"] for results in rounds)
    if pass_us:
        print(f"in-server CPU per event {spii_cpu:.1f} µs vs the privacy pass alone (bench/privacy.py) {pass_us:.1f} µs")


if __name__ == "__main__":
    main()
