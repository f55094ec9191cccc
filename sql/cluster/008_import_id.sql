-- sql/011_import_id.sql for a cluster: the shards' tables and the Distributed table over them.
ALTER TABLE spii.events_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS import_id UInt64 DEFAULT 0 CODEC(ZSTD(1));
ALTER TABLE spii.events ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS import_id UInt64 DEFAULT 0;
