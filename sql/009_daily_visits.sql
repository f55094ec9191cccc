-- spii.daily_visits: per closed day, its part of each visit of a visitor whose id can recur on
-- other days (a consented cookie's hash, an epoch longer than a day; collector/reports/daily.py).
-- Such a visit may run past midnight, so its exit page (its last pageview) and its length are
-- known only with its other days' parts, joined per visit when a period is read. (A day-bound
-- visitor's visits lie within its day: they are counted per exit page in spii.daily.) Holds the
-- events' keyed visitor hash and random visit id, like spii.events; erased and expired with them.
CREATE TABLE IF NOT EXISTS spii.daily_visits
(
    client_id      LowCardinality(String),
    day            Date,
    session_id     UInt64,
    visitor_id     UInt64,
    pageviews      UInt32,
    -- its events of the day but engagement pings (a visit of pings alone is no visit)
    counted        UInt32,
    -- its first and last event of the day, pings too (a ping extends the visit)
    first_ts       DateTime64(3, 'UTC'),
    last_ts        DateTime64(3, 'UTC'),
    -- its last pageview of the day and when (none: '' at 0)
    exit_path      String CODEC(ZSTD(1)),
    exit_ts        DateTime64(3, 'UTC'),
    retention_days UInt16
)
ENGINE = MergeTree
ORDER BY (client_id, day, session_id)
TTL day + toIntervalDay(retention_days + 1);

-- Rows of a day-bound key dated on another day than the key's (an operator's backfill: the key
-- is the day it was sent, the row dated when it happened): their visitor is on two days, so a
-- period holding such a day is counted from the events (collector/reports/daily.py).
ALTER TABLE spii.daily_days ADD COLUMN IF NOT EXISTS backdated UInt64 DEFAULT 0 AFTER events;
