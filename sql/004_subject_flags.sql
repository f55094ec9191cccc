-- Data-subject flags (collector/subjects/flags.py). 'restrict': the subject's rows stay but every
-- report leaves them out; 'object': the subject's future events are dropped at ingest. A flag
-- names the subject only by pseudonyms: (key_id, ip_token) of one IP epoch, or a cookie hash.
-- expires_at ends a flag once nothing can match it (TTL): an objection at its epoch's end, a
-- restriction when the client's retention has removed the last row it could hide.
-- ReplacingMergeTree: the same flag set twice (a retried request) is one row after merges, and
-- readers deduplicate with DISTINCT meanwhile.
CREATE TABLE IF NOT EXISTS spii.subject_flags
(
    client_id LowCardinality(String),
    flag Enum8('restrict' = 1, 'object' = 2),
    key_id LowCardinality(String),
    ip_token IPv6,
    cookie_hash UInt64,
    created_at DateTime DEFAULT now(),
    expires_at DateTime
)
ENGINE = ReplacingMergeTree(created_at)
ORDER BY (client_id, flag, key_id, ip_token, cookie_hash)
TTL expires_at;
