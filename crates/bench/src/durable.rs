//! `plain-durable`: the plain handler whose 202 also means "on disk". Each body is appended to
//! a log file by a thread that group-commits as the gateway's writer does (everything waiting,
//! up to the gateway's batch, written at once and `fdatasync`ed), and answered once synced.
//!
//! It verifies, normalizes, hashes and indexes nothing, and keeps no tables: it is the least any
//! server pays on this machine for an acknowledgement that survives a crash, so it says how
//! much of the gap between the gateway and `plain` the disk alone accounts for. The file is
//! written with real blocks before the load starts and then written over from its start, as the
//! gateway's journal is, so its syncs change no file size.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender};

use actix_web::{HttpResponse, web};
use bytes::Bytes;
use tokio::sync::oneshot;

/// The name of the thread that writes and syncs the log (counted as the `writer`).
pub(crate) const SYNCER_THREAD: &str = "bench-syncer";
/// The log file's size; it is written over from its start when full.
const FILE_BYTES: usize = 64 << 20;
/// Bodies written in one commit at most: the gateway's default `max_batch`.
const MAX_BATCH: usize = 1024;

/// The append side of the log, shared by the HTTP workers.
pub(crate) struct DurableLog {
    waiting: Sender<Waiting>,
}

/// A body waiting for its commit, and whom to tell when it is on disk.
struct Waiting {
    body: Bytes,
    synced: oneshot::Sender<()>,
}

impl DurableLog {
    /// A log in a new file inside `dir`, its blocks allocated, and the thread committing it.
    /// The thread ends, and the file closes, once every handle is dropped.
    pub(crate) fn create(dir: &Path) -> std::io::Result<DurableLog> {
        let file = OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(dir.join("plain-durable.log"))?;
        file.write_all_at(&vec![0; FILE_BYTES], 0)?;
        file.sync_all()?;
        DurableLog::committing_to(file)
    }

    /// A log appending to `file` from its start, and the thread committing it.
    fn committing_to(file: File) -> std::io::Result<DurableLog> {
        let (waiting, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name(SYNCER_THREAD.to_owned())
            .spawn(move || commit_until_closed(&file, &receiver))?;
        Ok(DurableLog { waiting })
    }

    /// Appends `body`, and returns once it is on disk; `false` if it could not be made so.
    pub(crate) async fn append(&self, body: Bytes) -> bool {
        let (synced, on_disk) = oneshot::channel();
        if self.waiting.send(Waiting { body, synced }).is_err() {
            return false;
        }
        on_disk.await.is_ok()
    }
}

/// The handler: 202 once the body is on disk, 503 if it could not be.
pub(crate) async fn accept_durably(body: web::Bytes, log: web::Data<DurableLog>) -> HttpResponse {
    if log.append(body).await {
        HttpResponse::Accepted().finish()
    } else {
        HttpResponse::ServiceUnavailable().finish()
    }
}

/// The committing thread: takes what is waiting (blocking for the first), writes it as one
/// record of length-prefixed bodies, syncs, and tells each waiter. A failed write or sync drops
/// the batch's waiters untold, which answers them 503.
fn commit_until_closed(file: &File, receiver: &Receiver<Waiting>) {
    let mut batch: Vec<Waiting> = Vec::with_capacity(MAX_BATCH);
    let mut record = Vec::new();
    let mut offset = 0;
    while let Ok(first) = receiver.recv() {
        batch.push(first);
        batch.extend(receiver.try_iter().take(MAX_BATCH - 1));
        record.clear();
        for waiting in &batch {
            // A body is at most actix's payload limit (256 KiB): its length fits.
            let len = u32::try_from(waiting.body.len()).unwrap_or(u32::MAX);
            record.extend_from_slice(&len.to_le_bytes());
            record.extend_from_slice(&waiting.body);
        }
        if offset + record.len() > FILE_BYTES {
            offset = 0;
        }
        let synced = file
            .write_all_at(&record, offset as u64)
            .and_then(|()| file.sync_data());
        offset += record.len();
        for waiting in batch.drain(..) {
            if synced.is_ok() {
                // A waiter gone (its client hung up) needs no answer.
                let _ = waiting.synced.send(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_is_answered_once_it_is_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = DurableLog::create(dir.path()).unwrap();
        let bodies = [Bytes::from_static(b"first"), Bytes::from_static(b"second")];
        let appended = tokio::join!(log.append(bodies[0].clone()), log.append(bodies[1].clone()));
        assert_eq!(appended, (true, true));

        let written = std::fs::read(dir.path().join("plain-durable.log")).unwrap();
        assert_eq!(
            written.len(),
            FILE_BYTES,
            "the file keeps its allocated size"
        );
        let mut expected = Vec::new();
        for body in &bodies {
            expected.extend_from_slice(&(body.len() as u32).to_le_bytes());
            expected.extend_from_slice(body);
        }
        assert_eq!(written[..expected.len()], expected[..]);
    }

    #[tokio::test]
    async fn a_body_that_could_not_be_written_is_not_answered_as_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("read-only.log");
        std::fs::write(&path, b"").unwrap();
        let log = DurableLog::committing_to(File::open(&path).unwrap()).unwrap();
        assert!(!log.append(Bytes::from_static(b"lost")).await);
        // The thread goes on: a later append is refused the same way, not left waiting.
        assert!(!log.append(Bytes::from_static(b"also lost")).await);
    }

    #[tokio::test]
    async fn an_append_after_the_thread_ended_is_refused() {
        let (waiting, receiver) = mpsc::channel();
        drop(receiver);
        let log = DurableLog { waiting };
        assert!(!log.append(Bytes::from_static(b"lost")).await);
    }
}
