//! The Merkle tree over deliveries, as the writer keeps it (the tree itself is
//! [`crate::trust::merkle`]).
//!
//! Each delivery appended adds its leaf to the frontier in the chain head, in the same
//! transaction as the delivery: O(log n) at worst, O(1) amortized. The perfect subtrees a leaf
//! completes are what proofs are made of later, and every range a proof needs splits into
//! them. Keeping all of them would be about two rows per delivery; the writer keeps only
//! those of [`KEPT_FROM_HEIGHT`] and up (one row per 8 deliveries). A lower subtree lies
//! inside one block of `2^KEPT_FROM_HEIGHT` deliveries and is recomputed from their hashes,
//! which a proof reads at most twice (the leaf's block, and the block a tree's size cuts).

use super::{ChainHead, Tables};
use crate::store::StoreError;
use crate::trust::merkle::{Frontier, leaf_hash};

/// The lowest height of the subtrees a store keeps: 16 leaves.
pub const KEPT_FROM_HEIGHT: u32 = 4;

/// Whether appends grow the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Upkeep {
    #[default]
    Kept,
    /// Not at all: only the intake bench's `gateway-no-tree` appends this way, to show what
    /// the tree costs the writer. The store's tree then stops short of its log, so it is for
    /// a scratch store only.
    Off,
}

/// Deliveries read per step when the tree is grown from the log.
const CHUNK: usize = 1024;

/// Adds a delivery's leaf to `tree`, keeping the subtrees it completes.
pub fn add_leaf<T: Tables + ?Sized>(
    tables: &mut T,
    tree: &mut Frontier,
    delivery_hash: &[u8; 32],
) -> Result<(), StoreError> {
    let mut kept = Ok(());
    tree.push_reporting(leaf_hash(delivery_hash), |subtree| {
        if subtree.height >= KEPT_FROM_HEIGHT && kept.is_ok() {
            kept = tables.put_subtree(&subtree);
        }
    });
    kept
}

/// Grows the tree of a store written before it existed (or cut short) up to the log's end,
/// from the deliveries' hashes; how many leaves it added. Nothing to do (no read beyond the
/// head) when the tree is whole, which is every open but the first after an upgrade.
pub fn catch_up<T: Tables + ?Sized>(tables: &mut T) -> Result<u64, StoreError> {
    let mut head = tables.chain_head()?;
    let added = whole(tables, &mut head)?;
    if added > 0 {
        tables.set_chain_head(&head)?;
    }
    Ok(added)
}

/// Makes `head`'s tree reach its log, growing what is missing; how many leaves it added.
/// Appends call it first: a gateway of an earlier version sharing the database appends
/// without the tree, and the next append here grows it over those deliveries.
pub fn whole<T: Tables + ?Sized>(tables: &mut T, head: &mut ChainHead) -> Result<u64, StoreError> {
    if head.tree.size() == head.seq {
        return Ok(0);
    }
    if head.tree.size() > head.seq {
        return Err(StoreError::Corrupt(format!(
            "the Merkle tree holds {} leaves but the log ends at delivery {}",
            head.tree.size(),
            head.seq
        )));
    }
    grow(tables, head)
}

/// Grows the whole tree again from the log (`reindex`): the same deliveries give the same
/// root.
pub fn rebuild<T: Tables + ?Sized>(tables: &mut T) -> Result<u64, StoreError> {
    tables.clear_subtrees()?;
    let mut head = tables.chain_head()?;
    head.tree = Frontier::EMPTY;
    let added = grow(tables, &mut head)?;
    tables.set_chain_head(&head)?;
    Ok(added)
}

/// Adds the leaves of the deliveries after the tree's last one, up to the head.
fn grow<T: Tables + ?Sized>(tables: &mut T, head: &mut ChainHead) -> Result<u64, StoreError> {
    let mut added = 0;
    while head.tree.size() < head.seq {
        let from = head.tree.size() + 1;
        let chunk = tables.delivery_records_from(from, CHUNK)?;
        if chunk.is_empty() {
            break;
        }
        for delivery in chunk {
            if delivery.seq != head.tree.size() + 1 || delivery.seq > head.seq {
                return Err(StoreError::Corrupt(format!(
                    "the log jumps from delivery {} to {}: the tree cannot be grown",
                    head.tree.size(),
                    delivery.seq
                )));
            }
            let hash = delivery.hash();
            add_leaf(tables, &mut head.tree, &hash)?;
            added += 1;
        }
    }
    if head.tree.size() != head.seq {
        return Err(StoreError::Corrupt(format!(
            "the log ends at delivery {} but its head names {}",
            head.tree.size(),
            head.seq
        )));
    }
    Ok(added)
}
