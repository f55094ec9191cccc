-- sql/010_channel.sql for a cluster: the shards' tables and the Distributed table over them (the
-- Distributed table declares it MATERIALIZED too, as `AS spii.events_local` would have copied it).
ALTER TABLE spii.events_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS channel LowCardinality(String) MATERIALIZED /*channel*/ AFTER utm_content;
ALTER TABLE spii.events ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS channel LowCardinality(String) MATERIALIZED /*channel*/ AFTER utm_content;
