"""Everything a request handler needs, in one typed object stored on the aiohttp app."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from collector.config import Settings
from collector.http.auth import Auth
from collector.ingest.client_ip import TrustedProxies
from collector.ingest.pipeline import Pipeline
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
    worker: int | None = None  # index of this process among N workers; None when alone
    tasks: list = field(default_factory=list)


STATE = web.AppKey("state", State)
