from multidict import CIMultiDict

from collector.ingest.client_ip import TrustedProxies, client_ip

PROXIES = TrustedProxies(["10.0.0.0/8", "2001:db8:ffff::/48"])


def headers(*pairs):
    return CIMultiDict(pairs)


def test_untrusted_peer_headers_are_ignored():
    h = headers(("X-Forwarded-For", "1.1.1.1"), ("Forwarded", "for=2.2.2.2"))
    assert client_ip("203.0.113.9", h, PROXIES) == "203.0.113.9"
    assert client_ip("203.0.113.9", h, TrustedProxies()) == "203.0.113.9"


def test_walks_xff_from_the_right_skipping_trusted_hops():
    # client spoofs 6.6.6.6 on the left; the real client is the first untrusted from the right
    h = headers(("X-Forwarded-For", "6.6.6.6, 198.51.100.7, 10.0.0.2"))
    assert client_ip("10.0.0.1", h, PROXIES) == "198.51.100.7"


def test_repeated_xff_headers_are_joined_in_order():
    h = headers(("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "198.51.100.7, 10.1.1.1"))
    assert client_ip("10.0.0.1", h, PROXIES) == "198.51.100.7"


def test_forwarded_wins_and_handles_ipv6_ports_and_quotes():
    h = headers(
        ("Forwarded", 'for=6.6.6.6, for="[2001:db8::7]:4711";proto=https, for=10.0.0.3'),
        ("X-Forwarded-For", "9.9.9.9"),
    )
    assert client_ip("10.0.0.1", h, PROXIES) == "2001:db8::7"
    assert client_ip("10.0.0.1", headers(("Forwarded", "for=198.51.100.1:1234")), PROXIES) == "198.51.100.1"


def test_garbage_or_unknown_stops_the_walk_at_the_nearest_trusted_hop():
    assert client_ip("10.0.0.1", headers(("X-Forwarded-For", "1.2.3.4, unknown, 10.0.0.5")), PROXIES) == "10.0.0.5"
    assert client_ip("10.0.0.1", headers(("Forwarded", "for=_hidden")), PROXIES) == "10.0.0.1"


def test_all_trusted_gives_leftmost_and_no_header_gives_peer():
    assert client_ip("10.0.0.1", headers(("X-Forwarded-For", "10.0.0.9")), PROXIES) == "10.0.0.9"
    assert client_ip("10.0.0.1", headers(), PROXIES) == "10.0.0.1"


def test_ipv4_mapped_peer_matches_ipv4_cidr():
    assert client_ip("::ffff:10.0.0.1", headers(("X-Forwarded-For", "198.51.100.7")), PROXIES) == "198.51.100.7"


def test_no_peer():
    assert client_ip(None, headers(), PROXIES) is None
