-- spii.daily: a closed day's counts per (client, dimension, label), written once the day has
-- closed (collector/reports/daily.py), so that a dashboard's passes add up days instead of
-- scanning their events. Counts are exact and add up across days because of the key scheme: a
-- cookieless visitor id is a keyed hash under one epoch's key, and an epoch of a day or less lies
-- within one UTC day, so no such id is on two days ("day-bound"). Ids that can recur on other
-- days (a consented cookie's hash, an epoch longer than a day) are kept as exact sets instead,
-- as are the orders of events with no visitor. Holds keyed hashes and counts, like spii.events;
-- erasing a subject deletes the client's rows here too, and they expire with the events.
CREATE TABLE IF NOT EXISTS spii.daily
(
    client_id       LowCardinality(String),
    day             Date,
    dim             LowCardinality(String),
    label           String CODEC(ZSTD(1)),
    -- distinct day-bound visitor ids of the day's events with this label
    visitors        UInt64,
    -- the other visitor ids, and the orders of events with no visitor: merged across days
    lasting         AggregateFunction(uniqExact, UInt64),
    orders          AggregateFunction(uniqExact, String),
    -- the same of the visitors with a transaction (conversion rates)
    buyers          UInt64,
    lasting_buyers  AggregateFunction(uniqExact, UInt64),
    -- the same of the visitors with engagement pings, and the sum of each day-bound one's deepest
    -- scroll; the others' deepest scroll per id, merged across days (scroll depth)
    engagers        UInt64,
    lasting_engagers AggregateFunction(uniqExact, UInt64),
    scroll_sum      UInt64,
    lasting_scroll  AggregateFunction(maxMap, Array(UInt64), Array(UInt8)),
    -- the largest visitor id (the cell key of perturbation), and counts that simply add up
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
    -- the visits' seconds, which their engagement pings extend; the events (no pings) of the row
    visit_seconds   UInt64,
    engaged_ms      UInt64,
    counted         UInt64,
    retention_days  UInt16
)
ENGINE = MergeTree
ORDER BY (client_id, dim, day, label)
TTL day + toIntervalDay(retention_days + 1);

-- Which days are in spii.daily, with the day's row count of spii.events when it was written: a
-- day whose events changed since (late events, a retention cut) is counted from the events again
-- until it is written anew.
CREATE TABLE IF NOT EXISTS spii.daily_days
(
    client_id      LowCardinality(String),
    day            Date,
    events         UInt64,
    rolled_at      DateTime64(3, 'UTC'),
    retention_days UInt16
)
ENGINE = ReplacingMergeTree(rolled_at)
ORDER BY (client_id, day)
TTL day + toIntervalDay(retention_days + 1);
