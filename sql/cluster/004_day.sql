-- sql/007_day.sql for a cluster: the shards' tables and the Distributed table over them (the
-- Distributed table declares it MATERIALIZED too, as `AS spii.events_local` would have copied it).
ALTER TABLE spii.events_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS day Date MATERIALIZED toDate(ts) CODEC(Delta, ZSTD(1)) AFTER ts;
ALTER TABLE spii.events ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS day Date MATERIALIZED toDate(ts) AFTER ts;
