//! The Merkle tree's rows: the perfect subtrees the writer keeps (written inside each append's
//! transaction, see [`crate::store::project::tree`]) and the signed tree heads (each in a
//! durable transaction of its own).

#[cfg(test)]
mod tests;

use redb::ReadableTable;

use super::files::{Files, ReadTxn, WriteTxn};

use super::tables::{META, SUBTREES, TREE_HEADS, TREE_HEADS_BY_SIZE, read_chain_head};
use crate::store::project::ChainHead;
use crate::store::{StoreError, from_json, to_json};
use crate::trust::heads::SignedHead;
use crate::trust::merkle::Hash;

pub fn create_tables(txn: &WriteTxn<'_>) -> Result<(), StoreError> {
    txn.open_table(SUBTREES)?;
    txn.open_table(TREE_HEADS)?;
    txn.open_table(TREE_HEADS_BY_SIZE)?;
    Ok(())
}

pub fn chain_head(txn: &ReadTxn) -> Result<ChainHead, StoreError> {
    read_chain_head(&txn.open_table(META)?)
}

pub fn subtree(txn: &ReadTxn, height: u32, index: u64) -> Result<Option<Hash>, StoreError> {
    let Ok(height) = u8::try_from(height) else {
        return Ok(None);
    };
    Ok(txn
        .open_table(SUBTREES)?
        .get((height, index))?
        .map(|row| row.value()))
}

/// Stores `head` if it is the next number; false when the log has that number already.
pub fn add_head(db: &Files, head: &SignedHead) -> Result<bool, StoreError> {
    let mut txn = db.begin_write()?;
    // Durable, so it saves the allocator's state as checkpoints do: opening after a crash
    // still costs the journal's replay, not a walk of the whole file.
    txn.set_quick_repair(true);
    {
        let mut heads = txn.open_table(TREE_HEADS)?;
        let latest = heads.last()?.map(|(number, _)| number.value()).unwrap_or(0);
        if head.number != latest + 1 {
            return Ok(false);
        }
        heads.insert(head.number, to_json(head)?.as_slice())?;
        txn.open_table(TREE_HEADS_BY_SIZE)?
            .insert((head.tree_size, head.number), ())?;
    }
    txn.commit()?;
    Ok(true)
}

/// Heads numbered below `before` (all when `None`), newest first, at most `limit`.
pub fn heads(
    txn: &ReadTxn,
    before: Option<u64>,
    limit: usize,
) -> Result<Vec<SignedHead>, StoreError> {
    let table = txn.open_table(TREE_HEADS)?;
    table
        .range(..before.unwrap_or(u64::MAX))?
        .rev()
        .take(limit)
        .map(|row| from_json(row?.1.value()))
        .collect()
}

/// The latest head over exactly `tree_size` deliveries.
pub fn head_of_size(txn: &ReadTxn, tree_size: u64) -> Result<Option<SignedHead>, StoreError> {
    let by_size = txn.open_table(TREE_HEADS_BY_SIZE)?;
    let Some(row) = by_size
        .range((tree_size, 0)..=(tree_size, u64::MAX))?
        .next_back()
    else {
        return Ok(None);
    };
    let number = row?.0.value().1;
    match txn.open_table(TREE_HEADS)?.get(number)? {
        Some(raw) => Ok(Some(from_json(raw.value())?)),
        None => Err(StoreError::Corrupt(format!(
            "tree head {number} is indexed by size but missing"
        ))),
    }
}
