"""The whole per-event privacy pass: raw request facts in, anonymous fields out.

Everything personal that arrives with a request (IP address, User-Agent, full postcode, cookie
id, the query string of the page URL) goes in here and does not come out: the result holds only
an ipcrypt token under the client's epoch subkey, keyed hashes, coarse categories and a scrubbed
URL. Callers must drop the raw values after this call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from collector.privacy import ipcrypt
from collector.privacy.keyring import Keyring
from collector.privacy.postcode import coarse_area
from collector.privacy.url import referrer_host, referrer_source, scrub_url
from collector.privacy.useragent import parse_user_agent

__all__ = ["ClientPolicy", "RawVisit", "AnonymousVisit", "anonymise", "InvalidUrl"]

_ZERO_TOKEN = "::"  # stored when no identifier may be kept (GPC / DNT / no address)


class InvalidUrl(ValueError):
    """The page URL is not an absolute http(s) URL."""


@dataclass(frozen=True)
class ClientPolicy:
    """What one client allows: the pipeline's per-client knobs."""

    client_id: str
    allow_params: frozenset[str] = frozenset()
    cookies: str = "off"  # off | consent
    us_zip3: bool = False


class RawVisit:
    """Raw request facts. Lives only in memory for the duration of one request.

    A plain class, not a dataclass: compiled (setup.py), its ``__init__`` is native code, where a
    dataclass's generated one stays Python (~1 µs per event). Its repr names no raw value (a repr
    can end up in a log line or a traceback)."""

    def __init__(
        self, ip: str | None, user_agent: str, url: str, referrer: str | None = None, postcode: str | None = None,
        country: str | None = None, cookie_id: str | None = None, hash_routing: bool = False,
        refuses_tracking: bool = False, server_sent: bool = False, forwarded: bool = False,
    ) -> None:
        self.ip, self.user_agent, self.url, self.referrer = ip, user_agent, url, referrer
        self.postcode, self.country, self.cookie_id = postcode, country, cookie_id
        self.hash_routing = hash_routing
        self.refuses_tracking = refuses_tracking  # Sec-GPC: 1 or DNT: 1
        # Sent by a shop's server, not a browser: a fulfilment, or a non-browser UA whose address
        # is the socket peer (not a visitor forwarded by a trusted proxy). Its address is the
        # server's, so it gets no IP token and is nobody's visitor.
        self.server_sent = server_sent
        self.forwarded = forwarded  # the address came from a trusted proxy's forwarding header

    def __repr__(self) -> str:
        return (f"RawVisit(country={self.country!r}, hash_routing={self.hash_routing}, refuses_tracking={self.refuses_tracking}, "
                f"server_sent={self.server_sent}, forwarded={self.forwarded})")


class AnonymousVisit(TypedDict):
    """The anonymous fields, keyed by their spii.events column names: the pipeline adds the
    event's own columns to this dict and serialises it as the row (a dict, not a dataclass,
    because copying 22 attributes into the row cost ~3 µs per event)."""

    host: str
    path: str
    query: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_term: str
    utm_content: str
    referrer_host: str
    referrer_source: str
    browser: str
    browser_version: str
    os: str
    os_version: str
    device: str
    postcode_area: str
    country: str
    region: str
    key_id: str
    ip_token: str
    visitor_id: int
    cookie_hash: int


def _packed(ip: str | None) -> bytes | None:
    if not ip:
        return None
    try:
        return ipcrypt.ip_to_bytes(ip)
    except ValueError:
        return None


def anonymise(raw: RawVisit, policy: ClientPolicy, keyring: Keyring, now: datetime,
              locate: Callable[[str], tuple[str, str]] | None = None) -> AnonymousVisit:
    """Raises :class:`InvalidUrl` for a bad page URL and ``NoCurrentKey`` when no epoch key
    covers ``now`` (the caller answers 503: never a fallback to a weaker value). ``locate``
    gives the address's country and region (privacy/geoip.py), looked up before encryption."""
    url = scrub_url(raw.url, policy.allow_params, raw.hash_routing)
    if url is None:
        raise InvalidUrl("u must be an absolute http(s) URL")
    ua = parse_user_agent(raw.user_agent)
    ref_host = referrer_host(raw.referrer)
    if ref_host and (ref_host == url.host or "www." + ref_host == url.host):
        ref_host = ""  # internal navigation is not a source
    stated = (raw.country or "").strip().upper()[:2]  # the event's cc: picks the postcode's rules
    area = coarse_area(raw.postcode, stated or "GB", zip3=policy.us_zip3) if raw.postcode else None

    key_id, token, visitor_id, cookie_hash = "", _ZERO_TOKEN, 0, 0
    from_server = raw.server_sent or (not raw.forwarded and not ua.browser and not ua.os)
    # the address's country, else the stated one (a server's address says nothing of the visitor)
    country, region = locate(raw.ip) if locate is not None and raw.ip and not from_server else ("", "")
    country = country or (stated if stated.isalpha() and len(stated) == 2 else "")
    if not raw.refuses_tracking:
        packed = None if from_server else _packed(raw.ip)
        if packed is not None:
            pseudo = keyring.pseudonymise(policy.client_id, packed, ua.coarse_key, now)
            key_id, token, visitor_id = pseudo.key_id, pseudo.ip_token, pseudo.visitor_id
        if raw.cookie_id and policy.cookies == "consent":
            cookie_hash = keyring.cookie_hash(policy.client_id, raw.cookie_id, now)
            visitor_id = cookie_hash  # a consented cookie is the better visitor identity
    utm = url.utm
    utm_source = utm.get("utm_source", "")
    return {
        "host": url.host,
        "path": url.path,
        "query": url.query,
        "utm_source": utm_source,
        "utm_medium": utm.get("utm_medium", ""),
        "utm_campaign": utm.get("utm_campaign", ""),
        "utm_term": utm.get("utm_term", ""),
        "utm_content": utm.get("utm_content", ""),
        "referrer_host": ref_host,
        # the report's "source": a known site's name, else the referrer host, else the UTM source
        "referrer_source": (referrer_source(ref_host) if ref_host else "") or utm_source,
        "browser": ua.browser,
        "browser_version": ua.browser_version,
        "os": ua.os,
        "os_version": ua.os_version,
        "device": ua.device,
        "postcode_area": area or "",
        "country": country,
        "region": region,
        "key_id": key_id,
        "ip_token": token,
        "visitor_id": visitor_id,
        "cookie_hash": cookie_hash,
    }
