"""The one way spii talks to ClickHouse: clickhouse-connect, whose DSN picks the engine.

``chdb:///abs/path`` is embedded ClickHouse (chDB) in this process; ``http(s)://user:pass@
host:8123/db`` is a ClickHouse server or cluster. Same SQL, same code path. chDB's engine does
not serve the async client, so callers run these blocking calls in a thread executor; one lock
serialises them (a chDB connection is not safe for concurrent use, and a server sees the
shipper's one-insert-at-a-time anyway); the reads of one page may run at once under it, each on
a connection of its own (``query_at_once``). The readiness check does not queue behind that
lock: a call in progress is itself the sign that the store answers (``ping``).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import clickhouse_connect

log = logging.getLogger("spii.store")

EVENTS_TABLE = "spii.events"
_READERS = 6  # the most reads query_at_once runs beside the client's own
_SAFE_TOKEN = re.compile(r"[A-Za-z0-9_\-/.:]{1,128}")  # spool segment ids and their bisected parts


def default_dsn(data_dir: Path) -> str:
    return f"chdb://{(data_dir / 'clickhouse').resolve()}"


def redact_dsn(dsn: str) -> str:
    """The DSN with any password replaced, for logs and the printed config."""
    parts = urlsplit(dsn)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    return dsn


def sql_dir() -> Path:
    """Migrations live in the repository's top-level ``sql/`` (installed copies under
    ``<prefix>/share/spii/sql``); ``SPII_SQL_DIR`` overrides."""
    candidates = [
        os.environ.get("SPII_SQL_DIR"),
        Path(__file__).resolve().parents[2] / "sql",
        Path(sys.prefix) / "share" / "spii" / "sql",
    ]
    for candidate in candidates:
        if candidate and Path(candidate, "001_events.sql").exists():
            return Path(candidate)
    raise FileNotFoundError("spii's sql/ migrations directory was not found (set SPII_SQL_DIR)")


def split_statements(sql: str) -> list[str]:
    """Statements of a migration file: split at ';' ending a line, '--' comments removed, and
    the expressions written once in Python put where their marks are (the acquisition channel's
    rules: collector/ingest/channels.py)."""
    from collector.ingest.channels import CHANNEL_SQL, MARK

    text = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [s.strip().replace(MARK, CHANNEL_SQL) for s in re.split(r";\s*(?:\n|$)", text) if s.strip()]


class Store:
    def __init__(
        self,
        dsn: str,
        *,
        cluster: str | None = None,
        connect_timeout: int = 10,
        send_receive_timeout: int = 300,
        verify: bool = True,
        ca_cert: str | None = None,
    ) -> None:
        """Server mode: TLS by an https DSN (``verify``/``ca_cert``), timeouts, clickhouse-connect's
        own retries for queries; a failed segment INSERT is retried by the shipper with backoff.
        ``cluster`` applies sql/cluster/ (replicated tables + Distributed spii.events)."""
        self.dsn = dsn
        self.embedded = dsn.startswith("chdb:")
        self.cluster = cluster
        self._lock = threading.Lock()
        self._busy_since: float | None = None  # monotonic start of the call holding _lock
        self._answered = False  # whether the last call finished without an error
        self._slow_call_seconds = float(send_receive_timeout)  # a call running longer is stuck, not slow
        kwargs: dict[str, Any] = {}
        if not self.embedded:
            kwargs.update(connect_timeout=connect_timeout, send_receive_timeout=send_receive_timeout, verify=verify, query_retries=3)
            if ca_cert:
                kwargs["ca_cert"] = ca_cert
            # the spool already batches: async_insert would add a second, volatile buffer
            kwargs["settings"] = {"async_insert": 0}
        else:
            Path(urlsplit(dsn).path).mkdir(parents=True, exist_ok=True)
        self._kwargs = kwargs
        self._client: Any = None
        self._readers: list[Any] = []  # more clients, for query_at_once (used under _lock only)
        self._pool: ThreadPoolExecutor | None = None

    @property
    def client(self) -> Any:
        """The clickhouse-connect client, connected on first use: a collector starts (and
        spools) while its ClickHouse server is still down; callers hold ``_lock``."""
        if self._client is None:
            self._client = clickhouse_connect.get_client(dsn=self.dsn, **self._kwargs)
        return self._client

    @contextmanager
    def _using(self) -> Iterator[Any]:
        """The client, held for one call."""
        with self._lock:
            self._busy_since = time.monotonic()
            try:
                yield self.client
            except BaseException:
                self._answered = False
                raise
            else:
                self._answered = True
            finally:
                self._busy_since = None

    def close(self) -> None:
        with self._lock:
            for reader in self._readers:
                reader.close()
            self._readers.clear()
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None
            if self._client is not None:
                self._client.close()
                self._client = None

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with self._using() as client:
            return client.command(sql, parameters=parameters)

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple]:
        with self._using() as client:
            return client.query(sql, parameters=parameters).result_rows

    def query_at_once(self, calls: list[tuple[str, dict[str, Any]]]) -> list[list[tuple]]:
        """The rows of several reads, in order, the reads run at the same time: the first on
        the client, the others on readers of their own (more chDB handles to the same engine,
        which allows any number, one thread each, and lets go of the GIL while it counts; more
        sessions of a server). A page's parts (reports/daily.py ``page_rows``) so use both
        cores: at 10M events 56 ms, against 70 as one UNION ALL query. Holds the client's lock
        throughout, like any call: no other call runs meanwhile, and a reader serves one read
        at a time."""
        if len(calls) < 2:
            return [self.query(sql, parameters) for sql, parameters in calls]
        with self._using() as client:
            readers = min(len(calls) - 1, _READERS)
            while len(self._readers) < readers:
                self._readers.append(clickhouse_connect.get_client(dsn=self.dsn, **self._kwargs))
            if self._pool is None:
                self._pool = ThreadPoolExecutor(_READERS, thread_name_prefix="spii-read")
            rest = list(enumerate(calls[1:], 1))
            later = [self._pool.submit(_read_each, self._readers[r], rest[r::readers]) for r in range(readers)]
            try:
                found = {0: client.query(calls[0][0], parameters=calls[0][1]).result_rows}
            finally:
                wait(later)  # (the readers are free again before the lock is)
            for reads in later:
                found.update(reads.result())
            return [found[n] for n in range(len(calls))]

    def query_dicts(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        with self._using() as client:
            result = client.query(sql, parameters=parameters)
        return [dict(zip(result.column_names, row)) for row in result.result_rows]

    def insert_segment(self, body: bytes, dedup_token: str, table: str = EVENTS_TABLE) -> None:
        """One INSERT whose body is a whole spool segment (JSONEachRow). The dedup token makes a
        retry after a crash between INSERT and segment delete a no-op."""
        with self._using() as client:
            client.raw_insert(
                table,
                insert_block=body,
                fmt="JSONEachRow",
                # rows leave out empty columns: they take their type's default
                settings={"insert_deduplication_token": dedup_token, "input_format_defaults_for_omitted_fields": 1},
            )

    def insert_file(self, path: Path, dedup_token: str, table: str = EVENTS_TABLE) -> None:
        """The embedded store inserts a spool segment straight from its file (FROM INFILE): no
        read into Python, no temporary copy. Same settings and dedup token as insert_segment."""
        if not _SAFE_TOKEN.fullmatch(dedup_token) or "'" in str(path) or "\\" in str(path):
            raise ValueError("unexpected characters in a spool segment's path or id")
        self.command(f"INSERT INTO {table} FROM INFILE '{path}' SETTINGS insert_deduplication_token='{dedup_token}', "
                     "input_format_defaults_for_omitted_fields=1 FORMAT JSONEachRow")

    def ping(self, wait: float = 0.5) -> bool:
        """Whether the store answers. While another call holds the connection (a report at 100M
        events runs for seconds), ping does not queue behind it: the store answered the call
        before, and this one has run for less than the send/receive timeout. Queued, a readiness
        probe failed for as long as an analyst's dashboard ran, and its pod left the service."""
        if not self._lock.acquire(timeout=wait):
            since = self._busy_since
            return self._answered and since is not None and time.monotonic() - since < self._slow_call_seconds
        try:
            self._answered = self.client.command("SELECT 1") == 1
        except Exception:  # noqa: BLE001 - any failure means "not reachable"
            self._answered = False
        finally:
            self._lock.release()
        return self._answered

    def delete_events(self, where: str, parameters: dict[str, Any]) -> None:
        """Lightweight DELETE of matching rows (on every shard's local table in cluster mode:
        a Distributed table cannot delete)."""
        self.command(f"DELETE FROM {self.local_table(EVENTS_TABLE)} WHERE {where}", parameters)

    def local_table(self, table: str) -> str:
        """What a DELETE of ``table`` names: in cluster mode, every shard's local table."""
        return f"{table}_local ON CLUSTER '{self.cluster}'" if self.cluster else table

    def migrate(self) -> list[str]:
        """Apply sql/NNN_*.sql files not yet recorded in spii.schema_migrations, in order
        (cluster mode: sql/cluster/, whose statements are all idempotent, on every start)."""
        if self.cluster:
            return self._migrate_cluster()
        self.command("CREATE DATABASE IF NOT EXISTS spii")
        self.command(
            "CREATE TABLE IF NOT EXISTS spii.schema_migrations "
            "(version UInt32, name String, applied_at DateTime DEFAULT now()) "
            "ENGINE = MergeTree ORDER BY version"
        )
        done = {row[0] for row in self.query("SELECT version FROM spii.schema_migrations")}
        applied = []
        for path in sorted(sql_dir().glob("[0-9][0-9][0-9]_*.sql")):
            version = int(path.name[:3])
            if version in done:
                continue
            for statement in split_statements(path.read_text()):
                self.command(statement)
            self.command(
                "INSERT INTO spii.schema_migrations (version, name) VALUES ({v:UInt32}, {n:String})",
                {"v": version, "n": path.name},
            )
            applied.append(path.name)
            log.info("applied migration %s", path.name)
        return applied

    def _migrate_cluster(self) -> list[str]:
        applied = []
        for path in sorted((sql_dir() / "cluster").glob("[0-9][0-9][0-9]_*.sql")):
            for statement in cluster_statements(path.read_text(), self.cluster or ""):
                self.command(statement)
            applied.append(f"cluster/{path.name}")
        return applied


def _read_each(reader: Any, calls: list[tuple[int, tuple[str, dict[str, Any]]]]) -> dict[int, list[tuple]]:
    """``calls``' rows by their number, read one after another on ``reader``."""
    return {n: reader.query(sql, parameters=parameters).result_rows for n, (sql, parameters) in calls}


def identifier(value: str, what: str) -> str:
    """``value`` if it is a plain SQL name (letters, digits, _), the only kind spii writes into
    SQL text unquoted (cluster, role and user names, client ids); else ValueError."""
    if not re.fullmatch(r"[A-Za-z0-9_]+", value):
        raise ValueError(f"{what} must be letters, digits and _")
    return value


def cluster_statements(sql: str, cluster: str) -> list[str]:
    """Statements of a sql/cluster/ file for one cluster name (a plain identifier)."""
    identifier(cluster, "cluster name")
    return [s.replace("'{cluster}'", f"'{cluster}'") for s in split_statements(sql)]
