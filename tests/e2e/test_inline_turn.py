"""The inline path's turn of the loop (collector/http/answer.py, TickBatch): events answered in
one turn have their rows written to the spool together at its end, and only then do their
answers go out, in the order they were made. In-process: aiohttp's real protocol and C parser
with the inline path installed, the real spool on disk, a transport that records what is
written (no socket, so the test decides when the loop turns)."""

import asyncio
import base64
import json

from aiohttp import web_protocol, web_server

from collector.config import Settings
from collector.http import app, inline
from collector.tenants import RegistryStore
from tests.e2e.harness import BROWSER_UA

SITE = "turn.example"


class Recorder(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.written.append(data)

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 40000) if name == "peername" else default

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        pass


def request(body: dict | bytes) -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return (f"POST /api/event HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {BROWSER_UA}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


def spooled_rows(state) -> int:
    return sum(p.read_bytes().count(b"\n") for d in (state.spool.open_dir, state.spool.ready_dir) for p in d.glob("*"))


async def test_a_turns_rows_are_spooled_before_any_of_its_answers_leave(tmp_path):
    settings = Settings(data_dir=tmp_path, master_key=base64.b64encode(b"t" * 32).decode())
    RegistryStore(settings.clients_path).add("turn", [SITE], perturb="off")
    state = app.build_state(settings)

    async def not_inline(request):
        raise AssertionError("an event left the inline path")

    server = web_server.Server(not_inline)
    assert inline.install(server, state)
    connections = []
    for _ in range(3):
        protocol: web_protocol.RequestHandler = server()
        recorder = Recorder()
        protocol.connection_made(recorder)
        connections.append((protocol, recorder))
    await asyncio.sleep(0)  # each protocol's task waits for a request: idle connections

    before = spooled_rows(state)
    page = {"n": "pageview", "u": f"https://{SITE}/a", "d": SITE}
    # one turn: three connections; the first pipelines a pageview, a drop, a bad event and a custom event
    connections[0][0].data_received(request(page) + request({**page, "d": "stranger.example"}) + request(b"{nope")
                                    + request({"n": "Signup", "u": f"https://{SITE}/b", "d": SITE}))
    connections[1][0].data_received(request(page))
    connections[2][0].data_received(request({"n": "transaction", "u": f"https://{SITE}/c", "d": SITE, "order": "o-1",
                                             "revenue": {"amount": "9.99", "currency": "GBP"}, "pc": "SW1A 1AA", "cc": "GB"}))
    assert all(not recorder.written for _, recorder in connections), "an answer left before the turn's rows were spooled"
    assert spooled_rows(state) == before

    await asyncio.sleep(0)  # the turn ends: one spool write, then the answers
    assert spooled_rows(state) == before + 4  # 2 + 1 + 1 rows; the drop and the bad event store none
    statuses = [[a.split(b"\r\n", 1)[0].decode() for a in recorder.written] for _, recorder in connections]
    assert statuses == [["HTTP/1.1 202 Accepted", "HTTP/1.1 202 Accepted", "HTTP/1.1 400 Bad Request", "HTTP/1.1 202 Accepted"],
                        ["HTTP/1.1 202 Accepted"], ["HTTP/1.1 202 Accepted"]]
    assert b"X-SPII-Dropped: unknown_client" in connections[0][1].written[1]
    state.metrics.flush()
    assert state.metrics.accepted.labels("pageview")._value.get() == 2 and state.metrics.dropped.labels("unknown_client")._value.get() == 1
    spooled = b"".join(p.read_bytes() for d in (state.spool.open_dir, state.spool.ready_dir) for p in d.glob("*"))
    assert b"SW1A 1AA" not in spooled and b"1AA" not in spooled and b"\"o-1\"" not in spooled and b"127.0.0.1" not in spooled  # (still anonymised)

    # the next turn is its own batch
    connections[1][0].data_received(request(page))
    await asyncio.sleep(0)
    assert spooled_rows(state) == before + 5 and len(connections[1][1].written) == 2

    # over the spool's budget (the store away too long): a 503 with Retry-After and no row
    visits = len(state.pipeline.sessions)
    budget, state.spool.budget_bytes = state.spool.budget_bytes, 0
    connections[2][0].data_received(request({**page, "u": f"https://{SITE}/full"}))
    await asyncio.sleep(0)
    answer = connections[2][1].written[-1]
    assert answer.startswith(b"HTTP/1.1 503") and b"Retry-After: 30" in answer and b"spool over its disk budget" in answer
    assert spooled_rows(state) == before + 5 and len(state.pipeline.sessions) == visits
    state.spool.budget_bytes = budget
    for protocol, _ in connections:
        protocol.connection_lost(None)
    state.store.close()
