//! The store's write path alone, without HTTP: what one delivery costs the single writer.
//!
//! `cargo bench -p hooktrail-bench --bench append` appends signed 1 KiB `status.changed` deliveries about 5,000
//! jobs, in commits of 32 (what the gateway's batches settle at with 64 connections), each
//! commit synced (to the journal; the store file at its checkpoints, as the gateway does), into
//! a fresh store on the machine's temporary disk. It measures two stretches
//! — the store's first deliveries, and the same number after 100,000 more — because the cost
//! grows with the store as its B-trees deepen. For each: wall time and the writer thread's own
//! CPU time per delivery, bytes the writer wrote per delivery, and commit-time percentiles.
//! The first stretch is measured again on a store that does not grow the Merkle tree over
//! deliveries, in the same run: what the tree costs the writer.
//! Then the starts that cost most: a replay of a full checkpoint interval after a crash, and a
//! rebuild of the whole views file from the log when it is lost.
//! (Thread CPU time and bytes come from Linux's /proc; elsewhere they show as "-".)

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use hooktrail::sources::{RawDelivery, Source};
use hooktrail::store::Capture;
use hooktrail::store::prelude::*;
use hooktrail::store::redb::{Checkpoints, RedbStore};
use hooktrail_bench::workload::{EVENT_BYTES, JOBS, signing_source, status_changed_event};

const BATCH: usize = 32;
const MEASURED: usize = 20_000;
const GROWTH: usize = 100_000;

fn main() -> anyhow::Result<()> {
    let source = signing_source()?;
    let dir = tempfile::tempdir()?;
    let store = RedbStore::open(&dir.path().join("append.redb"))?;
    let mut sequence = 0u64;
    let mut next_batch = || {
        (0..BATCH)
            .map(|_| {
                sequence += 1;
                capture(&source, sequence)
            })
            .collect::<anyhow::Result<Vec<Capture>>>()
    };

    println!(
        "append: commits of {BATCH} signed {EVENT_BYTES}-byte status.changed deliveries about \
         {JOBS} jobs, each commit synced (journal), checkpoints as configured by default\n"
    );
    println!(
        "{:<24} {:>14} {:>14} {:>15} {:>14} {:>14}",
        "deliveries", "wall µs each", "CPU µs each", "bytes each", "commit p50 ms", "commit p99 ms"
    );
    let first = measure(&store, &mut next_batch, MEASURED)?;
    print_row(&format!("first {MEASURED}"), &first);
    // The same on a store that does not grow the Merkle tree: what the tree costs the writer.
    let untreed = RedbStore::open(&dir.path().join("no-tree.redb"))?.without_tree();
    let no_tree = measure(&untreed, &mut next_batch, MEASURED)?;
    drop(untreed);
    print_row(&format!("first {MEASURED}, no tree"), &no_tree);
    for _ in 0..GROWTH / BATCH {
        store.append(&next_batch()?)?;
        store.after_batch()?;
    }
    let later = measure(&store, &mut next_batch, MEASURED)?;
    print_row(&format!("{MEASURED} after {GROWTH} more"), &later);
    println!(
        "\nlater / first: wall {:.2}×",
        later.wall_per_delivery.as_secs_f64() / first.wall_per_delivery.as_secs_f64()
    );
    println!(
        "with the tree / without: wall {:.3}×, CPU {}",
        first.wall_per_delivery.as_secs_f64() / no_tree.wall_per_delivery.as_secs_f64(),
        match (first.cpu_per_delivery, no_tree.cpu_per_delivery) {
            (Some(with), Some(without)) => format!(
                "{:.3}× ({:+.2} µs per delivery)",
                with.as_secs_f64() / without.as_secs_f64(),
                (with.as_secs_f64() - without.as_secs_f64()) * 1e6
            ),
            _ => "-".to_owned(),
        }
    );
    drop(store);
    replay(&source)?;
    Ok(())
}

/// What a start after a crash costs at worst: a store with a history ([`GROWTH`] deliveries,
/// checkpointed as configured by default, as the gateway runs), then a full checkpoint
/// interval of deliveries (`[storage] checkpoint_deliveries`, by default) journaled and not
/// checkpointed, replayed when the store opens. The crash is a copy of the files taken while
/// the store is open, so opening also recovers redb's file.
fn replay(source: &Source) -> anyhow::Result<()> {
    let deliveries = hooktrail::config::storage::DEFAULT_CHECKPOINT_DELIVERIES;
    let dir = tempfile::tempdir()?;
    let live = dir.path().join("live.redb");
    let mut sequence = 0u64;
    let mut append = |store: &RedbStore, count: usize| -> anyhow::Result<()> {
        for _ in 0..count / BATCH {
            let batch = (0..BATCH)
                .map(|_| {
                    sequence += 1;
                    capture(source, sequence)
                })
                .collect::<anyhow::Result<Vec<Capture>>>()?;
            store.append(&batch)?;
            store.after_batch()?;
        }
        Ok(())
    };
    // Closed with a checkpoint; its journal keeps the size of its last interval, to be
    // written over.
    append(&RedbStore::open(&live)?, GROWTH)?;
    let never = Checkpoints {
        every: Duration::from_secs(24 * 3600),
        deliveries: usize::MAX,
    };
    let store = RedbStore::open_with(&live, never)?;
    append(&store, deliveries)?;
    let crashed = tempfile::tempdir()?;
    for (from, to) in [
        ("live.redb", "crashed.redb"),
        ("live.views.redb", "crashed.views.redb"),
        ("live.redb.journal", "crashed.redb.journal"),
    ] {
        std::fs::copy(dir.path().join(from), crashed.path().join(to))?;
    }
    let journaled = std::fs::metadata(crashed.path().join("crashed.redb.journal"))?.len();
    let started = Instant::now();
    let reopened = RedbStore::open(&crashed.path().join("crashed.redb"))?;
    let took = started.elapsed();
    anyhow::ensure!(
        reopened.deliveries(1, 1)?.len() == 1,
        "the replayed store is empty"
    );
    println!(
        "\nreplay after a crash: {deliveries} journaled deliveries (a journal file of {:.1} MiB) on a \
         store of {GROWTH} more, recovered, replayed and checkpointed in {:.2} s \
         ({:.0} deliveries/s)",
        journaled as f64 / (1 << 20) as f64,
        took.as_secs_f64(),
        deliveries as f64 / took.as_secs_f64()
    );
    drop(reopened);
    rebuild(
        source,
        &crashed.path().join("crashed.redb"),
        GROWTH + deliveries,
    )
}

/// What a lost views file costs a start: every delivery normalized again and placed, by the
/// source's own normalizer as `hooktrail serve` does.
fn rebuild(source: &Source, path: &std::path::Path, deliveries: usize) -> anyhow::Result<()> {
    std::fs::remove_file(hooktrail::store::redb::files::views_path_for(path))?;
    let reread = |raw: &RawDelivery<'_>| Some(source.reread(raw));
    let started = Instant::now();
    let reopened = RedbStore::open_reporting(
        path,
        hooktrail::store::redb::RedbSettings::default(),
        std::sync::Arc::default(),
        Some(&reread),
    )?;
    let took = started.elapsed();
    anyhow::ensure!(
        !reopened.recent(1, None)?.entries.is_empty(),
        "the rebuilt views are empty"
    );
    println!(
        "views file lost: rebuilt from a log of {deliveries} deliveries in {:.2} s \
         ({:.0} deliveries/s)",
        took.as_secs_f64(),
        deliveries as f64 / took.as_secs_f64()
    );
    Ok(())
}

/// A signed delivery as intake makes it: verified headers kept, normalized, hashed.
fn capture(source: &Source, sequence: u64) -> anyhow::Result<Capture> {
    let now = Utc::now();
    let body = status_changed_event(sequence, &now.to_rfc3339_opts(SecondsFormat::Millis, true));
    let signed = source
        .sign(&body, now.timestamp(), None)
        .map_err(anyhow::Error::msg)?;
    let headers: Vec<(String, String)> = signed
        .headers
        .into_iter()
        .filter(|(name, _)| source.captured_headers().contains(name))
        .collect();
    let normalized = source.normalize(&RawDelivery {
        source: &source.name,
        received_at: now,
        headers: &headers,
        body: &body,
    });
    Ok(Capture::new(
        source.name.clone(),
        now,
        headers,
        body,
        normalized,
    ))
}

struct Stretch {
    wall_per_delivery: Duration,
    cpu_per_delivery: Option<Duration>,
    bytes_per_delivery: Option<f64>,
    commit_p50: Duration,
    commit_p99: Duration,
}

/// Appends `count` deliveries (made beforehand, so only appending is timed) and measures them.
fn measure(
    store: &RedbStore,
    next_batch: &mut impl FnMut() -> anyhow::Result<Vec<Capture>>,
    count: usize,
) -> anyhow::Result<Stretch> {
    let batches = (0..count / BATCH)
        .map(|_| next_batch())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let delivered = (batches.len() * BATCH) as u32;
    let (cpu_before, bytes_before) = (thread_cpu(), thread_bytes_written());
    let started = Instant::now();
    let mut commits = Vec::with_capacity(batches.len());
    for batch in &batches {
        let commit = Instant::now();
        store.append(batch)?;
        commits.push(commit.elapsed());
        // As the writer does once a batch is answered: in the wall time, not the commit's.
        store.after_batch()?;
    }
    let wall = started.elapsed();
    let cpu = thread_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before) / delivered);
    let bytes = thread_bytes_written()
        .zip(bytes_before)
        .map(|(after, before)| after.saturating_sub(before) as f64 / f64::from(delivered));
    commits.sort_unstable();
    let at = |percent: usize| commits[(commits.len() * percent / 100).min(commits.len() - 1)];
    Ok(Stretch {
        wall_per_delivery: wall / delivered,
        cpu_per_delivery: cpu,
        bytes_per_delivery: bytes,
        commit_p50: at(50),
        commit_p99: at(99),
    })
}

fn print_row(label: &str, stretch: &Stretch) {
    let micros = |time: Duration| format!("{:.1}", time.as_secs_f64() * 1e6);
    let millis = |time: Duration| format!("{:.2}", time.as_secs_f64() * 1e3);
    println!(
        "{label:<24} {:>14} {:>14} {:>15} {:>14} {:>14}",
        micros(stretch.wall_per_delivery),
        stretch.cpu_per_delivery.map_or("-".to_owned(), micros),
        stretch
            .bytes_per_delivery
            .map_or("-".to_owned(), |bytes| format!("{bytes:.0}")),
        millis(stretch.commit_p50),
        millis(stretch.commit_p99),
    );
}

/// This thread's CPU time so far (Linux: the first field of /proc/thread-self/schedstat).
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// Bytes this thread has handed to `write` calls so far (Linux: `wchar` of /proc/thread-self/io).
fn thread_bytes_written() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/thread-self/io").ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("wchar:"))?
        .trim()
        .parse()
        .ok()
}
