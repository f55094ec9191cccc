"""The one configuration object. Every field can be set with an ``SPII_<NAME>`` environment
variable (e.g. ``SPII_DATA_DIR``); CLI flags override the environment."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from collector.reports.periods import PERIOD_CHOICES

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPII_", extra="ignore")

    # --- where things live
    data_dir: Path = Field(Path("./var"), description="Keyring, spool, embedded store, audit log.")
    keyring_file: Path | None = Field(
        None, description="Keyring shared by every collector node (a mounted secret); default <data_dir>/keyring.json."
    )
    clients_file: Path | None = Field(
        None, description="Client registry shared by every node (a mounted config map); default <data_dir>/clients.json."
    )
    clickhouse_url: str | None = Field(
        None, description="clickhouse-connect DSN; default chdb://<data_dir>/clickhouse (embedded)."
    )

    clickhouse_cluster: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_]+$", description="ClickHouse cluster name: apply sql/cluster/ (replicated + Distributed) instead of sql/."
    )
    clickhouse_verify: bool = Field(True, description="Verify the ClickHouse server's TLS certificate (https DSNs).")
    clickhouse_ca_cert: Path | None = Field(None, description="CA bundle for the ClickHouse server's certificate.")
    clickhouse_connect_timeout: int = Field(10, ge=1, description="Seconds to connect to a ClickHouse server.")
    clickhouse_send_timeout: int = Field(300, ge=1, description="Seconds to send/receive one request (a segment INSERT).")

    # --- secrets
    master_key: SecretStr | None = Field(None, description="Base64 of the 32-byte key-encryption key.")
    master_key_file: Path | None = Field(None, description="File holding the base64 master key.")
    admin_token: SecretStr | None = Field(None, description="Operator token for admin endpoints.")

    # --- network
    host: str = Field("127.0.0.1", description="Listen address.")
    port: int = Field(8080, ge=1, le=65535, description="Listen port.")
    server_url: str | None = Field(None, description="Collector URL used by the CLI; default http://<host>:<port> of these settings.")
    trusted_proxies: Annotated[list[Network], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated CIDRs whose X-Forwarded-For / Forwarded headers are believed.",
    )

    # --- keys
    key_epoch_hours: int = Field(24, ge=1, le=24 * 31, description="Length of an IP-key epoch.")
    cookie_key_epoch_days: int = Field(
        90, ge=1, le=3650, description="Length of a cookie-hash key epoch (long-lived)."
    )
    keys_ahead: int = Field(7, ge=0, le=366, description="Future epochs `spii keys rotate` keeps.")
    keys_min_ahead: int = Field(2, ge=0, description="`spii keys status --check` fails below this.")

    key_grace_days: int = Field(
        7, ge=0, le=3650, description="Keys are destroyed this long after the longest client retention has expired their rows."
    )
    keys_prune_hours: float = Field(
        24.0, ge=0, description="How often `spii serve` destroys keys past their date (0: never; use `spii keys prune`)."
    )
    keys_auto_rotate: bool = Field(
        True, description="`spii serve` keeps keys_ahead epochs itself; turn off when keys are distributed to several nodes."
    )
    keys_check_seconds: float = Field(
        60.0, gt=0, le=3600, description="How often `spii serve` checks the keys ahead (and creates them, with auto-rotate)."
    )
    report_threads: int = Field(
        4, ge=1, le=64,
        description="Threads for report queries and dashboard pages (each page holds one while it renders). Shipping, "
        "readiness checks, key and subject work have their own, so analysts never hold them up.",
    )

    # --- service
    workers: int = Field(
        1, ge=1, le=64, description="Collector processes sharing the port (SO_REUSEPORT), each with its own spool; server mode only."
    )
    # An abuse guard, not a quota: sized above a popular site's real peak (a TV spot, a front
    # page) so a spike is stored, while one runaway sender cannot take a whole node.
    client_rate: float = Field(5000.0, ge=0, description="Per-client sustained events/s per node (0: no limit).")
    client_burst: float = Field(100_000.0, gt=0, description="Per-client burst per node.")
    serve_cpus: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        description="CPUs for the event loop (e.g. 0); every other thread (spool sync, embedded ClickHouse's inserts and "
        "merges) runs on the process's other CPUs. Empty: no pinning.",
    )
    max_open_visits: int = Field(
        1_000_000, ge=1000, description="Open visits kept in memory (~420 bytes each); past it the oldest end early."
    )
    spool_segment_bytes: int = Field(4 << 20, ge=1024, description="Seal a spool segment at this size.")
    spool_segment_seconds: float = Field(1.0, gt=0, description="Seal a spool segment at this age.")
    spool_fsync_seconds: float = Field(0.2, ge=0.01, description="fsync cadence of the open segment.")
    spool_budget_bytes: int = Field(1 << 30, ge=1 << 16, description="Spool disk budget; over it, 503.")
    spool_min_free_bytes: int = Field(
        128 << 20, ge=0, description="Free space the spool's filesystem keeps: below it, events are refused (503) so the "
        "embedded store keeps room to merge and the spool can still be shipped. 0: refuse only when a write fails.")
    shutdown_seconds: float = Field(10.0, ge=0, description="Time to ship the spool on SIGTERM.")
    keepalive_seconds: float = Field(
        75.0, gt=0, le=3600, description="An idle keep-alive connection is closed after this long (keep it above a load balancer's idle timeout)."
    )
    stats_rate: float = Field(10.0, gt=0, description="Per-token stats API requests/s (dashboard included).")
    stats_burst: float = Field(60.0, gt=0, description="Per-token stats API burst.")
    report_fresh_seconds: float = Field(
        60.0, ge=0, le=3600, description="A big client's report answers for periods that include today are kept this long (0: always computed)."
    )
    report_fresh_rows: int = Field(1_000_000, ge=1, description="A client is big (its open answers are kept) from this many events in the period.")
    report_warm_seconds: float = Field(
        600.0, ge=0, description="Kept answers asked again within this long are recomputed before they go stale (0: never)."
    )
    report_ready_periods: Annotated[list[str], NoDecode] = Field(
        ["30d"], description="Each big client's dashboard of these periods (comma-separated: 30d,7d; empty: none) is counted ahead "
        "and kept ready, so its first view answers from memory (needs SPII_REPORT_FRESH_SECONDS and SPII_REPORT_WARM_SECONDS above 0)."
    )
    report_daily: bool = Field(
        True, description="Write each big client's closed days of the ready periods to spii.daily once, and add them up for the "
        "dashboard's unfiltered visit-column pass instead of scanning their events (exact counts; docs/design.md)."
    )
    report_ready_seconds: float = Field(
        60.0, gt=0, description="How often the dashboards kept ready are asked again (a new day, an erasure, a client grown big)."
    )
    subject_flags_seconds: float = Field(
        5.0, gt=0, description="How often each collector reloads restriction/objection flags set through other nodes."
    )

    # --- privacy transforms
    us_zip3: bool = Field(False, description="Store US ZIPs as 3-digit ZIP3 (HIPAA) instead of ZIP5.")
    geoip_db: Path | None = Field(
        None, description="An operator's .mmdb (MaxMind GeoLite2/GeoIP2 or DB-IP lite) for countries and regions; default: iptocc "
        "(registry countries, no regions)."
    )

    # --- e-mail: scheduled reports and traffic alerts (collector/mail)
    smtp_url: SecretStr | None = Field(
        None, description="Mail server: smtp://user:password@host:587 (STARTTLS when offered), smtp+starttls://... (STARTTLS "
        "required), smtps://...:465 (TLS). Unset: messages are written as .eml files to SPII_EMAIL_DIR.")
    smtp_ca_cert: Path | None = Field(None, description="CA bundle for the mail server's certificate (default: the system's).")
    email_from: str = Field("spii <spii@localhost>", description="The From: of reports and alerts.")
    email_dir: Path | None = Field(None, description="Where messages are written without SPII_SMTP_URL; default <data dir>/mail/outbox.")
    public_url: str | None = Field(None, description="The collector's address as readers reach it, for links in e-mails; default "
                                   "SPII_SERVER_URL, else http://<host>:<port>.")
    mail_check_seconds: float = Field(60.0, gt=0, description="How often due reports and alerts are looked for.")
    mail_send: bool = Field(True, description="This node sends the scheduled reports and alerts (several nodes: one only, false on "
                            "the others; each keeps its own record of what it sent).")
    mail_catch_up: int = Field(3, ge=1, le=52, description="Closed periods per kind still sent late after the collector was down.")

    @field_validator("serve_cpus", mode="before")
    @classmethod
    def _split_cpus(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [int(part) for part in value.replace(" ", "").split(",") if part]
        return value

    @field_validator("report_ready_periods", mode="before")
    @classmethod
    def _split_periods(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        ready = [period for period, _ in PERIOD_CHOICES]
        for period in value if isinstance(value, list) else []:
            if period not in ready:
                raise ValueError(f"unknown period {period!r}: one of {', '.join(ready)}")
        return list(dict.fromkeys(value)) if isinstance(value, list) else value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_cidrs(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            return [ipaddress.ip_network(part, strict=False) if isinstance(part, str) else part for part in value]
        return value

    @property
    def collector_url(self) -> str:
        """Where CLI commands find the running collector: SPII_SERVER_URL, else this host and port."""
        if self.server_url:
            return self.server_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else "::1" if self.host == "::" else self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @property
    def keyring_path(self) -> Path:
        return self.keyring_file or self.data_dir / "keyring.json"

    @property
    def clients_path(self) -> Path:
        return self.clients_file or self.data_dir / "clients.json"

    @property
    def embedded(self) -> bool:
        """The store is chDB inside this process (one process per store)."""
        return (self.clickhouse_url or "chdb:").startswith("chdb:")

    def spool_dir(self, worker: int | None = None) -> Path:
        """The spool of one collector process: ``spool/`` alone, ``spool/worker-<i>`` of N."""
        root = self.data_dir / "spool"
        return root if worker is None else root / f"worker-{worker}"

    @property
    def metrics_dir(self) -> Path:
        """Where N workers share their Prometheus counters (prometheus_client multiprocess mode)."""
        return self.data_dir / "metrics"

    @property
    def privacy_ledger_path(self) -> Path:
        """Epsilon spent by differentially private exports, per client and month."""
        return self.data_dir / "privacy_budget.json"

    @property
    def serve_lock_path(self) -> Path:
        """Held by the one `spii serve` (or supervisor) that owns this data dir's spool and store."""
        return self.data_dir / "serve.pid"

    @property
    def audit_log_path(self) -> Path:
        return self.data_dir / "audit.log"

    @property
    def mail_ledger_path(self) -> Path:
        """Every report and alert sent (by recipient digest, never an address): none twice."""
        return self.data_dir / "mail" / "sent.json"

    @property
    def email_outbox(self) -> Path:
        return self.email_dir or self.data_dir / "mail" / "outbox"

    @property
    def link_base(self) -> str:
        """The collector's address in links sent to readers."""
        return (self.public_url or self.collector_url).rstrip("/")

    @property
    def admin_token_path(self) -> Path:
        return self.data_dir / "admin.token"

    @property
    def dev_master_key_path(self) -> Path:
        return self.data_dir / "master.key"

    def redacted(self) -> dict[str, Any]:
        """The settings as printed at start: secrets shown only as set / unset."""
        out: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            if isinstance(getattr(self, name), SecretStr):
                value = "***" if value else None
            elif isinstance(value, Path):
                value = str(value)
            elif name == "trusted_proxies":
                value = [str(v) for v in value]
            out[name] = value
        return out
