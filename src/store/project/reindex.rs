//! Rebuilding every projection from the log.

use super::append::Plan;
use super::{Projector, Tables, keys};
use crate::store::{ReindexReport, Reread, Rereader, StoreError, StoredDelivery};

/// Deliveries read per step: memory stays bounded whatever the size of the log.
const CHUNK: usize = 512;

/// Rebuilds every projection from the log, in the caller's transaction, and the Merkle tree
/// over it (to the same root, unless the log was altered). Entries stay in place
/// while their indexes are rebuilt: a delivery whose body is still there is normalized again
/// (its old entries replaced by the new ones); a delivery whose body retention or erasure
/// dropped — or whose source is no longer configured — keeps the entries it has (redacted
/// ones stay redacted), re-placed. Entry ids are derived from the log, so they come out the
/// same on every backend.
pub fn reindex<T: Tables + ?Sized>(
    tables: &mut T,
    reread: &Rereader<'_>,
) -> Result<ReindexReport, StoreError> {
    tables.clear_projections()?;
    super::tree::rebuild(tables)?;
    let mut projector = Projector::new(tables);
    let mut report = ReindexReport::default();
    let mut from = 1;
    loop {
        let chunk = projector.tables.deliveries_from(from, CHUNK)?;
        let Some(last) = chunk.last() else {
            return Ok(report);
        };
        from = last.seq + 1;
        for delivery in chunk {
            report.deliveries += 1;
            reindex_one(&mut projector, delivery, reread, &mut report)?;
        }
    }
}

fn reindex_one<T: Tables + ?Sized>(
    projector: &mut Projector<'_, T>,
    mut delivery: StoredDelivery,
    reread: &Rereader<'_>,
    report: &mut ReindexReport,
) -> Result<(), StoreError> {
    let Some(Reread {
        normalized,
        replay_key,
    }) = delivery.as_raw().and_then(|raw| reread(&raw))
    else {
        report.skipped += 1;
        report.entries += keep_entries(projector, &delivery)?;
        return Ok(());
    };
    if normalized.outcome.is_flagged() {
        report.flagged += 1;
    }
    projector.tables.remove_delivery_entries(&delivery)?;
    // The outcome may change with a newer normalizer; it is not part of the chain.
    delivery.delivery_id = normalized.delivery_id.clone();
    delivery.outcome = normalized.outcome.clone();
    // Logged before its scheme had a replay key: it gains the one verification would give it
    // now, so a capture of it cannot be stored again under a new id.
    if delivery.replay_key.is_none() {
        delivery.replay_key = replay_key;
    }
    projector.tables.put_delivery(&delivery, None)?;
    if let Plan::Store(fresh) =
        projector.plan(&delivery.source, &normalized, delivery.replay_key.as_ref())?
    {
        report.entries += projector.project(&delivery, &normalized, &fresh)?.written as u64;
    }
    Ok(())
}

/// Re-places the entries of a delivery that cannot be normalized again, with its dedup keys.
fn keep_entries<T: Tables + ?Sized>(
    projector: &mut Projector<'_, T>,
    delivery: &StoredDelivery,
) -> Result<u64, StoreError> {
    let entries = projector.tables.delivery_entries(delivery)?;
    projector.delivery_keys(delivery)?;
    if delivery.outcome.is_flagged() {
        projector.tables.flag_delivery(delivery.seq)?;
    }
    let count = entries.len() as u64;
    for entry in entries {
        let key = keys::entry_event(
            delivery.delivery_id.as_deref(),
            entry.source.event_id.as_deref(),
        );
        if let Some(key) = key {
            projector
                .tables
                .put_dedup(&delivery.source, &key, delivery.seq)?;
        }
        projector.place(entry)?;
    }
    Ok(count)
}
