"""Keep the event loop's CPU for the event loop (``SPII_SERVE_CPUS``): the loop's thread is
pinned there, and every other thread of the process goes to the process's other CPUs. Those
threads are the spool's fsync and shipping threads and the embedded ClickHouse's insert, merge
and pool threads. The loop's core then spends its time answering requests, and the store's
work runs beside it (bench/ingest.py measures both). The store starts threads when it needs
them, so the check repeats; Linux only, and a no-op when the setting is empty."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

__all__ = ["pin_threads"]

log = logging.getLogger("spii.serve")


def pin_threads(serve_cpus: list[int]) -> int:
    """Pin the main thread to ``serve_cpus`` and every other thread to the rest of the
    process's CPUs; the number of threads moved. Blocking but quick (it reads /proc)."""
    if not serve_cpus or not hasattr(os, "sched_setaffinity"):
        return 0
    main = threading.main_thread().native_id
    everyone = _process_cpus()
    serve = set(serve_cpus) & everyone
    rest = everyone - serve
    if not serve or not rest:
        return 0  # one CPU only: nothing to separate
    moved = 0
    for task in Path("/proc/self/task").iterdir():
        tid = int(task.name)
        want = serve if tid == main else rest
        try:
            if os.sched_getaffinity(tid) != want:
                os.sched_setaffinity(tid, want)
                moved += 1
        except OSError:  # the thread ended meanwhile
            continue
    return moved


def _process_cpus() -> set[int]:
    """Every CPU any thread of this process may use (the taskset/cgroup mask it started with)."""
    cpus: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            cpus |= os.sched_getaffinity(int(task.name))
        except OSError:
            continue
    return cpus
