-- Alert records (see src/store/alert_book.rs): each rule's state and how far its notification
-- has come, swapped by revision so that gateways sharing this database notify a change once.
-- Not a projection of the log: reindex leaves it alone.
CREATE TABLE alerts (
    name text PRIMARY KEY,
    revision bigint NOT NULL,
    record text NOT NULL
);
