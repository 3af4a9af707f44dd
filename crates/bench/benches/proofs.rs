//! Proofs over a large log, without HTTP: what an inclusion or consistency proof costs and
//! weighs when the log holds 10,000,000 deliveries.
//!
//! `cargo bench -p hooktrail-bench --bench proofs` fills a store with that many small
//! deliveries (`HOOKTRAIL_BENCH_DELIVERIES` sets another count), the log alone (views off,
//! so filling takes minutes, not hours; proofs read only the log and the tree). It then makes
//! proofs of deliveries picked across the whole log, as `GET /api/v1/entries/{id}/proof`
//! makes them (`StoredTree`: kept subtrees read, the lowest levels recomputed from their
//! block of deliveries), and consistency proofs from older sizes to the whole log. The
//! baseline, measured in the same run, is reading one delivery by its seq: a proof is held to
//! a small multiple of that, however long the log.

use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use hooktrail::activity::{Normalized, Outcome};
use hooktrail::store::Capture;
use hooktrail::store::prelude::*;
use hooktrail::store::redb::RedbStore;
use hooktrail::trust::merkle;
use hooktrail::trust::proofs::StoredTree;
use hooktrail_bench::percentile;

const DEFAULT_DELIVERIES: u64 = 10_000_000;
const FILL_BATCH: u64 = 4096;
const RUNS: usize = 2000;

fn main() -> anyhow::Result<()> {
    let total = match std::env::var("HOOKTRAIL_BENCH_DELIVERIES") {
        Ok(text) => text.parse()?,
        Err(_) => DEFAULT_DELIVERIES,
    };
    let dir = tempfile::tempdir()?;
    let store = RedbStore::open(&dir.path().join("proofs.redb"))?.without_views();
    let started = Instant::now();
    fill(&store, total)?;
    let fill_secs = started.elapsed().as_secs_f64();
    let file_bytes = std::fs::metadata(dir.path().join("proofs.redb"))?.len();
    println!(
        "proofs: a log of {total} deliveries (filled in {fill_secs:.0} s, {:.0} bytes per delivery on disk)\n",
        file_bytes as f64 / total as f64
    );

    let picks: Vec<u64> = (0..RUNS as u64)
        .map(|run| 1 + run.wrapping_mul(2_654_435_761) % total)
        .collect();
    let read = time(&picks, |seq| {
        store.delivery(seq)?;
        Ok(())
    })?;
    let mut path_lengths = Vec::with_capacity(RUNS);
    let mut json_bytes = Vec::with_capacity(RUNS);
    let inclusion = time(&picks, |seq| {
        let proof = StoredTree::new(&store).inclusion(seq, total)?;
        path_lengths.push(proof.audit_path.len());
        json_bytes.push(serde_json::to_vec(&proof)?.len());
        anyhow::ensure!(proof.holds(), "the proof of delivery {seq} holds");
        Ok(())
    })?;
    let olds: Vec<u64> = picks.iter().map(|seq| seq.max(&2) - 1).collect();
    let root = store.chain_head()?.tree.root();
    let mut consistency_lengths = Vec::with_capacity(RUNS);
    let consistency = time(&olds, |old| {
        let mut tree = StoredTree::new(&store);
        let proof = tree.consistency(old, total)?;
        let old_root = tree.root(old)?;
        anyhow::ensure!(merkle::verify_consistency(
            old, total, &old_root, &root, &proof
        ));
        consistency_lengths.push(proof.len());
        Ok(())
    })?;

    println!(
        "{:<34} {:>10} {:>10} {:>10} {:>16}",
        "operation", "mean µs", "p50 µs", "p99 µs", "× one read (p50)"
    );
    for (name, timing) in [
        ("read one delivery (baseline)", &read),
        ("inclusion proof", &inclusion),
        ("consistency proof (+ old root)", &consistency),
    ] {
        println!(
            "{name:<34} {:>10.1} {:>10.1} {:>10.1} {:>16.1}",
            micros(timing.mean),
            micros(timing.p50),
            micros(timing.p99),
            timing.p50.as_secs_f64() / read.p50.as_secs_f64()
        );
    }
    let max_path = path_lengths.iter().max().copied().unwrap_or(0);
    let max_json = json_bytes.iter().max().copied().unwrap_or(0);
    let mean_json = json_bytes.iter().sum::<usize>() as f64 / json_bytes.len().max(1) as f64;
    println!(
        "\ninclusion proof size: {max_path} hashes at most ({} bytes), {mean_json:.0} bytes of JSON on average, {max_json} at most (with the delivery's evidence)",
        max_path * 32
    );
    println!(
        "consistency proof size: {} hashes at most",
        consistency_lengths.iter().max().copied().unwrap_or(0)
    );
    Ok(())
}

/// Appends `total` small deliveries (the log alone), in large batches.
fn fill(store: &RedbStore, total: u64) -> anyhow::Result<()> {
    let now = Utc::now();
    let mut next = 1;
    while next <= total {
        let last = (next + FILL_BATCH - 1).min(total);
        let batch: Vec<Capture> = (next..=last)
            .map(|n| {
                let id = format!("msg_{n}");
                Capture::new(
                    "hoops",
                    now,
                    vec![("webhook-id".to_owned(), id.clone())],
                    Bytes::from(format!("{{\"n\":{n}}}")),
                    Normalized {
                        delivery_id: Some(id),
                        entries: Vec::new(),
                        outcome: Outcome::Normalized,
                    },
                )
            })
            .collect();
        store.append(&batch)?;
        store.after_batch()?;
        next = last + 1;
        if next % 1_000_000 < FILL_BATCH {
            eprintln!("filled {}", next - 1);
        }
    }
    Ok(())
}

struct Timing {
    mean: Duration,
    p50: Duration,
    p99: Duration,
}

/// Runs `work` once per input (after a warm-up of the first 50) and times each.
fn time(inputs: &[u64], mut work: impl FnMut(u64) -> anyhow::Result<()>) -> anyhow::Result<Timing> {
    for input in inputs.iter().take(50) {
        work(*input)?;
    }
    let mut times = Vec::with_capacity(inputs.len());
    for input in inputs {
        let started = Instant::now();
        work(*input)?;
        times.push(started.elapsed());
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len().max(1) as u32;
    Ok(Timing {
        mean,
        p50: percentile(&times, 50).unwrap_or_default(),
        p99: percentile(&times, 99).unwrap_or_default(),
    })
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}
