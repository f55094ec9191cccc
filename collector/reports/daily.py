"""Closed days counted once: a dashboard's passes added up from spii.daily.

A cold dashboard's passes (reports/together.py) scan the period's events and build hash sets of
distinct visitors per row: 5 s at 10M events on two cores, 1.5 s of it the one pass over the
eleven stored visit columns and the entry pages. Those sets need not be built again for a
closed day. spii's key scheme makes a cookieless visitor id a keyed hash under one
epoch's key, and an epoch of a day or less lies within one UTC day, so such an id is on one day
only ("day-bound"): a period's distinct visitors are the sum of its days' distinct day-bound
ids, plus the distinct ids that can recur (a consented cookie's hash, an epoch longer than a
day), which are few and kept as sets. Every count is exact (``uniq`` over the events is
approximate past 65,536 per row); the other columns simply add up.

``roll`` writes a closed day of a client (one scan of that day) and records the day's row
count; ``family_query`` answers a pass (or one question) from the recorded days whose row count
is still the same, and from the events for the others (today, a day written before late events
came); ``page_rows`` answers all the questions of a page in one query (reports/together.py).
Which days still hold their rows is read from what was recorded and one count of their events
that the events table's key answers from its index (``_recorded_still``). It holds every group
of the dashboard and every column of its panels. The exit pages
(a visit's last page, known once the visit is whole) are held per day for day-bound visitors,
whose visits lie within their day, and as each day's part of every other visit
(spii.daily_visits), joined per visit when read. ``spii serve`` writes the closed days of each
big client's ready periods before counting them (reports/ready.py). An erasure deletes the
client's rows (``forget``): they are written again at the next round. A pass with filters (but
one kind of event) or restricted subjects scans as before, and so does a period holding an
operator's backfill (a row dated on another day than its key's: its visitor is on two days).

Measured with ``bench/rollups.py --sketch per-epoch`` and ``bench/reports.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from collector.privacy.keyring import IP, Epoch
from collector.reports.catalogue import COLUMNS, COUNTED, ENGAGEMENT, reads_engagement
from collector.reports.query import BREAKDOWN_GROUPS, BUCKETS, EVENT_GROUPS, PROPERTIES, Filter, Scope, grouped_rows

if TYPE_CHECKING:
    from collector.store.clickhouse import Store

__all__ = ["DAILY_GROUPS", "DAILY_COLUMNS", "EXIT", "EXIT_COLUMNS", "Daily", "Days", "day_bound_keys", "one_kind_group", "rolled_days"]

Row = dict[str, Any]

# The groups spii.daily holds, by their name there: the stored visit columns (the entry page as
# the breakdown groups it), the event properties of the dashboard's panels (pages, events,
# fulfilment statuses, contact channels), the day (the daily line) and the total (None).
DAILY_GROUPS: dict[str | None, str] = {
    **{PROPERTIES[p]: PROPERTIES[p] for p in ("visit:source", "visit:channel", "visit:referrer", "visit:utm_source", "visit:utm_medium",
                                              "visit:utm_campaign", "visit:postcode_area", "visit:country", "visit:region",
                                              "visit:device", "visit:browser", "visit:os", "event:page", "event:name",
                                              "event:fulfilment_status", "event:contact_channel")},
    BREAKDOWN_GROUPS["visit:entry_page"]: "entry_page",
    BUCKETS["day"]: "day",
    None: "total",
}
# The panels filtered to one kind of event (reports/overview.PANEL_FILTERS): their group over
# those events only, by its name in spii.daily.
KIND_GROUPS: dict[tuple[str, str], str] = {
    ("pageview", PROPERTIES["event:page"]): "pageview:path",
    ("fulfilment", PROPERTIES["event:fulfilment_status"]): "fulfilment:fulfilment_status",
    ("contact", PROPERTIES["event:contact_channel"]): "contact:contact_channel",
}
# A visitor id no other day can hold: a cookieless id (no consented cookie) under the key of an
# epoch that lies within one UTC day (day_bound_keys), on that day (keyring.make_key_id names it).
# An operator's backfill dates a row on another day than its key's (ingest/pipeline.py): its
# visitor is on two days, and a period holding that row is scanned (BACKDATED, ``Days``). (The
# day read from the key's name: LowCardinality, so once per key, not per row as toString(day).)
_KEY_DAY = "toDateOrZero(substring(key_id, 1, 10))"
DAY_BOUND = f"visitor_id != 0 AND cookie_hash = 0 AND key_id IN {{day_keys:Array(String)}} AND {_KEY_DAY} = day"
BACKDATED = f"visitor_id != 0 AND cookie_hash = 0 AND key_id IN {{every_day_key:Array(String)}} AND {_KEY_DAY} != day"
# The catalogue's columns spii.daily can give (others: the pass scans), as summed across days:
# each counts only events or is 0 on engagement pings, but the visit seconds, which a ping extends.
_SUMMED = ("visits", "pageviews", "events", "transactions", "revenue", "fulfilments", "contacts", "visit_pageviews",
           "engaged_visits", "visit_seconds", "engaged_ms")
# (over the stored columns named d_<column>: the merged ones take the catalogue's names)
_MERGED = {
    "visitors": "sum(d_visitors) + uniqExactMerge(d_lasting)",
    "people": "sum(d_visitors) + uniqExactMerge(d_lasting) + uniqExactMerge(d_orders)",
    "buyers": "sum(d_buyers) + uniqExactMerge(d_lasting_buyers)",
    "engagers": "sum(d_engagers) + uniqExactMerge(d_lasting_engagers)",
    # each engaged visitor's deepest scroll on the row's pages, averaged (query._scroll_depth):
    # a day-bound visitor's deepest is that day's, summed per day; the others' merged across days
    "scroll_depth": ("if(sum(d_engagers) + length(maxMapMerge(d_lasting_scroll).1) = 0, 0, "
                     "(sum(d_scroll_sum) + arraySum(maxMapMerge(d_lasting_scroll).2)) "
                     "/ (sum(d_engagers) + length(maxMapMerge(d_lasting_scroll).1)))"),
    "cell_key": "max(d_cell_key)",
    **{name: f"sum(d_{name})" for name in _SUMMED},
}
DAILY_COLUMNS = frozenset(_MERGED)
# the dimensions with a row per page a day (thousands): a page's pass groups each apart (Daily.page_rows)
_WIDE = frozenset(("path", "pageview:path", "entry_page"))
# One day's rows of a (day, dim, label), from the events and their pings: spii.daily's columns.
# ``counted``: its events (no pings); a label only pings have is no row of any report.
_ROLLED = (f"uniqExactIf(visitor_id, {DAY_BOUND} AND {COUNTED}) AS visitors, "
           f"uniqExactStateIf(visitor_id, visitor_id != 0 AND {COUNTED} AND NOT ({DAY_BOUND})) AS lasting, "
           "uniqExactStateIf(order_id, visitor_id = 0 AND order_id != '') AS orders, "
           f"uniqExactIf(visitor_id, {DAY_BOUND} AND kind = 'transaction') AS buyers, "
           f"uniqExactStateIf(visitor_id, visitor_id != 0 AND kind = 'transaction' AND NOT ({DAY_BOUND})) AS lasting_buyers, "
           f"uniqExactIf(visitor_id, {DAY_BOUND} AND {ENGAGEMENT}) AS engagers, "
           f"uniqExactStateIf(visitor_id, visitor_id != 0 AND {ENGAGEMENT} AND NOT ({DAY_BOUND})) AS lasting_engagers, "
           f"arraySum(maxMapIf([visitor_id], [scroll_depth], {DAY_BOUND} AND {ENGAGEMENT}).2) AS scroll_sum, "
           f"maxMapStateIf([visitor_id], [scroll_depth], visitor_id != 0 AND {ENGAGEMENT} AND NOT ({DAY_BOUND})) AS lasting_scroll, "
           f"{COLUMNS['cell_key'].sql} AS cell_key, "
           + ", ".join(f"{COLUMNS[name].sql} AS {name}" for name in _SUMMED)
           + f", countIf({COUNTED}) AS counted")
_STORED = ["visitors", "lasting", "orders", "buyers", "lasting_buyers", "engagers", "lasting_engagers", "scroll_sum", "lasting_scroll",
           "cell_key", *_SUMMED, "counted"]

# Exit pages: a visit's last page is known once the visit is whole. A day-bound visitor's visits
# lie within its day (a visit is one visitor's: ingest/sessions.py), so they are counted per day
# into spii.daily; the others' visits may run past midnight (a consented cookie's visit), so each
# day's part of each of them is kept in spii.daily_visits and the parts are joined per visit when
# a period is read. A part: its visitor, whether it is day-bound, pageviews, events (no pings),
# first and last time (pings too: time on the last page), last pageview's path and time (none: 0;
# the latest, then the highest numbered in the visit, as in query.VISIT_LABELS).
_PART = ("any(visitor_id) AS visitor, min({bound}) AS bound, countIf(kind = 'pageview') AS pv, countIf(" + COUNTED + ") AS counted, "
         "min(ts) AS first_ts, max(ts) AS last_ts, argMaxIf(path, (ts, visit_pageview), kind = 'pageview') AS exit_path, maxIf(ts, kind = 'pageview') AS exit_ts")
_PART_STORED = {"visitor_id": "visitor", "pageviews": "pv", "counted": "counted", "first_ts": "first_ts", "last_ts": "last_ts",
                "exit_path": "exit_path", "exit_ts": "exit_ts"}
# the columns the exit-page pass has (catalogue.Column.visit_sql) over whole visits, by their
# name in spii.daily
_EXIT_STORED = {"visitors": "uniqExactIf(visitor, bound)", "lasting": "uniqExactStateIf(visitor, NOT bound)",
                "cell_key": "max(visitor)", "visits": "count()", "pageviews": "sum(pv)", "visit_pageviews": "sum(pv)",
                "engaged_visits": "countIf(pv > 1)", "visit_seconds": "toUInt64(sum(duration))", "counted": "count()"}
EXIT = "exit_page"
_TABLES = ("spii.daily_days", "spii.daily", "spii.daily_visits")  # (which days are written: deleted first)
EXIT_COLUMNS = frozenset(name for name, column in COLUMNS.items() if column.visit_sql) & DAILY_COLUMNS
_EXIT_MERGED = {**_MERGED, "people": _MERGED["visitors"]}  # (a visit is an identified visitor's)


def _labels(dims: Iterable[str] | None = None) -> str:
    """The ARRAY JOIN of every group's (dim, label) of an event (of ``dims`` only, given them);
    NULL labels (the entry page of no visit) are no row."""
    labels = [(name, f"('{name}', toNullable(toString({group or repr('')})))") for group, name in DAILY_GROUPS.items()]
    labels += [(name, f"('{name}', if(kind = '{kind}', toNullable(toString({group})), NULL))") for (kind, group), name in KIND_GROUPS.items()]
    wanted = None if dims is None else set(dims)
    return f"[{', '.join(label for name, label in labels if wanted is None or name in wanted)}]"


def _one_kind(filters: list[Filter]) -> str | None:
    """The kind of event ``filters`` keep when they are just ``event:kind==<one kind>``."""
    if len(filters) == 1 and filters[0].prop == "event:kind" and filters[0].op == "==" and len(filters[0].values) == 1:
        return filters[0].values[0]
    return None


def one_kind_group(scope: Scope, group: str) -> str | None:
    """spii.daily's name of ``group`` over the one kind of event ``scope``'s filters keep (the
    panels of reports/overview.PANEL_FILTERS); None when it holds no such group."""
    kind = _one_kind(scope.filters)
    return None if kind is None or scope.conditions or scope.exclusions else KIND_GROUPS.get((kind, group))


def _rolled_select(where: str, dims: Iterable[str] | None = None) -> str:
    """Per (day, dim, label) of the events ``where`` selects (of ``dims`` only, given them): spii.daily's columns."""
    return (f"SELECT day, p.1 AS dim, assumeNotNull(p.2) AS label, {_ROLLED} FROM spii.events ARRAY JOIN {_labels(dims)} AS p "
            f"WHERE {where} AND p.2 IS NOT NULL GROUP BY day, dim, label")


def _added_rows(lead: str, period: str, dims: str, names: Iterable[str], unrolled: bool) -> str:
    """The rows to add up of the dimensions ``names`` (the Array parameter ``dims``) in the
    period of the parameters first/last/rolled/unrolled + ``period``: spii.daily's rows of its
    written days, and (``unrolled``) the same counted from the events of its other days (named:
    the events' key holds the day, so only their rows are read), each as (``lead``dim, label,
    d_<column>...)."""
    stored = ", ".join(f"{c} AS d_{c}" for c in _STORED)
    rows = (f"SELECT {lead}dim, label, {stored} FROM spii.daily WHERE client_id = {{client:String}} AND day BETWEEN "
            f"{{first{period}:Date}} AND {{last{period}:Date}} AND day IN {{rolled{period}:Array(Date)}} AND dim IN {{{dims}:Array(String)}}")
    if unrolled:
        where = f"client_id = {{client:String}} AND toDate(ts) IN {{unrolled{period}:Array(Date)}}"
        rows += f" UNION ALL SELECT {lead}dim, label, {stored} FROM ({_rolled_select(where, names)})"
    return rows


def _visit_parts(where: str, bound: str = DAY_BOUND) -> str:
    """Each visit's part (_PART) in the events ``where`` selects (their pings too)."""
    return f"SELECT session_id, {_PART.format(bound=bound)} FROM spii.events WHERE {where} AND session_id != 0 GROUP BY session_id"


def _exit_rows(parts: str) -> str:
    """Per exit page, spii.daily's exit columns (_EXIT_STORED) of the visits whose parts are
    ``parts``, each visit's parts joined first; a visit of pings alone is no visit."""
    return (f"SELECT label, {', '.join(f'{sql} AS {name}' for name, sql in _EXIT_STORED.items())} FROM ("
            "SELECT any(visitor) AS visitor, min(bound) AS bound, sum(pv) AS pv, dateDiff('second', min(first_ts), max(last_ts)) AS duration, "
            f"argMax(exit_path, exit_ts) AS label FROM ({parts}) GROUP BY session_id HAVING sum(counted) > 0) GROUP BY label")


def day_bound_keys(epochs: Iterable[Epoch], first: date, last: date) -> list[str]:
    """The ids of the IP-key epochs of ``first``..``last`` that lie within one UTC day: no
    visitor id under one of them is on another day (a longer epoch's ids are on each of its days)."""
    return sorted(e.key_id for e in epochs if e.purpose == IP and first <= e.start.date() <= last
                  and e.start.date() == (e.end - timedelta(microseconds=1)).date())


def _day_counts(store: Store, client_id: str, first: date, last: date) -> list[tuple[date, int, int | None, int | None]]:
    """Per day of ``first``..``last`` with events: their row count, and the row count and
    backdated rows spii.daily's rows of the day were written with (None: not written)."""
    return store.query(
        "SELECT e.day, e.n, d.events, d.backdated FROM (SELECT day, count() AS n FROM spii.events WHERE client_id = {client:String} "
        "AND day BETWEEN {first:Date} AND {last:Date} GROUP BY day) AS e LEFT JOIN (SELECT day, argMax(events, rolled_at) AS events, "
        "argMax(backdated, rolled_at) AS backdated FROM spii.daily_days WHERE client_id = {client:String} AND day BETWEEN {first:Date} "
        "AND {last:Date} GROUP BY day) AS d ON e.day = d.day SETTINGS join_use_nulls = 1", {"client": client_id, "first": first, "last": last})


DayRows = list[tuple[date, int, int | None, int | None]]  # (day, its events, as many when written, backdated): _day_counts


def _recorded_still(store: Store, client_id: str, spans: list[tuple[date, date]]) -> list[DayRows | None]:
    """``_day_counts``'s rows of each span (first, last), read without counting each day's
    events (at 100M events that count reads 80M rows, ~300 ms): what spii.daily_days recorded,
    then in one query each span's written days' events counted together (ranges of the
    table's key: whole granules are counted from its index) and its other days' counted per
    day. None for a span whose written days no longer hold as many rows as recorded: some day
    changed (count per day). (Rows are added to a closed day (late events) and deleted by an
    erasure, which deletes the client's days too (``forget``), or at the retention cut, whose
    periods are not added up: a day gaining as many rows as another lost cannot hide here.)"""
    params: dict[str, Any] = {"client": client_id, "first": min(a for a, _ in spans), "last": max(b for _, b in spans)}
    written = {day: (int(events), backdated) for day, events, backdated in store.query(
        "SELECT day, argMax(events, rolled_at), argMax(backdated, rolled_at) FROM spii.daily_days "
        "WHERE client_id = {client:String} AND day BETWEEN {first:Date} AND {last:Date} GROUP BY day", params)}
    counts = []
    for i, (first, last) in enumerate(spans):
        runs: list[list[date]] = []
        for day in sorted(d for d in written if first <= d <= last):
            if runs and runs[-1][1].toordinal() + 1 == day.toordinal():
                runs[-1][1] = day
            else:
                runs.append([day, day])
        for n, (start, end) in enumerate(runs):
            params[f"from{i}_{n}"], params[f"to{i}_{n}"] = start, end
        ranges = " OR ".join(f"toDate(ts) BETWEEN {{from{i}_{n}:Date}} AND {{to{i}_{n}:Date}}" for n in range(len(runs))) or "0"
        counts.append(f"SELECT {i} AS span, NULL AS day, count() FROM spii.events WHERE client_id = {{client:String}} AND ({ranges})")
        others = [date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1) if date.fromordinal(n) not in written]
        if others:  # (each read of the table costs ~3 ms before it reads a row)
            params[f"others{i}"] = others
            counts.append(f"SELECT {i}, toDate(ts) AS day, count() FROM spii.events WHERE client_id = {{client:String}} "
                          f"AND toDate(ts) IN {{others{i}:Array(Date)}} GROUP BY day")
    counted = store.query(" UNION ALL ".join(counts), params)
    out: list[DayRows | None] = []
    for i, (first, last) in enumerate(spans):
        mine = {day: recorded for day, recorded in sorted(written.items()) if first <= day <= last}
        if sum(n for span, day, n in counted if span == i and day is None) != sum(events for events, _ in mine.values()):
            out.append(None)
            continue
        out.append([(day, events, events, backdated) for day, (events, backdated) in mine.items() if events]
                   + [(day, n, None, None) for span, day, n in counted if span == i and day is not None and n])
    return out


@dataclass(frozen=True)
class Days:
    """A period's days as spii.daily holds them."""

    rolled: set[date]  # written, and still holding all their events
    unrolled: set[date]  # the other days with events
    inside: int  # the rows of each
    outside: int
    backdated: int  # rows of day-bound keys dated on another day (BACKDATED): as written, and counted on the others


def rolled_days(store: Store, client_id: str, first: date, last: date, every_day_key: list[str] | None = None,
                rows: list[tuple[date, int, int | None, int | None]] | None = None) -> Days:
    """The days of ``first``..``last`` as spii.daily holds them (from ``rows`` of _day_counts
    when given); the unrolled days' backdated rows are counted (their granules only) given
    ``every_day_key`` (day_bound_keys of all days)."""
    rows = _day_counts(store, client_id, first, last) if rows is None else rows
    rolled = {day for day, n, written, _ in rows if written == n}
    unrolled = {day for day, *_ in rows} - rolled
    inside = sum(n for day, n, *_ in rows if day in rolled)
    backdated = sum(b or 0 for day, _, _, b in rows if day in rolled)
    if unrolled and every_day_key:
        backdated += int(store.query(f"SELECT count() FROM spii.events WHERE client_id = {{client:String}} AND toDate(ts) IN "
                                     f"{{unrolled:Array(Date)}} AND {BACKDATED}",
                                     {"client": client_id, "unrolled": sorted(unrolled), "every_day_key": every_day_key})[0][0])
    return Days(rolled, unrolled, inside, sum(n for _, n, *_ in rows) - inside, backdated)


@dataclass
class Daily:
    """spii.daily of one store: written by ``roll``, read by ``family_query``. ``epochs``: the
    keyring's epochs (destroyed ones too: only their ids and times are read)."""

    store: Store
    epochs: Callable[[], Iterable[Epoch]] = field(default=lambda: ())
    # read from spii.daily only when the days it lacks hold at most this share of the rows:
    # those are counted per day and label from the events, dearer per row than the scan
    at_most_unrolled: float = 1 / 8
    # which days of a period are written, as last read (a page asks it of each pass: ~5 ms a
    # period at 10M events, more when a day changed since written: _recorded_still)
    seen_seconds: float = 2.0
    _seen: dict[tuple[str, date, date], tuple[float, Days]] = field(default_factory=dict, repr=False)
    _written: bool = field(default=False, repr=False)  # days written since the last ``compact``

    def _rolled_days(self, client_id: str, first: date, last: date) -> Days:
        key, now = (client_id, first, last), time.monotonic()
        seen = self._seen.get(key)
        if seen is None or now - seen[0] >= self.seen_seconds:
            # read with the period before it, which a dashboard compares it with (kept when no day of it changed)
            before = (date.fromordinal(max(1, 2 * first.toordinal() - last.toordinal() - 1)), date.fromordinal(max(1, first.toordinal() - 1)))
            rows, earlier = _recorded_still(self.store, client_id, [(first, last), before])
            if earlier is not None:
                self._seen[(client_id, *before)] = (now, rolled_days(self.store, client_id, *before, self._every_day_key(), earlier))
            if rows is None:
                rows = _day_counts(self.store, client_id, first, last)
            seen = self._seen[key] = (now, rolled_days(self.store, client_id, first, last, self._every_day_key(), rows))
        return seen[1]

    def _every_day_key(self) -> list[str]:
        return day_bound_keys(self.epochs(), date.min, date.max)

    def changed(self) -> None:
        """Days were written or deleted, or events erased: read which days are written afresh."""
        self._seen.clear()

    def roll(self, client_id: str, day: date, retention_days: int, written_before: bool = True) -> int:
        """Write ``client_id``'s counts of the closed ``day`` anew (``written_before``: delete
        what was written of it first); its events' row count."""
        params: dict[str, Any] = {"client": client_id, "day": day, "day_keys": day_bound_keys(self.epochs(), day, day)}
        if written_before:
            for table in _TABLES:
                self.store.command(f"DELETE FROM {self.store.local_table(table)} WHERE client_id = {{client:String}} AND day = {{day:Date}}",
                                   params)
        # counted before the rows are read: an event arriving in between makes the day look changed, never the reverse
        # (the day selected by the table's key, toDate(ts): only its granules are read)
        where = "client_id = {client:String} AND toDate(ts) = {day:Date}"
        events, backdated = self.store.query(f"SELECT count(), countIf({BACKDATED}) FROM spii.events WHERE {where}",
                                             {**params, "every_day_key": self._every_day_key()})[0]
        if events:
            self.store.command(f"INSERT INTO spii.daily (client_id, day, dim, label, {', '.join(_STORED)}, retention_days) "
                               f"SELECT {{client:String}}, day, dim, label, {', '.join(_STORED)}, {{retention:UInt16}} "
                               f"FROM ({_rolled_select(where)})", {**params, "retention": retention_days})
            # its day-bound visits by exit page, and its part of each other visit
            self.store.command(f"INSERT INTO spii.daily (client_id, day, dim, label, {', '.join(_EXIT_STORED)}, retention_days) "
                               f"SELECT {{client:String}}, {{day:Date}}, '{EXIT}', label, {', '.join(_EXIT_STORED)}, {{retention:UInt16}} "
                               f"FROM ({_exit_rows(_visit_parts(f'{where} AND {DAY_BOUND}'))})", {**params, "retention": retention_days})
            self.store.command(f"INSERT INTO spii.daily_visits (client_id, day, session_id, {', '.join(_PART_STORED)}, retention_days) "
                               f"SELECT {{client:String}}, {{day:Date}}, session_id, {', '.join(_PART_STORED.values())}, {{retention:UInt16}} "
                               f"FROM ({_visit_parts(f'{where} AND NOT ({DAY_BOUND})')})", {**params, "retention": retention_days})
        self._written = True
        self.store.command("INSERT INTO spii.daily_days (client_id, day, events, backdated, rolled_at, retention_days) VALUES "
                           "({client:String}, {day:Date}, {events:UInt64}, {backdated:UInt64}, now64(3), {retention:UInt16})",
                           {**params, "events": events, "backdated": backdated, "retention": retention_days})
        self.changed()
        return int(events)

    def roll_closed(self, client_id: str, first: date, last: date, retention_days: int, today: date | None = None) -> int:
        """Write the closed days of ``first``..``last`` that spii.daily lacks or holds stale (a
        day with events only); the days written."""
        today = today or datetime.now(UTC).date()
        todo = [(day, written is not None) for day, n, written, _ in _day_counts(self.store, client_id, first,
                                                                                min(last, today - timedelta(days=1))) if written != n]
        for day, written_before in todo:
            self.roll(client_id, day, retention_days, written_before)
        return len(todo)

    def compact(self) -> bool:
        """Merge what was written since the last time into one part per table (OPTIMIZE FINAL);
        whether there was any. Each day written is a part of its own until ClickHouse merges
        them, and a page reads every part of each of its dimensions: at 10M events a page took
        ~90 ms over the six parts a 60-day backfill left, 75-80 over one. It rewrites the
        tables, so ``spii serve`` compacts once per ready round that wrote days, not per day."""
        if not self._written:
            return False
        for table in _TABLES:
            self.store.command(f"OPTIMIZE TABLE {self.store.local_table(table)} FINAL")
        self._written = False
        return True

    def forget(self, client_id: str) -> None:
        """An erasure: the client's days are counted from the events until written again."""
        for table in _TABLES:
            self.store.command(f"DELETE FROM {self.store.local_table(table)} WHERE client_id = {{client:String}}", {"client": client_id})
        self.changed()

    def family_query(self, scope: Scope, groups: list[str | None], columns: list[str]) -> tuple[str, dict[str, Any]] | None:
        """``grouped_event_query``'s rows (grouped_by, g<i>, ``columns``) for ``groups`` of
        ``scope``, added up from spii.daily where it holds the days; None when it cannot give
        them (a column or group it lacks, filters but one kind of event, restricted subjects, a
        period at the retention cut, too few days written)."""
        if groups == [EXIT]:
            return self._exit_query(scope, columns)
        names = self._names(scope, groups, columns)
        return None if names is None else self._dims_query(scope, names, columns)

    def _names(self, scope: Scope, groups: list[str | None], columns: list[str]) -> list[str] | None:
        """``groups`` of ``scope`` by their names in spii.daily; None when it does not hold
        them all with ``columns`` (the checks that need no query)."""
        kind = _one_kind(scope.filters)
        names = [KIND_GROUPS.get((kind, g or "")) if kind else DAILY_GROUPS.get(g) for g in groups]
        if ((scope.filters and kind is None) or scope.conditions or scope.exclusions or not set(columns) <= DAILY_COLUMNS
                or None in names):
            return None
        if "visits" in columns and any(g in EVENT_GROUPS for g in groups):
            return None  # (grouped by an event property, a visit counts in each row it touched: distinct sessions)
        return [n for n in names if n is not None]

    def page_rows(self, asks: list[tuple[Scope, list[str | None], list[str]]]) -> dict[int, dict[str | None, dict[str, Row]]]:
        """The rows of several ``family_query``s of one client at once (a page's questions):
        per ask (by its index), ``grouped_rows`` of its groups with (at least) its columns; the
        asks spii.daily cannot give are left out. A dimension several asks read (the pages of
        the Engagement panel and of the complement rule's count) is read once, and the small
        panels together are one part. Each dimension with a row per page (_WIDE, the exit
        pages) is added up apart from the others, in a part of its own that reads and merges
        only its columns (at 10M events the panels' dimensions 45 ms apart, 60 all together),
        and the parts are read at once (Store.query_at_once: 56 ms, 70 as one UNION ALL)."""
        tags: dict[tuple[date, date], int] = {}  # a period's number in the query (-1: its days cannot be added up)
        params: dict[str, Any] = {}

        def tag(scope: Scope) -> int:
            span = (scope.period.first, scope.period.last)
            if span not in tags:
                days = self._days_to_add_up(scope)
                tags[span] = -1 if days is None else sum(1 for t in tags.values() if t >= 0)
                if days is not None:
                    i = tags[span]
                    params.update({"client": scope.client_id, f"first{i}": span[0], f"last{i}": span[1], f"rolled{i}": days[0],
                                   f"unrolled{i}": days[1]})
                    if days[1]:
                        params["day_keys"] = sorted({*params.get("day_keys", ()), *day_bound_keys(self.epochs(), *span)})
            return tags[span]

        held: dict[int, tuple[int, list[str | None], list[str]]] = {}  # ask -> (period, groups, their names)
        needs: dict[tuple[int, str], set[str]] = {}  # (period, dim) -> the columns its asks want
        exits: dict[int, tuple[Scope, set[str]]] = {}  # (one period's exit pages: their rows are selected by the scope's where)
        for n, (scope, groups, columns) in enumerate(asks):
            if scope.client_id != asks[0][0].client_id:
                continue  # (one client's page)
            names = [EXIT] if groups == [EXIT] and self._exits_held(scope, columns) else self._names(scope, groups, columns)
            if names is None or (i := tag(scope)) < 0 or (names == [EXIT] and exits and i not in exits):
                continue
            held[n] = (i, groups, names)
            if names == [EXIT]:
                exits.setdefault(i, (scope, set()))[1].update(columns)
            for name in names if names != [EXIT] else []:
                needs.setdefault((i, name), set()).update(columns)
        if not held:
            return {}
        branches: dict[str, tuple[dict[int, set[str]], set[str]]] = {}
        for (i, name), wanted in needs.items():
            dims, merged = branches.setdefault(name if name in _WIDE else "", ({}, set()))
            dims.setdefault(i, set()).add(name)
            merged.update(wanted)
        every = sorted(set().union(*needs.values(), *(wanted for _, wanted in exits.values())))
        selects = []
        for b, (dims, merged) in enumerate(branches.values()):
            parts = []
            for i, dim_names in dims.items():  # (the unwritten days counted per branch, of its own dimensions only)
                params[f"dims{i}_{b}"] = sorted(dim_names)
                parts.append(_added_rows(f"{i} AS period, ", str(i), f"dims{i}_{b}", dim_names, bool(params[f"unrolled{i}"])))
            select = ", ".join(f"{_MERGED[c] if c in merged else 'NULL'} AS {c}" for c in every)
            selects.append(f"SELECT period, dim, label, {select} FROM ({' UNION ALL '.join(parts)}) GROUP BY period, dim, label "
                           "HAVING sum(d_counted) > 0")
        for i, (exit_scope, wanted) in exits.items():
            written = f"client_id = {{client:String}} AND day BETWEEN {{first{i}:Date}} AND {{last{i}:Date}} AND day IN {{rolled{i}:Array(Date)}}"
            rows = self._exit_sources(exit_scope, sorted(wanted), params, written, f"unrolled{i}")
            select = ", ".join(f"{_EXIT_MERGED[c] if c in wanted else 'NULL'} AS {c}" for c in every)
            selects.append(f"SELECT {i} AS period, '{EXIT}' AS dim, label, {select} FROM ({rows}) GROUP BY label")
        # each (period, dim)'s rows with the columns its asks want (the others are NULL: a few thousand rows of a page's dims)
        asked = {**needs, **{(i, EXIT): columns for i, (_, columns) in exits.items()}}
        at = {key: (sorted(columns), itemgetter(*(3 + every.index(c) for c in sorted(columns)))) for key, columns in asked.items()}
        found: dict[tuple[int, str], dict[str, Row]] = {key: {} for key in at}
        for part in self.store.query_at_once([(select, params) for select in selects]):
            for row in part:
                key = (row[0], row[1])
                names, values = at[key]
                found[key][row[2]] = dict(zip(names, values(row))) if len(names) > 1 else {names[0]: values(row)}
        given: set[tuple[int, str]] = set()

        def rows_of(key: tuple[int, str]) -> dict[str, Row]:
            """(a dimension several asks read: each ask its own rows, which its question may be given as they are)"""
            if key in given:
                return {label: dict(row) for label, row in found[key].items()}
            given.add(key)
            return found[key]

        return {n: {g: rows_of((i, name)) for g, name in zip(groups, names)} for n, (i, groups, names) in held.items()}

    def left_out(self, scope: Scope, group: str) -> dict[str, int] | None:
        """The complement rule's count (reports/complement.py) of a panel filtered to one kind
        of event: per label of ``group``, the people its unfiltered events have that those of
        the kind do not, exact, added up like its rows (one query; the rule otherwise scans a
        sample of the events, then the labels that leaves unclear); None when not held."""
        inside = one_kind_group(scope, group)
        if inside is None:
            return None
        added_up = self._dims_query(scope, [inside, DAILY_GROUPS[group]], ["people"])
        if added_up is None:
            return None
        rows = grouped_rows(["inside", "everyone"], self.store.query_dicts(*added_up))
        everyone = rows["everyone"]
        return {label: int(everyone[label]["people"]) - int(row["people"]) for label, row in rows["inside"].items() if label in everyone}

    def _dims_query(self, scope: Scope, names: list[str], columns: list[str]) -> tuple[str, dict[str, Any]] | None:
        """``family_query``'s SQL for these dimensions of spii.daily (by their names there)."""
        days = self._days_to_add_up(scope)
        if days is None:
            return None
        rolled, unrolled = days
        params: dict[str, Any] = {"client": scope.client_id, "first": scope.period.first, "last": scope.period.last,
                                  "rolled": rolled, "unrolled": unrolled, "dims": names}
        if unrolled:
            params["day_keys"] = day_bound_keys(self.epochs(), scope.period.first, scope.period.last)
        parts = _added_rows("", "", "dims", names, bool(unrolled))
        keyed = [name for name in names if name != "total"]
        # back into grouped_event_query's shape: group i's label as g<i>, the others NULL, and
        # GROUPING's bits (1 for an argument the row is not grouped by, the first argument highest)
        keys = "".join(f"if(dim = '{name}', label, NULL) AS g{i}, " for i, name in enumerate(keyed))
        bits = " + ".join(f"if(dim = '{name}', 0, {1 << (len(keyed) - 1 - i)})" for i, name in enumerate(keyed)) or "0"
        select = ", ".join(f"{_MERGED[c]} AS {c}" for c in columns)
        sql = (f"SELECT {keys}toUInt64({bits}) AS grouped_by, {select} FROM ({parts}) "
               f"WHERE dim IN {{dims:Array(String)}} GROUP BY dim, label HAVING sum(d_counted) > 0")
        return sql, params

    def _days_to_add_up(self, scope: Scope) -> tuple[list[date], list[date]] | None:
        """The period's written days and its other days with events, or None when the others
        hold too many of its rows, a backfill dated rows in it (their visitors are on two days),
        or the retention cut runs through its first day (its rows are selected by time)."""
        if scope.period.first <= (scope.now - timedelta(days=scope.retention_days)).date():
            return None
        days = self._rolled_days(scope.client_id, scope.period.first, scope.period.last)
        if not days.rolled or days.backdated or days.outside > self.at_most_unrolled * (days.inside + days.outside):
            return None
        return sorted(days.rolled), sorted(days.unrolled)

    def _exits_held(self, scope: Scope, columns: list[str]) -> bool:
        """Whether spii.daily holds the exit pages of ``scope`` with ``columns`` (the checks that need no query)."""
        return not (scope.filters or scope.conditions or scope.exclusions) and set(columns) <= EXIT_COLUMNS

    def _exit_query(self, scope: Scope, columns: list[str]) -> tuple[str, dict[str, Any]] | None:
        """``family_query`` of the exit pages: the written days' day-bound visits added up, the
        other visits joined from their parts on the written days and their events on the others."""
        if not self._exits_held(scope, columns):
            return None
        days = self._days_to_add_up(scope)  # (after the checks that need no query)
        if days is None:
            return None
        params: dict[str, Any] = {"rolled": days[0], "unrolled": days[1]}
        written = "client_id = {client:String} AND day BETWEEN {first:Date} AND {last:Date} AND day IN {rolled:Array(Date)}"
        rows = self._exit_sources(scope, columns, params, written, "unrolled")
        select = ", ".join(f"{_EXIT_MERGED[c]} AS {c}" for c in columns)
        return f"SELECT label AS g0, toUInt64(0) AS grouped_by, {select} FROM ({rows}) GROUP BY label", params

    def _exit_sources(self, scope: Scope, columns: list[str], params: dict[str, Any], written: str, unrolled: str) -> str:
        """The exit pages' rows to add up (label, d_<column>): the day-bound visits of the days
        ``written`` selects in spii.daily, the other visits joined from their parts on those
        days and from their events on the days of the ``unrolled`` parameter."""
        parts = (f"SELECT session_id, {', '.join(f'{stored} AS {name}' for stored, name in _PART_STORED.items())}, toUInt8(0) AS bound "
                 f"FROM spii.daily_visits WHERE {written}")
        where = scope.where(params, reads_engagement(columns))  # (the same rows as visit_query's)
        if params[unrolled]:  # (their days named: only their granules are read)
            params["day_keys"] = sorted({*params.get("day_keys", ()), *day_bound_keys(self.epochs(), scope.period.first, scope.period.last)})
            parts += (f" UNION ALL SELECT session_id, {', '.join(_PART_STORED.values())}, bound FROM "
                      f"({_visit_parts(where + ' AND toDate(ts) IN {' + unrolled + ':Array(Date)}')})")
        stored = ", ".join(f"{name} AS d_{name}" for name in _EXIT_STORED)
        return (f"SELECT label, {stored} FROM spii.daily WHERE {written} AND dim = '{EXIT}' "
                f"UNION ALL SELECT label, {stored} FROM ({_exit_rows(parts)})")
