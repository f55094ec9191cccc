"""The dashboard page is sent while it is computed (collector/http/streamed.py): its head and the
panels above a slow one reach the reader before that panel's query ends, and a reader who
leaves stops the queries of the panels below. In-process (real aiohttp server on loopback, real
embedded ClickHouse) so the test can hold one panel's query until it has read the page so far."""

import asyncio
import base64
import threading

import aiohttp
from aiohttp.test_utils import TestServer

from collector.config import Settings
from collector.http.app import build_app, build_state
from collector.tenants import RegistryStore
from tests.e2e.harness import BROWSER_UA


def _served(tmp_path, held_property: str):
    """A collector whose breakdown of ``held_property`` waits for ``release``; and its calls."""
    settings = Settings(data_dir=tmp_path, master_key=base64.b64encode(b"s" * 32).decode())
    registry = RegistryStore(settings.clients_path)
    registry.add("shop", ["shop.example"])
    _, _, token = registry.share("shop")
    state = build_state(settings)
    release, asked = threading.Event(), []
    breakdown = state.stats.breakdown

    def held_breakdown(client, req, **how):
        asked.append(req.prop)
        if req.prop == held_property:
            assert release.wait(60), "the test never released the held panel"
        return breakdown(client, req, **how)

    state.stats.breakdown = held_breakdown
    return state, token, release, asked


async def _read_until(resp: aiohttp.ClientResponse, marker: bytes, timeout: float = 60.0) -> bytes:
    page = b""
    async with asyncio.timeout(timeout):
        async for chunk in resp.content.iter_any():
            page += chunk
            if marker in page:
                return page
    raise AssertionError(f"the page ended without {marker!r}")


async def test_the_head_and_the_panels_above_a_slow_one_arrive_before_it(tmp_path):
    state, token, release, asked = _served(tmp_path, "event:fulfilment_status")  # the last panel shown (one tab per card)
    server = TestServer(build_app(state), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession(headers={"User-Agent": BROWSER_UA}) as http:
            async with http.get(server.make_url(f"/share/{token}")) as resp:
                assert resp.status == 200 and resp.headers["Transfer-Encoding"] == "chunked"
                assert resp.headers["Content-Type"].startswith("text/html") and "default-src 'none'" in resp.headers["Content-Security-Policy"]
                page = await _read_until(resp, b'data-panel="event:name"')
                assert b'id="receiving"' in page and b'data-metric="visitors"' in page  # the totals, before the slow panel
                async with asyncio.timeout(10):  # (the page so far is written before the next panel is asked)
                    while asked[-1] != "event:fulfilment_status":
                        await asyncio.sleep(0.05)
                assert b'data-panel="event:fulfilment_status"' not in page  # held: the page so far came without it
                release.set()
                page += await resp.read()
        assert b'data-panel="event:fulfilment_status"' in page and page.rstrip().endswith(b"</html>")
        assert b'id="incomplete"' not in page and page.count(b'class="panel"') == 6  # one panel per card: the tabs shown
        assert b'data-panel="event:contact_channel"' not in page and set(asked) == {
            "event:page", "visit:source", "visit:country", "visit:device", "event:name", "event:fulfilment_status"}  # the others not counted
    finally:
        release.set()
        await server.close()


async def test_a_reader_who_leaves_stops_the_queries_of_the_panels_below(tmp_path):
    state, token, release, asked = _served(tmp_path, "visit:country")  # the 3rd of 6 panels
    server = TestServer(build_app(state), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession(headers={"User-Agent": BROWSER_UA}) as http:
            resp = await http.get(server.make_url(f"/share/{token}"))
            await _read_until(resp, b'data-panel="visit:source"')
            async with asyncio.timeout(10):  # (the page so far is written before the next panel is asked)
                while not asked or asked[-1] != "visit:country":
                    await asyncio.sleep(0.05)
            resp.close()  # the reader leaves while Countries is computed
        release.set()
        seen = -1
        async with asyncio.timeout(30):
            while seen != len(asked):  # until no panel has been asked for a second
                seen = len(asked)
                await asyncio.sleep(1.0)
        assert asked.index("visit:country") == 2 and len(asked) <= 4, asked  # not the 3 panels below it
    finally:
        release.set()
        await server.close()
