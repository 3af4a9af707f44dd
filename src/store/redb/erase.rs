//! Erasure (privacy requests), in one transaction: redact the entries that hold the person's
//! content, drop the raw bodies they came from (their hashes stay, so the chain verifies), and
//! log the erasure itself as an internal delivery.

use std::collections::BTreeSet;
use std::ops::Bound;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use redb::{Database, ReadableTable};

use super::append::append_one;
use super::tables::{WriteTables, from_json, to_json};
use super::timelines::{self, Order};
use crate::activity::Entry;
use crate::activity::details::DeliveryStatus;
use crate::activity::redact::{ErasureTarget, redact_entry, redact_status};
use crate::sources::{RawDelivery, internal};
use crate::store::{Capture, ErasureReport, StoreError};

pub fn erase(
    db: &Database,
    target: &ErasureTarget,
    now: DateTime<Utc>,
) -> Result<ErasureReport, StoreError> {
    let txn = db.begin_write()?;
    let report = {
        let mut tables = WriteTables::open(&txn)?;
        let ids = affected_entries(&tables, target)?;
        let mut subjects = BTreeSet::new();
        let mut deliveries = BTreeSet::new();
        let mut redacted = 0u64;
        for raw_id in ids {
            let Some(raw) = tables.entries.get(raw_id)?.map(|raw| raw.value().to_vec()) else {
                continue;
            };
            let mut entry: Entry = from_json(&raw)?;
            subjects.extend(entry.subjects.iter().cloned());
            deliveries.insert(entry.source.delivery_seq);
            if redact_entry(&mut entry, target) {
                tables.entries.insert(raw_id, to_json(&entry)?.as_slice())?;
                redacted += 1;
            }
        }
        redact_rollups(&mut tables, target)?;
        if let ErasureTarget::Email(_) = target {
            // Bodies that mention the address without an entry showing it (flagged ones).
            for item in tables.bodies.iter()? {
                let (seq, body) = item?;
                if target.mentioned_in(body.value()) {
                    deliveries.insert(seq.value());
                }
            }
        }
        let mut dropped = 0u64;
        for seq in &deliveries {
            if tables.bodies.remove(seq)?.is_some() {
                dropped += 1;
            }
        }
        let subjects: Vec<_> = subjects.into_iter().collect();
        log_erasure(&mut tables, target, now, &subjects, redacted, dropped)?;
        ErasureReport {
            entries: redacted,
            raw_bodies: dropped,
            subjects,
        }
    };
    txn.commit()?;
    Ok(report)
}

/// A subject's timeline, or (for an address) every entry whose stored form mentions it: a
/// full scan, which is what a rare privacy request can afford.
fn affected_entries(
    tables: &WriteTables<'_>,
    target: &ErasureTarget,
) -> Result<Vec<u128>, StoreError> {
    match target {
        ErasureTarget::Subject(subject) => {
            let key = subject.key();
            let all = Bound::Unbounded;
            timelines::positions(&tables.timelines, &key, None, all, all, Order::OldestFirst)?
                .map(|position| position.map(|(_, id)| id))
                .collect()
        }
        ErasureTarget::Email(_) => {
            let mut ids = Vec::new();
            for item in tables.entries.iter()? {
                let (id, raw) = item?;
                if target.mentioned_in(raw.value()) {
                    ids.push(id.value());
                }
            }
            Ok(ids)
        }
    }
}

fn redact_rollups(tables: &mut WriteTables<'_>, target: &ErasureTarget) -> Result<(), StoreError> {
    let mut changed = Vec::new();
    for item in tables.email_status.iter()? {
        let (id, raw) = item?;
        if target.mentioned_in(raw.value()) {
            let mut status: DeliveryStatus = from_json(raw.value())?;
            redact_status(&mut status, target);
            changed.push((id.value(), to_json(&status)?));
        }
    }
    for (id, raw) in changed {
        tables.email_status.insert(id, raw.as_slice())?;
    }
    Ok(())
}

fn log_erasure(
    tables: &mut WriteTables<'_>,
    target: &ErasureTarget,
    now: DateTime<Utc>,
    subjects: &[crate::activity::Subject],
    entries: u64,
    raw_bodies: u64,
) -> Result<(), StoreError> {
    let record = internal::ErasureRecord {
        erased_at: now,
        target: match target {
            ErasureTarget::Subject(_) => "subject",
            ErasureTarget::Email(_) => "email",
        }
        .to_owned(),
        subjects: subjects.to_vec(),
        entries,
        raw_bodies,
    };
    let body = record.to_body();
    let normalized = internal::normalize(&RawDelivery {
        source: internal::SOURCE,
        received_at: now,
        headers: &[],
        body: &body,
    });
    let capture = Capture::new(
        internal::SOURCE,
        now,
        Vec::new(),
        Bytes::from(body),
        normalized,
    );
    let mut head = tables.chain_head()?;
    append_one(tables, &mut head, &capture)?;
    tables.set_chain_head(head)
}
