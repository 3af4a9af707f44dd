//! Whole-log operations: checking the integrity chain and rebuilding the projections.

use redb::{Database, ReadTransaction, ReadableTable};

use super::records::decode_delivery;
use super::tables::{
    BODIES, DEDUP, DELIVERIES, EMAIL_STATUS, FLAGGED, LINKS, META, PENDING_LINKS, TIMELINES,
    UNMATCHED, WriteTables, read_chain_head,
};
use crate::store::chain;
use crate::store::{ChainReport, ReindexReport, Rereader, StoreError, project};

pub fn verify_chain(txn: &ReadTransaction) -> Result<ChainReport, StoreError> {
    let deliveries = txn.open_table(DELIVERIES)?;
    let bodies = txn.open_table(BODIES)?;
    let head = read_chain_head(&txn.open_table(META)?)?;
    let mut previous = chain::GENESIS;
    let mut expected_seq = 1u64;
    for item in deliveries.iter()? {
        let (seq, raw) = item?;
        let seq = seq.value();
        let broken = |reason: String| Ok(ChainReport::Broken { seq, reason });
        if seq != expected_seq {
            return Ok(ChainReport::Broken {
                seq: expected_seq,
                reason: format!("missing; the log jumps to {seq}"),
            });
        }
        let delivery = match decode_delivery(raw.value()) {
            Ok(delivery) => delivery,
            Err(err) => return broken(format!("unreadable record: {err}")),
        };
        if delivery.seq != seq {
            return broken(format!("record says seq {}", delivery.seq));
        }
        if let Some(body) = bodies.get(seq)?
            && chain::body_hash(body.value()) != delivery.body_sha256
        {
            return broken("the body does not match its hash".to_owned());
        }
        let hash = chain::delivery_hash(
            &delivery.source,
            delivery.received_at.timestamp_micros(),
            &delivery.headers,
            &delivery.body_sha256,
        );
        let chained = chain::link(&previous, seq, &hash);
        if chained != delivery.chain {
            return broken(
                "the chain value does not match (altered, removed or reordered)".to_owned(),
            );
        }
        previous = chained;
        expected_seq += 1;
    }
    let count = expected_seq - 1;
    if head.seq != count || head.hash != previous {
        return Ok(ChainReport::Broken {
            seq: head.seq.max(count),
            reason: format!(
                "the chain head names seq {} but the log ends at {count}",
                head.seq
            ),
        });
    }
    Ok(ChainReport::Intact {
        deliveries: count,
        head: previous,
    })
}

/// Rebuilds every projection from the log in one write transaction (the rules are in
/// [`crate::store::project::reindex`]). The projection tables are dropped whole first, which
/// is far cheaper than emptying them row by row.
pub fn reindex(db: &Database, reread: &Rereader<'_>) -> Result<ReindexReport, StoreError> {
    let txn = db.begin_write()?;
    txn.delete_table(TIMELINES)?;
    txn.delete_table(DEDUP)?;
    txn.delete_table(LINKS)?;
    txn.delete_table(FLAGGED)?;
    txn.delete_table(UNMATCHED)?;
    txn.delete_table(PENDING_LINKS)?;
    txn.delete_table(EMAIL_STATUS)?;
    let report = project::reindex(&mut WriteTables::open(&txn)?, reread)?;
    txn.commit()?;
    Ok(report)
}
