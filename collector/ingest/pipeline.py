"""The ingest pipeline: a list of named steps over one event; the first drop wins and every drop
is counted by reason (after Plausible's ingestion/event.ex, minus its silent drops).

    gate (client, origin) -> rate limit -> bot -> privacy transforms -> row

The result is one JSONEachRow line for spii.events, already pseudonymised, or a drop reason.
"""

from __future__ import annotations

import time
from operator import attrgetter
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import orjson

from collector.ingest.payload import EventPayload
from collector.ingest.sessions import VISIT_SOURCE_COLUMNS, SessionCache
from collector.privacy.anonymise import RawVisit, anonymise
from collector.privacy.keyring import Keyring
from collector.privacy.useragent import is_bot
from collector.tenants import Client, Registry

__all__ = ["RequestFacts", "Outcome", "Pipeline", "TokenBucket", "origin_host"]

# AnonymousVisit fields stored under the same column name, as they are.
VISIT_COLUMNS = (
    "host", "path", "query", "referrer_host", "utm_source", "utm_medium", "utm_campaign", "utm_term",
    "utm_content", "browser", "browser_version", "os", "os_version", "device", "postcode_area", "country",
    "key_id", "ip_token", "visitor_id", "cookie_hash",
)


@dataclass(frozen=True)
class RequestFacts:
    """What the HTTP layer knows about the sender. Raw values: memory only, never stored."""

    ip: str | None
    user_agent: str
    origin: str | None
    refuses_tracking: bool


@dataclass
class Outcome:
    row: bytes | None = None  # one JSONEachRow line, newline-terminated
    dropped: str | None = None
    kind: str = ""


class TokenBucket:
    """Per-client token bucket: ``rate`` events/s sustained, ``burst`` at once."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self._state: dict[str, tuple[float, float]] = {}

    def allow(self, key: str, cost: float = 1.0) -> bool:
        now = time.monotonic()
        tokens, last = self._state.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < cost:
            self._state[key] = (tokens, now)
            return False
        self._state[key] = (tokens - cost, now)
        return True


def origin_host(origin: str | None) -> str | None:
    """Host of an ``Origin`` header; None when absent or opaque, '' when unparseable."""
    if not origin or origin == "null":
        return None
    try:
        return urlsplit(origin).hostname
    except ValueError:
        return ""


_visit_values = attrgetter(*VISIT_COLUMNS)
_second_cache: list = [None, ""]


def _ts(now: datetime) -> str:
    """'YYYY-MM-DD hh:mm:ss.mmm' (DateTime64(3)); strftime runs once per second, not per event."""
    second = now.replace(microsecond=0)
    if _second_cache[0] != second:
        _second_cache[0], _second_cache[1] = second, second.strftime("%Y-%m-%d %H:%M:%S.")
    return f"{_second_cache[1]}{now.microsecond // 1000:03d}"


class Pipeline:
    def __init__(self, rate_limiter: TokenBucket, us_zip3: bool = False, sessions: SessionCache | None = None) -> None:
        self.rate_limiter = rate_limiter
        self.us_zip3 = us_zip3
        self.sessions = sessions or SessionCache()

    def gate(self, payload: EventPayload, facts: RequestFacts, registry: Registry) -> Client | str:
        client = registry.for_host(payload.d)
        if client is None:
            return "unknown_client"
        origin = origin_host(facts.origin)
        if origin is not None and not client.owns_host(origin):
            return "unknown_client"
        return client

    def process(
        self,
        payload: EventPayload,
        facts: RequestFacts,
        registry: Registry,
        keyring: Keyring,
        now: datetime,
        event_time: datetime | None = None,
    ) -> Outcome:
        """Raises InvalidUrl (-> 400) and NoCurrentKey (-> 503); drops are returned.

        ``now`` picks the epoch key; ``event_time`` (an operator's backfill) only dates the row."""
        gated = self.gate(payload, facts, registry)
        if isinstance(gated, str):
            return Outcome(dropped=gated)
        client = gated
        if not self.rate_limiter.allow(client.client_id):
            return Outcome(dropped="rate_limited")
        if is_bot(facts.user_agent):
            return Outcome(dropped="bot")
        if payload.n == "engagement":  # Plausible's tracker (>= 2.x) time-on-page pings: not events, not stored yet
            return Outcome(dropped="engagement")
        raw = RawVisit(
            ip=facts.ip,
            user_agent=facts.user_agent,
            url=payload.u,
            referrer=payload.r,
            postcode=payload.pc,
            country=payload.cc,
            cookie_id=payload.cid,
            hash_routing=bool(payload.h) or client.hash_routing,
            refuses_tracking=facts.refuses_tracking or bool(payload.g),
        )
        visit = anonymise(raw, client.policy(self.us_zip3), keyring, now)
        kind = payload.kind
        revenue = payload.revenue
        at = event_time or now
        row = {
            "client_id": client.client_id,
            "ts": _ts(at),
            "kind": kind,
            "name": payload.n if kind == "event" else kind,
            **dict(zip(VISIT_COLUMNS, _visit_values(visit))),
            "referrer_source": visit.referrer_source or visit.utm_source,
            "session_id": 0,
            "entry_page": visit.path,
            "props": payload.p or {},
            "order_id": keyring.order_ref(client.client_id, payload.order) if payload.order else "",
            "revenue": str(revenue.amount) if revenue else "0",
            "currency": revenue.currency if revenue else "",
            "items": [{"sku": i.sku, "quantity": i.quantity, "price": str(i.price)} for i in payload.items or ()],
            "fulfilment_status": payload.status or "",
            "contact_channel": payload.channel or "",
            "tracking_refused": int(raw.refuses_tracking),
            "retention_days": client.retention_days,
        }
        if visit.visitor_id and kind != "fulfilment":  # fulfilment is sent by the shop's server, not part of a visit
            source = tuple(row[c] for c in VISIT_SOURCE_COLUMNS)
            step = self.sessions.step(client.client_id, visit.visitor_id, at.timestamp(), visit.path, source, kind == "pageview")
            session = step.visit
            row["session_id"], row["entry_page"] = session.session_id, session.entry_page
            row["visit_event"], row["visit_pageview"], row["visit_seconds"] = step.event, step.pageview, step.seconds
            if session.source != source:  # a later event of the visit: attribute it to the visit's source
                row.update(zip(VISIT_SOURCE_COLUMNS, session.source))
        return Outcome(row=orjson.dumps(row) + b"\n", kind=kind)
