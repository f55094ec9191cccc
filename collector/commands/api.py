"""A small HTTP client for the running collector: the CLI's report and admin commands go through
the collector's API because embedded ClickHouse allows one process per store."""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from typing import Any

from collector.config import Settings

__all__ = ["ApiClient", "ApiError", "find_token", "connect"]


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# How long a command waits in all for a token's request budget to refill (429 + Retry-After)
# before it gives up: `spii report` asks ~25 questions, and a few in a row spend the burst.
RATE_WAIT_SECONDS = 60.0


class ApiClient:
    def __init__(self, server_url: str, token: str, timeout: float = 120, headers: dict[str, str] | None = None) -> None:
        self.base = server_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.headers = headers or {}
        self.rate_waited = 0.0  # seconds spent waiting for the token's budget (429) so far

    def call(self, method: str, path: str, query: dict[str, str] | None = None, body: Any = None, raw: bool = False,
             data: bytes | Iterable[bytes] | None = None) -> Any:
        """The JSON answer (``raw``: its bytes); ApiError with the server's message otherwise.
        ``body`` is sent as JSON; ``data`` as it is (bytes, or chunks streamed as they come).
        A request refused for the token's rate (429, nothing done) is sent again after the
        ``Retry-After`` the collector names, up to RATE_WAIT_SECONDS in all (not a streamed body,
        which is gone once sent)."""
        while True:
            try:
                return self._call(method, path, query, body, raw, data)
            except _RateLimited as limited:
                wait = limited.retry_after
                if (data is not None and not isinstance(data, bytes)) or self.rate_waited + wait > RATE_WAIT_SECONDS:
                    raise limited.error from None
                time.sleep(wait)
                self.rate_waited += wait

    def _call(self, method: str, path: str, query: dict[str, str] | None, body: Any, raw: bool,
              data: bytes | Iterable[bytes] | None) -> Any:
        url = self.base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        kind = "application/octet-stream" if data is not None else "application/json"
        streamed = data is not None and not isinstance(data, bytes)
        data = json.dumps(body).encode() if body is not None else data
        request = urllib.request.Request(url, data=data, method=method, headers={  # type: ignore[arg-type]
            "Authorization": f"Bearer {self.token}", "Accept": "application/json", "User-Agent": "spii-cli",
            **({"Content-Type": kind} if data is not None else {}), **({"Transfer-Encoding": "chunked"} if streamed else {}),
            **self.headers,
        })
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - operator-given URL
                payload = response.read()
                return payload if raw else json.loads(payload)
        except urllib.error.HTTPError as exc:
            try:
                answer = json.loads(exc.read())
                details = "; ".join(f"{d['field']}: {d['problem']}" for d in answer.get("details", []))
                message = answer.get("error", "") + (f" ({details})" if details else "")
            except (ValueError, KeyError, TypeError):
                message = exc.reason
            error = ApiError(exc.code, f"{method} {path}: HTTP {exc.code} {message}")
            retry_after = exc.headers.get("Retry-After", "") if exc.headers else ""
            if exc.code == 429 and retry_after.isdigit():
                raise _RateLimited(error, max(1.0, float(retry_after))) from None
            raise error from None
        except urllib.error.URLError as exc:
            raise ApiError(0, f"cannot reach the collector at {self.base}: {exc.reason} (is `spii serve` running?)") from None
        except (OSError, http.client.HTTPException) as exc:  # (the connection lost after the request went: no URLError)
            raise ApiError(0, f"lost the collector at {self.base} ({type(exc).__name__}; is `spii serve` running?)") from None

    def get(self, path: str, query: dict[str, str] | None = None) -> Any:
        """GET ``path`` (JSON answer)."""
        return self.call("GET", path, query)

    def post(self, path: str, body: Any) -> Any:
        return self.call("POST", path, body=body)


class _RateLimited(Exception):
    def __init__(self, error: ApiError, retry_after: float) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def find_token(explicit: str | None, settings: Settings, analyst: bool = False) -> str:
    """The token a CLI command sends: the flag, then SPII_TOKEN (commands an analyst may run),
    then SPII_ADMIN_TOKEN, then ``<data dir>/admin.token`` if the collector made one there.
    Never creates a token: a read-only command must not leave files behind."""
    if explicit:
        return explicit
    if analyst and os.environ.get("SPII_TOKEN"):
        return os.environ["SPII_TOKEN"]
    if settings.admin_token:
        return settings.admin_token.get_secret_value()
    try:
        return settings.admin_token_path.read_text().strip()
    except FileNotFoundError:
        which = "an analyst token or the admin token; or SPII_TOKEN / SPII_ADMIN_TOKEN" if analyst else "the admin token; or SPII_ADMIN_TOKEN"
        raise ApiError(0, f"no token: give --token ({which}), or --data-dir / SPII_DATA_DIR pointing at the collector's "
                          f"data dir (there is no {settings.admin_token_path} here)") from None


def connect(server: str | None, token: str | None, settings: Settings, analyst: bool = False,
            headers: dict[str, str] | None = None) -> ApiClient:
    """A client of the running collector: ``--server``, else SPII_SERVER_URL, else the host and
    port this configuration serves on."""
    return ApiClient(server or settings.collector_url, find_token(token, settings, analyst), headers=headers)
