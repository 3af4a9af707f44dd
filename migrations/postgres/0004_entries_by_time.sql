-- Every entry by when it happened: the home page reads the latest activity from here, one
-- index range per page. Existing entries are indexed from their stored JSON, whose
-- `occurred_at` (RFC 3339) comes before any nested one.
CREATE TABLE entries_by_time (
    occurred bigint NOT NULL,
    entry_id bytea NOT NULL,
    PRIMARY KEY (occurred, entry_id)
);
INSERT INTO entries_by_time (occurred, entry_id)
SELECT (extract(epoch FROM substring(convert_from(entry, 'UTF8') FROM '"occurred_at":"([^"]+)"')::timestamptz) * 1e6)::bigint, id
FROM entries
ON CONFLICT DO NOTHING;
