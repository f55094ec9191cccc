"""Everything a request handler needs, in one typed object stored on the aiohttp app."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from collector.config import Settings
from collector.http.auth import Auth
from collector.ingest.client_ip import TrustedProxies
from collector.ingest.pipeline import Pipeline
from collector.mail.service import MailService
from collector.metrics import Metrics
from collector.privacy.keeper import KeyKeeper
from collector.privacy.keyring import LiveKeyring
from collector.reports.privacy_budget import PrivacyLedger
from collector.reports.stats import Stats
from collector.spool.segments import Spool
from collector.store.clickhouse import Store
from collector.store.shipper import Shipper
from collector.subjects.flags import SubjectFlags
from collector.subjects.service import SubjectService
from collector.tenants import LiveRegistry

T = TypeVar("T")


@dataclass
class State:
    settings: Settings
    keyring: LiveKeyring
    registry: LiveRegistry
    pipeline: Pipeline
    spool: Spool
    store: Store
    shipper: Shipper
    metrics: Metrics
    trusted: TrustedProxies
    auth: Auth
    stats: Stats
    flags: SubjectFlags
    subjects: SubjectService
    keys: KeyKeeper
    ledger: PrivacyLedger
    reports: ThreadPoolExecutor  # report work only: a dashboard holds its thread for seconds
    mail: MailService
    worker: int | None = None  # index of this process among N workers; None when alone
    tasks: list = field(default_factory=list)

    def in_report_thread(self, fn: Callable[..., T], *args: Any) -> Awaitable[T]:
        """``fn(*args)`` on a report thread: its queries wait there for the store, and the shared
        pool (the spool's syncs, the shipper, readiness, subject requests) stays free."""
        return asyncio.get_running_loop().run_in_executor(self.reports, fn, *args)


STATE = web.AppKey("state", State)
