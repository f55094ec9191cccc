"""`spii demo`: a collector with 60 days of realistic synthetic traffic up to now, for a first
look (so "Last 30 days" has a previous period to compare with, and "Today" has data).

Starts `spii serve` on a temp (or given) data dir, registers a demo client, replays the traffic
through the real beacon endpoint (dated with the operator's backfill `ts`, one request per event,
each visitor behind its own documentation-range IP), then prints the dashboard URL and token and
keeps serving until Ctrl-C or SIGTERM. Stopping stops the server with it (it also dies with its
parent, however the parent ends) and removes the temp data dir; a given --data-dir is kept."""

from __future__ import annotations

import argparse
import ctypes
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line imports this module for its parser: the rest loads when it runs
    from collector.config import Settings

__all__ = ["add_parser", "synthetic_traffic", "run"]

SITE = "demo.example"
UAS = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", 35),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", 25),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", 15),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", 12),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0", 8),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", 5),
]
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SOURCES = [
    ("https://www.google.com/", "", 40), ("", "", 28), ("https://t.co/x", "", 8), ("https://www.bing.com/", "", 5),
    ("", "?utm_source=newsletter&utm_medium=email&utm_campaign=november", 14), ("https://news.ycombinator.com/", "", 5),
]
PAGES = ["/", "/products/tea", "/products/coffee", "/products/cups", "/blog/brewing-guide", "/blog/origins", "/pricing", "/about"]
POSTCODES = [("SW1A 1AA", "GB"), ("M1 1AE", "GB"), ("EH1 1YZ", "GB"), ("B33 8TH", "GB"), ("LS1 4AP", "GB"), ("CF10 1AA", "GB"),
             ("10001", "US"), ("94105", "US"), ("1012 AB", "NL"), ("3511 AB", "NL")]
COUNTRIES = [("GB", 55), ("US", 30), ("NL", 15)]  # where the visitors are: the countries of the postcodes
CONSENTING = 0.15  # visitors who accepted the site's cookie (data-consent="granted"): a first-party id across days
GOALS = [{"event": "Newsletter signup"}, {"page": "/pricing"}, {"event": "transaction", "revenue": "GBP"}]
FUNNEL = ("Browse to buy", ["Visit /pricing", "transaction"])


def country_addresses(seed: int, per_country: int = 400) -> dict[str, list[str]]:
    """Public IPv4 addresses in each of COUNTRIES, as the regional registries delegate them
    (iptocc, the collector's own default country lookup), drawn at random: the demo's countries
    then match its postcodes."""
    import iptocc

    rng = random.Random(seed)
    found: dict[str, list[str]] = {code: [] for code, _ in COUNTRIES}
    for _ in range(2_000_000):  # bounded: a few hundred thousand draws fill them
        if all(len(found[code]) >= per_country for code in found):
            break
        address = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        code = iptocc.country_code(address)
        if code in found and len(found[code]) < per_country:
            found[code].append(address)
    return found


def add_parser(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="start a collector with 30 days of synthetic traffic and print the dashboard URL")
    demo.add_argument("--data-dir", help="data directory (default: a new temp dir)")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--days", type=int, default=60, help="days of history up to now (default 60: 30 days and the 30 before)")
    demo.add_argument("--visitors-per-day", type=int, default=60)
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--no-serve", action="store_true", help="stop after loading (for scripts and tests)")


def _weighted(rng: random.Random, options: list[tuple]) -> tuple:
    return rng.choices(options, weights=[o[-1] for o in options])[0]


def synthetic_traffic(days: int, per_day: int, seed: int, end: datetime) -> Iterator[tuple[datetime, str, str, dict]]:
    """(time, visitor IP, User-Agent, event) in time order: visits of 1-5 pageviews, sources
    and campaigns, transactions with postcodes, fulfilments, contacts, and a few bots."""
    rng = random.Random(seed)
    addresses = country_addresses(seed)
    start = (end - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    today = start + timedelta(days=days)
    so_far = (end - today) / timedelta(days=1)  # the share of today that has passed
    for day in range(days + 1):  # the last one is today, up to ``end``
        events: list[tuple[datetime, str, str, dict]] = []
        weekday = (start + timedelta(days=day)).weekday()
        count = int(per_day * (0.7 if weekday >= 5 else 1.0) * rng.uniform(0.8, 1.25) * (1 + day / (days * 3)))
        if day == days:  # today's visits so far, a few at least whatever the hour (a day's start has none)
            count = max(3, round(count * so_far))
        for v in range(count):
            country = _weighted(rng, COUNTRIES)[0]
            ip = rng.choice(addresses[country])
            ua = _weighted(rng, UAS)[0]
            cookie = {"cid": f"demo{rng.getrandbits(64):016x}"} if rng.random() < CONSENTING else {}
            referrer, query, _ = _weighted(rng, SOURCES)
            t = start + timedelta(days=day, hours=rng.triangular(6, 23, 14), minutes=rng.random() * 60)
            if day == days:
                t = today + (t - today) * so_far  # the day's shape, in the hours that have passed
            if t > end:
                continue
            path = rng.choice(PAGES[:4]) if rng.random() < 0.7 else rng.choice(PAGES)
            first = {"n": "pageview", "u": f"https://{SITE}{path}{query}", "d": SITE, "r": referrer, **cookie}
            events.append((t, ip, ua, first))
            pages = [path] + [rng.choice(PAGES) for _ in range(rng.choices([0, 1, 2, 3, 4], weights=[45, 25, 15, 10, 5])[0])]
            for n, page in enumerate(pages):
                stay = rng.randint(20, 240)
                if n:
                    events.append((t, ip, ua, {"n": "pageview", "u": f"https://{SITE}{page}", "d": SITE, **cookie}))
                # the engagement ping Plausible's tracker sends when a page is left: scroll depth and engaged time
                events.append((t + timedelta(seconds=stay - 1), ip, ua, {"n": "engagement", "u": f"https://{SITE}{page}", "d": SITE,
                                                                           "sd": rng.choice([25, 40, 60, 75, 90, 100]),
                                                                           "e": rng.randint(5_000, stay * 1000), **cookie}))
                t += timedelta(seconds=stay)
            if rng.random() < 0.08:
                postcode, country = rng.choice([p for p in POSTCODES if p[1] == country])
                order = f"ORD-{day:02d}{v:04d}"
                amount = round(rng.uniform(8, 120), 2)
                t += timedelta(seconds=rng.randint(30, 300))
                events.append((t, ip, ua, {"n": "transaction", "u": f"https://{SITE}/checkout", "d": SITE, "order": order, **cookie,
                                           "revenue": {"amount": amount, "currency": "GBP"}, "pc": postcode, "cc": country,
                                           "items": [{"sku": rng.choice(["tea", "coffee", "cup"]), "quantity": rng.randint(1, 3), "price": amount}]}))
                if rng.random() < 0.9:
                    events.append((t + timedelta(hours=rng.randint(1, 6)), ip, ua, {"n": "fulfilment", "u": f"https://{SITE}/orders", "d": SITE,
                                                                                    "order": order, "status": rng.choice(["shipped", "shipped", "delivered"])}))
            if rng.random() < 0.03:
                events.append((t + timedelta(seconds=40), ip, ua, {"n": "contact", "u": f"https://{SITE}/contact", "d": SITE, **cookie,
                                                                   "channel": rng.choice(["email", "phone", "form"])}))
            if rng.random() < 0.05:
                events.append((t, ip, ua, {"n": "Newsletter signup", "u": f"https://{SITE}{path}", "d": SITE, "props": {"position": "footer"},
                                           **cookie}))
        for _ in range(rng.randint(1, 4)):  # crawlers: dropped by bot filtering
            t = start + timedelta(days=day, hours=rng.random() * 24)
            events.append((t, "192.0.2.1", BOT_UA, {"n": "pageview", "u": f"https://{SITE}/", "d": SITE}))
        events.sort(key=lambda e: e[0])
        yield from (e for e in events if e[0] <= end)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _die_with_parent() -> None:
    """In the server's process, before exec: the kernel sends it SIGTERM when the demo process
    dies, even by SIGKILL, so no collector is left behind with parent 1 (Linux prctl)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: Ctrl-C and SIGTERM still stop it
        pass


def _port_free(port: int) -> bool:
    """Whether this machine's loopback port can be listened on now (a first check; the server
    itself is then asked to prove it is the demo's own: :func:`_wait_ready`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _last_line(log: Path) -> str:
    """The collector's last log line's message (why it stopped), or an empty string."""
    try:
        line = log.read_text(errors="replace").strip().splitlines()[-1]
    except (OSError, IndexError):
        return ""
    try:
        return str(json.loads(line).get("msg", line))
    except ValueError:
        return line


def _wait_ready(port: int, proc: subprocess.Popen, token: str, log: Path, timeout: float = 60) -> None:
    """Until the server on ``port`` is ready and is the demo's own: it knows the demo client's
    fresh token (a stranger on the port cannot) and the process we started still runs."""
    from collector.errors import UserError

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UserError(f"the demo's collector could not start on 127.0.0.1:{port} ({_last_line(log) or 'no log line'}; "
                            f"its log: {log}); nothing was sent")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            ready = conn.getresponse()
            ready.read()
            conn.request("GET", "/api/v1/stats/receiving?site_id=demo", headers={"Authorization": f"Bearer {token}"})
            own = conn.getresponse()
            own.read()
            conn.close()
            if ready.status == 200 and own.status == 200 and proc.poll() is None:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise UserError(f"the demo's collector did not become ready on 127.0.0.1:{port} within {timeout:.0f} s; nothing was sent")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from collector.config import Settings
    from collector.privacy.setup import keyring_store, load_master_key
    from collector.http.auth import admin_token
    from collector.tenants import RegistryStore

    from collector.errors import UserError
    from collector.processes import stop

    console = Console(stderr=True)
    if not _port_free(args.port):
        raise UserError(f"the demo cannot use port {args.port} on 127.0.0.1: another program listens there; "
                        "choose another with --port (nothing was sent)")
    temporary = args.data_dir is None  # a temp dir goes when the demo ends; a given one is kept
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="spii-demo-")).resolve()
    settings = Settings(**{**settings.model_dump(), "data_dir": data_dir})
    registry = RegistryStore(settings.clients_path)
    if registry.load().find("demo") is None:
        _, token = registry.add("demo", [SITE], cookies="consent")
        for goal in GOALS:
            registry.add_goal("demo", **goal)
        registry.add_funnel("demo", FUNNEL[0], FUNNEL[1])
    else:
        _, token = registry.new_token("demo")
    admin = admin_token(settings)
    # backdated events are pseudonymised under their own day's key: create the past epochs
    now = datetime.now(UTC)
    keyring_store(settings, load_master_key(settings)).rotate(args.days + 1 + settings.keys_ahead, now=now - timedelta(days=args.days + 1))
    env = {**os.environ, "SPII_DATA_DIR": str(data_dir), "SPII_PORT": str(args.port), "SPII_TRUSTED_PROXIES": "127.0.0.1/32",
           "SPII_CLIENT_RATE": "100000", "SPII_CLIENT_BURST": "100000"}
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM ends the demo as Ctrl-C does: server and temp dir go too
    # the collector's log goes to a file: the terminal shows the progress and what to open
    log_path = data_dir / "serve.log"
    log = open(log_path, "ab")
    proc = subprocess.Popen([sys.executable, "-m", "collector", "serve", "--data-dir", str(data_dir), "--port", str(args.port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    log.close()
    try:
        _wait_ready(args.port, proc, token, log_path)
        events = list(synthetic_traffic(args.days, args.visitors_per_day, args.seed, now))
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
        accepted = 0
        with Progress(console=console) as progress:
            task = progress.add_task(f"sending {len(events)} events", total=len(events))
            for ts, ip, ua, event in events:
                body = json.dumps({**event, "ts": ts.isoformat()})
                conn.request("POST", "/api/event", body=body, headers={
                    "Content-Type": "text/plain", "User-Agent": ua, "X-Forwarded-For": ip, "Authorization": f"Bearer {admin}"})
                response = conn.getresponse()
                response.read()
                accepted += response.status == 202 and not response.getheader("X-SPII-Dropped")
                progress.advance(task)
        conn.close()
        time.sleep(settings.spool_segment_seconds + 1.0)  # the last segment seals and ships
        url = f"http://127.0.0.1:{args.port}/dashboard/demo"
        console.print(f"\n[bold]spii demo[/] is running: {accepted} of {len(events)} events accepted (bots dropped).")
        # soft_wrap: a long line is left for the terminal to wrap, so a copied command is still one line
        console.print(f"  data dir : {data_dir}\n  dashboard: {url}\n  token    : {token}", soft_wrap=True)
        console.print(f"  report   : spii report demo --data-dir {data_dir} --server http://127.0.0.1:{args.port}", soft_wrap=True)
        console.print(f"  its log  : {log_path}", soft_wrap=True)
        if not sys.stdout.isatty():  # (for scripts and tests; a person reads the lines above)
            print(json.dumps({"dashboard": url, "token": token, "data_dir": str(data_dir), "accepted": accepted, "sent": len(events)}),
                  flush=True)
        if args.no_serve:
            return 0
        console.print("Ctrl-C stops it.")
        proc.wait()
        return proc.returncode or 0
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        stop(proc, 60)
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)
            console.print(f"spii demo stopped; its data dir {data_dir} is removed")
        else:
            console.print(f"spii demo stopped; its data is kept in {data_dir}")
