//! Search over a large store, without HTTP: what a staff member's search costs, by the shapes
//! of query they type, and what the index costs to build and to keep.
//!
//! `cargo bench -p hooktrail-bench --bench search` builds the page bench's store (1,000,000
//! entries by default; `HOOKTRAIL_BENCH_ENTRIES` sets another count): emails to 2,000
//! customers' addresses about eight topics, invoices numbered `INV-{n}`, artwork and status
//! changes, one every 30 s over about a year. It then indexes all of it as the gateway's
//! background task does, and reports the time that took and the index's bytes per entry.
//!
//! Each query shape runs as the API runs it (`search::run`: the index's hits, each entry read
//! and its snippet cut), a page of the API's default 20 results, alone and with a 30-day date
//! filter, rotating through different values so no answer is simply cached. Invoices are
//! picked inside those 30 days, so the filter keeps what is sought. The baseline is the same
//! store's timeline page of 20 entries, measured in the same run: a search is held to
//! p99 ≤ 50 ms, and its ratio to a page read says what the index adds.

use std::path::Path;
use std::time::{Duration, Instant};

use hooktrail::search::{SearchParams, SearchRequest};
use hooktrail::store::prelude::*;
use hooktrail::store::{PageQuery, redb::search::path_for};
use hooktrail_bench::pages::{self, PageFixture, TOPICS, customer_address};
use hooktrail_bench::percentile;

const DEFAULT_ENTRIES: u64 = 1_000_000;
const WARMUP: usize = 20;
const RUNS: usize = 400;
const GOAL_P99: Duration = Duration::from_millis(50);
/// Entries in 30 days, at one every 30 s.
const MONTH_ENTRIES: u64 = 30 * 24 * 120;

/// What staff type, with a value that changes from run to run.
struct Shape {
    name: &'static str,
    query: fn(run: usize, total: u64) -> String,
}

const SHAPES: [Shape; 6] = [
    Shape {
        name: "invoice number, as typed",
        query: |run, total| format!("INV-{}", invoice(run, total)),
    },
    Shape {
        name: "invoice:number",
        query: |run, total| format!("invoice:INV-{}", invoice(run, total)),
    },
    Shape {
        name: "address, as typed",
        query: |run, _| customer_address(run as u64 * 7 % pages::CUSTOMERS),
    },
    Shape {
        name: "to:address",
        query: |run, _| format!("to:{}", customer_address(run as u64 * 7 % pages::CUSTOMERS)),
    },
    Shape {
        name: "a word in email bodies",
        query: |run, _| TOPICS[run % TOPICS.len()].to_owned(),
    },
    Shape {
        name: "a word in every email",
        query: |run, _| ["proof", "ready", "hi", "maria"][run % 4].to_owned(),
    },
];

/// The number of an invoice in the store, a different one for each run, from the 30 days
/// after the store's middle entry (the date filter's month).
fn invoice(run: usize, total: u64) -> u64 {
    let month = MONTH_ENTRIES.min(total / 2).max(1);
    let mut i = total / 2 + (run as u64).wrapping_mul(7_919) % month;
    while !pages::is_invoice(i) {
        i = (i + 1) % total;
    }
    i
}

fn main() -> anyhow::Result<()> {
    let total = match std::env::var("HOOKTRAIL_BENCH_ENTRIES") {
        Ok(text) => text.parse()?,
        Err(_) => DEFAULT_ENTRIES,
    };
    let fixture = PageFixture::build_with(total)?;
    let store = &*fixture.store;

    let indexing = fixture.index_for_search()?;
    let index_bytes = folder_bytes(&path_for(&fixture.path))?;
    let store_bytes = std::fs::metadata(&fixture.path)?.len();
    println!(
        "\nsearch: {total} entries, indexed in {:.1} s ({:.0} entries/s); index {:.0} bytes per \
         entry (the store itself: {:.0})\n",
        indexing.as_secs_f64(),
        total as f64 / indexing.as_secs_f64(),
        index_bytes as f64 / total as f64,
        store_bytes as f64 / total as f64,
    );

    let page = timeline_page(store)?;
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9} {:>8} {:>14}",
        "query", "dates", "p50 ms", "p99 ms", "max ms", "results", "p99 / page p99"
    );
    print_row("timeline page (baseline)", "-", &page, &page);
    let month = (
        pages::occurred_at(total / 2, fixture.base),
        pages::occurred_at(total / 2, fixture.base) + chrono::Duration::days(30),
    );
    let mut worst = Duration::ZERO;
    for shape in &SHAPES {
        for dated in [false, true] {
            let measured = measure(|run| {
                let params = SearchParams {
                    q: Some((shape.query)(run, total)),
                    from: dated.then(|| month.0.to_rfc3339()),
                    to: dated.then(|| month.1.to_rfc3339()),
                    ..SearchParams::default()
                };
                let request: SearchRequest = params.parse(chrono_tz::UTC)?;
                Ok(hooktrail::search::run(store, &request)?.found.len())
            })?;
            worst = worst.max(measured.p99);
            print_row(
                shape.name,
                if dated { "30 days" } else { "any" },
                &measured,
                &page,
            );
        }
    }
    println!(
        "\ngoal: every shape's p99 <= {} ms on the embedded store: {} (worst {:.1} ms)",
        GOAL_P99.as_millis(),
        if worst <= GOAL_P99 { "met" } else { "NOT met" },
        worst.as_secs_f64() * 1e3
    );
    Ok(())
}

/// The timeline page of the job with 10,000 entries: what a read of as many entries costs.
fn timeline_page(store: &dyn ReadSide) -> anyhow::Result<Measured> {
    let subject = format!("job:{}", pages::job_id(10_000)).parse()?;
    let query = PageQuery {
        limit: hooktrail::search::DEFAULT_LIMIT,
        before: None,
        category: None,
        callbacks: false,
    };
    measure(|_| Ok(store.subject_entries(&subject, &query)?.entries.len()))
}

struct Measured {
    p50: Duration,
    p99: Duration,
    max: Duration,
    /// Results on the first run's page.
    results: usize,
}

/// Runs `once` [`WARMUP`] times, then [`RUNS`] times timed.
fn measure(mut once: impl FnMut(usize) -> anyhow::Result<usize>) -> anyhow::Result<Measured> {
    for run in 0..WARMUP {
        once(run)?;
    }
    let mut times = Vec::with_capacity(RUNS);
    let mut results = None;
    for run in 0..RUNS {
        let started = Instant::now();
        let found = once(run)?;
        times.push(started.elapsed());
        results.get_or_insert(found);
    }
    times.sort_unstable();
    let at = |percent| percentile(&times, percent).unwrap_or_default();
    Ok(Measured {
        p50: at(50),
        p99: at(99),
        max: at(100),
        results: results.unwrap_or_default(),
    })
}

fn print_row(name: &str, dates: &str, measured: &Measured, page: &Measured) {
    let millis = |time: Duration| format!("{:.2}", time.as_secs_f64() * 1e3);
    println!(
        "{name:<28} {dates:>9} {:>9} {:>9} {:>9} {:>8} {:>14.1}",
        millis(measured.p50),
        millis(measured.p99),
        millis(measured.max),
        measured.results,
        measured.p99.as_secs_f64() / page.p99.as_secs_f64().max(1e-9),
    );
}

/// The bytes of the files in `folder` (not its subfolders: the index keeps none).
fn folder_bytes(folder: &Path) -> anyhow::Result<u64> {
    let mut bytes = 0;
    for file in std::fs::read_dir(folder)? {
        let metadata = file?.metadata()?;
        if metadata.is_file() {
            bytes += metadata.len();
        }
    }
    Ok(bytes)
}
