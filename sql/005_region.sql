-- The visitor's region (ISO 3166-2, e.g. GB-ENG), from the operator's city-level GeoIP database
-- (collector/privacy/geoip.py); '' when the database has none. The country column keeps the
-- ISO 3166-1 country, now looked up from the address (the event's cc only when that fails).
ALTER TABLE spii.events ADD COLUMN IF NOT EXISTS region LowCardinality(String) AFTER country;
