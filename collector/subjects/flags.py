"""Restriction and objection flags (table ``spii.subject_flags``), mirrored in memory.

The ingest pipeline asks :meth:`SubjectFlags.objected` for every event (a set lookup, skipped
while no objection exists); the stats service asks :meth:`SubjectFlags.exclusions` for SQL that
leaves restricted subjects out of every report. Each collector process reloads the table every
few seconds, so a flag set through one node reaches the others.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import orjson

from collector.privacy.ipcrypt import ip_to_bytes
from collector.store.clickhouse import Store
from collector.subjects.pseudonyms import SubjectPseudonyms

__all__ = ["SubjectFlags", "RESTRICT", "OBJECT"]

RESTRICT, OBJECT = "restrict", "object"
TABLE = "spii.subject_flags"


def restricted_exclusions(client: str, now: str = "now()") -> list[str]:
    """Conditions that leave out the rows of a client's restricted subjects. ``client`` and
    ``now`` are SQL expressions: bound parameters in report queries (the collector's clock
    decides when a flag expires), a literal and ClickHouse's now() in a row policy
    (store/access.py), so reports and SQL access exclude exactly the same rows."""
    flagged = f"FROM {TABLE} WHERE client_id = {client} AND flag = '{RESTRICT}' AND expires_at > {now}"
    return [
        f"(key_id, ip_token) NOT IN (SELECT key_id, ip_token {flagged} AND cookie_hash = 0)",
        f"cookie_hash NOT IN (SELECT cookie_hash {flagged} AND cookie_hash != 0)",
    ]


_REPORT_EXCLUSIONS = restricted_exclusions("{client:String}", "{now:DateTime}")  # the report query binds both


def _packed(token: str) -> bytes:
    return ip_to_bytes(token)  # "1.2.3.4" and "::ffff:1.2.3.4" alike: the table stores IPv6


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


class SubjectFlags:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._objected_tokens: set[tuple[str, str, bytes]] = set()
        self._objected_cookies: set[tuple[str, int]] = set()
        self._restricted_clients: set[str] = set()
        self._counts: dict[str, dict[str, int]] = {}
        # called when the flags in force change, or a subject's events were erased (the stats
        # service then forgets the answers it kept: reports/kept.py)
        self.on_change: list[Callable[[], None]] = []

    def changed(self) -> None:
        for listener in self.on_change:
            listener()

    # --- the hot paths
    @property
    def any_objection(self) -> bool:
        return bool(self._objected_tokens or self._objected_cookies)

    def objected(self, client_id: str, key_id: str, ip_token: str, cookie_hash: int) -> bool:
        if cookie_hash and (client_id, cookie_hash) in self._objected_cookies:
            return True
        return bool(key_id) and (client_id, key_id, _packed(ip_token)) in self._objected_tokens

    def objection_keys(self, client_id: str) -> set[str]:
        """The epoch keys under which some subject of the client objected (an import checks an
        older line's address under them: importing/weblog.py)."""
        return {key_id for client, key_id, _ in self._objected_tokens if client == client_id}

    def exclusions(self, client_id: str) -> list[str]:
        return list(_REPORT_EXCLUSIONS) if client_id in self._restricted_clients else []

    # --- changes (blocking: callers on the event loop use a worker thread)
    def load(self) -> None:
        rows = self.store.query(
            f"SELECT DISTINCT client_id, toString(flag), key_id, toString(ip_token), cookie_hash FROM {TABLE} "
            "WHERE expires_at > {now:DateTime}", {"now": _ts(datetime.now(UTC))}
        )
        tokens, cookies, restricted = set(), set(), set()
        counts: dict[str, dict[str, int]] = {}
        for client_id, flag, key_id, token, cookie_hash in rows:
            per_client = counts.setdefault(client_id, {RESTRICT: 0, OBJECT: 0})
            per_client[flag] += 1
            if flag == RESTRICT:
                restricted.add(client_id)
            elif cookie_hash:
                cookies.add((client_id, cookie_hash))
            else:
                tokens.add((client_id, key_id, _packed(token)))
        with self._lock:
            before = (self._objected_tokens, self._objected_cookies, self._restricted_clients)
            self._objected_tokens, self._objected_cookies, self._restricted_clients = tokens, cookies, restricted
            self._counts = counts
        if before != (tokens, cookies, restricted):
            self.changed()

    def active(self) -> dict[str, dict[str, int]]:
        """Flags in force (not expired by the collector's clock), per client and flag: counts of
        (epoch, pseudonym) pairs, nothing that names a subject."""
        with self._lock:
            return {client: dict(flags) for client, flags in self._counts.items()}

    def set(self, flag: str, subject: SubjectPseudonyms, expires: dict[str, datetime]) -> int:
        """Flag every searched epoch of ``subject``; ``expires`` maps key id -> end of the flag."""
        rows = [
            {"client_id": subject.client_id, "flag": flag, "key_id": key_id, "ip_token": token, "expires_at": _ts(expires[key_id])}
            for key_id, token in subject.tokens
        ] + [
            {"client_id": subject.client_id, "flag": flag, "key_id": key_id, "cookie_hash": h, "expires_at": _ts(expires[key_id])}
            for key_id, h in subject.cookie_hashes
        ]
        if rows:
            body = b"".join(orjson.dumps(row) + b"\n" for row in rows)
            self.store.insert_segment(body, "flags-" + os.urandom(8).hex(), table=TABLE)
        self.load()
        return len(rows)

    def lift(self, flag: str, subject: SubjectPseudonyms) -> int:
        """Remove ``flag`` for the subject; the number of flags that were set."""
        params: dict = {"flag": flag}
        where = subject.where(params) + " AND flag = {flag:String}"
        count = self.store.query(f"SELECT count() FROM (SELECT DISTINCT * EXCEPT created_at FROM {TABLE} WHERE {where})", params)[0][0]
        if count:
            self.store.command(f"DELETE FROM {TABLE} WHERE {where}", params)
        self.load()
        return int(count)
