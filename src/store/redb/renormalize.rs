//! Re-normalization in one write transaction (the rules are in
//! [`crate::store::project::renormalize`]).

use super::files::Files;

use super::tables::WriteTables;
use crate::store::project::{self, RenormalizeRequest};
use crate::store::{RenormalizeReport, Rereader, StoreError};

pub fn renormalize(
    db: &Files,
    seqs: &[u64],
    reread: &Rereader<'_>,
    request: &RenormalizeRequest,
) -> Result<RenormalizeReport, StoreError> {
    let txn = db.begin_write()?;
    let record = project::renormalize(&mut WriteTables::open(&txn)?, seqs, reread, request)?;
    txn.commit()?;
    Ok(record)
}
