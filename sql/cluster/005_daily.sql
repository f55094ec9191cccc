-- sql/008_daily.sql for a cluster (comments on each column there): each shard keeps the rows
-- written through the Distributed tables, which report queries read whole. Rows are counted over
-- the whole cluster before they are written (the events' Distributed table), so a shard's rows
-- are not a shard's share: reads add them all up, as they do on one node. Deletes run on every
-- shard's local table (a Distributed table cannot delete).
CREATE TABLE IF NOT EXISTS spii.daily_local ON CLUSTER '{cluster}'
(
    client_id       LowCardinality(String),
    day             Date,
    dim             LowCardinality(String),
    label           String CODEC(ZSTD(1)),
    visitors        UInt64,
    lasting         AggregateFunction(uniqExact, UInt64),
    orders          AggregateFunction(uniqExact, String),
    buyers          UInt64,
    lasting_buyers  AggregateFunction(uniqExact, UInt64),
    engagers        UInt64,
    lasting_engagers AggregateFunction(uniqExact, UInt64),
    scroll_sum      UInt64,
    lasting_scroll  AggregateFunction(maxMap, Array(UInt64), Array(UInt8)),
    cell_key        UInt64,
    visits          UInt64,
    pageviews       UInt64,
    events          UInt64,
    transactions    UInt64,
    revenue         Decimal(18, 4),
    fulfilments     UInt64,
    contacts        UInt64,
    visit_pageviews UInt64,
    engaged_visits  UInt64,
    visit_seconds   UInt64,
    engaged_ms      UInt64,
    counted         UInt64,
    retention_days  UInt16
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/spii/daily_local', '{replica}')
ORDER BY (client_id, dim, day, label)
TTL day + toIntervalDay(retention_days + 1);

CREATE TABLE IF NOT EXISTS spii.daily ON CLUSTER '{cluster}' AS spii.daily_local
ENGINE = Distributed('{cluster}', spii, daily_local, cityHash64(client_id, day));

CREATE TABLE IF NOT EXISTS spii.daily_days_local ON CLUSTER '{cluster}'
(
    client_id      LowCardinality(String),
    day            Date,
    events         UInt64,
    rolled_at      DateTime64(3, 'UTC'),
    retention_days UInt16
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/spii/daily_days_local', '{replica}', rolled_at)
ORDER BY (client_id, day)
TTL day + toIntervalDay(retention_days + 1);

CREATE TABLE IF NOT EXISTS spii.daily_days ON CLUSTER '{cluster}' AS spii.daily_days_local
ENGINE = Distributed('{cluster}', spii, daily_days_local, cityHash64(client_id, day));
