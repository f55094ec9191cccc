-- The cluster form of sql/001-004 (spii serve --clickhouse-cluster NAME): the same columns, on
-- ReplicatedMergeTree with {shard}/{replica} macros, created ON CLUSTER; spii.events becomes a
-- Distributed table over spii.events_local, so the shipper and every report query keep using the
-- name spii.events. '{cluster}' is replaced by the configured cluster name when applied.
-- Comments on each column and on ORDER BY / codecs: sql/001_events.sql.
CREATE DATABASE IF NOT EXISTS spii ON CLUSTER '{cluster}';

CREATE TABLE IF NOT EXISTS spii.events_local ON CLUSTER '{cluster}'
(
    client_id         LowCardinality(String),
    -- server receive time; DoubleDelta suits near-monotonic timestamps within a part
    ts                DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    kind              Enum8('pageview' = 1, 'event' = 2, 'transaction' = 3, 'fulfilment' = 4, 'contact' = 5),
    name              LowCardinality(String),
    host              LowCardinality(String),
    -- paths repeat a lot but have a long tail: ZSTD beats LowCardinality past ~10k distinct values
    path              String CODEC(ZSTD(1)),
    entry_page        String CODEC(ZSTD(1)),
    query             String CODEC(ZSTD(1)),
    referrer_host     LowCardinality(String),
    referrer_source   LowCardinality(String),
    utm_source        LowCardinality(String),
    utm_medium        LowCardinality(String),
    utm_campaign      LowCardinality(String),
    utm_term          LowCardinality(String),
    utm_content       LowCardinality(String),
    browser           LowCardinality(String),
    browser_version   LowCardinality(String),
    os                LowCardinality(String),
    os_version        LowCardinality(String),
    device            LowCardinality(String),
    postcode_area     LowCardinality(String),
    country           LowCardinality(String),
    -- the epoch key that encrypted ip_token ('' when no identifier could be stored)
    key_id            LowCardinality(String),
    -- ipcrypt-deterministic token of the IP under the client's epoch subkey; '::' = none (GPC/DNT)
    ip_token          IPv6,
    -- 64-bit keyed hashes: random-looking, so no codec helps beyond the default LZ4
    visitor_id        UInt64,
    cookie_hash       UInt64,
    session_id        UInt64,
    visit_event       UInt16 CODEC(T64, ZSTD(1)),
    visit_pageview    UInt16 CODEC(T64, ZSTD(1)),
    visit_seconds     UInt32 CODEC(T64, ZSTD(1)),
    props             Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    -- keyed hash of the client's order id: links a transaction to its fulfilment, nothing more
    order_id          String CODEC(ZSTD(1)),
    revenue           Decimal(18, 4),
    currency          LowCardinality(String),
    items             Array(Tuple(sku String, quantity UInt32, price Decimal(18, 4))) CODEC(ZSTD(1)),
    fulfilment_status LowCardinality(String),
    contact_channel   LowCardinality(String),
    -- 1 when the visitor asked not to be tracked (GPC/DNT): counted, never identified
    tracking_refused  UInt8,
    retention_days    UInt16
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/spii/events_local', '{replica}')
PARTITION BY toYYYYMM(ts)
ORDER BY (client_id, toDate(ts), visitor_id, ts)
TTL toDateTime(ts) + toIntervalDay(retention_days)
-- replicated tables deduplicate inserts by insert_deduplication_token out of the box
SETTINGS replicated_deduplication_window = 10000;

-- Inserts and queries. Sharding by (client, visitor): one visitor's events live on one shard, so
-- visits, entry/exit pages and a subject's rows are shard-local, and clients spread evenly.
CREATE TABLE IF NOT EXISTS spii.events ON CLUSTER '{cluster}' AS spii.events_local
ENGINE = Distributed('{cluster}', spii, events_local, cityHash64(client_id, visitor_id));

-- Restriction/objection flags (sql/004): small and read by every node, so one replica set that
-- spans the whole cluster (no {shard} in the path) instead of a sharded table.
CREATE TABLE IF NOT EXISTS spii.subject_flags ON CLUSTER '{cluster}'
(
    client_id LowCardinality(String),
    flag Enum8('restrict' = 1, 'object' = 2),
    key_id LowCardinality(String),
    ip_token IPv6,
    cookie_hash UInt64,
    created_at DateTime DEFAULT now(),
    expires_at DateTime
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/spii/subject_flags', '{replica}', created_at)
ORDER BY (client_id, flag, key_id, ip_token, cookie_hash)
TTL expires_at;
