//! Building and running the gateway: open the store, start the writer, serve HTTP, and on
//! SIGTERM/SIGINT stop accepting, let requests in flight finish, commit what is queued, exit.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};

use crate::config::{Config, StorageConfig};
use crate::http::error_pages::render_error_pages;
use crate::http::limits::IntakeBudget;
use crate::http::page_cache::PageCache;
use crate::http::page_error::no_such_route;
use crate::http::revoked::RevokedSessions;
use crate::http::session::SessionCodec;
use crate::http::throttle::{LoginThrottle, PasswordChecks};
use crate::http::{self, AppState};
use crate::observability::{Metrics, requests};
use crate::render::{Origin, Renderer};
use crate::search::Indexing;
use crate::store::health::{OpeningProgress, StorageHealth};
use crate::store::tally::{TALLY_EVERY, TallyCounter};
use crate::store::writer::{Writer, WriterConfig};
use crate::store::{Storage, StoreError, WriteSide};

/// A running HTTP server, to await.
type Serving = tokio::task::JoinHandle<std::io::Result<()>>;

/// A running gateway: its address, and what it takes to stop it cleanly.
pub struct Gateway {
    pub addr: SocketAddr,
    /// Where `/metrics` is served when `[metrics] listen` gives it its own address.
    pub metrics_addr: Option<SocketAddr>,
    server: ServerHandle,
    serving: Serving,
    metrics_server: Option<(ServerHandle, Serving)>,
    writer: Writer,
    /// Retention and search indexing, which hold the store until they have stopped.
    chores: Chores,
}

impl Gateway {
    /// Opens the storage named in `config` and serves on `listener`.
    pub fn start(config: Config, listener: TcpListener) -> anyhow::Result<Gateway> {
        let storage = open_storage(&config.storage, Arc::default())?;
        Gateway::start_with_storage(config, storage, listener)
    }

    pub fn start_with_storage(
        config: Config,
        storage: Storage,
        listener: TcpListener,
    ) -> anyhow::Result<Gateway> {
        let addr = listener.local_addr()?;
        let writer_config = WriterConfig {
            queue_capacity: config.storage.queue_capacity,
            max_batch: config.storage.max_batch,
        };
        let metrics = Arc::new(Metrics::new()?);
        let health = Arc::new(StorageHealth::default());
        let (writer, handle) = Writer::spawn(storage.write.clone(), writer_config, {
            let (metrics, health) = (metrics.clone(), health.clone());
            move |report| {
                tracing::trace!(
                    size = report.size,
                    commit_ms = report.commit.as_secs_f64() * 1e3,
                    ok = report.ok,
                    "batch committed"
                );
                metrics.observe_batch(&report);
                match report.failure {
                    None => health.commit_succeeded(),
                    Some(reason) => health.commit_failed(reason),
                }
            }
        })?;
        let origin = Origin::for_this_build();
        if let Origin::Disk(root) = &origin {
            tracing::info!(root = %root.display(), "templates and static files are read from disk on every request");
        }
        let renderer = Renderer::new(origin)?;
        let sessions = SessionCodec::from_config(&config.auth)?;
        let revoked_sessions = RevokedSessions::new(storage.read.revocations(chrono::Utc::now())?);
        let config = Arc::new(config);
        let mut chores = Chores::default();
        if config.retention.raw_bodies_days.is_some() {
            chores.spawn(|stopping| {
                prune_periodically(config.clone(), storage.write.clone(), stopping)
            });
        }
        chores.spawn(|stopping| index_for_search(storage.write.clone(), stopping));
        let tally = Arc::new(TallyCounter::default());
        chores.spawn(|stopping| keep_tally(storage.write.clone(), tally.clone(), stopping));
        let state = web::Data::new(AppState {
            config: config.clone(),
            storage,
            writer: handle,
            metrics,
            health,
            intake_budget: IntakeBudget::new(config.server.intake_buffer_bytes),
            renderer,
            page_cache: PageCache::new(config.display.page_cache_mib.saturating_mul(1 << 20)),
            sessions,
            revoked_sessions,
            login_throttle: LoginThrottle::default(),
            password_checks: PasswordChecks::new(config.auth.max_password_checks),
            live: crate::http::live::Streams::new(&config.live),
            rejections: Arc::default(),
            tally,
            backup_running: Arc::new(tokio::sync::Mutex::new(())),
        });
        let metrics_here = config.metrics.enabled && config.metrics.listen.is_none();
        let read_timeout = Duration::from_secs(config.server.read_timeout_secs.get());
        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .configure(http::routes)
                .configure(|cfg| {
                    if metrics_here {
                        http::metrics::routes(cfg);
                    }
                })
                .default_service(web::to(no_such_route))
                .wrap(ErrorHandlers::new().default_handler(render_error_pages))
                .wrap(http::security::headers())
                .wrap(from_fn(requests::observe))
        })
        .shutdown_timeout(config.server.shutdown_timeout_secs)
        // Headers must arrive within the read timeout; intake gives the body its own.
        .client_request_timeout(read_timeout)
        .listen(listener)?;
        if config.server.workers > 0 {
            server = server.workers(config.server.workers);
        }
        let server = server.run();
        let handle = server.handle();
        let serving = tokio::spawn(server);
        let (metrics_addr, metrics_server) = match config.metrics.listen {
            Some(listen) if config.metrics.enabled => {
                let (addr, handle, serving) = serve_metrics_apart(state, listen)?;
                (Some(addr), Some((handle, serving)))
            }
            _ => (None, None),
        };
        Ok(Gateway {
            addr,
            metrics_addr,
            server: handle,
            serving,
            metrics_server,
            writer,
            chores,
        })
    }

    /// Runs until the server stops (SIGTERM/SIGINT, or [`Gateway::stop`]), then shuts down.
    pub async fn wait(self) -> anyhow::Result<()> {
        let served = self.serving.await;
        self.chores.finish().await;
        if let Some((metrics_server, serving)) = self.metrics_server {
            // The main server has stopped (a signal stops both; `stop` stops only the main one).
            metrics_server.stop(true).await;
            let _ = serving.await;
        }
        let writer = self.writer;
        tokio::task::spawn_blocking(move || writer.shutdown()).await?;
        served??;
        Ok(())
    }

    /// Graceful stop, as on SIGTERM.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.server.stop(true).await;
        self.wait().await
    }
}

/// Opens the storage `config` names, telling `progress` how far the start-up replay has come.
fn open_storage(config: &StorageConfig, progress: Arc<OpeningProgress>) -> anyhow::Result<Storage> {
    Storage::open_reporting(config, progress).map_err(|err| match config.backend {
        crate::config::Backend::Redb => {
            anyhow::anyhow!("cannot open the store {}: {err}", config.path.display())
        }
        crate::config::Backend::Postgres => anyhow::anyhow!("cannot use the database: {err}"),
    })
}

/// Opens the storage while a small server on `listener` answers `/healthz`, `/readyz`
/// ("replaying n/m") and 503 with `Retry-After` to everything else (see
/// [`http::starting`]). The socket stays open throughout: connections that arrive as the
/// small server stops wait in its backlog for the gateway. `None` when SIGTERM or SIGINT came
/// first; the store is then closed once it is open, since a replay cannot be cut short.
async fn open_while_answering(
    config: &Config,
    listener: &TcpListener,
    termination: &Termination,
) -> anyhow::Result<Option<Storage>> {
    let progress = Arc::new(OpeningProgress::default());
    let answering = {
        let progress = web::Data::new(progress.clone());
        HttpServer::new(move || {
            App::new()
                .app_data(progress.clone())
                .configure(http::starting::routes)
                .wrap(http::security::headers())
        })
        .workers(1)
        .shutdown_timeout(1)
        .disable_signals()
        .listen(listener.try_clone()?)?
        .run()
    };
    let handle = answering.handle();
    let answering = tokio::spawn(answering);
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        "answering on http://{addr} while the store opens; /readyz tells how far it has come"
    );
    let mut opening = tokio::task::spawn_blocking({
        let storage_config = config.storage.clone();
        move || open_storage(&storage_config, progress)
    });
    let opened = tokio::select! {
        opened = &mut opening => Some(opened),
        () = termination.clone().asked() => None,
    };
    if opened.is_none() {
        tracing::info!("asked to stop while the store was opening; stopping once it is open");
        // Dropping what opened closes it, with a checkpoint.
        let _ = opening.await;
    }
    handle.stop(true).await;
    let _ = answering.await;
    match opened {
        Some(opened) => Ok(Some(opened??)),
        None => Ok(None),
    }
}

/// SIGTERM or SIGINT, listened for from the start of `serve` to its end. actix's servers
/// listen for them too once they run, but one that arrives while the start-up server hands
/// over to the gateway would otherwise reach no one (the process has taken over both signals
/// by then), and the gateway would go on serving.
#[derive(Clone)]
struct Termination(tokio::sync::watch::Receiver<bool>);

impl Termination {
    fn listen() -> Termination {
        let (asked, receiver) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut terminate) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = terminate.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            let _ = asked.send(true);
        });
        Termination(receiver)
    }

    /// Once a signal has come (at once if it came already).
    async fn asked(mut self) {
        // An error means the listener is gone without a signal: never.
        if self.0.wait_for(|asked| *asked).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Drops expired raw bodies now and then, off the request threads. Pruning runs in short
/// transactions of its own, so intake commits keep flowing in between.
async fn prune_periodically(
    config: Arc<Config>,
    store: Arc<dyn WriteSide>,
    mut stopping: Stopping,
) {
    let period = Duration::from_secs(config.retention.prune_interval_secs.get());
    let mut ticks = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopping.changed() => return,
        }
        let Some(cutoff) = config.retention.cutoff(chrono::Utc::now()) else {
            return;
        };
        let store = store.clone();
        match tokio::task::spawn_blocking(move || store.prune_bodies(cutoff)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(dropped)) => {
                tracing::info!(dropped, cutoff = %cutoff, "retention: dropped expired raw bodies")
            }
            Ok(Err(err)) => tracing::warn!(error = %err, "retention: pruning failed; will retry"),
            Err(err) => tracing::warn!(error = %err, "retention: the pruning task failed"),
        }
    }
}

/// Keeps a search index that follows the timelines (the embedded store's) up with them: at
/// once while it is behind, every quarter second once it has caught up. A backend that indexes
/// in each commit ends this at the first call.
///
/// It runs on a thread of its own at the lowest CPU priority (nice 19; tantivy's threads,
/// made from it, inherit that): the index is a projection that may lag for a moment, intake
/// is not. When a burst fills the CPU, the index falls behind (searches say by how much) and
/// catches up as the burst passes, instead of taking a fifth of intake's throughput: measured
/// at 64 connections on 2 cores, 0.89× the intake of a gateway without indexing (0.81× at
/// normal priority), about half a second of deliveries behind, searchable 0.4 s after the
/// load stops.
async fn index_for_search(store: Arc<dyn WriteSide>, mut stopping: Stopping) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let indexer = std::thread::Builder::new()
        .name("hooktrail-index".to_owned())
        .spawn({
            let stop = stop.clone();
            move || follow_for_search(store.as_ref(), &stop)
        });
    let indexer = match indexer {
        Ok(indexer) => indexer,
        Err(err) => {
            tracing::error!(error = %err, "cannot start the search indexer; searches will fall behind");
            return;
        }
    };
    let _ = stopping.changed().await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    indexer.thread().unpark();
    // Joined off the async workers: a round of indexing may be finishing.
    if tokio::task::spawn_blocking(move || indexer.join())
        .await
        .map_or(true, |joined| joined.is_err())
    {
        tracing::warn!("the search indexer ended with a panic");
    }
}

/// The indexer thread's loop, until `stop` (it is unparked then) or the backend needs none.
fn follow_for_search(store: &dyn WriteSide, stop: &std::sync::atomic::AtomicBool) {
    const IDLE: Duration = Duration::from_millis(250);
    if let Err(err) = rustix::process::setpriority_process(None, 19) {
        tracing::debug!(error = %err, "the search indexer keeps the normal CPU priority");
    }
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let pause = match store.index_for_search() {
            Ok(Indexing::InCommit | Indexing::Off) => return,
            Ok(Indexing::Behind) => continue,
            Ok(Indexing::CaughtUp) => IDLE,
            Err(err) => {
                tracing::warn!(error = %err, "search indexing failed; will retry");
                IDLE * 8
            }
        };
        std::thread::park_timeout(pause);
    }
}

/// Adds what intake counted to the store's tally now and then, and once more on the way out.
async fn keep_tally(store: Arc<dyn WriteSide>, counter: Arc<TallyCounter>, mut stopping: Stopping) {
    let mut ticks = tokio::time::interval(TALLY_EVERY);
    loop {
        let stop = tokio::select! {
            _ = ticks.tick() => false,
            _ = stopping.changed() => true,
        };
        let (store, counter) = (store.clone(), counter.clone());
        match tokio::task::spawn_blocking(move || add_to_tally(store.as_ref(), &counter)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "cannot add to the intake tally; will retry")
            }
            Err(err) => tracing::warn!(error = %err, "the intake tally task failed"),
        }
        if stop {
            return;
        }
    }
}

/// Adds what `counter` holds to `store`'s tally; on failure it is kept for the next try.
pub fn add_to_tally(store: &dyn WriteSide, counter: &TallyCounter) -> Result<(), StoreError> {
    let batch = counter.take(chrono::Utc::now());
    if batch.is_empty() {
        return Ok(());
    }
    store
        .add_to_tally(&batch)
        .inspect_err(|_| counter.restore(batch))
}

/// Tells a chore that the gateway is stopping.
type Stopping = tokio::sync::watch::Receiver<bool>;

/// Background loops that use the store. Aborting one would leave its blocking call running,
/// still holding the store after the gateway says it has stopped (so a restart finds the file
/// in use); instead each is told to stop and awaited, which waits out that call.
#[derive(Default)]
struct Chores {
    stop: Option<tokio::sync::watch::Sender<bool>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Chores {
    fn spawn<F: std::future::Future<Output = ()> + Send + 'static>(
        &mut self,
        chore: impl FnOnce(Stopping) -> F,
    ) {
        let stop = self
            .stop
            .get_or_insert_with(|| tokio::sync::watch::channel(false).0);
        self.tasks.push(tokio::spawn(chore(stop.subscribe())));
    }

    async fn finish(self) {
        if let Some(stop) = self.stop {
            stop.send_replace(true);
        }
        for task in self.tasks {
            if let Err(err) = task.await {
                tracing::warn!(error = %err, "a background task failed while stopping");
            }
        }
    }
}

/// `/metrics` alone on its own address, for deployments that keep it off the public listener.
fn serve_metrics_apart(
    state: web::Data<AppState>,
    listen: SocketAddr,
) -> anyhow::Result<(SocketAddr, ServerHandle, Serving)> {
    let listener = TcpListener::bind(listen)
        .map_err(|err| anyhow::anyhow!("cannot listen on {listen} for metrics: {err}"))?;
    let addr = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(http::metrics::routes)
    })
    .workers(1)
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    let handle = server.handle();
    Ok((addr, handle, tokio::spawn(server)))
}

/// `hooktrail serve`.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    warn_about_development_secrets(&config);
    crate::sources::warn_about_replays_that_never_expire(&config.sources);
    let listener = TcpListener::bind(config.server.listen)
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", config.server.listen))?;
    let termination = Termination::listen();
    let Some(storage) = open_while_answering(&config, &listener, &termination).await? else {
        tracing::info!("stopped before serving");
        return Ok(());
    };
    let gateway = Gateway::start_with_storage(config, storage, listener)?;
    // Also a signal that came as the start-up server handed over (a graceful stop twice is
    // the same stop).
    let server = gateway.server.clone();
    tokio::spawn(async move {
        termination.asked().await;
        server.stop(true).await;
    });
    tracing::info!(addr = %gateway.addr, "hooktrail listening on http://{}", gateway.addr);
    if let Some(addr) = gateway.metrics_addr {
        tracing::info!(%addr, "metrics on http://{addr}/metrics");
    }
    gateway.wait().await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

fn warn_about_development_secrets(config: &Config) {
    if config.development_secrets.is_empty() {
        return;
    }
    if config.server.listen.ip().is_loopback() {
        tracing::info!(keys = ?config.development_secrets, "running with the development secrets (fine on loopback)");
    } else {
        tracing::warn!(
            keys = ?config.development_secrets,
            "!!! SERVING ON {} WITH THE PUBLISHED DEVELOPMENT SECRETS: anyone can forge webhooks and read the API. \
             Replace them before exposing this gateway. !!!",
            config.server.listen
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a restart needs: once the chores have finished, none of them holds what it was
    /// given, even one stopped in the middle of blocking work.
    #[tokio::test]
    async fn finished_chores_hold_nothing_even_when_stopped_mid_work() {
        let store = Arc::new(());
        let (started, mut working) = tokio::sync::mpsc::channel(1);
        let mut chores = Chores::default();
        chores.spawn(|mut stopping| {
            let store = store.clone();
            async move {
                loop {
                    let (store, started) = (store.clone(), started.clone());
                    let work = tokio::task::spawn_blocking(move || {
                        let _ = started.try_send(());
                        std::thread::sleep(Duration::from_millis(200));
                        drop(store);
                    });
                    let _ = work.await;
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                        _ = stopping.changed() => return,
                    }
                }
            }
        });
        working.recv().await;
        chores.finish().await;
        assert_eq!(
            Arc::strong_count(&store),
            1,
            "a chore still holds the store"
        );
    }
}
