//! Erasure (privacy requests), in the caller's transaction: redact the entries that hold the
//! person's content, drop the raw bodies they came from (their hashes stay, so the chain
//! verifies), and log the erasure itself as an internal delivery.

use std::collections::BTreeSet;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{Projector, Tables};
use crate::activity::details::DeliveryStatus;
use crate::activity::redact::{ErasureTarget, redact_entry, redact_status};
use crate::activity::{EntryId, Subject};
use crate::sources::{RawDelivery, internal};
use crate::store::{Capture, ErasureReport, StoreError, from_json};

pub fn erase<T: Tables + ?Sized>(
    tables: &mut T,
    target: &ErasureTarget,
    now: DateTime<Utc>,
) -> Result<ErasureReport, StoreError> {
    let ids = affected_entries(tables, target)?;
    // The erasure's own record is the next delivery: its seq is when the redacted entries
    // changed, for the live views and the search index that follow the changes.
    let at = tables.chain_head()?.seq + 1;
    let mut subjects = BTreeSet::new();
    let mut deliveries = BTreeSet::new();
    let mut redacted = 0u64;
    for id in ids {
        let Some(mut entry) = tables.entry(id)? else {
            continue;
        };
        subjects.extend(entry.subjects.iter().cloned());
        deliveries.insert(entry.source.delivery_seq);
        if redact_entry(&mut entry, target) {
            tables.put_entry(&entry)?;
            tables.add_change(super::EVERYTHING, at, entry.id)?;
            for subject in &entry.subjects {
                tables.add_change(&subject.key(), at, entry.id)?;
            }
            redacted += 1;
        }
    }
    redact_rollups(tables, target)?;
    if let ErasureTarget::Email(_) = target {
        // Bodies that mention the address without an entry showing it (flagged ones).
        tables.scan_bodies(&mut |seq, body| {
            if target.mentioned_in(body) {
                deliveries.insert(seq);
            }
            Ok(())
        })?;
    }
    let mut dropped = 0u64;
    for seq in deliveries {
        if tables.drop_body(seq)? {
            dropped += 1;
        }
    }
    let subjects: Vec<_> = subjects.into_iter().collect();
    log_erasure(tables, target, now, &subjects, redacted, dropped)?;
    Ok(ErasureReport {
        entries: redacted,
        raw_bodies: dropped,
        subjects,
    })
}

/// A subject's timeline, or (for an address) every entry whose stored form mentions it: a
/// full scan, which is what a rare privacy request can afford.
fn affected_entries<T: Tables + ?Sized>(
    tables: &mut T,
    target: &ErasureTarget,
) -> Result<Vec<EntryId>, StoreError> {
    match target {
        ErasureTarget::Subject(subject) => tables.timeline_ids(subject),
        ErasureTarget::Email(_) => {
            let mut ids = Vec::new();
            tables.scan_entries(&mut |id, stored| {
                if target.mentioned_in(stored) {
                    ids.push(id);
                }
                Ok(())
            })?;
            Ok(ids)
        }
    }
}

fn redact_rollups<T: Tables + ?Sized>(
    tables: &mut T,
    target: &ErasureTarget,
) -> Result<(), StoreError> {
    let mut changed = Vec::new();
    tables.scan_email_statuses(&mut |id, stored| {
        if target.mentioned_in(stored) {
            let mut status: DeliveryStatus = from_json(stored)?;
            redact_status(&mut status, target);
            changed.push((id, status));
        }
        Ok(())
    })?;
    for (id, status) in changed {
        tables.put_email_status(id, &status)?;
    }
    Ok(())
}

fn log_erasure<T: Tables + ?Sized>(
    tables: &mut T,
    target: &ErasureTarget,
    now: DateTime<Utc>,
    subjects: &[Subject],
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
    let mut projector = Projector::new(tables);
    let mut head = projector.tables.chain_head()?;
    super::tree::whole(projector.tables, &mut head)?;
    projector.append(&mut head, &capture)?;
    projector.tables.set_chain_head(&head)
}
