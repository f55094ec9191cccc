"""Country and region of a visitor's address, looked up at ingest before the address is encrypted.
Only the ISO codes are stored, never the address.

* **Default: iptocc** (PyPI, MIT/Apache-2.0). It is built from the five Regional Internet
  Registries' delegation files and updated with new releases. It gives the country a block is
  *assigned* to, which agrees with commercial geolocation for about 95% of IPv4 addresses. It
  has no regions. It is a dependency, so a fresh install has countries with nothing to
  download. Lookup: about 0.2 µs.
* **``SPII_GEOIP_DB``**: an operator's own ``.mmdb``, read with ``maxminddb``: MaxMind
  GeoLite2/GeoIP2 Country or City, or DB-IP lite (CC BY 4.0). It gives the geolocated country
  and, in a city database, the first subdivision as an ISO 3166-2 region (``GB-ENG``,
  ``US-CA``). The layouts read are MaxMind's (``country.iso_code``,
  ``subdivisions[0].iso_code``) and ip-location-db's flat one (``country_code``).

Private, loopback and unassigned addresses have no country. No lookup is cached: a cache keyed by
address would hold raw addresses in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["Locator", "open_locator"]

Lookup = Callable[[str], tuple[str, str]]


def _iso(value: Any) -> str:
    return value.upper() if isinstance(value, str) and len(value) == 2 and value.isalpha() else ""


class Locator:
    """``locate(ip) -> (country, region)``: ISO 3166-1 alpha-2 and ISO 3166-2, '' when unknown."""

    def __init__(self, lookup: Lookup, source: str) -> None:
        self.locate = lookup
        self.source = source


def _registry_lookup() -> Lookup:
    import iptocc

    country_code = iptocc.country_code

    def locate(ip: str) -> tuple[str, str]:
        try:
            return _iso(country_code(ip)), ""
        except (ValueError, TypeError):
            return "", ""

    return locate


def _mmdb_lookup(path: Path) -> Lookup:
    import maxminddb

    reader = maxminddb.open_database(str(path), maxminddb.MODE_MMAP)

    def locate(ip: str) -> tuple[str, str]:
        try:
            record = reader.get(ip)
        except ValueError:
            return "", ""
        if not isinstance(record, dict):
            return "", ""
        country = record.get("country")
        code = _iso(country.get("iso_code") if isinstance(country, dict) else record.get("country_code"))
        region = ""
        subdivisions = record.get("subdivisions")
        if code and isinstance(subdivisions, list) and subdivisions and isinstance(subdivisions[0], dict):
            sub = subdivisions[0].get("iso_code")
            if isinstance(sub, str) and 0 < len(sub) <= 3 and sub.isalnum():
                region = f"{code}-{sub.upper()}"
        return code, region

    return locate


def open_locator(db: Path | None) -> Locator:
    """The operator's database when given (a clear error if it cannot be read), else iptocc."""
    if db is None:
        return Locator(_registry_lookup(), "iptocc (RIR delegations)")
    if not db.exists():
        raise FileNotFoundError(f"SPII_GEOIP_DB: no file at {db}")
    return Locator(_mmdb_lookup(db), f"mmdb {db.name}")
