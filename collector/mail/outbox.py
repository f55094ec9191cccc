"""Delivery: SMTP (TLS, or STARTTLS, with authentication) through the standard library's smtplib,
in the caller's thread (never the event loop's), retried with backoff; or, without a mail server
configured, each message written as an .eml file an operator can open."""

from __future__ import annotations

import hashlib
import smtplib
import ssl
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from collector.errors import UserError
from collector.files import atomic_write

__all__ = ["DeliveryError", "Outbox", "SmtpOutbox", "FileOutbox", "open_outbox"]

SCHEMES = {"smtp": (587, "auto"), "smtp+starttls": (587, "required"), "smtps": (465, "tls")}


class DeliveryError(Exception):
    """A message the outbox could not hand over; ``reason`` names the failure, never an address."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Outbox(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class SmtpOutbox:
    """``smtp://user:password@host:port`` (STARTTLS when the server offers it), ``smtp+starttls://``
    (STARTTLS or nothing is sent), ``smtps://`` (TLS from the first byte)."""

    def __init__(self, url: str, ca_cert: Path | None = None, timeout: float = 30, attempts: int = 3, backoff: float = 1.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise UserError(f"SPII_SMTP_URL: expected {', '.join(s + '://host[:port]' for s in SCHEMES)}")
        default_port, self.tls = SCHEMES[parts.scheme]
        self.host, self.port = parts.hostname, parts.port or default_port
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.context = ssl.create_default_context(cafile=str(ca_cert) if ca_cert else None)
        self.timeout, self.attempts, self.backoff = timeout, attempts, backoff

    def __repr__(self) -> str:  # never the password
        return f"SmtpOutbox({self.host}:{self.port}, tls={self.tls})"

    def send(self, message: EmailMessage) -> None:
        for attempt in range(self.attempts):
            try:
                return self._send_once(message)
            except smtplib.SMTPRecipientsRefused:
                raise DeliveryError("recipient refused") from None
            except (smtplib.SMTPException, OSError) as exc:
                if isinstance(exc, smtplib.SMTPAuthenticationError) or attempt == self.attempts - 1:
                    raise DeliveryError(type(exc).__name__) from None
                time.sleep(self.backoff * 2 ** attempt)

    def _send_once(self, message: EmailMessage) -> None:
        if self.tls == "tls":
            server: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.context)
        else:
            server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with server:
            server.ehlo()
            if self.tls != "tls" and (server.has_extn("starttls") or self.tls == "required"):
                server.starttls(context=self.context)
                server.ehlo()
            if self.user is not None:
                server.login(self.user, self.password or "")
            server.send_message(message)


class FileOutbox:
    """Each message as ``<folder>/<date>-<digest>.eml`` (mode 0600: it holds an address)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __repr__(self) -> str:
        return f"FileOutbox({self.folder})"

    def send(self, message: EmailMessage) -> None:
        data = bytes(message)
        name = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{hashlib.sha256(data).hexdigest()[:12]}.eml"
        try:
            atomic_write(self.folder / name, data)
        except OSError as exc:
            raise DeliveryError(type(exc).__name__) from None


def open_outbox(smtp_url: str | None, ca_cert: Path | None, folder: Path) -> Outbox:
    return SmtpOutbox(smtp_url, ca_cert) if smtp_url else FileOutbox(folder)
