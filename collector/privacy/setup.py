"""The master key and the keyring as the settings describe them: shared by `spii serve` and
the commands that edit keys, and light to import (no web server, no store)."""

from __future__ import annotations

from datetime import timedelta

from collector.config import Settings
from collector.privacy.keyring import KeyringStore
from collector.privacy.masterkey import MasterKey

__all__ = ["load_master_key", "keyring_store"]


def load_master_key(settings: Settings) -> MasterKey:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return MasterKey.load(
        settings.master_key.get_secret_value() if settings.master_key else None,
        settings.master_key_file,
        settings.dev_master_key_path,
    )


def keyring_store(settings: Settings, master: MasterKey) -> KeyringStore:
    return KeyringStore(
        settings.keyring_path,
        master,
        epoch_length=timedelta(hours=settings.key_epoch_hours),
        cookie_epoch_length=timedelta(days=settings.cookie_key_epoch_days),
    )
