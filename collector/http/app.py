"""The aiohttp application: wiring of config, keyring, registry, pipeline, spool and shipper."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from aiohttp import web

from collector.audit import AuditLog
from collector.build_info import hot_path
from collector.config import Settings
from collector.http import beacon, dashboard, goals, imports, inline, mail, ops, segments, share, stats, subjects, tracker
from collector.http.affinity import pin_threads
from collector.http.auth import Auth, admin_token
from collector.http.errors import json_errors
from collector.http.state import STATE, State
from collector.reports.request import parse_request
from collector.ingest.client_ip import TrustedProxies
from collector.ingest.pipeline import Pipeline, TokenBucket
from collector.ingest.sessions import SessionCache
from collector.logs import count_protocol_errors
from collector.mail.ledger import Ledger
from collector.mail.links import Signer
from collector.mail.outbox import open_outbox
from collector.mail.service import MailService
from collector.metrics import Metrics
from collector.privacy.geoip import open_locator
from collector.privacy.keeper import KeyKeeper
from collector.privacy.keyring import IP, LiveKeyring
from collector.privacy.masterkey import MasterKey
from collector.privacy.setup import keyring_store, load_master_key
from collector.reports.privacy_budget import PrivacyLedger
from collector.reports.daily import Daily
from collector.reports.kept import REFRESH_SHARE, KeptAnswers
from collector.reports.ready import ask_dashboard, ready_worth
from collector.reports.stats import Stats
from collector.reports.page import PageFetch
from collector.spool.segments import Spool
from collector.store.clickhouse import Store, default_dsn, redact_dsn
from collector.store.shipper import Shipper
from collector.subjects.flags import SubjectFlags
from collector.subjects.retention import prune
from collector.subjects.service import SubjectService
from collector.tenants import LiveRegistry, RegistryStore

log = logging.getLogger("spii.serve")
GC_THRESHOLDS = (50_000, 20, 100)
METRICS_FLUSH_SECONDS = 0.5  # per-event counts reach prometheus_client (and other workers' /metrics) this often


def open_store(settings: Settings) -> Store:
    return Store(
        settings.clickhouse_url or default_dsn(settings.data_dir),
        cluster=settings.clickhouse_cluster,
        connect_timeout=settings.clickhouse_connect_timeout,
        send_receive_timeout=settings.clickhouse_send_timeout,
        verify=settings.clickhouse_verify,
        ca_cert=str(settings.clickhouse_ca_cert) if settings.clickhouse_ca_cert else None,
    )


def record_secrets(master: MasterKey) -> Callable[[str], int]:
    """Each client's record-key secret for report perturbation, derived from the master key."""
    cache: dict[str, int] = {}

    def secret(client_id: str) -> int:
        if client_id not in cache:
            cache[client_id] = int.from_bytes(master.derive(b"record-key/" + client_id.encode(), 8), "big") >> 1  # fits ClickHouse's UInt64 binding
        return cache[client_id]

    return secret


def orphan_spools(settings: Settings, worker: int | None) -> list[Path]:
    """Spools no running process owns, taken over by the process alone or by worker 0: the
    single-process spool after a move to N workers, and those of workers scaled away."""
    if worker not in (None, 0):
        return []
    root = settings.spool_dir()
    orphans = [] if worker is None else [root]
    for path in sorted(root.glob("worker-*")):
        index = path.name.removeprefix("worker-")
        if worker is None or not index.isdigit() or int(index) >= settings.workers:
            orphans.append(path)
    return orphans


def build_state(settings: Settings, store: Store | None = None, worker: int | None = None) -> State:
    master = load_master_key(settings)
    metrics = Metrics()
    audit = AuditLog(settings.audit_log_path, master)
    keyring = LiveKeyring(keyring_store(settings, master))
    keys = KeyKeeper(keyring, ahead=settings.keys_ahead, min_ahead=settings.keys_min_ahead, auto_rotate=settings.keys_auto_rotate,
                     audit=audit, on_ahead=metrics.keys_ahead.set)
    keys.check()  # today's key and the ones ahead exist before the first event
    spool = Spool(
        settings.spool_dir(worker),
        max_segment_bytes=settings.spool_segment_bytes,
        max_segment_age=settings.spool_segment_seconds,
        budget_bytes=settings.spool_budget_bytes,
        min_free_bytes=settings.spool_min_free_bytes,
    )
    for orphan in orphan_spools(settings, worker):
        spool.adopt(orphan)
    store = store or open_store(settings)
    flags = SubjectFlags(store)
    daily = Daily(store, epochs=lambda: keyring.get().epochs.get(IP, [])) if settings.report_daily else None
    stats = Stats(store, exclusions=flags.exclusions, record_secret=record_secrets(master), daily=daily,
                  kept=KeptAnswers(store, fresh_seconds=settings.report_fresh_seconds, fresh_rows=settings.report_fresh_rows,
                                   warm_seconds=settings.report_warm_seconds,
                                   count=lambda how: metrics.report_answers.labels(how).inc()))
    flags.on_change.append(stats.forget)
    registry = LiveRegistry(RegistryStore(settings.clients_path))
    mail = MailService(stats, registry, lambda client: PageFetch(stats, client, parse_request), Signer(master.derive(b"mail-links", 32)),
                       open_outbox(settings.smtp_url.get_secret_value() if settings.smtp_url else None, settings.smtp_ca_cert,
                                   settings.email_outbox),
                       Ledger(settings.mail_ledger_path), metrics, sender=settings.email_from, link_base=settings.link_base,
                       catch_up=settings.mail_catch_up)
    return State(
        settings=settings,
        keyring=keyring,
        registry=registry,
        pipeline=Pipeline(TokenBucket(settings.client_rate, settings.client_burst), us_zip3=settings.us_zip3, flags=flags,
                          sessions=SessionCache(max_entries=settings.max_open_visits), locate=open_locator(settings.geoip_db).locate),
        spool=spool,
        store=store,
        shipper=Shipper(spool, store, metrics, fsync_interval=settings.spool_fsync_seconds),
        metrics=metrics,
        trusted=TrustedProxies(settings.trusted_proxies),
        auth=Auth(admin_token(settings), settings.stats_rate, settings.stats_burst, master.derive(b"dashboard-session", 32)),
        stats=stats,
        flags=flags,
        subjects=SubjectService(store, flags, audit),
        keys=keys,
        ledger=PrivacyLedger(settings.privacy_ledger_path),
        reports=ThreadPoolExecutor(max_workers=settings.report_threads, thread_name_prefix="spii-reports"),
        mail=mail,
        worker=worker,
    )


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGHUP, _reload_files, state)
    if await _store_ready(state, first=True):
        state.tasks.append(asyncio.create_task(state.shipper.run(), name="shipper"))
    else:  # a ClickHouse server still down: accept into the spool, ship once it answers
        state.tasks.append(asyncio.create_task(_ship_when_store_answers(state), name="shipper"))
    state.tasks.append(asyncio.create_task(_every(state.settings.subject_flags_seconds, state.flags.load), name="flags"))
    state.tasks.append(asyncio.create_task(_on_the_loop(METRICS_FLUSH_SECONDS, state.metrics.flush), name="metrics"))
    state.tasks.append(asyncio.create_task(_every(state.settings.keys_check_seconds, state.keys.check, run=state.keys.run),
                                           name="keys-check"))
    kept = state.stats.kept
    if kept is not None and kept.fresh_seconds > 0 and kept.warm_seconds > 0:
        state.tasks.append(asyncio.create_task(_refresh_kept(kept, state.reports), name="refresh-kept"))
        if state.settings.report_ready_periods:
            state.tasks.append(asyncio.create_task(_keep_dashboards_ready(state), name="dashboards-ready"))
    if state.settings.serve_cpus:  # the store starts threads as it goes: move them off the loop's CPU now and then
        state.tasks.append(asyncio.create_task(_every(5.0, partial(pin_threads, state.settings.serve_cpus), first=0), name="affinity"))
    if state.settings.mail_send and state.worker in (None, 0):  # one sender of reports and alerts per node (mail/service.py); a report due while down goes at once
        state.tasks.append(asyncio.create_task(_every(state.settings.mail_check_seconds, state.mail.check, first=0.5,
                                                      run=state.in_report_thread), name="mail"))
    if state.settings.keys_prune_hours > 0 and state.worker in (None, 0):  # one pruner per node
        state.tasks.append(asyncio.create_task(_every(state.settings.keys_prune_hours * 3600, partial(_prune_keys, state), first=0,
                                                      run=state.keys.run), name="keys-prune"))
    yield
    deadline = time.monotonic() + state.settings.shutdown_seconds
    for running in state.tasks:
        running.cancel()
    for running in state.tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await running
    drained = await state.shipper.drain(deadline)
    log.info("stopped", extra={"fields": {"drained": drained, "segments_left": state.spool.ready_count()}})
    state.reports.shutdown(wait=False, cancel_futures=True)  # a page still rendering stops at its next query's error
    await loop.run_in_executor(None, state.keys.close)
    await loop.run_in_executor(None, state.store.close)


async def _store_ready(state: State, first: bool = False) -> bool:
    """Apply migrations and load the subject flags. The embedded store must work at once (its
    failure is fatal); a server may still be starting, so its failure is logged and retried."""
    loop = asyncio.get_running_loop()
    try:
        applied = await loop.run_in_executor(None, state.store.migrate)
        await loop.run_in_executor(None, state.flags.load)
    except Exception as exc:
        if state.store.embedded:
            raise
        if first:
            log.warning("store unreachable: accepting into the spool until it answers",
                        extra={"fields": {"dsn": redact_dsn(state.store.dsn), "error": type(exc).__name__}})
        return False
    log.info("store ready", extra={"fields": {"dsn": redact_dsn(state.store.dsn), "migrations_applied": applied}})
    return True


async def _ship_when_store_answers(state: State, backoff: float = 1.0, backoff_max: float = 30.0) -> None:
    while not await _store_ready(state):
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, backoff_max)
    await state.shipper.run()


async def _every(seconds: float, job: Callable[[], object], first: float | None = None,
                 run: Callable[[Callable[[], object]], Awaitable[object]] | None = None) -> None:
    """Run a blocking ``job`` every ``seconds`` (after ``first``) in a worker thread, or through
    ``run`` (the key keeper's own thread); a failure is logged and retried at the next tick,
    never fatal."""
    loop = asyncio.get_running_loop()
    run = run or (lambda blocking: loop.run_in_executor(None, blocking))
    await asyncio.sleep(seconds if first is None else first)
    while True:
        try:
            await run(job)
        except Exception as exc:  # noqa: BLE001 - a background duty must not kill the collector
            log.warning("background job failed", extra={"fields": {"job": getattr(job, "__name__", str(job)), "error": type(exc).__name__}})
        await asyncio.sleep(seconds)


async def _refresh_kept(kept: KeptAnswers, threads: ThreadPoolExecutor, poll: float = 1.0) -> None:
    """Recompute the open answers analysts are watching before they go stale (reports/kept.py),
    resting after each for three times what it took: at most a quarter of one core."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(poll)
        for full in kept.due():
            try:
                cost = await loop.run_in_executor(threads, kept.refresh, full)
            except Exception as exc:  # noqa: BLE001 - the next ask computes it instead
                log.warning("refreshing a kept report answer failed", extra={"fields": {"error": type(exc).__name__}})
                cost = poll
            await asyncio.sleep(cost * (1 / REFRESH_SHARE - 1))


async def _keep_dashboards_ready(state: State) -> None:
    """Ask each big client's dashboard of the ready periods every SPII_REPORT_READY_SECONDS, so
    its answers are kept and refreshed before an analyst opens it (reports/ready.py); after a
    count, rest three times what it took (the refresher's share of a core)."""
    while True:
        for client in state.registry.get().clients:
            for period in state.settings.report_ready_periods:
                try:
                    if not await state.in_report_thread(ready_worth, state.stats, client, period):
                        continue
                    took = await state.in_report_thread(ask_dashboard, state.stats, client, period, parse_request)
                except Exception as exc:  # noqa: BLE001 - the analyst's own view computes it instead
                    log.warning("keeping a dashboard ready failed", extra={"fields": {"client": client.name, "error": type(exc).__name__}})
                    continue
                if took >= 1.0:
                    log.info("dashboard kept ready", extra={"fields": {"client": client.name, "period": period, "seconds": round(took, 1)}})
                await asyncio.sleep(took * (1 / REFRESH_SHARE - 1))
        if state.stats.daily is not None:  # (the days the round wrote, merged: a page reads each part)
            try:
                await state.in_report_thread(state.stats.daily.compact)
            except Exception as exc:  # noqa: BLE001 - the next round merges them
                log.warning("compacting the closed days failed", extra={"fields": {"error": type(exc).__name__}})
        await asyncio.sleep(state.settings.report_ready_seconds)


async def _on_the_loop(seconds: float, job: Callable[[], object]) -> None:
    """Run a quick ``job`` on the event loop's thread every ``seconds`` (for state it owns)."""
    while True:
        await asyncio.sleep(seconds)
        job()


def _prune_keys(state: State) -> None:
    """The daily key check: destroy keys whose rows have all expired (subjects/retention.py)."""
    destroyed = prune(state.keyring.store, state.registry.get(), state.settings.key_grace_days, state.subjects.audit, "spii-serve")
    if destroyed:
        state.metrics.keys_destroyed.inc(len(destroyed))
        state.keyring.reload()
        log.info("keys destroyed on schedule", extra={"fields": {"key_ids": destroyed}})


def _reload_files(state: State) -> None:
    state.keyring.reload()
    state.registry.reload()


def build_app(state: State) -> web.Application:
    app = web.Application(client_max_size=beacon.MAX_BATCH_BYTES, middlewares=[json_errors(state.metrics)])
    app[STATE] = state
    beacon.add_routes(app)
    ops.add_routes(app)
    stats.add_routes(app)
    dashboard.add_routes(app)
    share.add_routes(app)
    tracker.add_routes(app)
    subjects.add_routes(app)
    goals.add_routes(app)
    segments.add_routes(app)
    mail.add_routes(app)
    imports.add_routes(app)
    app.cleanup_ctx.append(_lifecycle)
    return app


def serve(settings: Settings, worker: int | None = None) -> None:
    """Run until SIGTERM/SIGINT: then stop accepting, seal, ship within the deadline, exit 0.
    ``worker`` is this process's index when ``spii serve --workers N`` runs N of them."""
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        pass
    state = build_state(settings, worker=worker)
    count_protocol_errors(lambda reason: state.metrics.protocol_errors.labels(reason).inc())
    # Startup objects (parsers, regexes, the keyring) live for the whole process: freeze them
    # out of the collector's view, and collect the young generation less often, so per-request
    # garbage does not trigger scans of long-lived objects (measured in bench/ingest.py).
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    if worker in (None, 0):
        log.info("config", extra={"fields": {"settings": {**settings.redacted(), "clickhouse_url": redact_dsn(state.store.dsn)}}})
        hot = hot_path()
        (log.info if not hot.pure else log.warning)("hot path", extra={"fields": {"runs": hot.describe(), "compiled": len(hot.compiled),
                                                                                 "pure": list(hot.pure)}})
    asyncio.run(_serve_until_stopped(build_app(state), state, worker))


async def _serve_until_stopped(app: web.Application, state: State, worker: int | None) -> None:
    """What web.run_app does, with the beacon endpoints on the fast path (beacon.fast_path, and
    most events answered in the protocol: http/inline.py):
    serve until SIGTERM or SIGINT, then close the listener and run the cleanup (the drain)."""
    settings = state.settings
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5, handle_signals=False, keepalive_timeout=settings.keepalive_seconds)
    await runner.setup()
    try:
        assert runner.server is not None
        runner.server.request_handler = beacon.fast_path(state, runner.server.request_handler)
        if not inline.install(runner.server, state):
            log.warning("this aiohttp's protocol differs: beacon events take aiohttp's request path")
        await web.TCPSite(runner, settings.host, settings.port, reuse_port=settings.workers > 1).start()
        log.info("listening", extra={"fields": {"host": settings.host, "port": settings.port, "worker": worker}})
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopped.set)
        await stopped.wait()
    finally:
        await runner.cleanup()
