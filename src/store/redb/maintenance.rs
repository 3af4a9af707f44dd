//! Whole-log operations: checking the integrity chain and rebuilding the projections.

use redb::ReadableTable;

use super::files::{Files, ReadTxn};

use super::records::decode_delivery;
use super::tables::{
    BODIES, DEDUP, DELIVERIES, EMAIL_STATUS, FLAGGED, LINKS, META, PENDING_LINKS, SUBTREES,
    TIMELINES, UNMATCHED, WriteTables, read_chain_head,
};
use crate::store::chain::{self, ChainWalk};
use crate::store::{ChainReport, ReindexReport, Rereader, StoreError, project};

pub fn verify_chain(txn: &ReadTxn) -> Result<ChainReport, StoreError> {
    let deliveries = txn.open_table(DELIVERIES)?;
    let bodies = txn.open_table(BODIES)?;
    let head = read_chain_head(&txn.open_table(META)?)?;
    let mut walk = ChainWalk::default();
    for item in deliveries.iter()? {
        let (seq, raw) = item?;
        let seq = seq.value();
        let record = decode_delivery(raw.value()).map_err(|err| err.to_string());
        let kept = bodies.get(seq)?.map(|body| chain::body_hash(body.value()));
        if let Some(broken) = walk.check(seq, record.as_ref().map_err(Clone::clone), kept) {
            return Ok(broken);
        }
    }
    Ok(walk.finish(head))
}

/// Rebuilds every projection from the log in one write transaction (the rules are in
/// [`crate::store::project::reindex`]). The projection tables are dropped whole first, which
/// is far cheaper than emptying them row by row.
pub fn reindex(db: &Files, reread: &Rereader<'_>) -> Result<ReindexReport, StoreError> {
    let mut txn = db.begin_write()?;
    // Every view is made anew from the log: they are the log's after this, whatever before.
    txn.rebuilds_views();
    txn.delete_table(TIMELINES)?;
    txn.delete_table(DEDUP)?;
    txn.delete_table(LINKS)?;
    txn.delete_table(FLAGGED)?;
    txn.delete_table(UNMATCHED)?;
    txn.delete_table(PENDING_LINKS)?;
    txn.delete_table(EMAIL_STATUS)?;
    // Grown again from the log by the rules (see `project::tree::rebuild`).
    txn.delete_table(SUBTREES)?;
    let report = project::reindex(&mut WriteTables::open(&txn)?, reread)?;
    txn.commit()?;
    Ok(report)
}
