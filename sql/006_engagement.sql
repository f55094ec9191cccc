-- Engagement pings (Plausible's tracker sends them when a page is hidden or left): rows of kind
-- 'engagement' in the visit they belong to, never counted as pageviews or events. Adding an enum
-- value at the end is a metadata change: no part is rewritten.
ALTER TABLE spii.events MODIFY COLUMN kind Enum8('pageview' = 1, 'event' = 2, 'transaction' = 3, 'fulfilment' = 4, 'contact' = 5, 'engagement' = 6);
-- the page's maximum scroll depth so far (%), and engaged time since the previous ping (ms)
ALTER TABLE spii.events ADD COLUMN IF NOT EXISTS scroll_depth UInt8 CODEC(T64, ZSTD(1)) AFTER contact_channel;
ALTER TABLE spii.events ADD COLUMN IF NOT EXISTS engaged_ms UInt32 CODEC(T64, ZSTD(1)) AFTER scroll_depth;
