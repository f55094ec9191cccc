"""`spii import logs FILE... --client NAME`: web server access logs into a running collector;
`spii import plausible EXPORT.zip --client NAME`: a Plausible CE export; `spii import list NAME`
and `spii import delete NAME ID`.

The files (plain, .gz, or - for stdin) are read in the order given (oldest first, as logrotate
numbers them backwards: access.log.2.gz access.log.1 access.log), decompressed here, and streamed
to the collector as one import, so visits that span two files stay one visit. A progress bar with
rate and ETA on a terminal; at the end, the summary, and the first bad lines named file:line."""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from collector.config import Settings
from collector.errors import UserError

__all__ = ["add_parser", "run"]

CHUNK = 1 << 20
UPLOAD_SECONDS = 3600  # (the answer comes once the collector has imported the last line)


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    imports = sub.add_parser("import", help="import history: web server access logs, Plausible exports")
    actions = imports.add_subparsers(dest="import_cmd", required=True)
    logs = actions.add_parser("logs", parents=[common], help="import nginx/Apache access logs (page views only; bots, assets and "
                                                             "errors counted and skipped; each line stored once)")
    logs.add_argument("files", nargs="+", metavar="FILE", help="access logs, plain or .gz, oldest first; - reads stdin")
    logs.add_argument("--client", required=True, help="client name, id or domain")
    logs.add_argument("--format", default="combined",
                      help="combined (default), common, or an nginx log_format pattern, e.g. '$remote_addr - $remote_user "
                           "[$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\"'")
    plausible = actions.add_parser("plausible", parents=[common], help="import a Plausible CE CSV export (its ZIP) as daily "
                                                                       "aggregates; reports add them with include.imports / with_imported")
    plausible.add_argument("export", metavar="EXPORT.zip")
    plausible.add_argument("--client", required=True, help="client name, id or domain")
    listed = actions.add_parser("list", parents=[common], help="a client's imports: id, source, days, rows")
    listed.add_argument("name", help="client name, id or domain")
    delete = actions.add_parser("delete", parents=[common], help="remove one import (its rows and its record)")
    delete.add_argument("name", help="client name, id or domain")
    delete.add_argument("import_id", metavar="ID", help="the import's id (spii import list)")
    for p in (logs, plausible, listed, delete):
        p.add_argument("--server", help="collector URL (default SPII_SERVER_URL, else http://SPII_HOST:SPII_PORT)")
        p.add_argument("--token", dest="admin_token", help="admin token (default SPII_ADMIN_TOKEN or <data dir>/admin.token)")


class _Source:
    """The files as one stream of plain bytes, counting each file's lines (to name a bad line
    file:line) and the bytes read from disk (the progress bar)."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.lines: list[tuple[str, int]] = []  # (file, lines in it), in order
        for name in names:
            if name != "-" and not Path(name).is_file():
                raise UserError(f"{name}: no such file")

    @property
    def total(self) -> int | None:
        return None if "-" in self.names else sum(Path(n).stat().st_size for n in self.names)

    def _open(self, name: str) -> tuple[BinaryIO, BinaryIO]:
        raw: BinaryIO = sys.stdin.buffer if name == "-" else open(name, "rb")  # noqa: SIM115 - closed in chunks()
        if name != "-" and raw.read(2) == b"\x1f\x8b":
            raw.seek(0)
            return gzip.GzipFile(fileobj=raw), raw  # type: ignore[return-value]
        if name != "-":
            raw.seek(0)
        return raw, raw

    def chunks(self, progress: Any) -> Iterator[bytes]:
        for name in self.names:
            reader, raw = self._open(name)
            count, last, consumed = 0, b"\n", 0
            try:
                while True:
                    try:
                        data = reader.read(CHUNK)
                    except (OSError, EOFError) as exc:
                        raise UserError(f"{name}: cannot be read to its end ({type(exc).__name__}: a truncated or damaged file)") from None
                    if not data:
                        break
                    count += data.count(b"\n")
                    last = data[-1:]
                    consumed += len(data)  # (stdin: bytes read; a file: its position on disk, compressed or not)
                    progress(consumed if name == "-" else raw.tell(), name)
                    yield data
                if last != b"\n":
                    count += 1
                    yield b"\n"  # (the next file's first line starts a line of its own)
            finally:
                if name != "-":
                    raw.close()
            self.lines.append((name, count))

    def where(self, number: int) -> str:
        """Line ``number`` of the stream as file:line."""
        for name, count in self.lines:
            if number <= count:
                return f"{name}:{number}"
            number -= count
        return f"line {number}"


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.import_cmd == "logs":
        return _run_logs(args, settings)
    from collector.commands.api import connect

    if args.import_cmd == "plausible":
        path = Path(args.export)
        if not path.is_file():
            raise UserError(f"{args.export}: no such file")
        answer = _uploader(args, settings).call("POST", "/api/v1/admin/import/plausible", {"client": args.client, "file": path.name},
                                                data=path.read_bytes())
        human = (f"imported {path.name} as import {answer['import_id']}: {answer['rows']:,} daily rows from {answer['files']} files, "
                 f"{answer['first_day']} to {answer['last_day']}")
    elif args.import_cmd == "list":
        answer = connect(args.server, args.admin_token, settings).get("/api/v1/admin/imports", {"client": args.name})
        human = "\n".join(f"{i['import_id']}  {i['source']:<9} {i['first_day']} to {i['last_day']}  {i['rows']:>9,} rows  {i['file']}"
                          f"  (imported {i['imported_at']})" for i in answer["imports"]) or f"{args.name} has no imports"
    else:
        answer = connect(args.server, args.admin_token, settings).call("DELETE", "/api/v1/admin/imports",
                                                                       {"client": args.name, "import_id": args.import_id})
        human = f"deleted import {answer['deleted']}"
    print(json.dumps(answer, indent=2) if args.json else human)
    return 0


def _uploader(args: argparse.Namespace, settings: Settings) -> Any:
    """The collector's API client, waiting as long as an import takes."""
    from collector.commands.api import connect

    api = connect(args.server, args.admin_token, settings)
    api.timeout = UPLOAD_SECONDS
    return api


def _run_logs(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    source = _Source(args.files)
    api = _uploader(args, settings)
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("importing", total=source.total)
        done = {"before": 0, "file": None}

        def progress(position: int, name: str) -> None:
            if done["file"] != name:
                done["before"], done["file"] = bar.tasks[0].completed, name
            bar.update(task, completed=done["before"] + position, description=Path(name).name if name != "-" else "stdin")

        answer = api.call("POST", "/api/v1/admin/import/logs", {"client": args.client, "format": args.format}, data=source.chunks(progress))
    answer["bad_lines"] = {reason: [source.where(n) for n in numbers] for reason, numbers in answer.get("bad_lines", {}).items()}
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    print(_summary(answer))
    return 0


def _summary(answer: dict[str, Any]) -> str:
    skipped = answer["skipped"]
    lines = [f"read {answer['read']:,} lines: imported {answer['imported']:,} page views"
             + (f" ({answer['first'][:16].replace('T', ' ')} to {answer['last'][:16].replace('T', ' ')} UTC)" if answer.get("first") else ""),
             f"  already imported: {answer['already_imported']:,}   bots: {answer['bots']:,}   "
             f"past the client's retention: {answer['past_retention']:,}   key destroyed: {answer['key_destroyed']:,}"]
    if skipped:
        lines.append("  not page views: " + ", ".join(f"{reason.replace('_', ' ')} {n:,}" for reason, n in skipped.items()))
    if answer["dropped"]:
        lines.append("  dropped: " + ", ".join(f"{reason.replace('_', ' ')} {n:,}" for reason, n in answer["dropped"].items()))
    for reason, n in answer["bad"].items():
        lines.append(f"  bad lines, {reason.replace('_', ' ')}: {n:,} (first: {', '.join(answer['bad_lines'].get(reason, []))})")
    return "\n".join(lines)
