//! Building and running the gateway: open the store, start the writer, serve HTTP, and on
//! SIGTERM/SIGINT stop accepting, let requests in flight finish, commit what is queued, exit.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};

use crate::config::Config;
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
use crate::sources::RawDelivery;
use crate::store::Storage;
use crate::store::health::{OpeningProgress, StorageHealth};
use crate::store::tally::TallyCounter;
use crate::store::writer::{Writer, WriterConfig};
use crate::trust::notary::{Copies, Notary, SigningStatus};

mod chores;
pub mod memory;
mod pacing;

use crate::alerts::Alerting;
pub use chores::INDEXER_THREAD;
use chores::{
    Chores, index_for_search, keep_tally, prune_periodically, sign_tree_heads, watch_alerts,
};

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
    /// Retention, search indexing and the tally, which hold the store until they have
    /// stopped.
    chores: Chores,
    /// The state the servers share, kept so that stopping drops it last (see [`close_state`]).
    state: web::Data<AppState>,
}

impl Gateway {
    /// Opens the storage named in `config` and serves on `listener`.
    pub fn start(config: Config, listener: TcpListener) -> anyhow::Result<Gateway> {
        let storage = open_storage(&config, Arc::default())?;
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
        chores.spawn(|stopping| index_for_search(storage.write.clone(), health.clone(), stopping));
        let tally = Arc::new(TallyCounter::default());
        chores.spawn(|stopping| keep_tally(storage.write.clone(), tally.clone(), stopping));
        let alerting = Arc::new(Alerting::new(config.clone(), &storage, addr));
        if !config.alerts.is_empty() {
            chores.spawn(|stopping| {
                watch_alerts(
                    alerting.clone(),
                    tally.clone(),
                    health.clone(),
                    config.alerting.check_interval_secs,
                    stopping,
                )
            });
        }
        let tree_signing = Arc::new(SigningStatus::default());
        if let Some(key) = &config.trust.signing_key {
            let notary =
                Arc::new(Notary::new(key.clone()).publishing_to(config.trust.digests_dir.clone()));
            let copies = Copies::from_config(&config.trust);
            let interval = Duration::from_secs(config.trust.digest_interval_secs.get());
            chores.spawn(|stopping| {
                sign_tree_heads(
                    notary,
                    storage.clone(),
                    metrics.clone(),
                    tree_signing.clone(),
                    copies,
                    interval,
                    stopping,
                )
            });
        }
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
            alerting,
            tree_signing,
            renormalize_runs: Arc::default(),
            backup_running: Arc::new(tokio::sync::Mutex::new(())),
        });
        let kept_state = state.clone();
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
            state: kept_state,
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
        close_state(self.state).await?;
        served??;
        Ok(())
    }

    /// Graceful stop, as on SIGTERM.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.server.stop(true).await;
        self.wait().await
    }
}

/// How long a stopped gateway waits for its server workers to let go of the shared state.
const STATE_RELEASE_WAIT: Duration = Duration::from_secs(5);

/// Drops the servers' shared state, and with it the gateway's hold on the store, once every
/// worker has dropped its copy. A stopped gateway has then closed its store (the embedded
/// store's last checkpoint is written as it closes), so a `verify`, or a new gateway, run right
/// after finds a file no one holds. Actix reports a worker stopped a moment before that worker
/// drops its app; left to it, the store would close on that worker's thread, after `stop` had
/// returned.
async fn close_state(state: web::Data<AppState>) -> anyhow::Result<()> {
    if !drop_when_last(state.into_inner(), STATE_RELEASE_WAIT).await? {
        tracing::warn!("stopped, but the store stays open until the work still holding it ends");
    }
    Ok(())
}

/// Waits, up to `patience`, until `shared` is the last handle on its value, then drops it on
/// the blocking pool (dropping a store writes) and returns once that drop has finished.
/// `false` when others still held it at the end of `patience`: the value is then dropped by
/// whichever lets go last.
async fn drop_when_last<T: Send + Sync + 'static>(
    shared: Arc<T>,
    patience: Duration,
) -> Result<bool, tokio::task::JoinError> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut alone = Arc::strong_count(&shared) == 1;
    while !alone && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
        alone = Arc::strong_count(&shared) == 1;
    }
    tokio::task::spawn_blocking(move || drop(shared)).await?;
    Ok(alone)
}

/// Opens the storage `config` names, telling `progress` how far the start-up replay has come.
/// Views that must be rebuilt are normalized again by the configured sources.
fn open_storage(config: &Config, progress: Arc<OpeningProgress>) -> anyhow::Result<Storage> {
    let reread = |raw: &RawDelivery<'_>| config.reread(raw);
    let config = &config.storage;
    Storage::open_reporting(config, progress, Some(&reread)).map_err(|err| match config.backend {
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
    config: Config,
    listener: &TcpListener,
    termination: &Termination,
) -> anyhow::Result<(Config, Option<Storage>)> {
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
    // The config goes to the opening thread and comes back: a rebuild of the views needs the
    // sources' normalizers.
    let mut opening = tokio::task::spawn_blocking(move || {
        let opened = open_storage(&config, progress);
        (config, opened)
    });
    let opened = tokio::select! {
        opened = &mut opening => Some(opened),
        () = termination.clone().asked() => None,
    };
    let (config, opened) = match opened {
        Some(joined) => {
            let (config, opened) = joined?;
            (config, Some(opened))
        }
        None => {
            tracing::info!("asked to stop while the store was opening; stopping once it is open");
            // Dropping what opened closes it, with a checkpoint.
            let (config, _closed) = opening.await?;
            (config, None)
        }
    };
    handle.stop(true).await;
    let _ = answering.await;
    Ok((config, opened.transpose()?))
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
    say_how_tree_heads_are_signed(&config);
    crate::sources::warn_about_replays_that_never_expire(&config.sources);
    let listener = TcpListener::bind(config.server.listen)
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", config.server.listen))?;
    let termination = Termination::listen();
    let (config, storage) = open_while_answering(config, &listener, &termination).await?;
    let Some(storage) = storage else {
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

/// Tree heads are the log's evidence for outsiders; a gateway without a key still works, and
/// says once that its heads cannot be checked by anyone else.
fn say_how_tree_heads_are_signed(config: &Config) {
    match &config.trust.signing_key {
        Some(key) => {
            let public = key.public();
            tracing::info!(public_key = %public.encoded(), key_id = %public.key_id(), "tree heads are signed with this key");
        }
        None => tracing::warn!(
            "no [trust] signing_key: tree heads are not signed, so no one outside can check the log \
             (`hooktrail keygen` makes a key)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// Stands for a store: dropping it takes a while (a last checkpoint), and says when done.
    struct SlowToClose(Arc<AtomicBool>);

    impl Drop for SlowToClose {
        fn drop(&mut self) {
            std::thread::sleep(Duration::from_millis(50));
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn the_last_handle_is_waited_for_and_dropped_here_before_returning() {
        let closed = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(SlowToClose(closed.clone()));
        let late = shared.clone();
        // A worker that lets go a moment after it said it stopped.
        let worker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(late);
        });
        let alone = drop_when_last(shared, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(alone);
        assert!(
            closed.load(Ordering::SeqCst),
            "returned before the value was dropped"
        );
        worker.join().unwrap();
    }

    #[tokio::test]
    async fn a_handle_held_past_patience_is_reported_and_left_to_its_holder() {
        let closed = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(SlowToClose(closed.clone()));
        let kept = shared.clone();
        let alone = drop_when_last(shared, Duration::from_millis(20))
            .await
            .unwrap();
        assert!(!alone);
        assert!(!closed.load(Ordering::SeqCst));
        drop(kept);
        assert!(closed.load(Ordering::SeqCst));
    }
}
