-- The Merkle tree over deliveries (see src/store/project/tree.rs and src/trust/).
-- The chain head carries the tree's frontier; NULL in a database written before the tree,
-- which the first gateway to open it grows from the log.
ALTER TABLE chain_head ADD COLUMN tree bytea;

-- Perfect subtrees of height 4 and up: what inclusion and consistency proofs are made of.
-- Like the chain, part of the log: reindex grows them again to the same root.
CREATE TABLE merkle_subtrees (
    height smallint NOT NULL,
    idx bigint NOT NULL,
    hash bytea NOT NULL,
    PRIMARY KEY (height, idx)
);

-- Signed tree heads, numbered from 1 without gaps (gateways sharing the database race for
-- the next number; the primary key lets one win). Never rebuilt: a signature cannot be.
CREATE TABLE tree_heads (
    number bigint PRIMARY KEY,
    tree_size bigint NOT NULL,
    head text NOT NULL
);
CREATE INDEX tree_heads_by_size ON tree_heads (tree_size, number);
