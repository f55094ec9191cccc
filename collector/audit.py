"""Tamper-evident audit log of admin actions (key rotation and destruction, subject requests,
disclosures).

Each line is a JSON object carrying ``prev`` (the MAC of the line before) and ``mac``
(HMAC-SHA256 of the line's own content, keyed from the master key). Editing a line breaks its
MAC; deleting or reordering lines breaks the chain; forging a line needs the master key.
`spii audit verify` checks all of it. Lines never contain key material, IP addresses, cookie ids
or tokens in clear: callers pass keyed hashes (:meth:`AuditLog.fingerprint`).
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collector.files import locked
from collector.privacy.masterkey import MasterKey

GENESIS = "0" * 64


def _canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid{os.getuid()}"


@dataclass
class VerifyResult:
    ok: bool
    lines: int
    problem: str = ""
    line_no: int = 0


class AuditLog:
    def __init__(self, path: Path, master: MasterKey) -> None:
        self.path = path
        self._key = master.derive(b"audit-log", 32)
        self._fp_key = master.derive(b"audit-fingerprint", 32)

    def fingerprint(self, value: str) -> str:
        """A keyed hash to name a subject (IP, cookie id, token) in the log without revealing it."""
        return hmac.new(self._fp_key, value.encode(), hashlib.sha256).hexdigest()[:32]

    def _mac(self, entry: dict[str, Any]) -> str:
        return hmac.new(self._key, _canonical(entry), hashlib.sha256).hexdigest()

    def _last_mac(self) -> str:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - 65536))
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return GENESIS
        for line in reversed(lines):
            if line.strip():
                return json.loads(line)["mac"]
        return GENESIS

    def append(self, action: str, actor: str | None = None, **details: Any) -> dict[str, Any]:
        with locked(self.path):
            entry = {
                "ts": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "actor": actor or default_actor(),
                "action": action,
                "details": details,
                "prev": self._last_mac(),
            }
            entry["mac"] = self._mac(entry)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, _canonical(entry) + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
        return entry

    def verify(self) -> VerifyResult:
        prev, count = GENESIS, 0
        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:
            return VerifyResult(True, 0)
        with handle:
            for line_no, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                count += 1
                try:
                    entry = json.loads(line)
                    mac = entry.pop("mac")
                except (ValueError, KeyError, AttributeError):
                    return VerifyResult(False, count, "not a valid audit entry", line_no)
                if entry.get("prev") != prev:
                    return VerifyResult(False, count, "chain broken (a line was removed, reordered or edited)", line_no)
                if not hmac.compare_digest(self._mac(entry), str(mac)):
                    return VerifyResult(False, count, "MAC mismatch (the line was edited)", line_no)
                prev = mac
        return VerifyResult(True, count)
