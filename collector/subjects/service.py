"""Subject access, portability, erasure, restriction, objection and lawful disclosure.

Each operation turns the subject into pseudonyms (:mod:`collector.subjects.pseudonyms`), acts on
the store, and appends an audit entry naming the subject only by a keyed hash. Blocking: the
HTTP layer runs these in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from collector.audit import AuditLog
from collector.privacy.keyring import KeyDestroyed, Keyring, UnknownKey
from collector.reports.daily import Daily
from collector.store.clickhouse import EVENTS_TABLE, Store
from collector.subjects.flags import OBJECT, RESTRICT, SubjectFlags
from collector.subjects.pseudonyms import InvalidSubject, Subject, SubjectPseudonyms, resolve
from collector.tenants import Client

__all__ = ["SubjectService", "Request", "EXPORT_COLUMNS", "EXPORT_FORMAT", "DisclosureRefused"]

EXPORT_FORMAT = "spii-subject-export/1"
# What an export holds per event: everything stored about it except other people's business
# (none is on the row) and spii's internal identifiers (visitor id, cookie hash).
EXPORT_COLUMNS = (
    "ts", "kind", "name", "host", "path", "query", "entry_page", "referrer_host", "referrer_source",
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "browser", "browser_version",
    "os", "os_version", "device", "country", "postcode_area", "props", "order_id", "revenue", "currency",
    "items", "fulfilment_status", "contact_channel", "scroll_depth", "engaged_ms", "tracking_refused", "session_id", "key_id", "ip_token",
    "retention_days",
)
MAX_EXPORT_ROWS = 1_000_000
NOT_A_TOKEN = "not an ip token (an IPv4 or IPv6 address as stored in ip_token)"
FAR_FUTURE = datetime(2200, 1, 1, tzinfo=UTC)


class DisclosureRefused(Exception):
    """Disclosure is not possible; ``status`` and ``field`` are the HTTP answer's."""

    def __init__(self, status: int, field: str, problem: str) -> None:
        super().__init__(problem)
        self.status, self.field, self.problem = status, field, problem


@dataclass(frozen=True)
class Request:
    """Who asks, why, and the id that ties the calls of one CLI run together in the audit log."""

    actor: str
    reason: str = ""
    request_id: str = ""


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, (Decimal, IPv4Address, IPv6Address)):
        return str(value)
    return value


class SubjectService:
    def __init__(self, store: Store, flags: SubjectFlags, audit: AuditLog) -> None:
        self.store = store
        self.flags = flags
        self.audit = audit

    def _log(self, action: str, request: Request, subject: Subject, found: SubjectPseudonyms, **details: Any) -> None:
        self.audit.append(
            action,
            actor=request.actor,
            client=subject.client_id,
            selector=subject.kind,
            subject=self.audit.fingerprint(f"{subject.kind}:{subject.value}"),
            epochs_searched=len(found.searched),
            epochs_unsearchable=len(found.unsearchable),
            request_id=request.request_id,
            reason=request.reason,
            **details,
        )

    @staticmethod
    def _summary(found: SubjectPseudonyms) -> dict[str, Any]:
        return {"epochs_searched": found.searched, "epochs_unsearchable": found.unsearchable}

    # --- access and portability
    def export(self, keyring: Keyring, subject: Subject, start: datetime, end: datetime, request: Request) -> dict[str, Any]:
        found = resolve(keyring, subject, start, end)
        params: dict[str, Any] = {}
        rows = self.store.query_dicts(
            f"SELECT {', '.join(EXPORT_COLUMNS)} FROM {EVENTS_TABLE} WHERE {found.where(params)} "
            f"ORDER BY ts LIMIT {MAX_EXPORT_ROWS}",
            params,
        ) if found.searched else []
        events = [{k: _json_value(v) for k, v in row.items()} for row in rows]
        self._log("subject.export", request, subject, found, events=len(events))
        return {**self._summary(found), "events": events, "truncated": len(events) >= MAX_EXPORT_ROWS}

    # --- erasure (and objection: erased subjects' future events are dropped)
    def erase(
        self, keyring: Keyring, client: Client, subject: Subject, start: datetime, end: datetime, request: Request,
        flush: Callable[[], bool] = lambda: True,
    ) -> dict[str, Any]:
        """Object first (new events of the subject are dropped from now on), then ship the spool
        (events accepted moments ago reach the table), then delete."""
        objected = self._flag(keyring, OBJECT, client, resolve(keyring, subject, datetime.now(UTC), FAR_FUTURE))
        flushed = flush()
        found = resolve(keyring, subject, start, end)
        erased = 0
        if found.searched:
            params: dict[str, Any] = {}
            where = found.where(params)
            erased = int(self.store.query(f"SELECT count() FROM {EVENTS_TABLE} WHERE {where}", params)[0][0])
            if erased:
                self.store.delete_events(where, params)
                Daily(self.store).forget(client.client_id)  # closed days' counts held them too: counted afresh
                self.flags.changed()  # answers kept while the rows were still there are dropped
        self._log("subject.erase", request, subject, found, erased=erased, objection_epochs=objected, spool_flushed=flushed)
        return {**self._summary(found), "erased": erased, "objection_epochs": objected, "spool_flushed": flushed}

    def object(self, keyring: Keyring, client: Client, subject: Subject, request: Request) -> dict[str, Any]:
        found = resolve(keyring, subject, datetime.now(UTC), FAR_FUTURE)
        count = self._flag(keyring, OBJECT, client, found)
        self._log("subject.object", request, subject, found, objection_epochs=count)
        return {"objection_epochs": count}

    # --- restriction
    def restrict(self, keyring: Keyring, client: Client, subject: Subject, start: datetime, request: Request) -> dict[str, Any]:
        """From ``start`` on, including the current and future epochs whose keys exist."""
        found = resolve(keyring, subject, start, FAR_FUTURE)
        count = self._flag(keyring, RESTRICT, client, found)
        self._log("subject.restrict", request, subject, found, flags=count)
        return {**self._summary(found), "restricted_epochs": count}

    def unrestrict(self, keyring: Keyring, subject: Subject, start: datetime, request: Request) -> dict[str, Any]:
        found = resolve(keyring, subject, start, FAR_FUTURE)
        lifted = self.flags.lift(RESTRICT, found) if found.searched else 0
        self._log("subject.unrestrict", request, subject, found, lifted=lifted)
        return {**self._summary(found), "lifted_epochs": lifted}

    def _flag(self, keyring: Keyring, flag: str, client: Client, found: SubjectPseudonyms) -> int:
        ends = {e.key_id: e.end for series in keyring.epochs.values() for e in series}
        # an objection is useless after its epoch; a restriction after the rows it hides are gone
        keep = timedelta(days=client.retention_days) if flag == RESTRICT else timedelta(0)
        return self.flags.set(flag, found, {key_id: ends[key_id] + keep for key_id in found.searched})

    # --- lawful disclosure
    def disclose(self, keyring: Keyring, client: Client, token: str, key_id: str, request: Request) -> str:
        if not request.reason.strip():
            raise InvalidSubject("reason", "a disclosure needs a reason (e.g. the authority's request reference)")
        fingerprint = self.audit.fingerprint(f"token:{key_id}:{token}")
        params = {"client": client.client_id, "key_id": key_id, "token": token}
        try:
            stored = self.store.query(
                f"SELECT count() FROM {EVENTS_TABLE} WHERE client_id = {{client:String}} AND key_id = {{key_id:String}} "
                "AND ip_token = {token:IPv6}", params)[0][0]
        except Exception:  # noqa: BLE001 - a malformed token fails to bind as IPv6
            raise InvalidSubject("token", NOT_A_TOKEN) from None
        if not stored:  # never a decryption oracle for values that are not this client's data
            raise DisclosureRefused(404, "token", "no event of this client carries that token under that key")
        try:
            ip = keyring.decrypt_ip(client.client_id, token, key_id)
        except KeyDestroyed:
            self.audit.append("disclose.refused", actor=request.actor, client=client.client_id, key_id=key_id,
                              token=fingerprint, reason=request.reason, why="key destroyed")
            raise DisclosureRefused(410, "key_id", f"key {key_id} was destroyed: its tokens are irreversible, nothing can be disclosed") from None
        except UnknownKey:
            raise DisclosureRefused(404, "key_id", f"no IP key with id {key_id}") from None
        except ValueError:
            raise InvalidSubject("token", NOT_A_TOKEN) from None
        self.audit.append("disclose", actor=request.actor, client=client.client_id, key_id=key_id,
                          token=fingerprint, reason=request.reason, request_id=request.request_id)
        return ip
