-- sql/013_daily_channel.sql for a cluster: every shard's closed days written anew, with the
-- acquisition channel among their dimensions.
TRUNCATE TABLE IF EXISTS spii.daily_local ON CLUSTER '{cluster}';
TRUNCATE TABLE IF EXISTS spii.daily_visits_local ON CLUSTER '{cluster}';
TRUNCATE TABLE IF EXISTS spii.daily_days_local ON CLUSTER '{cluster}';
