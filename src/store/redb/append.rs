//! The write path: deliveries into the log, and their projections, in one transaction.

use chrono::{DateTime, Utc};
use redb::{Database, ReadableTable};

use super::tables::{ChainHead, LinkTarget, WriteTables, to_json};
use crate::activity::{Entry, EntryId, NewEntry, Normalized, SourceRef, links};
use crate::store::chain;
use crate::store::{Appended, Capture, StoreError, StoredDelivery};

pub fn append(db: &Database, batch: &[Capture]) -> Result<Vec<Appended>, StoreError> {
    let txn = db.begin_write()?;
    let outcomes = {
        let mut tables = WriteTables::open(&txn)?;
        let mut head = tables.chain_head()?;
        let outcomes = batch
            .iter()
            .map(|capture| append_one(&mut tables, &mut head, capture))
            .collect::<Result<Vec<_>, _>>()?;
        tables.set_chain_head(head)?;
        outcomes
    };
    // Commit is the fsync: nothing is acknowledged before it returns.
    txn.commit()?;
    Ok(outcomes)
}

fn append_one(
    tables: &mut WriteTables<'_>,
    head: &mut ChainHead,
    capture: &Capture,
) -> Result<Appended, StoreError> {
    let normalized = &capture.normalized;
    let plan = match plan(tables, &capture.source, normalized)? {
        Plan::Duplicate(seq) => return Ok(Appended::Duplicate { seq }),
        Plan::Store(plan) => plan,
    };

    let seq = head.seq + 1;
    let received_micros = capture.received_at.timestamp_micros();
    let body_sha256 = chain::body_hash(&capture.body);
    let delivery_hash = chain::delivery_hash(
        &capture.source,
        received_micros,
        &capture.headers,
        &body_sha256,
    );
    let chained = chain::link(&head.hash, seq, &delivery_hash);
    let delivery = StoredDelivery {
        seq,
        source: capture.source.clone(),
        received_at: capture.received_at,
        headers: capture.headers.clone(),
        body: None,
        body_sha256,
        chain: chained,
        delivery_id: normalized.delivery_id.clone(),
        outcome: normalized.outcome.clone(),
    };
    tables
        .deliveries
        .insert(seq, to_json(&delivery)?.as_slice())?;
    tables.bodies.insert(seq, capture.body.as_ref())?;
    *head = ChainHead { seq, hash: chained };

    let entries = project(tables, &delivery, normalized, &plan)?;
    Ok(Appended::Stored { seq, entries })
}

/// Which of a delivery's entries are new.
pub struct ProjectionPlan {
    fresh: Vec<usize>,
}

pub enum Plan {
    Duplicate(u64),
    Store(ProjectionPlan),
}

/// Dedup: a delivery whose id was seen is a duplicate. Without a delivery id, each entry's
/// event id is checked: entries seen before are skipped (an overlapping batch adds only what
/// is new), and a delivery with nothing new is a duplicate.
pub fn plan(
    tables: &WriteTables<'_>,
    source: &str,
    normalized: &Normalized,
) -> Result<Plan, StoreError> {
    if let Some(id) = &normalized.delivery_id
        && let Some(seq) = tables.dedup.get((source, delivery_key(id).as_str()))?
    {
        return Ok(Plan::Duplicate(seq.value()));
    }
    let mut fresh = Vec::with_capacity(normalized.entries.len());
    let mut first_seen = None;
    for (index, entry) in normalized.entries.iter().enumerate() {
        match entry_key(normalized, entry) {
            Some(key) => match tables.dedup.get((source, key.as_str()))? {
                Some(seq) => {
                    first_seen.get_or_insert(seq.value());
                }
                None => fresh.push(index),
            },
            None => fresh.push(index),
        }
    }
    match first_seen {
        Some(seq) if fresh.is_empty() && normalized.delivery_id.is_none() => {
            Ok(Plan::Duplicate(seq))
        }
        _ => Ok(Plan::Store(ProjectionPlan { fresh })),
    }
}

/// Writes the entries, indexes, dedup keys, links and flags of a logged delivery.
pub fn project(
    tables: &mut WriteTables<'_>,
    delivery: &StoredDelivery,
    normalized: &Normalized,
    plan: &ProjectionPlan,
) -> Result<usize, StoreError> {
    let source = delivery.source.as_str();
    if let Some(id) = &normalized.delivery_id {
        tables
            .dedup
            .insert((source, delivery_key(id).as_str()), delivery.seq)?;
    }
    if normalized.outcome.is_flagged() {
        tables.flagged.insert(delivery.seq, ())?;
    }
    let mut written = 0;
    for &index in &plan.fresh {
        let Ok(index16) = u16::try_from(index) else {
            tracing::warn!(
                seq = delivery.seq,
                "a delivery with more than 65536 entries was cut short"
            );
            break;
        };
        let new = &normalized.entries[index];
        if let Some(key) = entry_key(normalized, new) {
            tables.dedup.insert((source, key.as_str()), delivery.seq)?;
        }
        write_entry(
            tables,
            delivery,
            new,
            EntryId::derive(delivery.received_at, delivery.seq, index16),
        )?;
        written += 1;
    }
    Ok(written)
}

fn write_entry(
    tables: &mut WriteTables<'_>,
    delivery: &StoredDelivery,
    new: &NewEntry,
    id: EntryId,
) -> Result<(), StoreError> {
    let link_keys = links::established_by(new);
    let source = SourceRef {
        name: delivery.source.clone(),
        event_id: new.event_id.clone(),
        delivery_seq: delivery.seq,
    };
    let entry = Entry::from_new(new.clone(), id, delivery.received_at, source);
    let occurred = micros(entry.occurred_at);
    let raw_id = id.as_u128();
    tables.entries.insert(raw_id, to_json(&entry)?.as_slice())?;
    for subject in &entry.subjects {
        let key = subject.key();
        tables
            .timeline
            .insert((key.as_str(), occurred, raw_id), ())?;
        tables
            .category_timeline
            .insert((key.as_str(), entry.category.code(), occurred, raw_id), ())?;
    }
    if !link_keys.is_empty() {
        let target = to_json(&LinkTarget {
            entry_id: id,
            subjects: entry.subjects.clone(),
        })?;
        for key in &link_keys {
            tables.links.insert(key.as_str(), target.as_slice())?;
        }
    }
    Ok(())
}

pub fn micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

fn delivery_key(id: &str) -> String {
    format!("d:{id}")
}

/// An entry's own dedup key, where it has an event id distinct from its delivery's.
fn entry_key(normalized: &Normalized, entry: &NewEntry) -> Option<String> {
    let id = entry.event_id.as_deref()?;
    (normalized.delivery_id.as_deref() != Some(id)).then(|| format!("e:{id}"))
}
