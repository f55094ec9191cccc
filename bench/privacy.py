"""Privacy-pass micro-benchmarks: µs/op for each transform and for the whole per-event pass,
each printed next to a baseline measured in the same run.

    .venv/bin/python bench/privacy.py [--events 20000]

Per-call timings (perf_counter_ns around each call) give the median and p99; the per-call
timer overhead is measured too and printed, so sub-µs figures can be read against it.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402
from crawleruseragents import is_crawler  # noqa: E402
from multidict import CIMultiDict  # noqa: E402

from collector.ingest.client_ip import TrustedProxies, client_ip  # noqa: E402
from collector.privacy import ipcrypt  # noqa: E402
from collector.privacy.anonymise import ClientPolicy, RawVisit, anonymise  # noqa: E402
from collector.privacy.geoip import open_locator  # noqa: E402
from collector.privacy.keyring import KeyringStore  # noqa: E402
from collector.privacy.masterkey import MasterKey  # noqa: E402
from collector.privacy.postcode import coarse_area  # noqa: E402
from collector.privacy.url import referrer_host, referrer_source, scrub_url  # noqa: E402
from collector.privacy.useragent import is_bot, parse_user_agent  # noqa: E402

NOW = datetime.now(UTC)

BROWSER_UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{v} Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{v} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel {v}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    "Mozilla/5.0 (iPad; CPU OS 17_{v} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
]


def realistic_uas(rng: random.Random, n: int) -> list[str]:
    """n UAs drawn from a pool of ~300 distinct strings with a Zipf-like skew, as on a real site."""
    pool = [t.format(v=v) for t in BROWSER_UAS for v in range(80, 130)]
    weights = [1 / (i + 1) for i in range(len(pool))]
    return rng.choices(pool, weights=weights, k=n)


def timed(fn: Callable[[object], object], inputs: Sequence[object]) -> list[float]:
    """Per-call durations in µs."""
    out = []
    clock = time.perf_counter_ns
    for x in inputs:
        t0 = clock()
        fn(x)
        out.append((clock() - t0) / 1000)
    return out


def summary(samples: list[float]) -> tuple[float, float, float]:
    samples = sorted(samples)
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1], statistics.fmean(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args()
    n = args.events
    rng = random.Random(7)

    tmp = Path(tempfile.mkdtemp())
    store = KeyringStore(tmp / "keyring.json", MasterKey(os.urandom(32)))
    store.rotate(2, NOW)
    keyring = store.load()

    ips = [str(ipaddress.IPv4Address(rng.getrandbits(32))) if rng.random() < 0.8 else str(ipaddress.IPv6Address(rng.getrandbits(128))) for _ in range(n)]
    packed = [ipcrypt.ip_to_bytes(ip) for ip in ips]
    uas = realistic_uas(rng, n)
    postcodes = [rng.choice(["SW1A 1AA", "EC1A 1BB", "M1 1AE", "B33 8TH", "DN55 1PT", "LS1 4AP"]) for _ in range(n)]
    urls = [f"https://shop.example.com/products/{rng.randint(1, 500)}?utm_source=news&utm_medium=email&sid={rng.getrandbits(64):x}" for _ in range(n)]
    refs = [rng.choice(["https://www.google.com/search?q=x", "https://t.co/abc", "https://blog.example.org/p/1", ""]) for _ in range(n)]
    key16 = os.urandom(16)
    ecb = Cipher(algorithms.AES(key16), modes.ECB()).encryptor()
    proxies = TrustedProxies(["10.0.0.0/8"])
    headers = CIMultiDict({"X-Forwarded-For": "198.51.100.7, 10.0.0.2"})
    policy = ClientPolicy("client-1", allow_params=frozenset({"lang"}))
    visits = [RawVisit(ip=ip, user_agent=ua, url=u, referrer=r, postcode=pc, country="GB") for ip, ua, u, r, pc in zip(ips, uas, urls, refs, postcodes)]

    # warm caches the way a running server has them warm (UA cache, ECB contexts, subkeys)
    for v in visits[:2000]:
        anonymise(v, policy, keyring, NOW)

    rows: list[tuple[str, list[float], str]] = []
    rows.append(("timer overhead (empty call)", timed(lambda x: None, ips), ""))
    rows.append(("baseline: bare AES-128-ECB block (cached ctx)", timed(ecb.update, packed), ""))
    rows.append(("ip_to_bytes", timed(ipcrypt.ip_to_bytes, ips), ""))
    rows.append(("encrypt_deterministic (str -> str)", timed(lambda ip: ipcrypt.encrypt_deterministic(ip, key16), ips), ""))
    rows.append(("keyring.pseudonymise (token + visitor id)", timed(lambda p: keyring.pseudonymise("client-1", p, "Chrome/131/Windows/10/desktop", NOW), packed), ""))
    rows.append(("coarse_area (GB)", timed(coarse_area, postcodes), ""))
    rows.append(("scrub_url", timed(lambda u: scrub_url(u, policy.allow_params), urls), ""))
    rows.append(("referrer host + source", timed(lambda r: referrer_source(referrer_host(r)), refs), ""))
    rows.append(("client_ip (trusted proxy, XFF)", timed(lambda _: client_ip("10.0.0.1", headers, proxies), ips), ""))
    locate = open_locator(None).locate
    rows.append(("geoip country (iptocc, default)", timed(locate, ips), "no cache: keys would be addresses"))
    rows.append(("parse_user_agent (realistic mix, cached)", timed(parse_user_agent, uas), ""))
    sample_uas = uas[:300]
    rows.append(("baseline: crawleruseragents.is_crawler", timed(is_crawler, sample_uas), ""))
    is_bot.cache_clear()
    rows.append(("is_bot uncached (trie-compiled regex)", timed(is_bot, list(dict.fromkeys(sample_uas))), ""))
    rows.append(("is_bot (realistic mix, cached)", timed(is_bot, uas), ""))
    parse_user_agent.cache_clear()
    is_bot.cache_clear()
    rows.append(("parse_user_agent cache miss (ua-parser)", timed(parse_user_agent, list(dict.fromkeys(uas))), ""))
    for v in visits[:2000]:
        anonymise(v, policy, keyring, NOW)
    rows.append(("WHOLE privacy pass per event (anonymise)", timed(lambda v: anonymise(v, policy, keyring, NOW, locate), visits),
                 "target <= 15 µs median"))

    print(f"privacy pass benchmark: {n} events, python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    print(f"{'operation':50} {'median µs':>10} {'p99 µs':>10} {'mean µs':>10}")
    for name, samples, note in rows:
        med, p99, mean = summary(samples)
        print(f"{name:50} {med:10.2f} {p99:10.2f} {mean:10.2f}  {note}")
    base = summary(rows[1][1])[0]
    whole = summary(rows[-1][1])[0]
    crawler = summary(rows[10][1])[0]
    cached_bot = summary(rows[12][1])[0]
    print(f"\nwhole pass / bare AES block: {whole / base:.1f}x; is_crawler / cached is_bot: {crawler / cached_bot:.0f}x")
    print(f"whole pass median {whole:.2f} µs -> {'MEETS' if whole <= 15 else 'MISSES'} the 15 µs target")


if __name__ == "__main__":
    main()
