//! Subject stamps: a number per subject that changes whenever anything its timeline shows may
//! have changed, so a page rendered earlier can be reused while the stamp stays the same.
//!
//! The embedded backend keeps them in memory: one process owns the redb file, so every change
//! passes through this process's store, which bumps the stamps of the subjects a commit touched
//! right after the commit (before any request of the batch is answered). Nothing is written to
//! disk for them, so they cost intake nothing but a hash per touched subject.
//!
//! Stamps live in a fixed table of slots indexed by a hash of the subject: memory stays
//! constant however many subjects there are, and two subjects sharing a slot only means that a
//! change to one also retires the other's rendered pages — never that a stale page is reused.
//! Stamps are drawn from one process-wide counter, so a store opened again (after an I/O
//! failure, say) can never hand out a stamp that an earlier one already gave to other content.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

/// How many slots: 512 KiB of stamps, so collisions stay rare for any realistic shop.
const SLOTS: usize = 1 << 16;

/// Every stamp any store of this process ever issued is unique.
static NEXT_STAMP: AtomicU64 = AtomicU64::new(1);

fn fresh_stamp() -> u64 {
    NEXT_STAMP.fetch_add(1, Ordering::Relaxed)
}

pub struct SubjectStamps {
    slots: Box<[AtomicU64]>,
    /// What live timelines wait on: a bump wakes the waiters of the touched subjects' slots
    /// (fewer slots than stamps: a shared slot only means a spurious wake, which compares a
    /// stamp and waits again).
    wakers: Box<[Arc<Notify>]>,
}

/// How many wake slots: a few hundred KiB, so each commit wakes only the timelines it touched.
const WAKE_SLOTS: usize = 1 << 12;

impl Default for SubjectStamps {
    fn default() -> Self {
        SubjectStamps::new()
    }
}

impl SubjectStamps {
    /// Every subject starts with one stamp no earlier store issued.
    pub fn new() -> SubjectStamps {
        let start = fresh_stamp();
        SubjectStamps {
            slots: (0..SLOTS).map(|_| AtomicU64::new(start)).collect(),
            wakers: (0..WAKE_SLOTS).map(|_| Arc::new(Notify::new())).collect(),
        }
    }

    /// Notified whenever the subject's stamp may have changed. Create the `notified()` future
    /// (and enable it) before reading the stamp, so a bump in between is not missed.
    pub fn waker(&self, subject_key: &str) -> Arc<Notify> {
        self.wakers[slot(subject_key) % WAKE_SLOTS].clone()
    }

    /// The stamp of a subject, by its key (`job:1042`).
    pub fn get(&self, subject_key: &str) -> u64 {
        self.slots[slot(subject_key)].load(Ordering::Acquire)
    }

    /// Gives every subject in `subject_keys` a new stamp. Call after the commit that changed
    /// them: a reader who sees the new stamp then also sees the committed data.
    pub fn bump<'a>(&self, subject_keys: impl IntoIterator<Item = &'a str>) {
        let stamp = fresh_stamp();
        for key in subject_keys {
            let slot = slot(key);
            self.slots[slot].store(stamp, Ordering::Release);
            self.wakers[slot % WAKE_SLOTS].notify_waiters();
        }
    }

    /// A stamp no one holds: what a subject's stamp is while changes cannot be followed (a
    /// shared backend whose change feed is down), so that no rendered page is reused.
    pub fn unknown() -> u64 {
        fresh_stamp()
    }

    /// Gives every subject a new stamp (after a reindex or an erasure, which may change any).
    pub fn bump_all(&self) {
        let stamp = fresh_stamp();
        for slot in self.slots.iter() {
            slot.store(stamp, Ordering::Release);
        }
        for waker in self.wakers.iter() {
            waker.notify_waiters();
        }
    }
}

fn slot(subject_key: &str) -> usize {
    let mut hasher = DefaultHasher::new();
    subject_key.hash(&mut hasher);
    // Truncation is the point: the low bits pick the slot.
    (hasher.finish() as usize) % SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bump_changes_the_touched_subjects_and_leaves_the_rest() {
        let stamps = SubjectStamps::new();
        let (job, other) = ("job:1042", "salesdoc:77");
        assert_ne!(slot(job), slot(other), "the test needs two distinct slots");
        let before = (stamps.get(job), stamps.get(other));
        stamps.bump([job]);
        assert_ne!(stamps.get(job), before.0);
        assert_eq!(stamps.get(other), before.1);
        let after = stamps.get(job);
        stamps.bump_all();
        assert_ne!(stamps.get(job), after);
        assert_ne!(stamps.get(other), before.1);
    }

    #[test]
    fn a_new_store_never_repeats_a_stamp_of_an_earlier_one() {
        let first = SubjectStamps::new();
        first.bump(["job:1"]);
        let issued = first.get("job:1");
        let second = SubjectStamps::new();
        assert!(second.get("job:1") > issued);
        assert!(second.get("job:2") > first.get("job:2"));
    }

    #[tokio::test]
    async fn a_bump_wakes_the_waiters_of_the_subjects_it_touched_only() {
        let stamps = SubjectStamps::new();
        let (job, other) = ("job:1042", "salesdoc:77");
        assert_ne!(slot(job) % WAKE_SLOTS, slot(other) % WAKE_SLOTS);
        let (job_waker, other_waker) = (stamps.waker(job), stamps.waker(other));
        let job_woken = job_waker.notified();
        let other_woken = other_waker.notified();
        tokio::pin!(job_woken, other_woken);
        job_woken.as_mut().enable();
        other_woken.as_mut().enable();
        stamps.bump([job]);
        let wait = std::time::Duration::from_millis(50);
        assert!(tokio::time::timeout(wait, job_woken).await.is_ok());
        assert!(
            tokio::time::timeout(wait, other_woken.as_mut())
                .await
                .is_err()
        );
        stamps.bump_all();
        assert!(tokio::time::timeout(wait, other_woken).await.is_ok());
    }
}
