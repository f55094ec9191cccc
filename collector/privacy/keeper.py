"""Keeps a running collector supplied with epoch keys, so it never stops storing because the
calendar moved on.

With ``keys_auto_rotate`` (the default) the collector creates ``keys_ahead`` future epochs
itself: on a timer much shorter than an epoch, and at once when an event finds no key for the
current time (off the event loop, under the keyring's file lock, one request doing it while
the others wait). With auto-rotate off (an operator distributes keys to several nodes), it only
reports: the number of epochs ahead in /readyz and the ``spii_keys_ahead`` gauge, a WARNING
once fewer than ``keys_min_ahead`` remain, and an ERROR at most once a minute while events are
refused for lack of a key.

Key work runs on the keeper's own thread (``run``), never in the loop's shared pool. There it
queued behind report queries waiting their turn for the store, and an event that needed a key
waited with them (over 10 s under load).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from collector.audit import AuditLog
from collector.privacy.keyring import IP, LiveKeyring

__all__ = ["KeyKeeper"]

log = logging.getLogger("spii.keys")

T = TypeVar("T")

REFUSING_LOG_SECONDS = 60.0
LOW_WARNING_SECONDS = 3600.0
# How far before its first epoch a clock may step back and still get a key made for the epoch
# it is in: an NTP correction across midnight on a collector's first day. A clock further back
# is wrong, and its events are refused (503) until it is set right.
STEP_BACK = timedelta(days=2)


class KeyKeeper:
    def __init__(
        self,
        live: LiveKeyring,
        *,
        ahead: int,
        min_ahead: int,
        auto_rotate: bool,
        audit: AuditLog | None = None,
        on_ahead: Callable[[int], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.live = live
        self.ahead = ahead
        self.min_ahead = min_ahead
        self.auto_rotate = auto_rotate
        self.audit = audit
        self.on_ahead = on_ahead
        self.clock = clock
        self._lock = asyncio.Lock()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spii-keys")
        self._last_refusing_log = -REFUSING_LOG_SECONDS
        self._last_low_warning = -LOW_WARNING_SECONDS

    async def run(self, job: Callable[[], T]) -> T:
        """``job()`` on the keeper's own thread: blocking key work (the timer's check, an event's
        missing key, the daily prune), one at a time, so none waits on another's file lock."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, job)

    def close(self) -> None:
        self._thread.shutdown(wait=True)

    def epochs_ahead(self, now: datetime | None = None) -> int:
        """Future ip epochs after the current one (0 when even the current one is missing)."""
        now = now or self.clock()
        return sum(1 for e in self.live.get().epochs[IP] if not e.destroyed and e.start > now)

    def check(self) -> list[str]:
        """The timer's duty (blocking: run it in a worker thread). Returns the key ids added."""
        now = self.clock()
        added: list[str] = []
        if self.auto_rotate:
            added = [e.key_id for e in self.live.store.rotate(self.ahead, now)] + self._before_first_epoch(now)
            if added:
                self.live.reload()
                log.info("keys created ahead", extra={"fields": {"added": added, "ahead": self.ahead}})
                if self.audit is not None:
                    self.audit.append("keys.rotate", actor="spii-serve", ahead=self.ahead, added=added)
        ahead = self.epochs_ahead(now)
        if self.on_ahead is not None:
            self.on_ahead(ahead)
        if ahead < self.min_ahead and time.monotonic() - self._last_low_warning >= LOW_WARNING_SECONDS:
            self._last_low_warning = time.monotonic()
            log.warning("few keys ahead: run `spii keys rotate` (or the key job) before they run out",
                        extra={"fields": {"epochs_ahead": ahead, "min_ahead": self.min_ahead, "auto_rotate": self.auto_rotate}})
        return added

    def _before_first_epoch(self, now: datetime) -> list[str]:
        """The key of the epoch ``now`` is in, when the clock stepped back before the first epoch
        (rotation only adds epochs after the last one): made as an import of older lines makes
        one (aligned, never over a destroyed or overlapping epoch). Its id, or nothing."""
        starts = [e.start for e in self.live.get().epochs[IP]]
        if not starts or not min(starts) - STEP_BACK <= now < min(starts):
            return []
        if not self.live.store.backfill(now):
            return []
        self.live.reload()
        made = self.live.get().key_id_at(now)
        return [made] if made else []

    def has_current(self) -> bool:
        return self.live.get().key_id_at(self.clock()) is not None

    async def supply_current(self) -> bool:
        """An event found no key for now: create it (auto-rotate) and say whether one exists
        now. Concurrent callers wait for the first one instead of rotating again."""
        async with self._lock:
            if self.has_current():
                return True  # a request before us created it, or the file was just replaced
            if self.auto_rotate:
                try:
                    await self.run(self.check)
                except Exception as exc:  # noqa: BLE001 - the event is refused (503), the cause logged
                    self._refusing(f"cannot create the current key ({type(exc).__name__})")
                    return False
            # read the file now: the timer (another thread) or another process may have written the
            # key a moment ago, in which case this check added nothing and reloaded nothing
            self.live.reload()
            if self.has_current():
                return True
            self._refusing("no key for the current time: events are refused (503) until one is created")
            return False

    def _refusing(self, message: str) -> None:
        if time.monotonic() - self._last_refusing_log >= REFUSING_LOG_SECONDS:
            self._last_refusing_log = time.monotonic()
            log.error(message, extra={"fields": {"auto_rotate": self.auto_rotate, "epochs_ahead": self.epochs_ahead()}})
