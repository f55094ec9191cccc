"""The master key (key-encryption key, KEK): it wraps every epoch key in the keyring file and
keys the audit log's MAC chain. It never leaves memory and is never written next to the data,
except the development default, which is generated with mode 0600 and warned about on every
start."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from collector.errors import UserError
from collector.files import write_secret_file

log = logging.getLogger("spii.keys")

MASTER_KEY_BYTES = 32


class KeyringError(UserError):
    """A problem with the master key or keyring that an operator must fix. Messages name the
    cause and never contain key material."""


class MasterKey:
    def __init__(self, key: bytes) -> None:
        if len(key) != MASTER_KEY_BYTES:
            raise KeyringError(f"master key must be {MASTER_KEY_BYTES} bytes (base64 of 32 random bytes)")
        self._key = bytes(key)
        self._aead = AESGCM(self.derive(b"keyring-wrap", 32))

    def __repr__(self) -> str:  # never print the key
        return f"MasterKey(kek_id={self.kek_id})"

    @property
    def kek_id(self) -> str:
        """A public fingerprint: tells which master key a keyring was written with."""
        return hmac.new(self._key, b"spii/v1/kek-id", hashlib.sha256).hexdigest()[:16]

    def derive(self, purpose: bytes, length: int) -> bytes:
        return HKDF(hashes.SHA256(), length, salt=None, info=b"spii/v1/master/" + purpose).derive(self._key)

    def wrap(self, key_id: str, raw: bytes) -> str:
        """AES-256-GCM under a KEK subkey; the key id is authenticated data, so a wrapped key
        cannot be moved to another epoch's slot."""
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, raw, key_id.encode())).decode()

    def unwrap(self, key_id: str, wrapped: str) -> bytes:
        try:
            blob = base64.b64decode(wrapped, validate=True)
            return self._aead.decrypt(blob[:12], blob[12:], key_id.encode())
        except (InvalidTag, binascii.Error, ValueError):
            raise KeyringError(f"epoch key {key_id} cannot be unwrapped: wrong master key or damaged keyring") from None

    @classmethod
    def from_base64(cls, text: str, source: str) -> MasterKey:
        try:
            key = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise KeyringError(f"{source} is not valid base64") from None
        if len(key) != MASTER_KEY_BYTES:
            raise KeyringError(f"{source} must decode to {MASTER_KEY_BYTES} bytes, got {len(key)}")
        return cls(key)

    @classmethod
    def load(cls, master_key: str | None, master_key_file: Path | None, dev_path: Path) -> MasterKey:
        """From ``SPII_MASTER_KEY``, else ``SPII_MASTER_KEY_FILE``, else the development default
        file (created on first use)."""
        if master_key:
            return cls.from_base64(master_key, "SPII_MASTER_KEY")
        if master_key_file:
            try:
                text = Path(master_key_file).read_text()
            except OSError as exc:
                raise KeyringError(f"cannot read SPII_MASTER_KEY_FILE: {exc.strerror}") from None
            return cls.from_base64(text, "SPII_MASTER_KEY_FILE")
        if not dev_path.exists():
            write_secret_file(dev_path, base64.b64encode(os.urandom(MASTER_KEY_BYTES)) + b"\n")
        log.warning(
            "using the development master key file %s: set SPII_MASTER_KEY or SPII_MASTER_KEY_FILE "
            "from a secret store in production",
            dev_path,
        )
        return cls.from_base64(dev_path.read_text(), str(dev_path))
