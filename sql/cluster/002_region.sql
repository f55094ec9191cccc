-- sql/005_region.sql for a cluster: the shards' tables and the Distributed table over them.
ALTER TABLE spii.events_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS region LowCardinality(String) AFTER country;
ALTER TABLE spii.events ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS region LowCardinality(String) AFTER country;
