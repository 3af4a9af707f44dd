//! `hooktrail-bench`: intake throughput and latency against the real server.
//!
//! The intake targets take the same signed ~1 KiB `status.changed` events:
//! - `gateway`: the gateway as shipped (verify, normalize, group commit);
//! - `per-request`: the same gateway committing (and fsyncing) once per request, which shows
//!   what group commit buys;
//! - `plain`: an actix handler that reads the body and answers 202, the ceiling that HTTP
//!   alone allows on this machine;
//! - `plain-durable`: the same handler answering once the body is on disk, group-committed to
//!   a log file as the gateway's writer commits ([`durable`]): the least any server whose 2xx
//!   means durable pays here, and so how much of the gap to `plain` the disk alone explains;
//! - `gateway-filled`: the gateway on a store already holding `--prefill` entries (1 000 000
//!   by default, shared out over jobs as in the page store), opened afresh for each cell as
//!   after a restart: whether intake stays flat as the store grows, and the process's memory
//!   with a large store under load;
//! - `gateway-unindexed`: the gateway with its search index left behind (not following the
//!   timelines): what keeping search up to date costs intake;
//! - `gateway-no-tree`: the gateway without the Merkle tree over deliveries (no leaf added,
//!   no subtree kept): what the tree costs the writer per delivery;
//! - `log-only`: the gateway with its views switched off (a store that keeps the log, the
//!   dedup keys and the chain, and writes no entries or timelines): how close to the disk's
//!   limit intake could run, and so what the views cost.
//!
//! Two measure the shared backend, PostgreSQL (on a scratch database of the server named by
//! `HOOKTRAIL_TEST_DATABASE_URL`, by default the local one):
//! - `postgres`: one gateway on PostgreSQL, otherwise as `gateway`;
//! - `postgres-pair`: two gateways on one database, the connections split between them.
//!
//! For them the report also says where a batch's time goes: taking a connection, waiting for
//! the chain-head lock, reading ahead, the rules, the writes, the commit.
//!
//! Two more measure the staff pages:
//! - `pages`: `GET /jobs/{id}` signed in, for jobs with 100, 10 000 and 100 000 entries in one
//!   store of 1 000 000 (built once per run, see [`pages`]): what a page costs, and whether
//!   that grows with the job's history (it should not: a page reads only as far into the index as it shows);
//! - `plain-get`: an actix handler answering `GET` with a fixed page, the HTTP-alone baseline
//!   for `pages`.
//!
//! For the intake targets the report also shows what explains their numbers: each gateway's
//! group commits over the measured window (how many, how large, how long; read from its own
//! `/metrics`), and what an fsync costs on the disk the stores live on ([`disk`]).
//!
//! Every cell (one target at one connection count) gets a fresh server and fresh keep-alive
//! connections. Each connection posts back to back; only answers that arrive inside the
//! measured window count, as a load tester like wrk counts them: in a closed loop that is an
//! unbiased sample of both throughput and latency, whereas counting what was *sent* in the
//! window would credit the drain at the end with requests that queued during warm-up.
//!
//! The intake targets' servers each run in a process of their own ([`apart`]), so that the
//! memory and the CPU time a cell reports are its server's, without the load's.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use hooktrail::sources::Source;
use hooktrail::store::postgres::PgStore;
use hooktrail::store::postgres::timing::{PhaseMillis, PhaseSnapshot};
use hooktrail::store::redb::RedbStore;
use workload::signing_source;

mod apart;
mod commits;
mod disk;
mod durable;
mod index_lag;
mod load;
pub mod pages;
mod repeat;
mod report;
mod servers;
mod streams;
pub mod workload;

pub use report::percentile;

use load::{Client, Window, apply_load};
use report::{CellResult, Report, summarize};
use servers::{ApartServer, Serving, start_server};

/// HTTP worker threads for every server under test, so the targets compete on equal terms.
const SERVER_WORKERS: usize = 2;
/// A request slower than this counts as failed and its connection is replaced. It also bounds
/// how long a cell can run past its deadline while the last requests drain.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long closing a connection may take before its socket is simply dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// The pause after a failed connect, so a refusing server is not hammered in a tight loop.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);
/// The targets the 64-connection goals are stated for.
const GOAL_CONNECTIONS: u32 = 64;
/// The body `plain-get` answers with, about the size of a compressed timeline page.
const PLAIN_PAGE_BYTES: usize = 8 * 1024;
/// Signs the sessions of the `pages` target's requests.
const SESSION_KEY: &str = "hooktrail-bench-session-key-0123456789abcdef";

#[derive(clap::Args)]
#[command(after_help = "Progress and the servers' own log lines go to stderr; \
    HOOKTRAIL_LOG=warn hides the latter.")]
pub struct BenchArgs {
    /// Connection counts to measure, comma-separated; each runs every target.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,16,64,256",
        value_parser = clap::value_parser!(u32).range(1..=4096)
    )]
    connections: Vec<u32>,
    /// Seconds measured per target and connection count.
    #[arg(long, default_value = "5", value_parser = parse_seconds)]
    duration: Duration,
    /// Seconds of load before each measurement starts (connections open, queues fill).
    #[arg(long, default_value = "1", value_parser = parse_seconds)]
    warmup: Duration,
    /// What to measure, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "gateway,plain,per-request"
    )]
    targets: Vec<Target>,
    /// Runs of every cell, the targets taking turns; the report keeps each cell's median run
    /// and shows the range of all of them.
    #[arg(
        long,
        default_value = "1",
        value_parser = clap::value_parser!(u32).range(1..=20)
    )]
    repeat: u32,
    /// Entries in the store `gateway-filled` opens (built once per run, written straight into
    /// the store as the page store is).
    #[arg(long, default_value = "1000000")]
    prefill: u64,
    /// Also print the results as JSON on stdout; the table then goes to stderr.
    #[arg(long)]
    json: bool,
    /// Serve this target until stdin closes, printing its address first: how the bench runs
    /// a cell's server in a process of its own (see `apart`).
    #[arg(long, hide = true, value_enum)]
    serve: Option<Target>,
    /// With `--serve`: the store the served gateway opens.
    #[arg(long, hide = true, requires = "serve")]
    serve_store: Option<std::path::PathBuf>,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(0.0..=3600.0).contains(&seconds) {
        return Err("use 0 to 3600 seconds".to_owned());
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Target {
    /// The gateway with its default group commit.
    Gateway,
    /// A handler that reads the body and answers 202: HTTP alone.
    Plain,
    /// The same handler answering once the body is fsynced to a log, group-committed: HTTP and
    /// the disk alone.
    PlainDurable,
    /// The gateway committing once per request (`max_batch = 1`).
    PerRequest,
    /// The gateway with its views switched off: the log alone, the ceiling for `gateway`.
    LogOnly,
    /// The gateway without search indexing: what indexing costs `gateway`.
    GatewayUnindexed,
    /// The gateway without the Merkle tree over deliveries: what the tree costs `gateway`.
    GatewayNoTree,
    /// The gateway on a store pre-filled with `--prefill` entries.
    GatewayFilled,
    /// The timeline page of jobs with 100, 10 000 and 100 000 entries in a 1 000 000-entry
    /// store, signed in.
    Pages,
    /// The same pages with nothing kept between requests (`page_cache_mib = 0`): every view
    /// reads its entries and renders them.
    PagesUncached,
    /// A handler that answers GET with a fixed page: HTTP alone, the baseline for `pages`.
    PlainGet,
    /// One gateway on PostgreSQL.
    Postgres,
    /// Two gateways on one PostgreSQL database, the load split between them.
    PostgresPair,
    /// The gateway with 500 live timelines open on jobs the load posts about.
    GatewayStreams,
}

impl Target {
    /// Where and how the cell's server runs. The intake targets on redb, and `plain` beside
    /// them, run in a process of their own, their memory then measured apart from the load's;
    /// the page targets share one store built for the run, and the PostgreSQL ones have their
    /// stores' timings read in the bench's process.
    fn serving(&self) -> Serving {
        use ApartServer::{Adjusted, Filled, Gateway, Plain, PlainDurable};
        match self {
            Target::Gateway | Target::GatewayStreams => Serving::Apart(Gateway { max_batch: None }),
            Target::PerRequest => Serving::Apart(Gateway { max_batch: Some(1) }),
            Target::LogOnly => Serving::Apart(Adjusted(RedbStore::without_views)),
            Target::GatewayNoTree => Serving::Apart(Adjusted(RedbStore::without_tree)),
            Target::GatewayUnindexed => {
                Serving::Apart(Adjusted(RedbStore::without_search_indexing))
            }
            Target::GatewayFilled => Serving::Apart(Filled),
            Target::Plain => Serving::Apart(Plain),
            Target::PlainDurable => Serving::Apart(PlainDurable),
            Target::Postgres => Serving::Postgres { gateways: 1 },
            Target::PostgresPair => Serving::Postgres { gateways: 2 },
            Target::Pages => Serving::Pages { keep_pages: true },
            Target::PagesUncached => Serving::Pages { keep_pages: false },
            Target::PlainGet => Serving::PlainGet,
        }
    }

    fn reads_pages(&self) -> bool {
        matches!(self.serving(), Serving::Pages { .. })
    }

    /// Whether the target is a gateway taking deliveries, whose commits are worth reporting.
    fn commits(&self) -> bool {
        match self.serving() {
            Serving::Apart(ApartServer::Plain | ApartServer::PlainDurable)
            | Serving::Pages { .. }
            | Serving::PlainGet => false,
            Serving::Apart(
                ApartServer::Gateway { .. } | ApartServer::Adjusted(_) | ApartServer::Filled,
            )
            | Serving::Postgres { .. } => true,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Target::Gateway => "gateway",
            Target::Plain => "plain",
            Target::PlainDurable => "plain-durable",
            Target::PerRequest => "per-request",
            Target::LogOnly => "log-only",
            Target::GatewayUnindexed => "gateway-unindexed",
            Target::GatewayNoTree => "gateway-no-tree",
            Target::GatewayFilled => "gateway-filled",
            Target::Pages => "pages",
            Target::PagesUncached => "pages-uncached",
            Target::PlainGet => "plain-get",
            Target::Postgres => "postgres",
            Target::PostgresPair => "postgres-pair",
            Target::GatewayStreams => "gateway-streams",
        })
    }
}

/// One thing measured: a target, and for `pages` the history of the job whose page is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cell {
    target: Target,
    history: Option<u64>,
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.history {
            Some(history) => write!(f, "{}@{}", self.target, short_count(history)),
            None => write!(f, "{}", self.target),
        }
    }
}

/// `100`, `10k`, `100k`, `1M`.
fn short_count(count: u64) -> String {
    match count {
        c if c >= 1_000_000 && c.is_multiple_of(1_000_000) => format!("{}M", c / 1_000_000),
        c if c >= 1_000 && c.is_multiple_of(1_000) => format!("{}k", c / 1_000),
        c => c.to_string(),
    }
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(target) = args.serve {
        return apart::serve(target, args.serve_store);
    }
    if args.duration.is_zero() {
        anyhow::bail!("--duration must be more than 0 seconds");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench-client")
        .build()
        .context("cannot start the client runtime")?;
    let (disk, results) = runtime.block_on(async {
        let disk = probe_disk(&args).await;
        let runs = run_cells(&args).await?;
        Ok::<_, anyhow::Error>((disk, repeat::median_runs(runs)))
    })?;
    let report = Report::new(&args, results, disk);
    let table = report.render_text();
    if args.json {
        // The table stays visible while stdout carries only JSON, ready to redirect.
        eprint!("{table}");
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{table}");
    }
    Ok(())
}

/// Measures the disk the gateways' stores live on, when a gateway takes deliveries in this run.
/// A failed probe is reported and left out: it explains the results, it is not one of them.
async fn probe_disk(args: &BenchArgs) -> Option<disk::DiskProbe> {
    if !args.targets.iter().any(Target::commits) {
        return None;
    }
    eprintln!("bench: measuring what an fsync costs on this disk…");
    let probed = tokio::task::spawn_blocking(|| disk::probe(&std::env::temp_dir()))
        .await
        .map_err(anyhow::Error::from)
        .and_then(|probed| Ok(probed?));
    probed
        .inspect_err(|err| eprintln!("bench: cannot measure the disk: {err:#}"))
        .ok()
}

/// Runs every cell, connection counts outermost: the targets compared with each other then
/// run minutes apart at most, under the same background load from the rest of the machine.
async fn run_cells(args: &BenchArgs) -> anyhow::Result<Vec<CellResult>> {
    let source = Arc::new(signing_source()?);
    let fixture = if args.targets.iter().any(Target::reads_pages) {
        eprintln!(
            "bench: building the page store ({} entries)…",
            pages::TOTAL_ENTRIES
        );
        let built = tokio::task::spawn_blocking(pages::PageFixture::build).await??;
        Some(Arc::new(built))
    } else {
        None
    };
    let filled = if args.targets.contains(&Target::GatewayFilled) {
        eprintln!(
            "bench: building the store gateway-filled opens ({} entries)…",
            args.prefill
        );
        let prefill = args.prefill;
        Some(tokio::task::spawn_blocking(move || pages::FilledStore::build(prefill)).await??)
    } else {
        None
    };
    let fixtures = Fixtures {
        pages: fixture.as_deref(),
        filled: filled.as_ref(),
    };
    let mut results = Vec::new();
    for &connections in &args.connections {
        for round in 1..=args.repeat {
            let of_runs = if args.repeat > 1 {
                format!(", run {round} of {}", args.repeat)
            } else {
                String::new()
            };
            for &target in &args.targets {
                let histories: Vec<Option<u64>> = match target {
                    Target::Pages | Target::PagesUncached => {
                        pages::HISTORIES.into_iter().map(Some).collect()
                    }
                    _ => vec![None],
                };
                for history in histories {
                    let cell = Cell { target, history };
                    eprintln!("bench: {cell} with {connections} connection(s){of_runs}…");
                    let result = run_cell(cell, connections, args, &source, fixtures).await?;
                    results.push(result);
                }
            }
        }
    }
    Ok(results)
}

/// The stores built once per run that cells open.
#[derive(Clone, Copy)]
pub(crate) struct Fixtures<'a> {
    pages: Option<&'a pages::PageFixture>,
    filled: Option<&'a pages::FilledStore>,
}

async fn run_cell(
    cell: Cell,
    connections: u32,
    args: &BenchArgs,
    source: &Arc<Source>,
    fixtures: Fixtures<'_>,
) -> anyhow::Result<CellResult> {
    let (server, load) = start_server(cell, source, fixtures)
        .with_context(|| format!("cannot start the {cell} server"))?;
    let streams = match cell.target {
        Target::GatewayStreams => Some(
            streams::OpenStreams::open(server.addrs()[0], streams::STREAMS, server.process())
                .await
                .context("cannot open the live timelines")?,
        ),
        _ => None,
    };
    let client = Arc::new(Client::new(server.addrs(), load));
    let window = Window::starting_now(args.warmup, args.duration);
    let commits = cell
        .target
        .commits()
        .then(|| tokio::spawn(watch_commits(server.addrs(), window)));
    let phases = server
        .postgres_stores()
        .map(|stores| tokio::spawn(watch_phases(stores, window)));
    let cpu = server
        .process()
        .map(|process| tokio::spawn(watch_cpu(process, window)));
    let load = apply_load(client, connections, window).await;
    // Before the server stops: its memory under load.
    let mib = |kib: u64| kib as f64 / 1024.0;
    let process = server.process();
    let rss_mib = process.and_then(apart::ProcessUse::resident_kib).map(mib);
    let peak_rss_mib = process
        .and_then(apart::ProcessUse::peak_resident_kib)
        .map(mib);
    let cpu_used = match cpu {
        Some(watch) => watch.await.ok().flatten(),
        None => None,
    };
    let commits = match commits {
        Some(watch) => watch
            .await
            .map_err(anyhow::Error::from)
            .and_then(|watched| watched)
            .inspect_err(|err| eprintln!("bench: cannot read the {cell} server's commits: {err:#}"))
            .ok()
            .flatten(),
        None => None,
    };
    let phases = match phases {
        Some(watch) => watch.await.ok().flatten(),
        None => None,
    };
    let streams = match streams {
        Some(open) => Some(open.close().await),
        None => None,
    };
    let index_lag = match cell.target {
        Target::Gateway => index_lag::measure(server.addrs()[0])
            .await
            .inspect_err(|err| eprintln!("bench: cannot read the search index's lag: {err:#}"))
            .ok(),
        _ => None,
    };
    // Stop the server whatever the load did, so that nothing outlives its cell.
    let stopped = server.stop().await;
    let tally = load?;
    stopped.with_context(|| format!("cannot stop the {cell} server"))?;
    let mut result = summarize(cell, connections, tally, args.duration);
    result.commits = commits;
    result.phases = phases;
    result.streams = streams;
    result.index_lag = index_lag;
    result.rss_mib = rss_mib;
    result.peak_rss_mib = peak_rss_mib;
    if let Some(used) = cpu_used.filter(|_| result.acked > 0) {
        let per_ack = |seconds: f64| seconds * 1e6 / result.acked as f64;
        result.cpu_us_per_ack = Some(per_ack(used.total));
        result.cpu_us_by_thread = Some(
            used.by_role
                .into_iter()
                .map(|(role, seconds)| (role, per_ack(seconds)))
                .collect(),
        );
    }
    Ok(result)
}

/// The CPU time the server's process used over the measured window, in all and by what its
/// threads do.
async fn watch_cpu(process: apart::ProcessUse, window: Window) -> Option<apart::CpuUse> {
    /// Often enough to see most of tantivy's indexing threads, which live about a commit.
    const EVERY: Duration = Duration::from_millis(100);
    tokio::time::sleep_until(window.measure_from.into()).await;
    let start = process.cpu()?;
    let mut latest = start.clone();
    loop {
        let next = (Instant::now() + EVERY).min(window.until);
        tokio::time::sleep_until(next.into()).await;
        latest.follow(process.cpu()?);
        if next >= window.until {
            return Some(latest.since(&start));
        }
    }
}

/// Where the PostgreSQL gateways' batches spent their time over the measured window.
async fn watch_phases(stores: Vec<Arc<PgStore>>, window: Window) -> Option<PhaseMillis> {
    let total = |stores: &[Arc<PgStore>]| {
        stores
            .iter()
            .map(|store| store.phases())
            .fold(PhaseSnapshot::default(), PhaseSnapshot::plus)
    };
    tokio::time::sleep_until(window.measure_from.into()).await;
    let start = total(&stores);
    tokio::time::sleep_until(window.until.into()).await;
    total(&stores).per_batch_since(start)
}

/// The gateway's commits over the measured window, read from its `/metrics` as it opens and
/// as it closes.
async fn watch_commits(
    addrs: Vec<SocketAddr>,
    window: Window,
) -> anyhow::Result<Option<commits::CommitStats>> {
    tokio::time::sleep_until(window.measure_from.into()).await;
    let start = commits::read_all_totals(&addrs).await?;
    let opened = Instant::now();
    tokio::time::sleep_until(window.until.into()).await;
    let end = commits::read_all_totals(&addrs).await?;
    Ok(commits::CommitStats::between(start, end, opened.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apart::ThreadRole;
    use crate::load::{Failure, Tally};
    use crate::report::{goals_at, page_ratios_at, percentile, ratios_at};
    use crate::workload::{EVENT_BYTES, status_changed_event};
    use std::collections::BTreeMap;

    fn millis(values: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        values.into_iter().map(Duration::from_millis).collect()
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let hundred = millis(1..=100);
        assert_eq!(percentile(&hundred, 50), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&hundred, 99), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&hundred, 100), Some(Duration::from_millis(100)));

        let ten = millis(1..=10);
        assert_eq!(percentile(&ten, 50), Some(Duration::from_millis(5)));
        assert_eq!(percentile(&ten, 99), Some(Duration::from_millis(10)));
        assert_eq!(percentile(&ten, 0), Some(Duration::from_millis(1)));

        assert_eq!(percentile(&millis([7]), 99), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn summary_sorts_latencies_and_rates_over_the_window() {
        let mut tally = Tally {
            // Out of order on purpose: the summary must sort before taking percentiles.
            ack_latencies: millis((1..=200).rev()),
            failures: BTreeMap::new(),
        };
        tally.failures.insert(Failure::Status(503), 3);
        tally.merge(Tally {
            ack_latencies: millis([1000, 1000]),
            failures: BTreeMap::from([(Failure::Status(503), 2), (Failure::Timeout, 1)]),
        });

        let gateway = Cell {
            target: Target::Gateway,
            history: None,
        };
        let cell = summarize(gateway, 16, tally, Duration::from_secs(4));

        assert_eq!(cell.acked, 202);
        assert!((cell.acked_per_sec - 50.5).abs() < 1e-9);
        assert_eq!(cell.p50_ms, Some(101.0));
        assert_eq!(cell.p99_ms, Some(200.0));
        assert_eq!(cell.errors, 6);
        assert_eq!(cell.error_kinds.get("HTTP 503"), Some(&5));
    }

    #[test]
    fn nothing_acked_gives_no_percentiles() {
        let plain = Cell {
            target: Target::Plain,
            history: None,
        };
        let cell = summarize(plain, 1, Tally::default(), Duration::from_secs(1));
        assert_eq!((cell.acked, cell.p50_ms, cell.p99_ms), (0, None, None));
        assert_eq!(cell.acked_per_sec, 0.0);
    }

    pub(super) fn cell(target: Target, acked_per_sec: f64, p99_ms: f64) -> CellResult {
        CellResult {
            target,
            history: None,
            connections: 64,
            acked: 0,
            acked_per_sec,
            p50_ms: Some(p99_ms / 2.0),
            p99_ms: Some(p99_ms),
            errors: 0,
            error_kinds: BTreeMap::new(),
            commits: None,
            phases: None,
            streams: None,
            index_lag: None,
            rss_mib: None,
            peak_rss_mib: None,
            cpu_us_per_ack: None,
            cpu_us_by_thread: None,
            runs_acked_per_sec: Vec::new(),
        }
    }

    fn args_at_64(targets: Vec<Target>, repeat: u32) -> BenchArgs {
        BenchArgs {
            connections: vec![64],
            duration: Duration::from_secs(3),
            warmup: Duration::from_secs(1),
            targets,
            repeat,
            prefill: 0,
            json: false,
            serve: None,
            serve_store: None,
        }
    }

    #[test]
    fn the_report_explains_intake_by_its_commits_and_the_disk() {
        let args = args_at_64(vec![Target::Gateway, Target::Plain], 1);
        let mut gateway = cell(Target::Gateway, 20_000.0, 4.0);
        gateway.commits = Some(commits::CommitStats {
            commits_per_sec: 625.0,
            deliveries_per_commit: 32.0,
            commit_ms: 1.5,
            busy: 0.94,
        });
        gateway.rss_mib = Some(61.4);
        gateway.peak_rss_mib = Some(70.2);
        gateway.cpu_us_per_ack = Some(83.26);
        gateway.cpu_us_by_thread = Some(BTreeMap::from([
            (ThreadRole::Http, 38.04),
            (ThreadRole::Writer, 41.5),
            (ThreadRole::Indexing, 2.0),
            (ThreadRole::Other, 1.72),
        ]));
        let disk = disk::DiskProbe {
            one_page_ms: 0.17,
            adjacent_pages_ms: 0.21,
            scattered_pages_ms: 0.863,
        };
        let results = vec![gateway, cell(Target::Plain, 80_000.0, 1.0)];
        let text = Report::new(&args, results, Some(disk)).render_text();
        let commits_row = text
            .lines()
            .find(|line| line.starts_with("gateway") && line.ends_with('%'))
            .unwrap_or_else(|| panic!("no commit row in {text}"));
        let columns: Vec<&str> = commits_row.split_whitespace().collect();
        assert_eq!(columns, ["gateway", "64", "625", "32.0", "1.50", "94%"]);
        let results_row = text
            .lines()
            .find(|line| line.starts_with("gateway") && !line.contains('%'))
            .unwrap_or_else(|| panic!("no result row in {text}"));
        assert!(
            results_row.ends_with(" 83.3       61        70"),
            "{results_row}"
        );
        // Where that CPU went, by thread, in the order the header names them.
        let (_, by_thread) = text
            .split_once("Where the server's CPU went")
            .unwrap_or_else(|| panic!("no CPU by thread in {text}"));
        let mut by_thread = by_thread.lines().skip(1);
        let header: Vec<&str> = by_thread.next().unwrap().split_whitespace().collect();
        assert_eq!(
            header,
            [
                "target",
                "connections",
                "HTTP",
                "writer",
                "indexing",
                "merges",
                "other"
            ]
        );
        let row: Vec<&str> = by_thread.next().unwrap().split_whitespace().collect();
        assert_eq!(row, ["gateway", "64", "38.0", "41.5", "2.0", "0.0", "1.7"]);
        assert_eq!(
            by_thread.next(),
            Some(""),
            "only the gateway ran apart: {text}"
        );
        assert!(
            text.contains("64 scattered pages 0.86 ms (+0.011 ms a page)"),
            "{text}"
        );
        let json = serde_json::to_value(Report::new(&args, Vec::new(), Some(disk))).unwrap();
        assert_eq!(json["disk"]["one_page_ms"], 0.17);
    }

    #[test]
    fn repeated_runs_show_their_range_beside_the_median() {
        let args = args_at_64(vec![Target::Gateway], 3);
        let mut gateway = cell(Target::Gateway, 20_000.0, 4.0);
        gateway.runs_acked_per_sec = vec![21_000.0, 19_000.0, 20_000.0];
        let text = Report::new(&args, vec![gateway], None).render_text();
        assert!(text.contains("the median of 3 runs per cell"), "{text}");
        let row = text
            .lines()
            .find(|line| line.starts_with("gateway"))
            .unwrap_or_else(|| panic!("no gateway row in {text}"));
        assert!(row.ends_with("   19000–21000"), "{row}");
    }

    #[test]
    fn goals_compare_the_gateway_with_both_baselines() {
        let results = vec![
            cell(Target::Gateway, 6000.0, 4.0),
            cell(Target::Plain, 10000.0, 1.0),
            cell(Target::PerRequest, 800.0, 80.0),
        ];
        let goals = goals_at(&results, 64);
        let met: Vec<Option<bool>> = goals.iter().map(|goal| goal.met).collect();
        assert_eq!(met, [Some(true), Some(true), Some(false)]);
        assert_eq!(goals[0].measured, Some(0.6));
        assert_eq!(goals[2].measured, Some(7.5));

        let ratios = ratios_at(&results, 64);
        assert_eq!(ratios.gateway_over_per_request, Some(7.5));
        assert_eq!(ratios_at(&results, 16).gateway_over_plain, None);
    }

    #[test]
    fn a_filled_store_is_held_to_the_growth_and_memory_goals() {
        // Held to its peak, not to what it held as the window closed.
        let filled = |rate, peak| CellResult {
            rss_mib: Some(100.0),
            peak_rss_mib: Some(peak),
            ..cell(Target::GatewayFilled, rate, 5.0)
        };
        let goals_with = |filled_cell| {
            let results = vec![cell(Target::Gateway, 20_000.0, 4.0), filled_cell];
            goals_at(&results, 64)
                .into_iter()
                .filter(|goal| goal.goal.contains("gateway-filled"))
                .map(|goal| (goal.measured, goal.met))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            goals_with(filled(17_000.0, 140.0)),
            [(Some(0.85), Some(true)), (Some(140.0), Some(true))]
        );
        assert_eq!(
            goals_with(filled(15_000.0, 160.0)),
            [(Some(0.75), Some(false)), (Some(160.0), Some(false))]
        );
    }

    #[test]
    fn indexing_for_search_is_held_to_within_15_percent_of_intake_without_it() {
        let goal_with = |indexed, unindexed| {
            let results = vec![
                cell(Target::Gateway, indexed, 4.0),
                cell(Target::GatewayUnindexed, unindexed, 4.0),
            ];
            goals_at(&results, 64)
                .into_iter()
                .find(|goal| goal.goal.contains("gateway-unindexed"))
                .map(|goal| (goal.measured, goal.met))
        };
        assert_eq!(goal_with(9_000.0, 10_000.0), Some((Some(0.9), Some(true))));
        assert_eq!(goal_with(8_000.0, 10_000.0), Some((Some(0.8), Some(false))));
        let without = vec![cell(Target::Gateway, 9_000.0, 4.0)];
        assert!(
            goals_at(&without, 64)
                .iter()
                .all(|goal| !goal.goal.contains("unindexed"))
        );
    }

    #[test]
    fn events_are_catalog_json_of_the_stated_size() {
        for sequence in [0, 1, 4999, 123_456] {
            let body = status_changed_event(sequence, "2026-03-04T15:16:17.123Z");
            assert_eq!(body.len(), EVENT_BYTES);
            let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(event["type"], "status.changed");
            assert_eq!(event["data"]["subject"]["kind"], "job");
            assert!(event["data"]["to"].is_string());
        }
    }

    #[test]
    fn page_cells_are_named_by_history_and_compared_with_both_baselines() {
        let page = |history, rate| CellResult {
            history: Some(history),
            ..cell(Target::Pages, rate, 5.0)
        };
        let results = vec![
            cell(Target::PlainGet, 10000.0, 1.0),
            page(100, 2000.0),
            page(100_000, 1900.0),
        ];
        assert_eq!(results[2].name(), "pages@100k");
        let ratios = page_ratios_at(&results, 64);
        assert_eq!(ratios.len(), 2);
        assert_eq!(ratios[1].over_plain_get, Some(0.19));
        assert_eq!(ratios[1].over_smallest_history, Some(0.95));
        assert!(page_ratios_at(&results, 16).is_empty());
    }

    #[test]
    fn the_client_signs_what_the_gateway_verifies() {
        let source = signing_source().unwrap();
        let body = status_changed_event(7, "2026-03-04T15:16:17.123Z");
        let now = 1_772_637_377;
        let headers = source.sign(&body, now, None).unwrap().headers;
        assert!(source.verify(&headers, &body, now).is_ok());
    }
}
