"""Fuzz the HTTP API of a running collector: no input may produce a 5xx, every 4xx is JSON."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.harness import Collector

SITE = "shop.example"
FIELDS = ["n", "u", "d", "r", "p", "props", "revenue", "i", "h", "pc", "cc", "order", "items", "status", "channel", "cid"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)
plausible_values = {
    "n": st.sampled_from(["pageview", "transaction", "fulfilment", "contact", "x"]) | st.text(max_size=130),
    "u": st.sampled_from([f"https://{SITE}/a?b=c#d", "https://x", "ftp://a", ""]) | st.text(max_size=100),
    "d": st.sampled_from([SITE, "www." + SITE, "other.example", ""]) | st.text(max_size=30),
    "revenue": st.fixed_dictionaries({"amount": json_values, "currency": json_values}) | json_values,
    "items": st.lists(st.fixed_dictionaries({"sku": json_values, "quantity": json_values, "price": json_values}), max_size=3) | json_values,
}
events = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=10).flatmap(
    lambda d: st.fixed_dictionaries({k: plausible_values.get(k, json_values) for k in d}) if d else st.just({})
)


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz")
    collector = Collector(data, SPII_CLIENT_RATE="100000", SPII_CLIENT_BURST="100000")
    collector.add_client("shop", SITE, cookies="consent")
    collector.start()
    yield collector
    assert collector.stop() == 0
    assert "Traceback" not in collector.logs()


def _check(status, raw):
    assert status < 500, raw[:300]
    if 400 <= status < 500:
        body = json.loads(raw)
        assert body["error"] and isinstance(body["details"], list)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(event=events)
def test_structured_fuzz_never_5xx(running, event):
    status, _, raw = running.send(event)
    _check(status, raw)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300) | st.text(max_size=300).map(str.encode), path=st.sampled_from(["/api/event", "/api/events"]))
def test_raw_bytes_never_5xx(running, body, path):
    status, _, raw = running.request("POST", path, body, {"Content-Type": "application/json"})
    _check(status, raw)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.dictionaries(st.sampled_from(["n", "u", "d", "r", "pc", "cc", "p", "h"]), st.text(max_size=40), max_size=6))
def test_pixel_never_5xx(running, query):
    from urllib.parse import urlencode

    status, _, raw = running.request("GET", "/px.gif?" + urlencode(query))
    if status != 200:
        _check(status, raw)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(events, max_size=20))
def test_batch_fuzz_never_5xx(running, batch):
    status, _, raw = running.request("POST", "/api/events", json.dumps(batch), {"Content-Type": "application/json"})
    _check(status, raw)
