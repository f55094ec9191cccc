"""The one catalogue of report numbers. Every metric the stats API, the dashboard, exports and
`spii report` know is one entry here. An entry lists the columns it is computed from (each with
its SQL), whether it is a count (rounded, perturbed), whether it needs whole visits, and its
label. The query layer, the stats service, suppression, perturbation and the dashboard all read
from it, so a new metric is one ``Metric`` (plus its ``Column`` when it needs a new aggregate).

Columns are aggregates ClickHouse computes in one pass over a group's events. ``visit_sql`` is
the same aggregate over the per-visit rows of the exit-page pass, for the columns a visit-level
row can give. Metrics are computed in Python from (perturbed) columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from collector.reports.perturb import CELL_KEY_SQL, VISIT_CELL_KEY_SQL

__all__ = ["Column", "Metric", "COLUMNS", "METRICS", "PEOPLE", "columns_for", "available_for_visits", "reads_engagement", "COUNTED"]

Row = dict[str, Any]

# Rows that count as events: all but engagement pings (reports include those rows only when a
# column below needs them: ``Column.engagement``).
COUNTED = "kind != 'engagement'"
ENGAGEMENT = "kind = 'engagement'"
# The people behind a number, for suppression: identified visitors, plus, for events a shop's
# server sent with no visitor (fulfilments, server-side transactions), their distinct orders.
PEOPLE = (f"uniq{{exact}}If(visitor_id, visitor_id != 0 AND {COUNTED}{{also}}) "
          f"+ uniq{{exact}}If(order_id, visitor_id = 0 AND order_id != ''{{also}})")


@dataclass(frozen=True)
class Column:
    name: str
    sql: str  # over a group's events; `uniq` is exact for the small sets suppression judges
    visit_sql: str | None = None  # over the exit-page pass's per-visit rows (None: not available there)
    event_group_sql: str | None = None  # grouped by an event property, when that needs another aggregate
    perturbed: bool = False  # a count of people or events: moved by its cell's noise
    engagement: bool = False  # computed over engagement rows too (the query then reads them)


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    needs: tuple[str, ...]
    compute: Callable[[Row], Any]
    count: bool = False  # an integer count: rounded by the client's rounding
    visit_level: bool = False  # needs whole visits: breakdowns by visit:* properties only
    kpi: bool = True  # a card on the dashboard
    # an average of a few people's values discloses them: the column counting those people; the
    # metric is shown only when it reaches the client's k
    support: str | None = None


def _ratio(numerator: str, denominator: str, scale: float = 1.0, digits: int = 2) -> Callable[[Row], Any]:
    def compute(row: Row) -> Any:
        base = row.get(denominator) or 0
        value = float(row.get(numerator) or 0) * scale / base if base else 0
        return round(value, digits) if digits else round(value)

    return compute


def _get(name: str) -> Callable[[Row], Any]:
    return lambda row: row.get(name, 0) or 0


def _seconds(ms: str, people: str) -> Callable[[Row], Any]:
    return lambda row: round(int(row.get(ms) or 0) / 1000 / row[people]) if row.get(people) else None


def _money(name: str) -> Callable[[Row], Any]:
    return lambda row: round(float(Decimal(row.get(name, 0) or 0)), 2)


_COLUMNS = [
    Column("visitors", f"uniqIf(visitor_id, visitor_id != 0 AND {COUNTED})", visit_sql="uniq(visitor_id)", perturbed=True),
    Column("people", PEOPLE.format(exact="", also=""), visit_sql="uniq(visitor_id)"),
    # visits that started in the group; grouped by an event property (a page, an event name), a
    # visit counts in every row it touched
    Column("visits", "countIf(visit_event = 1)", visit_sql="count()", event_group_sql=f"uniqIf(session_id, session_id != 0 AND {COUNTED})",
           perturbed=True),
    Column("pageviews", "countIf(kind = 'pageview')", visit_sql="sum(pv)", perturbed=True),
    Column("events", f"countIf({COUNTED})", perturbed=True),  # every kind: pageviews, custom events, transactions, fulfilments, contacts
    Column("transactions", "countIf(kind = 'transaction')", perturbed=True),
    Column("revenue", "sumIf(revenue, kind = 'transaction')"),
    Column("fulfilments", "countIf(kind = 'fulfilment')", perturbed=True),
    Column("contacts", "countIf(kind = 'contact')", perturbed=True),
    Column("buyers", "uniqIf(visitor_id, visitor_id != 0 AND kind = 'transaction')", perturbed=True),
    Column("visit_pageviews", "countIf(kind = 'pageview' AND session_id != 0)", visit_sql="sum(pv)", perturbed=True),
    Column("engaged_visits", "countIf(visit_pageview = 2)", visit_sql="countIf(pv > 1)", perturbed=True),  # not bounces
    # (an engagement ping extends its visit to when the page was left: time on the last page)
    Column("visit_seconds", "sum(visit_seconds)", visit_sql="sum(duration)", engagement=True),
    # Plausible's scroll depth: each visitor's deepest scroll on the group's pages, averaged (the
    # report queries count it in two GROUP BYs instead, the same numbers faster: query._scroll_depth)
    Column("scroll_depth", f"arrayAvg(tupleElement(maxMapIf([visitor_id], [scroll_depth], {ENGAGEMENT} AND visitor_id != 0), 2))",
           engagement=True),
    Column("engaged_ms", f"sumIf(engaged_ms, {ENGAGEMENT})", engagement=True),
    Column("engagers", f"uniqIf(visitor_id, {ENGAGEMENT} AND visitor_id != 0)", engagement=True),
    Column("cell_key", CELL_KEY_SQL, visit_sql=VISIT_CELL_KEY_SQL),  # only when the client's counts are perturbed
]
COLUMNS: dict[str, Column] = {c.name: c for c in _COLUMNS}

_METRICS = [
    Metric("visitors", "Unique visitors", ("visitors",), _get("visitors"), count=True),
    Metric("visits", "Visits", ("visits",), _get("visits"), count=True),
    Metric("pageviews", "Pageviews", ("pageviews",), _get("pageviews"), count=True),
    Metric("views_per_visit", "Views per visit", ("visit_pageviews", "visits"), _ratio("visit_pageviews", "visits")),
    Metric("bounce_rate", "Bounce rate %", ("visits", "engaged_visits"),
           lambda row: round((row["visits"] - row["engaged_visits"]) * 100 / row["visits"]) if row.get("visits") else 0, visit_level=True),
    Metric("visit_duration", "Visit duration (s)", ("visits", "visit_seconds"), _ratio("visit_seconds", "visits", digits=0), visit_level=True),
    Metric("events", "Events", ("events",), _get("events"), count=True),
    Metric("transactions", "Transactions", ("transactions",), _get("transactions"), count=True),
    Metric("revenue", "Revenue", ("revenue",), _money("revenue")),
    Metric("average_order_value", "Average order value", ("revenue", "transactions"), _ratio("revenue", "transactions")),
    Metric("conversion_rate", "Conversion rate %", ("buyers", "visitors"), _ratio("buyers", "visitors", scale=100, digits=1)),
    Metric("fulfilments", "Fulfilments", ("fulfilments",), _get("fulfilments"), count=True),
    Metric("contacts", "Contacts", ("contacts",), _get("contacts"), count=True),
    # Plausible's names for a goal's money: the revenue of its conversions, per conversion
    Metric("total_revenue", "Total revenue", ("revenue",), _money("revenue"), kpi=False),
    Metric("average_revenue", "Average revenue", ("revenue", "transactions"), _ratio("revenue", "transactions"), kpi=False),
    # Plausible's engagement metrics, from its tracker's engagement pings (and spii's)
    Metric("scroll_depth", "Scroll depth %", ("scroll_depth", "engagers"),
           lambda row: round(float(row["scroll_depth"])) if row.get("engagers") else None, kpi=False, support="engagers"),
    Metric("time_on_page", "Time on page (s)", ("engaged_ms", "engagers"), _seconds("engaged_ms", "engagers"), kpi=False,
           support="engagers"),
]
METRICS: dict[str, Metric] = {m.name: m for m in _METRICS}


def columns_for(metrics: list[str], perturbed: bool) -> list[str]:
    """The columns to compute for ``metrics``; visitors and people always (suppression), the
    cell key when the counts are perturbed. In catalogue order."""
    wanted = {"visitors", "people", *(c for m in metrics for c in METRICS[m].needs)}
    if perturbed:
        wanted.add("cell_key")
    return [name for name in COLUMNS if name in wanted]


def reads_engagement(columns: list[str]) -> bool:
    """Whether these columns need the engagement rows (every other report leaves them out)."""
    return any(COLUMNS[c].engagement for c in columns)


def available_for_visits(metric: str) -> bool:
    """A metric the exit-page pass (one row per visit) can give."""
    return all(COLUMNS[c].visit_sql is not None for c in METRICS[metric].needs)
