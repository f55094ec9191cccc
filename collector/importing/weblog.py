"""Importing a web server's access log: each line through the same privacy pass as a beacon
(ingest/pipeline.py: bots dropped, the URL and referrer scrubbed, the address encrypted under the
key of the line's own epoch, visits formed by the same rules), page views only, each line stored
once however often the file is imported.

Which lines are page views: GET requests answered 2xx or 304 (a cached page seen again) whose
path names a page: no file extension, or .html, .htm, .php, .asp, .aspx, .jsp, .cgi, .shtml;
not /favicon.ico, /robots.txt, /sitemap.xml, /.well-known/..., nor spii's own endpoints. Every
other line is counted by why it was skipped.

Each stored line carries an ``import_id``: a hash of its anonymised row (never of the raw line:
no address, User-Agent or query string goes into it) and of how many identical rows came before
it in the same hour. Before an hour's rows are inserted, the ids already stored for that hour are
left out, so a file imported twice, or again after an interrupted import, stores each line once."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.importing.logformat import LineParser, LogLine
from collector.ingest.payload import EventPayload
from collector.ingest.pipeline import Pipeline, RequestFacts, TokenBucket
from collector.ingest.sessions import SessionCache
from collector.privacy.anonymise import InvalidUrl
from collector.privacy.keyring import IP, KeyringStore, NoCurrentKey
from collector.store.clickhouse import Store
from collector.subjects.flags import SubjectFlags
from collector.tenants import Client, Registry

__all__ = ["WeblogImport", "not_a_page_view"]

PAGE_EXTENSIONS = frozenset(("html", "htm", "php", "asp", "aspx", "jsp", "cgi", "shtml"))
NOT_PAGES = frozenset(("/favicon.ico", "/robots.txt", "/sitemap.xml", "/api/event", "/api/events", "/px.gif", "/js/spii.js"))
BATCH_ROWS = 20_000  # rows of one hour inserted at once (a busy hour is several inserts)
EXAMPLES = 5  # line numbers kept per reason a line was bad
_SESSION = b',"session_id":'


def not_a_page_view(line: LogLine) -> str | None:
    """Why ``line`` is no page view (None: it is one)."""
    if line.method != "GET":
        return "not_get"
    if not (200 <= line.status < 300 or line.status == 304):
        return "redirect" if 300 <= line.status < 400 else "error"
    path = line.target.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):
        return "not_a_page"
    last = path.rsplit("/", 1)[1]
    if "." in last and last.rsplit(".", 1)[1].lower() not in PAGE_EXTENSIONS:
        return "asset"
    if path in NOT_PAGES or path.startswith("/.well-known/"):
        return "asset"
    return None


class WeblogImport:
    """One import into one client: ``feed`` it lines (in file order), then ``finish``. Without a
    ``store``, a dry run: every count as an import would make them, nothing stored."""

    def __init__(self, client: Client, store: Store | None, keys: KeyringStore, pattern: str = "combined", flags: SubjectFlags | None = None,
                 locate: Any = None, us_zip3: bool = False, now: datetime | None = None) -> None:
        self.parser = LineParser(pattern)
        self.client, self.store, self.keys = client, store, keys
        self.keyring = keys.load()
        unlimited = client.model_copy(update={"rate": 0.0})  # (an import is not a visitor's burst)
        self.registry = Registry([unlimited])
        self.flags = flags
        self._objecting: dict[str, bool] = {}  # address -> objected (memory only, this import's)
        self._payload = EventPayload(n="pageview", u=f"https://{client.domains[0]}/", d=client.domains[0])
        self.pipeline = Pipeline(TokenBucket(0.0, 1.0), us_zip3=us_zip3, sessions=SessionCache(), flags=flags, locate=locate)
        self.now = now or datetime.now(UTC)
        self.oldest = self.now - timedelta(days=client.retention_days)
        self.newest = self.now + timedelta(minutes=5)
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[int]] = {}
        self.first: datetime | None = None
        self.last: datetime | None = None
        self._hour: int | None = None
        self._rows: list[tuple[int, bytes]] = []
        self._same: dict[int, Counter[bytes]] = {}  # hour -> identical rows seen (the occurrence in import_id)

    def feed(self, lines: Iterable[str]) -> None:
        for text in lines:
            self.counts["read"] += 1
            self._line(text.rstrip("\r\n"))

    def _bad(self, reason: str) -> None:
        self.counts[f"bad:{reason}"] += 1
        kept = self.examples.setdefault(reason, [])
        if len(kept) < EXAMPLES:
            kept.append(self.counts["read"])  # (the line being read: its number)

    def _line(self, text: str) -> None:
        if not text.strip():
            return self._bad("empty")
        line = self.parser.parse(text)
        if isinstance(line, str):
            return self._bad(line)
        at = line.at
        if at > self.newest:
            return self._bad("future_time")
        if at < self.oldest:
            self.counts["past_retention"] += 1
            return
        skipped = not_a_page_view(line)
        if skipped is not None:
            self.counts[f"skipped:{skipped}"] += 1
            return
        if self.flags is not None and self.flags.any_objection and self._objected(line.ip):
            self.counts["dropped:objected"] += 1
            return
        host = line.host if line.host and self.client.owns_host(line.host) else self.client.domains[0]
        payload = self._payload.__copy__()  # (a validated template's copy: model_construct cost 4x the privacy pass)
        payload.__dict__.update(u=f"https://{host}{line.target}", d=host, r=line.referrer)
        facts = RequestFacts(line.ip, line.user_agent, None, forwarded=True)
        outcome = self._process(payload, facts, at)
        if outcome is None:
            return
        if outcome.row is None:
            self.counts["bots" if outcome.dropped == "bot" else f"dropped:{outcome.dropped}"] += 1
            return
        self._keep(outcome.row, at)

    def _objected(self, ip: str) -> bool:
        """Whether the address's subject objected. An objection flags the epochs from when it was
        made on (subjects/service.py), so an older line's own epoch is not among them: its address
        is looked up under the flagged epochs' keys instead, as a live event of it would be."""
        known = self._objecting.get(ip)
        if known is None:
            known = False
            for key_id in self.flags.objection_keys(self.client.client_id):  # type: ignore[union-attr]
                epoch = next((e for e in self.keyring.epochs.get(IP, []) if e.key_id == key_id and not e.destroyed), None)
                if epoch is None:
                    continue
                try:
                    _, token = self.keyring.ip_token(self.client.client_id, ip, epoch.start)
                except ValueError:
                    break  # (not an address: the pipeline says so)
                if self.flags.objected(self.client.client_id, key_id, token, 0):  # type: ignore[union-attr]
                    known = True
                    break
            if len(self._objecting) > 100_000:
                self._objecting.clear()
            self._objecting[ip] = known
        return known

    def _process(self, payload: EventPayload, facts: RequestFacts, at: datetime) -> Any:
        for _ in range(2):
            try:
                return self.pipeline.process(payload, facts, self.registry, self.keyring, now=at)
            except InvalidUrl:
                self._bad("url")
                return None
            except NoCurrentKey:
                epoch = self.keyring.epoch_at(at)
                if epoch is not None and epoch.destroyed:
                    self.counts["key_destroyed"] += 1  # never stored under another epoch's key
                    return None
                if not self.keys.backfill(at):
                    self.counts["no_key"] += 1
                    return None
                self.keyring = self.keys.load()
        self.counts["no_key"] += 1
        return None

    def _keep(self, row: bytes, at: datetime) -> None:
        hour = int(at.timestamp()) // 3600
        if hour != self._hour or len(self._rows) >= BATCH_ROWS:
            self._flush()
            self._hour = hour
        stable = row.split(_SESSION, 1)[0]  # (the visit's id is a random label: left out)
        same = self._same.get(hour)
        if same is None:
            same = self._same[hour] = Counter()
            if len(self._same) > 72:
                self._same.pop(next(iter(self._same)))
        same[stable] += 1
        digest = hashlib.blake2b(stable + b"#%d" % same[stable], digest_size=8).digest()
        import_id = int.from_bytes(digest, "big") or 1
        self._rows.append((import_id, row[:-2] + b',"import_id":%d}\n' % import_id))
        self.first = at if self.first is None or at < self.first else self.first
        self.last = at if self.last is None or at > self.last else self.last

    def _flush(self) -> None:
        if not self._rows:
            return
        if self.store is None:
            self.counts["imported"] += len(self._rows)
            self._rows = []
            return
        ids = [i for i, _ in self._rows]
        start_ms = (self._hour or 0) * 3_600_000  # (rows are kept only with their hour)
        stored = {int(i) for (i,) in self.store.query(
            "SELECT import_id FROM spii.events WHERE client_id = {client:String} AND ts >= fromUnixTimestamp64Milli({start:Int64}) "
            "AND ts < fromUnixTimestamp64Milli({end:Int64}) AND import_id IN {ids:Array(UInt64)}",
            {"client": self.client.client_id, "start": start_ms, "end": start_ms + 3_600_000, "ids": ids})}
        fresh = [row for i, row in self._rows if i not in stored]
        self.counts["already_imported"] += len(self._rows) - len(fresh)
        if fresh:
            token = "import-" + hashlib.blake2b(b"".join(i.to_bytes(8, "big") for i in ids), digest_size=16).hexdigest()
            self.store.insert_segment(b"".join(fresh), token)
            self.counts["imported"] += len(fresh)
        self._rows = []

    def finish(self) -> dict[str, Any]:
        self._flush()
        counts = self.counts
        return {
            "read": counts["read"], "imported": counts["imported"], "already_imported": counts["already_imported"],
            "bots": counts["bots"], "past_retention": counts["past_retention"], "key_destroyed": counts["key_destroyed"],
            "no_key": counts["no_key"],
            **{kind: {k.split(":", 1)[1]: v for k, v in sorted(counts.items()) if k.startswith(f"{kind}:")}
               for kind in ("skipped", "dropped", "bad")},
            "bad_lines": self.examples,
            "first": self.first.isoformat() if self.first else None, "last": self.last.isoformat() if self.last else None,
        }
