"""ipcrypt against the draft's published vectors, plus properties.

Vectors: draft-denis-ipcrypt, Appendix "Test Vectors", and the test-vector file of the draft's
reference implementation (ipcrypt-std/draft-denis-ipcrypt, implementations/python/
test_vectors.json), copied to tests/privacy/data/ipcrypt_vectors.json. ipcrypt-nd (KIASU-BC)
is not implemented: spii does not use it and `cryptography` has no KIASU-BC.
"""

import ipaddress
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.privacy import ipcrypt

VECTORS = json.loads((Path(__file__).parent / "data" / "ipcrypt_vectors.json").read_text())


def _by_variant(name):
    return [pytest.param(v, id=f"{v['ip']}-{v['key'][:8]}") for v in VECTORS if v["variant"] == name]


@pytest.mark.parametrize("vector", _by_variant("ipcrypt-deterministic"))
def test_deterministic_vectors(vector):
    key = bytes.fromhex(vector["key"])
    assert ipcrypt.encrypt_deterministic(vector["ip"], key) == vector["encrypted_ip"]
    assert ipcrypt.decrypt_deterministic(vector["encrypted_ip"], key) == vector["ip"]


@pytest.mark.parametrize("vector", _by_variant("ipcrypt-pfx"))
def test_pfx_vectors(vector):
    key = bytes.fromhex(vector["key"])
    assert ipcrypt.encrypt_pfx(vector["ip"], key) == vector["encrypted_ip"]
    assert ipcrypt.decrypt_pfx(vector["encrypted_ip"], key) == vector["ip"]


@pytest.mark.parametrize("vector", _by_variant("ipcrypt-ndx"))
def test_ndx_vectors(vector):
    key = bytes.fromhex(vector["key"])
    out = ipcrypt.encrypt_ndx(vector["ip"], key, bytes.fromhex(vector["tweak"]))
    assert out.hex() == vector["output"]
    assert ipcrypt.decrypt_ndx(out, key) == vector["ip"]


def test_vector_file_covers_all_three_modes():
    variants = {v["variant"] for v in VECTORS}
    assert {"ipcrypt-deterministic", "ipcrypt-pfx", "ipcrypt-ndx"} <= variants
    assert len(VECTORS) >= 25


ipv4 = st.builds(lambda n: str(ipaddress.IPv4Address(n)), st.integers(0, 2**32 - 1))
ipv6 = st.builds(lambda n: str(ipaddress.IPv6Address(n)), st.integers(0, 2**128 - 1)).filter(
    lambda s: not ipaddress.IPv6Address(s).ipv4_mapped  # those print as IPv4 by design
)
any_ip = st.one_of(ipv4, ipv6)
key16 = st.binary(min_size=16, max_size=16)
key32 = st.binary(min_size=32, max_size=32).filter(lambda k: k[:16] != k[16:])


def _canon(ip):
    return str(ipaddress.ip_address(ip))


@given(any_ip, key16)
def test_deterministic_round_trip_and_is_an_ip(ip, key):
    token = ipcrypt.encrypt_deterministic(ip, key)
    ipaddress.ip_address(token)  # output is a printable address
    assert ipcrypt.decrypt_deterministic(token, key) == _canon(ip)
    assert ipcrypt.encrypt_deterministic(ip, key) == token  # deterministic


@given(any_ip, key32)
def test_pfx_round_trip_and_family(ip, key):
    enc = ipcrypt.encrypt_pfx(ip, key)
    assert ipaddress.ip_address(enc).version == ipaddress.ip_address(ip).version
    assert ipcrypt.decrypt_pfx(enc, key) == _canon(ip)


@given(ipv4, ipv4, key32)
def test_pfx_preserves_common_prefix(a, b, key):
    def bits(x):
        return format(int(ipaddress.IPv4Address(x)), "032b")

    def common(x, y):
        return next((i for i, (p, q) in enumerate(zip(x, y)) if p != q), 32)

    ea, eb = ipcrypt.encrypt_pfx(a, key), ipcrypt.encrypt_pfx(b, key)
    assert common(bits(ea), bits(eb)) == common(bits(a), bits(b))


@given(any_ip, key32)
def test_ndx_round_trip_and_randomised(ip, key):
    one, two = ipcrypt.encrypt_ndx(ip, key), ipcrypt.encrypt_ndx(ip, key)
    assert len(one) == 32 and one != two
    assert ipcrypt.decrypt_ndx(one, key) == _canon(ip)


def test_pfx_refuses_equal_key_halves():
    with pytest.raises(ValueError, match="halves must differ"):
        ipcrypt.encrypt_pfx("192.0.2.1", b"k" * 32)


@pytest.mark.parametrize(
    "bad",
    ["", "1.2.3", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", "fe80::1%eth0", "not-an-ip", "1.2.3.4\x00", ":::", "a" * 100],
)
def test_invalid_address_raises_without_echoing_input(bad):
    for call in (
        lambda: ipcrypt.encrypt_deterministic(bad, b"k" * 16),
        lambda: ipcrypt.encrypt_pfx(bad, bytes(range(32))),
        lambda: ipcrypt.encrypt_ndx(bad, bytes(range(32))),
    ):
        with pytest.raises(ValueError) as err:
            call()
        if bad.strip():
            assert bad.strip() not in str(err.value)


@pytest.mark.parametrize("key", [b"", b"short", b"x" * 15, b"x" * 17, b"x" * 32])
def test_deterministic_rejects_wrong_key_length(key):
    with pytest.raises(ValueError, match="16 bytes"):
        ipcrypt.encrypt_deterministic("192.0.2.1", key)


def test_distinct_keys_give_unrelated_tokens():
    tokens = {ipcrypt.encrypt_deterministic("203.0.113.7", bytes([i]) * 16) for i in range(50)}
    assert len(tokens) == 50


def test_every_threads_cipher_contexts_are_forgotten_and_a_dead_threads_go():
    """forget_keys() drops the contexts of every thread (a destroyed key's material leaves
    memory), and a thread that has ended leaves no cache behind once another thread encrypts."""
    import threading

    ipcrypt.forget_keys()
    key = bytes(range(16))
    worker = threading.Thread(target=ipcrypt.encrypt_deterministic, args=("192.0.2.1", key))
    worker.start()
    worker.join()
    ipcrypt.encrypt_deterministic("192.0.2.2", key)  # this thread's cache, registered after the worker's
    before = ipcrypt.cached_contexts()
    ipcrypt.forget_keys()
    assert before >= 1 and ipcrypt.cached_contexts() == 0
    later = threading.Thread(target=ipcrypt.encrypt_deterministic, args=("192.0.2.3", key))
    later.start()
    later.join()
    assert worker.ident not in ipcrypt._all_caches or worker.ident == later.ident
