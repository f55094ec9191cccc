"""Who may read what: analyst tokens (one client each, from the registry) and the operator's
admin token. Tokens are compared as SHA-256 digests in constant time, and each token has its own
request budget so one dashboard left open cannot starve the others."""

from __future__ import annotations

import base64
import hmac
import os

from aiohttp import web

from collector.config import Settings
from collector.files import locked, write_secret_file
from collector.http.errors import field_error
from collector.ingest.pipeline import TokenBucket
from collector.tenants import Client, Registry, hash_token

__all__ = ["admin_token", "bearer_token", "Auth", "Denied"]


def admin_token(settings: Settings) -> str:
    """SPII_ADMIN_TOKEN, or the one generated on first use into <data dir>/admin.token (0600)."""
    if settings.admin_token:
        return settings.admin_token.get_secret_value()
    path = settings.admin_token_path
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with locked(path):
        if not path.exists():
            write_secret_file(path, base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=") + b"\n")
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
    def __init__(self, admin: str, rate: float, burst: float) -> None:
        self._admin_digest = hash_token(admin)
        self.limiter = TokenBucket(rate, burst)

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
