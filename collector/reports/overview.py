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
from collector.reports.perturb import PTABLE
from collector.reports.query import VISIT_ONLY, Filter, parse_filters

__all__ = ["KPIS", "PANELS", "fmt", "filter_text", "Filters", "overview_calls", "build_overview", "render_html", "render_chunks", "PERIOD_CHOICES", "templates"]

KPIS = [(name, metric.label) for name, metric in METRICS.items() if metric.kpi]
LOWER_IS_BETTER = {"bounce_rate"}
# the Events panel's rows (event:name) that count exactly the events of a total (kind == name)
SAME_EVENTS = {"pageview": "pageviews", "transaction": "transactions", "fulfilment": "fulfilments", "contact": "contacts"}
CAPPED_BY_TOTAL = ("visitors", "visits", "pageviews", "events", "transactions", "fulfilments", "contacts")  # a fall is good news: shown in green
PANELS = [
    ("Top pages", "event:page", "visitors,pageviews"),
    # scroll depth (%) and time on page (s) from engagement pings, averaged over the page's engaged visitors
    ("Engagement", "event:page", "visitors,scroll_depth,time_on_page"),
    ("Entry pages", "visit:entry_page", "visitors,visits"),
    ("Exit pages", "visit:exit_page", "visitors,visits"),
    ("Sources", "visit:source", "visitors,visits"),
    ("Channels", "visit:channel", "visitors,visits"),
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
    ("Fulfilment status", "event:fulfilment_status", "fulfilments"),  # (sent by shops' servers: orders, not visitors)
    ("Contact channels", "event:contact_channel", "visitors,contacts"),
]
# The dashboard groups the panels in tabbed cards, as Plausible does: one tab of each card is shown
# (and counted), the others are a link away; the state is in the URL (?pages=entry&sources=utm_source).
# (card key, title, [(tab, panel title, tab label)]), in the order of PANELS.
CARDS = [
    ("pages", "Pages", [("top", "Top pages", "Top"), ("engagement", "Engagement", "Engagement"), ("entry", "Entry pages", "Entry"),
                        ("exit", "Exit pages", "Exit")]),
    ("sources", "Sources", [("sources", "Sources", "Sources"), ("channels", "Channels", "Channels"), ("referrers", "Referrers", "Referrers"),
                            ("utm_source", "UTM source", "UTM source"), ("utm_medium", "UTM medium", "Medium"),
                            ("utm_campaign", "UTM campaign", "Campaign")]),
    ("locations", "Locations", [("postcodes", "Postcode areas", "Postcode areas"), ("countries", "Countries", "Countries"),
                                ("regions", "Regions", "Regions")]),
    ("devices", "Devices", [("devices", "Devices", "Devices"), ("browsers", "Browsers", "Browsers"), ("os", "Operating systems", "OS")]),
    ("events", "Events", [("events", "Events", "Events"), ("goals", "Goals", "Goals")]),
    ("orders", "Orders and contacts", [("fulfilment", "Fulfilment status", "Fulfilment"), ("contacts", "Contact channels", "Contacts")]),
]
DEFAULT_TABS = {"locations": "countries"}  # a card's tab when the URL names none (else its first)
CARD_OF = {title: card for card in CARDS for _, title, _ in card[2]}


def shown_panels(tabs: Mapping[str, str]) -> list[str]:
    """The title of the panel each card shows for ``tabs`` (card key -> tab), in page order."""
    shown = []
    for key, _, options in CARDS:
        wanted = tabs.get(key) or DEFAULT_TABS.get(key, options[0][0])
        shown.append(next((title for tab, title, _ in options if tab == wanted), options[0][1]))
    return shown


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

    def __init__(self, text: str | None, period: str, tabs: Mapping[str, str] | None = None) -> None:
        self.active = parse_filters(text)
        self.period = period
        # the tabs the URL chose, the cards' own defaults left out so URLs stay short
        self.tabs = {key: tab for key, _, options in CARDS if (tab := (tabs or {}).get(key, ""))
                     and tab in {t for t, _, _ in options} and tab != DEFAULT_TABS.get(key, options[0][0])}
        self.imported = (tabs or {}).get("imported") == "1"  # imported history added (reports/imported.py)

    @property
    def text(self) -> str:
        return filter_text(self.active)

    @property
    def panels(self) -> list[str]:
        return shown_panels(self.tabs)

    def url(self, filters: list[Filter], tabs: Mapping[str, str] | None = None, imported: bool | None = None) -> str:
        query = {"period": self.period, **({"filters": filter_text(filters)} if filters else {}), **(self.tabs if tabs is None else tabs),
                 **({"imported": "1"} if (self.imported if imported is None else imported) else {})}
        return "?" + urlencode(query)

    def imported_toggle(self) -> str:
        """This page with imported history added, or without it."""
        return self.url(self.active, imported=not self.imported)

    def segment_url(self, name: str) -> str:
        """This page filtered by a saved segment (and nothing else)."""
        return self.url([Filter("segment", "==", (name,))])

    def tab_url(self, card: str, tab: str) -> str:
        """This page with ``card`` showing ``tab`` (filters and the other cards' tabs kept)."""
        tabs = {**self.tabs, card: tab}
        return self.url(self.active, Filters(None, self.period, tabs).tabs)

    def card(self, title: str) -> dict[str, Any]:
        """The card a panel is in: its key, title and tabs as (label, link, whether shown)."""
        key, card_title, options = CARD_OF[title]
        return {"key": key, "title": card_title, "tabs": [(label, self.tab_url(key, tab), panel == title) for tab, panel, label in options]}

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


def overview_calls(period: str, date: str | None = None, filters: str = "", panels: list[str] | None = None,
                   imported: bool = False) -> list[tuple[str, str, dict[str, str]]]:
    """(name, endpoint, query) for every number on the page (plus previous_call), each under
    the page's ``filters`` (v1 syntax); the panels named in ``panels`` only (default: all);
    imported history added where it can answer with ``imported``."""
    base = {"period": period, **({"date": date} if date else {}), **({"with_imported": "true"} if imported else {})}
    with_filters = {"filters": filters} if filters else {}
    calls = [
        ("aggregate", "aggregate", {**base, **with_filters, "metrics": ",".join(m for m, _ in KPIS), "compare": "previous_period"}),
        ("timeseries", "timeseries", {**base, **with_filters, "metrics": "visitors,pageviews"}),
    ]
    for title, prop, metrics in _panels(panels):
        query = {**base, "property": prop, "metrics": metrics, "limit": str(PANEL_ROWS)}
        if joined := _joined(filters, PANEL_FILTERS.get(title, "")):
            query["filters"] = joined
        calls.append((title, "breakdown", query))
    return calls


def _panels(titles: list[str] | None) -> list[tuple[str, str, str]]:
    return PANELS if titles is None else [panel for panel in PANELS if panel[0] in titles]


def within_totals(answer: dict[str, Any], aggregate: dict[str, Any]) -> dict[str, Any]:
    """A breakdown's rows with no count above the page's total of it (noise on a row and on the
    total are independent, so a row holding nearly everyone could show more than the total), and
    without the rows whose every count is zero."""
    totals = {m: entry.get("value") for m, entry in aggregate.get("results", {}).items()}
    k = answer.get("k") or 0
    capped, lowered = [], False
    for row in answer.get("results", []):
        if all(row.get(metric) in (0, None) for metric in CAPPED_BY_TOTAL if metric in row):
            continue  # nothing to show (noise leaves a zero a zero): a label of orders only, in a panel of visitors
        row = dict(row)
        # one cell, one value: the Events panel's row of a first-class kind, and a goal on it, count the same
        # events as its card (a goal on one currency's transactions counts fewer: two noisy values of one count
        # are never further apart than twice the noise, so a goal further off keeps its own)
        kind = SAME_EVENTS.get(row.get("name", row.get("goal")), "")
        if ((total := totals.get(kind)) is not None and isinstance(row.get("events"), int) and row.get("other") is not True
                and abs(row["events"] - total) <= 2 * PTABLE.max_adjustment):
            row["events"] = total
            visitors = row.get("visitors")
            if isinstance(visitors, int) and isinstance(total, int) and k <= total < visitors:
                row["visitors"], lowered = total, True  # (each of its visitors sent at least one: never 105 sending 102)
        for metric in CAPPED_BY_TOTAL:
            total, value = totals.get(metric), row.get(metric)
            if isinstance(total, int) and isinstance(value, int) and value > total:
                row[metric] = total
        capped.append(row)
    if lowered:  # still in the order of the numbers shown
        capped.sort(key=lambda row: (row.get("other") is True, -(row.get("visitors") or 0)))
    return {**answer, "results": capped}


def previous_call(period: str, date: str | None, filters: str = "", imported: bool = False) -> dict[str, str]:
    """The timeseries of the period before, under the same filters, for the comparison line."""
    current = parse_period(period, date, datetime.now(UTC).date())
    before = current.previous()
    return {"period": "custom", "date": f"{before.first},{before.last}", "metrics": "visitors,pageviews",
            "interval": default_interval(current), **({"filters": filters} if filters else {}),
            **({"with_imported": "true"} if imported else {})}


def build_overview(
    fetch: Callable[[str, dict[str, str]], dict[str, Any]],
    client: dict[str, str],
    period: str,
    date: str | None = None,
    progress: Callable[[str], None] | None = None,
    filters: str = "",
    lazy_panels: bool = False,
    expect: Callable[[list[tuple[str, Mapping[str, str]]]], None] | None = None,
    panels: list[str] | None = None,
    imported: bool = False,
) -> dict[str, Any]:
    """Run every call through ``fetch(endpoint, query)`` (in-process or HTTP) into one document.
    With ``lazy_panels`` the breakdown panels are fetched one by one as the page is rendered
    (``render_chunks``), so a streamed page shows its head before the last panel is computed.
    ``expect(calls)`` is told the head's calls, then the panels', before each is fetched (an
    in-process fetch counts several together: reports/together.py)."""
    results: dict[str, Any] = {}
    calls = overview_calls(period, date, filters, panels, imported)
    head, panel_calls = calls[:2], calls[2:]
    chosen = _panels(panels)
    try:
        before: dict[str, str] | None = previous_call(period, date, filters, imported)
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
    results["previous"] = fetch("timeseries", before if before is not None else previous_call(period, date, filters, imported))
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
        for (title, prop, metrics), (name, endpoint, query) in zip(chosen, panel_calls):
            answer = fetch(endpoint, query)
            if progress:
                progress(name)
            yield {"title": title, "property": prop, "key": prop.rsplit(":", 1)[-1], "metrics": metrics.split(","),
                   **within_totals(answer, results["aggregate"]), "id": _panel_id(title, prop)}

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


def current_bucket(labels: list[str], now: datetime) -> int | None:
    """The index of the bucket that holds ``now`` (still filling), if the chart has it: a day
    (``2026-12-05``), an hour (``2026-12-05 08:00:00``) or a month (``2026-12-01``: the month's first day)."""
    for index, label in enumerate(labels):
        if len(label) > 10:
            if label[:13] == now.strftime("%Y-%m-%d %H"):
                return index
        elif label == now.strftime("%Y-%m-%d"):
            return index
    if labels and len(labels[-1]) == 10 and labels[-1] <= now.strftime("%Y-%m-%d") and \
            now.strftime("%Y-%m-%d") < _bucket_end(labels):
        return len(labels) - 1  # a week or a month that has begun and not ended
    return None


def _bucket_end(labels: list[str]) -> str:
    """The day after the last bucket, guessed from the step between the last two."""
    if len(labels) < 2:
        return labels[-1] if labels else ""
    first, last = (datetime.strptime(label, "%Y-%m-%d") for label in labels[-2:])
    return (last + (last - first)).strftime("%Y-%m-%d")


def render_chunks(overview: dict[str, Any], interactive: bool = False, **context: Any) -> Iterator[str]:
    """``render_html`` piece by piece, in page order: with lazy panels (``build_overview``),
    each panel is fetched when the page reaches it."""
    series = overview["timeseries"]["results"]
    before = overview["previous"]["results"][-len(series):] if series else []
    labels = [p["date"] for p in series]
    partial = current_bucket(labels, datetime.now(UTC))
    chart = line_chart(
        labels,
        [
            ("Visitors", [p.get("visitors") for p in series], "#2563eb"),
            ("Pageviews", [p.get("pageviews") for p in series], "#16a34a"),
            ("Visitors, previous period", [p.get("visitors") for p in before], "#93c5fd"),
        ],
        title="Visitors and pageviews",
        partial=partial,
        whole=("Visitors, previous period",),
    )
    overview["partial_bucket"] = labels[partial] if partial is not None else None
    template = templates.get_template("report.html")
    return template.generate(o=overview, kpis=KPIS, chart=chart, interactive=interactive, periods=PERIOD_CHOICES,
                             lower_is_better=LOWER_IS_BETTER, **context)
