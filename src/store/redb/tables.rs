//! The table family of the redb backend.
//!
//! | table | key | value |
//! |---|---|---|
//! | `deliveries` | seq | delivery metadata (see [`super::records`]) — the log |
//! | `delivery_bodies` | seq | raw body bytes (retention may remove) |
//! | `entries` | entry id (ULID) | entry (JSON) |
//! | `subject_timelines` | (subject, lane, occurred µs, entry id) | () — the lane is 1 + the entry's category code |
//! | `entries_by_time` | (occurred µs, entry id) | () — every entry by when it happened (the home page) |
//! | `subject_changes` | (subject or `*`, seq, entry id) | () — the entry became new or changed on the timeline (or, under `*`, anywhere) with delivery seq |
//! | `dedup_keys` | (source, `d:` delivery id / `e:` event id / `r:` token / `c:` signed-content hash) | seq |
//! | `links` | link key | link target (JSON) |
//! | `flagged_deliveries` | seq | () |
//! | `meta` | name | value (the chain head: seq ‖ hash ‖ the Merkle tree's frontier) |
//! | `merkle_subtrees` | (height, index) | a perfect subtree's root, for heights from 4 (see [`crate::store::project::tree`]) |
//! | `tree_heads` | head number | a signed tree head (JSON; see [`crate::trust::heads`]) |
//! | `tree_heads_by_size` | (tree size, head number) | () |
//! | `unmatched_entries` | entry id | () — entries no link resolves yet |
//! | `pending_links` | (link key, entry id) | () — what to attach when the link arrives |
//! | `email_status` | `email.sent` entry id | delivery-status rollup (JSON) |
//! | `revoked_sessions` | session id (u128) | the session's expiry (i64 µs since the epoch) |
//! | `session_cutoffs` | username | (issued up to, expiry): i64 µs since the epoch each |
//! | `source_tally` | (source, bucket start s, outcome) | count (see [`crate::store::tally`]) |
//! | `source_last_stored` | source | its latest stored delivery's receipt (i64 µs) |
//! | `alerts` | alert name | (revision, record JSON) (see [`crate::store::alert_book`]) |
//!
//! The subtrees and the chain head's frontier are the log's, like the chain: `reindex` grows
//! them again from the deliveries, to the same root. Signed heads are not rebuilt: a
//! signature cannot be.
//! The session, tally and alert tables are not projections of the log: `reindex` leaves them alone,
//! and their rows are dropped once expired (see [`super::sessions`], [`super::tally`]).

use std::ops::RangeInclusive;

use redb::{ReadableTable, Table, TableDefinition};

use super::files::WriteTxn;

use crate::store::StoreError;
use crate::store::project::ChainHead;
use crate::trust::merkle::Frontier;

pub const DELIVERIES: TableDefinition<u64, &[u8]> = TableDefinition::new("deliveries");
pub const BODIES: TableDefinition<u64, &[u8]> = TableDefinition::new("delivery_bodies");
pub const ENTRIES: TableDefinition<u128, &[u8]> = TableDefinition::new("entries");
pub const TIMELINES: TableDefinition<TimelineKey<'_>, ()> =
    TableDefinition::new("subject_timelines");
pub const BY_TIME: TableDefinition<(i64, u128), ()> = TableDefinition::new("entries_by_time");
pub const CHANGES: TableDefinition<ChangeKey<'_>, ()> = TableDefinition::new("subject_changes");
pub const DEDUP: TableDefinition<(&str, &str), u64> = TableDefinition::new("dedup_keys");
pub const LINKS: TableDefinition<&str, &[u8]> = TableDefinition::new("links");
pub const FLAGGED: TableDefinition<u64, ()> = TableDefinition::new("flagged_deliveries");
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub const UNMATCHED: TableDefinition<u128, ()> = TableDefinition::new("unmatched_entries");
pub const PENDING_LINKS: TableDefinition<(&str, u128), ()> = TableDefinition::new("pending_links");
pub const EMAIL_STATUS: TableDefinition<u128, &[u8]> = TableDefinition::new("email_status");
pub const SUBTREES: TableDefinition<(u8, u64), [u8; 32]> = TableDefinition::new("merkle_subtrees");
pub const TREE_HEADS: TableDefinition<u64, &[u8]> = TableDefinition::new("tree_heads");
pub const TREE_HEADS_BY_SIZE: TableDefinition<(u64, u64), ()> =
    TableDefinition::new("tree_heads_by_size");
/// One signed-out session: its random id → when its cookie would have expired (µs).
pub const REVOKED_SESSIONS: TableDefinition<u128, i64> = TableDefinition::new("revoked_sessions");
/// "Sign out everywhere": username → (sessions issued up to this µs are void, the µs from
/// which the row is no longer needed).
pub const SESSION_CUTOFFS: TableDefinition<&str, (i64, i64)> =
    TableDefinition::new("session_cutoffs");

/// Intake counts: (source, bucket start in s, outcome) → count.
pub const SOURCE_TALLY: TableDefinition<(&str, i64, &str), u64> =
    TableDefinition::new("source_tally");
/// Source → when its latest stored delivery was received (µs).
pub const SOURCE_LAST_STORED: TableDefinition<&str, i64> =
    TableDefinition::new("source_last_stored");

/// Alert name → (revision, its record as JSON) (see [`crate::store::alert_book`]).
pub const ALERTS: TableDefinition<&str, (u64, &[u8])> = TableDefinition::new("alerts");

pub const CHAIN_HEAD: &str = "chain_head";
/// The seq of the last delivery the last durable commit holds — a checkpoint, whoever made it
/// (see [`super::journal`]): a u64, LE.
pub const CHECKPOINT: &str = "checkpoint";

/// A row of a subject's timelines: (subject key, lane, occurred µs, entry id).
pub type TimelineKey<'a> = (&'a str, u8, i64, u128);

/// A row of a subject's changes: (subject key, delivery seq, entry id).
pub type ChangeKey<'a> = (&'a str, u64, u128);

/// Timeline rows live in lanes (see [`crate::store::project::lane`]); lane 0 held every entry
/// in an earlier layout, which [`super::migrate`] removes.
pub use crate::store::project::lane;

/// A subject's rows in one lane, oldest first.
pub fn lane_rows(subject_key: &str, lane: u8) -> RangeInclusive<TimelineKey<'_>> {
    (subject_key, lane, i64::MIN, 0)..=(subject_key, lane, i64::MAX, u128::MAX)
}

const CORRUPT_HEAD: &str = "chain head";

/// The chain head as `meta` keeps it: seq (big-endian) ‖ hash ‖ the tree's frontier (see
/// [`Frontier::to_bytes`]). A head of 40 bytes was written before the tree existed: its tree
/// is empty, and [`crate::store::project::tree::catch_up`] grows it on the next open.
pub fn encode_head(head: &ChainHead) -> Vec<u8> {
    let mut raw = Vec::with_capacity(40 + 8 + 32 * 64);
    raw.extend_from_slice(&head.seq.to_be_bytes());
    raw.extend_from_slice(&head.hash);
    raw.extend_from_slice(&head.tree.to_bytes());
    raw
}

pub fn decode_head(raw: &[u8]) -> Result<ChainHead, StoreError> {
    let corrupt = || StoreError::Corrupt(CORRUPT_HEAD.into());
    let (seq, rest) = raw.split_first_chunk::<8>().ok_or_else(corrupt)?;
    let (hash, tree) = rest.split_first_chunk::<32>().ok_or_else(corrupt)?;
    let tree = if tree.is_empty() {
        Frontier::EMPTY
    } else {
        Frontier::from_bytes(tree).ok_or_else(corrupt)?
    };
    Ok(ChainHead {
        seq: u64::from_be_bytes(*seq),
        hash: *hash,
        tree,
    })
}

/// Every table, open for writing in one transaction.
pub struct WriteTables<'txn> {
    pub deliveries: Table<'txn, u64, &'static [u8]>,
    pub bodies: Table<'txn, u64, &'static [u8]>,
    pub entries: Table<'txn, u128, &'static [u8]>,
    pub timelines: Table<'txn, TimelineKey<'static>, ()>,
    pub changes: Table<'txn, ChangeKey<'static>, ()>,
    pub by_time: Table<'txn, (i64, u128), ()>,
    pub dedup: Table<'txn, (&'static str, &'static str), u64>,
    pub links: Table<'txn, &'static str, &'static [u8]>,
    pub flagged: Table<'txn, u64, ()>,
    pub meta: Table<'txn, &'static str, &'static [u8]>,
    pub unmatched: Table<'txn, u128, ()>,
    pub pending_links: Table<'txn, (&'static str, u128), ()>,
    pub email_status: Table<'txn, u128, &'static [u8]>,
    pub subtrees: Table<'txn, (u8, u64), [u8; 32]>,
}

impl<'txn> WriteTables<'txn> {
    pub fn open(txn: &'txn WriteTxn<'_>) -> Result<Self, StoreError> {
        Ok(WriteTables {
            deliveries: txn.open_table(DELIVERIES)?,
            bodies: txn.open_table(BODIES)?,
            entries: txn.open_table(ENTRIES)?,
            timelines: txn.open_table(TIMELINES)?,
            changes: txn.open_table(CHANGES)?,
            by_time: txn.open_table(BY_TIME)?,
            dedup: txn.open_table(DEDUP)?,
            links: txn.open_table(LINKS)?,
            flagged: txn.open_table(FLAGGED)?,
            meta: txn.open_table(META)?,
            unmatched: txn.open_table(UNMATCHED)?,
            pending_links: txn.open_table(PENDING_LINKS)?,
            email_status: txn.open_table(EMAIL_STATUS)?,
            subtrees: txn.open_table(SUBTREES)?,
        })
    }
}

pub fn read_chain_head(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<ChainHead, StoreError> {
    match table.get(CHAIN_HEAD)? {
        Some(raw) => decode_head(raw.value()),
        None => Ok(ChainHead::EMPTY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::Category;

    #[test]
    fn lanes_are_pinned() {
        // Lane 0 held every entry in the previous layout; categories start at 1.
        let lanes = Category::ALL.map(lane);
        assert_eq!(lanes, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn the_chain_head_is_written_as_pinned() {
        let mut tree = Frontier::EMPTY;
        tree.push([0x11; 32]);
        let head = ChainHead {
            seq: 0x0102,
            hash: [0xee; 32],
            tree,
        };
        let raw = encode_head(&head);
        assert_eq!(raw[..8], [0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(raw[8..40], [0xee; 32]);
        assert_eq!(raw[40..], head.tree.to_bytes());
        assert_eq!(decode_head(&raw).unwrap(), head);
        // Written before the tree: the same head with an empty tree, to be grown.
        let old = decode_head(&raw[..40]).unwrap();
        assert_eq!(
            (old.seq, old.hash, old.tree),
            (head.seq, head.hash, Frontier::EMPTY)
        );
        assert!(decode_head(&raw[..41]).is_err());
    }
}
