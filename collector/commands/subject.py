"""`spii subject export|erase|restrict|unrestrict|object` and `spii disclose`: thin clients of the
running collector's admin endpoints (embedded ClickHouse allows one process per store).

Export and erase walk the date range in windows of ``WINDOW_DAYS`` (one request each) so long
ranges show progress and no single request runs for minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the command line imports this module for its parser: the rest loads when it runs
    from collector.commands.api import ApiClient
    from collector.config import Settings

__all__ = ["add_parsers", "run_subject", "run_disclose"]

WINDOW_DAYS = 31
ACTIONS = {
    "export": "write a subject's events as JSON Lines (access, portability)",
    "erase": "delete a subject's events; their future events from that IP are dropped",
    "restrict": "keep a subject's events but leave them out of every report",
    "unrestrict": "lift a restriction",
    "object": "drop a subject's future events from that IP (current and pre-made key epochs)",
}


def _connection_args(parser: argparse.ArgumentParser, token_flag: str = "--token") -> None:
    parser.add_argument("--server", help="collector URL (default SPII_SERVER_URL, else http://SPII_HOST:SPII_PORT)")
    parser.add_argument(token_flag, dest="admin_token", help="admin token (default SPII_ADMIN_TOKEN or <data dir>/admin.token)")
    parser.add_argument("--actor", help="your name for the audit log (default cli:<user>)")


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    subject = sub.add_parser("subject", help="data-subject requests: export, erase, restrict, object")
    actions = subject.add_subparsers(dest="subject_cmd", required=True)
    for name, text in ACTIONS.items():
        p = actions.add_parser(name, parents=[common], help=text)
        p.add_argument("--client", required=True, help="client id, name or domain")
        who = p.add_mutually_exclusive_group(required=True)
        who.add_argument("--ip", help="the subject's IP address ('-' reads it from stdin, out of shell history)")
        who.add_argument("--cookie-id", help="the subject's consented cookie id ('-' reads it from stdin)")
        if name != "object":
            p.add_argument("--from", dest="start", help="first day YYYY-MM-DD (default: the oldest key)")
        if name in ("export", "erase"):
            p.add_argument("--to", dest="end", help="last day YYYY-MM-DD, inclusive (default: today)")
        if name == "export":
            p.add_argument("--out", help="write the JSON Lines here (default stdout)")
        p.add_argument("--reason", default="", help="why, e.g. the request's ticket reference (audit log)")
        _connection_args(p)

    disclose = sub.add_parser("disclose", parents=[common], help="reveal the IP behind a token, for a lawful request")
    disclose.add_argument("--client", required=True, help="client id, name or domain")
    disclose.add_argument("--token", dest="ip_token", required=True, help="the ip_token as stored (an IPv6-looking value)")
    disclose.add_argument("--key-id", required=True, help="the row's key_id")
    disclose.add_argument("--reason", required=True, help="the lawful request it answers (audit log)")
    _connection_args(disclose, token_flag="--admin-token")


def _api(args: argparse.Namespace, settings: Settings) -> ApiClient:
    from collector.audit import default_actor
    from collector.commands.api import connect

    return connect(args.server, args.admin_token, settings, headers={"X-SPII-Actor": args.actor or default_actor()})


def _secret(value: str | None) -> str | None:
    return sys.stdin.readline().strip() if value == "-" else value


def _day(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"spii: error: {flag} must be a date, YYYY-MM-DD") from None


def _windows(start: date, end: date) -> list[tuple[date, date]]:
    out, cursor = [], start
    while cursor <= end:
        last = min(end, cursor + timedelta(days=WINDOW_DAYS - 1))
        out.append((cursor, last))
        cursor = last + timedelta(days=1)
    return out


def _first_day(api: ApiClient) -> date:
    status = api.get("/api/v1/admin/keys")
    starts = [status[p]["first_start"] for p in ("ip", "cookie") if status.get(p, {}).get("first_start")]
    return min(datetime.fromisoformat(s.replace("Z", "+00:00")).date() for s in starts) if starts else datetime.now(UTC).date()


# Each window's call records the same objection (the current and future epochs): not a sum.
_SAME_EVERY_WINDOW = {"objection_epochs"}


def _merge(total: dict[str, Any], part: dict[str, Any]) -> None:
    for key, value in part.items():
        if key in _SAME_EVERY_WINDOW:
            total[key] = max(total.get(key, 0), value)
        elif isinstance(value, list) and key.startswith("epochs"):
            total[key] = sorted(set(total.get(key, [])) | set(value))
        elif isinstance(value, bool):
            total[key] = total.get(key, True) and value
        elif isinstance(value, int):
            total[key] = total.get(key, 0) + value


def run_subject(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console
    from rich.progress import Progress

    api = _api(args, settings)
    console = Console(stderr=True)
    body: dict[str, Any] = {"client": args.client, "reason": args.reason, "request_id": uuid.uuid4().hex}
    if args.ip is not None:
        body["ip"] = _secret(args.ip)
    else:
        body["cookie_id"] = _secret(args.cookie_id)
    action = args.subject_cmd
    path = f"/api/v1/admin/subject/{action}"
    if action not in ("export", "erase"):
        if getattr(args, "start", None):
            body["from"] = _day(args.start, "--from").isoformat()
        result = api.post(path, body)
        print(_describe(action, result), file=sys.stderr)
        if args.json:
            print(json.dumps(result, indent=2))
        return 0

    start = _day(args.start, "--from") or _first_day(api)
    end = _day(args.end, "--to") or datetime.now(UTC).date()
    windows = _windows(start, end)
    total: dict[str, Any] = {"client": None, "from": start.isoformat(), "to": end.isoformat()}
    events: list[dict[str, Any]] = []
    with Progress(console=console, transient=True, disable=not (console.is_terminal or getattr(args, "out", None))) as bar:
        task = bar.add_task(f"{action}: {len(windows)} window(s) of up to {WINDOW_DAYS} days", total=len(windows))
        for first, last in windows:
            part = api.post(path, {**body, "from": first.isoformat(), "to": last.isoformat()})
            total["client"] = part["client"]
            events += part.pop("events", [])
            _merge(total, {k: v for k, v in part.items() if k not in ("client", "from", "to")})
            bar.advance(task)
    if action == "export":
        _write_export(args, total, events)
        total["events"] = len(events)
    print(_describe(action, total), file=sys.stderr)
    if args.json:
        print(json.dumps(total, indent=2))
    return 0


def _write_export(args: argparse.Namespace, total: dict[str, Any], events: list[dict[str, Any]]) -> None:
    """JSON Lines: one header object (format, scope, what could not be searched), then one
    object per event in time order."""
    from collector.subjects.service import EXPORT_FORMAT

    header = {
        "format": EXPORT_FORMAT,
        "client": total["client"],
        "selector": "ip" if args.ip is not None else "cookie_id",
        "from": total["from"],
        "to": total["to"],
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "events": len(events),
        "epochs_searched": total.get("epochs_searched", []),
        "epochs_unsearchable": total.get("epochs_unsearchable", []),
        "note": "epochs_unsearchable: their keys are destroyed, so their rows are anonymous and cannot be attributed to anyone",
    }
    lines = [json.dumps(header)] + [json.dumps(e, ensure_ascii=False) for e in events]
    text = "\n".join(lines) + "\n"
    if args.out:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # personal data: owner-only
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)


def _describe(action: str, result: dict[str, Any]) -> str:
    searched, gone = result.get("epochs_searched", []), result.get("epochs_unsearchable", [])
    scope = f"{len(searched)} key epoch(s) searched"
    if gone:
        scope += f"; {len(gone)} could not be searched because their keys are destroyed (that data is anonymous now): {', '.join(gone)}"
    if action == "export":
        return f"exported {result.get('events', 0)} event(s); {scope}"
    if action == "erase":
        note = "" if result.get("spool_flushed", True) else " (the spool could not be shipped first: run erase again)"
        return (f"erased {result.get('erased', 0)} event(s); {scope}; future events from this subject are dropped "
                f"in {result.get('objection_epochs', 0)} current/future epoch(s){note}")
    if action == "restrict":
        return f"restricted in {result.get('restricted_epochs', 0)} epoch(s); {scope}"
    if action == "unrestrict":
        return f"lifted {result.get('lifted_epochs', 0)} restriction(s); {scope}"
    return f"objection recorded for {result.get('objection_epochs', 0)} current/future epoch(s)"


def run_disclose(args: argparse.Namespace, settings: Settings) -> int:
    api = _api(args, settings)
    result = api.post("/api/v1/admin/disclose", {"client": args.client, "token": args.ip_token, "key_id": args.key_id,
                                                 "reason": args.reason, "request_id": uuid.uuid4().hex})
    print(json.dumps(result, indent=2) if args.json else result["ip"])
    return 0
