-- Visits are assigned at ingest (collector/ingest/sessions.py): every event carries its visit id
-- and the visit's entry page; referrer and UTM columns hold the visit's source.
-- session_id 0 = no visit (the visitor refused tracking: no identifier, so no visit either).
ALTER TABLE spii.events ADD COLUMN IF NOT EXISTS session_id UInt64 AFTER cookie_hash;
ALTER TABLE spii.events ADD COLUMN IF NOT EXISTS entry_page String CODEC(ZSTD(1)) AFTER path;
