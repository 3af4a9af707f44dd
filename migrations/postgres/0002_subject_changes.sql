-- What live timelines follow: one row each time an entry became new on a subject's timeline
-- or changed on it (an email's delivery status), at the delivery (seq) that did it. Appends
-- are serialized by the chain-head lock, so rows become visible in seq order: a reader that
-- has seen seq n never later finds a new row at or below it.
CREATE TABLE subject_changes (
    subject text NOT NULL,
    seq bigint NOT NULL,
    entry_id bytea NOT NULL,
    PRIMARY KEY (subject, seq, entry_id)
);
