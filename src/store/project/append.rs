//! Appending: a delivery into the log, then its projections — in the caller's transaction.

use std::collections::HashSet;

use super::{ChainHead, LinkTarget, Tables, keys};
use crate::activity::{Details, Entry, EntryId, NewEntry, Normalized, SourceRef, Subject, links};
use crate::sources::ReplayKey;
use crate::store::chain;
use crate::store::{Appended, Capture, StoreError, StoredDelivery};

/// What a batch did, and which subjects' timelines it changed.
pub struct Committed {
    pub outcomes: Vec<Appended>,
    pub touched: HashSet<String>,
}

/// What an append writes besides the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Views {
    /// Every projection: the store as the gateway serves it.
    #[default]
    Kept,
    /// None: the log and what intake answers from (dedup and replay keys, the chain head).
    /// Only the intake bench's log-only ceiling appends this way, to show what the views cost.
    Off,
}

/// Appends a batch: every capture in order, the chain head moved once. The caller commits.
pub fn append_batch<T: Tables + ?Sized>(
    tables: &mut T,
    batch: &[Capture],
) -> Result<Committed, StoreError> {
    append_batch_with(tables, batch, Views::Kept, super::tree::Upkeep::Kept)
}

/// [`append_batch`], writing the views and growing the tree or not.
pub fn append_batch_with<T: Tables + ?Sized>(
    tables: &mut T,
    batch: &[Capture],
    views: Views,
    tree: super::tree::Upkeep,
) -> Result<Committed, StoreError> {
    let mut projector = Projector::new(tables);
    projector.views = views;
    projector.tree = tree;
    let mut head = projector.tables.chain_head()?;
    if tree == super::tree::Upkeep::Kept {
        super::tree::whole(projector.tables, &mut head)?;
    }
    let outcomes = batch
        .iter()
        .map(|capture| projector.append(&mut head, capture))
        .collect::<Result<Vec<_>, _>>()?;
    projector.tables.set_chain_head(&head)?;
    Ok(Committed {
        outcomes,
        touched: projector.touched,
    })
}

/// The projection rules at work on one transaction's tables, noting which subjects' timelines
/// they changed (for the change feed).
pub struct Projector<'t, T: Tables + ?Sized> {
    pub tables: &'t mut T,
    pub touched: HashSet<String>,
    views: Views,
    /// The delivery whose seq every change is recorded at, when not each entry's own: a
    /// re-normalization places entries of old deliveries, and live views and the search
    /// index, which follow changes from where they are, must see them at its own record.
    pub changes_at: Option<u64>,
    pub tree: super::tree::Upkeep,
}

/// Which of a delivery's entries are new.
pub struct Fresh(Vec<usize>);

impl Fresh {
    /// The entries at these indexes of the delivery's normalized form.
    pub(super) fn of(indexes: Vec<usize>) -> Fresh {
        Fresh(indexes)
    }
}

pub enum Plan {
    Duplicate(u64),
    Replayed,
    Store(Fresh),
}

/// Where [`Projector::place`] put an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// On the timelines of its subjects.
    OnTimelines,
    /// Nowhere yet: no link resolves it (it waits on the unmatched list).
    Unmatched,
}

/// What projecting a delivery wrote.
pub struct Projected {
    pub written: usize,
    /// How many of the written entries resolved to no subject yet.
    pub unmatched: usize,
}

impl<'t, T: Tables + ?Sized> Projector<'t, T> {
    pub fn new(tables: &'t mut T) -> Self {
        Projector {
            tables,
            touched: HashSet::new(),
            views: Views::Kept,
            changes_at: None,
            tree: super::tree::Upkeep::Kept,
        }
    }

    /// Logs one capture after `head` (unless it is a duplicate or a replay) and projects it.
    pub fn append(
        &mut self,
        head: &mut ChainHead,
        capture: &Capture,
    ) -> Result<Appended, StoreError> {
        let normalized = &capture.normalized;
        let fresh = match self.plan(capture.source(), normalized, capture.replay_key.as_ref())? {
            Plan::Duplicate(seq) => return Ok(Appended::Duplicate { seq }),
            Plan::Replayed => return Ok(Appended::Replayed),
            Plan::Store(fresh) => fresh,
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
        self.tables
            .put_delivery(&delivery, Some(capture.body().as_ref()))?;
        head.seq = seq;
        head.hash = chained;
        if self.tree == super::tree::Upkeep::Kept {
            // Leaf i is delivery i + 1: a tree that fell behind its log (never, once opened)
            // would put every later leaf in the wrong place.
            if head.tree.size() + 1 != seq {
                return Err(StoreError::Corrupt(format!(
                    "the Merkle tree holds {} leaves but delivery {seq} is being logged",
                    head.tree.size()
                )));
            }
            super::tree::add_leaf(self.tables, &mut head.tree, capture.delivery_hash())?;
        }
        let projected = match self.views {
            Views::Kept => self.project(&delivery, normalized, &fresh)?,
            Views::Off => self.dedup_keys_only(&delivery, normalized, &fresh)?,
        };
        Ok(Appended::Stored {
            seq,
            entries: projected.written,
            unmatched: projected.unmatched,
        })
    }

    /// Dedup: a delivery whose id was seen is a duplicate. Without a delivery id, each
    /// entry's event id is checked: entries seen before are skipped (an overlapping batch adds
    /// only what is new), and a delivery with nothing new is a duplicate.
    ///
    /// Replay keys are checked after the delivery id, so a provider's own retry is a harmless
    /// duplicate either way. Signed content seen before is the same authenticated message
    /// again: a duplicate, whatever unsigned id it came with. A token seen before means
    /// someone put a captured signature on other content: refused.
    pub fn plan(
        &mut self,
        source: &str,
        normalized: &Normalized,
        replay_key: Option<&ReplayKey>,
    ) -> Result<Plan, StoreError> {
        if let Some(id) = &normalized.delivery_id
            && let Some(seq) = self.tables.dedup(source, &keys::delivery(id))?
        {
            return Ok(Plan::Duplicate(seq));
        }
        if let Some(key) = replay_key
            && let Some(seq) = self.tables.dedup(source, &keys::replay(key))?
        {
            return Ok(match key {
                ReplayKey::SignedContent(_) => Plan::Duplicate(seq),
                ReplayKey::Token(_) => Plan::Replayed,
            });
        }
        let mut fresh = Vec::with_capacity(normalized.entries.len());
        let mut first_seen = None;
        for (index, entry) in normalized.entries.iter().enumerate() {
            let seen = match keys::entry(normalized, entry) {
                Some(key) => self.tables.dedup(source, &key)?,
                None => None,
            };
            match seen {
                Some(seq) => {
                    first_seen.get_or_insert(seq);
                }
                None => fresh.push(index),
            }
        }
        match first_seen {
            Some(seq) if fresh.is_empty() && normalized.delivery_id.is_none() => {
                Ok(Plan::Duplicate(seq))
            }
            _ => Ok(Plan::Store(Fresh(fresh))),
        }
    }

    /// Writes the entries, indexes, dedup keys, links and flags of a logged delivery.
    pub fn project(
        &mut self,
        delivery: &StoredDelivery,
        normalized: &Normalized,
        fresh: &Fresh,
    ) -> Result<Projected, StoreError> {
        self.delivery_keys(delivery)?;
        if normalized.outcome.is_flagged() {
            self.tables.flag_delivery(delivery.seq)?;
        }
        let mut written = 0;
        let mut unmatched = Vec::new();
        for &index in &fresh.0 {
            let Ok(index16) = u16::try_from(index) else {
                tracing::warn!(
                    seq = delivery.seq,
                    "a delivery with more than 65536 entries was cut short"
                );
                break;
            };
            let new = &normalized.entries[index];
            self.entry_key(delivery, normalized, new)?;
            let id = EntryId::derive(delivery.received_at, delivery.seq, index16);
            if self.place(entry_from(delivery, new, id))? == Placed::Unmatched {
                unmatched.push(id);
            }
            written += 1;
        }
        // A later entry of the same delivery may have established the link an earlier one
        // was waiting for; only the (rare) entries placed unmatched need looking at again.
        let mut still_unmatched = 0;
        for id in unmatched {
            if self.tables.is_unmatched(id)? {
                still_unmatched += 1;
            }
        }
        Ok(Projected {
            written,
            unmatched: still_unmatched,
        })
    }

    /// What [`Views::Off`] keeps of a delivery's projection: the keys intake answers
    /// duplicates and replays from.
    fn dedup_keys_only(
        &mut self,
        delivery: &StoredDelivery,
        normalized: &Normalized,
        fresh: &Fresh,
    ) -> Result<Projected, StoreError> {
        self.delivery_keys(delivery)?;
        for &index in &fresh.0 {
            self.entry_key(delivery, normalized, &normalized.entries[index])?;
        }
        Ok(Projected {
            written: 0,
            unmatched: 0,
        })
    }

    /// The dedup key of one of a delivery's entries, where it has one (its event id).
    fn entry_key(
        &mut self,
        delivery: &StoredDelivery,
        normalized: &Normalized,
        new: &NewEntry,
    ) -> Result<(), StoreError> {
        if let Some(key) = keys::entry(normalized, new) {
            self.tables
                .put_dedup(&delivery.source, &key, delivery.seq)?;
        }
        Ok(())
    }

    /// The delivery's own dedup keys: its id and its replay key.
    pub fn delivery_keys(&mut self, delivery: &StoredDelivery) -> Result<(), StoreError> {
        let source = delivery.source.as_str();
        if let Some(id) = &delivery.delivery_id {
            self.tables
                .put_dedup(source, &keys::delivery(id), delivery.seq)?;
        }
        if let Some(key) = &delivery.replay_key {
            self.tables
                .put_dedup(source, &keys::replay(key), delivery.seq)?;
        }
        Ok(())
    }

    /// Stores an entry with everything that hangs off it: the subjects its correlation keys
    /// resolve to, its timeline rows, its unmatched record, the email roll-ups it feeds, and
    /// the links it establishes (attaching whatever was waiting for them). Idempotent, so
    /// `reindex` can place kept entries again.
    ///
    /// Every timeline row it adds, and every email whose status it moves, is also a change at
    /// the entry's delivery (see [`Tables::add_change`]).
    pub fn place(&mut self, mut entry: Entry) -> Result<Placed, StoreError> {
        let at = self.changes_at.unwrap_or(entry.source.delivery_seq);
        let mut linked = Vec::new();
        for key in &entry.correlation {
            if let Some(target) = self.tables.link(key)? {
                entry.subjects.extend(target.subjects.iter().cloned());
                linked.push(target);
            }
        }
        entry.subjects.sort();
        entry.subjects.dedup();
        linked.sort_by_key(|target| target.entry_id);
        linked.dedup_by_key(|target| target.entry_id);

        self.tables.put_entry(&entry)?;
        self.tables.index_by_time(&entry)?;
        self.changed_anywhere(at, entry.id)?;
        let folded = is_callback(&entry) && !linked.is_empty();
        self.index(&entry, &entry.subjects, at, folded)?;
        let placed = if entry.subjects.is_empty() {
            Placed::Unmatched
        } else {
            Placed::OnTimelines
        };
        if placed == Placed::Unmatched {
            // Nothing resolves it yet: visible as unmatched, attached when a link arrives.
            self.tables.set_unmatched(entry.id, true)?;
            for key in &entry.correlation {
                self.tables.add_pending(key, entry.id)?;
            }
        }
        for email in &linked {
            self.roll_up(email, &entry, at)?;
        }

        let link_keys = links::established_by(&entry.details);
        if !link_keys.is_empty() {
            let target = LinkTarget {
                entry_id: entry.id,
                subjects: entry.subjects.clone(),
            };
            for key in &link_keys {
                self.tables.put_link(key, &target)?;
                self.attach_pending(key, &target, at)?;
            }
        }
        Ok(placed)
    }

    /// Records that entry `id` is new or changed anywhere (the home page and the unmatched
    /// list follow these).
    fn changed_anywhere(&mut self, at: u64, id: EntryId) -> Result<(), StoreError> {
        self.tables.add_change(super::EVERYTHING, at, id)?;
        // Once a batch: this runs for every entry the writer places.
        if !self.touched.contains(super::EVERYTHING) {
            self.touched.insert(super::EVERYTHING.to_owned());
        }
        Ok(())
    }

    /// Adds timeline rows for `entry` under each of `subjects`, as changes at delivery `at`. A
    /// `folded` callback goes to the callback lane, and is no change of its own: its email's
    /// line, which changes with it, tells it.
    fn index(
        &mut self,
        entry: &Entry,
        subjects: &[Subject],
        at: u64,
        folded: bool,
    ) -> Result<(), StoreError> {
        let lane = if folded {
            super::CALLBACK_LANE
        } else {
            super::lane(entry.category)
        };
        for subject in subjects {
            let key = subject.key();
            self.tables.add_to_timeline(&key, entry, lane)?;
            if !folded {
                self.tables.add_change(&key, at, entry.id)?;
            }
            self.touched.insert(key);
        }
        Ok(())
    }

    /// A link just appeared (at delivery `at`): every entry that was waiting for it joins the
    /// link's subjects (and, for email callbacks, the email's status roll-up) retroactively.
    fn attach_pending(
        &mut self,
        key: &str,
        target: &LinkTarget,
        at: u64,
    ) -> Result<(), StoreError> {
        for id in self.tables.take_pending(key)? {
            let Some(mut entry) = self.tables.entry(id)? else {
                continue;
            };
            let added: Vec<Subject> = target
                .subjects
                .iter()
                .filter(|s| !entry.subjects.contains(s))
                .cloned()
                .collect();
            entry.subjects.extend(added.iter().cloned());
            entry.subjects.sort();
            self.tables.put_entry(&entry)?;
            self.changed_anywhere(at, entry.id)?;
            self.index(&entry, &added, at, is_callback(&entry))?;
            if !entry.subjects.is_empty() {
                self.tables.set_unmatched(id, false)?;
            }
            self.roll_up(target, &entry, at)?;
        }
        Ok(())
    }

    /// Records an email callback in the roll-up of the `email.sent` entry it belongs to: the
    /// email changed, at delivery `at`, on each of its timelines.
    fn roll_up(&mut self, email: &LinkTarget, callback: &Entry, at: u64) -> Result<(), StoreError> {
        let Details::EmailEvent { event } = &callback.details else {
            return Ok(());
        };
        let mut status = self
            .tables
            .email_status(email.entry_id)?
            .unwrap_or_default();
        status.record(event, callback.occurred_at);
        self.tables.put_email_status(email.entry_id, &status)?;
        self.changed_anywhere(at, email.entry_id)?;
        for subject in &email.subjects {
            let key = subject.key();
            self.tables.add_change(&key, at, email.entry_id)?;
            self.touched.insert(key);
        }
        Ok(())
    }
}

/// An email provider's callback: folded into its email once it finds it.
pub(super) fn is_callback(entry: &Entry) -> bool {
    matches!(entry.details, Details::EmailEvent { .. })
}

pub(super) fn entry_from(delivery: &StoredDelivery, new: &NewEntry, id: EntryId) -> Entry {
    let source = SourceRef {
        name: delivery.source.clone(),
        event_id: new.event_id.clone(),
        delivery_seq: delivery.seq,
    };
    Entry::from_new(new.clone(), id, delivery.received_at, source)
}
