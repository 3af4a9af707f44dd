//! Storage: the delivery log (the source of truth) and the projections built from it, behind
//! one seam with three faces: the writer's side ([`WriteSide`]), the read side ([`ReadSide`])
//! and the change feed ([`ChangeFeed`]). The rules of projecting are written once, in
//! [`project`], against the primitives each backend offers inside its write transaction. redb
//! is the embedded default ([`redb`]); [`postgres`] lets several stateless gateways share one
//! database. The group-commit [`writer`] drives either.

pub mod alert_book;
pub mod chain;
#[cfg(test)]
pub(crate) mod contract;
pub mod cursor;
pub mod health;
mod json;
pub mod postgres;
pub mod project;
pub mod redb;
pub mod renormalize;
pub mod selection;
pub mod stamps;
pub mod tally;
pub mod writer;

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::activity::redact::ErasureTarget;
use crate::activity::{Category, Entry, EntryId, Normalized, Outcome, Subject};
use crate::config::{Backend, StorageConfig};
use crate::search::{Indexing, SearchHits, SearchRequest};
use crate::sources::{RawDelivery, ReplayKey};
use crate::trust::heads::SignedHead;
use crate::trust::merkle::Hash;

pub use alert_book::{AlertRecord, StoredAlert};
pub use cursor::{ChangeCursor, Cursor};
pub use json::{from_json, to_json};
pub use project::{LaneCounts, LineCount};
pub use tally::{Tally, TallyBatch};

pub use crate::sources::Reread;

/// What a re-normalization did (see [`WriteSide::renormalize`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenormalizeReport {
    /// The run as logged.
    pub record: crate::sources::internal::RenormalizationRecord,
    /// The seq of its record in the log.
    pub logged_as: u64,
}

/// A verified delivery on its way into the log, normalized and hashed already. Both are pure
/// work that runs on the request's thread, in parallel, which keeps the single writer's share
/// small (hashing alone would be a large part of it on CPUs without SHA instructions). What the
/// hashes cover is fixed when the capture is made, so they always match it.
#[derive(Debug, Clone)]
pub struct Capture {
    source: String,
    received_at: DateTime<Utc>,
    headers: Vec<(String, String)>,
    body: Bytes,
    body_sha256: [u8; 32],
    delivery_hash: [u8; 32],
    pub normalized: Normalized,
    /// `normalized` as JSON, for the embedded store's journal (see [`redb::journal`]): made
    /// on the request's thread when the backend journals (see [`WriteSide::journals`]), so the
    /// writer only copies it; never made for a backend that does not.
    normalized_json: OnceLock<Bytes>,
    /// What must not be stored twice for this source (see [`ReplayKey`]).
    pub replay_key: Option<ReplayKey>,
}

impl Capture {
    pub fn new(
        source: impl Into<String>,
        received_at: DateTime<Utc>,
        headers: Vec<(String, String)>,
        body: Bytes,
        normalized: Normalized,
    ) -> Capture {
        let source = source.into();
        let body_sha256 = chain::body_hash(&body);
        let delivery_hash = chain::delivery_hash(
            &source,
            received_at.timestamp_micros(),
            &headers,
            &body_sha256,
        );
        Capture {
            source,
            received_at,
            headers,
            body,
            body_sha256,
            delivery_hash,
            normalized,
            normalized_json: OnceLock::new(),
            replay_key: None,
        }
    }

    pub fn with_replay_key(mut self, replay_key: Option<ReplayKey>) -> Capture {
        self.replay_key = replay_key;
        self
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn received_at(&self) -> DateTime<Utc> {
        self.received_at
    }

    /// The request headers the source keeps.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    pub fn body(&self) -> &Bytes {
        &self.body
    }

    pub fn body_sha256(&self) -> &[u8; 32] {
        &self.body_sha256
    }

    /// [`Capture::normalized`] as JSON, made on first use.
    pub fn normalized_json(&self) -> &[u8] {
        self.normalized_json.get_or_init(|| {
            // Serializing these types cannot fail (every map key is a string); an empty form
            // would be refused by the journal rather than written.
            serde_json::to_vec(&self.normalized)
                .map(Bytes::from)
                .unwrap_or_default()
        })
    }

    /// Makes [`Capture::normalized_json`] now, on this thread, where the backend will need it.
    pub fn prepared_for(self, store: &dyn WriteSide) -> Capture {
        if store.journals() {
            self.normalized_json();
        }
        self
    }

    /// What the integrity chain links for this delivery (see [`chain::delivery_hash`]).
    pub fn delivery_hash(&self) -> &[u8; 32] {
        &self.delivery_hash
    }
}

/// What appending one capture did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Appended {
    /// Written to the log as `seq`, with this many new entries, of which `unmatched` resolved
    /// to no subject yet (counted for metrics; not part of the answer to the sender).
    Stored {
        seq: u64,
        entries: usize,
        #[serde(skip)]
        unmatched: usize,
    },
    /// Seen before (the original is `seq`): nothing was written.
    Duplicate { seq: u64 },
    /// A new delivery carrying a token already used ([`ReplayKey::Token`]): refused, nothing
    /// was written.
    Replayed,
}

/// A delivery as the log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredDelivery {
    /// Its place in the log (gap-free).
    pub seq: u64,
    /// The configured source it came through.
    pub source: String,
    #[serde(serialize_with = "crate::activity::timestamp::serialize")]
    pub received_at: DateTime<Utc>,
    /// The request headers its source keeps, as `[name, value]` pairs.
    #[schema(value_type = Vec<(String, String)>)]
    pub headers: Vec<(String, String)>,
    /// `None` once retention has dropped the body; its hash stays.
    #[serde(skip)]
    pub body: Option<Vec<u8>>,
    /// The SHA-256 of the body as received (hex).
    #[serde(with = "hex_bytes")]
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub body_sha256: [u8; 32],
    /// h(seq) of the integrity chain (hex).
    #[serde(with = "hex_bytes")]
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub chain: [u8; 32],
    /// The provider's id for the delivery, its dedup key (`webhook-id`, `evt_…`).
    pub delivery_id: Option<String>,
    /// What keeps it from being stored again where its signature covers no unique id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub replay_key: Option<ReplayKey>,
    pub outcome: Outcome,
}

impl StoredDelivery {
    /// Its delivery hash (see [`chain::delivery_hash`]): what the chain links and what its leaf
    /// in the Merkle tree hashes.
    pub fn hash(&self) -> [u8; 32] {
        chain::delivery_hash(
            &self.source,
            self.received_at.timestamp_micros(),
            &self.headers,
            &self.body_sha256,
        )
    }

    pub fn as_raw(&self) -> Option<RawDelivery<'_>> {
        Some(RawDelivery {
            source: &self.source,
            received_at: self.received_at,
            headers: &self.headers,
            body: self.body.as_deref()?,
        })
    }
}

/// A page of a subject's timeline, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageQuery {
    pub limit: usize,
    pub before: Option<Cursor>,
    pub category: Option<Category>,
    /// Email callbacks that found their email as lines of their own (see
    /// [`project::CALLBACK_LANE`]); otherwise only their email's line tells them.
    pub callbacks: bool,
}

impl PageQuery {
    pub const DEFAULT_LIMIT: usize = 50;
    pub const MAX_LIMIT: usize = 200;
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// Where the next (older) page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// What a live view follows: one subject's timeline, or everything (the home page's latest
/// activity and the unmatched list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed<'a> {
    Subject(&'a Subject),
    Everything,
}

impl Feed<'_> {
    /// Its key among the changes and the stamps: the subject's key, or
    /// [`project::EVERYTHING`], which no subject's key can be.
    pub fn key(&self) -> String {
        match self {
            Feed::Subject(subject) => subject.key(),
            Feed::Everything => project::EVERYTHING.to_owned(),
        }
    }
}

/// A [`Feed`] that owns its subject: what a live view keeps, or a read moves to another thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Follow {
    Subject(Subject),
    Everything,
}

impl Follow {
    pub fn of(feed: Feed<'_>) -> Follow {
        match feed {
            Feed::Subject(subject) => Follow::Subject(subject.clone()),
            Feed::Everything => Follow::Everything,
        }
    }

    pub fn feed(&self) -> Feed<'_> {
        match self {
            Follow::Subject(subject) => Feed::Subject(subject),
            Follow::Everything => Feed::Everything,
        }
    }
}

/// An entry new to a subject's timeline or changed on it, as it reads now, and where the
/// change sits among the subject's changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub cursor: ChangeCursor,
    pub entry: Entry,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainReport {
    Intact {
        deliveries: u64,
        head: [u8; 32],
        /// The root of the RFC 9162 Merkle tree over the deliveries' hashes (see
        /// [`crate::trust::merkle`]): what a signed tree head of this log would carry.
        tree_root: [u8; 32],
    },
    /// The first delivery whose stored data or position does not match the chain.
    Broken { seq: u64, reason: String },
}

/// How `reindex` reads a logged delivery again, with the sources configured today.
pub type Rereader<'a> = dyn Fn(&RawDelivery<'_>) -> Option<Reread> + 'a;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReindexReport {
    pub deliveries: u64,
    pub entries: u64,
    pub flagged: u64,
    /// Deliveries whose source is no longer configured, or whose body retention dropped.
    pub skipped: u64,
}

/// What a backup copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BackupReport {
    pub rows: u64,
    pub tables: usize,
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureReport {
    /// Entries whose content changed.
    pub entries: u64,
    /// Raw delivery bodies dropped (their hashes stay).
    pub raw_bodies: u64,
    /// The subjects whose timelines were touched; each gets an erasure entry.
    pub subjects: Vec<Subject>,
}

/// Staff sessions ended before their expiry (signing out). Sessions live in signed cookies, so
/// ending one early means remembering that it ended, for as long as its cookie would still
/// open: each record carries the moment after which it can be forgotten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// One session, by its random id, until it would have expired anyway.
    Session { id: u128, expires: DateTime<Utc> },
    /// Every session of `username` issued at or before `issued_up_to` ("sign out
    /// everywhere"); forgotten at `expires`, when all of those sessions have expired.
    AllSessionsOf {
        username: String,
        issued_up_to: DateTime<Utc>,
        expires: DateTime<Utc>,
    },
}

impl Revocation {
    /// After this the record changes nothing: every session it covers has expired.
    pub fn expires(&self) -> DateTime<Utc> {
        match self {
            Revocation::Session { expires, .. } | Revocation::AllSessionsOf { expires, .. } => {
                *expires
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store is in use by another process (a running gateway)")]
    InUse,
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A read ran past its time limit (see [`crate::search::QUERY_TIMEOUT`]).
    #[error("the query took too long")]
    TimedOut,
    /// The backend does not do this; the message says what does.
    #[error("{0}")]
    Unsupported(&'static str),
}

/// The writer's side of the seam: appending batches (from one writer at a time) and the
/// maintenance that rewrites or copies the store.
pub trait WriteSide: Send + Sync {
    /// Appends a batch of captures in one durable transaction: the deliveries, their entries,
    /// indexes, dedup keys and links, all or nothing. Returns one result per capture, in order.
    fn append(&self, batch: &[Capture]) -> Result<Vec<Appended>, StoreError>;

    /// What the writer does after it has answered a batch and before it takes the next: the
    /// embedded store's checkpoints (see [`redb::journal`]). Its cost may delay the next batch,
    /// never an answer. Nothing by default.
    fn after_batch(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Whether appends write each capture's [`Capture::normalized_json`] (the embedded store's
    /// journal does): intake then makes it on the request's thread, off the single writer.
    fn journals(&self) -> bool {
        false
    }

    /// One round of bringing a search index that follows the timelines up to them (the
    /// embedded store's: see [`redb::search`]); a background task calls it while it reports
    /// [`Indexing::Behind`], and every moment or so otherwise. A backend that indexes inside
    /// each commit answers [`Indexing::InCommit`], and is never called again.
    fn index_for_search(&self) -> Result<Indexing, StoreError> {
        Ok(Indexing::InCommit)
    }

    /// Drops every projection and rebuilds it from the delivery log, reading each delivery
    /// again with `reread` (`None`: its source is gone; keep the delivery, project nothing).
    fn reindex(&self, reread: &Rereader<'_>) -> Result<ReindexReport, StoreError>;

    /// Drops the raw bodies of deliveries received before `cutoff`; their hashes (and so the
    /// chain) and their entries stay. Returns how many bodies were dropped.
    fn prune_bodies(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Redacts a person's or a timeline's personal content everywhere it is stored, drops the
    /// raw bodies it came from, and logs the erasure — in one transaction.
    fn erase(
        &self,
        target: &ErasureTarget,
        now: DateTime<Utc>,
    ) -> Result<ErasureReport, StoreError>;

    /// Normalizes the deliveries `seqs` again with `reread` where that can be done in place
    /// (see [`project::renormalize`]), and logs the run as an internal record — in one
    /// transaction. What became of each delivery is in the record returned.
    fn renormalize(
        &self,
        seqs: &[u64],
        reread: &Rereader<'_>,
        request: &project::RenormalizeRequest,
    ) -> Result<RenormalizeReport, StoreError>;

    /// Copies one consistent snapshot of the store into `target`, a new, empty file the caller
    /// created (the store never resolves a path for a backup: where one may land is the
    /// caller's decision).
    fn backup(&self, target: std::fs::File) -> Result<BackupReport, StoreError>;

    /// Adds a gateway's counts of what became of its sources' deliveries to those stored
    /// (see [`tally`]), drops buckets before the batch's `drop_before`, and keeps each
    /// source's latest stored-delivery time. Additive, so gateways sharing a store sum.
    fn add_to_tally(&self, batch: &TallyBatch) -> Result<(), StoreError>;

    /// Replaces alert `name`'s record if its revision is still `expected` (`None`: if there
    /// is none yet), in a short transaction of its own; false when another gateway changed
    /// it first. The stored revision becomes `expected + 1` (see [`alert_book`]).
    fn swap_alert(
        &self,
        name: &str,
        expected: Option<u64>,
        record: &AlertRecord,
    ) -> Result<bool, StoreError>;

    /// Stores a signed tree head if it is the log's next (its number one more than the
    /// latest's), durably, in a short transaction of its own; false when a head of that
    /// number exists (another gateway signed first).
    fn add_tree_head(&self, head: &SignedHead) -> Result<bool, StoreError>;

    /// Whether a write transaction can be opened and committed (for `/readyz`).
    fn check_writable(&self) -> Result<(), StoreError>;

    /// Records that sessions ended, durably: committed before this returns. Records expired
    /// by `now` are dropped in the same transaction, so the table only holds live ones.
    fn revoke_sessions(
        &self,
        revocation: &Revocation,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// The read side of the seam: pages, entries, deliveries, exports, the chain. Every read sees
/// what any writer committed before it began.
pub trait ReadSide: Send + Sync {
    /// A page of a subject's timeline, newest `occurred_at` first. Costs O(page).
    fn subject_entries(&self, subject: &Subject, query: &PageQuery) -> Result<Page, StoreError>;

    fn entry(&self, id: EntryId) -> Result<Option<Entry>, StoreError>;

    /// What became new or changed in `feed` after `after` (on a subject's timeline; anywhere
    /// for [`Feed::Everything`]), oldest change first, at most `limit` (clamped like a page):
    /// each entry as it reads now. An entry changed twice is there twice. O(limit): what a live
    /// view reads as changes arrive.
    fn changes(
        &self,
        feed: Feed<'_>,
        after: ChangeCursor,
        limit: usize,
    ) -> Result<Vec<Change>, StoreError>;

    /// Where the feed's changes stand: a live view that starts here, from a page read after
    /// this call, misses nothing (it may see an entry the page already shows). O(log n).
    fn latest_change(&self, feed: Feed<'_>) -> Result<ChangeCursor, StoreError>;

    /// The oldest entry of a subject's timeline, if it has any. Costs O(1): pages use it for
    /// their heading (usually the `job.created`) and to tell an unknown id from an empty filter.
    fn subject_origin(&self, subject: &Subject) -> Result<Option<Entry>, StoreError>;

    /// How many lines each lane of a subject's timeline holds, counted up to
    /// [`LaneCounts::UP_TO`] each: O(lanes × cap), however long the history.
    fn lane_counts(&self, subject: &Subject) -> Result<LaneCounts, StoreError>;

    /// The latest entries across every subject, by when they happened, newest first, before
    /// `before` if given, and where the next page starts. Costs O(limit).
    fn recent(&self, limit: usize, before: Option<Cursor>) -> Result<Page, StoreError>;

    /// Entries no link resolves to a subject yet, newest first, before `before` if given.
    fn unmatched(&self, limit: usize, before: Option<EntryId>) -> Result<Vec<Entry>, StoreError>;

    /// How many entries are unmatched.
    fn unmatched_count(&self) -> Result<u64, StoreError>;

    fn delivery(&self, seq: u64) -> Result<Option<StoredDelivery>, StoreError>;

    /// Deliveries with seq ≥ `from`, in order, at most `limit`.
    fn deliveries(&self, from: u64, limit: usize) -> Result<Vec<StoredDelivery>, StoreError>;

    /// [`ReadSide::deliveries`] without their bodies: what proofs and audits read (a
    /// delivery's hash covers its body's hash, not the body, which may be a megabyte). Each
    /// backend reads the records alone; a contract case checks they equal the deliveries.
    fn delivery_records(&self, from: u64, limit: usize) -> Result<Vec<StoredDelivery>, StoreError>;

    /// Deliveries with seq < `before`, newest first, at most `limit`: O(limit).
    fn deliveries_before(
        &self,
        before: u64,
        limit: usize,
    ) -> Result<Vec<StoredDelivery>, StoreError>;

    /// The ids of the entries matching `request`, in its order, at most its limit, where the
    /// next page starts, and how far the index is behind the timelines. The query language,
    /// snippets and filters' meaning are [`crate::search`]'s; a backend only finds.
    fn search(&self, request: &SearchRequest) -> Result<SearchHits, StoreError>;

    /// Recomputes the integrity chain over the whole log, as of one snapshot.
    fn verify_chain(&self) -> Result<ChainReport, StoreError>;

    /// Every entry (of `subject`, or all), oldest first, handed to `sink` one at a time, from
    /// one snapshot.
    fn export(
        &self,
        subject: Option<&Subject>,
        sink: &mut dyn FnMut(Entry) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError>;

    /// A page of an export, oldest first: a subject's timeline by `occurred_at`, or every entry
    /// by receipt; resumes after `after`. O(page) per call — how a live export reads.
    fn export_page(
        &self,
        subject: Option<&Subject>,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<Page, StoreError>;

    /// Every revocation still in force at `now` (a small table: sign-outs of the last hours).
    fn revocations(&self, now: DateTime<Utc>) -> Result<Vec<Revocation>, StoreError>;

    /// The counts of buckets from `since` on, and each source's latest stored delivery. A
    /// small table (sources × outcomes × two days of buckets).
    fn tally(&self, since: DateTime<Utc>) -> Result<Tally, StoreError>;

    /// Every alert record, by name (a small table: one row per configured rule).
    fn alerts(&self) -> Result<Vec<StoredAlert>, StoreError>;

    /// The log's head: its last delivery, chain value and the Merkle tree's frontier. O(1).
    fn chain_head(&self) -> Result<project::ChainHead, StoreError>;

    /// A perfect subtree of the Merkle tree the store keeps (of height
    /// [`project::tree::KEPT_FROM_HEIGHT`] or more), once complete.
    fn subtree(&self, height: u32, index: u64) -> Result<Option<Hash>, StoreError>;

    /// Signed tree heads numbered below `before` (from the latest when `None`), newest first,
    /// at most `limit`.
    fn tree_heads(&self, before: Option<u64>, limit: usize) -> Result<Vec<SignedHead>, StoreError>;

    /// The latest signed head over exactly `tree_size` deliveries.
    fn tree_head_of_size(&self, tree_size: u64) -> Result<Option<SignedHead>, StoreError>;

    /// The signed head numbered `number`.
    fn tree_head(&self, number: u64) -> Result<Option<SignedHead>, StoreError> {
        Ok(self
            .tree_heads(number.checked_add(1), 1)?
            .into_iter()
            .find(|head| head.number == number))
    }
}

/// The change feed: which subjects' timelines changed, whichever gateway committed it. Page
/// caches follow it (and live timelines will).
pub trait ChangeFeed: Send + Sync {
    /// A number that changes whenever anything a subject's timeline shows may have changed:
    /// new or late entries, an email's delivery status, an erasure, a reindex. While it stays
    /// the same, a page rendered from the timeline earlier is still right. Answered from memory
    /// without I/O (pages ask it on the async workers): the embedded backend bumps it at each
    /// commit, a shared one also on the database's notifications of other gateways' commits.
    fn subject_stamp(&self, subject: &Subject) -> Result<u64, StoreError> {
        self.stamp(Feed::Subject(subject))
    }

    /// The stamp of a feed: a subject's, or one that changes with every commit.
    fn stamp(&self, feed: Feed<'_>) -> Result<u64, StoreError>;

    /// Notified whenever the feed's stamp may have changed: what a live view waits on before
    /// it compares the stamp and reads the feed's changes. Enable the `notified()` future
    /// before reading the stamp, so a change in between wakes it.
    fn waker(&self, feed: Feed<'_>) -> std::sync::Arc<tokio::sync::Notify>;

    /// Sign-outs other gateways committed since the last call (and, after the feed
    /// (re)connects, every sign-out still in force): each gateway adds them to its in-memory
    /// copy, so a cookie signed out on one gateway stops working on all. Answered from memory.
    /// A backend with a single owner has none: every sign-out passes through it.
    fn revocations_from_elsewhere(&self) -> Vec<Revocation> {
        Vec::new()
    }
}

/// The seam's traits, for code that calls a backend's methods.
pub mod prelude {
    pub use super::{ChangeFeed, ReadSide, Store, WriteSide};
}

/// A whole backend: its three faces.
pub trait Store: WriteSide + ReadSide + ChangeFeed + 'static {}

impl<T: WriteSide + ReadSide + ChangeFeed + 'static> Store for T {}

/// A backend as a gateway holds it: the read side and the change feed, and the write side —
/// the same store, unless something (a test injecting faults) wraps the write side alone.
#[derive(Clone)]
pub struct Storage {
    pub read: Arc<dyn ReadSide>,
    pub feed: Arc<dyn ChangeFeed>,
    pub write: Arc<dyn WriteSide>,
}

impl Storage {
    pub fn new(store: Arc<dyn Store>) -> Storage {
        Storage {
            read: store.clone(),
            feed: store.clone(),
            write: store,
        }
    }

    /// The same storage with its write side wrapped by `wrap`.
    pub fn wrap_write_side(
        self,
        wrap: impl FnOnce(Arc<dyn WriteSide>) -> Arc<dyn WriteSide>,
    ) -> Storage {
        Storage {
            write: wrap(self.write),
            ..self
        }
    }

    /// The same storage with its read side wrapped by `wrap`.
    pub fn wrap_read_side(
        self,
        wrap: impl FnOnce(Arc<dyn ReadSide>) -> Arc<dyn ReadSide>,
    ) -> Storage {
        Storage {
            read: wrap(self.read),
            ..self
        }
    }

    /// Opens the backend `config` names: the redb file (reopened by itself after an I/O
    /// failure), or the PostgreSQL database (its schema migrated first).
    pub fn open(config: &StorageConfig) -> Result<Storage, StoreError> {
        Storage::open_reporting(config, Arc::default(), None)
    }

    /// [`Storage::open`], telling `progress` how far the embedded store's start-up replay has
    /// come, and rebuilding views that need it with `reread` (see [`redb::views`]).
    pub fn open_reporting(
        config: &StorageConfig,
        progress: Arc<health::OpeningProgress>,
        reread: Option<&Rereader<'_>>,
    ) -> Result<Storage, StoreError> {
        Ok(Storage::new(open_reporting(config, progress, reread)?))
    }
}

/// Opens the backend `config` names, rebuilding the embedded store's views with `reread` if
/// they need it.
pub fn open(
    config: &StorageConfig,
    reread: Option<&Rereader<'_>>,
) -> Result<Arc<dyn Store>, StoreError> {
    open_reporting(config, Arc::default(), reread)
}

fn open_reporting(
    config: &StorageConfig,
    progress: Arc<health::OpeningProgress>,
    reread: Option<&Rereader<'_>>,
) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match config.backend {
        Backend::Redb => Arc::new(redb::RedbStore::open_reporting(
            &config.path,
            config.redb_settings(),
            progress,
            reread,
        )?),
        Backend::Postgres => {
            let url = config.url.as_ref().ok_or_else(|| {
                StoreError::Unavailable(
                    "[storage] url is required with backend = \"postgres\"".into(),
                )
            })?;
            Arc::new(postgres::PgStore::connect(url, config.pool_size)?)
        }
    })
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
        // On the stack and whole: the writer encodes two of these per delivery.
        let mut text = [0u8; 64];
        hex::encode_to_slice(bytes, &mut text).map_err(serde::ser::Error::custom)?;
        let text = std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
        let text = <&str>::deserialize(deserializer)?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(serde::de::Error::custom)?;
        Ok(bytes)
    }
}
