-- The log and its projections. JSON is kept as bytea: the exact bytes the embedded backend
-- stores, with no parsing on the write path, and no refusal of content jsonb cannot hold
-- (a \u0000 inside a hostile webhook must not fail a commit).

-- One row, locked by every commit: it serializes appends across gateways, keeping seq
-- gap-free and the integrity chain one chain.
CREATE TABLE chain_head (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq bigint NOT NULL,
    hash bytea NOT NULL
);
INSERT INTO chain_head (id, seq, hash) VALUES (true, 0, decode(repeat('00', 32), 'hex'));

CREATE TABLE deliveries (
    seq bigint PRIMARY KEY,
    source text NOT NULL,
    received_at_nanos bigint NOT NULL,
    headers bytea NOT NULL,
    body_sha256 bytea NOT NULL,
    chain bytea NOT NULL,
    delivery_id text,
    replay_key text,
    outcome bytea NOT NULL
);

-- Retention and erasure delete rows here; the record and its hash stay.
CREATE TABLE delivery_bodies (
    seq bigint PRIMARY KEY,
    body bytea NOT NULL
);

-- Entry ids are ULIDs as 16 big-endian bytes: bytea order is time order.
CREATE TABLE entries (
    id bytea PRIMARY KEY,
    entry bytea NOT NULL
);

-- One row per (subject, entry), in the lane of the entry's category (1 + its code). The key
-- serves a filtered page; the second index the whole timeline. Both match the cursor
-- (occurred µs, entry id), so a page is one index range.
CREATE TABLE subject_timelines (
    subject text NOT NULL,
    lane smallint NOT NULL,
    occurred bigint NOT NULL,
    entry_id bytea NOT NULL,
    PRIMARY KEY (subject, lane, occurred, entry_id)
);
CREATE INDEX subject_timelines_by_time ON subject_timelines (subject, occurred, entry_id);

CREATE TABLE dedup_keys (
    source text NOT NULL,
    key text NOT NULL,
    seq bigint NOT NULL,
    PRIMARY KEY (source, key)
);

CREATE TABLE links (
    key text PRIMARY KEY,
    entry_id bytea NOT NULL,
    target bytea NOT NULL
);

CREATE TABLE flagged_deliveries (seq bigint PRIMARY KEY);

CREATE TABLE unmatched_entries (entry_id bytea PRIMARY KEY);

CREATE TABLE pending_links (
    key text NOT NULL,
    entry_id bytea NOT NULL,
    PRIMARY KEY (key, entry_id)
);

CREATE TABLE email_status (
    entry_id bytea PRIMARY KEY,
    status bytea NOT NULL
);

-- Staff sign-outs (not projections of the log: reindex leaves them alone).
CREATE TABLE revoked_sessions (
    id bytea PRIMARY KEY,
    expires bigint NOT NULL
);
CREATE TABLE session_cutoffs (
    username text PRIMARY KEY,
    issued_up_to bigint NOT NULL,
    expires bigint NOT NULL
);
