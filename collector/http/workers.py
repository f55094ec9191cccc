"""`spii serve --workers N`: one supervisor and N collector processes on one port.

Each worker is a whole collector (event loop, spool directory ``spool/worker-<i>``, shipper)
bound with SO_REUSEPORT, so the kernel spreads connections across them. The supervisor binds
nothing: it applies the migrations once, starts the workers, forwards SIGTERM/SIGINT/SIGHUP and
restarts a worker that dies. Server mode only: embedded chDB allows one process per store.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import shutil
import signal
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

from prometheus_client import multiprocess

from collector.config import Settings
from collector.http.app import open_store, serve
from collector.privacy.setup import keyring_store, load_master_key
from collector.logs import setup_logging
from collector.metrics import MULTIPROC_ENV

log = logging.getLogger("spii.workers")
RESTART_BACKOFF_MAX = 30.0
_PR_SET_PDEATHSIG = 1


def supervise(settings: Settings) -> int:
    """Run ``settings.workers`` collectors until SIGTERM/SIGINT; exit 0 after all have drained."""
    _prepare(settings)
    context = multiprocessing.get_context("spawn")  # no fork of a process holding threads/sockets
    workers: dict[int, BaseProcess] = {}
    restarts = {i: 0 for i in range(settings.workers)}
    stopping = False

    def start(index: int) -> None:
        process = context.Process(target=_worker_main, args=(settings, index), name=f"spii-worker-{index}")
        process.start()
        workers[index] = process
        log.info("worker started", extra={"fields": {"worker": index, "pid": process.pid}})

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        if signum in (signal.SIGTERM, signal.SIGINT):
            stopping = True
        for process in workers.values():
            if process.pid and process.is_alive():
                os.kill(process.pid, signal.SIGTERM if signum == signal.SIGINT else signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    for index in range(settings.workers):
        start(index)
    while not stopping:
        wait([p.sentinel for p in workers.values()], timeout=1.0)
        for index, process in list(workers.items()):
            if process.is_alive() or stopping:
                continue
            process.join()
            multiprocess.mark_process_dead(process.pid, str(settings.metrics_dir))
            restarts[index] += 1
            delay = min(RESTART_BACKOFF_MAX, 2.0 ** min(restarts[index] - 1, 5))
            log.error("worker died; restarting", extra={"fields": {"worker": index, "exit_code": process.exitcode, "in_seconds": delay}})
            resume = time.monotonic() + delay
            while not stopping and time.monotonic() < resume:  # a SIGTERM cuts the backoff short
                time.sleep(0.2)
            if not stopping:
                start(index)
    deadline = time.monotonic() + settings.shutdown_seconds + 10
    failed = 0
    for index, process in workers.items():
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            log.error("worker did not stop in time; killing it", extra={"fields": {"worker": index}})
            process.kill()
            process.join()
        failed += process.exitcode not in (0, -signal.SIGTERM)
    log.info("all workers stopped", extra={"fields": {"workers": len(workers), "failed": failed}})
    return 1 if failed else 0


def _prepare(settings: Settings) -> None:
    """What must happen once per node, not once per worker: a fresh metrics directory (the
    workers' values from an earlier run would add up), keys ahead, and the migrations."""
    shutil.rmtree(settings.metrics_dir, ignore_errors=True)
    settings.metrics_dir.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(settings.metrics_dir)  # inherited by the spawned workers
    if settings.keys_auto_rotate:
        keyring_store(settings, load_master_key(settings)).rotate(settings.keys_ahead)
    store = open_store(settings)
    try:
        store.migrate()  # once here, so N workers do not race on the first migration
    except Exception as exc:  # noqa: BLE001 - the workers spool and retry until the server answers
        log.warning("store unreachable at start; workers will retry", extra={"fields": {"error": type(exc).__name__}})
    finally:
        store.close()


def _worker_main(settings: Settings, index: int) -> None:
    """Entry point of one spawned worker process."""
    _die_with_parent()
    os.setpgrp()  # a terminal's Ctrl-C reaches the supervisor only; it stops the workers in order
    setup_logging(logging.INFO)
    serve(settings, worker=index)


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this worker if the supervisor is killed, so no orphan keeps the port."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
