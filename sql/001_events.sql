-- spii.events: one row per accepted event, already pseudonymised. No raw IP, full postcode,
-- raw User-Agent or raw cookie id ever reaches this table.
CREATE DATABASE IF NOT EXISTS spii;

CREATE TABLE IF NOT EXISTS spii.events
(
    client_id         LowCardinality(String),
    -- server receive time; DoubleDelta suits near-monotonic timestamps within a part
    ts                DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    kind              Enum8('pageview' = 1, 'event' = 2, 'transaction' = 3, 'fulfilment' = 4, 'contact' = 5),
    name              LowCardinality(String),
    host              LowCardinality(String),
    -- paths repeat a lot but have a long tail: ZSTD beats LowCardinality past ~10k distinct values
    path              String CODEC(ZSTD(1)),
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
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
-- Every report reads one client over a date range, so (client_id, day) leads; visitor_id next
-- keeps each visitor's events of a day together for sessionisation (visits, bounce rate, entry
-- and exit pages); ts last orders them in time within a visitor.
ORDER BY (client_id, toDate(ts), visitor_id, ts)
-- per-client retention is set on every row at ingest
TTL toDateTime(ts) + toIntervalDay(retention_days)
-- makes insert_deduplication_token work on a plain MergeTree: a spool segment re-sent after a
-- crash between INSERT and delete is ignored instead of stored twice
SETTINGS non_replicated_deduplication_window = 10000;
