"""The second retention clock: epoch keys are destroyed once every row they could re-identify
has passed its TTL, so stored tokens become irreversible on schedule.

Clock 1 (ClickHouse): a row is deleted at ``ts + retention_days`` of its client.
Clock 2 (here): an epoch's key is destroyed at ``epoch end + longest retention + grace``: by
then clock 1 has removed every row that carries one of its tokens, and the grace covers TTL
merges that run late and backfilled history.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from collector.audit import AuditLog
from collector.privacy.keyring import COOKIE, IP, Keyring, KeyringStore
from collector.tenants import Registry

__all__ = ["DEFAULT_RETENTION_DAYS", "longest_retention", "destroy_before", "next_destruction", "prune"]

DEFAULT_RETENTION_DAYS = 395  # a client's default (tenants.Client.retention_days)


def longest_retention(registry: Registry) -> int:
    return max((c.retention_days for c in registry.clients), default=DEFAULT_RETENTION_DAYS)


def destroy_before(now: datetime, retention_days: int, grace_days: int) -> date:
    """Epochs that ended before this date (00:00 UTC) may be destroyed now."""
    return (now - timedelta(days=retention_days + grace_days)).date()


def next_destruction(keyring: Keyring, retention_days: int, grace_days: int) -> dict[str, str | None]:
    """Per key series: when the oldest live key will be destroyed (ISO date), None when none."""
    out: dict[str, str | None] = {}
    for purpose in (IP, COOKIE):
        live = [e for e in keyring.epochs[purpose] if not e.destroyed]
        oldest = min((e.end for e in live), default=None)
        when = oldest + timedelta(days=retention_days + grace_days) if oldest else None
        # destroy(before=D) takes epochs that ended on or before D 00:00: round up to that day
        out[purpose] = (when.date() + timedelta(days=1 if when.time() != datetime.min.time() else 0)).isoformat() if when else None
    return out


def prune(store: KeyringStore, registry: Registry, grace_days: int, audit: AuditLog, actor: str,
          now: datetime | None = None) -> list[str]:
    """Destroy every ip and cookie key past its date; audited. Returns the destroyed key ids."""
    now = now or datetime.now(UTC)
    retention = longest_retention(registry)
    before = destroy_before(now, retention, grace_days)
    destroyed: list[str] = []
    for purpose in (IP, COOKIE):
        done, _ = store.destroy(before, now, purpose=purpose)
        destroyed += [e.key_id for e in done]
    if destroyed:
        audit.append("keys.prune", actor=actor, before=before.isoformat(), retention_days=retention,
                     grace_days=grace_days, destroyed=destroyed)
    return destroyed
