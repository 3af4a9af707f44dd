//! What this machine's disk charges for the fsync that ends every group commit, measured in
//! the same run as the servers: write some 4 KiB pages into a file, `fdatasync`, time it.
//!
//! A commit of the store is a copy-on-write B-tree commit: the pages it writes are wherever
//! the allocator found room, scattered through the file, and a delivery about one of
//! thousands of jobs dirties that job's timeline leaf besides the log's own pages. So the
//! number that bounds intake is what a scattered page costs, next to one page alone (the
//! floor of any commit) and the same count of adjacent pages (what an append-only log pays).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

const PAGE: u64 = 4096;
/// The probe file: large enough that scattered pages rarely touch.
const FILE_PAGES: u64 = 4096;
/// Pages per write-and-sync in the multi-page trials, about one group commit's worth.
pub const PAGES_PER_SYNC: u64 = 64;
/// Trials of each kind; the median is reported.
const TRIALS: usize = 25;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct DiskProbe {
    /// One page written, then `fdatasync`.
    pub one_page_ms: f64,
    /// [`PAGES_PER_SYNC`] adjacent pages, then `fdatasync`.
    pub adjacent_pages_ms: f64,
    /// [`PAGES_PER_SYNC`] pages at scattered offsets, then `fdatasync`.
    pub scattered_pages_ms: f64,
}

impl DiskProbe {
    /// What each scattered page adds beyond a single-page sync.
    pub fn per_scattered_page_ms(&self) -> f64 {
        (self.scattered_pages_ms - self.one_page_ms).max(0.0) / (PAGES_PER_SYNC - 1) as f64
    }
}

/// Measures in a scratch file inside `dir` (on the disk the stores live on), removed after.
pub fn probe(dir: &Path) -> std::io::Result<DiskProbe> {
    let scratch = tempfile::Builder::new()
        .prefix("hooktrail-disk-probe")
        .tempfile_in(dir)?;
    let file = OpenOptions::new().write(true).open(scratch.path())?;
    // Real blocks everywhere first, so the trials overwrite allocated space as a store does.
    let filler = vec![0x5a_u8; (FILE_PAGES * PAGE) as usize];
    file.write_all_at(&filler, 0)?;
    file.sync_all()?;

    let page = [0xa5_u8; PAGE as usize];
    let mut offsets = Scatter(0x9e37_79b9_7f4a_7c15);
    // The kinds take turns, so a slow spell of the disk (writeback of something else, a
    // neighbour's burst) weighs on all three alike instead of on whichever ran then.
    let (mut one, mut adjacent, mut scattered) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..TRIALS {
        one.push(write_and_sync(
            &file,
            &page,
            [offsets.next_page()].into_iter(),
        )?);
        let first = offsets.next_page() % (FILE_PAGES - PAGES_PER_SYNC);
        adjacent.push(write_and_sync(&file, &page, first..first + PAGES_PER_SYNC)?);
        let pages: Vec<u64> = (0..PAGES_PER_SYNC).map(|_| offsets.next_page()).collect();
        scattered.push(write_and_sync(&file, &page, pages.into_iter())?);
    }
    Ok(DiskProbe {
        one_page_ms: median_ms(one),
        adjacent_pages_ms: median_ms(adjacent),
        scattered_pages_ms: median_ms(scattered),
    })
}

fn write_and_sync(
    file: &File,
    page: &[u8],
    pages: impl Iterator<Item = u64>,
) -> std::io::Result<Duration> {
    let started = Instant::now();
    for number in pages {
        file.write_all_at(page, number * PAGE)?;
    }
    file.sync_data()?;
    Ok(started.elapsed())
}

fn median_ms(mut times: Vec<Duration>) -> f64 {
    times.sort_unstable();
    times
        .get(times.len() / 2)
        .map_or(0.0, |time| time.as_secs_f64() * 1e3)
}

/// Page numbers spread over the probe file (xorshift: the same sequence every run).
struct Scatter(u64);

impl Scatter {
    fn next_page(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % FILE_PAGES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_a_real_file_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let probe = probe(dir.path()).unwrap();
        assert!(probe.one_page_ms > 0.0);
        assert!(probe.adjacent_pages_ms > 0.0 && probe.scattered_pages_ms > 0.0);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn scattered_pages_spread_over_the_file() {
        let mut scatter = Scatter(0x9e37_79b9_7f4a_7c15);
        let pages: std::collections::BTreeSet<u64> =
            (0..PAGES_PER_SYNC).map(|_| scatter.next_page()).collect();
        assert!(pages.len() as u64 > PAGES_PER_SYNC - 4, "{pages:?}");
        assert!(pages.iter().all(|&page| page < FILE_PAGES));
        let span = pages.last().unwrap() - pages.first().unwrap();
        assert!(span > FILE_PAGES / 2, "{span}");
    }
}
