//! Whole-log operations: checking the integrity chain and rebuilding the projections.

use redb::{Database, ReadTransaction, ReadableTable};

use super::append::{Plan, delivery_key, event_key, place, plan, project, replay_dedup_key};
use super::records::{decode_delivery, encode_delivery};
use super::tables::{
    BODIES, DEDUP, DELIVERIES, EMAIL_STATUS, FLAGGED, LINKS, META, PENDING_LINKS, TIMELINES,
    UNMATCHED, WriteTables, from_json, read_chain_head,
};
use crate::activity::{Entry, EntryId};
use crate::store::chain;
use crate::store::{ChainReport, ReindexReport, Reread, Rereader, StoreError, StoredDelivery};

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

/// Rebuilds every projection from the log. Entries stay in place while their indexes are
/// rebuilt: a delivery whose body is still there is normalized again (its old entries replaced
/// by the new ones); a delivery whose body retention or erasure dropped — or whose source is
/// no longer configured — keeps the entries it has (redacted ones stay redacted), re-placed.
pub fn reindex(db: &Database, reread: &Rereader<'_>) -> Result<ReindexReport, StoreError> {
    let txn = db.begin_write()?;
    txn.delete_table(TIMELINES)?;
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
            let mut delivery = decode_delivery(raw.value())?;
            drop(raw);
            delivery.body = tables.bodies.get(seq)?.map(|body| body.value().to_vec());
            let Some(Reread {
                normalized,
                replay_key,
            }) = delivery.as_raw().and_then(|raw| reread(&raw))
            else {
                report.skipped += 1;
                report.entries += keep_entries(&mut tables, &delivery)?;
                continue;
            };
            if normalized.outcome.is_flagged() {
                report.flagged += 1;
            }
            remove_entries(&mut tables, &delivery)?;
            // The outcome may change with a newer normalizer; it is not part of the chain.
            delivery.delivery_id = normalized.delivery_id.clone();
            delivery.outcome = normalized.outcome.clone();
            // Logged before its scheme had a replay key: it gains the one verification would
            // give it now, so a capture of it cannot be stored again under a new id.
            if delivery.replay_key.is_none() {
                delivery.replay_key = replay_key;
            }
            tables
                .deliveries
                .insert(seq, encode_delivery(&delivery)?.as_slice())?;
            if let Plan::Store(plan) = plan(
                &tables,
                &delivery.source,
                &normalized,
                delivery.replay_key.as_ref(),
            )? {
                report.entries +=
                    project(&mut tables, &delivery, &normalized, &plan)?.written as u64;
            }
        }
    }
    txn.commit()?;
    Ok(report)
}

/// The ids a delivery's entries can have (see [`EntryId::derive`]).
fn entry_id_range(delivery: &StoredDelivery) -> std::ops::RangeInclusive<u128> {
    let first = EntryId::derive(delivery.received_at, delivery.seq, 0).as_u128();
    let last = EntryId::derive(delivery.received_at, delivery.seq, u16::MAX).as_u128();
    first..=last
}

fn remove_entries(
    tables: &mut WriteTables<'_>,
    delivery: &StoredDelivery,
) -> Result<(), StoreError> {
    let ids: Vec<u128> = tables
        .entries
        .range(entry_id_range(delivery))?
        .map(|item| item.map(|(id, _)| id.value()))
        .collect::<Result<_, _>>()?;
    for id in ids {
        tables.entries.remove(id)?;
    }
    Ok(())
}

/// Re-places the entries of a delivery that cannot be normalized again, with their dedup keys.
fn keep_entries(
    tables: &mut WriteTables<'_>,
    delivery: &StoredDelivery,
) -> Result<u64, StoreError> {
    let entries: Vec<Entry> = tables
        .entries
        .range(entry_id_range(delivery))?
        .map(|item| {
            item.map_err(StoreError::from)
                .and_then(|(_, raw)| from_json(raw.value()))
        })
        .collect::<Result<_, _>>()?;
    let source = delivery.source.as_str();
    if let Some(id) = &delivery.delivery_id {
        tables
            .dedup
            .insert((source, delivery_key(id).as_str()), delivery.seq)?;
    }
    if let Some(key) = &delivery.replay_key {
        tables
            .dedup
            .insert((source, replay_dedup_key(key).as_str()), delivery.seq)?;
    }
    let count = entries.len() as u64;
    for entry in entries {
        if let Some(event_id) = entry
            .source
            .event_id
            .as_deref()
            .filter(|id| Some(*id) != delivery.delivery_id.as_deref())
        {
            tables
                .dedup
                .insert((source, event_key(event_id).as_str()), delivery.seq)?;
        }
        place(tables, entry)?;
    }
    Ok(count)
}
