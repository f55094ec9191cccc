"""Malformed HTTP from a distinct loopback address: the address never reaches a log line, the
spool, the keyring, the audit log or a row, every failure is counted by reason, error answers
are JSON, and good events sent alongside from the same address are stored."""

import json
import socket
from pathlib import Path

import pytest

from tests.e2e.harness import BROWSER_UA

SITE = "shop.example"
PEER = "127.0.0.77"  # the "visitor": every request of this test comes from here

GOOD = json.dumps({"n": "pageview", "u": f"https://{SITE}/ok", "d": SITE}).encode()

# (what it is, raw bytes sent). Each goes on a fresh connection from PEER.
MALFORMED = [
    ("control byte in a header", b"POST /api/event HTTP/1.1\r\nHost: a\r\nX-Bad: a\x01b\r\nContent-Length: 2\r\n\r\n{}"),
    ("bad Content-Length", b"POST /api/event HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n{}"),
    ("negative Content-Length", b"POST /api/event HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n{}"),
    ("two Content-Lengths", b"POST /api/event HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"),
    ("TLS hello on the plain port", bytes.fromhex("16030100f8010000f40303") + bytes(range(32)) + b"\x00\x02\x13\x01\x01\x00"),
    ("invalid method", b"G@T /api/event HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    ("unknown HTTP version", b"GET /healthz HTTP/9.9\r\nHost: a\r\n\r\n"),
    ("header line too long", b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Long: " + b"a" * 20000 + b"\r\n\r\n"),
    ("bad chunk size", b"POST /api/event HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
    ("chunked and Content-Length", b"POST /api/event HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("space before colon", b"GET /healthz HTTP/1.1\r\nHost : a\r\n\r\n"),
    ("NUL in the request target", b"GET /heal\x00thz HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("bare LF line ends with obs-fold", b"GET /healthz HTTP/1.1\nHost: a\n folded\n\n"),
    ("the peer address in a broken header", f"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: {PEER}\x7f\r\n\r\n".encode()),
    ("body shorter than Content-Length", b"POST /api/event HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n{\"n\":"),
]


def raw_exchange(port: int, payload: bytes, timeout: float = 2.0) -> bytes:
    """Send ``payload`` on a new connection from PEER; what came back until the server closed
    (or ``timeout`` passed: a body shorter than its Content-Length keeps the server waiting)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(PEER, 0)) as sock:
        sock.sendall(payload)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


def request_from_peer(port: int, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> tuple[int, dict, bytes]:
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"User-Agent: {BROWSER_UA}", "Connection: close",
            f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    answer = raw_exchange(port, ("\r\n".join(head) + "\r\n\r\n").encode() + body)
    status_line, _, rest = answer.partition(b"\r\n")
    header_block, _, payload = rest.partition(b"\r\n\r\n")
    hdrs = dict(line.decode().split(": ", 1) for line in header_block.split(b"\r\n") if b": " in line)
    return int(status_line.split()[1]), {k.lower(): v for k, v in hdrs.items()}, payload


def _files_text(root: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and p.stat().st_size < 50_000_000
                   and "clickhouse" not in p.parts)


@pytest.fixture
def peer_available():
    try:
        with socket.socket() as s:
            s.bind((PEER, 0))
    except OSError:
        pytest.skip(f"cannot bind {PEER}")


def test_malformed_requests_leave_no_address_anywhere_and_good_events_land(collector, peer_available):
    collector.add_client("shop", SITE)
    collector.env["SPII_SPOOL_SEGMENT_SECONDS"] = "3600"  # rows stay in the spool to be inspected there too
    collector.start()
    port = collector.port
    good_sent = 0
    answers = {}
    for what, payload in MALFORMED:
        answers[what] = raw_exchange(port, payload)
        status, _, _ = request_from_peer(port, "POST", "/api/event", GOOD, {"Content-Type": "text/plain"})
        assert status == 202, what
        good_sent += 1
    # errors of the application layer, each JSON in the {error, details} shape
    for method, path, body, want in [("GET", "/no/such/path?ip=" + PEER, b"", 404), ("DELETE", "/api/event", b"", 405),
                                     ("POST", "/api/event", b"x" * 9000, 413), ("POST", "/api/event", b"{not json", 400)]:
        status, headers, payload = request_from_peer(port, method, path, body)
        assert status == want, (method, path, status)
        data = json.loads(payload)
        assert data["error"] and data["details"] and data["details"][0]["field"], data
        assert PEER not in payload.decode()
    # (aiohttp's own answer to a protocol error quotes the offending line back to its sender:
    # that goes back on the same connection only, and is neither stored nor logged)
    assert all(answer.startswith(b"HTTP/1.") or not answer for answer in answers.values())
    # metrics count the protocol errors by reason
    status, _, metrics = collector.request("GET", "/metrics")
    counted = {line.split('reason="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
               for line in metrics.decode().splitlines() if line.startswith("spii_http_protocol_errors_total{")}
    assert sum(counted.values()) >= 10, counted
    assert 'spii_http_errors_total{status="404"} 1.0' in metrics.decode()
    # spool and every other file of the data dir, while the rows are still in the spool
    data_files = _files_text(collector.data_dir)
    assert '"path":"/ok"' in data_files  # the spool really was read
    assert collector.stop() == 0
    logs = collector.logs()
    assert PEER not in logs, [line for line in logs.splitlines() if PEER in line][:3]
    assert "malformed or failed HTTP request" in logs
    assert PEER not in _files_text(collector.data_dir)  # spool, keyring, audit log, clients, logs
    rows = collector.query("SELECT * FROM spii.events")
    assert len(rows) == good_sent
    assert PEER not in json.dumps(rows)
    print(f"sent {len(MALFORMED)} malformed requests and 4 bad application requests from {PEER}; "
          f"{good_sent} good events stored; protocol errors counted: {counted}")
