-- sql/012_imported.sql for a cluster (comments on each column there): replicated local tables
-- and Distributed tables over them; deletes run on every shard's local table.
CREATE TABLE IF NOT EXISTS spii.imported_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/spii/imported_local', '{replica}')
ORDER BY (client_id, dim, day, label);

CREATE TABLE IF NOT EXISTS spii.imported ON CLUSTER '{cluster}' AS spii.imported_local
ENGINE = Distributed('{cluster}', spii, imported_local, cityHash64(client_id, import_id));

CREATE TABLE IF NOT EXISTS spii.imports_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/spii/imports_local', '{replica}')
ORDER BY (client_id, import_id);

CREATE TABLE IF NOT EXISTS spii.imports ON CLUSTER '{cluster}' AS spii.imports_local
ENGINE = Distributed('{cluster}', spii, imports_local, cityHash64(client_id, import_id));
