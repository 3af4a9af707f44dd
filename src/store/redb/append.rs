//! The write path: a batch of deliveries into the log, and their projections (the rules in
//! [`crate::store::project`]), in one transaction.

use redb::Database;

use super::tables::WriteTables;
use crate::store::project::{self, Committed};
use crate::store::{Capture, StoreError};

pub fn append(db: &Database, batch: &[Capture]) -> Result<Committed, StoreError> {
    let txn = db.begin_write()?;
    let committed = project::append_batch(&mut WriteTables::open(&txn)?, batch)?;
    // Commit is the fsync: nothing is acknowledged before it returns.
    txn.commit()?;
    Ok(committed)
}
