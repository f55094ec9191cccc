"""Dashboard sessions: a signed ticket that names a client and its token (by hash), expires, ends
on logout, and dies with its token; forged or foreign tickets are refused."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from collector.http.auth import Auth, Denied
from collector.tenants import Client, Registry, TokenRecord, hash_token

TOKEN, OTHER = "t" * 43, "o" * 43


def _registry(*tokens: str) -> Registry:
    records = [TokenRecord(prefix=t[:8], sha256=hash_token(t), created_at="2026-01-01T00:00:00Z") for t in tokens]
    return Registry([Client(client_id="c_aaaaaaaaaaaa", name="a", domains=["a.example"], tokens=records),
                     Client(client_id="c_bbbbbbbbbbbb", name="b", domains=["b.example"])])


def _status(call) -> int:
    with pytest.raises(Denied) as refused:
        call()
    return refused.value.response.status


def test_a_ticket_opens_its_clients_dashboard_only_and_never_carries_the_token():
    auth = Auth("admin-token", 100, 100, session_key=b"k" * 32)
    registry = _registry(TOKEN)
    client = registry.by_id["c_aaaaaaaaaaaa"]
    ticket = auth.new_session(client, TOKEN, 3600)
    assert TOKEN not in ticket
    assert auth.client_for_session(ticket, client.client_id, registry) is client
    assert _status(lambda: auth.client_for_session(ticket, "c_bbbbbbbbbbbb", registry)) == 403
    assert _status(lambda: auth.client_for_session(ticket[:-1] + ("0" if ticket[-1] != "0" else "1"), client.client_id, registry)) == 401
    assert _status(lambda: auth.client_for_session(TOKEN, client.client_id, registry)) == 401  # the token itself is no ticket
    other_node = Auth("admin-token", 100, 100, session_key=b"k" * 32)  # same master key: another worker or node accepts it
    assert other_node.client_for_session(ticket, client.client_id, registry) is client
    assert _status(lambda: Auth("admin-token", 100, 100, session_key=b"x" * 32).client_for_session(ticket, client.client_id, registry)) == 401


def test_logout_revocation_and_expiry_end_a_session():
    auth = Auth("admin-token", 100, 100, session_key=b"k" * 32)
    registry = _registry(TOKEN, OTHER)
    client = registry.by_id["c_aaaaaaaaaaaa"]
    ended = auth.new_session(client, TOKEN, 3600)
    auth.end_session(ended)
    assert _status(lambda: auth.client_for_session(ended, client.client_id, registry)) == 401
    revoked = auth.new_session(client, OTHER, 3600)
    assert _status(lambda: auth.client_for_session(revoked, client.client_id, _registry(TOKEN))) == 401
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        expiring = auth.new_session(client, TOKEN, 3600)
        clock.move_to(datetime.now(UTC) + timedelta(hours=2))
        assert _status(lambda: auth.client_for_session(expiring, client.client_id, registry)) == 401
