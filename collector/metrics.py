"""Prometheus metrics, on a registry per app (tests run several apps in one process).

Under ``spii serve --workers N`` every worker writes its values to files in
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode, chosen by that variable
when the worker starts), and /metrics, whichever worker answers it, sums all of them."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess_dir = os.environ.get(MULTIPROC_ENV)
        r = self.registry
        self.accepted = Counter("spii_events_accepted", "Events accepted and spooled", ["kind"], registry=r)
        self.dropped = Counter("spii_events_dropped", "Events dropped on purpose, by reason", ["reason"], registry=r)
        self.rejected = Counter("spii_requests_rejected", "4xx/503 answers, by reason", ["reason"], registry=r)
        self.spool_bytes = Gauge("spii_spool_bytes", "Bytes in the spool (open + ready segments)", registry=r,
                                 multiprocess_mode="livesum")
        self.spool_segments = Gauge("spii_spool_segments_ready", "Sealed segments waiting to ship", registry=r,
                                    multiprocess_mode="livesum")
        self.ship_seconds = Histogram(
            "spii_ship_seconds", "Time of one segment INSERT", registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.mail_sent = Counter("spii_mail_sent", "E-mails handed to the mail server (or written as .eml), by kind", ["kind"], registry=r)
        self.mail_failures = Counter("spii_mail_failures", "E-mails that could not be sent (retried later), by kind and reason",
                                     ["kind", "reason"], registry=r)
        self.ship_failures = Counter("spii_ship_failures", "Failed segment INSERTs (retried)", registry=r)
        self.rows_shipped = Counter("spii_rows_shipped", "Rows inserted into ClickHouse", registry=r)
        self.stats_queries = Counter("spii_stats_queries", "Stats API answers, by endpoint", ["endpoint"], registry=r)
        self.report_answers = Counter("spii_report_answers", "Report answers by how they were given: computed, kept_closed, kept_open; "
                                      "and refreshed (recomputed ahead while watched)", ["how"], registry=r)
        self.subject_requests = Counter("spii_subject_requests", "Data-subject requests and disclosures, by action", ["action"], registry=r)
        self.files_unloadable = Gauge("spii_files_unloadable", "Keyring or client registry files on disk that cannot be loaded "
                                      "(served from the last good version; a restart would fail)", registry=r,
                                      multiprocess_mode="max")
        self.keys_ahead = Gauge("spii_keys_ahead", "Future IP-key epochs after the current one", registry=r,
                                multiprocess_mode="min")
        self.keys_destroyed = Counter("spii_keys_destroyed", "Epoch keys destroyed by the scheduled prune", registry=r)
        self._accepted: dict[str, Counter] = {}
        self._dropped: dict[str, Counter] = {}
        self._pending_accepted: dict[str, int] = {}
        self._pending_dropped: dict[str, int] = {}
        self.segments_quarantined = Counter("spii_segments_quarantined", "Segments with lines the store refused (bisected)", registry=r)
        self.rows_quarantined = Counter("spii_rows_quarantined", "Lines the store refused on their own, kept in spool/failed/", registry=r)
        self.protocol_errors = Counter("spii_http_protocol_errors", "Malformed HTTP requests refused by the server, by reason",
                                       ["reason"], registry=r)
        self.http_errors = Counter("spii_http_errors", "Error answers from the error middleware (404, 405, 413, 500...), by status",
                                   ["status"], registry=r)

    def exposition(self) -> bytes:
        """The text format for /metrics: this process's registry, or all workers' files."""
        self.flush()
        if not self.multiprocess_dir:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=self.multiprocess_dir)
        return generate_latest(merged)

    # Per-event counts are added up in plain dicts and handed to prometheus_client by flush()
    # (each scrape, and every shipper tick): a locked .inc() per event cost about 1 µs.
    def accept(self, kind: str) -> None:
        pending = self._pending_accepted
        pending[kind] = pending.get(kind, 0) + 1

    def drop(self, reason: str) -> None:
        pending = self._pending_dropped
        pending[reason] = pending.get(reason, 0) + 1

    def flush(self) -> None:
        for pending, counter, children in ((self._pending_accepted, self.accepted, self._accepted),
                                           (self._pending_dropped, self.dropped, self._dropped)):
            if not pending:
                continue
            counts = dict(pending)  # (the event loop's thread only: no lock needed)
            pending.clear()
            for label, count in counts.items():
                child = children.get(label)
                if child is None:
                    child = children[label] = counter.labels(label)
                child.inc(count)
