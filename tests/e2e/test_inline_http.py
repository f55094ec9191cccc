"""The beacon's hot path inside the protocol (collector/http/inline.py), driven over raw sockets:
events on a keep-alive connection are answered in order with the headers aiohttp's own path
sends, everything the inline path leaves alone still works on the same connection, bad input
gets the same JSON errors, an idle connection is closed after SPII_KEEPALIVE_SECONDS, and an
event that finds no current key is handed to aiohttp's path with its body intact."""

import json
import socket
import time
from pathlib import Path

import pytest

from tests.e2e.harness import BROWSER_UA, Collector
from tests.e2e.test_simulated_year import LIBFAKETIME, SimulatedClock

SITE = "inline.example"


def event_request(body: bytes, path: str = "/api/event", extra: str = "", version: str = "1.1") -> bytes:
    return (f"POST {path} HTTP/{version}\r\nHost: 127.0.0.1\r\nUser-Agent: {BROWSER_UA}\r\nContent-Type: text/plain\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def pageview(n: int) -> bytes:
    return json.dumps({"n": "pageview", "u": f"https://{SITE}/inline/{n}", "d": SITE}).encode()


class Connection:
    """One keep-alive connection, reading answers one by one (Content-Length framed)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def answer(self) -> tuple[str, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            assert self._fill(), "connection closed before an answer"
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines)}
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            assert self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body

    def closed_within(self, seconds: float) -> bool:
        self.sock.settimeout(seconds)
        try:
            return self.sock.recv(1) == b""
        except TimeoutError:
            return False


@pytest.fixture(scope="module")
def collector(tmp_path_factory):
    c = Collector(tmp_path_factory.mktemp("inline"), SPII_KEEPALIVE_SECONDS="1.5")
    c.add_client("inline", SITE, perturb="off")
    c.start()
    yield c
    c.stop()


def test_events_on_one_connection_are_answered_in_order_like_aiohttps_own_answers(collector):
    conn = Connection(collector.port)
    try:
        for n in range(40):
            conn.sock.sendall(event_request(pageview(n)))
            status, headers, body = conn.answer()
            assert status == "HTTP/1.1 202 Accepted" and json.loads(body) == {"ok": True}
        # the same event on aiohttp's path (a query string is not the hot path's): the same answer
        conn.sock.sendall(event_request(pageview(40), path="/api/event?via=aiohttp"))
        routed_status, routed_headers, routed_body = conn.answer()
        assert (routed_status, routed_body) == (status, body)
        assert set(routed_headers) == set(headers) == {"content-type", "content-length", "date", "server"}
        assert {k: v for k, v in headers.items() if k != "date"} == {k: v for k, v in routed_headers.items() if k != "date"}
        # pipelined: an event, a health check and a bad event in one write come back in order
        conn.sock.sendall(event_request(pageview(41)) + b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n" + event_request(b"{nope"))
        assert conn.answer()[0] == "HTTP/1.1 202 Accepted"
        assert conn.answer()[0] == "HTTP/1.1 200 OK"
        status, _, body = conn.answer()
        assert status == "HTTP/1.1 400 Bad Request" and json.loads(body)["details"] == [{"field": "body", "problem": "expected a JSON object"}]
        # a body split across TCP segments is aiohttp's to wait for, on the same connection
        request = event_request(pageview(42))
        conn.sock.sendall(request[:-10])
        time.sleep(0.2)
        conn.sock.sendall(request[-10:])
        assert conn.answer()[0] == "HTTP/1.1 202 Accepted"
    finally:
        conn.close()
    token = collector.admin_token()
    collector.wait_shipped(43, token, SITE)
    time.sleep(1)  # (a 44th would have shipped by now)
    assert collector.get_json(f"/api/v1/stats/receiving?site_id={SITE}", token)[1]["events_today"] == 43


def test_bad_events_get_the_field_named_and_nothing_is_stored(collector):
    conn = Connection(collector.port)
    try:
        conn.sock.sendall(event_request(json.dumps({"n": "pageview", "u": "ftp://x", "d": SITE}).encode()))
        status, headers, body = conn.answer()
        assert status == "HTTP/1.1 400 Bad Request" and headers["content-type"].startswith("application/json")
        assert [d["field"] for d in json.loads(body)["details"]] == ["u"]
        conn.sock.sendall(event_request(json.dumps({"n": "pageview", "u": f"https://{SITE}/x", "d": SITE, "p": "x" * 9000}).encode()))
        assert conn.answer()[0] == "HTTP/1.1 413 Request Entity Too Large"
        conn.sock.sendall(event_request(json.dumps({"n": "pageview", "u": f"https://{SITE}/x", "d": "stranger.example"}).encode()))
        status, headers, body = conn.answer()
        assert status == "HTTP/1.1 202 Accepted" and headers["x-spii-dropped"] == "unknown_client"
        conn.sock.sendall(event_request(pageview(1), extra=f"Origin: https://{SITE}\r\n"))
        status, headers, _ = conn.answer()
        assert headers["access-control-allow-origin"] == f"https://{SITE}" and headers["vary"] == "Origin"
    finally:
        conn.close()


def test_http10_and_connection_close_are_answered_and_closed(collector):
    for version, extra in (("1.0", ""), ("1.1", "Connection: close\r\n")):
        conn = Connection(collector.port)
        try:
            conn.sock.sendall(event_request(pageview(7), extra=extra, version=version))
            assert conn.answer()[0].endswith("202 Accepted")
            assert conn.closed_within(5)
        finally:
            conn.close()


def test_an_idle_connection_is_closed_after_the_keepalive_timeout_and_not_while_busy(collector):
    conn = Connection(collector.port)
    try:
        started = time.monotonic()
        while time.monotonic() - started < 3:  # busy for twice the 1.5 s timeout: never closed under it
            conn.sock.sendall(event_request(pageview(8)))
            assert conn.answer()[0] == "HTTP/1.1 202 Accepted"
            time.sleep(0.1)
        assert conn.closed_within(6)
    finally:
        conn.close()


@pytest.mark.skipif(not LIBFAKETIME.exists(), reason="Debian package faketime not installed")
def test_an_event_with_no_current_key_goes_to_the_key_keeper_with_its_body(tmp_path: Path):
    clock = SimulatedClock(tmp_path / "faketime")
    data = tmp_path / "data"
    data.mkdir()
    collector = Collector(data, LD_PRELOAD=str(LIBFAKETIME), FAKETIME_TIMESTAMP_FILE=str(clock.path), FAKETIME_NO_CACHE="1",
                          FAKETIME_DONT_FAKE_MONOTONIC="1")
    collector.add_client("inline", SITE, perturb="off")
    collector.start()
    try:
        conn = Connection(collector.port)
        try:
            conn.sock.sendall(event_request(pageview(100)))
            assert conn.answer()[0] == "HTTP/1.1 202 Accepted"
            clock.set_day(40)  # past every key made ahead: the next event finds none
            time.sleep(1.5)  # (the keyring file is re-read at most once a second)
            conn.sock.sendall(event_request(pageview(101)))
            status, _, body = conn.answer()
            assert status == "HTTP/1.1 202 Accepted", body  # made on demand; the body reached aiohttp's path whole
            conn.sock.sendall(event_request(pageview(102)))
            assert conn.answer()[0] == "HTTP/1.1 202 Accepted"
        finally:
            conn.close()
    finally:
        collector.stop()
    rows = collector.query(f"SELECT path, key_id FROM spii.events WHERE host = '{SITE}' ORDER BY path")
    assert [r["path"] for r in rows] == ["/inline/100", "/inline/101", "/inline/102"]
    assert rows[0]["key_id"] != rows[1]["key_id"] == rows[2]["key_id"]


def test_planted_raw_values_reach_no_log_spool_or_row(tmp_path: Path):
    """The inline path keeps the privacy rules: a visitor address (through a trusted proxy), a
    full postcode, a User-Agent and a cookie id, planted in good and bad events, are found in no
    log line, no spool file and no stored row."""
    address, postcode, agent, cookie = "203.0.113.77", "SW1A 1AA", f"{BROWSER_UA} Planted/77", "cookie-PLANTED-42"
    collector = Collector(tmp_path, SPII_TRUSTED_PROXIES="127.0.0.1/32", SPII_SPOOL_SEGMENT_SECONDS="30")
    collector.add_client("inline", SITE, perturb="off")
    collector.start()
    try:
        conn = Connection(collector.port)
        try:
            planted = f"User-Agent: {agent}\r\nX-Forwarded-For: {address}\r\n"
            good = {"n": "transaction", "u": f"https://{SITE}/buy", "d": SITE, "pc": postcode, "cc": "GB", "cid": cookie,
                    "revenue": {"amount": "1.00", "currency": "GBP"}}
            bad = {"n": "pageview", "u": f"ftp://{address}/{postcode}", "d": SITE, "cid": cookie}
            for event, status in ((good, "202 Accepted"), (bad, "400 Bad Request"), ({**good, "revenue": address}, "400 Bad Request")):
                conn.sock.sendall(event_request(json.dumps(event).encode(), extra=planted).replace(f"User-Agent: {BROWSER_UA}\r\n".encode(), b""))
                answer_status, _, body = conn.answer()
                assert answer_status.endswith(status), body
                assert address.encode() not in body and cookie.encode() not in body
        finally:
            conn.close()
        spooled = b"".join(p.read_bytes() for p in (tmp_path / "spool").rglob("*") if p.is_file())
        assert b"SW1A" in spooled  # (the outward code is stored: the spool was read)
    finally:
        collector.stop()
    logs = collector.logs()
    rows = str(collector.query("SELECT * FROM spii.events"))
    for raw in (address, postcode, agent, cookie):
        assert raw not in logs and raw.encode() not in spooled and raw not in rows, raw
    assert "SW1A" in rows and "Planted" not in rows
