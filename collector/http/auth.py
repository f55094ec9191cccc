"""Who may read what: analyst tokens (one client each, from the registry) and the operator's
admin token. Tokens are compared as SHA-256 digests in constant time, and each token has its own
request budget so one dashboard left open cannot starve the others."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time

from aiohttp import web

from collector.config import Settings
from collector.files import locked, write_secret_file
from collector.http.errors import field_error
from collector.ingest.pipeline import TokenBucket
from collector.tenants import Client, Registry, hash_token, new_secret_token

__all__ = ["admin_token", "bearer_token", "Auth", "Denied"]


def admin_token(settings: Settings) -> str:
    """SPII_ADMIN_TOKEN, or the one generated on first use into <data dir>/admin.token (0600)."""
    if settings.admin_token:
        return settings.admin_token.get_secret_value()
    path = settings.admin_token_path
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with locked(path):
        if not path.exists():
            write_secret_file(path, new_secret_token().encode() + b"\n")
    return path.read_text().strip()


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class Denied(Exception):
    """Stops a request with ``response``: a refused token, or a request that cannot be served."""

    def __init__(self, response: web.Response) -> None:
        self.response = response


class Auth:
    def __init__(self, admin: str, rate: float, burst: float, session_key: bytes | None = None) -> None:
        self._admin_digest = hash_token(admin)
        self.limiter = TokenBucket(rate, burst)
        self._session_key = session_key or os.urandom(32)
        self._ended: set[str] = set()  # sessions logged out in this process (bounded: see end_session)

    # --- dashboard sessions: the cookie holds a signed ticket, never the token. The ticket names
    # the client, the token (by a hash prefix: revoking the token ends its sessions on every
    # node) and an expiry; its MAC key is derived from the master key, so every node and
    # worker accepts it without shared session storage.
    def new_session(self, client: Client, token: str, seconds: int) -> str:
        expires = int(time.time()) + seconds
        body = f"{client.client_id}.{hash_token(token)[:32]}.{expires}.{base64.urlsafe_b64encode(os.urandom(12)).decode()}"
        return f"{body}.{self._ticket_mac(body)}"

    def _ticket_mac(self, body: str) -> str:
        return hmac.new(self._session_key, body.encode(), hashlib.sha256).hexdigest()[:43]

    def client_for_session(self, ticket: str, client_id: str, registry: Registry) -> Client:
        """The client a session ticket opens; Denied (401) when forged, expired, ended, or its
        token was revoked; 403 for another client's dashboard."""
        body, _, mac = ticket.rpartition(".")
        parts = body.split(".")
        if len(parts) != 4 or not hmac.compare_digest(self._ticket_mac(body), mac) or body in self._ended:
            raise Denied(field_error(401, "invalid session", "cookie", "log in again"))
        owner, token_digest, expires, _ = parts
        client = registry.by_id.get(owner)
        token_lives = token_digest == self._admin_digest[:32] or (client is not None and any(
            t.sha256.startswith(token_digest) for t in client.tokens))
        if not expires.isdigit() or int(expires) < time.time() or client is None or not token_lives:
            raise Denied(field_error(401, "session ended", "cookie", "expired, or its token was revoked: log in again"))
        if owner != client_id:
            raise Denied(field_error(403, "this session cannot open that site", "cookie", "not a site of this session"))
        self.throttle(ticket)
        return client

    # --- sessions of a password-protected shared link (http/share.py): share id, expiry, MAC
    def new_share_session(self, share_id: str, seconds: int) -> str:
        body = f"share.{share_id}.{int(time.time()) + seconds}.{base64.urlsafe_b64encode(os.urandom(12)).decode()}"
        return f"{body}.{self._ticket_mac(body)}"

    def share_session_valid(self, ticket: str, share_id: str) -> bool:
        body, _, mac = ticket.rpartition(".")
        parts = body.split(".")
        return (len(parts) == 4 and hmac.compare_digest(self._ticket_mac(body), mac) and parts[:2] == ["share", share_id]
                and parts[2].isdigit() and int(parts[2]) >= time.time())

    def end_session(self, ticket: str) -> None:
        if len(self._ended) > 100_000:
            self._ended.clear()  # tickets expire on their own within hours
        self._ended.add(ticket.rpartition(".")[0])

    def is_admin(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(hash_token(token), self._admin_digest)

    def require_admin(self, token: str | None) -> None:
        if token is None:
            raise Denied(field_error(401, "missing admin token", "Authorization", "send Authorization: Bearer <admin token>"))
        if not self.is_admin(token):
            raise Denied(field_error(401, "invalid admin token", "Authorization", "not the admin token"))
        self.throttle(token)

    def throttle(self, token: str) -> None:
        if not self.limiter.allow(hash_token(token)[:16]):
            response = field_error(429, "too many requests", "Authorization", "this token is over its request rate")
            response.headers["Retry-After"] = "1"
            raise Denied(response)

    def client_for(self, token: str | None, site_id: str | None, registry: Registry) -> Client:
        """The client ``site_id`` (id, name or domain) if ``token`` may read it: its own analyst
        token or the admin token. 401 without a valid token, 403 for another client's site."""
        if token is None:
            raise Denied(field_error(401, "missing token", "Authorization", "send Authorization: Bearer <analyst token>"))
        admin = self.is_admin(token)
        own = None if admin else registry.for_token(token)
        if not admin and own is None:
            raise Denied(field_error(401, "invalid token", "Authorization", "unknown or revoked token"))
        self.throttle(token)
        if not site_id:
            if own is not None:
                return own
            raise Denied(field_error(400, "missing site_id", "site_id", "the client id, name or domain"))
        wanted = registry.find(site_id) or registry.for_host(site_id)
        if wanted is None or (own is not None and wanted.client_id != own.client_id):
            # the same answer for "someone else's" and "does not exist": nothing to probe
            raise Denied(field_error(403, "this token cannot read that site", "site_id", "not a site of this token"))
        return wanted
