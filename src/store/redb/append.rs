//! The write path: deliveries into the log, and their projections, in one transaction.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use redb::{Database, ReadableTable};

use super::records::encode_delivery;
use super::tables::{ChainHead, LinkTarget, WriteTables, from_json, lane, to_json};
use crate::activity::details::DeliveryStatus;
use crate::activity::{Details, Entry, EntryId, NewEntry, Normalized, SourceRef, Subject, links};
use crate::sources::ReplayKey;
use crate::store::chain;
use crate::store::{Appended, Capture, StoreError, StoredDelivery};

/// What a committed batch did, and which subjects' timelines it changed.
pub struct Committed {
    pub outcomes: Vec<Appended>,
    pub touched: HashSet<String>,
}

pub fn append(db: &Database, batch: &[Capture]) -> Result<Committed, StoreError> {
    let txn = db.begin_write()?;
    let committed = {
        let mut tables = WriteTables::open(&txn)?;
        let mut head = tables.chain_head()?;
        let outcomes = batch
            .iter()
            .map(|capture| append_one(&mut tables, &mut head, capture))
            .collect::<Result<Vec<_>, _>>()?;
        tables.set_chain_head(head)?;
        Committed {
            outcomes,
            touched: std::mem::take(&mut tables.touched),
        }
    };
    // Commit is the fsync: nothing is acknowledged before it returns.
    txn.commit()?;
    Ok(committed)
}

pub(super) fn append_one(
    tables: &mut WriteTables<'_>,
    head: &mut ChainHead,
    capture: &Capture,
) -> Result<Appended, StoreError> {
    let normalized = &capture.normalized;
    let plan = match plan(
        tables,
        capture.source(),
        normalized,
        capture.replay_key.as_ref(),
    )? {
        Plan::Duplicate(seq) => return Ok(Appended::Duplicate { seq }),
        Plan::Replayed => return Ok(Appended::Replayed),
        Plan::Store(plan) => plan,
    };

    let seq = head.seq + 1;
    let chained = chain::link(&head.hash, seq, capture.delivery_hash());
    let delivery = StoredDelivery {
        seq,
        source: capture.source().to_owned(),
        received_at: capture.received_at(),
        headers: capture.headers().to_vec(),
        body: None,
        body_sha256: *capture.body_sha256(),
        chain: chained,
        delivery_id: normalized.delivery_id.clone(),
        replay_key: capture.replay_key.clone(),
        outcome: normalized.outcome.clone(),
    };
    tables
        .deliveries
        .insert(seq, encode_delivery(&delivery)?.as_slice())?;
    tables.bodies.insert(seq, capture.body().as_ref())?;
    *head = ChainHead { seq, hash: chained };

    let projected = project(tables, &delivery, normalized, &plan)?;
    Ok(Appended::Stored {
        seq,
        entries: projected.written,
        unmatched: projected.unmatched,
    })
}

/// Which of a delivery's entries are new.
pub struct ProjectionPlan {
    fresh: Vec<usize>,
}

pub enum Plan {
    Duplicate(u64),
    Replayed,
    Store(ProjectionPlan),
}

/// Dedup: a delivery whose id was seen is a duplicate. Without a delivery id, each entry's
/// event id is checked: entries seen before are skipped (an overlapping batch adds only what
/// is new), and a delivery with nothing new is a duplicate.
///
/// Replay keys are checked after the delivery id, so a provider's own retry is a harmless
/// duplicate either way. Signed content seen before is the same authenticated message again:
/// a duplicate, whatever unsigned id it came with. A token seen before means someone put a
/// captured signature on other content: refused.
pub fn plan(
    tables: &WriteTables<'_>,
    source: &str,
    normalized: &Normalized,
    replay_key: Option<&ReplayKey>,
) -> Result<Plan, StoreError> {
    if let Some(id) = &normalized.delivery_id
        && let Some(seq) = tables.dedup.get((source, delivery_key(id).as_str()))?
    {
        return Ok(Plan::Duplicate(seq.value()));
    }
    if let Some(key) = replay_key
        && let Some(seq) = tables.dedup.get((source, replay_dedup_key(key).as_str()))?
    {
        return Ok(match key {
            ReplayKey::SignedContent(_) => Plan::Duplicate(seq.value()),
            ReplayKey::Token(_) => Plan::Replayed,
        });
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

/// What projecting a delivery wrote.
pub struct Projected {
    pub written: usize,
    /// How many of the written entries resolved to no subject yet.
    pub unmatched: usize,
}

/// Writes the entries, indexes, dedup keys, links and flags of a logged delivery.
pub fn project(
    tables: &mut WriteTables<'_>,
    delivery: &StoredDelivery,
    normalized: &Normalized,
    plan: &ProjectionPlan,
) -> Result<Projected, StoreError> {
    let source = delivery.source.as_str();
    if let Some(id) = &normalized.delivery_id {
        tables
            .dedup
            .insert((source, delivery_key(id).as_str()), delivery.seq)?;
    }
    if let Some(key) = &delivery.replay_key {
        tables
            .dedup
            .insert((source, replay_dedup_key(key).as_str()), delivery.seq)?;
    }
    if normalized.outcome.is_flagged() {
        tables.flagged.insert(delivery.seq, ())?;
    }
    let mut written = 0;
    let mut unmatched = Vec::new();
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
        let id = EntryId::derive(delivery.received_at, delivery.seq, index16);
        if write_entry(tables, delivery, new, id)? == Placed::Unmatched {
            unmatched.push(id);
        }
        written += 1;
    }
    // A later entry of the same delivery may have established the link an earlier one was
    // waiting for; only the (rare) entries placed unmatched need looking at again.
    let mut still_unmatched = 0;
    for id in unmatched {
        if tables.unmatched.get(id.as_u128())?.is_some() {
            still_unmatched += 1;
        }
    }
    Ok(Projected {
        written,
        unmatched: still_unmatched,
    })
}

fn write_entry(
    tables: &mut WriteTables<'_>,
    delivery: &StoredDelivery,
    new: &NewEntry,
    id: EntryId,
) -> Result<Placed, StoreError> {
    let source = SourceRef {
        name: delivery.source.clone(),
        event_id: new.event_id.clone(),
        delivery_seq: delivery.seq,
    };
    place(
        tables,
        Entry::from_new(new.clone(), id, delivery.received_at, source),
    )
}

/// Where [`place`] put an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// On the timelines of its subjects.
    OnTimelines,
    /// Nowhere yet: no link resolves it (it waits on the unmatched list).
    Unmatched,
}

/// Stores an entry with everything that hangs off it: the subjects its correlation keys
/// resolve to, its timeline rows, its unmatched record, the email rollups it feeds, and the
/// links it establishes (attaching whatever was waiting for them). Idempotent, so `reindex`
/// can place kept entries again.
pub fn place(tables: &mut WriteTables<'_>, mut entry: Entry) -> Result<Placed, StoreError> {
    let raw_id = entry.id.as_u128();
    let mut linked_entries = Vec::new();
    for key in &entry.correlation {
        if let Some(raw) = tables.links.get(key.as_str())? {
            let target: LinkTarget = from_json(raw.value())?;
            entry.subjects.extend(target.subjects);
            linked_entries.push(target.entry_id);
        }
    }
    entry.subjects.sort();
    entry.subjects.dedup();
    linked_entries.sort();
    linked_entries.dedup();

    tables.entries.insert(raw_id, to_json(&entry)?.as_slice())?;
    index(tables, &entry, &entry.subjects)?;
    let placed = if entry.subjects.is_empty() {
        Placed::Unmatched
    } else {
        Placed::OnTimelines
    };
    if placed == Placed::Unmatched {
        // Nothing resolves it yet: visible as unmatched, attached when a link arrives.
        tables.unmatched.insert(raw_id, ())?;
        for key in &entry.correlation {
            tables.pending_links.insert((key.as_str(), raw_id), ())?;
        }
    }
    for email in linked_entries {
        roll_up(tables, email, &entry)?;
    }

    let link_keys = links::established_by(&entry.details);
    if !link_keys.is_empty() {
        let target = LinkTarget {
            entry_id: entry.id,
            subjects: entry.subjects.clone(),
        };
        let raw = to_json(&target)?;
        for key in &link_keys {
            tables.links.insert(key.as_str(), raw.as_slice())?;
            attach_pending(tables, key, &target)?;
        }
    }
    Ok(placed)
}

/// Adds timeline index rows for `entry` under each of `subjects`.
fn index(
    tables: &mut WriteTables<'_>,
    entry: &Entry,
    subjects: &[Subject],
) -> Result<(), StoreError> {
    let occurred = micros(entry.occurred_at);
    let raw_id = entry.id.as_u128();
    for subject in subjects {
        let key = subject.key();
        tables
            .timelines
            .insert((key.as_str(), lane(entry.category), occurred, raw_id), ())?;
        tables.touched.insert(key);
    }
    Ok(())
}

/// A link just appeared: every entry that was waiting for it joins the link's subjects (and,
/// for email callbacks, the email's status rollup) retroactively.
fn attach_pending(
    tables: &mut WriteTables<'_>,
    key: &str,
    target: &LinkTarget,
) -> Result<(), StoreError> {
    let waiting: Vec<u128> = tables
        .pending_links
        .range((key, 0u128)..=(key, u128::MAX))?
        .map(|item| item.map(|(k, _)| k.value().1))
        .collect::<Result<_, _>>()?;
    for raw_id in waiting {
        tables.pending_links.remove((key, raw_id))?;
        let Some(raw) = tables.entries.get(raw_id)?.map(|raw| raw.value().to_vec()) else {
            continue;
        };
        let mut entry: Entry = from_json(&raw)?;
        let added: Vec<Subject> = target
            .subjects
            .iter()
            .filter(|s| !entry.subjects.contains(s))
            .cloned()
            .collect();
        entry.subjects.extend(added.iter().cloned());
        entry.subjects.sort();
        tables.entries.insert(raw_id, to_json(&entry)?.as_slice())?;
        index(tables, &entry, &added)?;
        if !entry.subjects.is_empty() {
            tables.unmatched.remove(raw_id)?;
        }
        roll_up(tables, target.entry_id, &entry)?;
        // The email's delivery status changed on its timelines, even where the callback
        // added no subject.
        tables
            .touched
            .extend(target.subjects.iter().map(Subject::key));
    }
    Ok(())
}

/// Records an email callback in the rollup of the `email.sent` entry it belongs to.
fn roll_up(
    tables: &mut WriteTables<'_>,
    email: EntryId,
    callback: &Entry,
) -> Result<(), StoreError> {
    let Details::EmailEvent { event } = &callback.details else {
        return Ok(());
    };
    let mut status: DeliveryStatus = match tables.email_status.get(email.as_u128())? {
        Some(raw) => from_json(raw.value())?,
        None => DeliveryStatus::default(),
    };
    status.record(event, callback.occurred_at);
    tables
        .email_status
        .insert(email.as_u128(), to_json(&status)?.as_slice())?;
    Ok(())
}

pub fn micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

/// A token's key is `r:` + the token; signed content's is `c:` + its hash in hex.
pub(super) fn replay_dedup_key(key: &ReplayKey) -> String {
    match key {
        ReplayKey::Token(token) => format!("r:{token}"),
        ReplayKey::SignedContent(hash) => format!("c:{}", hex::encode(hash)),
    }
}

pub(super) fn event_key(id: &str) -> String {
    format!("e:{id}")
}

pub(super) fn delivery_key(id: &str) -> String {
    format!("d:{id}")
}

/// An entry's own dedup key, where it has an event id distinct from its delivery's.
fn entry_key(normalized: &Normalized, entry: &NewEntry) -> Option<String> {
    let id = entry.event_id.as_deref()?;
    (normalized.delivery_id.as_deref() != Some(id)).then(|| event_key(id))
}
