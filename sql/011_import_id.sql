-- The id of an imported web server log line (collector/importing/weblog.py): a hash of its
-- anonymised row, so importing a file again stores none of its lines twice. 0 for every event
-- a beacon sent.
ALTER TABLE spii.events ADD COLUMN IF NOT EXISTS import_id UInt64 DEFAULT 0 CODEC(ZSTD(1));
