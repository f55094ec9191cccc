"""Run the real `spii serve` as a subprocess on loopback, and read its embedded store.

chDB allows one store path per process, so the store of a stopped collector is read from a
short-lived helper subprocess (never from the pytest process)."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SPII = [sys.executable, "-m", "collector"]
BROWSER_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def eventually(check: Any, timeout: float = 15.0) -> Any:
    """``check()`` again every 0.1 s until it returns True or ``timeout`` seconds pass; its last
    result (True, or what it said instead, for the failure message)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is True or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 60) -> bool:
    """Whether a collector answers 200 on ``/readyz`` at ``port`` within ``timeout`` seconds, while
    ``proc`` (the command that starts it) still runs."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            time.sleep(0.2)
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Collector:
    def __init__(self, data_dir: Path, **env: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SPII_")}
        self.env.update(
            SPII_DATA_DIR=str(data_dir),
            SPII_MASTER_KEY=base64.b64encode(b"k" * 16 + b"m" * 16).decode(),
            SPII_SPOOL_SEGMENT_SECONDS="0.3",
            SPII_SHUTDOWN_SECONDS="20",
        )
        self.env.update(env)
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir / "serve.log"

    def cli(self, *args: str) -> Any:
        out = subprocess.run([*SPII, *args], env=self.env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip().startswith(("{", "[")) else out.stdout

    def add_client(self, name: str, *domains: str, **opts: str) -> dict:
        args = ["clients", "add", name]
        for d in domains:
            args += ["--domain", d]
        for key, value in opts.items():
            args += [f"--{key.replace('_', '-')}", value]
        return self.cli(*args)

    def start(self, timeout: float = 60, ready: str = "/readyz") -> Collector:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([*SPII, "serve", "--port", str(self.port)], env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.logs()[-2000:]
            try:
                status, _, _ = self.request("GET", ready)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError("collector did not become ready:\n" + self.logs()[-2000:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self.proc = None
        return code

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def request(self, method: str, path: str, body: bytes | str | None = None, headers: dict | None = None,
                timeout: float = 10) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            hdrs = {"User-Agent": BROWSER_UA, **(headers or {})}
            conn.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def send(self, event: dict, headers: dict | None = None) -> tuple[int, dict, bytes]:
        return self.request("POST", "/api/event", json.dumps(event), {"Content-Type": "text/plain", **(headers or {})})

    def get_json(self, path: str, token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        status, _, body = self.request("GET", path, headers=headers)
        return status, json.loads(body)

    def v2(self, token: str, body: dict) -> tuple[int, Any]:
        """POST /api/v2/query: the status and the decoded answer."""
        status, _, raw = self.request("POST", "/api/v2/query", json.dumps(body),
                                      {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        return status, json.loads(raw)

    def admin_token(self) -> str:
        return (self.data_dir / "admin.token").read_text().strip()

    def wait_shipped(self, count: int, token: str, site: str, timeout: float = 30) -> None:
        """Wait until the store holds ``count`` of today's events of ``site`` (events ship
        asynchronously); read from the receiving status, whose counts are exact."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = self.get_json(f"/api/v1/stats/receiving?site_id={site}", token)
            if status == 200 and body["events_today"] >= count:
                return
            time.sleep(0.2)
        raise TimeoutError(f"fewer than {count} events visible")

    def query(self, sql: str) -> list[dict]:
        """Rows of a SELECT on the (stopped) collector's embedded store."""
        assert self.proc is None, "stop the collector first: chDB allows one process per store"
        return query_store(self.data_dir, sql)


QUERY_HELPER = """
import json, sys
from collector.store.clickhouse import Store
store = Store(sys.argv[1])
rows = store.query_dicts(sys.argv[2])
store.close()
print(json.dumps(rows, default=str))
"""


def query_store(data_dir: Path, sql: str) -> list[dict]:
    return run_json(QUERY_HELPER, f"chdb://{(data_dir / 'clickhouse').resolve()}", sql)


def run_json(code: str, *args: str) -> Any:
    """Run ``code`` in a fresh Python (chDB: one store per process) and decode the JSON it prints."""
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)
