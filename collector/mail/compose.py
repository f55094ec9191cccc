"""A period's report as an e-mail: the dashboard's numbers for that period (reports/overview.py,
through the same stats calls, so the same suppression, complement rule and noisy values), as HTML
that mail clients render (tables and inline styles: no SVG, no script, no external image) and as
plain text; one message per recipient, each with its own unsubscribe link."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from collector.reports.overview import KPIS, LOWER_IS_BETTER, build_overview, fmt, notes
from collector.reports.periods import Period
from collector.tenants import Client

__all__ = ["Letter", "report_overview", "render_report", "render_alert", "to_message"]

PANELS = ["Top pages", "Sources", "Countries", "Devices", "Goals"]
TOP_ROWS = 5
ALWAYS_SHOWN = ("visitors", "visits", "pageviews", "bounce_rate", "visit_duration")  # the others when not zero
CHART_HEIGHT = 120  # px of the tallest bar

templates = Environment(loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
                        autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
templates.filters["fmt"] = fmt


@dataclass
class Letter:
    subject: str
    text: str
    html: str


def report_overview(fetch: Callable[[str, dict[str, str]], dict[str, Any]], client: Client, kind: str, period: Period) -> dict[str, Any]:
    """The period's numbers as the dashboard and the stats API give them (``fetch`` is theirs): a
    month as ``period=month``, a week as its seven days (each compared with the one before)."""
    if kind == "monthly":
        period_arg, date_arg = "month", period.first.isoformat()
    else:
        period_arg, date_arg = "custom", f"{period.first},{period.last}"
    panels = [title for title in PANELS if title != "Goals" or client.goals]
    return build_overview(fetch, {"name": client.name, "client_id": client.client_id}, period_arg, date_arg, panels=panels)


def period_label(kind: str, period: Period) -> str:
    if kind == "monthly":
        return period.first.strftime("%B %Y")
    if period.first.month == period.last.month:
        return f"{period.first.day}–{period.last.day} {period.last.strftime('%b %Y')}"
    return f"{period.first.day} {period.first.strftime('%b')} – {period.last.day} {period.last.strftime('%b %Y')}"


def _kpis(aggregate: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for metric, label in KPIS:
        entry = aggregate.get("results", {}).get(metric)
        if entry is None or (metric not in ALWAYS_SHOWN and entry.get("value") in (0, None)):
            continue
        change = entry.get("change")
        good = None if not change else (change < 0) == (metric in LOWER_IS_BETTER)
        out.append({"label": label, "value": fmt(entry.get("value")), "change": change, "good": good})
    return out


def _chart(timeseries: dict[str, Any]) -> list[dict[str, Any]]:
    rows = timeseries.get("results", [])
    top = max((r["visitors"] for r in rows if isinstance(r.get("visitors"), int)), default=0)
    return [{"date": r["date"][:10], "weekday": date.fromisoformat(r["date"][:10]).strftime("%a"), "visitors": r.get("visitors"),
             "height": max(2, round(CHART_HEIGHT * r["visitors"] / top)) if top and isinstance(r.get("visitors"), int) and r["visitors"] else 0}
            for r in rows]


def _panels(overview: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in overview["panels"]:
        rows = [r for r in panel.get("results", []) if r.get("other") is not True][:TOP_ROWS]
        top = max((r["visitors"] for r in rows if isinstance(r.get("visitors"), int)), default=0)
        out.append({"title": panel["title"], "rows": [{"label": r.get(panel["key"]) or "(none)", "visitors": r.get("visitors"),
                                                        "width": round(100 * r["visitors"] / top) if top and isinstance(r.get("visitors"), int) else 0}
                                                       for r in rows]})
    return out


def render_report(overview: dict[str, Any], client: Client, kind: str, period: Period, dashboard_url: str, unsubscribe_url: str) -> Letter:
    label = period_label(kind, period)
    visitors = overview["aggregate"].get("results", {}).get("visitors", {})
    headline = "" if visitors.get("value") is None else f": {fmt(visitors['value'])} visitors"
    if headline and visitors.get("change") is not None:
        headline += f" ({'+' if visitors['change'] >= 0 else ''}{visitors['change']}%)"
    context = {
        "client": client.name, "kind": kind, "title": f"{client.name}: {kind} report, {label}", "label": label,
        "kpis": _kpis(overview["aggregate"]), "chart": _chart(overview["timeseries"]), "panels": _panels(overview),
        "notes": notes(overview), "k": overview["k"], "dashboard_url": dashboard_url, "unsubscribe_url": unsubscribe_url,
        "hidden": overview["aggregate"].get("suppressed"), "chart_height": CHART_HEIGHT,
    }
    return Letter(f"{client.name} {kind} report, {label}{headline}", templates.get_template("report.txt").render(context),
                  templates.get_template("report.html").render(context))


def render_alert(client: Client, subject: str, lines: list[str], dashboard_url: str, unsubscribe_url: str) -> Letter:
    context = {"client": client.name, "title": subject, "lines": lines, "dashboard_url": dashboard_url, "unsubscribe_url": unsubscribe_url}
    return Letter(subject, templates.get_template("alert.txt").render(context), templates.get_template("alert.html").render(context))


def to_message(letter: Letter, sender: str, to: str, message_id: str, unsubscribe_url: str, now: datetime | None = None) -> EmailMessage:
    """One recipient's message: text and HTML parts, a Message-ID fixed by what it reports (a
    mail server that sees it twice can tell), and one-click unsubscribe headers (RFC 8058)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = formataddr(("", to))
    message["Subject"] = letter.subject
    message["Date"] = format_datetime(now or datetime.now(UTC))
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = f"<{message_id}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(letter.text)
    message.add_alternative(letter.html, subtype="html")
    return message
