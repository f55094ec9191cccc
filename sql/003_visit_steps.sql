-- Each event's place in its visit (collector/ingest/sessions.py Step), so visit metrics are sums:
-- visits = countIf(visit_event = 1); visits that did not bounce = countIf(visit_pageview = 2);
-- total visit duration = sum(visit_seconds). Small integers: T64 packs them to a few bits.
ALTER TABLE spii.events ADD COLUMN IF NOT EXISTS visit_event UInt16 CODEC(T64, ZSTD(1)) AFTER session_id;
ALTER TABLE spii.events ADD COLUMN IF NOT EXISTS visit_pageview UInt16 CODEC(T64, ZSTD(1)) AFTER visit_event;
ALTER TABLE spii.events ADD COLUMN IF NOT EXISTS visit_seconds UInt32 CODEC(T64, ZSTD(1)) AFTER visit_pageview;
