-- The visit's acquisition channel (Organic Search, Paid Social, Email, Referral, Direct, ...),
-- derived from its source and UTM tags by collector/ingest/channels.py's rules, whose SQL the
-- migration puts where the mark is. MATERIALIZED: computed once at insert; parts stored before
-- the column compute it from the same expression when read, until a merge writes it.
ALTER TABLE spii.events ADD COLUMN IF NOT EXISTS channel LowCardinality(String) MATERIALIZED /*channel*/ AFTER utm_content;
