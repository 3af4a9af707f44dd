-- The intake tally (see src/store/tally.rs): what became of each source's deliveries, by
-- five-minute bucket, added to by every gateway sharing this database. Not a projection of
-- the log: reindex leaves it alone.
CREATE TABLE source_tally (
    source text NOT NULL,
    bucket bigint NOT NULL,
    outcome text NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (source, bucket, outcome)
);
CREATE INDEX source_tally_bucket ON source_tally (bucket);
CREATE TABLE source_last_stored (
    source text PRIMARY KEY,
    received bigint NOT NULL
);
