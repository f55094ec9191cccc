"""A report as a ZIP of CSV files: what the dashboard shows, one file per panel, with
suppression applied and what was hidden marked. Served by ``GET /api/v1/stats/export``, the
dashboard's Export button, and written by ``spii report --format csv --out FILE.zip``.

Each file has a header row. Breakdown files have one row per shown value, the ``(other)``
row when it is shown, and a last ``(hidden)`` row that counts the rows hidden under k (their
labels are never written). In the timeseries file, a bucket hidden under k has empty counts
and ``suppressed = true``."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from collector.csv_cells import csv_text

__all__ = ["export_zip", "export_files", "export_name", "build_export"]

HIDDEN = "(hidden)"


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")


def export_files(overview: dict[str, Any]) -> dict[str, str]:
    """File name -> CSV text, in a stable order."""
    files: dict[str, str] = {}
    totals = [["metric", "value", "change_vs_previous_period_percent", "suppressed"]]
    suppressed = overview["aggregate"].get("suppressed", False)
    for metric, entry in overview["aggregate"]["results"].items():
        value = entry.get("value")
        totals.append([metric, "" if value is None else value, "" if entry.get("change") is None else entry["change"],
                       str(value is None and suppressed).lower()])
    files["totals.csv"] = csv_text(totals)
    series = overview["timeseries"]["results"]
    metrics = [m for m in ("visitors", "pageviews") if series and m in series[0]]
    rows = [["date", *metrics, "suppressed"]]
    for point in series:
        rows.append([point["date"], *("" if point.get(m) is None else point[m] for m in metrics),
                     str(bool(point.get("suppressed"))).lower()])
    files["visitors_timeseries.csv"] = csv_text(rows)
    for panel in overview["panels"]:
        key, metrics = panel["key"], panel["metrics"]
        rows = [[key, *metrics, "row"]]
        for result in panel["results"]:
            rows.append([result[key], *(result[m] for m in metrics), "other" if result.get("other") else "shown"])
        if panel.get("hidden_rows"):
            rows.append([HIDDEN, *([""] * len(metrics)), f"{panel['hidden_rows']} rows under k={overview['k']}"])
        files[f"{_slug(panel['title'])}.csv"] = csv_text(rows)
    files["README.txt"] = (
        f"spii report for {overview['client']['name']} ({overview['client']['client_id']}), {overview['period_label']}, "
        f"{overview['first']} to {overview['last']} (UTC), generated {overview['generated']}.\n"
        f"Numbers computed from fewer than {overview['k']} visitors are not shown: hidden breakdown rows are counted in "
        f"the '(hidden)' row, hidden time buckets have empty counts and suppressed=true.\n"
        + (f"{overview['noise_note']}\n" if overview.get("noise_note") else "")
    )
    return files


def export_zip(overview: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in export_files(overview).items():
            info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))  # reproducible bytes for the same report
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text)
    return buffer.getvalue()


def export_name(overview: dict[str, Any]) -> str:
    return f"spii-{_slug(overview['client']['name'])}-{overview['period']}-{overview['last'] or 'empty'}.zip"


def build_export(stats: Any, ledger: Any, client: Any, period: str, date: str | None = None, filters: str = "",
                 imported: bool = False) -> tuple[bytes, str]:
    """The ZIP of one client's report, and its file name. With the client's differential privacy
    on, the export first spends its epsilon (BudgetSpent when the month's budget is gone,
    nothing spent), then releases exact visitor counts through OpenDP (reports/privacy_budget.py)."""
    from collector.reports.request import parse_request
    from collector.reports.overview import NOISE_NOTE, build_overview
    from collector.reports.page import PageFetch
    from collector.reports.privacy_budget import dp_release, require_opendp

    private = client.dp_budget is not None
    if private:
        require_opendp()  # before anything is spent
        ledger.spend(client.client_id, client.dp_export_epsilon, client.dp_budget)
        client = client.model_copy(update={"perturb": False})  # DP needs sensitivity 1: exact counts under its noise

    fetch = PageFetch(stats, client, parse_request)
    overview = build_overview(fetch, {"name": client.name, "client_id": client.client_id}, period, date, filters=filters, imported=imported,
                              expect=fetch.expect)
    if private:
        overview = dp_release(overview, client.dp_export_epsilon)
    elif client.perturb:
        overview["noise_note"] = NOISE_NOTE
    return export_zip(overview), export_name(overview)
