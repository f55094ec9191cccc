"""Analysts' reports never hold up the rest of the collector. A report at 100M events holds the
store's one connection for seconds and a dashboard page holds its thread for as long as it
renders. Before, both were shared: six open dashboards filled the loop's thread pool, and the
readiness check queued for the store behind the running query, so /readyz stopped answering (a
Kubernetes probe then takes the pod out of service) and spooled events waited to ship.

In-process (real aiohttp server on loopback, real embedded ClickHouse), so that one panel can
hold the store's connection, as a long query does, until the test lets it go."""

import asyncio
import base64
import threading

import aiohttp
from aiohttp.test_utils import TestServer

from collector.config import Settings
from collector.http.app import build_app, build_state
from collector.tenants import RegistryStore
from tests.e2e.harness import BROWSER_UA

DASHBOARDS = 6  # the shared pool's size on a 2-core machine (cpu_count + 4)


async def test_dashboards_holding_the_store_hold_up_neither_readiness_nor_events(tmp_path):
    settings = Settings(data_dir=tmp_path, master_key=base64.b64encode(b"r" * 32).decode(), report_threads=2)
    registry = RegistryStore(settings.clients_path)
    registry.add("shop", ["shop.example"])
    _, _, token = registry.share("shop")
    state = build_state(settings)
    release, holding = threading.Event(), threading.Event()
    breakdown = state.stats.breakdown

    def long_breakdown(client, req, **how):
        if req.prop == "visit:source":
            with state.store._using():  # the store's connection is busy, as during a long query
                holding.set()
                assert release.wait(60), "the test never released the store"
        return breakdown(client, req, **how)

    state.stats.breakdown = long_breakdown
    server = TestServer(build_app(state), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession(headers={"User-Agent": BROWSER_UA}) as http:
            async def dashboard() -> tuple[int, bytes]:
                async with http.get(server.make_url(f"/share/{token}")) as resp:
                    return resp.status, await resp.read()

            pages = [asyncio.create_task(dashboard()) for _ in range(DASHBOARDS)]
            async with asyncio.timeout(60):
                while not holding.is_set():
                    await asyncio.sleep(0.05)
            async with asyncio.timeout(20):  # (a guard, not a measure: before, this waited for the release)
                async with http.get(server.make_url("/readyz")) as resp:
                    ready = resp.status, await resp.json()
                for n in range(5):
                    event = {"n": "pageview", "u": f"https://shop.example/while-busy/{n}", "d": "shop.example"}
                    async with http.post(server.make_url("/api/event"), json=event) as resp:
                        assert resp.status == 202, await resp.text()
            assert ready[0] == 200 and ready[1]["checks"]["store"] is True, ready
            assert not any(page.done() for page in pages) and state.store._busy_since is not None  # still held meanwhile
            release.set()
            async with asyncio.timeout(120):
                answers = await asyncio.gather(*pages)
        assert all(status == 200 and body.rstrip().endswith(b"</html>") for status, body in answers)

        def shipped() -> int:
            return state.store.query("SELECT count() FROM spii.events WHERE startsWith(path, '/while-busy/')")[0][0]

        async with asyncio.timeout(30):
            while shipped() < 5:
                await asyncio.sleep(0.1)
        assert shipped() == 5
    finally:
        release.set()
        await server.close()
