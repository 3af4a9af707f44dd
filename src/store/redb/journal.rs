//! The journal: the durable form of the log between two checkpoints.
//!
//! A group commit appends one record to the journal — the batch exactly as the writer took it —
//! and syncs it (`fdatasync`: a few adjacent pages of one file) before the batch is committed
//! to redb *without* an fsync ([`redb::Durability::None`]): readers see it at once, and the
//! journal is what makes the 2xx true. A checkpoint commits redb durably, which makes every
//! earlier commit durable with it, and then starts the journal over. So a job's timeline leaf
//! is written to disk once per checkpoint, not once per delivery — the way a database writes its
//! WAL at commit and its pages at checkpoints.
//!
//! On open, redb comes back at its last checkpoint, and every batch journaled after it is
//! appended again through the same projection rules ([`replay`]). The state a batch meets is
//! the one it met the first time, so seqs, entry ids, dedup answers and the chain come out
//! identical. A record tells which batches it holds by the chain head it was appended after:
//! one after an older head is in the checkpoint already and is skipped.
//!
//! ## Written over, not grown
//! The file keeps its size from one checkpoint to the next: a checkpoint starts a new
//! *generation* instead of truncating, and the next interval's records overwrite the last
//! one's. An append that overwrites allocated blocks of the same size changes no metadata, so
//! its `fdatasync` writes the record alone; an append that grows the file must also write the
//! inode (and, on a journaling file system, commit the file system's journal) before the sync
//! returns. That is the reason databases preallocate and recycle their WAL files.
//! - The generation is 64 random bits, in the file's header and in every record, inside the
//!   record's checksum. Bytes past the last record are the previous interval's (or a record a
//!   crash cut short), and neither can pass for a record of the current generation — not even
//!   one a sender wrote inside a webhook body, which cannot know the generation.
//! - A checkpoint cuts the file to the end of the interval it just made durable, so what lies
//!   past the end is never older than the previous interval. An erasure empties the file
//!   outright ([`Journal::wipe`]): what it erased must not stay on the disk here.
//!
//! Layout: a header of [`MAGIC`] and the generation (`u64 LE`); then records, each `len: u32
//! LE`, `crc32: u32 LE` of the generation and the payload, the generation (`u64 LE`), and the
//! payload — `after: u64 LE` (the chain head's seq before the batch), `count: u32 LE`, and per
//! capture `len: u32 LE` and its [`JournaledCapture`] in postcard, then `len: u32 LE` and the
//! body, `len: u32 LE` and the normalized form (JSON). A record cut short by a crash (its sync
//! never returned, so nothing in it was acknowledged) fails its length or checksum, and ends
//! the journal. A journal of an earlier version (records from the first byte, no generation)
//! is rewritten in this layout when it is opened.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
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
    /// The generation its records carry (see the module's notes).
    generation: u64,
    /// Whether the file's header is known to name `generation` on the disk.
    header_synced: bool,
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

/// The file's first bytes: the layout's name and version.
const MAGIC: [u8; 8] = *b"HTJRNL\x00\x02";
/// The file's header: [`MAGIC`] and the generation.
pub(super) const FILE_HEADER: usize = 16;
/// A record's header: length, checksum, generation.
const RECORD_HEADER: usize = 16;
/// A record's header in an earlier version's journal: length and checksum.
const EARLIER_RECORD_HEADER: usize = 8;
/// How much of the journal is read from the file at a time.
const READ_BUFFER: usize = 1 << 16;

/// How a journal's bytes are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// This version's: records of one generation after the file's header.
    Current { generation: u64 },
    /// An earlier version's: records from the first byte, no generation.
    Earlier,
}

impl Layout {
    /// The layout of `bytes`, and where its records start: `None` for a file too short to
    /// hold a header (new, or its creation was cut short before anything was journaled).
    fn of(bytes: &[u8]) -> Option<(Layout, usize)> {
        let (magic, rest) = bytes.split_first_chunk::<8>()?;
        if *magic != MAGIC {
            return Some((Layout::Earlier, 0));
        }
        let generation = u64::from_le_bytes(*rest.first_chunk::<8>()?);
        Some((Layout::Current { generation }, FILE_HEADER))
    }
}

impl Journal {
    /// Opens (or creates) the journal at `path` for appending after its last whole record.
    /// An earlier version's journal is rewritten in this version's layout first.
    pub fn open(path: &Path) -> Result<Journal, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|err| io_error("make a folder for", path, &err))?;
        }
        let opened = match Records::open(path)? {
            Some(mut records) => match records.layout {
                Layout::Current { generation } => {
                    while records.next()?.is_some() {}
                    let end = records.end();
                    if end < records.file_len {
                        tracing::debug!(
                            journal = %path.display(),
                            end,
                            past_the_end = records.file_len - end,
                            "bytes past the journal's last record: the previous interval's, or \
                             a record a crash cut short (never acknowledged)"
                        );
                    }
                    Journal {
                        file: open_for_writing(path)?,
                        path: path.to_owned(),
                        generation,
                        header_synced: true,
                        end,
                    }
                }
                Layout::Earlier => Journal::upgraded(path, records)?,
            },
            None => Journal::created(path, &[])?,
        };
        // The file's name must survive a power cut as well as its bytes: sync the folder that
        // holds it (once per open; cheap).
        sync_folder_of(path)?;
        Ok(opened)
    }

    /// A new journal at `path` holding `payloads` as records, put in place whole (written
    /// beside it, synced, renamed over it): a crash leaves the old file or the new one.
    fn created(path: &Path, payloads: &[Vec<u8>]) -> Result<Journal, StoreError> {
        let generation = new_generation()?;
        let mut bytes = file_header(generation).to_vec();
        for payload in payloads {
            bytes.extend_from_slice(&frame(generation, payload)?);
        }
        let mut beside = path.as_os_str().to_owned();
        beside.push(".new");
        let beside = PathBuf::from(beside);
        std::fs::write(&beside, &bytes)
            .and_then(|()| File::open(&beside)?.sync_all())
            .and_then(|()| std::fs::rename(&beside, path))
            .map_err(|err| io_error("create", path, &err))?;
        Ok(Journal {
            file: open_for_writing(path)?,
            path: path.to_owned(),
            generation,
            header_synced: true,
            end: bytes.len() as u64,
        })
    }

    /// An earlier version's journal (its `records`), rewritten in this layout with the same
    /// batches. (Once per store, so its records are held together while the new file is made.)
    fn upgraded(path: &Path, mut records: Records) -> Result<Journal, StoreError> {
        let mut payloads = Vec::new();
        while let Some((_, payload)) = records.next()? {
            payloads.push(payload.to_vec());
        }
        if records.end() < records.file_len {
            tracing::warn!(
                journal = %path.display(),
                kept = records.end(),
                cut = records.file_len - records.end(),
                "the journal ended in a record a crash left unfinished (never acknowledged): \
                 cut off"
            );
        }
        drop(records);
        let journal = Journal::created(path, &payloads)?;
        tracing::info!(
            journal = %path.display(),
            records = payloads.len(),
            "the journal was rewritten in this version's layout"
        );
        Ok(journal)
    }

    /// Appends `batch` (appended after the chain head `after`) and syncs it: when this
    /// returns, the batch survives a crash.
    pub fn append(&mut self, after: u64, batch: &[Capture]) -> Result<(), StoreError> {
        if !self.header_synced {
            self.sync_header()?;
        }
        let record = encode(self.generation, after, batch)?;
        let written = self
            .file
            .write_all_at(&record, self.end)
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

    /// Starts a new generation, once a durable commit holds everything the journal held: its
    /// records no longer count, and the next ones overwrite them. The file is cut to where
    /// they end, so nothing older than them stays past the end.
    pub fn recycle(&mut self) -> Result<(), StoreError> {
        let interval_end = self.end;
        self.start_generation()?;
        let length = self
            .file
            .metadata()
            .map_err(|err| io_error("read the size of", &self.path, &err))?
            .len();
        if length > interval_end {
            self.file
                .set_len(interval_end)
                .map_err(|err| io_error("cut", &self.path, &err))?;
        }
        self.sync_header()
    }

    /// Empties the journal to its header, once a durable commit holds everything it held and
    /// none of its bytes may stay on the disk (an erasure).
    pub fn wipe(&mut self) -> Result<(), StoreError> {
        self.start_generation()?;
        self.file
            .set_len(0)
            .map_err(|err| io_error("empty", &self.path, &err))?;
        self.sync_header()
    }

    /// Takes a new generation, for the records from the header on. Until a header naming it
    /// is synced, appending first syncs one: whatever fails in between, no record of a
    /// generation is written while the file's header may name another, so a crash never
    /// leaves acknowledged records that no header names. (The previous generation's records
    /// are all in the durable commit that ended it: whether a crash leaves them named or not,
    /// nothing acknowledged depends on them.)
    fn start_generation(&mut self) -> Result<(), StoreError> {
        self.generation = new_generation()?;
        self.end = FILE_HEADER as u64;
        self.header_synced = false;
        Ok(())
    }

    fn sync_header(&mut self) -> Result<(), StoreError> {
        self.file
            .write_all_at(&file_header(self.generation), 0)
            .and_then(|()| self.file.sync_data())
            .map_err(|err| io_error("start a new generation of", &self.path, &err))?;
        self.header_synced = true;
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

fn open_for_writing(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|err| io_error("open", path, &err))
}

fn sync_folder_of(path: &Path) -> Result<(), StoreError> {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(folder)
        .and_then(|folder| folder.sync_all())
        .map_err(|err| io_error("sync the folder of", path, &err))
}

fn new_generation() -> Result<u64, StoreError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|err| {
        StoreError::Unavailable(format!("no randomness for the journal's generation: {err}"))
    })?;
    Ok(u64::from_le_bytes(bytes))
}

fn file_header(generation: u64) -> [u8; FILE_HEADER] {
    let mut header = [0u8; FILE_HEADER];
    header[..8].copy_from_slice(&MAGIC);
    header[8..].copy_from_slice(&generation.to_le_bytes());
    header
}

/// How many deliveries the journal at `path` holds (none without a journal): what a replay
/// of it will append.
pub fn deliveries_in(path: &Path) -> Result<u64, StoreError> {
    let Some(mut records) = Records::open(path)? else {
        return Ok(0);
    };
    let mut deliveries = 0;
    while let Some((at, mut payload)) = records.next()? {
        let (_, count) =
            batch_header(&mut payload).map_err(|reason| unreadable(path, at, &reason))?;
        deliveries += u64::from(count);
    }
    Ok(deliveries)
}

/// Hands each batch journaled at `path` to `replay`, oldest first (none without a journal).
/// Reads only, one record at a time: it reads an earlier version's layout as well, and stops
/// at the last whole record.
pub fn replay_each(
    path: &Path,
    mut replay: impl FnMut(JournaledBatch) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let Some(mut records) = Records::open(path)? else {
        return Ok(());
    };
    while let Some((at, payload)) = records.next()? {
        replay(decode(payload).map_err(|reason| unreadable(path, at, &reason))?)?;
    }
    Ok(())
}

/// Every batch journaled at `path`, oldest first.
#[cfg(test)]
pub fn read(path: &Path) -> Result<Vec<JournaledBatch>, StoreError> {
    let mut batches = Vec::new();
    replay_each(path, |batch| {
        batches.push(batch);
        Ok(())
    })?;
    Ok(batches)
}

/// A record that checks out but cannot be read: corruption.
fn unreadable(path: &Path, at: u64, reason: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "journal {} has a record at byte {at} that cannot be read: {reason}",
        path.display()
    ))
}

/// A journal's whole records, read one at a time from the start: opening a store holds one
/// record's bytes (one batch), not the interval's. The journal keeps its size from one
/// interval to the next, so reading it whole held as much memory as the busiest interval had
/// written, twice over (docs/architecture.md, "The journal is read a record at a time").
///
/// A record that runs past the end, fails its checksum or is of another generation ends the
/// journal (a crash cut it, or it is from before the last checkpoint). Reading checks the
/// framing alone, so finding the journal's end does not decode what the replay decodes.
struct Records {
    file: BufReader<File>,
    path: PathBuf,
    layout: Layout,
    /// The file's length: a record claiming more than is left ends the journal, before
    /// anything is allocated for it.
    file_len: u64,
    /// Where the next record starts: after the last whole record read.
    at: u64,
    /// The last record's payload, its buffer reused for the next.
    payload: Vec<u8>,
}

impl Records {
    /// The records of the journal at `path`; `None` when there is none, or it is too short
    /// to hold a header (new, or its creation was cut short before anything was journaled).
    fn open(path: &Path) -> Result<Option<Records>, StoreError> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(io_error("read", path, &err)),
        };
        let read_error = |err: std::io::Error| io_error("read", path, &err);
        let file_len = file.metadata().map_err(read_error)?.len();
        let mut file = BufReader::with_capacity(READ_BUFFER, file);
        let mut head = Vec::with_capacity(FILE_HEADER);
        (&mut file)
            .take(FILE_HEADER as u64)
            .read_to_end(&mut head)
            .map_err(read_error)?;
        let Some((layout, start)) = Layout::of(&head) else {
            return Ok(None);
        };
        file.seek(SeekFrom::Start(start as u64))
            .map_err(read_error)?;
        Ok(Some(Records {
            file,
            path: path.to_owned(),
            layout,
            file_len,
            at: start as u64,
            payload: Vec::new(),
        }))
    }

    /// The next whole record: where it starts, and its payload. `None` at the journal's end.
    fn next(&mut self) -> Result<Option<(u64, &[u8])>, StoreError> {
        let header_len = match self.layout {
            Layout::Current { .. } => RECORD_HEADER,
            Layout::Earlier => EARLIER_RECORD_HEADER,
        };
        let left = self.file_len.saturating_sub(self.at);
        if left < header_len as u64 {
            return Ok(None);
        }
        let mut header = [0u8; RECORD_HEADER];
        let header = &mut header[..header_len];
        self.file
            .read_exact(header)
            .map_err(|err| io_error("read", &self.path, &err))?;
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if u64::from(len) > left - header_len as u64 {
            return Ok(None);
        }
        self.payload.resize(len as usize, 0);
        self.file
            .read_exact(&mut self.payload)
            .map_err(|err| io_error("read", &self.path, &err))?;
        let whole = match self.layout {
            Layout::Current { generation } => {
                header[8..16] == generation.to_le_bytes()
                    && checksum(generation, &self.payload) == crc
            }
            Layout::Earlier => crc32fast::hash(&self.payload) == crc,
        };
        if !whole {
            return Ok(None);
        }
        let at = self.at;
        self.at += header_len as u64 + u64::from(len);
        Ok(Some((at, &self.payload)))
    }

    /// Where the last whole record read ends.
    fn end(&self) -> u64 {
        self.at
    }
}

/// One record holding `batch`, framed for `generation`.
fn encode(generation: u64, after: u64, batch: &[Capture]) -> Result<Vec<u8>, StoreError> {
    let mut record = Vec::with_capacity(
        RECORD_HEADER
            + 12
            + batch
                .iter()
                .map(|capture| capture.body().len() + 512)
                .sum::<usize>(),
    );
    // The header is filled in once the payload after it is written.
    record.resize(RECORD_HEADER, 0);
    record.extend_from_slice(&after.to_le_bytes());
    record.extend_from_slice(&count_u32(batch.len())?.to_le_bytes());
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
            record.extend_from_slice(&count_u32(part.len())?.to_le_bytes());
            record.extend_from_slice(part);
        }
    }
    let (header, payload) = record.split_at_mut(RECORD_HEADER);
    write_record_header(header, generation, payload)?;
    Ok(record)
}

/// `payload` as one record of `generation`.
fn frame(generation: u64, payload: &[u8]) -> Result<Vec<u8>, StoreError> {
    let mut record = vec![0; RECORD_HEADER];
    write_record_header(&mut record, generation, payload)?;
    record.extend_from_slice(payload);
    Ok(record)
}

fn write_record_header(
    header: &mut [u8],
    generation: u64,
    payload: &[u8],
) -> Result<(), StoreError> {
    header[..4].copy_from_slice(&count_u32(payload.len())?.to_le_bytes());
    header[4..8].copy_from_slice(&checksum(generation, payload).to_le_bytes());
    header[8..16].copy_from_slice(&generation.to_le_bytes());
    Ok(())
}

/// A record's checksum: of its generation and its payload.
fn checksum(generation: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&generation.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

fn count_u32(n: usize) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("{n} is too large to journal")))
}

/// A batch payload's header, taken off its front: the seq the batch follows, and how many
/// captures it holds (what [`encode`] writes first).
fn batch_header(rest: &mut &[u8]) -> Result<(u64, u32), String> {
    let after = u64::from_le_bytes(take(rest, 8)?.try_into().map_err(|_| "short")?);
    let count = u32::from_le_bytes(take(rest, 4)?.try_into().map_err(|_| "short")?);
    Ok((after, count))
}

fn decode(payload: &[u8]) -> Result<JournaledBatch, String> {
    let mut rest = payload;
    let (after, count) = batch_header(&mut rest)?;
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
        let (_dir, path, mut journal) = new_journal();
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

        journal.recycle().unwrap();
        assert!(read(&path).unwrap().is_empty());
        assert!(
            read(&path.with_file_name("none.journal"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn the_next_interval_writes_over_the_last_and_none_of_the_last_reads_back() {
        let (_dir, path, mut journal) = new_journal();
        for n in 0..3 {
            journal
                .append(n, &[single(&format!("a{n}"), "job:1", n as i64)])
                .unwrap();
        }
        let full = std::fs::metadata(&path).unwrap().len();
        assert_eq!(full, journal.end());

        journal.recycle().unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            full,
            "kept, not truncated"
        );
        assert!(read(&path).unwrap().is_empty());
        journal.append(3, &[single("b", "job:1", 4)]).unwrap();
        let shorter = journal.end();
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            full,
            "written over, not grown"
        );
        let batches = read(&path).unwrap();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].after, 3);
        // Reopened (after a crash, say): appending goes on after the last record of this
        // generation, not after the bytes the last one left.
        drop(journal);
        let mut journal = Journal::open(&path).unwrap();
        assert_eq!(journal.end(), shorter);
        assert_eq!(read(&path).unwrap().len(), 1);

        // The next checkpoint cuts what the earlier interval left past the end.
        journal.recycle().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), shorter);
    }

    #[test]
    fn a_record_of_another_generation_is_not_read_even_where_a_record_could_start() {
        let (_dir, path, mut journal) = new_journal();
        journal.append(0, &[single("a", "job:1", 1)]).unwrap();
        let end = journal.end();
        let generation = journal.generation;
        // A whole record, checksum and all, of any generation but the file's: one left from
        // before the last checkpoint, or one spelled out inside a webhook body.
        let payload = encode(generation, 1, &[single("forged", "job:1", 2)]).unwrap()
            [RECORD_HEADER..]
            .to_vec();
        for other in [generation.wrapping_add(1), 0, u64::MAX] {
            journal
                .file
                .write_all_at(&frame(other, &payload).unwrap(), end)
                .unwrap();
            assert_eq!(read(&path).unwrap().len(), 1, "generation {other}");
        }
        // The same bytes framed for the file's generation would be read: the test is fair.
        journal
            .file
            .write_all_at(&frame(generation, &payload).unwrap(), end)
            .unwrap();
        assert_eq!(read(&path).unwrap().len(), 2);
    }

    #[test]
    fn no_record_of_a_new_generation_is_written_before_a_header_names_it() {
        let (_dir, path, mut journal) = new_journal();
        journal.append(0, &[single("a", "job:1", 1)]).unwrap();
        // A recycle that failed once it had taken its generation: the header on the disk
        // still names the last one, whose records a durable commit holds.
        journal.start_generation().unwrap();
        assert_eq!(read(&path).unwrap().len(), 1);
        // The next append syncs the header first, so its record is read back after a crash.
        journal.append(1, &[single("b", "job:1", 2)]).unwrap();
        let batches = read(&path).unwrap();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].after, 1);
    }

    #[test]
    fn a_wiped_journal_keeps_none_of_its_bytes() {
        let (_dir, path, mut journal) = new_journal();
        let secret = single("secret-delivery", "job:1", 1);
        journal.append(0, std::slice::from_ref(&secret)).unwrap();
        journal.recycle().unwrap();
        let on_disk = std::fs::read(&path).unwrap();
        assert!(
            contains(&on_disk, b"secret-delivery"),
            "recycling keeps bytes"
        );

        journal.wipe().unwrap();
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(on_disk.len(), FILE_HEADER);
        assert!(!contains(&on_disk, b"secret-delivery"));
        assert!(read(&path).unwrap().is_empty());
        journal.append(1, &[single("c", "job:1", 3)]).unwrap();
        assert_eq!(read(&path).unwrap().len(), 1);
    }

    #[test]
    fn an_earlier_versions_journal_reads_and_is_rewritten_in_this_layout_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb.journal");
        let first = [single("a", "job:1", 1), email_sent("m", "job:1", "sg-1")];
        let second = [single("b", "job:2", 2)];
        // Records from the first byte: length, checksum of the payload, payload.
        let mut earlier = Vec::new();
        for (after, batch) in [(0, &first[..]), (2, &second[..])] {
            let payload = encode(0, after, batch).unwrap()[RECORD_HEADER..].to_vec();
            earlier.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            earlier.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
            earlier.extend_from_slice(&payload);
        }
        earlier.extend_from_slice(&[7, 0, 0]); // a record a crash cut short
        std::fs::write(&path, &earlier).unwrap();
        assert_eq!(read(&path).unwrap().len(), 2);

        let mut journal = Journal::open(&path).unwrap();
        let rewritten = std::fs::read(&path).unwrap();
        assert_eq!(rewritten[..8], MAGIC);
        let batches = read(&path).unwrap();
        assert_eq!((batches[0].after, batches[1].after), (0, 2));
        for (read, written) in batches[0].captures.iter().zip(&first) {
            same(read, written);
        }
        same(&batches[1].captures[0], &second[0]);
        journal.append(3, &[single("c", "job:2", 3)]).unwrap();
        assert_eq!(read(&path).unwrap().len(), 3);
    }

    /// A journal just created in a folder of its own (kept as long as the first).
    fn new_journal() -> (tempfile::TempDir, PathBuf, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb.journal");
        let journal = Journal::open(&path).unwrap();
        (dir, path, journal)
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack
            .windows(needle.len())
            .any(|window| window == needle)
    }

    #[test]
    fn a_record_a_crash_cut_short_is_not_read_and_appending_goes_on_after_the_last_whole_one() {
        let (_dir, path, mut journal) = new_journal();
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
    fn a_record_that_claims_more_bytes_than_the_file_holds_ends_the_journal() {
        let (_dir, path, mut journal) = new_journal();
        journal
            .append(0, &[single("a", "job:1", 1), single("b", "job:1", 2)])
            .unwrap();
        let end = journal.end();
        // A header of this generation claiming 4 GiB: the end of the journal, and nothing is
        // allocated for what it claims.
        let mut header = [0u8; RECORD_HEADER];
        header[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        header[8..].copy_from_slice(&journal.generation.to_le_bytes());
        journal.file.write_all_at(&header, end).unwrap();

        assert_eq!(read(&path).unwrap().len(), 1);
        assert_eq!(deliveries_in(&path).unwrap(), 2);
        drop(journal);
        assert_eq!(Journal::open(&path).unwrap().end(), end);
    }

    #[test]
    fn a_forgotten_record_is_not_read_back() {
        let (_dir, path, mut journal) = new_journal();
        journal.append(0, &[single("a", "job:1", 1)]).unwrap();
        let start = journal.end();
        journal.append(1, &[single("b", "job:1", 2)]).unwrap();
        journal.forget_last(start);
        assert_eq!(read(&path).unwrap().len(), 1);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), start);
    }
}
