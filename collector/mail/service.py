"""The e-mail duty of a running collector: every SPII_MAIL_CHECK_SECONDS, each client's reports
that have fallen due are composed and sent to each recipient not yet sent them (the ledger says),
and its alerts are checked. A failure is counted, logged without an address, and retried at a
later check with backoff; it never stops the collector."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from collector.mail.alerts import USUAL_DAYS, Alert, drop_alert, spike_alert
from collector.mail.compose import Letter, render_alert, render_report, report_overview, to_message
from collector.mail.ledger import Ledger
from collector.mail.links import Signer
from collector.mail.outbox import DeliveryError, Outbox
from collector.mail.schedule import closed_periods
from collector.metrics import Metrics
from collector.reports.periods import Period
from collector.reports.stats import Stats
from collector.tenants import Client, LiveRegistry

__all__ = ["MailService", "NoRecipients"]

log = logging.getLogger("spii.mail")
RETRY_MAX_SECONDS = 3600


class NoRecipients(ValueError):
    """A client without e-mail recipients was asked to send."""


class MailService:
    def __init__(self, stats: Stats, registry: LiveRegistry, fetch_for: Callable[[Client], Callable[[str, dict[str, str]], dict[str, Any]]],
                 signer: Signer, outbox: Outbox, ledger: Ledger, metrics: Metrics, sender: str, link_base: str, catch_up: int = 3,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.stats, self.registry, self.fetch_for = stats, registry, fetch_for
        self.signer, self.outbox, self.ledger, self.metrics = signer, outbox, ledger, metrics
        self.sender, self.link_base, self.catch_up, self.clock = sender, link_base, catch_up, clock
        self._retry_at: dict[tuple[str, str], tuple[datetime, int]] = {}  # (client, kind) -> (next try, failures so far)
        self._lock = threading.Lock()  # one sender at a time: the schedule and `spii reports send`

    # -- the schedule -------------------------------------------------------------------------

    def check(self) -> None:
        """Send what is due, for every client with recipients."""
        now = self.clock()
        for client in self.registry.get().clients:
            if not client.email_to:
                continue
            for kind in client.email_reports:
                for period in self.due(client, kind, now):
                    if not self._attempt(client, kind, now, lambda: self.send_report(client, kind, period, record=True)):
                        break  # (the next check retries this period before the later ones)
            for alert in self._alerts(client, now):
                self._attempt(client, f"alert-{alert.kind}", now, lambda: self._send_alert(client, alert, now))

    def due(self, client: Client, kind: str, now: datetime) -> list[Period]:
        """The closed periods of ``kind`` not yet sent to every recipient, oldest first: at most
        ``catch_up`` of them, and none that closed before the client wanted this report."""
        since = self.ledger.since(client.client_id, kind, now)
        wanted = {self.signer.recipient_id(client.client_id, a) for a in client.email_to}
        return [p for p in closed_periods(kind, now, self.catch_up) if p.end > since
                and wanted - self.ledger.sent_to(client.client_id, kind, p.first)]

    def _attempt(self, client: Client, kind: str, now: datetime, send: Callable[[], object]) -> bool:
        key = (client.client_id, kind)
        retry = self._retry_at.get(key)
        if retry is not None and retry[0] > now:
            return False
        try:
            send()
        except DeliveryError as exc:
            failures = retry[1] + 1 if retry else 1
            self._retry_at[key] = (now + timedelta(seconds=min(RETRY_MAX_SECONDS, 60 * 2 ** (failures - 1))), failures)
            self.metrics.mail_failures.labels(kind.split("-")[0], exc.reason).inc()
            log.warning("e-mail not sent: retried later", extra={"fields": {"client": client.name, "kind": kind, "error": exc.reason,
                                                                               "failures": failures}})
            return False
        self._retry_at.pop(key, None)
        return True

    # -- reports ------------------------------------------------------------------------------

    def letters(self, client: Client, kind: str, period: Period) -> Callable[[str], Letter]:
        """The period's report, rendered for one recipient at a time (their own unsubscribe link)."""
        overview = report_overview(self.fetch_for(client), client, kind, period)
        dashboard = f"{self.link_base}/dashboard/{quote(client.name)}"
        return lambda address: render_report(overview, client, kind, period, dashboard, self.unsubscribe_url(client, address))

    def send_report(self, client: Client, kind: str, period: Period, record: bool = True) -> int:
        """Send ``client``'s ``kind`` report of ``period`` to each recipient (with ``record``: each
        not yet sent it, each recorded once sent). The number of messages sent."""
        if not client.email_to:
            raise NoRecipients(f"{client.name} has no e-mail recipients (spii clients update {client.name} --email-to ...)")
        with self._lock:
            done = self.ledger.sent_to(client.client_id, kind, period.first) if record else set()
            recipients = ((a, self.signer.recipient_id(client.client_id, a)) for a in client.email_to)
            waiting = [(address, recipient) for address, recipient in recipients if recipient not in done]
            if not waiting:
                return 0
            letter_for = self.letters(client, kind, period)
            for address, recipient in waiting:
                self._deliver(letter_for(address), address, f"{kind}.{client.client_id}.{period.first}.{recipient}", client)
                self.metrics.mail_sent.labels(kind).inc()
                if record:
                    self.ledger.record_sent(client.client_id, kind, period.first, recipient)
            log.info("report sent", extra={"fields": {"client": client.name, "kind": kind, "period": str(period.first),
                                                      "recipients": len(waiting)}})
            return len(waiting)

    def preview(self, client: Client, kind: str, period: Period) -> Letter:
        """The report as its first recipient would get it (sent to nobody)."""
        return self.letters(client, kind, period)(client.email_to[0] if client.email_to else "recipient@example.com")

    # -- alerts -------------------------------------------------------------------------------

    def _alerts(self, client: Client, now: datetime) -> list[Alert]:
        due = []
        cooldown = timedelta(hours=client.alert_cooldown_hours)
        if client.alert_spike_visitors is not None and self._cooled(client, "spike", now, cooldown):
            if (alert := spike_alert(client, self.stats.realtime(client))) is not None:
                due.append(alert)
        if client.alert_drop_hours is not None and self._cooled(client, "drop", now, cooldown):
            events, last = self.stats.recent_events(client, now - timedelta(hours=client.alert_drop_hours, days=USUAL_DAYS))
            if (alert := drop_alert(client, events, last, now)) is not None:
                due.append(alert)
        return due

    def _cooled(self, client: Client, kind: str, now: datetime, cooldown: timedelta) -> bool:
        last = self.ledger.last_alert(client.client_id, kind)
        return last is None or now - last >= cooldown

    def _send_alert(self, client: Client, alert: Alert, now: datetime) -> None:
        with self._lock:
            dashboard = f"{self.link_base}/dashboard/{quote(client.name)}"
            for address in client.email_to:
                letter = render_alert(client, alert.subject, alert.lines, dashboard, self.unsubscribe_url(client, address))
                recipient = self.signer.recipient_id(client.client_id, address)
                self._deliver(letter, address, f"alert-{alert.kind}.{client.client_id}.{now:%Y%m%dT%H%M}.{recipient}", client)
                self.metrics.mail_sent.labels("alert").inc()
            self.ledger.record_alert(client.client_id, alert.kind, now)
            log.info("alert sent", extra={"fields": {"client": client.name, "kind": alert.kind, "recipients": len(client.email_to)}})

    # -- delivery -----------------------------------------------------------------------------

    def unsubscribe_url(self, client: Client, address: str) -> str:
        return f"{self.link_base}/unsubscribe/{self.signer.unsubscribe_token(client.client_id, address)}"

    def _deliver(self, letter: Letter, address: str, message_id: str, client: Client) -> None:
        self.outbox.send(to_message(letter, self.sender, address, f"spii.{message_id}", self.unsubscribe_url(client, address),
                                    now=self.clock()))
