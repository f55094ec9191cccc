"""Reports add up, whatever the mix of events: generated mixes go through the real ingest
pipeline into real embedded ClickHouse, and the stats service's numbers keep their relations
(visits >= visitors, pageviews >= visits with a pageview, breakdown rows <= totals), with
server-side events (fulfilments, server UAs) creating no visitor and no visit."""

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.ingest.payload import EventPayload
from collector.ingest.pipeline import Pipeline, RequestFacts, TokenBucket
from collector.privacy.keyring import KeyringStore
from collector.privacy.masterkey import MasterKey
from collector.reports.periods import Period
from collector.reports.query import PROPERTIES, parse_filters
from collector.reports.stats import Stats, StatsRequest
from collector.store.clickhouse import Store
from collector.tenants import Client, Registry

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
SERVER = "MyShop-Server/1.0 (Mozilla/5.0 compatible)"
NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
METRICS = ["visitors", "visits", "pageviews", "events", "transactions", "fulfilments", "contacts"]

event_st = st.fixed_dictionaries({
    "visitor": st.integers(0, 7),
    "kind": st.sampled_from(["pageview", "pageview", "pageview", "Signup", "transaction", "fulfilment", "contact"]),
    "page": st.sampled_from(["/", "/a", "/b", "/checkout"]),
    "minute": st.integers(0, 300),
    "gpc": st.integers(0, 9).map(lambda n: n == 0),  # a few events carry GPC ...
    "server": st.integers(0, 9).map(lambda n: n == 0),  # ... and some events come from the shop's server
})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("coherence")
    keys = KeyringStore(root / "keyring.json", MasterKey.load(base64.b64encode(b"q" * 32).decode(), None, root / "m.key"))
    keys.rotate(2, NOW - timedelta(days=1))
    store = Store(f"chdb://{root}/clickhouse")
    store.migrate()
    yield keys.load(), store
    store.close()


def _ingest(world, client: Client, mix: list[dict]) -> None:
    keyring, store = world
    pipeline = Pipeline(TokenBucket(0, 1))
    registry = Registry([client])
    rows = []
    for n, e in enumerate(sorted(mix, key=lambda e: e["minute"])):
        body = {"n": e["kind"], "u": f"https://{client.domains[0]}{e['page']}", "d": client.domains[0]}
        if e["kind"] in ("transaction", "fulfilment"):
            body["order"] = f"o-{e['visitor']}-{n % 3}"
        if e["kind"] == "transaction":
            body["revenue"] = {"amount": "10", "currency": "GBP"}
        if e["kind"] == "fulfilment":
            body["status"] = "shipped"
        facts = RequestFacts(ip="192.0.2.250" if e["server"] else f"198.51.100.{e['visitor'] + 1}",
                             user_agent=SERVER if e["server"] else BROWSER, origin=None, refuses_tracking=e["gpc"])
        at = NOW - timedelta(hours=6) + timedelta(minutes=e["minute"])
        outcome = pipeline.process(EventPayload.model_validate(body), facts, registry, keyring, at)
        assert outcome.row is not None
        rows.append(outcome.row)
    store.insert_segment(b"".join(rows), f"mix-{client.client_id}")


_clients = iter(range(10**6))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(event_st, min_size=1, max_size=60))
def test_numbers_keep_their_relations(world, mix):
    client = Client(client_id=f"c_{next(_clients):012d}", name="mix", domains=["mix.example"], k=5)
    _ingest(world, client, mix)
    stats = Stats(world[1])
    period = Period(NOW.date(), NOW.date())
    total = stats._rows(stats.scope(client, period, []), None, METRICS)[""]
    assert total["visits"] >= total["visitors"]
    with_pageview = world[1].query("SELECT uniqExact(session_id) FROM spii.events WHERE client_id = {c:String} AND kind = 'pageview' "
                                   "AND session_id != 0", {"c": client.client_id})[0][0]
    assert total["pageviews"] >= with_pageview
    browser_visitors = len({e["visitor"] for e in mix if not (e["server"] or e["gpc"] or e["kind"] == "fulfilment")})
    assert total["visitors"] == browser_visitors  # the shop's server is nobody
    assert total["events"] == len(mix) and total["fulfilments"] == sum(e["kind"] == "fulfilment" for e in mix)
    for prop in ("event:page", "visit:entry_page", "event:name", "visit:device", "visit:source"):
        group_rows = stats._rows(stats.scope(client, period, []), PROPERTIES[prop], METRICS)
        for label, row in group_rows.items():
            assert row["visitors"] <= total["visitors"] and row["pageviews"] <= total["pageviews"], (prop, label)
            assert row["events"] <= total["events"] and row["visits"] <= total["visits"], (prop, label)
    entry = stats.breakdown(client, StatsRequest(period=period, metrics=["visitors", "visits"], prop="visit:entry_page"))
    assert all(r["visits"] >= 1 for r in entry["results"] if not r.get("other"))  # entry pages come from visit-opening events
    page_rows = stats._rows(stats.scope(client, period, parse_filters("event:kind==pageview")), "path", ["pageviews"])
    assert sum(r["pageviews"] for r in page_rows.values()) == total["pageviews"]
