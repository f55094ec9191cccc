-- sql/009_daily_visits.sql for a cluster (comments on each column there), as sql/cluster/005_daily.sql.
CREATE TABLE IF NOT EXISTS spii.daily_visits_local ON CLUSTER '{cluster}'
(
    client_id      LowCardinality(String),
    day            Date,
    session_id     UInt64,
    visitor_id     UInt64,
    pageviews      UInt32,
    counted        UInt32,
    first_ts       DateTime64(3, 'UTC'),
    last_ts        DateTime64(3, 'UTC'),
    exit_path      String CODEC(ZSTD(1)),
    exit_ts        DateTime64(3, 'UTC'),
    retention_days UInt16
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/spii/daily_visits_local', '{replica}')
ORDER BY (client_id, day, session_id)
TTL day + toIntervalDay(retention_days + 1);

CREATE TABLE IF NOT EXISTS spii.daily_visits ON CLUSTER '{cluster}' AS spii.daily_visits_local
ENGINE = Distributed('{cluster}', spii, daily_visits_local, cityHash64(client_id, day));

ALTER TABLE spii.daily_days_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS backdated UInt64 DEFAULT 0 AFTER events;
ALTER TABLE spii.daily_days ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS backdated UInt64 DEFAULT 0 AFTER events;
