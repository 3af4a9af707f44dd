//! Erasure in one write transaction (the rules are in [`crate::store::project::erase`]).

use super::files::Files;
use chrono::{DateTime, Utc};

use super::tables::WriteTables;
use crate::activity::redact::ErasureTarget;
use crate::store::{ErasureReport, StoreError, project};

pub fn erase(
    db: &Files,
    target: &ErasureTarget,
    now: DateTime<Utc>,
) -> Result<ErasureReport, StoreError> {
    let txn = db.begin_write()?;
    let report = project::erase(&mut WriteTables::open(&txn)?, target, now)?;
    txn.commit()?;
    Ok(report)
}
