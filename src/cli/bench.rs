//! `hooktrail bench`: intake throughput and latency against the real server.
//!
//! Three targets take the same signed ~1 KiB `status.changed` events:
//! - `gateway`: the gateway as shipped (verify, normalize, group commit);
//! - `per-request`: the same gateway committing (and fsyncing) once per request, which shows
//!   what group commit buys;
//! - `plain`: an actix handler that reads the body and answers 202, the ceiling that HTTP
//!   alone allows on this machine.
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

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::task::{JoinHandle, JoinSet};

use crate::app::Gateway;
use crate::config::Config;
use crate::sources::Source;
use crate::store::postgres::PgStore;
use crate::store::postgres::scratch::ScratchDatabase;
use crate::store::postgres::timing::{PhaseMillis, PhaseSnapshot};
use crate::store::{Storage, Store};
use workload::{EVENT_BYTES, SOURCE_NAME, signing_source, status_changed_event};

mod commits;
mod disk;
mod pages;
mod repeat;
pub mod workload;

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
    /// Also print the results as JSON on stdout; the table then goes to stderr.
    #[arg(long)]
    json: bool,
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
    /// The gateway committing once per request (`max_batch = 1`).
    PerRequest,
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
}

impl Target {
    fn reads_pages(&self) -> bool {
        matches!(self, Target::Pages | Target::PagesUncached)
    }

    /// Whether the target is a gateway taking deliveries, whose commits are worth reporting.
    fn commits(&self) -> bool {
        matches!(
            self,
            Target::Gateway | Target::PerRequest | Target::Postgres | Target::PostgresPair
        )
    }

    /// How many gateways on PostgreSQL the target runs (0: none).
    fn postgres_gateways(&self) -> usize {
        match self {
            Target::Postgres => 1,
            Target::PostgresPair => 2,
            _ => 0,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Target::Gateway => "gateway",
            Target::Plain => "plain",
            Target::PerRequest => "per-request",
            Target::Pages => "pages",
            Target::PagesUncached => "pages-uncached",
            Target::PlainGet => "plain-get",
            Target::Postgres => "postgres",
            Target::PostgresPair => "postgres-pair",
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
                    let result =
                        run_cell(cell, connections, args, &source, fixture.as_deref()).await?;
                    results.push(result);
                }
            }
        }
    }
    Ok(results)
}

async fn run_cell(
    cell: Cell,
    connections: u32,
    args: &BenchArgs,
    source: &Arc<Source>,
    fixture: Option<&pages::PageFixture>,
) -> anyhow::Result<CellResult> {
    let (server, load) = start_server(cell, source, fixture)
        .with_context(|| format!("cannot start the {cell} server"))?;
    let client = Arc::new(Client::new(server.addrs(), load));
    let window = Window::starting_now(args.warmup, args.duration);
    let commits = cell
        .target
        .commits()
        .then(|| tokio::spawn(watch_commits(server.addrs(), window)));
    let phases = server
        .postgres_stores()
        .map(|stores| tokio::spawn(watch_phases(stores, window)));
    let load = apply_load(client, connections, window).await;
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
    // Stop the server whatever the load did, so that nothing outlives its cell.
    let stopped = server.stop().await;
    let tally = load?;
    stopped.with_context(|| format!("cannot stop the {cell} server"))?;
    let mut result = summarize(cell, connections, tally, args.duration);
    result.commits = commits;
    result.phases = phases;
    Ok(result)
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

// ---------------------------------------------------------------------------------------------
// The servers under test

enum RunningServer {
    Gateway {
        gateway: Gateway,
        /// The store's folder, removed after the cell; `None` for the shared page store.
        data: Option<tempfile::TempDir>,
    },
    /// Gateways on one scratch PostgreSQL database, dropped after the cell.
    Postgres {
        gateways: Vec<Gateway>,
        stores: Vec<Arc<PgStore>>,
        database: Box<ScratchDatabase>,
    },
    Plain {
        addr: SocketAddr,
        handle: ServerHandle,
        serving: JoinHandle<std::io::Result<()>>,
    },
}

impl RunningServer {
    /// Where its clients connect, one address per gateway.
    fn addrs(&self) -> Vec<SocketAddr> {
        match self {
            RunningServer::Gateway { gateway, .. } => vec![gateway.addr],
            RunningServer::Postgres { gateways, .. } => gateways.iter().map(|g| g.addr).collect(),
            RunningServer::Plain { addr, .. } => vec![*addr],
        }
    }

    fn postgres_stores(&self) -> Option<Vec<Arc<PgStore>>> {
        match self {
            RunningServer::Postgres { stores, .. } => Some(stores.clone()),
            _ => None,
        }
    }

    /// A graceful stop (every client connection is closed by now), then the store's removal.
    async fn stop(self) -> anyhow::Result<()> {
        match self {
            RunningServer::Gateway { gateway, data } => {
                gateway.stop().await?;
                if let Some(data) = data {
                    data.close().context("cannot remove the bench store")?;
                }
            }
            RunningServer::Postgres {
                gateways,
                stores,
                database,
            } => {
                for gateway in gateways {
                    gateway.stop().await?;
                }
                // Every connection closes before the database is dropped.
                drop(stores);
                tokio::task::spawn_blocking(move || drop(database)).await?;
            }
            RunningServer::Plain {
                handle, serving, ..
            } => {
                handle.stop(true).await;
                serving.await??;
            }
        }
        Ok(())
    }
}

/// The cell's server, and the requests its clients send.
fn start_server(
    cell: Cell,
    source: &Arc<Source>,
    fixture: Option<&pages::PageFixture>,
) -> anyhow::Result<(RunningServer, Load)> {
    let intake = || Load::Intake(source.clone());
    let page = |history: u64, cookie: Option<String>| Load::Page {
        path: format!("/jobs/{}", pages::job_id(history)),
        cookie,
    };
    Ok(match cell.target {
        Target::Gateway => (start_gateway(None)?, intake()),
        Target::PerRequest => (start_gateway(Some(1))?, intake()),
        Target::Plain => (start_plain()?, intake()),
        Target::Postgres | Target::PostgresPair => (
            start_postgres_gateways(cell.target.postgres_gateways())?,
            intake(),
        ),
        Target::PlainGet => (start_plain()?, page(100, None)),
        Target::Pages | Target::PagesUncached => {
            let fixture = fixture.context("the page store was not built")?;
            let history = cell.history.context("a pages cell without a history")?;
            let keep_pages = cell.target == Target::Pages;
            let (server, cookie) = start_pages_gateway(fixture, keep_pages)?;
            (server, page(history, Some(cookie)))
        }
    })
}

/// The gateway serving the shared page store, and a signed-in session cookie for it.
fn start_pages_gateway(
    fixture: &pages::PageFixture,
    keep_pages: bool,
) -> anyhow::Result<(RunningServer, String)> {
    let mut config = gateway_config(Path::new("unused.redb"), None)?;
    if !keep_pages {
        config.display.page_cache_mib = 0;
    }
    config.auth.session_key = crate::crypto::Secret::new(SESSION_KEY.as_bytes().to_vec());
    config.auth.users.push(crate::config::UserConfig {
        username: "bench".to_owned(),
        password_hash: crate::password::hash("bench")?,
    });
    let cookie = pages::session_cookie(&config)?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let store: Arc<dyn Store> = fixture.store.clone();
    let gateway = Gateway::start_with_storage(config, Storage::new(store), listener)?;
    Ok((
        RunningServer::Gateway {
            gateway,
            data: None,
        },
        cookie,
    ))
}

/// The gateway on a loopback port with a fresh store; `max_batch` `None` keeps the default.
fn start_gateway(max_batch: Option<usize>) -> anyhow::Result<RunningServer> {
    let data = tempfile::Builder::new()
        .prefix("hooktrail-bench-")
        .tempdir()?;
    let config = gateway_config(&data.path().join("bench.redb"), max_batch)?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let gateway = Gateway::start(config, listener)?;
    Ok(RunningServer::Gateway {
        gateway,
        data: Some(data),
    })
}

/// `count` gateways on one fresh scratch database, each with its own connection pool.
fn start_postgres_gateways(count: usize) -> anyhow::Result<RunningServer> {
    let database = ScratchDatabase::create("bench")
        .context("the postgres targets need a PostgreSQL server (HOOKTRAIL_TEST_DATABASE_URL)")?;
    let mut gateways = Vec::new();
    let mut stores = Vec::new();
    for _ in 0..count {
        let config = gateway_config(Path::new("unused.redb"), None)?;
        let store = Arc::new(PgStore::connect(database.url(), config.storage.pool_size)?);
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let storage = Storage::new(store.clone());
        gateways.push(Gateway::start_with_storage(config, storage, listener)?);
        stores.push(store);
    }
    Ok(RunningServer::Postgres {
        gateways,
        stores,
        database: Box::new(database),
    })
}

fn gateway_config(store_path: &Path, max_batch: Option<usize>) -> anyhow::Result<Config> {
    let store_path = store_path
        .to_str()
        .context("the temporary directory's path is not UTF-8")?;
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nworkers = {SERVER_WORKERS}\nshutdown_timeout_secs = 5\n\
         [storage]\npath = {}\n",
        toml::Value::String(store_path.to_owned())
    );
    if let Some(max_batch) = max_batch {
        writeln!(text, "max_batch = {max_batch}")?;
    }
    text.push_str(&workload::source_toml());
    // No environment: HOOKTRAIL_… overrides meant for `serve` must not change what is measured.
    let config = Config::from_toml(&text, Path::new("(bench)"), std::iter::empty())?;
    Ok(config)
}

fn start_plain() -> anyhow::Result<RunningServer> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = HttpServer::new(|| {
        App::new()
            .route("/hooks/{source}", web::post().to(accept_unchecked))
            .route("/jobs/{id}", web::get().to(fixed_page))
    })
    .workers(SERVER_WORKERS)
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    let handle = server.handle();
    let serving = tokio::spawn(server);
    Ok(RunningServer::Plain {
        addr,
        handle,
        serving,
    })
}

/// The baseline handler: the body is read in full, as intake must, then dropped unchecked.
async fn accept_unchecked(_body: web::Bytes) -> HttpResponse {
    HttpResponse::Accepted().finish()
}

/// The page baseline: a fixed body, nothing read, nothing rendered.
async fn fixed_page() -> HttpResponse {
    static PAGE: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| "<p>page</p>".repeat(PLAIN_PAGE_BYTES / 11));
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(PAGE.as_str())
}

// ---------------------------------------------------------------------------------------------
// The load

/// What a cell's connections send.
enum Load {
    /// Signed events, each new, through the source.
    Intake(Arc<Source>),
    /// The same page again and again, with the session cookie if any.
    Page {
        path: String,
        cookie: Option<String>,
    },
}

/// What every connection of a cell shares.
struct Client {
    /// Connection `n` goes to `addrs[n % len]`: several gateways share the load evenly.
    addrs: Vec<SocketAddr>,
    host: String,
    load: Load,
    /// Numbers the events across connections, so they spread over many subjects.
    events_sent: AtomicU64,
}

impl Client {
    fn new(addrs: Vec<SocketAddr>, load: Load) -> Client {
        Client {
            host: addrs.first().map(ToString::to_string).unwrap_or_default(),
            addrs,
            load,
            events_sent: AtomicU64::new(0),
        }
    }

    fn request(&self) -> anyhow::Result<hyper::Request<Full<Bytes>>> {
        match &self.load {
            Load::Intake(source) => self.signed_request(source),
            Load::Page { path, cookie } => {
                let mut request = hyper::Request::get(path.as_str()).header(HOST, &self.host);
                if let Some(cookie) = cookie {
                    request = request.header(hyper::header::COOKIE, cookie);
                }
                Ok(request.body(Full::new(Bytes::new()))?)
            }
        }
    }

    /// A fresh event, signed now; the signature brings a unique `webhook-id`, so the gateway
    /// stores every request instead of answering duplicates from its dedup index.
    fn signed_request(&self, source: &Source) -> anyhow::Result<hyper::Request<Full<Bytes>>> {
        let sequence = self.events_sent.fetch_add(1, Ordering::Relaxed);
        let now = Utc::now();
        let body =
            status_changed_event(sequence, &now.to_rfc3339_opts(SecondsFormat::Millis, true));
        let mut request = hyper::Request::post(format!("/hooks/{SOURCE_NAME}"))
            .header(HOST, &self.host)
            .header(CONTENT_TYPE, "application/json");
        let signed = source
            .sign(&body, now.timestamp(), None)
            .map_err(anyhow::Error::msg)?;
        for (name, value) in signed.headers {
            request = request.header(name, value);
        }
        Ok(request.body(Full::new(Bytes::from(signed.body)))?)
    }
}

/// When a cell's clock runs: load from the start, answers counted from `measure_from` to `until`.
#[derive(Clone, Copy)]
struct Window {
    measure_from: Instant,
    until: Instant,
}

impl Window {
    fn starting_now(warmup: Duration, duration: Duration) -> Window {
        let measure_from = Instant::now() + warmup;
        Window {
            measure_from,
            until: measure_from + duration,
        }
    }

    fn contains(&self, moment: Instant) -> bool {
        self.measure_from <= moment && moment <= self.until
    }
}

/// Opens `connections` connections that post until the window ends, and adds up what they saw.
async fn apply_load(
    client: Arc<Client>,
    connections: u32,
    window: Window,
) -> anyhow::Result<Tally> {
    // A JoinSet aborts the remaining connections if one of them fails outright.
    let mut tasks = JoinSet::new();
    for n in 0..connections as usize {
        let addr = client.addrs[n % client.addrs.len().max(1)];
        tasks.spawn(drive_connection(client.clone(), addr, window));
    }
    let mut total = Tally::default();
    while let Some(finished) = tasks.join_next().await {
        total.merge(finished??);
    }
    Ok(total)
}

/// One keep-alive connection posting sequentially until the window ends. A request in flight
/// at the end is allowed to finish (within [`REQUEST_TIMEOUT`]), so that the server is idle
/// and the connection closes cleanly before the next cell; its answer is not counted.
async fn drive_connection(
    client: Arc<Client>,
    addr: SocketAddr,
    window: Window,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    let mut connection: Option<Connection> = None;
    while Instant::now() < window.until {
        if connection.is_none() {
            match Connection::open(addr).await {
                Ok(opened) => connection = Some(opened),
                Err(_) => {
                    tally.count_failure(window, Instant::now(), Failure::Connect);
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            }
        }
        let Some(open) = connection.as_mut() else {
            continue;
        };
        let request = client.request()?;
        let started = Instant::now();
        let outcome = open.exchange(request).await;
        let finished = Instant::now();
        match outcome {
            Ok(status) if (200..300).contains(&status) => {
                tally.count_ack(window, finished, finished - started);
            }
            Ok(status) => tally.count_failure(window, finished, Failure::Status(status)),
            Err(failure) => {
                tally.count_failure(window, finished, failure);
                // The connection's state is unknown after a failed exchange: start afresh.
                if let Some(broken) = connection.take() {
                    broken.abandon();
                }
            }
        }
    }
    if let Some(open) = connection {
        open.close().await;
    }
    Ok(tally)
}

/// One hyper HTTP/1.1 client connection and the task that drives its socket.
struct Connection {
    sender: SendRequest<Full<Bytes>>,
    driver: JoinHandle<()>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(addr).await?;
        // Small request/answer exchanges must not wait for Nagle's algorithm.
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        // The connection's own errors also fail the request in flight, which is where they count.
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Connection { sender, driver })
    }

    /// Sends one request and reads its answer to the end (which frees the connection for
    /// the next request); returns the status code.
    async fn exchange(&mut self, request: hyper::Request<Full<Bytes>>) -> Result<u16, Failure> {
        let exchange = async {
            self.sender.ready().await?;
            let response = self.sender.send_request(request).await?;
            let status = response.status().as_u16();
            response.into_body().collect().await?;
            Ok::<u16, hyper::Error>(status)
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(_)) => Err(Failure::Transport),
            Err(_) => Err(Failure::Timeout),
        }
    }

    /// Closes the connection politely: with no sender left, hyper shuts the socket down.
    async fn close(self) {
        let Connection { sender, mut driver } = self;
        drop(sender);
        if tokio::time::timeout(CLOSE_TIMEOUT, &mut driver)
            .await
            .is_err()
        {
            driver.abort();
        }
    }

    /// Drops the socket without a goodbye.
    fn abandon(self) {
        self.driver.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Counting and summarizing

/// Why a request was not acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Failure {
    Status(u16),
    Timeout,
    Transport,
    Connect,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Status(code) => write!(f, "HTTP {code}"),
            Failure::Timeout => write!(f, "timeout after {} s", REQUEST_TIMEOUT.as_secs()),
            Failure::Transport => f.write_str("connection error"),
            Failure::Connect => f.write_str("connect failed"),
        }
    }
}

/// What one or more connections saw inside the measured window.
#[derive(Default)]
struct Tally {
    /// The latency of every acknowledged (2xx) request.
    ack_latencies: Vec<Duration>,
    failures: BTreeMap<Failure, u64>,
}

impl Tally {
    fn count_ack(&mut self, window: Window, finished: Instant, latency: Duration) {
        if window.contains(finished) {
            self.ack_latencies.push(latency);
        }
    }

    fn count_failure(&mut self, window: Window, finished: Instant, failure: Failure) {
        if window.contains(finished) {
            *self.failures.entry(failure).or_default() += 1;
        }
    }

    fn merge(&mut self, other: Tally) {
        self.ack_latencies.extend(other.ack_latencies);
        for (failure, count) in other.failures {
            *self.failures.entry(failure).or_default() += count;
        }
    }
}

/// One target (with its job history, for `pages`) at one connection count.
#[derive(Debug, Serialize)]
struct CellResult {
    target: Target,
    /// For `pages`: how many entries the job whose page was read has.
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<u64>,
    connections: u32,
    acked: u64,
    acked_per_sec: f64,
    /// `None` when nothing was acknowledged.
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    errors: u64,
    /// Errors by kind ("HTTP 503", "timeout after 10 s", …).
    error_kinds: BTreeMap<String, u64>,
    /// For gateways taking deliveries: what their writer did in the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    commits: Option<commits::CommitStats>,
    /// For gateways on PostgreSQL: mean ms per batch in each phase of its transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    phases: Option<PhaseMillis>,
    /// With `--repeat`: the throughput of every run, this row being the median one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    runs_acked_per_sec: Vec<f64>,
}

fn summarize(cell: Cell, connections: u32, tally: Tally, measured: Duration) -> CellResult {
    let mut latencies = tally.ack_latencies;
    latencies.sort_unstable();
    let acked = latencies.len() as u64;
    let millis = |latency: Duration| latency.as_secs_f64() * 1e3;
    CellResult {
        target: cell.target,
        history: cell.history,
        connections,
        acked,
        acked_per_sec: acked as f64 / measured.as_secs_f64(),
        p50_ms: percentile(&latencies, 50).map(millis),
        p99_ms: percentile(&latencies, 99).map(millis),
        errors: tally.failures.values().sum(),
        error_kinds: tally
            .failures
            .iter()
            .map(|(failure, count)| (failure.to_string(), *count))
            .collect(),
        commits: None,
        phases: None,
        runs_acked_per_sec: Vec::new(),
    }
}

/// The nearest-rank percentile of sorted samples: the smallest sample that at least
/// `percent` % of all samples are less than or equal to. Integer arithmetic, so that p99 of
/// 100 samples is exactly the 99th and not pushed to the 100th by a rounding error.
fn percentile(sorted: &[Duration], percent: u32) -> Option<Duration> {
    let count = sorted.len();
    let rank = (count * percent as usize)
        .div_ceil(100)
        .clamp(1, count.max(1));
    sorted.get(rank - 1).copied()
}

// ---------------------------------------------------------------------------------------------
// The report

#[derive(Serialize)]
struct Report {
    duration_secs: f64,
    warmup_secs: f64,
    runs_per_cell: u32,
    server_workers: usize,
    event_bytes: usize,
    results: Vec<CellResult>,
    ratios: Vec<Ratios>,
    /// Present when `pages` ran.
    page_ratios: Vec<PageRatios>,
    /// Present when the gateway ran at 64 connections.
    goals_at_64_connections: Option<Vec<Goal>>,
    /// What an fsync costs on the stores' disk; present when a gateway took deliveries.
    disk: Option<disk::DiskProbe>,
}

/// How a timeline page compares, at one connection count and job history: with HTTP alone
/// (`plain-get`), and with the page of the smallest history (1.0 = the page costs the same
/// however long the job's history).
#[derive(Debug, Serialize)]
struct PageRatios {
    connections: u32,
    history: u64,
    pages_per_sec: f64,
    over_plain_get: Option<f64>,
    over_smallest_history: Option<f64>,
}

/// Throughput ratios at one connection count; `None` where a target did not run or acked nothing.
#[derive(Debug, Serialize)]
struct Ratios {
    connections: u32,
    gateway_over_plain: Option<f64>,
    gateway_over_per_request: Option<f64>,
    /// One gateway on PostgreSQL against the same gateway on redb.
    postgres_over_gateway: Option<f64>,
    /// Two gateways on one PostgreSQL against one.
    pair_over_postgres: Option<f64>,
}

/// One stated performance goal, and whether this run met it (`None`: not measured).
#[derive(Debug, Serialize)]
struct Goal {
    goal: &'static str,
    measured: Option<f64>,
    unit: &'static str,
    met: Option<bool>,
}

impl Report {
    fn new(args: &BenchArgs, results: Vec<CellResult>, disk: Option<disk::DiskProbe>) -> Report {
        let ratios = args
            .connections
            .iter()
            .map(|&connections| ratios_at(&results, connections))
            .collect();
        let page_ratios = args
            .connections
            .iter()
            .flat_map(|&connections| page_ratios_at(&results, connections))
            .collect();
        let goals = (args.connections.contains(&GOAL_CONNECTIONS)
            && (args.targets.contains(&Target::Gateway)
                || args.targets.contains(&Target::Postgres)))
        .then(|| goals_at(&results, GOAL_CONNECTIONS));
        Report {
            duration_secs: args.duration.as_secs_f64(),
            warmup_secs: args.warmup.as_secs_f64(),
            runs_per_cell: args.repeat,
            server_workers: SERVER_WORKERS,
            event_bytes: EVENT_BYTES,
            results,
            ratios,
            page_ratios,
            goals_at_64_connections: goals,
            disk,
        }
    }

    fn render_text(&self) -> String {
        let mut out = String::new();
        self.write_text(&mut out)
            .map(|()| out)
            .unwrap_or_else(|err| format!("cannot format the report: {err}\n"))
    }

    fn write_text(&self, out: &mut String) -> fmt::Result {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let intake = self
            .results
            .iter()
            .any(|cell| !(cell.target.reads_pages() || cell.target == Target::PlainGet));
        let events = if intake {
            format!("{}-byte signed status.changed events; ", self.event_bytes)
        } else {
            String::new()
        };
        let runs = if self.runs_per_cell > 1 {
            format!(
                "the median of {} runs per cell (targets taking turns); ",
                self.runs_per_cell
            )
        } else {
            String::new()
        };
        writeln!(
            out,
            "\n{} s measured per cell after {} s warm-up; {runs}{events}{} server workers; \
             client and servers share {cores} cores.\n",
            self.duration_secs, self.warmup_secs, self.server_workers
        )?;
        self.write_table(out)?;
        self.write_errors(out)?;
        self.write_ratios(out)?;
        self.write_commits(out)?;
        self.write_phases(out)?;
        self.write_goals(out)
    }

    fn write_table(&self, out: &mut String) -> fmt::Result {
        let repeated = self.runs_per_cell > 1;
        write!(
            out,
            "{:<14} {:>11} {:>11} {:>9} {:>9} {:>8}",
            "target", "connections", "ok/s", "p50 ms", "p99 ms", "errors"
        )?;
        writeln!(out, "{}", if repeated { "   ok/s of the runs" } else { "" })?;
        for cell in &self.results {
            write!(
                out,
                "{:<14} {:>11} {:>11.0} {:>9} {:>9} {:>8}",
                cell.name(),
                cell.connections,
                cell.acked_per_sec,
                optional(cell.p50_ms, 2),
                optional(cell.p99_ms, 2),
                cell.errors
            )?;
            if repeated {
                let (low, high) = cell
                    .runs_acked_per_sec
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(low, high), &rate| {
                        (low.min(rate), high.max(rate))
                    });
                if low <= high {
                    write!(out, "   {low:.0}–{high:.0}")?;
                }
            }
            writeln!(out)?;
        }
        Ok(())
    }

    fn write_errors(&self, out: &mut String) -> fmt::Result {
        for cell in self.results.iter().filter(|cell| cell.errors > 0) {
            let kinds: Vec<String> = cell
                .error_kinds
                .iter()
                .map(|(kind, count)| format!("{kind} ×{count}"))
                .collect();
            writeln!(
                out,
                "  errors, {} at {}: {}",
                cell.name(),
                cell.connections,
                kinds.join(", ")
            )?;
        }
        Ok(())
    }

    fn write_ratios(&self, out: &mut String) -> fmt::Result {
        if !self.page_ratios.is_empty() {
            writeln!(
                out,
                "\nTimeline pages ({} entries per page; jobs in one store of {} entries):",
                crate::http::pages::PAGE_SIZE,
                pages::TOTAL_ENTRIES
            )?;
            writeln!(
                out,
                "{:>11} {:>9} {:>10} {:>16} {:>20}",
                "connections", "history", "pages/s", "pages/plain-get", "vs smallest history"
            )?;
            for ratio in &self.page_ratios {
                writeln!(
                    out,
                    "{:>11} {:>9} {:>10.0} {:>16} {:>20}",
                    ratio.connections,
                    short_count(ratio.history),
                    ratio.pages_per_sec,
                    optional(ratio.over_plain_get, 3),
                    optional(ratio.over_smallest_history, 2)
                )?;
            }
        }
        if !self
            .results
            .iter()
            .any(|cell| cell.target == Target::Gateway)
        {
            return Ok(());
        }
        writeln!(
            out,
            "\n{:>11} {:>15} {:>21}",
            "connections", "gateway/plain", "gateway/per-request"
        )?;
        for ratios in &self.ratios {
            writeln!(
                out,
                "{:>11} {:>15} {:>21}",
                ratios.connections,
                optional(ratios.gateway_over_plain, 2),
                optional(ratios.gateway_over_per_request, 1)
            )?;
        }
        Ok(())
    }

    /// The writer's side of the intake numbers: commits, their size and time, and what the
    /// disk charges for the fsync each one ends with.
    fn write_commits(&self, out: &mut String) -> fmt::Result {
        let cells: Vec<(&CellResult, &commits::CommitStats)> = self
            .results
            .iter()
            .filter_map(|cell| Some((cell, cell.commits.as_ref()?)))
            .collect();
        if !cells.is_empty() {
            writeln!(
                out,
                "\nGroup commits in the measured window (the gateway's /metrics):"
            )?;
            writeln!(
                out,
                "{:<14} {:>11} {:>10} {:>13} {:>10} {:>6}",
                "target", "connections", "commits/s", "per commit", "commit ms", "busy"
            )?;
            for (cell, stats) in cells {
                writeln!(
                    out,
                    "{:<14} {:>11} {:>10.0} {:>13.1} {:>10.2} {:>5.0}%",
                    cell.name(),
                    cell.connections,
                    stats.commits_per_sec,
                    stats.deliveries_per_commit,
                    stats.commit_ms,
                    stats.busy * 100.0
                )?;
            }
        }
        if let Some(disk) = &self.disk {
            writeln!(
                out,
                "\nThis disk, write then fdatasync (median): 1 page {:.2} ms; {pages} adjacent pages \
                 {:.2} ms; {pages} scattered pages {:.2} ms (+{:.3} ms a page).",
                disk.one_page_ms,
                disk.adjacent_pages_ms,
                disk.scattered_pages_ms,
                disk.per_scattered_page_ms(),
                pages = disk::PAGES_PER_SYNC,
            )?;
        }
        Ok(())
    }

    /// The shared backend: how it compares with redb, and where its batches spend their time.
    fn write_phases(&self, out: &mut String) -> fmt::Result {
        if self
            .results
            .iter()
            .any(|cell| cell.target.postgres_gateways() > 0)
        {
            writeln!(
                out,
                "\n{:>11} {:>17} {:>22}",
                "connections", "postgres/gateway", "postgres-pair/postgres"
            )?;
            for ratios in &self.ratios {
                writeln!(
                    out,
                    "{:>11} {:>17} {:>22}",
                    ratios.connections,
                    optional(ratios.postgres_over_gateway, 2),
                    optional(ratios.pair_over_postgres, 2)
                )?;
            }
        }
        let cells: Vec<(&CellResult, &PhaseMillis)> = self
            .results
            .iter()
            .filter_map(|cell| Some((cell, cell.phases.as_ref()?)))
            .collect();
        if cells.is_empty() {
            return Ok(());
        }
        writeln!(
            out,
            "\nWhere a PostgreSQL batch's time goes (mean ms per batch; lock = waiting for the \
             chain-head row, which other gateways' commits hold):"
        )?;
        write!(out, "{:<14} {:>11}", "target", "connections")?;
        for (phase, _) in cells[0].1.by_phase() {
            write!(out, " {:>8}", phase.name())?;
        }
        writeln!(out)?;
        for (cell, phases) in cells {
            write!(out, "{:<14} {:>11}", cell.name(), cell.connections)?;
            for (_, ms) in phases.by_phase() {
                write!(out, " {ms:>8.3}")?;
            }
            writeln!(out)?;
        }
        Ok(())
    }

    fn write_goals(&self, out: &mut String) -> fmt::Result {
        let Some(goals) = &self.goals_at_64_connections else {
            return Ok(());
        };
        writeln!(out, "\nGoals at {GOAL_CONNECTIONS} connections:")?;
        for goal in goals {
            let verdict = match goal.met {
                Some(true) => "met",
                Some(false) => "NOT met",
                None => "not measured",
            };
            let measured = goal
                .measured
                .map(|value| format!("{value:.2}{}", goal.unit))
                .unwrap_or_else(|| "-".to_owned());
            writeln!(out, "  {:<40} {:>10}  {verdict}", goal.goal, measured)?;
        }
        Ok(())
    }
}

fn optional(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{value:.decimals$}"))
}

fn find(results: &[CellResult], target: Target, connections: u32) -> Option<&CellResult> {
    results
        .iter()
        .find(|cell| cell.target == target && cell.connections == connections)
}

impl CellResult {
    fn name(&self) -> String {
        Cell {
            target: self.target,
            history: self.history,
        }
        .to_string()
    }
}

fn page_ratios_at(results: &[CellResult], connections: u32) -> Vec<PageRatios> {
    let pages: Vec<&CellResult> = results
        .iter()
        .filter(|cell| cell.target == Target::Pages && cell.connections == connections)
        .collect();
    let baseline = find(results, Target::PlainGet, connections)
        .map(|cell| cell.acked_per_sec)
        .filter(|rate| *rate > 0.0);
    let smallest = pages
        .iter()
        .min_by_key(|cell| cell.history)
        .map(|cell| cell.acked_per_sec)
        .filter(|rate| *rate > 0.0);
    pages
        .iter()
        .filter_map(|cell| {
            Some(PageRatios {
                connections,
                history: cell.history?,
                pages_per_sec: cell.acked_per_sec,
                over_plain_get: baseline.map(|rate| cell.acked_per_sec / rate),
                over_smallest_history: smallest.map(|rate| cell.acked_per_sec / rate),
            })
        })
        .collect()
}

fn throughput_ratio(results: &[CellResult], connections: u32, denominator: Target) -> Option<f64> {
    ratio_of(results, connections, Target::Gateway, denominator)
}

/// `numerator`'s acked/s over `denominator`'s, at one connection count.
fn ratio_of(
    results: &[CellResult],
    connections: u32,
    numerator: Target,
    denominator: Target,
) -> Option<f64> {
    let top = find(results, numerator, connections)?.acked_per_sec;
    let bottom = find(results, denominator, connections)?.acked_per_sec;
    (bottom > 0.0).then(|| top / bottom)
}

fn ratios_at(results: &[CellResult], connections: u32) -> Ratios {
    Ratios {
        connections,
        gateway_over_plain: throughput_ratio(results, connections, Target::Plain),
        gateway_over_per_request: throughput_ratio(results, connections, Target::PerRequest),
        postgres_over_gateway: ratio_of(results, connections, Target::Postgres, Target::Gateway),
        pair_over_postgres: ratio_of(results, connections, Target::PostgresPair, Target::Postgres),
    }
}

/// The gateway's goals: at least half of plain HTTP's throughput, p99 within 5 ms, and ten
/// times what committing per request achieves.
fn goals_at(results: &[CellResult], connections: u32) -> Vec<Goal> {
    let at_least = |goal, measured: Option<f64>, unit, floor: f64| Goal {
        goal,
        measured,
        unit,
        met: measured.map(|value| value >= floor),
    };
    let p99 = find(results, Target::Gateway, connections).and_then(|cell| cell.p99_ms);
    let mut goals = Vec::new();
    if find(results, Target::Postgres, connections).is_some() {
        let p99 = find(results, Target::Postgres, connections).and_then(|cell| cell.p99_ms);
        goals.push(at_least(
            "postgres throughput >= 0.5 x gateway (redb)",
            ratio_of(results, connections, Target::Postgres, Target::Gateway),
            " x",
            0.5,
        ));
        goals.push(Goal {
            goal: "postgres p99 <= 10 ms",
            measured: p99,
            unit: " ms",
            met: p99.map(|value| value <= 10.0),
        });
    }
    if find(results, Target::Gateway, connections).is_none() {
        return goals;
    }
    let mut gateway_goals = vec![
        at_least(
            "gateway throughput >= 0.5 x plain",
            throughput_ratio(results, connections, Target::Plain),
            " x",
            0.5,
        ),
        Goal {
            goal: "gateway p99 <= 5 ms",
            measured: p99,
            unit: " ms",
            met: p99.map(|value| value <= 5.0),
        },
        at_least(
            "gateway throughput >= 10 x per-request",
            throughput_ratio(results, connections, Target::PerRequest),
            " x",
            10.0,
        ),
    ];
    gateway_goals.append(&mut goals);
    gateway_goals
}

#[cfg(test)]
mod tests {
    use super::*;

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
            json: false,
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
