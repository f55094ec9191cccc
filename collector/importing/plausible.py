"""Plausible CE's CSV export (a ZIP of ``imported_<table>_<YYYYMMDD>_<YYYYMMDD>.csv`` files with
header rows; their columns are Plausible's ``lib/plausible/imported/csv_importer.ex``) as daily
aggregates in spii.imported, never in spii.events. An export is read and checked whole before
anything is stored, then stored in one insert: imported whole or not at all. A problem is one
line naming the file and its line."""

from __future__ import annotations

import csv
import io
import re
import secrets
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson

from collector.errors import UserError
from collector.privacy.url import referrer_host
from collector.store.clickhouse import Store

__all__ = ["ExportError", "TABLES", "read_export", "store_import", "list_imports", "delete_import"]

METRICS = ("visitors", "visits", "pageviews", "bounces", "visit_duration", "events")


class ExportError(UserError):
    """An export that cannot be imported: the message names the file and the line."""


@dataclass(frozen=True)
class Table:
    labels: dict[str, str]  # Stats API property -> the file's column holding its label ('total': none)
    metrics: dict[str, str]  # spii.imported's metric -> the file's column
    ignored: frozenset[str] = frozenset()  # the file's other known columns (spii keeps no city; time on page...)


_VISIT = {"visitors": "visitors", "visits": "visits", "pageviews": "pageviews", "bounces": "bounces", "visit_duration": "visit_duration"}
TABLES: dict[str, Table] = {
    "imported_visitors": Table({"total": ""}, _VISIT),
    "imported_sources": Table({"visit:source": "source", "visit:referrer": "referrer", "visit:utm_source": "utm_source",
                               "visit:utm_medium": "utm_medium", "visit:utm_campaign": "utm_campaign",
                               "visit:utm_content": "utm_content", "visit:utm_term": "utm_term"}, _VISIT),
    "imported_pages": Table({"event:page": "page"}, {"visitors": "visitors", "visits": "visits", "pageviews": "pageviews"},
                            frozenset(("hostname", "exits", "time_on_page", "scroll_depth", "pageleave_visitors", "active_visitors",
                                       "total_scroll_depth", "total_scroll_depth_visits", "total_time_on_page",
                                       "total_time_on_page_visits"))),
    "imported_entry_pages": Table({"visit:entry_page": "entry_page"}, {**_VISIT, "visits": "entrances"}),
    "imported_exit_pages": Table({"visit:exit_page": "exit_page"}, {**_VISIT, "visits": "exits"}),
    "imported_locations": Table({"visit:country": "country", "visit:region": "region"}, _VISIT, frozenset(("city",))),
    "imported_devices": Table({"visit:device": "device"}, _VISIT),
    "imported_browsers": Table({"visit:browser": "browser"}, _VISIT, frozenset(("browser_version",))),
    "imported_operating_systems": Table({"visit:os": "operating_system"}, _VISIT, frozenset(("operating_system_version",))),
    "imported_custom_events": Table({"event:name": "name"}, {"visitors": "visitors", "events": "events"},
                                    frozenset(("link_url", "path"))),
}
_NAME = re.compile(r"^(?:imported_)?([a-z_]+?)_(\d{8})_(\d{8})\.csv$")
_LOWER = {"visit:device"}  # Plausible's Desktop / Mobile / Tablet are spii's desktop / mobile / tablet


def _table_of(name: str, where: str) -> tuple[str, date, date]:
    match = _NAME.match(name)
    table = f"imported_{match[1]}" if match else ""
    if match is None or table not in TABLES:
        raise ExportError(f"{where}: not a file of a Plausible export (imported_<table>_<YYYYMMDD>_<YYYYMMDD>.csv, the tables "
                          f"{', '.join(t.removeprefix('imported_') for t in TABLES)})")
    try:
        first, last = date(int(match[2][:4]), int(match[2][4:6]), int(match[2][6:])), date(int(match[3][:4]), int(match[3][4:6]), int(match[3][6:]))
    except ValueError:
        raise ExportError(f"{where}: the dates in its name are not dates") from None
    return table, first, last


def _read_csv(text: str, table: str, where: str, rows: dict[tuple[date, str, str], list[int]]) -> tuple[date | None, date | None]:
    spec = TABLES[table]
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise ExportError(f"{where} line 1: no header row")
    header = [h.strip() for h in header]
    known = {"date", *spec.labels.values(), *spec.metrics.values(), *spec.ignored} - {""}
    unknown = [h for h in header if h not in known]
    if unknown:
        raise ExportError(f"{where} line 1: unknown column {unknown[0]!r} (a {table} file has {', '.join(sorted(known))})")
    needed = ["date", *(c for c in spec.labels.values() if c), "visitors"]
    missing = [c for c in needed if c not in header]
    if missing:
        raise ExportError(f"{where} line 1: missing column {missing[0]!r}")
    at = {name: i for i, name in enumerate(header)}
    first = last = None
    for number, record in enumerate(reader, 2):
        if not record:
            continue
        if len(record) != len(header):
            raise ExportError(f"{where} line {number}: {len(record)} values, the header has {len(header)}")
        try:
            day = date.fromisoformat(record[at["date"]])
        except ValueError:
            raise ExportError(f"{where} line {number}: date {record[at['date']][:20]!r} is not a date (YYYY-MM-DD)") from None
        counts = []
        for metric in METRICS:
            column = spec.metrics.get(metric)
            value = record[at[column]].strip() if column in at else ""
            if value in ("", "\\N"):
                counts.append(0)
            elif value.isdigit():
                counts.append(int(value))
            else:
                raise ExportError(f"{where} line {number}: {column} {value[:20]!r} is not a count")
        for dim, column in spec.labels.items():
            label = record[at[column]].strip() if column else ""
            if dim == "visit:referrer":
                label = referrer_host(label) or "" if label else ""
            elif dim in _LOWER:
                label = label.lower()
            sums = rows[(day, dim, label[:2000])]
            for i, value in enumerate(counts):
                sums[i] += value
        first = day if first is None or day < first else first
        last = day if last is None or day > last else last
    return first, last


def read_export(data: bytes, name: str) -> dict[str, Any]:
    """The export's daily rows ((day, dim, label) -> counts), its days and files; ExportError
    for anything that would make it half an import."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, OSError):
        raise ExportError(f"{name}: not a complete ZIP file") from None
    if not members:
        raise ExportError(f"{name}: holds no CSV file")
    rows: dict[tuple[date, str, str], list[int]] = defaultdict(lambda: [0] * len(METRICS))
    days: list[date] = []
    for member in members:
        base = member.filename.rsplit("/", 1)[-1]
        where = f"{name}: {base}"
        table, _, _ = _table_of(base, where)
        try:
            raw = archive.read(member)
        except (zipfile.BadZipFile, OSError, EOFError):
            raise ExportError(f"{where}: damaged (the ZIP file is truncated or corrupt)") from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ExportError(f"{where}: not UTF-8 text") from None
        first, last = _read_csv(text, table, where, rows)
        days += [d for d in (first, last) if d is not None]
    if not rows:
        raise ExportError(f"{name}: its files hold no rows")
    return {"rows": dict(rows), "first": min(days), "last": max(days), "files": len(members)}


def store_import(store: Store, client_id: str, source: str, file: str, export: dict[str, Any]) -> dict[str, Any]:
    """Store an export read by ``read_export`` in one insert, then its record; both or neither."""
    import_id = secrets.randbelow(10**12 - 10**11) + 10**11  # twelve digits, easy to type to `spii import delete`
    body = b"".join(orjson.dumps({"client_id": client_id, "import_id": import_id, "day": str(day), "dim": dim, "label": label,
                                  **dict(zip(METRICS, counts))}) + b"\n" for (day, dim, label), counts in export["rows"].items())
    store.insert_segment(body, f"import-{import_id}", table="spii.imported")
    record = {"client_id": client_id, "import_id": import_id, "source": source, "file": file[:200], "first_day": str(export["first"]),
              "last_day": str(export["last"]), "rows": len(export["rows"]), "imported_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")}
    try:
        store.insert_segment(orjson.dumps(record) + b"\n", f"import-record-{import_id}", table="spii.imports")
    except Exception:
        store.command(f"DELETE FROM {store.local_table('spii.imported')} WHERE import_id = {{id:UInt64}}", {"id": import_id})
        raise
    return {**record, "files": export["files"]}


def list_imports(store: Store, client_id: str) -> list[dict[str, Any]]:
    return [{**row, "first_day": str(row["first_day"]), "last_day": str(row["last_day"]), "imported_at": str(row["imported_at"])}
            for row in store.query_dicts("SELECT import_id, source, file, first_day, last_day, rows, imported_at FROM spii.imports "
                                         "WHERE client_id = {client:String} ORDER BY imported_at, import_id", {"client": client_id})]


def delete_import(store: Store, client_id: str, import_id: int) -> bool:
    """Remove an import's rows, then its record; False when the client has no such import."""
    params = {"client": client_id, "id": import_id}
    found = store.query("SELECT count() FROM spii.imports WHERE client_id = {client:String} AND import_id = {id:UInt64}", params)[0][0]
    if not found:
        return False
    for table in ("spii.imported", "spii.imports"):
        store.command(f"DELETE FROM {store.local_table(table)} WHERE client_id = {{client:String}} AND import_id = {{id:UInt64}}", params)
    return True
