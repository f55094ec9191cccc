-- sql/006_engagement.sql for a cluster: the shards' tables and the Distributed table over them.
ALTER TABLE spii.events_local ON CLUSTER '{cluster}' MODIFY COLUMN kind Enum8('pageview' = 1, 'event' = 2, 'transaction' = 3, 'fulfilment' = 4, 'contact' = 5, 'engagement' = 6);
ALTER TABLE spii.events_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS scroll_depth UInt8 CODEC(T64, ZSTD(1)) AFTER contact_channel;
ALTER TABLE spii.events_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS engaged_ms UInt32 CODEC(T64, ZSTD(1)) AFTER scroll_depth;
ALTER TABLE spii.events ON CLUSTER '{cluster}' MODIFY COLUMN kind Enum8('pageview' = 1, 'event' = 2, 'transaction' = 3, 'fulfilment' = 4, 'contact' = 5, 'engagement' = 6);
ALTER TABLE spii.events ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS scroll_depth UInt8 AFTER contact_channel;
ALTER TABLE spii.events ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS engaged_ms UInt32 AFTER scroll_depth;
