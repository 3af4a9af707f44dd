//! The write path: a batch of deliveries into the log, and their projections (the rules in
//! [`crate::store::project`]), in one transaction — journaled and synced first, then committed
//! to redb without an fsync (see [`super::journal`]).

use redb::Durability;

use super::files::Files;

use super::journal::Journal;
use super::tables::{META, WriteTables, read_chain_head};
use crate::store::project::{self, Committed, Tables, Views, tree};
use crate::store::{Capture, StoreError};

/// Appends `batch`: into the journal (synced: from then on it survives a crash), then into
/// redb, visible to readers at once and made durable by the next checkpoint.
pub fn append(
    db: &Files,
    journal: &mut Journal,
    batch: &[Capture],
    (views, tree): (Views, tree::Upkeep),
) -> Result<Committed, StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::None)?;
    let start = journal.end();
    let committed = (|| {
        let committed = {
            let mut tables = WriteTables::open(&txn)?;
            journal.append(tables.chain_head()?.seq, batch)?;
            project::append_batch_with(&mut tables, batch, views, tree)?
        };
        txn.commit()?;
        Ok(committed)
    })();
    if committed.is_err() && journal.end() > start {
        // Journaled but not committed: the client hears it failed, so it must not come back.
        journal.forget_last(start);
    }
    committed
}

/// Appends a batch again from the journal, after `after`: skipped when the store is past it
/// already (the checkpoint holds it). Whether it was applied.
pub fn replay(db: &Files, after: u64, batch: &[Capture]) -> Result<bool, StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::None)?;
    {
        let mut tables = WriteTables::open(&txn)?;
        let head = tables.chain_head()?.seq;
        if after < head {
            return Ok(false);
        }
        if after > head {
            return Err(StoreError::Corrupt(format!(
                "the journal goes on from delivery {after}, but the store ends at {head}: \
                 the deliveries between are missing"
            )));
        }
        project::append_batch(&mut tables, batch)?;
    }
    txn.commit()?;
    Ok(true)
}

/// Makes every commit so far durable: one commit with an fsync, which records the last
/// delivery it holds (as every durable commit does: see [`super::files`]). Returns that
/// delivery's seq.
pub fn checkpoint(db: &Files) -> Result<u64, StoreError> {
    let mut txn = db.begin_write()?;
    // The allocator's state is saved with the checkpoint, so opening the file after a crash
    // reads it instead of walking every tree to rebuild it: recovery costs the journal's
    // replay, not the store's size. (Only checkpoints pay for it; the commits between them
    // are discarded by a crash anyway.)
    txn.set_quick_repair(true);
    let seq = read_chain_head(&txn.open_table(META)?)?.seq;
    txn.commit()?;
    Ok(seq)
}
