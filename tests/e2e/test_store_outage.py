"""The store fails while events keep coming: nothing is lost, and the spool drains afterwards.
In-process (real aiohttp server on loopback, real embedded ClickHouse) so the test can take the
table away and give it back."""

import asyncio
import base64

import aiohttp
from aiohttp.test_utils import TestServer

from collector.config import Settings
from collector.http.app import build_app, build_state
from collector.tenants import RegistryStore
from tests.e2e.harness import BROWSER_UA


async def _wait_for(predicate, timeout=40.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_store_outage_loses_nothing_and_drains(tmp_path):
    settings = Settings(data_dir=tmp_path, master_key=base64.b64encode(b"x" * 32).decode(), spool_segment_seconds=0.1)
    RegistryStore(settings.clients_path).add("shop", ["shop.example"])
    state = build_state(settings)
    server = TestServer(build_app(state), host="127.0.0.1")
    await server.start_server()
    try:
        state.store.command("DETACH TABLE spii.events")
        async with aiohttp.ClientSession(headers={"User-Agent": BROWSER_UA}) as http:
            for i in range(50):
                event = {"n": "pageview", "u": f"https://shop.example/{i}", "d": "shop.example"}
                async with http.post(server.make_url("/api/event"), json=event) as resp:
                    assert resp.status == 202
            await _wait_for(lambda: state.metrics.ship_failures._value.get() >= 2)
            assert state.spool.ready_count() >= 1
            async with http.get(server.make_url("/metrics")) as resp:
                assert "spii_ship_failures_total" in await resp.text()
            async with http.get(server.make_url("/readyz")) as resp:  # still ready: the spool keeps the events
                ready = await resp.json()
                assert resp.status == 200 and any("the store has refused inserts since" in w for w in ready["warnings"]), ready
            state.store.command("ATTACH TABLE spii.events")
            await _wait_for(lambda: state.spool.ready_count() == 0 and not state.spool.has_open_segment)
            async with http.get(server.make_url("/readyz")) as resp:
                assert (await resp.json())["warnings"] == []
        rows = state.store.query("SELECT count(), uniqExact(path) FROM spii.events")
        assert rows == [(50, 50)]
        assert not list((tmp_path / "spool" / "failed").iterdir())  # an outage never quarantines
    finally:
        await server.close()


async def test_events_refused_for_a_full_spool_do_not_step_their_visit(tmp_path):
    """Visits advance only for stored rows: a 503 (spool over budget while the store is away)
    leaves the visit's counters as they were, so the stored steps are 1, 2, 3... with no gap."""
    settings = Settings(data_dir=tmp_path, master_key=base64.b64encode(b"x" * 32).decode(), spool_segment_seconds=0.1,
                        spool_budget_bytes=1 << 16)
    RegistryStore(settings.clients_path).add("shop", ["shop.example"])
    state = build_state(settings)
    server = TestServer(build_app(state), host="127.0.0.1")
    await server.start_server()
    statuses = []
    try:
        state.store.command("DETACH TABLE spii.events")
        async with aiohttp.ClientSession(headers={"User-Agent": BROWSER_UA}) as http:
            async def send(n: int) -> int:
                event = {"n": "pageview", "u": f"https://shop.example/{n}", "d": "shop.example", "p": {"pad": "x" * 400}}
                async with http.post(server.make_url("/api/event"), json=event) as resp:
                    return resp.status

            for n in range(400):  # one visitor: every event is the next step of one visit
                statuses.append(await send(n))
                if statuses[-3:] == [503] * 3:
                    break
            assert 503 in statuses and statuses[0] == 202
            state.store.command("ATTACH TABLE spii.events")
            await _wait_for(lambda: not state.spool.over_budget and state.spool.ready_count() == 0)
            assert await send(1000) == 202  # the visit goes on after the refusals
            await _wait_for(lambda: state.spool.ready_count() == 0 and not state.spool.has_open_segment)
        steps = [r[0] for r in state.store.query("SELECT visit_event FROM spii.events ORDER BY visit_event")]
        assert steps == list(range(1, statuses.count(202) + 2)), "a refused event stepped the visit"
        assert len({r[0] for r in state.store.query("SELECT session_id FROM spii.events")}) == 1
    finally:
        await server.close()
