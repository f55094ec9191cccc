"""A real `spii serve` whose data dir is on a small tmpfs that fills up while events arrive:
no 500, 503 with Retry-After while it cannot write, /readyz not ready, a bounded log, every 202
stored exactly once, and events taken and stored again once space is freed. Needs root to mount
a tmpfs (CI runs as root); elsewhere it skips and says so (tests/spool/test_cannot_write.py
injects ENOSPC on any machine)."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.harness import BROWSER_UA, Collector

SITE = "shop.example"
SENDERS = 4


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'not root'}): the full-disk test needs one")
    try:
        yield mount
    finally:
        if os.environ.get("KEEP_LOG"):
            subprocess.run(["cp", "-r", str(mount / "data" / "serve.log"), os.environ["KEEP_LOG"]], check=False)
        subprocess.run(["umount", "-l", str(mount)], check=False)


class Senders:
    """Threads sending pageviews over keep-alive connections, each event's page numbered, until stopped."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.answers: dict[int, int] = {}  # sequence number -> status
        self.retry_after: set[str] = set()
        self.bodies: set[str] = set()
        self._next = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(SENDERS)]

    def start(self) -> Senders:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self.threads:
            thread.join(30)

    def count(self, status: int) -> int:
        with self._lock:
            return sum(1 for s in self.answers.values() if s == status)

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        sent = 0
        while not self._stop.is_set() and sent < 20_000:  # bounded however long the test waits
            with self._lock:
                seq = self._next
                self._next += 1
            body = json.dumps({"n": "pageview", "u": f"https://{SITE}/p/{seq}", "d": SITE})
            try:
                conn.request("POST", "/api/event", body=body, headers={"User-Agent": BROWSER_UA, "Content-Type": "text/plain",
                                                                       "X-Forwarded-For": f"198.51.100.{seq % 250 + 1}"})
                response = conn.getresponse()
                text = response.read().decode()
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                continue
            sent += 1
            with self._lock:
                self.answers[seq] = response.status
                if response.status == 503:
                    self.retry_after.add(response.getheader("Retry-After") or "")
                    self.bodies.add(json.loads(text)["error"])
            time.sleep(0.002)


def _fill(path: Path, leave: int) -> None:
    """Write zeros until the filesystem has at most ``leave`` bytes free, or says it is full."""
    with open(path, "wb") as filler:
        block = b"\0" * (1 << 20)
        try:
            while (stat := os.statvfs(path)).f_bavail * stat.f_frsize > leave:
                filler.write(block)
                filler.flush()
        except OSError:
            pass


def _wait(condition, timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise TimeoutError(what)


@pytest.mark.parametrize(("floor", "leave", "refusal"), [("0", 0, "disk_full"), (str(32 << 20), 8 << 20, "disk_low")],
                         ids=["write-fails", "free-space-floor"])
def test_a_full_disk_answers_503_and_loses_nothing(small_disk, floor, leave, refusal):
    data = small_disk / "data"
    data.mkdir()
    collector = Collector(data, SPII_TRUSTED_PROXIES="127.0.0.1/32", SPII_CLIENT_RATE="100000", SPII_CLIENT_BURST="100000",
                          SPII_SPOOL_MIN_FREE_BYTES=floor)
    shop = collector.add_client("shop", SITE)
    collector.start()
    senders = Senders(collector.port).start()
    try:
        _wait(lambda: senders.count(202) >= 200, what="events accepted before the disk fills")
        filler = small_disk / "filler"
        _fill(filler, leave)
        _wait(lambda: senders.count(503) >= 300, what="503 while the disk is full")
        status, _, body = collector.request("GET", "/readyz")
        ready = json.loads(body)
        assert status == 503 and ready["checks"]["spool_writable"] is False
        assert ready["spool_refusal"] == refusal
        _, _, metrics = collector.request("GET", "/metrics")
        assert f'spii_requests_rejected_total{{reason="{ready["spool_refusal"]}"}}' in metrics.decode()
        refused_while_full = senders.count(503)
        filler.unlink()  # space comes back
        accepted = senders.count(202)
        _wait(lambda: senders.count(202) >= accepted + 200, what="events accepted again after the space came back")
        assert collector.request("GET", "/readyz")[0] == 200
        senders.stop()
        statuses = Counter(senders.answers.values())
        assert set(statuses) <= {202, 503}, statuses  # never a 500
        assert senders.retry_after and all(r.isdigit() and int(r) > 0 for r in senders.retry_after) and all("cannot store events now" in b for b in senders.bodies)
        collector.wait_shipped(statuses[202], shop["token"], SITE, timeout=60)
    finally:
        senders.stop()
        collector.stop()
    assert "198.51.100." not in collector.logs()  # the senders' addresses: in no line, refused or not
    log_lines = collector.logs().splitlines()
    print(f"answers {dict(Counter(senders.answers.values()))}, log lines {len(log_lines)}")
    assert len(log_lines) < 60, f"{len(log_lines)} log lines for {refused_while_full} refused events"
    stored = Counter(int(row["path"].rsplit("/", 1)[1]) for row in collector.query("SELECT path FROM spii.events"))
    accepted_seqs = {seq for seq, status in senders.answers.items() if status == 202}
    assert set(stored) == accepted_seqs and set(stored.values()) == {1}  # every 202 stored once, no 503 stored
