"""Plant 1,000 random IPs, full postcodes, user agents and cookie ids, run the whole privacy
pass and prove none of them appears anywhere in its output."""

import ipaddress
import json
import os
import random
from datetime import UTC, datetime

import pytest

from collector.privacy.anonymise import ClientPolicy, InvalidUrl, RawVisit, anonymise
from collector.privacy.keyring import KeyringStore
from collector.privacy.masterkey import MasterKey

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
GB_AREAS = ["SW1A", "EC1A", "M1", "B33", "CR2", "DN55", "LS1", "G2", "EH1", "CF10", "BT7", "AB10"]
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def random_postcode(rng):
    return f"{rng.choice(GB_AREAS)} {rng.randint(0, 9)}{rng.choice(INWARD_LETTERS)}{rng.choice(INWARD_LETTERS)}"


def random_ip(rng):
    if rng.random() < 0.7:
        return str(ipaddress.IPv4Address(rng.getrandbits(32)))
    return str(ipaddress.IPv6Address(rng.getrandbits(128)))


@pytest.fixture(scope="module")
def keyring(tmp_path_factory):
    store = KeyringStore(tmp_path_factory.mktemp("k") / "keyring.json", MasterKey(os.urandom(32)))
    store.rotate(2, NOW)
    return store.load()


def test_planted_pii_never_appears_in_output(keyring):
    rng = random.Random(20261122)
    policy = ClientPolicy("client-1", cookies="consent")
    planted, outputs = [], []
    for i in range(1000):
        ip, pc = random_ip(rng), random_postcode(rng)
        cookie = os.urandom(16).hex()
        ua = f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.{i}.0 Safari/537.36"
        email = f"visitor{i}@example.com"
        raw = RawVisit(
            ip=ip,
            user_agent=ua,
            url=f"https://shop.example.com/account/{email}/orders/{rng.randint(10**9, 10**12)}?session={cookie}&utm_source=mail",
            referrer=f"https://www.google.com/search?q={pc.replace(' ', '+')}",
            postcode=pc,
            country="GB",
            cookie_id=cookie,
        )
        out = anonymise(raw, policy, keyring, NOW)
        assert out["postcode_area"] == pc.split()[0]
        assert out["ip_token"] != "::" and out["visitor_id"] and out["cookie_hash"]
        planted += [ip, pc, pc.replace(" ", ""), ua, cookie, email]
        outputs.append(json.dumps(out))
        outputs.append(repr(out))
    blob = "\n".join(outputs)
    leaks = [value for value in planted if value in blob]
    assert leaks == []
    # IPs also not in their packed or exploded forms
    assert not any(ipaddress.ip_address(v).exploded in blob for v in planted[::6])


def test_gpc_or_dnt_stores_no_identifier(keyring):
    raw = RawVisit(ip="198.51.100.23", user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
                   url="https://example.com/", cookie_id="abc", refuses_tracking=True)
    out = anonymise(raw, ClientPolicy("c", cookies="consent"), keyring, NOW)
    assert (out["ip_token"], out["visitor_id"], out["cookie_hash"], out["key_id"]) == ("::", 0, 0, "")


def test_cookie_ignored_unless_client_uses_consent_mode(keyring):
    raw = RawVisit(ip="198.51.100.23", user_agent="x", url="https://example.com/", cookie_id="abc")
    assert anonymise(raw, ClientPolicy("c"), keyring, NOW)["cookie_hash"] == 0


def test_invalid_url_error_does_not_echo_it(keyring):
    with pytest.raises(InvalidUrl) as err:
        anonymise(RawVisit(ip=None, user_agent="", url="mailto:jane@example.com"), ClientPolicy("c"), keyring, NOW)
    assert "jane" not in str(err.value)


def test_internal_referrer_is_not_a_source(keyring):
    raw = RawVisit(ip=None, user_agent="", url="https://www.example.com/b", referrer="https://example.com/a")
    assert anonymise(raw, ClientPolicy("c"), keyring, NOW)["referrer_host"] == ""
