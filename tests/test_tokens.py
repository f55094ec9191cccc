"""Secret tokens (analyst tokens, share links, the admin token) are usable on a command line."""

import os

from collector import tenants
from collector.tenants import RegistryStore, new_secret_token


def test_a_token_never_starts_with_a_dash(monkeypatch):
    """One urlsafe-base64 token in 64 would start with '-', which `--token T` and
    `spii clients revoke NAME PREFIX` read as an option: such draws are made again."""
    draws = iter([b"\xf8" + bytes(31), b"\xfb" + bytes(31)])  # both encode to a leading '-'
    real = os.urandom
    monkeypatch.setattr(tenants.os, "urandom", lambda n: next(draws, None) or real(n))
    token = new_secret_token()
    assert not token.startswith("-") and len(token) == 43
    assert all(not new_secret_token().startswith("-") for _ in range(2000))


def test_issued_tokens_are_new_secret_tokens(tmp_path):
    store = RegistryStore(tmp_path / "clients.json")
    client, token = store.add("shop", ["shop.example"])
    assert len(token) == 43 and not token.startswith("-")
    assert client.tokens[0].prefix == token[: tenants.TOKEN_PREFIX_CHARS]
