"""The ingest pipeline: a list of named steps over one event; the first drop wins and every drop
is counted by reason (after Plausible's ingestion/event.ex, minus its silent drops).

    gate (client, origin) -> rate limit -> bot -> privacy transforms -> row

The result is one JSONEachRow line for spii.events, already pseudonymised, or a drop reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from operator import itemgetter
from datetime import datetime
from urllib.parse import urlsplit

import orjson

from collector.ingest.payload import EventPayload
from collector.ingest.sessions import VISIT_SOURCE_COLUMNS, SessionCache
from collector.privacy.anonymise import RawVisit, anonymise
from collector.privacy.keyring import Keyring
from collector.privacy.useragent import is_bot
from collector.subjects.flags import SubjectFlags
from collector.tenants import Client, Registry

__all__ = ["RequestFacts", "Outcome", "Pipeline", "TokenBucket", "origin_host"]


class RequestFacts:
    """What the HTTP layer knows about the sender. Raw values: memory only, never stored, and
    never in its repr. (A plain class: compiled, its ``__init__`` is native, see RawVisit.)"""

    def __init__(self, ip: str | None, user_agent: str, origin: str | None, refuses_tracking: bool = False,
                 forwarded: bool = False) -> None:
        self.ip, self.user_agent, self.origin = ip, user_agent, origin
        self.refuses_tracking = refuses_tracking
        self.forwarded = forwarded  # ``ip`` came from a trusted proxy's forwarding header

    def __repr__(self) -> str:
        return f"RequestFacts(refuses_tracking={self.refuses_tracking}, forwarded={self.forwarded})"


class Outcome:
    """An event's result: its row, or why it was dropped. (A plain class, as RequestFacts.)"""

    __slots__ = ("row", "dropped", "kind")

    def __init__(self, row: bytes | None = None, dropped: str | None = None, kind: str = "") -> None:
        self.row = row  # one JSONEachRow line, newline-terminated
        self.dropped = dropped
        self.kind = kind

    def __repr__(self) -> str:
        return f"Outcome(dropped={self.dropped!r}, kind={self.kind!r})"


class TokenBucket:
    """Token buckets by key: ``rate`` events/s sustained, ``burst`` at once (a key may bring its
    own rate and burst; a rate of 0 means no limit). Bounded: past ``max_keys`` keys, buckets
    that have refilled (they hold no state worth keeping) are forgotten, then all of them."""

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate, self.burst = rate, burst
        self.max_keys = max_keys
        self._state: dict[str, tuple[float, float]] = {}

    def __len__(self) -> int:
        return len(self._state)

    def allow(self, key: str, cost: float = 1.0, rate: float | None = None, burst: float | None = None) -> bool:
        rate = self.rate if rate is None else rate
        if rate <= 0:
            return True
        burst = self.burst if burst is None else burst
        now = time.monotonic()
        state = self._state.get(key)
        if state is None:
            if len(self._state) >= self.max_keys:
                self._forget_full(now)
            tokens = burst
        else:
            tokens = min(burst, state[0] + (now - state[1]) * rate)
        if tokens < cost:
            self._state[key] = (tokens, now)
            return False
        self._state[key] = (tokens - cost, now)
        return True

    def _forget_full(self, now: float) -> None:
        full = [key for key, (tokens, last) in self._state.items() if tokens + (now - last) * self.rate >= self.burst]
        for key in full:
            del self._state[key]
        if len(self._state) >= self.max_keys:
            self._state.clear()


def origin_host(origin: str | None) -> str | None:
    """Host of an ``Origin`` header; None when absent or opaque, '' when unparseable."""
    if not origin or origin == "null":
        return None
    try:
        return urlsplit(origin).hostname
    except ValueError:
        return ""


_visit_source = itemgetter(*VISIT_SOURCE_COLUMNS)
_minute_cache: list = [None, ""]
_SECONDS = [f"{s:02d}." for s in range(61)]


def _ts(at: datetime, unix: float) -> str:
    """'YYYY-MM-DD hh:mm:ss.mmm' (DateTime64(3)) of ``at`` (``unix`` is its timestamp, which the
    caller has anyway: an aware datetime's timestamp() costs a timedelta); strftime runs once
    per minute, not per event (an imported log's lines are seconds apart: 9% of its import)."""
    minute = int(unix) // 60
    if _minute_cache[0] != minute:
        _minute_cache[0], _minute_cache[1] = minute, at.strftime("%Y-%m-%d %H:%M:")
    return _minute_cache[1] + _SECONDS[at.second] + str(1000 + at.microsecond // 1000)[1:]


class Pipeline:
    def __init__(
        self, rate_limiter: TokenBucket, us_zip3: bool = False, sessions: SessionCache | None = None, flags: SubjectFlags | None = None,
        locate: Callable[[str], tuple[str, str]] | None = None,
    ) -> None:
        self.rate_limiter = rate_limiter
        self.locate = locate  # the address's (country, region): privacy/geoip.py
        self.us_zip3 = us_zip3
        self.sessions = sessions or SessionCache()
        self.flags = flags

    def gate(self, payload: EventPayload, facts: RequestFacts, registry: Registry) -> Client | str:
        client = registry.for_host(payload.d)
        if client is None:
            return "unknown_client"
        origin = origin_host(facts.origin)
        if origin is not None and not client.owns_host(origin):
            return "origin_mismatch"  # a page of another site (or a local test page) sent it
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
        if not self.rate_limiter.allow(client.client_id, rate=client.rate, burst=client.burst):
            return Outcome(dropped="rate_limited")
        if is_bot(facts.user_agent):
            return Outcome(dropped="bot")
        kind = payload.kind
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
            server_sent=kind == "fulfilment",
            forwarded=facts.forwarded,
        )
        row: dict = anonymise(raw, client.policy(self.us_zip3), keyring, now, self.locate)  # type: ignore[assignment]
        flags = self.flags
        if flags is not None and flags.any_objection and flags.objected(client.client_id, row["key_id"], row["ip_token"], row["cookie_hash"]):
            return Outcome(dropped="objected")  # the subject objected or was erased: same IP, same epoch
        revenue = payload.revenue
        at = event_time or now
        unix = at.timestamp()  # (once: the row's ts and the visit's clock)
        # Only what the event has: a column left out of a JSONEachRow line takes its type's
        # default ('' / 0 / empty), so a plain pageview's row is ~30% shorter to write and parse.
        row["client_id"] = client.client_id
        row["ts"] = _ts(at, unix)
        row["kind"] = kind
        row["name"] = payload.n if kind == "event" else kind
        row["retention_days"] = client.retention_days
        if payload.p:
            row["props"] = payload.p
        if payload.order:
            row["order_id"] = keyring.order_ref(client.client_id, payload.order)
        if revenue:
            row["revenue"], row["currency"] = str(revenue.amount), revenue.currency
        if payload.items:
            row["items"] = [{"sku": i.sku, "quantity": i.quantity, "price": str(i.price)} for i in payload.items]
        # a status belongs to a fulfilment and a channel to a contact: on another kind (a pageview
        # sent with "status") they are ignored like an unknown field, so their reports hold only their kind
        if payload.status and kind == "fulfilment":
            row["fulfilment_status"] = payload.status
        if payload.channel and kind == "contact":
            row["contact_channel"] = payload.channel
        if raw.refuses_tracking:
            row["tracking_refused"] = 1
        visitor_id = row["visitor_id"]
        if kind == "engagement":
            return self._engagement(payload, row, client.client_id, unix)
        if visitor_id and kind != "fulfilment":  # a fulfilment is an order's later news, not part of a visit
            source = _visit_source(row)
            step = self.sessions.step(client.client_id, visitor_id, unix, row["path"], source, kind == "pageview")
            session = step.visit
            row["session_id"], row["entry_page"] = session.session_id, session.entry_page
            row["visit_event"], row["visit_pageview"], row["visit_seconds"] = step.event, step.pageview, step.seconds
            if session.source != source:  # a later event of the visit: attribute it to the visit's source
                row.update(zip(VISIT_SOURCE_COLUMNS, session.source))
        return Outcome(row=orjson.dumps(row) + b"\n", kind=kind)

    def _engagement(self, payload: EventPayload, row: dict, client_id: str, unix: float) -> Outcome:
        """Plausible's engagement ping: the page's scroll depth and engaged time, stored on a row
        of its own in the visit it belongs to (never a pageview or a custom event). Without an
        open visit (a visitor who refuses tracking has none) there is no one to attach it to."""
        joined = self.sessions.engage(client_id, row["visitor_id"], unix) if row["visitor_id"] else None
        if joined is None:
            return Outcome(dropped="engagement_without_visit")
        visit, seconds = joined
        row["scroll_depth"], row["engaged_ms"] = payload.sd or 0, payload.e or 0
        row["session_id"], row["entry_page"], row["visit_seconds"] = visit.session_id, visit.entry_page, seconds
        row.update(zip(VISIT_SOURCE_COLUMNS, visit.source))
        row.pop("props", None)  # (the pageview carried them)
        return Outcome(row=orjson.dumps(row) + b"\n", kind="engagement")
