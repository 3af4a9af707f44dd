//! Re-normalizing chosen deliveries in place, in the caller's transaction: after an upgrade
//! (the normalizer learned a shape it used to flag) or a config fix, without rebuilding every
//! projection the way `reindex` does.
//!
//! A delivery is redone when the change can be undone exactly, row by row:
//! - one that made no entry (flagged, or empty) has its new entries placed as if it had just
//!   arrived, at its own seq and receipt time, so their ids are the ones `reindex` would give;
//!   links they establish attach what was waiting, as for any late delivery;
//! - one whose old and new entries all stand alone (no correlation key, no link, no email
//!   callback) has its old rows removed (timelines, the index by time, the unmatched mark) and
//!   the new ones placed.
//!
//! Anything else (an entry that other entries hang off, or that feeds an email's roll-up) is
//! left as it is and reported: only a full `reindex` redoes it exactly. Every change is
//! recorded at the run's own log record, which the run appends last (see
//! [`crate::sources::internal::RenormalizationRecord`]).

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::append::{Fresh, entry_from, is_callback};
use super::{Projector, Tables, keys, lane};
use crate::activity::{Entry, EntryId, Normalized, links};
use crate::sources::RawDelivery;
use crate::sources::internal::{self, RenormalizationRecord};
use crate::store::{Capture, RenormalizeReport, Reread, Rereader, StoreError, StoredDelivery};

/// Who asks, and for what, in words for the log.
#[derive(Debug, Clone)]
pub struct RenormalizeRequest {
    pub by: String,
    pub selection: String,
    pub at: DateTime<Utc>,
}

/// What became of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Redone {
    Changed,
    Unchanged,
    NeedsReindex,
    Unreadable,
}

/// Re-normalizes the deliveries `seqs` with `reread`, then logs what it did. Returns the log
/// record (its lists say what became of each delivery) and its seq.
pub fn renormalize<T: Tables + ?Sized>(
    tables: &mut T,
    seqs: &[u64],
    reread: &Rereader<'_>,
    request: &RenormalizeRequest,
) -> Result<RenormalizeReport, StoreError> {
    let mut head = tables.chain_head()?;
    super::tree::whole(tables, &mut head)?;
    let mut projector = Projector::new(tables);
    projector.changes_at = Some(head.seq + 1);
    let mut record = RenormalizationRecord {
        at: request.at,
        by: request.by.clone(),
        selection: request.selection.clone(),
        deliveries: Vec::with_capacity(seqs.len()),
        changed: Vec::new(),
        needs_reindex: Vec::new(),
        unreadable: Vec::new(),
    };
    for &seq in seqs {
        let delivery = projector
            .tables
            .deliveries_from(seq, 1)?
            .into_iter()
            .find(|delivery| delivery.seq == seq);
        let Some(delivery) = delivery else {
            continue;
        };
        record.deliveries.push(seq);
        let reread = delivery.as_raw().and_then(|raw| reread(&raw));
        match redo(&mut projector, delivery, reread)? {
            Redone::Changed => record.changed.push(seq),
            Redone::Unchanged => {}
            Redone::NeedsReindex => record.needs_reindex.push(seq),
            Redone::Unreadable => record.unreadable.push(seq),
        }
    }
    let body = record.to_body();
    let normalized = internal::normalize(&RawDelivery {
        source: internal::SOURCE,
        received_at: request.at,
        headers: &[],
        body: &body,
    });
    let capture = Capture::new(
        internal::SOURCE,
        request.at,
        Vec::new(),
        Bytes::from(body),
        normalized,
    );
    projector.changes_at = None;
    projector.append(&mut head, &capture)?;
    projector.tables.set_chain_head(&head)?;
    Ok(RenormalizeReport {
        record,
        logged_as: head.seq,
    })
}

fn redo<T: Tables + ?Sized>(
    projector: &mut Projector<'_, T>,
    mut delivery: StoredDelivery,
    reread: Option<Reread>,
) -> Result<Redone, StoreError> {
    let Some(Reread { normalized, .. }) = reread else {
        return Ok(Redone::Unreadable);
    };
    let old = projector.tables.delivery_entries(&delivery)?;
    let fresh = fresh_entries(projector.tables, &delivery, &normalized)?;
    let same_outcome =
        delivery.outcome == normalized.outcome && delivery.delivery_id == normalized.delivery_id;
    if same_outcome && same_entries(projector.tables, &old, &fresh)? {
        return Ok(Redone::Unchanged);
    }
    let stands_alone = |entry: &Entry| {
        entry.correlation.is_empty()
            && links::established_by(&entry.details).is_empty()
            && !is_callback(entry)
    };
    let all_alone = old.iter().all(stands_alone) && fresh.iter().all(|(_, e)| stands_alone(e));
    if !old.is_empty() && !all_alone {
        return Ok(Redone::NeedsReindex);
    }
    for entry in &old {
        for subject in &entry.subjects {
            projector
                .tables
                .remove_from_timeline(&subject.key(), entry, lane(entry.category))?;
        }
        projector.tables.unindex_by_time(entry)?;
        projector.tables.set_unmatched(entry.id, false)?;
    }
    projector.tables.remove_delivery_entries(&delivery)?;
    if delivery.outcome.is_flagged() && !normalized.outcome.is_flagged() {
        projector.tables.unflag_delivery(delivery.seq)?;
    }
    // The outcome is not part of the chain: the record is rewritten with the new one.
    delivery.delivery_id = normalized.delivery_id.clone();
    delivery.outcome = normalized.outcome.clone();
    projector.tables.put_delivery(&delivery, None)?;
    let indexes = fresh.iter().map(|(index, _)| *index).collect();
    projector.project(&delivery, &normalized, &Fresh::of(indexes))?;
    Ok(Redone::Changed)
}

/// The entries the delivery makes now, as they would be placed (before links resolve their
/// subjects): those whose event no other delivery brought first.
fn fresh_entries<T: Tables + ?Sized>(
    tables: &mut T,
    delivery: &StoredDelivery,
    normalized: &Normalized,
) -> Result<Vec<(usize, Entry)>, StoreError> {
    let mut fresh = Vec::with_capacity(normalized.entries.len());
    for (index, new) in normalized.entries.iter().enumerate() {
        let Ok(index16) = u16::try_from(index) else {
            break;
        };
        let seen_elsewhere = match keys::entry(normalized, new) {
            Some(key) => tables
                .dedup(&delivery.source, &key)?
                .is_some_and(|seq| seq != delivery.seq),
            None => false,
        };
        if !seen_elsewhere {
            let id = EntryId::derive(delivery.received_at, delivery.seq, index16);
            fresh.push((index, entry_from(delivery, new, id)));
        }
    }
    Ok(fresh)
}

/// Whether the stored entries are the new ones: equal in every field, their subjects once the
/// links they name are resolved (as placing them would).
fn same_entries<T: Tables + ?Sized>(
    tables: &mut T,
    old: &[Entry],
    fresh: &[(usize, Entry)],
) -> Result<bool, StoreError> {
    if old.len() != fresh.len() {
        return Ok(false);
    }
    for (old, (_, new)) in old.iter().zip(fresh) {
        let mut placed = new.clone();
        for key in &new.correlation {
            if let Some(target) = tables.link(key)? {
                placed.subjects.extend(target.subjects);
            }
        }
        placed.subjects.sort();
        placed.subjects.dedup();
        if *old != placed {
            return Ok(false);
        }
    }
    Ok(true)
}
