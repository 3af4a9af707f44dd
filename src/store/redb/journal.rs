//! The journal: the durable form of the log between two checkpoints.
//!
//! A group commit appends one record to the journal — the batch exactly as the writer took it —
//! and syncs it (`fdatasync`: a few adjacent pages at the end of one file) before the batch is
//! committed to redb *without* an fsync ([`redb::Durability::None`]): readers see it at once,
//! and the journal is what makes the 2xx true. A checkpoint commits redb durably, which makes
//! every earlier commit durable with it, and then empties the journal. So a job's timeline leaf
//! is written to disk once per checkpoint, not once per delivery — the way a database writes its
//! WAL at commit and its pages at checkpoints.
//!
//! On open, redb comes back at its last checkpoint, and every batch journaled after it is
//! appended again through the same projection rules ([`replay`]). The state a batch meets is
//! the one it met the first time, so seqs, entry ids, dedup answers and the chain come out
//! identical. A record tells which batches it holds by the chain head it was appended after:
//! one after an older head is in the checkpoint already and is skipped.
//!
//! Record layout: `len: u32 LE`, `crc32: u32 LE` of the payload, then the payload — `after: u64
//! LE` (the chain head's seq before the batch), `count: u32 LE`, and per capture `len: u32 LE`
//! and its [`JournaledCapture`] in postcard, then `len: u32 LE` and the body, `len: u32 LE` and
//! the normalized form (JSON). A record cut short by a crash (its sync never
//! returned, so nothing in it was acknowledged) fails its length or checksum, and is cut off.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use chrono::DateTime;
use serde::{Deserialize, Serialize};

use crate::activity::Normalized;
use crate::sources::ReplayKey;
use crate::store::{Capture, StoreError};

/// Where a store's journal lives: beside its file, `hooktrail.redb.journal`.
pub fn path_for(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

/// The journal file, open for appending.
pub struct Journal {
    file: File,
    path: PathBuf,
    /// Where the next record goes: the end of the last whole record.
    end: u64,
}

/// One journaled batch: the captures, and the chain head's seq they were appended after.
#[derive(Debug)]
pub struct JournaledBatch {
    pub after: u64,
    pub captures: Vec<Capture>,
}

/// A capture as the journal keeps it: what [`Capture::new`] is made of, so replay builds the
/// same capture (its hashes are recomputed from these). The body and the normalized form (as
/// JSON: it holds free-form JSON values, which postcard cannot read back) follow it as raw
/// length-prefixed bytes, copied whole rather than serialized byte by byte.
#[derive(Serialize, Deserialize)]
struct JournaledCapture<'a> {
    #[serde(borrow)]
    source: Cow<'a, str>,
    /// The receipt time whole (seconds and nanoseconds): entries carry it at full precision.
    received_secs: i64,
    received_nanos: u32,
    headers: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    replay_key: Option<ReplayKey>,
}

const HEADER: usize = 8;

impl Journal {
    /// Opens (or creates) the journal at `path` for appending after its last whole record,
    /// cutting off a record a crash left unfinished.
    pub fn open(path: &Path) -> Result<Journal, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|err| io_error("make a folder for", path, &err))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|err| io_error("open", path, &err))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|err| io_error("read", path, &err))?;
        let (_, end) = whole_records(&bytes);
        if end < bytes.len() as u64 {
            tracing::warn!(
                journal = %path.display(),
                kept = end,
                cut = bytes.len() as u64 - end,
                "the journal ended in a record a crash left unfinished (never acknowledged): \
                 cut off"
            );
            file.set_len(end)
                .and_then(|()| file.sync_all())
                .map_err(|err| io_error("truncate", path, &err))?;
        }
        // The file's name must survive a power cut as well as its bytes: sync the folder that
        // holds it (once per open; cheap).
        let folder = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(folder)
            .and_then(|folder| folder.sync_all())
            .map_err(|err| io_error("sync the folder of", path, &err))?;
        Ok(Journal {
            file,
            path: path.to_owned(),
            end,
        })
    }

    /// Appends `batch` (appended after the chain head `after`) and syncs it: when this
    /// returns, the batch survives a crash.
    pub fn append(&mut self, after: u64, batch: &[Capture]) -> Result<(), StoreError> {
        let record = encode(after, batch)?;
        let written = self
            .file
            .seek(SeekFrom::Start(self.end))
            .and_then(|_| self.file.write_all(&record))
            .and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.end += record.len() as u64;
                Ok(())
            }
            Err(err) => {
                // Whatever part of the record reached the file is not a record: cut it off, so
                // a batch the client was told failed is not replayed.
                self.rewind();
                Err(io_error("write", &self.path, &err))
            }
        }
    }

    /// Forgets the last record appended (its batch could not be committed), so it is not
    /// replayed.
    pub fn forget_last(&mut self, record_start: u64) {
        self.end = record_start;
        self.rewind();
    }

    /// Where the next record will start.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Empties the journal: called once a durable commit holds everything it held.
    pub fn clear(&mut self) -> Result<(), StoreError> {
        self.file
            .set_len(0)
            .and_then(|()| self.file.sync_all())
            .map_err(|err| io_error("empty", &self.path, &err))?;
        self.end = 0;
        Ok(())
    }

    fn rewind(&mut self) {
        if let Err(err) = self
            .file
            .set_len(self.end)
            .and_then(|()| self.file.sync_data())
        {
            // Then the record may be replayed at the next start: a delivery stored that was
            // answered 503, which its provider's retry finds as a duplicate.
            tracing::error!(journal = %self.path.display(), error = %err,
                "cannot cut a failed record off the journal");
        }
    }
}

/// The batches journaled at `path`, oldest first, for replay (none without a journal). Reads
/// only: a record cut short at the end is left for [`Journal::open`] to cut off.
pub fn read(path: &Path) -> Result<Vec<JournaledBatch>, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(read_records(&bytes, path)?.0),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(err) => Err(io_error("read", path, &err)),
    }
}

fn encode(after: u64, batch: &[Capture]) -> Result<Vec<u8>, StoreError> {
    let mut payload = Vec::with_capacity(
        12 + batch
            .iter()
            .map(|capture| capture.body().len() + 512)
            .sum::<usize>(),
    );
    payload.extend_from_slice(&after.to_le_bytes());
    payload.extend_from_slice(&count_u32(batch.len())?.to_le_bytes());
    for capture in batch {
        if capture.normalized_json().is_empty() {
            return Err(StoreError::Corrupt(
                "a capture without its normalized form cannot be journaled".into(),
            ));
        }
        let journaled = JournaledCapture {
            source: Cow::Borrowed(capture.source()),
            received_secs: capture.received_at().timestamp(),
            received_nanos: capture.received_at().timestamp_subsec_nanos(),
            headers: capture
                .headers()
                .iter()
                .map(|(name, value)| (Cow::Borrowed(name.as_str()), Cow::Borrowed(value.as_str())))
                .collect(),
            replay_key: capture.replay_key.clone(),
        };
        let meta = postcard::to_allocvec(&journaled)
            .map_err(|err| StoreError::Corrupt(format!("cannot journal a capture: {err}")))?;
        for part in [meta.as_slice(), capture.body(), capture.normalized_json()] {
            payload.extend_from_slice(&count_u32(part.len())?.to_le_bytes());
            payload.extend_from_slice(part);
        }
    }
    let mut record = Vec::with_capacity(HEADER + payload.len());
    record.extend_from_slice(&count_u32(payload.len())?.to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    record.extend_from_slice(&payload);
    Ok(record)
}

fn count_u32(n: usize) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("{n} is too large to journal")))
}

/// The whole records at the start of `bytes`, decoded, and where they end (see
/// [`whole_records`]). One that checks out but cannot be read is corruption, and an error.
fn read_records(bytes: &[u8], path: &Path) -> Result<(Vec<JournaledBatch>, u64), StoreError> {
    let (records, end) = whole_records(bytes);
    let batches = records
        .into_iter()
        .map(|(at, payload)| {
            decode(payload).map_err(|reason| {
                StoreError::Corrupt(format!(
                    "journal {} has a record at byte {at} that cannot be read: {reason}",
                    path.display()
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    Ok((batches, end))
}

/// The whole records at the start of `bytes` (each where it starts, and its payload), and
/// where they end: a record that runs past the end or fails its checksum ends the journal (a
/// crash cut it). Checks the framing alone, so opening the journal does not decode what the
/// replay decodes next.
fn whole_records(bytes: &[u8]) -> (Vec<(usize, &[u8])>, u64) {
    let mut records = Vec::new();
    let mut at = 0usize;
    while let Some(header) = bytes.get(at..at + HEADER) {
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let Some(payload) = bytes.get(at + HEADER..at + HEADER + len) else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            break;
        }
        records.push((at, payload));
        at += HEADER + len;
    }
    (records, at as u64)
}

fn decode(payload: &[u8]) -> Result<JournaledBatch, String> {
    let mut rest = payload;
    let after = u64::from_le_bytes(take(&mut rest, 8)?.try_into().map_err(|_| "short")?);
    let count = u32::from_le_bytes(take(&mut rest, 4)?.try_into().map_err(|_| "short")?);
    let mut captures = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let meta = take_part(&mut rest)?;
        let body = take_part(&mut rest)?;
        let normalized = take_part(&mut rest)?;
        let journaled: JournaledCapture<'_> =
            postcard::from_bytes(meta).map_err(|err| err.to_string())?;
        let normalized: Normalized =
            serde_json::from_slice(normalized).map_err(|err| err.to_string())?;
        let received_at =
            DateTime::from_timestamp(journaled.received_secs, journaled.received_nanos)
                .ok_or("a receipt time out of range")?;
        let headers = journaled
            .headers
            .into_iter()
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        captures.push(
            Capture::new(
                journaled.source.into_owned(),
                received_at,
                headers,
                Bytes::copy_from_slice(body),
                normalized,
            )
            .with_replay_key(journaled.replay_key),
        );
    }
    if !rest.is_empty() {
        return Err(format!("{} bytes after the last capture", rest.len()));
    }
    Ok(JournaledBatch { after, captures })
}

/// A `len: u32 LE`-prefixed part.
fn take_part<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], String> {
    let len = u32::from_le_bytes(take(rest, 4)?.try_into().map_err(|_| "short")?);
    take(rest, len as usize)
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if rest.len() < n {
        return Err(format!("{n} bytes wanted, {} left", rest.len()));
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn io_error(action: &str, path: &Path, err: &std::io::Error) -> StoreError {
    StoreError::Unavailable(format!(
        "cannot {action} the journal {}: {err}",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract::support::{email_sent, single};

    fn same(a: &Capture, b: &Capture) {
        assert_eq!(a.source(), b.source());
        assert_eq!(a.received_at(), b.received_at());
        assert_eq!(a.headers(), b.headers());
        assert_eq!(a.body(), b.body());
        assert_eq!(a.normalized, b.normalized);
        assert_eq!(a.replay_key, b.replay_key);
        assert_eq!(a.delivery_hash(), b.delivery_hash());
    }

    #[test]
    fn batches_read_back_as_the_captures_that_were_journaled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb.journal");
        let mut journal = Journal::open(&path).unwrap();
        let first = [single("a", "job:1", 1), email_sent("m", "job:1", "sg-1")];
        let second =
            [single("b", "job:2", 2).with_replay_key(Some(ReplayKey::Token("t-1".into())))];
        journal.append(0, &first).unwrap();
        journal.append(2, &second).unwrap();

        let batches = read(&path).unwrap();
        assert_eq!(batches.len(), 2);
        assert_eq!((batches[0].after, batches[1].after), (0, 2));
        for (read, written) in batches[0].captures.iter().zip(&first) {
            same(read, written);
        }
        same(&batches[1].captures[0], &second[0]);

        journal.clear().unwrap();
        assert!(read(&path).unwrap().is_empty());
        assert!(read(&dir.path().join("none.journal")).unwrap().is_empty());
    }

    #[test]
    fn a_record_a_crash_cut_short_is_cut_off_and_appending_goes_on_after_the_last_whole_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb.journal");
        let mut journal = Journal::open(&path).unwrap();
        journal.append(0, &[single("a", "job:1", 1)]).unwrap();
        let whole = journal.end();
        journal.append(1, &[single("b", "job:1", 2)]).unwrap();
        drop(journal);

        // The second record's last bytes never reached the disk.
        let len = std::fs::metadata(&path).unwrap().len();
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len - 3).unwrap();
        assert_eq!(read(&path).unwrap().len(), 1);
        let mut journal = Journal::open(&path).unwrap();
        assert_eq!(journal.end(), whole);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        journal.append(1, &[single("c", "job:1", 3)]).unwrap();
        let batches = read(&path).unwrap();
        assert_eq!(batches.len(), 2);
        assert_eq!(
            batches[1].captures[0].normalized.delivery_id.as_deref(),
            Some("c")
        );

        // A record whose bytes changed fails its checksum: it ends the journal too.
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read(&path).unwrap().len(), 1);
    }

    #[test]
    fn a_forgotten_record_is_not_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb.journal");
        let mut journal = Journal::open(&path).unwrap();
        journal.append(0, &[single("a", "job:1", 1)]).unwrap();
        let start = journal.end();
        journal.append(1, &[single("b", "job:1", 2)]).unwrap();
        journal.forget_last(start);
        assert_eq!(read(&path).unwrap().len(), 1);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), start);
    }
}
