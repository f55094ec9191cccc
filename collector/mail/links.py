"""Per-recipient unsubscribe links that work without a login and cannot unsubscribe anyone else:
the link names the client and a digest of the address (never the address), with an HMAC under a
key derived from the master key. Only the collector can make one, and changing any part of it
breaks the MAC."""

from __future__ import annotations

import hashlib
import hmac
import re

__all__ = ["Signer", "mask"]

_TOKEN = re.compile(r"^([A-Za-z0-9_-]{1,64})\.([0-9a-f]{16})\.([0-9a-f]{32})$")


class Signer:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def recipient_id(self, client_id: str, address: str) -> str:
        """A stable digest of a recipient of a client: what the ledger and the link hold."""
        return hmac.new(self._key, f"recipient/{client_id}/{address.lower()}".encode(), hashlib.sha256).hexdigest()[:16]

    def _mac(self, client_id: str, recipient: str) -> str:
        return hmac.new(self._key, f"unsubscribe/{client_id}/{recipient}".encode(), hashlib.sha256).hexdigest()[:32]

    def unsubscribe_token(self, client_id: str, address: str) -> str:
        recipient = self.recipient_id(client_id, address)
        return f"{client_id}.{recipient}.{self._mac(client_id, recipient)}"

    def verify(self, token: str) -> tuple[str, str] | None:
        """(client id, recipient id) of a token this collector signed; None for any other."""
        match = _TOKEN.match(token)
        if match is None or not hmac.compare_digest(self._mac(match[1], match[2]), match[3]):
            return None
        return match[1], match[2]


def mask(address: str) -> str:
    """An address as a page may show it to whoever holds the link: j***@example.com."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"
