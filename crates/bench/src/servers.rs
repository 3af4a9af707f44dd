//! The servers under test: the gateway (on redb or PostgreSQL) and the plain handlers.
//!
//! The intake targets on redb and `plain` run in a process of their own ([`apart`]), so that
//! their memory and CPU time are measured without the load's; the page targets (which share one store built
//! for the run) and the PostgreSQL ones (whose stores' timings are read in this process) run
//! here.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use tokio::task::JoinHandle;

use crate::apart::{ProcessUse, ServerProcess};
use crate::durable::{DurableLog, accept_durably};
use crate::load::Load;
use crate::{
    Cell, Fixtures, PLAIN_PAGE_BYTES, SERVER_WORKERS, SESSION_KEY, Target, pages, streams, workload,
};
use hooktrail::app::Gateway;
use hooktrail::config::Config;
use hooktrail::sources::Source;
use hooktrail::store::postgres::PgStore;
use hooktrail::store::postgres::scratch::ScratchDatabase;
use hooktrail::store::redb::RedbStore;
use hooktrail::store::{Storage, Store};

pub(crate) enum RunningServer {
    /// A server in a child process.
    Apart(ServerProcess),
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
        /// `plain-durable`'s log folder, removed after the cell.
        log_folder: Option<tempfile::TempDir>,
    },
}

impl RunningServer {
    /// Where its clients connect, one address per gateway.
    pub(crate) fn addrs(&self) -> Vec<SocketAddr> {
        match self {
            RunningServer::Apart(process) => vec![process.addr()],
            RunningServer::Gateway { gateway, .. } => vec![gateway.addr],
            RunningServer::Postgres { gateways, .. } => gateways.iter().map(|g| g.addr).collect(),
            RunningServer::Plain { addr, .. } => vec![*addr],
        }
    }

    /// The server's process, where it has one of its own; a server sharing this one has no
    /// memory or CPU time to tell apart from the load's.
    pub(crate) fn process(&self) -> Option<ProcessUse> {
        match self {
            RunningServer::Apart(process) => Some(process.process()),
            _ => None,
        }
    }

    pub(crate) fn postgres_stores(&self) -> Option<Vec<Arc<PgStore>>> {
        match self {
            RunningServer::Postgres { stores, .. } => Some(stores.clone()),
            _ => None,
        }
    }

    /// A graceful stop (every client connection is closed by now), then the store's removal.
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        match self {
            RunningServer::Apart(process) => process.stop().await?,
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
                handle,
                serving,
                log_folder,
                ..
            } => {
                handle.stop(true).await;
                serving.await??;
                if let Some(folder) = log_folder {
                    folder.close().context("cannot remove the bench log")?;
                }
            }
        }
        Ok(())
    }
}

/// The cell's server, and the requests its clients send.
pub(crate) fn start_server(
    cell: Cell,
    source: &Arc<Source>,
    fixtures: Fixtures<'_>,
) -> anyhow::Result<(RunningServer, Load)> {
    let intake = || Load::Intake(source.clone());
    let page = |history: u64, cookie: Option<String>| Load::Page {
        path: format!("/jobs/{}", pages::job_id(history)),
        cookie,
    };
    Ok(match cell.target.serving() {
        Serving::Apart(server) => {
            let store = match server {
                ApartServer::Filled => Some(
                    fixtures
                        .filled
                        .context("the filled store was not built")?
                        .path
                        .as_path(),
                ),
                ApartServer::Gateway { .. }
                | ApartServer::Adjusted(_)
                | ApartServer::Plain
                | ApartServer::PlainDurable => None,
            };
            let process = ServerProcess::spawn(cell.target, store)?;
            (RunningServer::Apart(process), intake())
        }
        Serving::Postgres { gateways } => (start_postgres_gateways(gateways)?, intake()),
        Serving::PlainGet => (start_plain()?, page(100, None)),
        Serving::Pages { keep_pages } => {
            let fixture = fixtures.pages.context("the page store was not built")?;
            let history = cell.history.context("a pages cell without a history")?;
            let (server, cookie) = start_pages_gateway(fixture, keep_pages)?;
            (server, page(history, Some(cookie)))
        }
    })
}

/// Where and how a target's server runs ([`Target::serving`]).
#[derive(Clone, Copy)]
pub(crate) enum Serving {
    /// In a process of its own, started as the [`ApartServer`] says.
    Apart(ApartServer),
    /// `gateways` gateways on one scratch PostgreSQL database, in the bench's process.
    Postgres { gateways: usize },
    /// The gateway on the page store built for the run, with its page cache on or off.
    Pages { keep_pages: bool },
    /// The plain handler's fixed page: HTTP alone, the baseline for the page targets.
    PlainGet,
}

/// How the server of a target that runs apart is started, in the process that serves it.
#[derive(Clone, Copy)]
pub(crate) enum ApartServer {
    /// The gateway on a fresh store, committing at most `max_batch` deliveries at a time
    /// (`None`: the default).
    Gateway { max_batch: Option<usize> },
    /// The gateway on a fresh store that the function switches something off in.
    Adjusted(fn(RedbStore) -> RedbStore),
    /// The gateway on the store `--prefill` filled.
    Filled,
    /// The plain handler.
    Plain,
    /// The plain handler answering once the body is on disk ([`DurableLog`]).
    PlainDurable,
}

/// The server of a target that runs apart, started in the process that serves it; `store`
/// is the store `gateway-filled` opens.
pub(crate) fn start_intake_server(
    target: Target,
    store: Option<&Path>,
) -> anyhow::Result<RunningServer> {
    let Serving::Apart(server) = target.serving() else {
        anyhow::bail!("{target} does not run in a process of its own");
    };
    match server {
        ApartServer::Gateway { max_batch } => start_gateway(max_batch),
        ApartServer::Adjusted(adjust) => start_gateway_with(adjust),
        ApartServer::Filled => start_gateway_on(store.context("gateway-filled needs a store")?),
        ApartServer::Plain => start_plain(),
        ApartServer::PlainDurable => start_plain_durable(),
    }
}

/// The gateway serving the shared page store, and a signed-in session cookie for it.
pub(crate) fn start_pages_gateway(
    fixture: &pages::PageFixture,
    keep_pages: bool,
) -> anyhow::Result<(RunningServer, String)> {
    let mut config = gateway_config(Path::new("unused.redb"), None)?;
    if !keep_pages {
        config.display.page_cache_mib = 0;
    }
    config.auth.session_key = hooktrail::crypto::Secret::new(SESSION_KEY.as_bytes().to_vec());
    config.auth.users.push(hooktrail::config::UserConfig {
        username: "bench".to_owned(),
        password_hash: hooktrail::password::hash("bench")?,
        role: Default::default(),
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
pub(crate) fn start_gateway(max_batch: Option<usize>) -> anyhow::Result<RunningServer> {
    let data = scratch_folder()?;
    let config = gateway_config(&data.path().join("bench.redb"), max_batch)?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let gateway = Gateway::start(config, listener)?;
    Ok(RunningServer::Gateway {
        gateway,
        data: Some(data),
    })
}

/// The gateway on a loopback port opening the store at `path`, which outlives it.
pub(crate) fn start_gateway_on(path: &Path) -> anyhow::Result<RunningServer> {
    let config = gateway_config(path, None)?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let gateway = Gateway::start(config, listener)?;
    Ok(RunningServer::Gateway {
        gateway,
        data: None,
    })
}

/// The gateway on a loopback port with a fresh store that `adjust` switches something off in.
pub(crate) fn start_gateway_with(
    adjust: fn(RedbStore) -> RedbStore,
) -> anyhow::Result<RunningServer> {
    let data = scratch_folder()?;
    let path = data.path().join("bench.redb");
    let config = gateway_config(&path, None)?;
    let store = adjust(RedbStore::open_reporting(
        &path,
        config.storage.redb_settings(),
        Arc::default(),
        None,
    )?);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let gateway = Gateway::start_with_storage(config, Storage::new(Arc::new(store)), listener)?;
    Ok(RunningServer::Gateway {
        gateway,
        data: Some(data),
    })
}

/// `count` gateways on one fresh scratch database, each with its own connection pool.
pub(crate) fn start_postgres_gateways(count: usize) -> anyhow::Result<RunningServer> {
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

pub(crate) fn gateway_config(
    store_path: &Path,
    max_batch: Option<usize>,
) -> anyhow::Result<Config> {
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
    text.push_str(&streams::api_token_toml());
    // No environment: HOOKTRAIL_… overrides meant for `serve` must not change what is measured.
    let config = Config::from_toml(&text, Path::new("(bench)"), std::iter::empty())?;
    Ok(config)
}

/// A folder for a cell's store or log, on the disk the gateways' stores live on (the system's
/// temporary one), removed when dropped.
fn scratch_folder() -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("hooktrail-bench-")
        .tempdir()
}

/// The plain handlers: intake reads the body and answers at once.
pub(crate) fn start_plain() -> anyhow::Result<RunningServer> {
    serve_plain(None)
}

/// The plain handlers, intake answering once each body is on disk ([`DurableLog`]).
pub(crate) fn start_plain_durable() -> anyhow::Result<RunningServer> {
    let folder = scratch_folder()?;
    let log = DurableLog::create(folder.path())?;
    serve_plain(Some((folder, log)))
}

/// Serves the plain handlers; `durable` holds `plain-durable`'s log and the folder it is in.
fn serve_plain(durable: Option<(tempfile::TempDir, DurableLog)>) -> anyhow::Result<RunningServer> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (log_folder, durable_log) = match durable {
        Some((folder, log)) => (Some(folder), Some(web::Data::new(log))),
        None => (None, None),
    };
    let server = HttpServer::new(move || {
        let app = App::new().route("/jobs/{id}", web::get().to(fixed_page));
        match &durable_log {
            Some(durable_log) => app
                .app_data(durable_log.clone())
                .route("/hooks/{source}", web::post().to(accept_durably)),
            None => app.route("/hooks/{source}", web::post().to(accept_unchecked)),
        }
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
        log_folder,
    })
}

/// The baseline handler: the body is read in full, as intake must, then dropped unchecked.
pub(crate) async fn accept_unchecked(_body: web::Bytes) -> HttpResponse {
    HttpResponse::Accepted().finish()
}

/// The page baseline: a fixed body, nothing read, nothing rendered.
pub(crate) async fn fixed_page() -> HttpResponse {
    static PAGE: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| "<p>page</p>".repeat(PLAIN_PAGE_BYTES / 11));
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(PAGE.as_str())
}
