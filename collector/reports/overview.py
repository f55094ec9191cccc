"""The one-page report (dashboard, `spii report`): which stats calls make it up, and how it is
rendered. The calls are stats-API query strings, so the dashboard (in-process) and the CLI (over
HTTP) fetch exactly the same numbers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape

from collector.reports.charts import line_chart
from collector.reports.catalogue import METRICS
from collector.reports.periods import PERIOD_CHOICES, PeriodError, default_interval, parse_period
from collector.reports.query import VISIT_ONLY, Filter, parse_filters

__all__ = ["KPIS", "PANELS", "fmt", "filter_text", "Filters", "overview_calls", "build_overview", "render_html", "render_chunks", "PERIOD_CHOICES", "templates"]

KPIS = [(name, metric.label) for name, metric in METRICS.items() if metric.kpi]
PANELS = [
    ("Top pages", "event:page", "visitors,pageviews"),
    # scroll depth (%) and time on page (s) from engagement pings, averaged over the page's engaged visitors
    ("Engagement", "event:page", "visitors,scroll_depth,time_on_page"),
    ("Entry pages", "visit:entry_page", "visitors,visits"),
    ("Exit pages", "visit:exit_page", "visitors,visits"),
    ("Sources", "visit:source", "visitors,visits"),
    ("Referrers", "visit:referrer", "visitors"),
    ("UTM source", "visit:utm_source", "visitors"),
    ("UTM medium", "visit:utm_medium", "visitors"),
    ("UTM campaign", "visit:utm_campaign", "visitors"),
    ("Postcode areas", "visit:postcode_area", "visitors,transactions"),
    ("Countries", "visit:country", "visitors"),
    ("Regions", "visit:region", "visitors"),
    ("Devices", "visit:device", "visitors"),
    ("Browsers", "visit:browser", "visitors"),
    ("Operating systems", "visit:os", "visitors"),
    ("Events", "event:name", "visitors,events"),
    ("Goals", "event:goal", "visitors,events,conversion_rate"),
    ("Fulfilment status", "event:fulfilment_status", "visitors,fulfilments"),
    ("Contact channels", "event:contact_channel", "visitors,contacts"),
]
# panels about one kind of event look only at those events (by title: engagement is about the
# same pages as top pages, from the engagement pings a kind filter would leave out)
PANEL_FILTERS = {"Top pages": "event:kind==pageview", "Fulfilment status": "event:kind==fulfilment",
                 "Contact channels": "event:kind==contact"}
PANEL_ROWS = 10
_UNLINKABLE = re.compile(r"[|;*]")  # a label with these cannot be written as a v1 filter value


def filter_text(filters: list[Filter]) -> str:
    """Filters back in the stats API's v1 syntax (what ``parse_filters`` reads)."""
    return ";".join(f"{f.prop}{f.op}{'|'.join(f.values)}" for f in filters)


def _joined(*parts: str) -> str:
    return ";".join(p for p in parts if p)


class Filters:
    """The dashboard's active filters (``?filters=``, v1 syntax): the chips that remove one, and
    the link of a breakdown row that filters the whole page by its label (replacing a filter on
    the same property). Plain links: the URL is the state, so sharing and the back button work
    and nothing needs JavaScript."""

    def __init__(self, text: str | None, period: str) -> None:
        self.active = parse_filters(text)
        self.period = period

    @property
    def text(self) -> str:
        return filter_text(self.active)

    def url(self, filters: list[Filter]) -> str:
        query = {"period": self.period, **({"filters": filter_text(filters)} if filters else {})}
        return "?" + urlencode(query)

    def href(self, prop: str, label: object) -> str | None:
        """The page filtered by ``prop == label`` too; None when that cannot be a filter."""
        if prop in VISIT_ONLY or not isinstance(label, str) or not label.strip() or _UNLINKABLE.search(label):
            return None
        return self.url([f for f in self.active if f.prop != prop] + [Filter(prop, "==", (label,))])

    def chips(self) -> list[dict[str, str]]:
        return [{"label": f"{f.prop.split(':', 1)[-1].replace('_', ' ')} {'is not' if f.op == '!=' else 'contains' if f.op == '~' else 'is'} "
                          f"{' or '.join(f.values)}", "remove": self.url([g for g in self.active if g is not f])} for f in self.active]


def _panel_id(title: str, prop: str) -> str:
    """A panel's id on the page: its property, or its title for a property's second panel."""
    first = next(t for t, p, _ in PANELS if p == prop)
    return prop if first == title else title.lower().replace(" ", "-")


def overview_calls(period: str, date: str | None = None, filters: str = "") -> list[tuple[str, str, dict[str, str]]]:
    """(name, endpoint, query) for every number on the page (plus previous_call), each under
    the page's ``filters`` (v1 syntax)."""
    base = {"period": period, **({"date": date} if date else {})}
    with_filters = {"filters": filters} if filters else {}
    calls = [
        ("aggregate", "aggregate", {**base, **with_filters, "metrics": ",".join(m for m, _ in KPIS), "compare": "previous_period"}),
        ("timeseries", "timeseries", {**base, **with_filters, "metrics": "visitors,pageviews"}),
    ]
    for title, prop, metrics in PANELS:
        query = {**base, "property": prop, "metrics": metrics, "limit": str(PANEL_ROWS)}
        if joined := _joined(filters, PANEL_FILTERS.get(title, "")):
            query["filters"] = joined
        calls.append((title, "breakdown", query))
    return calls


def previous_call(period: str, date: str | None, filters: str = "") -> dict[str, str]:
    """The timeseries of the period before, under the same filters, for the comparison line."""
    current = parse_period(period, date, datetime.now(UTC).date())
    before = current.previous()
    return {"period": "custom", "date": f"{before.first},{before.last}", "metrics": "visitors,pageviews",
            "interval": default_interval(current), **({"filters": filters} if filters else {})}


def build_overview(
    fetch: Callable[[str, dict[str, str]], dict[str, Any]],
    client: dict[str, str],
    period: str,
    date: str | None = None,
    progress: Callable[[str], None] | None = None,
    filters: str = "",
    lazy_panels: bool = False,
    expect: Callable[[list[tuple[str, Mapping[str, str]]]], None] | None = None,
) -> dict[str, Any]:
    """Run every call through ``fetch(endpoint, query)`` (in-process or HTTP) into one document.
    With ``lazy_panels`` the breakdown panels are fetched one by one as the page is rendered
    (``render_chunks``), so a streamed page shows its head before the last panel is computed.
    ``expect(calls)`` is told the head's calls, then the panels', before each is fetched (an
    in-process fetch counts several together: reports/together.py)."""
    results: dict[str, Any] = {}
    calls = overview_calls(period, date, filters)
    head, panel_calls = calls[:2], calls[2:]
    try:
        before: dict[str, str] | None = previous_call(period, date, filters)
    except PeriodError:
        before = None  # the head's own calls answer it (a 400 naming the field)
    if expect:  # (a page built whole says all it will ask at once: closed days' questions are added up in one query)
        asked: list[tuple[str, Mapping[str, str]]] = [(endpoint, query) for _, endpoint, query in head]
        expect(asked + ([("timeseries", before)] if before else [])
               + ([] if lazy_panels else [(endpoint, query) for _, endpoint, query in panel_calls]))
    for name, endpoint, query in head:
        results[name] = fetch(endpoint, query)
        if progress:
            progress(name)
    results["previous"] = fetch("timeseries", before if before is not None else previous_call(period, date, filters))
    if progress:
        progress("previous period")
    results["receiving"] = fetch("receiving", {})
    # the caller may know the client only by what it typed (a name or a domain)
    client = {**client, "client_id": results["receiving"].get("client_id", client.get("client_id")),
              "name": results["receiving"].get("name", client.get("name"))}
    series = results["timeseries"]["results"]

    def panels() -> Iterator[dict[str, Any]]:
        if expect and lazy_panels:
            expect([(endpoint, query) for _, endpoint, query in panel_calls])
        for (title, prop, metrics), (name, endpoint, query) in zip(PANELS, panel_calls):
            answer = fetch(endpoint, query)
            if progress:
                progress(name)
            yield {"title": title, "property": prop, "key": prop.rsplit(":", 1)[-1], "metrics": metrics.split(","), **answer,
                   "id": _panel_id(title, prop)}

    return {
        "client": client,
        "period": period,
        "filters": filters,
        "period_label": dict(PERIOD_CHOICES).get(period, period),
        "first": series[0]["date"][:10] if series else "",
        "last": series[-1]["date"][:10] if series else "",
        "k": results["aggregate"]["k"],
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "aggregate": results["aggregate"],
        "timeseries": results["timeseries"],
        "previous": results["previous"],
        "receiving": results["receiving"],
        "panels": panels() if lazy_panels else list(panels()),
    }


templates = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


NOISE_NOTE = ("Counts carry small noise to protect visitors: each is at most 4 off, zero on average, and the same "
              "every time it is shown.")
DOCS_PROTECTION = "docs/protection.md"


def notes(overview: dict[str, Any]) -> list[str]:
    """What a reader needs to read the numbers: why totals are hidden (and whether events are
    arriving), and that counts carry noise. The dashboard, the export and `spii report` say the same."""
    k, receiving = overview["k"], overview["receiving"]
    said = []
    if overview["aggregate"].get("suppressed"):
        said.append(f"Fewer than {k} visitors in this period: totals are hidden. "
                    + (f"Events are arriving ({fmt(receiving.get('events_today'))} today); figures appear once at least {k} "
                       "visitors are in the period." if receiving.get("events_today") else
                       "No event has arrived today: check that the tracker snippet is on your pages and that its "
                       "data-domain is a domain of this site."))
    if receiving.get("perturbed", True):
        said.append(NOISE_NOTE)
    return said


def fmt(value: Any) -> str:
    """A number as the report shows it ('–' for a withheld one)."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


templates.filters["fmt"] = fmt
templates.globals["noise_note"] = NOISE_NOTE


def render_html(overview: dict[str, Any], interactive: bool = False, **context: Any) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG; the dashboard adds a
    period picker and a logout button, both plain forms)."""
    return "".join(render_chunks(overview, interactive, **context))


def render_chunks(overview: dict[str, Any], interactive: bool = False, **context: Any) -> Iterator[str]:
    """``render_html`` piece by piece, in page order: with lazy panels (``build_overview``),
    each panel is fetched when the page reaches it."""
    series = overview["timeseries"]["results"]
    before = overview["previous"]["results"][-len(series):] if series else []
    chart = line_chart(
        [p["date"] for p in series],
        [
            ("Visitors", [p.get("visitors") for p in series], "#2563eb"),
            ("Pageviews", [p.get("pageviews") for p in series], "#16a34a"),
            ("Visitors, previous period", [p.get("visitors") for p in before], "#93c5fd"),
        ],
        title="Visitors and pageviews",
    )
    template = templates.get_template("report.html")
    return template.generate(o=overview, kpis=KPIS, chart=chart, interactive=interactive, periods=PERIOD_CHOICES, **context)
