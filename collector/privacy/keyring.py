"""The rotating keyring: a list of epochs, each with its own random key, stored only wrapped
under the master key.

Two series of epochs:

* ``ip``: short epochs (default one UTC day). Their keys encrypt IP addresses (ipcrypt-
  deterministic) and key the cookieless visitor id. Destroying an epoch key makes every token
  of that epoch irreversible: that is the retention mechanism for the SPII.
* ``cookie``: long epochs (default 90 days). Their keys hash consented first-party cookie ids, so
  a returning visitor keeps one id across days; they are rotated and destroyed the same way.

Every use of an epoch key goes through a per-client subkey, HKDF-SHA256(epoch key, info =
purpose + client id): one IP gives unrelated tokens for two clients or two epochs.

Rotation follows Tink's order: future epochs are added ahead of time (and distributed with the
file to every collector node), they become active by the clock, old ones stay for decryption
until destroyed. An epoch's state is derived from the clock (pending / active / retired) except
``destroyed``, which is a tombstone: id and dates, no key material.

The file is JSON, written atomically under a file lock; a running collector reloads it when it
changes (:class:`LiveKeyring`).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from collector.files import ReloadingFile, atomic_write, locked
from collector.privacy import ipcrypt
from collector.privacy.masterkey import KeyringError, MasterKey

log = logging.getLogger("spii.keys")

FORMAT = "spii-keyring/1"
IP, COOKIE = "ip", "cookie"
PURPOSES = (IP, COOKIE)
EPOCH_KEY_BYTES = 32


class NoCurrentKey(KeyringError):
    """No epoch key covers the requested time: the collector must refuse to store (503)."""


class KeyDestroyed(KeyringError):
    """The epoch's key was destroyed: its tokens are irreversible now."""


class UnknownKey(KeyringError):
    """No such key id in the keyring."""


def _utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)


def _iso(ts: datetime) -> str:
    return _utc(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> datetime:
    """A keyring time ("2026-12-02T00:00:00Z"). fromisoformat, not strptime: a keyring holds
    three or four times per epoch and is read at every change, on the event loop too; with
    strptime a year of epochs took 20 ms to read, now 3.6 ms."""
    if not text.endswith("Z"):
        raise ValueError(f"not a UTC time: {text!r}")
    return datetime.fromisoformat(text)


def align(ts: datetime, length: timedelta) -> datetime:
    """Start of the UTC-aligned epoch of ``length`` that contains ``ts``."""
    seconds = int(length.total_seconds())
    unix = int(_utc(ts).timestamp())
    return datetime.fromtimestamp(unix - unix % seconds, UTC)


def make_key_id(purpose: str, start: datetime, length: timedelta) -> str:
    """Readable, sortable ids: ``2026-11-22`` for day-aligned ip epochs, ``2026-11-22T06`` for
    shorter ones; cookie epochs are prefixed ``cookie-``."""
    whole_days = length.total_seconds() % 86400 == 0 and start.hour == 0
    stamp = start.strftime("%Y-%m-%d" if whole_days else "%Y-%m-%dT%H")
    return stamp if purpose == IP else f"{purpose}-{stamp}"


@dataclass(frozen=True)
class Epoch:
    key_id: str
    purpose: str
    start: datetime
    end: datetime
    created_at: datetime
    wrapped: str | None = field(repr=False)  # None once destroyed
    destroyed_at: datetime | None = None

    @property
    def destroyed(self) -> bool:
        return self.wrapped is None

    def state(self, now: datetime) -> str:
        if self.destroyed:
            return "destroyed"
        if now < self.start:
            return "pending"
        if now < self.end:
            return "active"
        return "retired"

    def covers(self, ts: datetime) -> bool:
        return self.start <= ts < self.end

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key_id": self.key_id,
            "purpose": self.purpose,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "created_at": _iso(self.created_at),
        }
        if self.destroyed:
            out["destroyed_at"] = _iso(self.destroyed_at or self.end)
        else:
            out["wrapped_key"] = self.wrapped
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Epoch:
        return cls(
            key_id=data["key_id"],
            purpose=data["purpose"],
            start=_parse_iso(data["start"]),
            end=_parse_iso(data["end"]),
            created_at=_parse_iso(data["created_at"]),
            wrapped=data.get("wrapped_key"),
            destroyed_at=_parse_iso(data["destroyed_at"]) if data.get("destroyed_at") else None,
        )


class Pseudonyms:
    """What the ingest pipeline stores instead of an IP address. (A plain class: compiled, its
    ``__init__`` is native where a dataclass's stays Python; one is made per event.)"""

    __slots__ = ("key_id", "ip_token", "visitor_id")

    def __init__(self, key_id: str, ip_token: str, visitor_id: int) -> None:
        self.key_id = key_id
        self.ip_token = ip_token  # ipcrypt-deterministic output, an IPv6 address string
        self.visitor_id = visitor_id  # 64-bit keyed hash of (IP, coarse UA)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pseudonyms) and (self.key_id, self.ip_token, self.visitor_id) == (other.key_id, other.ip_token, other.visitor_id)

    def __hash__(self) -> int:
        return hash((self.key_id, self.ip_token, self.visitor_id))

    def __repr__(self) -> str:
        return f"Pseudonyms(key_id={self.key_id!r})"


@dataclass
class _Subkeys:
    ip_key: bytes = field(repr=False)
    visitor_hash: Any = field(repr=False)  # a keyed blake2b object; .copy() is cheaper than keying a new one


def _hkdf(epoch_key: bytes, purpose: str, client_id: str, length: int) -> bytes:
    info = f"spii/v1/{purpose}/{client_id}".encode()
    return HKDF(hashes.SHA256(), length, salt=None, info=info).derive(epoch_key)


class Keyring:
    """An immutable snapshot of the keyring file, with lazily unwrapped keys and cached
    per-client subkeys. Reloading builds a new snapshot, so a destroyed key's cached material
    goes away with the old one."""

    def __init__(self, epochs: Iterable[Epoch], master: MasterKey) -> None:
        self.master = master
        self.epochs: dict[str, list[Epoch]] = {p: [] for p in PURPOSES}
        for epoch in sorted(epochs, key=lambda e: e.start):
            self.epochs.setdefault(epoch.purpose, []).append(epoch)
        self._starts = {p: [e.start for e in es] for p, es in self.epochs.items()}
        self.by_id = {e.key_id: e for es in self.epochs.values() for e in es}
        self._raw: dict[str, bytes] = {}
        self._subkeys: dict[tuple[str, str], _Subkeys] = {}
        self._cookie_keys: dict[tuple[str, str], bytes] = {}
        self._order_keys: dict[str, bytes] = {}
        self._last_usable: dict[str, Epoch] = {}  # a Keyring is immutable: destroying a key builds a new one
        self._lock = threading.Lock()

    # --- lookups
    def epoch_at(self, ts: datetime, purpose: str = IP) -> Epoch | None:
        series = self.epochs.get(purpose, [])
        i = bisect.bisect_right(self._starts[purpose], ts) - 1
        if i >= 0 and series[i].covers(ts):
            return series[i]
        return None

    def key_id_at(self, ts: datetime) -> str | None:
        epoch = self.epoch_at(ts)
        return epoch.key_id if epoch and not epoch.destroyed else None

    def _epoch_key(self, epoch: Epoch) -> bytes:
        raw = self._raw.get(epoch.key_id)
        if raw is None:
            if epoch.destroyed:
                raise KeyDestroyed(f"key {epoch.key_id} was destroyed; its tokens are irreversible")
            raw = self.master.unwrap(epoch.key_id, epoch.wrapped or "")
            self._raw[epoch.key_id] = raw
        return raw

    def _usable(self, ts: datetime, purpose: str) -> Epoch:
        last = self._last_usable.get(purpose)
        if last is not None and last.start <= ts < last.end:  # the hot path: same epoch as the previous event
            return last
        epoch = self.epoch_at(ts, purpose)
        if epoch is None or epoch.destroyed:
            raise NoCurrentKey(f"no {purpose} key for {_iso(ts)}: run `spii keys rotate`")
        self._last_usable[purpose] = epoch
        return epoch

    def _client_subkeys(self, epoch: Epoch, client_id: str) -> _Subkeys:
        cache_key = (epoch.key_id, client_id)
        sub = self._subkeys.get(cache_key)
        if sub is None:
            with self._lock:
                raw = self._epoch_key(epoch)
                visitor_key = _hkdf(raw, "visitor-id", client_id, 32)
                sub = _Subkeys(
                    ip_key=_hkdf(raw, "ip-token", client_id, 16),
                    visitor_hash=hashlib.blake2b(key=visitor_key, digest_size=8),
                )
                self._subkeys[cache_key] = sub
        return sub

    # --- the hot path
    def pseudonymise(self, client_id: str, ip_packed: bytes, ua_key: str, ts: datetime) -> Pseudonyms:
        """Token, key id and cookieless visitor id for one request. ``ip_packed`` is the 16-byte
        address (see :func:`ipcrypt.ip_to_bytes`); ``ua_key`` the coarse user agent."""
        epoch = self._usable(ts, IP)
        sub = self._client_subkeys(epoch, client_id)
        token = ipcrypt.bytes_to_ip(ipcrypt.encrypt_deterministic_bytes(ip_packed, sub.ip_key))
        hasher = sub.visitor_hash.copy()
        hasher.update(ip_packed + ua_key.encode())
        return Pseudonyms(epoch.key_id, token, int.from_bytes(hasher.digest(), "big"))

    def ip_token(self, client_id: str, ip: str, ts: datetime) -> tuple[str, str]:
        """(key_id, token) for one address at one time."""
        epoch = self._usable(ts, IP)
        return epoch.key_id, ipcrypt.encrypt_deterministic(ip, self._client_subkeys(epoch, client_id).ip_key)

    def cookie_hash(self, client_id: str, cookie_id: str, ts: datetime) -> int:
        """A consented cookie id, as a 64-bit keyed hash under the cookie-series key."""
        return self._cookie_hash(self._usable(ts, COOKIE), client_id, cookie_id)

    def _cookie_hash(self, epoch: Epoch, client_id: str, cookie_id: str) -> int:
        cache_key = (epoch.key_id, client_id)
        key = self._cookie_keys.get(cache_key)
        if key is None:
            with self._lock:
                key = self._cookie_keys[cache_key] = _hkdf(self._epoch_key(epoch), "cookie-hash", client_id, 32)
        digest = hashlib.blake2b(cookie_id.encode(), key=key, digest_size=8).digest()
        return int.from_bytes(digest, "big")

    def order_ref(self, client_id: str, order_id: str) -> str:
        """A client's order id as a keyed hash: links a transaction to its later fulfilment
        (weeks apart, so keyed from the master key rather than a daily epoch key)."""
        key = self._order_keys.get(client_id)
        if key is None:
            key = self._order_keys[client_id] = self.master.derive(f"order-id/{client_id}".encode(), 32)
        return hashlib.blake2b(order_id.encode(), key=key, digest_size=12).hexdigest()

    # --- subject requests and disclosure
    def decrypt_ip(self, client_id: str, token: str, key_id: str) -> str:
        epoch = self.by_id.get(key_id)
        if epoch is None or epoch.purpose != IP:
            raise UnknownKey(f"no ip key with id {key_id}")
        return ipcrypt.decrypt_deterministic(token, self._client_subkeys(epoch, client_id).ip_key)

    def subject_ip_tokens(
        self, client_id: str, ip: str, start: datetime, end: datetime
    ) -> tuple[list[tuple[str, str]], list[str]]:
        """Tokens of one address in every ip epoch overlapping [start, end): ([(key_id,
        token)], [key ids that could not be searched because destroyed])."""
        found, destroyed = [], []
        for epoch in self.epochs[IP]:
            if epoch.end <= start or epoch.start >= end:
                continue
            if epoch.destroyed:
                destroyed.append(epoch.key_id)
            else:
                found.append((epoch.key_id, ipcrypt.encrypt_deterministic(ip, self._client_subkeys(epoch, client_id).ip_key)))
        return found, destroyed

    def subject_cookie_hashes(
        self, client_id: str, cookie_id: str, start: datetime, end: datetime
    ) -> tuple[list[tuple[str, int]], list[str]]:
        found, destroyed = [], []
        for epoch in self.epochs[COOKIE]:
            if epoch.end <= start or epoch.start >= end:
                continue
            if epoch.destroyed:
                destroyed.append(epoch.key_id)
            else:
                found.append((epoch.key_id, self._cookie_hash(epoch, client_id, cookie_id)))
        return found, destroyed

    # --- status
    def status(self, now: datetime, min_ahead: int = 2) -> dict[str, Any]:
        """Summary per key series. The ip series wants ``min_ahead`` future epochs; the cookie
        series (epochs of months) wants one."""
        out: dict[str, Any] = {"now": _iso(now), "ok": True, "warnings": []}
        for purpose, want_ahead in ((IP, min_ahead), (COOKIE, min(min_ahead, 1))):
            series = self.epochs[purpose]
            states = [e.state(now) for e in series]
            active = next((e for e in series if e.state(now) == "active"), None)
            pending = [e for e in series if e.state(now) == "pending"]
            out[purpose] = {
                "active": active.key_id if active else None,
                "active_until": _iso(active.end) if active else None,
                "pending": len(pending),
                "covered_until": _iso(max((e.end for e in series if not e.destroyed), default=now)),
                "retired": states.count("retired"),
                "destroyed": states.count("destroyed"),
                "oldest_live": next((e.key_id for e in series if not e.destroyed), None),
                "first_start": _iso(series[0].start) if series else None,
            }
            if active is None:
                out["ok"] = False
                out["warnings"].append(f"no active {purpose} key: events cannot be stored")
            elif len(pending) < want_ahead:
                out["ok"] = False
                out["warnings"].append(
                    f"only {len(pending)} future {purpose} epoch(s) ahead (want >= {want_ahead}): run `spii keys rotate`"
                )
        return out


@dataclass
class KeyringStore:
    """The keyring file and the operations that edit it (each under the file lock)."""

    path: Path
    master: MasterKey
    epoch_length: timedelta = timedelta(days=1)
    cookie_epoch_length: timedelta = timedelta(days=90)
    _lengths: dict[str, timedelta] = field(init=False)

    def __post_init__(self) -> None:
        self._lengths = {IP: self.epoch_length, COOKIE: self.cookie_epoch_length}

    # --- reading
    def _read_epochs(self) -> list[Epoch]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        try:
            data = json.loads(raw)
            if data.get("format") != FORMAT:
                raise KeyringError(f"{self.path} is not a {FORMAT} file")
            kek_id = data.get("kek_id")
            epochs = [Epoch.from_json(e) for e in data.get("epochs", [])]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise KeyringError(f"{self.path} is damaged (not valid keyring JSON)") from None
        if kek_id != self.master.kek_id:
            raise KeyringError(
                f"the master key does not match the keyring {self.path} "
                f"(keyring written with kek_id {kek_id}, this master key is {self.master.kek_id}); nothing was changed"
            )
        return epochs

    def load(self) -> Keyring:
        return Keyring(self._read_epochs(), self.master)

    def _write(self, epochs: list[Epoch]) -> None:
        data = {
            "format": FORMAT,
            "kek_id": self.master.kek_id,
            "epochs": [e.to_json() for e in sorted(epochs, key=lambda e: (e.purpose, e.start))],
        }
        atomic_write(self.path, json.dumps(data, indent=1).encode() + b"\n")

    # --- editing
    def rotate(self, ahead: int, now: datetime | None = None, cookie_ahead: int = 1) -> list[Epoch]:
        """Make sure the current epoch and ``ahead`` future epochs exist (``cookie_ahead`` for
        the cookie series). Returns the epochs added."""
        now = _utc(now or datetime.now(UTC))
        with locked(self.path):
            epochs = self._read_epochs()
            added = []
            for purpose, count in ((IP, ahead), (COOKIE, cookie_ahead)):
                added += self._extend(purpose, [e for e in epochs if e.purpose == purpose], count, now)
            if added:
                self._write(epochs + added)
        return added

    def _extend(self, purpose: str, series: list[Epoch], ahead: int, now: datetime) -> list[Epoch]:
        length = self._lengths[purpose]
        current = align(now, length)
        target_end = current + length * (ahead + 1)
        last_end = max((e.end for e in series), default=None)
        cursor = last_end if last_end and last_end > now else current
        added = []
        while cursor < target_end:
            key_id = make_key_id(purpose, cursor, length)
            if any(e.key_id == key_id for e in series):  # config changed under us: do not clash
                cursor += length
                continue
            wrapped = self.master.wrap(key_id, os.urandom(EPOCH_KEY_BYTES))
            added.append(Epoch(key_id, purpose, cursor, cursor + length, now, wrapped))
            cursor += length
        return added

    def backfill(self, ts: datetime) -> bool:
        """Make the IP epoch that covers ``ts`` when none does (an import of older log lines),
        aligned as every epoch is; never in place of one that exists, destroyed or not, nor
        overlapping one (an epoch length changed since). Whether a usable key covers ``ts`` now."""
        ts = _utc(ts)
        length = self._lengths[IP]
        start = align(ts, length)
        with locked(self.path):
            epochs = self._read_epochs()
            series = [e for e in epochs if e.purpose == IP]
            covering = next((e for e in series if e.covers(ts)), None)
            if covering is not None:
                return not covering.destroyed
            if any(e.start < start + length and start < e.end for e in series):
                return False
            key_id = make_key_id(IP, start, length)
            now = datetime.now(UTC)
            self._write(epochs + [Epoch(key_id, IP, start, start + length, now, self.master.wrap(key_id, os.urandom(EPOCH_KEY_BYTES)))])
        return True

    def destroy(self, before: date, now: datetime | None = None, purpose: str = IP) -> tuple[list[Epoch], list[Epoch]]:
        """Shred the keys of ``purpose`` epochs that ended on or before ``before`` (00:00 UTC).
        Epochs still active or pending are never destroyed (events could not be stored);
        they are returned as skipped. Returns (destroyed, skipped)."""
        now = _utc(now or datetime.now(UTC))
        cutoff = datetime(before.year, before.month, before.day, tzinfo=UTC)
        with locked(self.path):
            epochs = self._read_epochs()
            destroyed, skipped, result = [], [], []
            for epoch in epochs:
                if epoch.purpose == purpose and not epoch.destroyed and epoch.end <= cutoff:
                    if epoch.end <= now:
                        epoch = replace(epoch, wrapped=None, destroyed_at=now)
                        destroyed.append(epoch)
                    else:
                        skipped.append(epoch)
                elif epoch.purpose == purpose and not epoch.destroyed and epoch.start < cutoff < epoch.end:
                    skipped.append(epoch)
                result.append(epoch)
            if destroyed:
                self._write(result)
        return destroyed, skipped


class LiveKeyring(ReloadingFile[Keyring]):
    """The keyring as a running collector sees it: a new snapshot whenever the file changes."""

    def __init__(self, store: KeyringStore, interval: float = 1.0) -> None:
        # cipher contexts cached by ipcrypt hold subkeys of the old snapshot: drop them with it
        super().__init__(store.path, store.load, interval, what="keyring", on_change=ipcrypt.forget_keys)
        self.store = store
