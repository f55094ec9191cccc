"""Countries and regions from the address, before it is encrypted: the packaged registry data by
default, an operator's .mmdb (MaxMind or DB-IP layouts) with regions when given."""

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from collector.privacy.geoip import open_locator

# Addresses of well-known networks: BBC, Google, Deutsche Telekom, Free, RIPE NCC.
KNOWN = {"212.58.224.10": "GB", "8.8.8.8": "US", "80.130.0.1": "DE", "82.64.0.1": "FR", "193.0.6.139": "NL"}


def test_the_packaged_default_places_known_networks():
    locate = open_locator(None).locate
    assert {ip: locate(ip) for ip in KNOWN} == {ip: (cc, "") for ip, cc in KNOWN.items()}
    assert locate("2001:67c:2e8::1") == ("NL", "")  # RIPE NCC, IPv6
    for private in ("10.0.0.1", "192.168.1.1", "127.0.0.1", "::1", "not an address", ""):
        assert locate(private) == ("", "")


@pytest.fixture
def city_db(tmp_path):
    """A tiny City database in MaxMind's layout, and one in ip-location-db's flat layout."""
    maxmind = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City")
    maxmind.insert_network(IPSet(["212.58.224.0/19"]), {"country": {"iso_code": "GB"}, "subdivisions": [{"iso_code": "ENG"}]})
    maxmind.insert_network(IPSet(["8.8.8.0/24"]), {"country": {"iso_code": "US"}, "subdivisions": [{"iso_code": "CA"}]})
    maxmind.insert_network(IPSet(["2001:db8::/32"]), {"country": {"iso_code": "DE"}})
    flat = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="dbip-country")
    flat.insert_network(IPSet(["82.64.0.0/14"]), {"country_code": "FR"})
    paths = tmp_path / "city.mmdb", tmp_path / "flat.mmdb"
    maxmind.to_db_file(str(paths[0]))
    flat.to_db_file(str(paths[1]))
    return paths


def test_an_operators_database_gives_countries_and_regions(city_db):
    maxmind, flat = (open_locator(p).locate for p in city_db)
    assert maxmind("212.58.224.10") == ("GB", "GB-ENG")
    assert maxmind("8.8.8.8") == ("US", "US-CA")
    assert maxmind("2001:db8::5") == ("DE", "")
    assert maxmind("82.64.0.1") == ("", "")  # not in that database: no answer (the event's cc is the fallback)
    assert flat("82.64.0.1") == ("FR", "")
    assert maxmind("nonsense") == ("", "")


def test_a_missing_database_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="SPII_GEOIP_DB"):
        open_locator(tmp_path / "nope.mmdb")
