"""Report queries as ClickHouse SQL over spii.events, always scoped to one client.

Every value from a request reaches ClickHouse as a bound parameter ({name:Type}); only names
from the allow-lists below (properties, metrics, intervals) are ever written into SQL text.
Visits were assigned at ingest (ingest/sessions.py), so visit metrics are one GROUP BY
session_id away instead of a window function over the whole range.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.field_error import FieldError
from collector.reports.catalogue import COLUMNS, COUNTED, ENGAGEMENT, PEOPLE, columns_for, reads_engagement
from collector.reports.periods import Period

__all__ = [
    "PROPERTIES", "BREAKDOWN_GROUPS", "BUCKETS", "Filter", "QueryError",
    "parse_filters", "Scope", "event_query", "grouped_event_query", "grouped_complement_query", "grouped_rows", "visit_query", "distinct_visitors_query", "complement_query", "label_key",
]


class QueryError(FieldError):
    """A bad report parameter (metric, filter, property, ...)."""


# Plausible property name -> column (or expression) of spii.events.
PROPERTIES: dict[str, str] = {
    "event:page": "path",
    "event:name": "name",
    "event:kind": "toString(kind)",
    "event:hostname": "host",
    "event:currency": "currency",
    "event:fulfilment_status": "fulfilment_status",
    "event:contact_channel": "contact_channel",
    "visit:entry_page": "entry_page",
    "visit:exit_page": "exit_page",  # known per visit only: VISIT_LABELS
    "visit:entry_page_hostname": "entry_page_hostname",
    "visit:exit_page_hostname": "exit_page_hostname",
    "visit:source": "referrer_source",
    "visit:channel": "channel",  # derived in ClickHouse from the source and UTM tags: collector/ingest/channels.py
    "visit:referrer": "referrer_host",
    "visit:utm_source": "utm_source",
    "visit:utm_medium": "utm_medium",
    "visit:utm_campaign": "utm_campaign",
    "visit:utm_term": "utm_term",
    "visit:utm_content": "utm_content",
    "visit:country": "country",
    "visit:region": "region",
    "visit:postcode_area": "postcode_area",
    "visit:device": "device",
    "visit:browser": "browser",
    "visit:browser_version": "browser_version",
    "visit:os": "os",
    "visit:os_version": "os_version",
}
# The visit properties known only once a visit is whole, by their group: each visit is reduced to
# one row first, labelled by its last pageview's path or host, or its first pageview's host. The
# last pageview is the latest, then the highest numbered in the visit (two can share a millisecond).
_LAST, _FIRST = "argMaxIf({}, (ts, visit_pageview), kind = 'pageview')", "argMinIf({}, (ts, visit_pageview), kind = 'pageview')"
VISIT_LABELS = {"exit_page": _LAST.format("path"), "exit_page_hostname": _LAST.format("host"),
                "entry_page_hostname": _FIRST.format("host")}
VISIT_ONLY = {prop for prop, column in PROPERTIES.items() if column in VISIT_LABELS}
# A breakdown's group where it differs from the property's column (filters still compare the
# column): only the events of a visit have an entry page, and the others' label is NULL, no row
# of any answer. So the entry pages are counted over the same rows as the other stored visit
# columns, and with them in one pass (reports/together.py).
BREAKDOWN_GROUPS = {"visit:entry_page": "if(session_id != 0, entry_page, NULL)"}
# Properties whose stored column an exact-value filter compares directly (the enum against the
# names given: an unknown name matches nothing): toString(kind) per row cost 70 ms of a 30-day
# scan at 10M events, and each kind-filtered dashboard panel (top pages, fulfilments, contacts)
# and its complement rule's pass paid it.
_IN_COLUMNS = {"event:kind": "kind"}
EVENT_GROUPS = {expr for prop, expr in PROPERTIES.items() if prop.startswith("event:")}
_PROP_NAME = re.compile(r"^[A-Za-z0-9_.:\- ]{1,64}$")

BUCKETS = {
    "hour": "toStartOfHour(ts)",
    "day": "day",  # the stored toDate(ts) (sql/007_day.sql)
    "week": "toMonday(ts)",
    "month": "toStartOfMonth(ts)",
}


def label_key(prop: str) -> str:
    """The result key of a breakdown row: 'visit:source' -> 'source', 'event:props:plan' -> 'plan'."""
    return prop.rsplit(":", 1)[-1]


@dataclass(frozen=True)
class Filter:
    prop: str
    op: str  # '==', '!=', '~'
    values: tuple[str, ...]


class GoalGroup(str):
    """``event:goal`` as a group: each event counts once under every goal it meets
    (``arrayJoin`` of ``names``, the array of the goals it meets)."""

    names: str


def goal_condition(goal: Any, params: dict[str, Any], tag: str) -> str:
    """SQL true for the events that meet ``goal`` (tenants.Goal): a custom event (or a
    transaction, contact...) by name, in the revenue currency when given; or a pageview of a
    path pattern."""
    if goal.event is not None:
        params[f"{tag}_event"] = goal.event
        condition = f"(kind != 'pageview' AND name = {{{tag}_event:String}}"
        if goal.revenue:
            params[f"{tag}_currency"] = goal.revenue
            condition += f" AND currency = {{{tag}_currency:String}}"
        return condition + ")"
    params[f"{tag}_page"] = _like(goal.page)
    return f"(kind = 'pageview' AND path LIKE {{{tag}_page:String}})"


def goal_group(goals: list[Any], params: dict[str, Any], tag: str) -> GoalGroup:
    items = []
    for n, goal in enumerate(goals):
        params[f"{tag}{n}_name"] = goal.name
        items.append(f"if({goal_condition(goal, params, f'{tag}{n}')}, {{{tag}{n}_name:String}}, '')")
    names = f"arrayFilter(x -> x != '', [{', '.join(items)}])" if items else "CAST([], 'Array(String)')"
    group = GoalGroup(f"arrayJoin({names})")
    group.names = names
    return group


def label_in(group: str, param: str) -> str:
    """SQL true for the rows whose label of ``group`` is one of ``{param}``."""
    if isinstance(group, GoalGroup):
        return f"hasAny({group.names}, {{{param}:Array(String)}})"
    return f"toString({group}) IN {{{param}:Array(String)}}"


def property_expr(prop: str, params: dict[str, Any], tag: str, goals: list[Any] | None = None) -> str:
    if prop in PROPERTIES:
        return PROPERTIES[prop]
    if prop == "event:goal":
        return goal_group(goals or [], params, tag)
    if prop.startswith("event:props:"):
        name = prop[len("event:props:"):]
        if not _PROP_NAME.match(name):
            raise QueryError("property", "custom property names are 1-64 letters, digits or _.:- ")
        params[f"{tag}_prop"] = name
        return f"props[{{{tag}_prop:String}}]"
    if prop in ("visit:city", "visit:city_name"):
        raise QueryError("property", f"{prop}: spii keeps no city, on purpose (a city is too small an area to report on)")
    raise QueryError("property", f"unknown property {prop!r}; one of {', '.join(PROPERTIES)}, event:goal or event:props:NAME")


def parse_filters(text: str | None) -> list[Filter]:
    """Plausible v1 filter syntax: ``visit:source==Google|Bing;event:page!=/admin/**``,
    operators == (is), != (is not), ~ (contains); * and ** are wildcards in == and !=."""
    if not text:
        return []
    filters = []
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        if saved := re.match(r"^segment\s*==\s*([^|;]+)$", part):  # a saved segment: its filters (Stats.scope expands it)
            filters.append(Filter("segment", "==", (saved.group(1).strip(),)))
            continue
        if part.startswith("segment"):
            raise QueryError("filters", "segment==NAME: one segment, by its name or id")
        match = re.match(r"^([a-z_]+:[A-Za-z0-9_:.\- ]+?)\s*(==|!=|~)\s*(.*)$", part)
        if not match:
            raise QueryError("filters", "expected property==value, property!=value or property~value")
        prop, op, raw = match.groups()
        values = tuple(v.strip() for v in raw.split("|"))
        if not all(values) or len(values) > 100:
            raise QueryError("filters", "1-100 non-empty values separated by |")
        if prop in VISIT_ONLY:
            raise QueryError("filters", f"{prop} cannot be filtered on; break down by it instead")
        filters.append(Filter(prop, op, values))
    if len(filters) > 20:
        raise QueryError("filters", "at most 20 filters")
    return filters


def _like(value: str) -> str:
    """Plausible glob -> LIKE pattern: ** any characters, * any except '/'."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("**", "%").replace("*", "%")


def _goal_filter(f: Filter, goals: list[Any], params: dict[str, Any], tag: str) -> str:
    """``event:goal`` filters: the events that meet the goals named (or, with ~, whose names
    contain the text)."""
    if f.op == "~":
        wanted = [g for g in goals if any(v.lower() in g.name.lower() for v in f.values)]
    else:
        unknown = [v for v in f.values if not any(g.name == v for g in goals)]
        if unknown:
            raise QueryError("filters", f"no goal {unknown[0]!r}: one of {', '.join(g.name for g in goals) or '(none set)'}")
        wanted = [g for g in goals if g.name in f.values]
    condition = " OR ".join(goal_condition(g, params, f"{tag}_{n}") for n, g in enumerate(wanted)) or "0"
    return f"NOT ({condition})" if f.op == "!=" else f"({condition})"


def expand_segments(filters: list[Filter], saved: dict[str, str]) -> list[Filter]:
    """``segment==NAME`` filters replaced by the saved segment's own (``saved``: name or id ->
    its filters); QueryError naming the field for a segment the client has not saved."""
    out: list[Filter] = []
    for f in filters:
        if f.prop != "segment":
            out.append(f)
        elif (text := saved.get(f.values[0])) is None:
            raise QueryError("filters", f"no segment {f.values[0]!r}: one of {', '.join(sorted(saved)) or '(none saved)'}")
        else:
            out += parse_filters(text)
    return out


def filter_sql(filters: list[Filter], params: dict[str, Any], goals: list[Any] | None = None, tag: str = "f") -> list[str]:
    clauses = []
    for n, f in enumerate(filters):
        if f.prop == "event:goal":
            clauses.append(_goal_filter(f, goals or [], params, f"{tag}g{n}"))
            continue
        if f.prop == "segment":
            raise QueryError("filters", "a segment inside a segment")  # (Stats.scope expands the request's own)
        expr = property_expr(f.prop, params, f"{tag}{n}")
        name = f"{tag}{n}_v"
        if f.op == "~":
            params[name] = [v.lower() for v in f.values]
            clause = f"arrayExists(v -> positionCaseInsensitive({expr}, v) > 0, {{{name}:Array(String)}})"
        elif any("*" in v for v in f.values):
            params[name] = [_like(v) for v in f.values]
            clause = f"arrayExists(v -> {expr} LIKE v, {{{name}:Array(String)}})"
        else:
            params[name] = list(f.values)
            clause = f"{_IN_COLUMNS.get(f.prop, expr)} IN {{{name}:Array(String)}}"
        clauses.append(f"NOT ({clause})" if f.op == "!=" else clause)
    return clauses


@dataclass
class Scope:
    """One client, one period, the request's filters (+ rows excluded from every report)."""

    client_id: str
    period: Period
    filters: list[Filter] = field(default_factory=list)
    exclusions: list[str] = field(default_factory=list)  # SQL conditions, e.g. restricted subjects
    bound: dict[str, Any] = field(default_factory=dict)  # parameters of the group expression
    # The collector's clock: rows older than the client's retention are never reported, even
    # before ClickHouse's TTL merge has removed them; flags expire by it too.
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    retention_days: int = 3650
    record_secret: int | None = None  # set: counts are perturbed by cell key (reports/perturb.py)
    goals: list[Any] = field(default_factory=list)  # the client's goals (tenants.Goal), for event:goal
    conditions: list[str] = field(default_factory=list)  # compiled Stats API v2 filters (their values in ``bound``)
    imports: bool = False  # imported history is added where it can answer (reports/imported.py)

    def where(self, params: dict[str, Any], engagement: bool = False) -> str:
        """The scope's conditions; the rows of engagement pings only with ``engagement``."""
        not_before = self.now - timedelta(days=self.retention_days)
        params.update(self.bound, client=self.client_id, first=self.period.first, last=self.period.last,
                      now=self.now.strftime("%Y-%m-%d %H:%M:%S"), not_before_ms=int(not_before.timestamp() * 1000))
        clauses = ["client_id = {client:String}", "day BETWEEN {first:Date} AND {last:Date}"]
        if self.period.first <= not_before.date():  # (later days are wholly inside retention: no timestamp to read)
            clauses.append("ts >= fromUnixTimestamp64Milli({not_before_ms:Int64})")
        if not engagement:
            clauses.append(COUNTED)
        clauses += filter_sql(self.filters, params, self.goals)
        clauses += self.conditions
        clauses += self.exclusions
        return " AND ".join(clauses)


def event_query(
    scope: Scope, group: str | None, labels: list[str] | None = None, combine: bool = False, metrics: list[str] | None = None,
    exact_people: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The catalogue's columns for ``metrics`` (reports/catalogue.py) per ``group`` expression,
    or in total; ``labels`` keeps only the rows with those labels, and ``combine`` totals them
    into one row (the (other) row). ``exact_people`` adds the rows' exact distinct people
    (what distinct_visitors_query counts) in the same pass."""
    params: dict[str, Any] = {}
    columns = columns_for(metrics or [], scope.record_secret is not None)
    engagement = reads_engagement(columns)
    where = scope.where(params, engagement)
    select = _select(_in_one_pass(columns), group is not None and group in EVENT_GROUPS)
    if exact_people:
        select += f", {PEOPLE.format(exact='Exact', also='')} AS exact_people"
    if group is not None and labels is not None:
        params["labels"] = labels
        where += f" AND {label_in(group, 'labels')}"
    if group is None or combine:
        sql = f"SELECT {select} FROM spii.events WHERE {where}"
        return (_with_scroll_depth(sql, _scroll_depth(where)) if SCROLL_DEPTH in columns else sql), params
    sql = f"SELECT toString({group}) AS label, {select} FROM spii.events WHERE {where} GROUP BY label{_having(engagement)}"
    if SCROLL_DEPTH in columns:
        scrolled = _scroll_depth(where, f"toString({group}) AS label, ", ("label",), "label, visitor_id")
        sql = _with_scroll_depth(sql, scrolled, "counted.label = scrolled.label")
    return sql, params


SCROLL_DEPTH = "scroll_depth"


def _in_one_pass(columns: list[str]) -> list[str]:
    """The columns counted in a report's pass over the events: all but the scroll depth."""
    return [c for c in columns if c != SCROLL_DEPTH]


def _scroll_depth(where: str, keys: str = "", names: tuple[str, ...] = (), group_by: str = "visitor_id") -> str:
    """Plausible's scroll depth per row of a report (``keys``: the SELECT of its labels, named
    ``names``; none for a total; ``group_by``: each row's labels with the visitor): every
    visitor's deepest scroll on the row's pages, averaged. Two GROUP BYs, the deepest scroll per
    row and visitor and then the average per row, give the numbers of one pass's map of
    visitors per row (``maxMapIf``) at an eighth of its cost: at 10M events with one engagement
    ping per pageview (9M pings), the Engagement panel's scroll depths took 512 ms against 4,364 ms."""
    deepest = (f"SELECT {keys}visitor_id, max(scroll_depth) AS deepest FROM spii.events "
               f"WHERE {where} AND {ENGAGEMENT} AND visitor_id != 0 GROUP BY {group_by}")
    by = f" GROUP BY {', '.join(names)}" if names else ""
    return f"SELECT {''.join(n + ', ' for n in names)}avg(deepest) AS {SCROLL_DEPTH} FROM ({deepest}){by}"


def _with_scroll_depth(sql: str, scrolled: str, on: str | None = None) -> str:
    """The rows of a report's pass (``sql``) with their scroll depth from ``scrolled`` joined
    ``on`` their labels (none: one row each, a total)."""
    joined = f"LEFT JOIN ({scrolled}) AS scrolled ON {on}" if on else f"CROSS JOIN ({scrolled}) AS scrolled"
    return f"SELECT counted.*, scrolled.{SCROLL_DEPTH} AS {SCROLL_DEPTH} FROM ({sql}) AS counted {joined}"


def _select(columns: list[str], by_event: bool) -> str:
    """The catalogue's SQL of ``columns``, as aggregated per event group or otherwise."""
    return ", ".join(f"{(COLUMNS[name].event_group_sql if by_event else None) or COLUMNS[name].sql} AS {name}" for name in columns)


def _having(engagement: bool) -> str:
    """With engagement rows read, a label (or total) only they have is no row of the report."""
    return f" HAVING countIf({COUNTED}) > 0" if engagement else ""


def grouped_event_query(scope: Scope, groups: list[str | None], metrics: list[str]) -> tuple[str, dict[str, Any]]:
    """``event_query`` for several ``groups`` of one scope (None: the total) in one pass, by
    GROUPING SETS: the same WHERE and the same aggregates over each group's rows, one scan.
    Each row names its group in ``grouped_by`` (see ``grouped_rows``); group i's label is
    ``g<i>``. The groups are all stored on each event or all event groups (their columns
    differ). When a column reads the engagement rows, every group's rows are read with them,
    and, as ``event_query`` does, a label (or a total) only they have is no row: every other
    column counts only events (catalogue.COUNTED), so it gives the same numbers either way."""
    params: dict[str, Any] = {}
    columns = columns_for(metrics, scope.record_secret is not None)
    engagement = reads_engagement(columns)
    by_event = {g in EVENT_GROUPS for g in groups if g is not None}
    if len(by_event) > 1 or any(isinstance(g, GoalGroup) for g in groups):
        raise ValueError("grouped_event_query: event groups and stored visit properties take different columns")
    where = scope.where(params, engagement)
    sql = (f"SELECT {_grouping_keys(groups)}{_select(_in_one_pass(columns), True in by_event)} FROM spii.events "
           f"WHERE {where} GROUP BY {_grouping_sets(groups)}{_having(engagement)}")
    if SCROLL_DEPTH not in columns:
        return sql, params
    # (a label is NULL in the sets that do not group by it, or for the entry page of no visit)
    keyed = [g for g in groups if g is not None]
    sets = ", ".join([f"(g{i}, visitor_id)" for i in range(len(keyed))] + (["(visitor_id)"] if None in groups else []))
    names = ("grouped_by", *(f"g{i}" for i in range(len(keyed)))) if keyed else ()
    scrolled = _scroll_depth(where, _grouping_keys(groups), names, f"GROUPING SETS ({sets})")
    same = " AND ".join(["counted.grouped_by = scrolled.grouped_by"]
                        + [f"isNotDistinctFrom(counted.g{i}, scrolled.g{i})" for i in range(len(keyed))]) if keyed else None
    return _with_scroll_depth(sql, scrolled, same), params


def grouped_rows(groups: list[str | None], rows: list[dict[str, Any]]) -> dict[str | None, dict[str, dict[str, Any]]]:
    """The rows of ``grouped_event_query`` per group: label -> that group's columns ('' is the
    total's label), as ``event_query`` would have answered for each group alone."""
    keyed = [g for g in groups if g is not None]
    out: dict[str | None, dict[str, dict[str, Any]]] = {g: {} for g in groups}
    for row in rows:
        bits = row.pop("grouped_by", (1 << len(keyed)) - 1)
        labels = [row.pop(f"g{i}") for i in range(len(keyed))]
        # standard GROUPING: bit 0 for an argument the row is grouped by (the first argument highest)
        by = [i for i in range(len(keyed)) if not bits >> (len(keyed) - 1 - i) & 1]
        if not by:
            out[None][""] = row
        elif labels[by[0]] is not None:  # (None: rows the group gives no label, as event_query's callers drop them)
            out[keyed[by[0]]][labels[by[0]]] = row
    return out


def _visits(scope: Scope, group: str, params: dict[str, Any], engagement: bool = False) -> str:
    """One row per visit: its visitor, pageviews, duration and label of ``group`` (VISIT_LABELS).
    Only the duration reads the visit's engagement pings (it runs to the last one: time on the
    last page), so they are read only with ``engagement`` (Plausible's tracker sends one per
    pageview: half of a site's rows); a visit of pings alone is no visit either way."""
    return (
        "SELECT session_id, any(visitor_id) AS visitor_id, countIf(kind = 'pageview') AS pv, "
        f"dateDiff('second', min(ts), max(ts)) AS duration, {VISIT_LABELS[group]} AS label "
        f"FROM spii.events WHERE {scope.where(params, engagement)} AND session_id != 0 GROUP BY session_id "
        f"HAVING countIf({COUNTED}) > 0"
    )


def visit_query(scope: Scope, group: str, metrics: list[str], labels: list[str] | None = None,
                combine: bool = False) -> tuple[str, dict[str, Any]]:
    """The catalogue's columns for ``metrics`` per label of a visit-only ``group`` (an exit page,
    an entry or exit host), each visit reduced to one row first (their ``visit_sql``);
    ``labels`` and ``combine`` as in event_query."""
    params: dict[str, Any] = {}
    columns = columns_for(metrics, scope.record_secret is not None)
    visits = _visits(scope, group, params, reads_engagement(columns))
    outer = ", ".join(f"{COLUMNS[name].visit_sql} AS {name}" for name in columns)
    only = ""
    if labels is not None:
        params["labels"] = labels
        only = " WHERE label IN {labels:Array(String)}"
    if combine:
        return f"SELECT {outer} FROM ({visits}){only}", params
    return f"SELECT label, {outer} FROM ({visits}){only} GROUP BY label", params


def distinct_visitors_query(scope: Scope, group: str, labels: list[str]) -> tuple[str, dict[str, Any]]:
    """Distinct identified visitors across the rows with these labels (for suppression)."""
    params: dict[str, Any] = {"labels": labels}
    if group in VISIT_LABELS:
        return f"SELECT uniqExact(visitor_id) FROM ({_visits(scope, group, params)}) WHERE label IN {{labels:Array(String)}}", params
    return (f"SELECT {PEOPLE.format(exact='Exact', also='')} FROM spii.events WHERE {scope.where(params)} "
            f"AND {label_in(group, 'labels')}"), params


def complement_query(scope: Scope, group: str | None, labels: list[str] | None = None,
                     combine: bool = False, sample: int = 1, outside: bool = False) -> tuple[str, dict[str, Any]]:
    """For the complement rule (reports/complement.py), in one pass: per label of ``group`` (or
    in total, label ''), exact people with the scope's filters (``inside``) and without them
    (``everyone``); ``labels`` keeps only those rows, ``combine`` takes them together as one.

    ``sample`` > 1 reads only the rows of one sample of the people (``sampled``); ``outside``
    counts instead the rows of a person that the filters leave out (``outside``: 0 when nobody
    is outside, with no distinct sets to count)."""
    params: dict[str, Any] = {}
    where, columns = _complement_parts(scope, params, sample, outside)
    if group is not None and labels is not None:
        params["complement_labels"] = labels
        where += f" AND {label_in(group, 'complement_labels')}"
    label = "''" if group is None or combine else f"toString({group})"
    grouped = "" if group is None or combine else " GROUP BY label"
    return f"SELECT {label} AS label, {columns} FROM spii.events WHERE {where}{grouped}", params


def _complement_parts(scope: Scope, params: dict[str, Any], sample: int = 1, outside: bool = False) -> tuple[str, str]:
    """(WHERE, columns) of the complement rule's pass: the rows without the scope's filters
    (of one sample of the people with ``sample`` > 1), and exact people with them (``inside``)
    and in all (``everyone``), or with ``outside`` the person rows the filters leave out.

    The sample is the visitors whose id is below 1/sample of the id space, and every order
    without a visitor (visitor id 0). Visitor ids are keyed hashes, so uniform, and follow the
    day in the table's sort key: the sample's rows lie together at the start of each day's,
    and ClickHouse skips the rest of each day instead of reading and testing every row."""
    unfiltered = Scope(scope.client_id, scope.period, [], scope.exclusions, scope.bound, now=scope.now,
                       retention_days=scope.retention_days, goals=scope.goals)
    where = unfiltered.where(params)
    if sample > 1:
        params["sample_below"] = 2**64 // int(sample)
        where += " AND visitor_id < {sample_below:UInt64}"
    matches = " AND ".join(filter_sql(scope.filters, params, scope.goals) + scope.conditions) or "1"
    if outside:
        return where, f"countIf(NOT ({matches}) AND (visitor_id != 0 OR order_id != '')) AS outside"
    inside = PEOPLE.format(exact="Exact", also=f" AND ({matches})")
    everyone = PEOPLE.format(exact="Exact", also="")
    return where, f"{inside} AS inside, {everyone} AS everyone"


def grouped_complement_query(scope: Scope, groups: list[str | None], sample: int = 1) -> tuple[str, dict[str, Any]]:
    """``complement_query`` of every label of several ``groups`` of one scope (None: the total)
    in one pass, by GROUPING SETS; its rows are read with ``grouped_rows``."""
    params: dict[str, Any] = {}
    where, columns = _complement_parts(scope, params, sample)
    return f"SELECT {_grouping_keys(groups)}{columns} FROM spii.events WHERE {where} GROUP BY {_grouping_sets(groups)}", params


def _grouping_keys(groups: list[str | None]) -> str:
    """Group i's label as ``g<i>`` and which group a row belongs to as ``grouped_by``."""
    keyed = [g for g in groups if g is not None]
    keys = "".join(f"toString({g}) AS g{i}, " for i, g in enumerate(keyed))
    return keys + (f"grouping({', '.join(f'g{i}' for i in range(len(keyed)))}) AS grouped_by, " if keyed else "")


def _grouping_sets(groups: list[str | None]) -> str:
    keyed = [g for g in groups if g is not None]
    return f"GROUPING SETS ({', '.join([f'(g{i})' for i in range(len(keyed))] + (['()'] if None in groups else []))})"
