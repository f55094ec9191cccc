"""Countries and regions through the running service: visitors from five countries' networks
(through a trusted proxy's X-Forwarded-For) land in their countries; an operator's city database
adds regions; the raw addresses are stored nowhere."""

from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

from tests.e2e.harness import Collector

SITE = "shop.example"
NETWORKS = {"GB": "212.58.224.", "US": "8.8.8.", "DE": "80.130.0.", "FR": "82.64.0.", "NL": "193.0.0."}  # BBC, Google, DTAG, Free, RIPE NCC


def _visit_from_every_network(collector: Collector) -> None:
    for base in NETWORKS.values():
        for n in range(1, 6):
            assert collector.send({"n": "pageview", "u": f"https://{SITE}/", "d": SITE}, {"X-Forwarded-For": f"{base}{n}"})[0] == 202
    # a private address: no answer from the lookup, so the event's own country is the visit's
    assert collector.send({"n": "pageview", "u": f"https://{SITE}/", "d": SITE, "cc": "GB"}, {"X-Forwarded-For": "10.1.2.3"})[0] == 202


def _breakdown(collector: Collector, token: str, prop: str) -> dict:
    status, body = collector.get_json(f"/api/v1/stats/breakdown?period=day&property={prop}&metrics=visitors", token)
    assert status == 200, body
    key = prop.split(":")[1]
    return {r[key]: r["visitors"] for r in body["results"]}


def test_visitors_from_five_networks_land_in_their_countries(tmp_path):
    collector = Collector(tmp_path / "data", SPII_TRUSTED_PROXIES="127.0.0.1/32")
    (tmp_path / "data").mkdir()
    shop = collector.add_client("shop", SITE, k="5", perturb="off")
    collector.start()
    try:
        _visit_from_every_network(collector)
        collector.wait_shipped(26, shop["token"], SITE)
        assert _breakdown(collector, shop["token"], "visit:country") == {"GB": 6, "US": 5, "DE": 5, "FR": 5, "NL": 5}
    finally:
        collector.stop()
    stored = " ".join(str(r) for r in collector.query("SELECT * FROM spii.events"))
    assert not any(base in stored for base in NETWORKS.values())


def test_an_operators_city_database_adds_regions(tmp_path):
    db = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City")
    db.insert_network(IPSet(["212.58.224.0/19"]), {"country": {"iso_code": "GB"}, "subdivisions": [{"iso_code": "ENG"}]})
    db.insert_network(IPSet(["8.8.8.0/24"]), {"country": {"iso_code": "US"}, "subdivisions": [{"iso_code": "CA"}]})
    path = Path(tmp_path / "city.mmdb")
    db.to_db_file(str(path))
    collector = Collector(tmp_path / "data", SPII_TRUSTED_PROXIES="127.0.0.1/32", SPII_GEOIP_DB=str(path))
    (tmp_path / "data").mkdir()
    shop = collector.add_client("shop", SITE, k="5", perturb="off")
    collector.start()
    try:
        _visit_from_every_network(collector)
        collector.wait_shipped(26, shop["token"], SITE)
        regions = _breakdown(collector, shop["token"], "visit:region")
        assert regions["GB-ENG"] == 5 and regions["US-CA"] == 5
        countries = _breakdown(collector, shop["token"], "visit:country")
        assert countries["GB"] == 6 and countries["US"] == 5  # the others: not in this database, no country (cc: GB once)
    finally:
        collector.stop()


def test_realtime_visitors_is_a_bare_integer_and_obeys_k(tmp_path):
    collector = Collector(tmp_path / "data", SPII_TRUSTED_PROXIES="127.0.0.1/32")
    (tmp_path / "data").mkdir()
    shop = collector.add_client("shop", SITE, k="5", perturb="off")
    collector.start()
    try:
        for n in range(3):
            collector.send({"n": "pageview", "u": f"https://{SITE}/", "d": SITE}, {"X-Forwarded-For": f"198.51.100.{n + 1}"})
        collector.wait_shipped(3, shop["token"], SITE)
        status, headers, body = collector.request("GET", "/api/v1/stats/realtime/visitors?site_id=shop",
                                                  headers={"Authorization": f"Bearer {shop['token']}"})
        assert status == 200 and body == b"0" and headers["x-spii-suppressed"] == "true"  # 3 < k
        for n in range(3, 9):
            collector.send({"n": "pageview", "u": f"https://{SITE}/", "d": SITE}, {"X-Forwarded-For": f"198.51.100.{n + 1}"})
        collector.wait_shipped(9, shop["token"], SITE)
        status, headers, body = collector.request("GET", "/api/v1/stats/realtime/visitors?site_id=shop",
                                                  headers={"Authorization": f"Bearer {shop['token']}"})
        assert status == 200 and body == b"9" and "x-spii-suppressed" not in headers
    finally:
        collector.stop()
