"""`spii reports send|preview`: one client's e-mailed report now, through the running collector's
admin API (the collector holds the numbers and the mail server's settings)."""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

from collector.config import Settings
from collector.errors import UserError

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    reports = sub.add_parser("reports", help="e-mailed reports: send one now, or preview it")
    actions = reports.add_subparsers(dest="reports_cmd", required=True)
    for name, text in (("send", "send a client's report to its recipients now (again, if it was sent)"),
                       ("preview", "write a client's report as HTML without sending it")):
        p = actions.add_parser(name, parents=[common], help=text)
        p.add_argument("name", help="client name or id")
        p.add_argument("--kind", required=True, choices=["weekly", "monthly"])
        p.add_argument("--period", help="a day of the period, YYYY-MM-DD (default: the last closed week or month)")
        if name == "preview":
            p.add_argument("--out", required=True, help="the HTML file to write (its text part beside it, .txt)")
        p.add_argument("--server", help="collector URL (default SPII_SERVER_URL, else http://SPII_HOST:SPII_PORT)")
        p.add_argument("--token", dest="admin_token", help="admin token (default SPII_ADMIN_TOKEN or <data dir>/admin.token)")


def _day(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise UserError(f"--period {text!r}: expected a day, YYYY-MM-DD") from None


def run(args: argparse.Namespace, settings: Settings) -> int:
    from collector.commands.api import connect

    api = connect(args.server, args.admin_token, settings)
    period = _day(args.period)
    if args.reports_cmd == "send":
        result = api.post("/api/v1/admin/email/send", {"client": args.name, "kind": args.kind, **({"period": period} if period else {})})
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"sent {args.name}'s {args.kind} report of {result['period'][0]} to {result['period'][1]} to {result['sent']} recipient(s)")
        return 0
    query = {"client": args.name, "kind": args.kind, **({"period": period} if period else {})}
    html = api.call("GET", "/api/v1/admin/email/preview", query, raw=True)
    text = api.call("GET", "/api/v1/admin/email/preview", {**query, "format": "text"}, raw=True)
    out = Path(args.out)
    out.write_bytes(html)
    out.with_suffix(".txt").write_bytes(text)
    print(f"wrote {out} and {out.with_suffix('.txt')}")
    return 0
