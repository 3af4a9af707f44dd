//! Whole-log operations: checking the integrity chain and rebuilding the projections.

use redb::{Database, ReadTransaction, ReadableTable};

use super::append::{Plan, plan, project};
use super::tables::{
    BODIES, CATEGORY_TIMELINE, DEDUP, DELIVERIES, EMAIL_STATUS, ENTRIES, FLAGGED, LINKS, META,
    PENDING_LINKS, TIMELINE, UNMATCHED, WriteTables, from_json, read_chain_head, to_json,
};
use crate::activity::Normalized;
use crate::sources::RawDelivery;
use crate::store::chain;
use crate::store::{ChainReport, ReindexReport, StoreError, StoredDelivery};

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
        let delivery: StoredDelivery = match from_json(raw.value()) {
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

pub fn reindex(
    db: &Database,
    normalize: &dyn Fn(&RawDelivery<'_>) -> Option<Normalized>,
) -> Result<ReindexReport, StoreError> {
    let txn = db.begin_write()?;
    txn.delete_table(ENTRIES)?;
    txn.delete_table(TIMELINE)?;
    txn.delete_table(CATEGORY_TIMELINE)?;
    txn.delete_table(DEDUP)?;
    txn.delete_table(LINKS)?;
    txn.delete_table(FLAGGED)?;
    txn.delete_table(UNMATCHED)?;
    txn.delete_table(PENDING_LINKS)?;
    txn.delete_table(EMAIL_STATUS)?;
    let mut report = ReindexReport::default();
    {
        let mut tables = WriteTables::open(&txn)?;
        let seqs: Vec<u64> = tables
            .deliveries
            .iter()?
            .map(|item| item.map(|(seq, _)| seq.value()))
            .collect::<Result<_, _>>()?;
        for seq in seqs {
            report.deliveries += 1;
            let Some(raw) = tables.deliveries.get(seq)? else {
                continue;
            };
            let mut delivery: StoredDelivery = from_json(raw.value())?;
            drop(raw);
            delivery.body = tables.bodies.get(seq)?.map(|body| body.value().to_vec());
            let Some(normalized) = delivery.as_raw().and_then(|raw| normalize(&raw)) else {
                report.skipped += 1;
                continue;
            };
            if normalized.outcome.is_flagged() {
                report.flagged += 1;
            }
            // The outcome may change with a newer normalizer; it is not part of the chain.
            delivery.delivery_id = normalized.delivery_id.clone();
            delivery.outcome = normalized.outcome.clone();
            tables
                .deliveries
                .insert(seq, to_json(&delivery)?.as_slice())?;
            if let Plan::Store(plan) = plan(
                &tables,
                &delivery.source,
                &normalized,
                delivery.replay_key.as_deref(),
            )? {
                report.entries += project(&mut tables, &delivery, &normalized, &plan)? as u64;
            }
        }
    }
    txn.commit()?;
    Ok(report)
}
