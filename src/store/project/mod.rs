//! The rules of projecting, written once for every backend.
//!
//! What a delivery means for the timelines — which of its entries are new (dedup), which
//! subjects they belong to (links and pending links, attached retroactively), how email
//! callbacks roll up into their email's status, and how `reindex` and `erase` rebuild or
//! redact all of that — lives here, against [`Tables`]: the few primitives a backend offers
//! inside its write transaction. A backend stores rows; it never decides what they mean. Both
//! backends run this same code, so entry ids, dedup answers and timelines agree between them.

mod append;
mod erase;
pub mod keys;
mod reindex;
mod renormalize;
pub mod tree;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::activity::details::DeliveryStatus;
use crate::activity::{Category, Entry, EntryId, Subject};
use crate::store::chain::GENESIS;
use crate::store::{StoreError, StoredDelivery};
use crate::trust::merkle::{Frontier, Subtree};

pub use append::{Committed, Projector, Views, append_batch, append_batch_with};
pub use erase::erase;
pub use reindex::reindex;
pub use renormalize::{RenormalizeRequest, renormalize};

/// The head of the log: its last delivery, that delivery's chain value, and the frontier of
/// the Merkle tree over every delivery so far (see [`tree`]). The tree has one leaf per
/// delivery, so its size is `seq` — except in a store written before the tree existed, whose
/// tree [`tree::catch_up`] grows once when it is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: [u8; 32],
    pub tree: Frontier,
}

impl ChainHead {
    pub const EMPTY: ChainHead = ChainHead {
        seq: 0,
        hash: GENESIS,
        tree: Frontier::EMPTY,
    };
}

/// The lane of a subject's timeline that holds a category's entries: 1 + the category's code.
/// A filtered page reads one lane; the whole timeline is the lanes together. (Lane 0 held
/// every entry in an earlier redb layout.) Stored by every backend, so pinned.
pub fn lane(category: Category) -> u8 {
    category.code() + 1
}

/// The key of the changes of everything (see [`crate::store::Feed::Everything`]): no subject's
/// key (`job:…`, `salesdoc:…`) can be it.
pub const EVERYTHING: &str = "*";

/// The lane of email provider callbacks that found their email: they are told inside the
/// email's line (its delivery badge and history), so a timeline leaves them out unless asked
/// to show them as lines. Callbacks that match no email keep their category's lane.
pub const CALLBACK_LANE: u8 = 200;

/// Which lanes of a subject's timeline a read covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lanes {
    /// One category's lane, or every category's.
    pub category: Option<Category>,
    /// Whether callbacks folded into their email are read as lines of their own (they are
    /// in the communication category).
    pub callbacks: bool,
}

impl Lanes {
    /// Every line, callbacks included: exports, erasure, the origin of a timeline.
    pub const EVERYTHING: Lanes = Lanes {
        category: None,
        callbacks: true,
    };

    pub fn of(query: &crate::store::PageQuery) -> Lanes {
        Lanes {
            category: query.category,
            callbacks: query.callbacks,
        }
    }

    /// The lanes, in no particular order.
    pub fn iter(self) -> impl Iterator<Item = u8> {
        let categories: Vec<Category> = match self.category {
            Some(category) => vec![category],
            None => Category::ALL.to_vec(),
        };
        let callbacks = self.callbacks
            && self
                .category
                .is_none_or(|category| category == Category::Communication);
        categories
            .into_iter()
            .map(lane)
            .chain(callbacks.then_some(CALLBACK_LANE))
    }
}

/// How many lines each lane of a subject's timeline holds, each counted no further than
/// [`LaneCounts::UP_TO`]: what the category chips show. Counting stops there so that the
/// read stays bounded (lanes × cap rows) however long the history; a chip then says "100+".
/// Backends [`set`](LaneCounts::set) what they counted; what a view covers is
/// [`lines`](LaneCounts::lines), the same rule as the page it counts for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaneCounts {
    counts: BTreeMap<u8, usize>,
}

impl LaneCounts {
    pub const UP_TO: usize = 100;

    pub fn set(&mut self, lane: u8, counted: usize) {
        self.counts.insert(lane, counted.min(Self::UP_TO));
    }

    /// The lines a page over `lanes` holds, at least.
    pub fn lines(&self, lanes: Lanes) -> LineCount {
        let counts = lanes
            .iter()
            .map(|lane| self.counts.get(&lane).copied().unwrap_or(0));
        counts.fold(LineCount::default(), |total, count| LineCount {
            at_least: total.at_least + count,
            capped: total.capped || count >= Self::UP_TO,
        })
    }
}

/// A number of lines: exact, or (`capped`) a lower bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineCount {
    pub at_least: usize,
    pub capped: bool,
}

impl std::fmt::Display for LineCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let more = if self.capped { "+" } else { "" };
        write!(f, "{}{more}", self.at_least)
    }
}

/// Where a link points: the entry that established it and that entry's subjects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkTarget {
    pub entry_id: EntryId,
    pub subjects: Vec<Subject>,
}

/// What a whole-store pass hands each row to: its key and its stored form.
pub type Visit<'a, K> = &'a mut dyn FnMut(K, &[u8]) -> Result<(), StoreError>;

/// The primitives a backend provides inside one write transaction. Each is a plain read or
/// write of one kind of row; none carries a rule. Writes replace what was there.
pub trait Tables {
    // The log.
    fn chain_head(&mut self) -> Result<ChainHead, StoreError>;
    fn set_chain_head(&mut self, head: &ChainHead) -> Result<(), StoreError>;
    /// Keeps a perfect subtree of the Merkle tree over deliveries (only those of at least
    /// [`tree::KEPT_FROM_HEIGHT`]: see [`tree`]).
    fn put_subtree(&mut self, subtree: &Subtree) -> Result<(), StoreError>;
    /// Drops every kept subtree (`reindex` grows the tree again).
    fn clear_subtrees(&mut self) -> Result<(), StoreError>;
    /// Writes a delivery's record, and its body when given (a record written again keeps the
    /// body it has).
    fn put_delivery(
        &mut self,
        delivery: &StoredDelivery,
        body: Option<&[u8]>,
    ) -> Result<(), StoreError>;
    /// Deliveries with seq ≥ `from`, in order, at most `limit`, with their bodies.
    fn deliveries_from(
        &mut self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<StoredDelivery>, StoreError>;
    /// [`Tables::deliveries_from`] without the bodies (growing the tree needs only hashes).
    fn delivery_records_from(
        &mut self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<StoredDelivery>, StoreError>;
    /// Drops a delivery's body; whether there was one.
    fn drop_body(&mut self, seq: u64) -> Result<bool, StoreError>;
    fn flag_delivery(&mut self, seq: u64) -> Result<(), StoreError>;
    fn unflag_delivery(&mut self, seq: u64) -> Result<(), StoreError>;

    // Dedup keys, per source (see [`keys`]).
    fn dedup(&mut self, source: &str, key: &str) -> Result<Option<u64>, StoreError>;
    fn put_dedup(&mut self, source: &str, key: &str, seq: u64) -> Result<(), StoreError>;

    // Entries and timelines.
    fn entry(&mut self, id: EntryId) -> Result<Option<Entry>, StoreError>;
    fn put_entry(&mut self, entry: &Entry) -> Result<(), StoreError>;
    /// The entries a delivery produced (their ids are derived from it: see
    /// [`EntryId::derive`]), in id order.
    fn delivery_entries(&mut self, delivery: &StoredDelivery) -> Result<Vec<Entry>, StoreError>;
    fn remove_delivery_entries(&mut self, delivery: &StoredDelivery) -> Result<(), StoreError>;
    /// Adds the entry's row to `lane` of the timeline of the subject keyed `subject_key` (see
    /// [`lane`] and [`CALLBACK_LANE`]).
    fn add_to_timeline(
        &mut self,
        subject_key: &str,
        entry: &Entry,
        lane: u8,
    ) -> Result<(), StoreError>;
    /// Removes the row [`Tables::add_to_timeline`] added.
    fn remove_from_timeline(
        &mut self,
        subject_key: &str,
        entry: &Entry,
        lane: u8,
    ) -> Result<(), StoreError>;
    /// Adds the entry to the index of every entry by when it happened (the home page).
    fn index_by_time(&mut self, entry: &Entry) -> Result<(), StoreError>;
    /// Removes the row [`Tables::index_by_time`] added.
    fn unindex_by_time(&mut self, entry: &Entry) -> Result<(), StoreError>;
    /// The ids on `subject`'s timeline, oldest first.
    fn timeline_ids(&mut self, subject: &Subject) -> Result<Vec<EntryId>, StoreError>;
    /// Records that entry `id` became new or changed on the timeline of the subject keyed
    /// `subject_key` (or anywhere, under [`EVERYTHING`]) with delivery `seq`: what live views
    /// follow (see [`crate::store::ChangeCursor`]). Recording the same change again changes
    /// nothing.
    fn add_change(&mut self, subject_key: &str, seq: u64, id: EntryId) -> Result<(), StoreError>;

    // Correlation.
    fn link(&mut self, key: &str) -> Result<Option<LinkTarget>, StoreError>;
    fn put_link(&mut self, key: &str, target: &LinkTarget) -> Result<(), StoreError>;
    fn set_unmatched(&mut self, id: EntryId, unmatched: bool) -> Result<(), StoreError>;
    fn is_unmatched(&mut self, id: EntryId) -> Result<bool, StoreError>;
    fn add_pending(&mut self, key: &str, id: EntryId) -> Result<(), StoreError>;
    /// Removes and returns the entries waiting for `key`, in id order.
    fn take_pending(&mut self, key: &str) -> Result<Vec<EntryId>, StoreError>;

    // Email roll-ups.
    fn email_status(&mut self, email: EntryId) -> Result<Option<DeliveryStatus>, StoreError>;
    fn put_email_status(
        &mut self,
        email: EntryId,
        status: &DeliveryStatus,
    ) -> Result<(), StoreError>;

    // Whole-store passes (reindex and erasure: rare, and allowed to cost O(store)).
    /// Drops every projection: timelines and their changes, the index by time, dedup keys,
    /// links, flags, unmatched and pending rows, roll-ups. The log and the entries stay.
    fn clear_projections(&mut self) -> Result<(), StoreError>;
    /// Each entry's id and stored form (JSON), for `visit` to pick from.
    fn scan_entries(&mut self, visit: Visit<'_, EntryId>) -> Result<(), StoreError>;
    /// Each kept body, by seq.
    fn scan_bodies(&mut self, visit: Visit<'_, u64>) -> Result<(), StoreError>;
    /// Each email roll-up, with its stored form (JSON).
    fn scan_email_statuses(&mut self, visit: Visit<'_, EntryId>) -> Result<(), StoreError>;
}
