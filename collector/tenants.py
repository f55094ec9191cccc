"""The client registry: which websites spii collects for, what each allows, and who may read
their reports. Stored as ``<data dir>/clients.json``, written atomically under a file lock,
reloaded by a running collector when it changes.

Analyst tokens are 32 random bytes (URL-safe base64), shown once, stored only as SHA-256
hashes and compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from datetime import UTC, date, datetime
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TypeVar

from pydantic import BaseModel, Field, field_validator, model_validator

from collector.errors import UserError
from collector.files import ReloadingFile, atomic_write, locked

if TYPE_CHECKING:
    from collector.privacy.anonymise import ClientPolicy

FORMAT = "spii-clients/1"
TOKEN_PREFIX_CHARS = 8
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$|^localhost$")


class RegistryError(UserError):
    """A registry edit that cannot be done (unknown client, duplicate name, bad domain)."""


def normalise_domain(domain: str) -> str:
    d = domain.strip().lower().rstrip(".")
    return d[4:] if d.startswith("www.") else d


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret_token() -> str:
    """256 random bits, URL-safe. Never starting with '-': a command line would read such a token
    given as ``--token T`` (or its prefix given to ``spii clients revoke``) as an option."""
    while True:
        token = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
        if not token.startswith("-"):
            return token


class TokenRecord(BaseModel):
    prefix: str  # first characters of the token: lets an operator name it for revocation
    sha256: str
    created_at: str


class ShareRecord(BaseModel):
    """A read-only link to the client's dashboard (http/share.py): its token hashed, an optional
    last day (UTC) and an optional password (scrypt)."""

    share_id: str  # names the link for `spii clients unshare`
    sha256: str
    created_at: str
    expires: date | None = None  # the last day the link opens
    password: str | None = None  # hash_password()

    def expired(self, today: date | None = None) -> bool:
        return self.expires is not None and (today or datetime.now(UTC).date()) > self.expires


SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~16 MB and tens of ms per try: slow to guess offline


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    _, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), **SCRYPT, dklen=32)
    return hmac.compare_digest(candidate.hex(), digest)


class Goal(BaseModel):
    """A conversion: a custom event by name, or a pageview of a path pattern (* and ** as in
    filters); with ``revenue``, the event's revenue in that currency is the goal's revenue."""

    goal_id: str
    event: str | None = Field(None, min_length=1, max_length=120)
    page: str | None = Field(None, min_length=1, max_length=512)
    revenue: str | None = Field(None, pattern=r"^[A-Z]{3}$")

    @model_validator(mode="after")
    def _one_kind(self) -> Goal:
        if (self.event is None) == (self.page is None):
            raise ValueError("a goal is an event name or a page pattern, not both")
        if self.revenue and self.page:
            raise ValueError("revenue goals are events (transactions carry revenue)")
        if self.event == "engagement":
            raise ValueError("engagement pings are time on page and scroll depth, not conversions")
        return self

    @property
    def name(self) -> str:
        """How reports name it (Plausible's style): the event name, or 'Visit <pattern>'."""
        return self.event if self.event is not None else f"Visit {self.page}"


class Funnel(BaseModel):
    """2 to 8 goals, to be reached in this order within one visit."""

    name: str = Field(min_length=1, max_length=120)
    steps: list[str] = Field(min_length=2, max_length=8)  # goal ids


MAX_SEGMENTS = 100
SEGMENT_NAME = r"^[^;|=~!]+$"  # a segment's name is a v1 filter value: none of the syntax's own characters
T = TypeVar("T")


class Segment(BaseModel):
    """A named, saved set of filters (Stats API v1 syntax), as Plausible's segments: reports take
    ``segment==NAME`` (v1, the dashboard) or ``["is", "segment", [ID]]`` (v2) for its filters."""

    segment_id: str
    name: str = Field(min_length=1, max_length=80, pattern=SEGMENT_NAME)
    filters: str = Field(min_length=1, max_length=2000)


class Client(BaseModel):
    client_id: str
    name: str
    domains: list[str]
    retention_days: int = Field(395, ge=1, le=3650)
    cookies: Literal["off", "consent"] = "off"
    allow_params: list[str] = Field(default_factory=list)
    k: int = Field(10, ge=5, description="small-count suppression threshold (never below 5)")
    rounding: Literal[0, 5, 10] = Field(0, description="round report counts to a multiple of this (0 = exact)")
    hash_routing: bool = False
    rate: float | None = Field(None, ge=0, description="events/s this client may send (0: no limit; None: SPII_CLIENT_RATE)")
    burst: float | None = Field(None, gt=0, description="events at once above the rate (None: SPII_CLIENT_BURST)")
    perturb: bool = Field(True, description="cell-key perturbation of every report count (reports/perturb.py)")
    dp_budget: float | None = Field(None, gt=0, le=100, description="differential privacy for exports: epsilon per month (None: off)")
    dp_export_epsilon: float = Field(1.0, gt=0, le=100, description="epsilon one export spends of dp_budget")
    goals: list[Goal] = Field(default_factory=list)
    funnels: list[Funnel] = Field(default_factory=list)
    segments: list[Segment] = Field(default_factory=list)
    tokens: list[TokenRecord] = Field(default_factory=list)
    shares: list[ShareRecord] = Field(default_factory=list)
    # e-mail (collector/mail): the reports sent after each closed period, their recipients (kept
    # here only, never in the events store or a log line), and the traffic alerts sent to them
    email_reports: list[Literal["weekly", "monthly"]] = Field(default_factory=list, description="reports e-mailed after each period")
    email_to: list[str] = Field(default_factory=list, max_length=50, description="recipients of the reports and alerts")
    alert_spike_visitors: int | None = Field(None, ge=1, description="alert when the current visitors (last 5 minutes) reach this")
    alert_drop_hours: float | None = Field(None, gt=0, le=24 * 14, description="alert after this many hours without an event")
    alert_cooldown_hours: float = Field(24.0, gt=0, le=24 * 31, description="at most one alert of a kind per this many hours")

    def goal(self, name_or_id: str) -> Goal | None:
        return next((g for g in self.goals if name_or_id in (g.goal_id, g.name)), None)

    def funnel(self, name: str) -> Funnel | None:
        return next((f for f in self.funnels if f.name == name), None)

    def segment(self, name_or_id: str) -> Segment | None:
        return next((s for s in self.segments if name_or_id in (s.segment_id, s.name)), None)

    @field_validator("email_reports")
    @classmethod
    def _kinds(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("email_to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        from email_validator import EmailNotValidError, validate_email

        out = []
        for n, address in enumerate(value, 1):
            try:  # (the address itself is not repeated in the error: it may end up in a log)
                out.append(validate_email(address, check_deliverability=False).normalized)
            except EmailNotValidError as exc:
                raise ValueError(f"address {n} is not a valid e-mail address: {exc}") from None
        return list(dict.fromkeys(out))

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        out = []
        for d in value:
            nd = normalise_domain(d)
            if not _DOMAIN.match(nd):
                raise ValueError("not a valid domain name")
            out.append(nd)
        if not out:
            raise ValueError("at least one domain is needed")
        return out

    def policy(self, us_zip3: bool = False) -> ClientPolicy:
        cached = self.__dict__.get("_policy")
        if cached is not None and cached.us_zip3 == us_zip3:
            return cached  # built once per registry snapshot: it is on the per-event path
        from collector.privacy.anonymise import ClientPolicy  # (the registry is also read by light CLI commands)

        policy = ClientPolicy(
            client_id=self.client_id,
            allow_params=frozenset(self.allow_params),
            cookies=self.cookies,
            us_zip3=us_zip3,
        )
        self.__dict__["_policy"] = policy
        return policy

    def owns_host(self, host: str) -> bool:
        """``host`` is one of the client's domains or a subdomain of one."""
        host = normalise_domain(host)
        return any(host == d or host.endswith("." + d) for d in self.domains)

    def token_matches(self, token: str) -> bool:
        digest = hash_token(token)
        return any(hmac.compare_digest(digest, t.sha256) for t in self.tokens)


class Registry:
    """An immutable snapshot of clients.json with lookup indexes."""

    def __init__(self, clients: list[Client]) -> None:
        self.clients = clients
        self.by_id = {c.client_id: c for c in clients}
        self.by_name = {c.name: c for c in clients}
        self._by_domain = {d: c for c in clients for d in c.domains}
        self._host_cache: dict[str, Client | None] = {}
        self._shares = {s.sha256: (c, s) for c in clients for s in c.shares}

    def find(self, name_or_id: str) -> Client | None:
        return self.by_id.get(name_or_id) or self.by_name.get(name_or_id)

    def for_host(self, host: str) -> Client | None:
        """The client owning ``host`` (exact domain or a subdomain), cached per host."""
        if host in self._host_cache:
            return self._host_cache[host]
        h = normalise_domain(host)
        found = None
        while h:
            found = self._by_domain.get(h)
            if found or "." not in h:
                break
            h = h.split(".", 1)[1]
        if len(self._host_cache) > 10000:
            self._host_cache.clear()
        self._host_cache[host] = found
        return found

    def for_share(self, token: str) -> tuple[Client, ShareRecord] | None:
        """The client and share a shared link's token opens (looked up by its hash)."""
        return self._shares.get(hash_token(token))

    def for_token(self, token: str) -> Client | None:
        for client in self.clients:
            if client.token_matches(token):
                return client
        return None


class RegistryStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Registry:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return Registry([])
        if data.get("format") != FORMAT:
            raise RegistryError(f"{self.path} is not a {FORMAT} file")
        return Registry([Client.model_validate(c) for c in data.get("clients", [])])

    def _save(self, registry: Registry) -> None:
        data = {"format": FORMAT, "clients": [c.model_dump(mode="json") for c in registry.clients]}
        atomic_write(self.path, json.dumps(data, indent=1).encode() + b"\n")

    def add(self, name: str, domains: list[str], **options: object) -> tuple[Client, str | None]:
        """A new client and its first analyst token. Adding the same name with the same domains
        again changes nothing and returns the existing client with no token (a restart of an
        install script must not fail); the same name with other domains is an error."""
        with locked(self.path):
            registry = self.load()
            existing = registry.by_name.get(name)
            if existing is not None:
                if sorted(existing.domains) == sorted({normalise_domain(d) for d in domains}):
                    return existing, None
                raise RegistryError(f"a client named {name!r} exists already, for {', '.join(existing.domains)} "
                                    "(spii clients update changes its settings)")
            client = Client(client_id="c_" + secrets.token_hex(6), name=name, domains=domains, **options)
            for d in client.domains:
                other = registry.for_host(d)
                if other is not None:
                    raise RegistryError(f"domain {d} already belongs to client {other.name}")
            token = _new_token(client)
            self._save(Registry(registry.clients + [client]))
        return client, token

    def new_token(self, name_or_id: str) -> tuple[Client, str]:
        with locked(self.path):
            registry = self.load()
            client = self._require(registry, name_or_id)
            token = _new_token(client)
            self._save(registry)
        return client, token

    def revoke_token(self, name_or_id: str, prefix: str) -> int:
        with locked(self.path):
            registry = self.load()
            client = self._require(registry, name_or_id)
            before = len(client.tokens)
            client.tokens = [t for t in client.tokens if not t.prefix.startswith(prefix)]
            self._save(registry)
        return before - len(client.tokens)

    def update(self, name_or_id: str, **changes: object) -> Client:
        """Change a client's settings (validated as a whole; tokens and id are kept)."""
        with locked(self.path):
            registry = self.load()
            client = self._require(registry, name_or_id)
            updated = Client.model_validate({**client.model_dump(), **changes, "client_id": client.client_id, "tokens": client.tokens,
                                             "shares": client.shares})
            self._save(Registry([updated if c is client else c for c in registry.clients]))
        return updated

    def remove_recipients(self, client_id: str, matches: Callable[[str], bool]) -> int:
        """Drop the client's e-mail recipients ``matches`` accepts (an unsubscribe link's); how
        many were dropped (0: already gone, or no such client)."""
        with locked(self.path):
            registry = self.load()
            client = registry.find(client_id)
            kept = [] if client is None else [a for a in client.email_to if not matches(a)]
            if client is None or len(kept) == len(client.email_to):
                return 0
            dropped = len(client.email_to) - len(kept)
            client.email_to = kept
            self._save(registry)
        return dropped

    def share(self, name_or_id: str, expires: date | None = None, password: str | None = None) -> tuple[Client, ShareRecord, str]:
        """A new read-only link: the client, its record and the link's token (shown once)."""
        if expires is not None and expires < datetime.now(UTC).date():
            raise RegistryError(f"--expires {expires} is in the past")
        with locked(self.path):
            registry = self.load()
            client = self._require(registry, name_or_id)
            token = new_secret_token()
            share = ShareRecord(share_id="s_" + secrets.token_hex(4), sha256=hash_token(token), expires=expires,
                                created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                password=hash_password(password) if password else None)
            client.shares.append(share)
            self._save(registry)
        return client, share, token

    def unshare(self, name_or_id: str, share_id: str | None = None) -> int:
        """Revoke one shared link, or every link of the client (``share_id`` None)."""
        with locked(self.path):
            registry = self.load()
            client = self._require(registry, name_or_id)
            before = len(client.shares)
            client.shares = [s for s in client.shares if share_id is not None and s.share_id != share_id]
            if share_id is not None and len(client.shares) == before:
                raise RegistryError(f"{client.name} has no shared link {share_id!r} (spii clients unshare {client.name} --list)")
            self._save(registry)
        return before - len(client.shares)

    def add_goal(self, name_or_id: str, event: str | None = None, page: str | None = None, revenue: str | None = None) -> Goal:
        with locked(self.path):
            registry = self.load()
            client = self._require(registry, name_or_id)
            goal = Goal(goal_id="g_" + secrets.token_hex(4), event=event, page=page, revenue=revenue)
            if client.goal(goal.name) is not None:
                raise RegistryError(f"{client.name} has a goal {goal.name!r} already")
            client.goals.append(goal)
            self._save(registry)
        return goal

    def remove_goal(self, name_or_id: str, goal: str) -> Goal:
        with locked(self.path):
            registry = self.load()
            client = self._require(registry, name_or_id)
            found = client.goal(goal)
            if found is None:
                raise RegistryError(f"{client.name} has no goal {goal!r}")
            used = [f.name for f in client.funnels if found.goal_id in f.steps]
            if used:
                raise RegistryError(f"goal {found.name!r} is a step of funnel(s) {', '.join(used)}: remove those first")
            client.goals = [g for g in client.goals if g is not found]
            self._save(registry)
        return found

    def add_funnel(self, name_or_id: str, name: str, steps: list[str]) -> Funnel:
        with locked(self.path):
            registry = self.load()
            client = self._require(registry, name_or_id)
            if client.funnel(name) is not None:
                raise RegistryError(f"{client.name} has a funnel {name!r} already")
            goals = [client.goal(step) for step in steps]
            missing = [step for step, goal in zip(steps, goals) if goal is None]
            if missing:
                raise RegistryError(f"{client.name} has no goal {missing[0]!r} (spii goals list {client.name})")
            funnel = Funnel(name=name, steps=[g.goal_id for g in goals if g is not None])
            client.funnels.append(funnel)
            self._save(registry)
        return funnel

    def remove_funnel(self, name_or_id: str, name: str) -> Funnel:
        return self._remove_named(name_or_id, "funnels", name, lambda client: client.funnel(name))

    def _remove_named(self, name_or_id: str, kind: str, which: str, find: Callable[[Client], T | None]) -> T:
        """Remove the client's funnel or segment ``find`` finds (``kind``: the list it is in)."""
        with locked(self.path):
            registry = self.load()
            client = self._require(registry, name_or_id)
            found = find(client)
            if found is None:
                raise RegistryError(f"{client.name} has no {kind[:-1]} {which!r}")
            setattr(client, kind, [item for item in getattr(client, kind) if item is not found])
            self._save(registry)
        return found

    def add_segment(self, name_or_id: str, name: str, filters: str) -> Segment:
        """Save ``filters`` (checked by the caller: reports.query.parse_filters) as a segment."""
        with locked(self.path):
            registry = self.load()
            client = self._require(registry, name_or_id)
            if client.segment(name) is not None:
                raise RegistryError(f"{client.name} has a segment {name!r} already")
            if len(client.segments) >= MAX_SEGMENTS:
                raise RegistryError(f"{client.name} has {MAX_SEGMENTS} segments: remove one first")
            segment = Segment(segment_id="s_" + secrets.token_hex(4), name=name.strip(), filters=filters)
            client.segments.append(segment)
            self._save(registry)
        return segment

    def remove_segment(self, name_or_id: str, segment: str) -> Segment:
        return self._remove_named(name_or_id, "segments", segment, lambda client: client.segment(segment))

    def remove(self, name_or_id: str) -> Client:
        with locked(self.path):
            registry = self.load()
            client = self._require(registry, name_or_id)
            self._save(Registry([c for c in registry.clients if c is not client]))
        return client

    @staticmethod
    def _require(registry: Registry, name_or_id: str) -> Client:
        client = registry.find(name_or_id)
        if client is None:
            raise RegistryError(f"no client {name_or_id!r}")
        return client


def _new_token(client: Client) -> str:
    token = new_secret_token()
    client.tokens.append(
        TokenRecord(
            prefix=token[:TOKEN_PREFIX_CHARS],
            sha256=hash_token(token),
            created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
    )
    return token


class LiveRegistry(ReloadingFile[Registry]):
    def __init__(self, store: RegistryStore, interval: float = 1.0) -> None:
        super().__init__(store.path, store.load, interval, what="client registry")
        self.store = store
