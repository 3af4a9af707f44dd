//! Running a re-normalization over many deliveries: in parts of [`PART`] deliveries, each its
//! own short transaction with its own log record (see [`super::project::renormalize`]), so a long run
//! never holds the store for long and its progress can be shown as it goes. The console and
//! `hooktrail renormalize` both run it.

use chrono::Utc;

use super::project::RenormalizeRequest;
use super::{Rereader, StoreError, WriteSide};

/// Deliveries re-normalized per transaction.
pub const PART: usize = 200;

/// How far a run has come, and what it found so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub total: usize,
    pub done: usize,
    pub changed: Vec<u64>,
    pub needs_reindex: Vec<u64>,
    pub unreadable: Vec<u64>,
    /// The seqs of the run's own log records, one per part.
    pub records: Vec<u64>,
}

/// Re-normalizes `seqs` (oldest first) part by part, telling `progress` after each part.
/// `by` and `selection` go into every part's log record.
pub fn run(
    store: &dyn WriteSide,
    seqs: &[u64],
    reread: &Rereader<'_>,
    by: &str,
    selection: &str,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Progress, StoreError> {
    let mut so_far = Progress {
        total: seqs.len(),
        ..Progress::default()
    };
    let parts = seqs.len().div_ceil(PART).max(1);
    for (number, part) in seqs.chunks(PART).enumerate() {
        let selection = if parts == 1 {
            selection.to_owned()
        } else {
            format!("{selection} (part {} of {parts})", number + 1)
        };
        let request = RenormalizeRequest {
            by: by.to_owned(),
            selection,
            at: Utc::now(),
        };
        let report = store.renormalize(part, reread, &request)?;
        so_far.done += part.len();
        so_far.changed.extend(&report.record.changed);
        so_far.needs_reindex.extend(&report.record.needs_reindex);
        so_far.unreadable.extend(&report.record.unreadable);
        so_far.records.push(report.logged_as);
        progress(&so_far);
    }
    Ok(so_far)
}
