-- Imported history (Plausible CE's CSV export: collector/importing/plausible.py), in tables of
-- their own, never mixed into spii.events. spii.imported: each day's counts per dimension and
-- label as the export holds them ('total' for the site's day; else the Stats API property the
-- label is a value of: 'visit:source', 'event:page', ...). Aggregates only: no visitor, address
-- or identifier of any kind. Reports add them in when asked (include.imports, with_imported).
CREATE TABLE IF NOT EXISTS spii.imported
(
    client_id      LowCardinality(String),
    import_id      UInt64,
    day            Date,
    dim            LowCardinality(String),
    label          String CODEC(ZSTD(1)),
    visitors       UInt64,
    visits         UInt64,
    pageviews      UInt64,
    bounces        UInt64,
    visit_duration UInt64,
    events         UInt64
)
ENGINE = MergeTree
ORDER BY (client_id, dim, day, label);

-- One row per import: `spii import list` shows them, `spii import delete` removes one (its rows
-- in spii.imported first).
CREATE TABLE IF NOT EXISTS spii.imports
(
    client_id   LowCardinality(String),
    import_id   UInt64,
    source      LowCardinality(String),
    file        String,
    first_day   Date,
    last_day    Date,
    rows        UInt64,
    imported_at DateTime('UTC')
)
ENGINE = MergeTree
ORDER BY (client_id, import_id);
