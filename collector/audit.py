"""Tamper-evident audit log of admin actions (key rotation and destruction, subject requests,
disclosures).

Each line is a JSON object carrying ``seq`` (its number, from 1), ``prev`` (the MAC of the line
before) and ``mac`` (HMAC-SHA256 of the line's own content, keyed from the master key). Editing
a line breaks its MAC; deleting or reordering lines breaks the chain; forging a line needs the
master key. A cut tail leaves a valid chain, so the last sequence number and MAC are also
anchored outside the log (``<log>.anchor``, written atomically after each entry, MACed too): a
log that ends before its anchor was truncated. `spii audit verify` checks all of it. Lines never contain key material, IP addresses, cookie ids
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

from collector.files import atomic_write, locked
from collector.privacy.masterkey import MasterKey

GENESIS = "0" * 64
ANCHOR_FORMAT = "spii-audit-anchor/1"


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

    @property
    def anchor_path(self) -> Path:
        return self.path.with_name(self.path.name + ".anchor")

    def _tail(self) -> tuple[int, str]:
        """(sequence number, MAC) of the last entry; (0, GENESIS) for an empty log."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - 65536))
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return 0, GENESIS
        for line in reversed(lines):
            if line.strip():
                last = json.loads(line)
                return int(last.get("seq") or self._count_entries()), last["mac"]
        return 0, GENESIS

    def _count_entries(self) -> int:
        """Entries of a log written before lines carried ``seq``."""
        with open(self.path, "rb") as handle:
            return sum(1 for line in handle if line.strip())

    def _anchor_mac(self, seq: int, mac: str) -> str:
        return hmac.new(self._key, f"{ANCHOR_FORMAT}|{seq}|{mac}".encode(), hashlib.sha256).hexdigest()

    def _write_anchor(self, seq: int, mac: str) -> None:
        anchor = {"format": ANCHOR_FORMAT, "seq": seq, "mac": mac, "anchor_mac": self._anchor_mac(seq, mac)}
        atomic_write(self.anchor_path, json.dumps(anchor).encode() + b"\n")

    def _read_anchor(self) -> tuple[int, str] | str | None:
        """(seq, mac) of the anchor, None when there is none, or what is wrong with it."""
        try:
            anchor = json.loads(self.anchor_path.read_bytes())
            seq, mac = int(anchor["seq"]), str(anchor["mac"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return "the anchor file is damaged"
        if anchor.get("format") != ANCHOR_FORMAT or not hmac.compare_digest(self._anchor_mac(seq, mac), str(anchor.get("anchor_mac"))):
            return "the anchor's MAC does not match (edited, or written under another master key)"
        return seq, mac

    def append(self, action: str, actor: str | None = None, **details: Any) -> dict[str, Any]:
        with locked(self.path):
            seq, prev = self._tail()
            entry = {
                "seq": seq + 1,
                "ts": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "actor": actor or default_actor(),
                "action": action,
                "details": details,
                "prev": prev,
            }
            entry["mac"] = self._mac(entry)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, _canonical(entry) + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            # (a crash before this leaves the anchor one entry behind: a log *longer* than its
            # anchor is fine, a shorter one is not)
            self._write_anchor(entry["seq"], entry["mac"])
        return entry

    def verify(self) -> VerifyResult:
        prev, count, line_no = GENESIS, 0, 0
        macs: dict[int, str] = {}
        anchor = self._read_anchor()
        if isinstance(anchor, str):
            return VerifyResult(False, 0, anchor)
        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:
            handle = None
        if handle is not None:
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
                    if entry.get("prev") != prev or entry.get("seq", count) != count:
                        return VerifyResult(False, count, "chain broken (a line was removed, reordered or edited)", line_no)
                    if not hmac.compare_digest(self._mac(entry), str(mac)):
                        return VerifyResult(False, count, "MAC mismatch (the line was edited)", line_no)
                    prev = macs[count] = mac
        if anchor is None:
            if any("seq" in json.loads(line) for line in self._last_lines(1)):
                return VerifyResult(False, count, "the anchor file is missing (deleted with a cut tail?)", line_no)
            return VerifyResult(True, count)
        anchored_seq, anchored_mac = anchor
        if count < anchored_seq:
            return VerifyResult(False, count, f"the log was truncated: it ends at entry {count}, its anchor records {anchored_seq}", line_no)
        if macs.get(anchored_seq) != anchored_mac:
            return VerifyResult(False, count, f"entry {anchored_seq} is not the one its anchor records (the log was rewritten)", line_no)
        return VerifyResult(True, count)

    def _last_lines(self, n: int) -> list[bytes]:
        try:
            return [line for line in self.path.read_bytes().splitlines() if line.strip()][-n:]
        except FileNotFoundError:
            return []
