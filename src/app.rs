//! Building and running the gateway: open the store, start the writer, serve HTTP, and on
//! SIGTERM/SIGINT stop accepting, let requests in flight finish, commit what is queued, exit.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::middleware::ErrorHandlers;
use actix_web::{App, HttpServer, web};

use crate::config::Config;
use crate::http::page_error::{no_such_route, render_error_pages};
use crate::http::session::SessionCodec;
use crate::http::throttle::LoginThrottle;
use crate::http::{self, AppState};
use crate::render::{Origin, Renderer};
use crate::store::Store;
use crate::store::redb::RedbStore;
use crate::store::writer::{Writer, WriterConfig};

/// A running gateway: its address, and what it takes to stop it cleanly.
pub struct Gateway {
    pub addr: SocketAddr,
    server: ServerHandle,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
    writer: Writer,
}

impl Gateway {
    /// Opens the store named in `config` and serves on `listener`.
    pub fn start(config: Config, listener: TcpListener) -> anyhow::Result<Gateway> {
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(&config.storage.path)?);
        Gateway::start_with_store(config, store, listener)
    }

    pub fn start_with_store(
        config: Config,
        store: Arc<dyn Store>,
        listener: TcpListener,
    ) -> anyhow::Result<Gateway> {
        let addr = listener.local_addr()?;
        let writer_config = WriterConfig {
            queue_capacity: config.storage.queue_capacity,
            max_batch: config.storage.max_batch,
        };
        let (writer, handle) = Writer::spawn(store.clone(), writer_config, |report| {
            tracing::trace!(
                size = report.size,
                commit_ms = report.commit.as_secs_f64() * 1e3,
                ok = report.ok,
                "batch committed"
            );
        })?;
        let origin = Origin::for_this_build();
        if let Origin::Disk(root) = &origin {
            tracing::info!(root = %root.display(), "templates and static files are read from disk on every request");
        }
        let renderer = Renderer::new(origin)?;
        let sessions = SessionCodec::from_config(&config.auth)?;
        let config = Arc::new(config);
        let state = web::Data::new(AppState {
            config: config.clone(),
            store,
            writer: handle,
            renderer,
            sessions,
            login_throttle: LoginThrottle::default(),
        });
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .configure(http::routes)
                .default_service(web::to(no_such_route))
                .wrap(ErrorHandlers::new().default_handler(render_error_pages))
                .wrap(http::security::headers())
        })
        .shutdown_timeout(config.server.shutdown_timeout_secs)
        .client_request_timeout(Duration::from_secs(10))
        .listen(listener)?;
        if config.server.workers > 0 {
            server = server.workers(config.server.workers);
        }
        let server = server.run();
        let handle = server.handle();
        let serving = tokio::spawn(server);
        Ok(Gateway {
            addr,
            server: handle,
            serving,
            writer,
        })
    }

    /// Runs until the server stops (SIGTERM/SIGINT, or [`Gateway::stop`]), then shuts down.
    pub async fn wait(self) -> anyhow::Result<()> {
        let served = self.serving.await;
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

/// `hooktrail serve`.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    warn_about_development_secrets(&config);
    let listener = TcpListener::bind(config.server.listen)
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", config.server.listen))?;
    let gateway = Gateway::start(config, listener)?;
    tracing::info!(addr = %gateway.addr, "hooktrail listening on http://{}", gateway.addr);
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
