//! Throwaway databases on a PostgreSQL server, for the contract suite, the multi-gateway tests
//! and `hooktrail-bench`: each gets its own, dropped when done.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio_postgres::NoTls;

use crate::config::DatabaseUrl;
use crate::store::StoreError;

/// The server scratch databases are made on, unless `HOOKTRAIL_TEST_DATABASE_URL` names
/// another (its database is only used to connect: `postgres` exists on every server).
pub const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database that exists until this is dropped.
pub struct ScratchDatabase {
    server: DatabaseUrl,
    name: String,
    url: DatabaseUrl,
}

impl ScratchDatabase {
    /// Creates an empty database with a fresh name (`hooktrail_scratch_…`).
    pub fn create(purpose: &str) -> Result<ScratchDatabase, StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let server = server()?;
        let name = format!(
            "hooktrail_scratch_{purpose}_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            chrono::Utc::now().timestamp_micros() % 1_000_000_000
        );
        admin(&server, format!("CREATE DATABASE {name}"))?;
        let url = server.with_database(&name);
        Ok(ScratchDatabase { server, name, url })
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Runs SQL on this database (statements separated by `;`), from a thread of its own.
    pub fn execute(&self, sql: &str) -> Result<(), StoreError> {
        admin(&self.url, sql.to_owned())
    }

    /// An outage drill: refuses new connections and ends the open ones (`false`), or lets
    /// clients connect again (`true`).
    pub fn set_reachable(&self, reachable: bool) -> Result<(), StoreError> {
        admin(
            &self.server,
            format!("ALTER DATABASE {} ALLOW_CONNECTIONS {reachable}", self.name),
        )?;
        if !reachable {
            admin(
                &self.server,
                format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = '{}' AND pid <> pg_backend_pid()",
                    self.name
                ),
            )?;
        }
        Ok(())
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        // FORCE ends the connections a test left open (a killed gateway's, say).
        let dropped = admin(
            &self.server,
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
        if let Err(err) = dropped {
            eprintln!("could not drop scratch database {}: {err}", self.name);
        }
    }
}

fn server() -> Result<DatabaseUrl, StoreError> {
    let url =
        std::env::var("HOOKTRAIL_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_SERVER.to_owned());
    DatabaseUrl::parse(&url)
        .map_err(|err| StoreError::Unavailable(format!("HOOKTRAIL_TEST_DATABASE_URL {err}")))
}

/// Runs SQL on the database `url` names, from a thread of its own (callers may be inside a
/// runtime).
fn admin(server: &DatabaseUrl, sql: String) -> Result<(), StoreError> {
    let config = server.connect_config().clone();
    let shown = server.to_string();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| StoreError::Unavailable(err.to_string()))?;
        runtime.block_on(async move {
            let (client, connection) = config.connect(NoTls).await.map_err(|err| {
                StoreError::Unavailable(format!("no PostgreSQL server at {shown}: {err}"))
            })?;
            let driver = tokio::spawn(connection);
            client.batch_execute(&sql).await?;
            drop(client);
            let _ = driver.await;
            Ok(())
        })
    })
    .join()
    .unwrap_or_else(|_| Err(StoreError::Unavailable("the admin thread panicked".into())))
}
