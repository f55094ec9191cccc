"""Traffic alerts: a spike (the current visitors, as the dashboard counts them, at or above the
client's threshold) and a drop (no event for N hours on a site that had events in the week before
those hours). What triggered each is in its message; the service sends each kind at most once per
cooldown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from collector.reports.overview import fmt
from collector.tenants import Client

__all__ = ["Alert", "spike_alert", "drop_alert", "USUAL_DAYS"]

USUAL_DAYS = 7  # a site "usually has events" when it had some in this many days before the quiet hours


@dataclass(frozen=True)
class Alert:
    kind: str  # spike | drop
    subject: str
    lines: list[str]


def spike_alert(client: Client, current: int | None) -> Alert | None:
    """``current``: the visitors of the last 5 minutes as shown (perturbed; None under k)."""
    threshold = client.alert_spike_visitors
    if threshold is None or current is None or current < threshold:
        return None
    return Alert("spike", f"{client.name}: {fmt(current)} current visitors",
                 [f"{client.name} has {fmt(current)} current visitors (the last 5 minutes), at or above your alert threshold of "
                  f"{fmt(threshold)}.", "You will not get another spike alert for this site in the next "
                  f"{fmt(client.alert_cooldown_hours)} hours."])


def drop_alert(client: Client, events: int, last: datetime | None, now: datetime) -> Alert | None:
    """``events``: the site's events since ``USUAL_DAYS`` days before the quiet hours; ``last``:
    when the latest of them arrived."""
    hours = client.alert_drop_hours
    if hours is None or events == 0 or last is None or last > now - timedelta(hours=hours):
        return None
    return Alert("drop", f"{client.name}: no event for {fmt(hours)} hours",
                 [f"{client.name} has received no event for {fmt(hours)} hours: the last one arrived at "
                  f"{last:%Y-%m-%d %H:%M} UTC, and the site had events in the {USUAL_DAYS} days before.",
                  "Check that the site is up and that the tracker snippet is still on its pages (and that its data-domain "
                  "is one of the site's domains).", f"You will not get another drop alert for this site in the next "
                  f"{fmt(client.alert_cooldown_hours)} hours."])
