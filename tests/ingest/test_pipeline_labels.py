"""A fulfilment's status and a contact's channel are stored on their own kind only: the same
fields sent with a pageview, a custom event or a transaction are ignored like an unknown field,
so the fulfilment and contact reports (and their complement checks) hold only their kind."""

import base64
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from collector.ingest.payload import EventPayload
from collector.ingest.pipeline import Pipeline, RequestFacts, TokenBucket
from collector.privacy.keyring import KeyringStore
from collector.privacy.masterkey import MasterKey
from collector.tenants import Client, Registry

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
SHOP = Client(client_id="c_labels000000", name="shop", domains=["shop.example"])
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"


@pytest.fixture(scope="module")
def keyring(tmp_path_factory):
    root = tmp_path_factory.mktemp("labels")
    keys = KeyringStore(root / "keyring.json", MasterKey.load(base64.b64encode(b"l" * 32).decode(), None, root / "m.key"))
    keys.rotate(2, NOW - timedelta(days=1))
    return keys.load()


@pytest.mark.parametrize("name, status, channel", [
    ("fulfilment", "shipped", ""), ("contact", "", "phone"), ("pageview", "", ""), ("Signup", "", ""), ("transaction", "", ""),
])
def test_status_and_channel_are_stored_on_their_own_kind_only(keyring, name, status, channel):
    body = {"n": name, "u": "https://shop.example/orders", "d": "shop.example", "status": "shipped", "channel": "phone", "order": "A-1"}
    facts = RequestFacts(ip="198.51.100.7", user_agent=BROWSER, origin=None)
    outcome = Pipeline(TokenBucket(0, 1)).process(EventPayload.model_validate(body), facts, Registry([SHOP]), keyring, NOW)
    assert outcome.row is not None
    row = orjson.loads(outcome.row)
    assert (row.get("fulfilment_status", ""), row.get("contact_channel", "")) == (status, channel)
