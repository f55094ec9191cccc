"""`spii report CLIENT`: the one-page report fetched from the running collector's stats API, as a
terminal table (rich), JSON, CSV or one self-contained HTML file with inline SVG charts."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collector.csv_cells import csv_text
from collector.reports.periods import PERIOD_CHOICES

if TYPE_CHECKING:  # the command line imports this module for its parser: the rest loads when it runs
    from rich.console import Console

    from collector.commands.api import ApiClient
    from collector.config import Settings

__all__ = ["add_parser", "fetch_overview", "to_csv", "to_table"]


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    report = sub.add_parser("report", parents=[common], help="a client's report from the running collector")
    report.add_argument("client", help="client id, name or domain")
    report.add_argument("--period", default="30d", choices=[p for p, _ in PERIOD_CHOICES])
    report.add_argument("--date", help="anchor date YYYY-MM-DD (default today, UTC)")
    report.add_argument("--format", default="table", choices=["table", "json", "csv", "html"])
    report.add_argument("--out", help="write to this file instead of stdout (--format csv --out FILE.zip: one CSV per panel)")
    report.add_argument("--server", help="collector URL (default SPII_SERVER_URL, else http://SPII_HOST:SPII_PORT)")
    report.add_argument("--token", help="analyst token (default: SPII_TOKEN, else the admin token)")


def fetch_overview(api: ApiClient, client: str, period: str, date: str | None, progress: bool = True) -> dict[str, Any]:
    from rich.console import Console
    from rich.progress import Progress

    from collector.reports.overview import build_overview, overview_calls

    steps = len(overview_calls(period, date)) + 2  # + the previous period and the receiving status
    with Progress(console=Console(stderr=True), transient=True, disable=not progress) as bar:
        task = bar.add_task("fetching report", total=steps)

        def fetch(endpoint: str, query: dict[str, str]) -> dict[str, Any]:
            return api.get(f"/api/v1/stats/{endpoint}", {"site_id": client, **query})

        return build_overview(fetch, {"name": client, "client_id": client}, period, date,
                              progress=lambda name: bar.update(task, advance=1, description=name))


def to_csv(overview: dict[str, Any]) -> str:
    """Long format: section, label, metric, value (empty value = suppressed)."""
    rows: list[list[Any]] = [["section", "label", "metric", "value"]]
    for metric, entry in overview["aggregate"]["results"].items():
        rows.append(["total", "", metric, "" if entry["value"] is None else entry["value"]])
    for point in overview["timeseries"]["results"]:
        for metric in ("visitors", "pageviews"):
            rows.append(["timeseries", point["date"], metric, "" if point.get(metric) is None else point[metric]])
    written = set()  # two panels of one property (pages, and their engagement) share their visitors
    for panel in overview["panels"]:
        for row in panel["results"]:
            for metric in panel["metrics"]:
                if (cell := (panel["property"], row[panel["key"]], metric)) not in written:
                    written.add(cell)
                    rows.append([*cell, row[metric]])
    return csv_text(rows)


def to_table(overview: dict[str, Any], console: Console) -> None:
    from rich.markup import escape
    from rich.table import Table

    from collector.reports.overview import KPIS, fmt, notes

    console.print(f"[bold]{overview['client']['name']}[/] · {overview['period_label']} · {overview['first']} – {overview['last']} (UTC)"
                  f" · rows under {overview['k']} visitors hidden")
    totals = Table(title="Totals", show_header=True)
    totals.add_column("metric")
    totals.add_column("value", justify="right")
    totals.add_column("vs previous", justify="right")
    for metric, label in KPIS:
        entry = overview["aggregate"]["results"][metric]
        change = entry.get("change")
        totals.add_row(label, fmt(entry["value"]), "" if change is None else f"{change:+d}%")
    console.print(totals)
    for note in notes(overview):
        console.print(escape(note), style="italic")
    for panel in overview["panels"]:
        if not panel["results"]:
            continue
        table = Table(title=panel["title"])
        table.add_column(panel["key"].replace("_", " "))
        for metric in panel["metrics"]:
            table.add_column(metric, justify="right")
        for row in panel["results"]:
            label = escape(str(row[panel["key"]] or "(none)"))  # a visitor's label is text, never rich markup
            table.add_row(f"[italic]{label}[/]" if row.get("other") else label, *(fmt(row[m]) for m in panel["metrics"]))
        if panel["hidden_rows"]:
            table.caption = f"{panel['hidden_rows']} rows hidden (fewer than {overview['k']} visitors)"
        console.print(table)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from collector.commands.api import connect
    from collector.reports.overview import render_html

    api = connect(args.server, args.token, settings, analyst=True)
    if args.format == "csv" and args.out and args.out.endswith(".zip"):  # the export: one CSV per panel
        query = {"site_id": args.client, "period": args.period, **({"date": args.date} if args.date else {})}
        Path(args.out).write_bytes(api.call("GET", "/api/v1/stats/export", query, raw=True))
        return 0
    overview = fetch_overview(api, args.client, args.period, args.date, progress=sys.stderr.isatty() or bool(args.out))
    if args.format == "table":
        console = Console(file=open(args.out, "w") if args.out else None, width=120 if args.out else None)  # noqa: SIM115
        to_table(overview, console)
        return 0
    text = {"json": lambda: json.dumps(overview, indent=2), "csv": lambda: to_csv(overview),
            "html": lambda: render_html(overview)}[args.format]()
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
