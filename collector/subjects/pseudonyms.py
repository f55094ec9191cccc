"""A data subject, named by what they can tell us (an IP address or a consented cookie id), turned
into the pseudonyms the table holds: one ip token per IP-key epoch, one hash per cookie epoch.

Only epochs whose keys still exist can be searched; the others are listed, because their rows
are anonymous now: nobody, spii included, can tell whose they are.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from collector.field_error import FieldError
from collector.privacy.keyring import COOKIE, IP, Keyring

__all__ = ["Subject", "SubjectPseudonyms", "resolve", "InvalidSubject"]


class InvalidSubject(FieldError):
    """The selector is unusable; ``field`` names it. The message never echoes the value."""


@dataclass(frozen=True)
class Subject:
    """Exactly one of ``ip`` / ``cookie_id``. Raw values: memory only, for one request."""

    client_id: str
    ip: str | None = field(default=None, repr=False)
    cookie_id: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if (self.ip is None) == (self.cookie_id is None):
            raise InvalidSubject("ip", "give exactly one of ip or cookie_id")
        if self.ip is not None:
            try:
                object.__setattr__(self, "ip", str(ipaddress.ip_address(self.ip.strip())))
            except ValueError:
                raise InvalidSubject("ip", "not an IPv4 or IPv6 address") from None
        elif not 8 <= len(self.cookie_id or "") <= 64:
            raise InvalidSubject("cookie_id", "8 to 64 characters")

    @property
    def kind(self) -> str:
        return IP if self.ip is not None else COOKIE

    @property
    def value(self) -> str:
        return self.ip if self.ip is not None else self.cookie_id or ""


@dataclass
class SubjectPseudonyms:
    client_id: str
    tokens: list[tuple[str, str]] = field(default_factory=list, repr=False)  # (key_id, ip_token)
    cookie_hashes: list[tuple[str, int]] = field(default_factory=list, repr=False)  # (key_id, hash)
    unsearchable: list[str] = field(default_factory=list)  # epochs whose keys are destroyed

    @property
    def searched(self) -> list[str]:
        return [k for k, _ in self.tokens] + [k for k, _ in self.cookie_hashes]

    def where(self, params: dict[str, Any]) -> str:
        """SQL condition matching the subject's rows (values bound into ``params``); matches
        nothing when no epoch could be searched."""
        params["subject_client"] = self.client_id
        terms = []
        for n, (key_id, token) in enumerate(self.tokens):
            params[f"k{n}"], params[f"t{n}"] = key_id, token
            terms.append(f"(key_id = {{k{n}:String}} AND ip_token = {{t{n}:IPv6}})")
        if self.cookie_hashes:
            params["cookies"] = [h for _, h in self.cookie_hashes]
            terms.append("cookie_hash IN {cookies:Array(UInt64)}")
        return f"client_id = {{subject_client:String}} AND ({' OR '.join(terms) or '0'})"


def resolve(keyring: Keyring, subject: Subject, start: datetime, end: datetime) -> SubjectPseudonyms:
    """The subject's pseudonyms in every epoch overlapping [start, end)."""
    out = SubjectPseudonyms(subject.client_id)
    if subject.ip is not None:
        out.tokens, out.unsearchable = keyring.subject_ip_tokens(subject.client_id, subject.ip, start, end)
    else:
        out.cookie_hashes, out.unsearchable = keyring.subject_cookie_hashes(subject.client_id, subject.value, start, end)
    return out
