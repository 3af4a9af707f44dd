//! `[storage]`: which backend holds the log, and where.

use std::fmt;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default)]
    pub backend: Backend,
    /// The redb file (embedded backend).
    #[serde(default = "default_path")]
    pub path: PathBuf,
    /// The PostgreSQL database (`backend = "postgres"`); several gateways may share it.
    #[serde(default)]
    pub url: Option<DatabaseUrl>,
    /// Connections each gateway keeps to PostgreSQL (the writer takes one per commit; reads
    /// take the rest).
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// Captures that may wait for the writer before intake answers 503.
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: NonZeroUsize,
    /// The most deliveries one commit takes (1 = commit per request).
    #[serde(default = "default_max_batch")]
    pub max_batch: NonZeroUsize,
    /// Where a running gateway writes backups asked of it (default: `backups/` beside the
    /// store file).
    #[serde(default)]
    pub backup_dir: Option<PathBuf>,
    /// The embedded store makes its commits durable at a checkpoint at least this often while
    /// deliveries arrive; until then its journal holds them (see docs/architecture.md). A
    /// start after a crash replays at most this much.
    #[serde(default = "default_checkpoint_secs")]
    pub checkpoint_secs: NonZeroU64,
    /// ... and at least every this many deliveries.
    #[serde(default = "default_checkpoint_deliveries")]
    pub checkpoint_deliveries: NonZeroUsize,
    /// The embedded store's cache of file pages, in MiB: most of the gateway's memory. It
    /// holds pages read and, up to half of it, pages committed since the last checkpoint
    /// (the rest go to the file early, unsynced). Pages it misses come from the operating
    /// system's page cache.
    #[serde(default = "default_cache_mib")]
    pub cache_mib: NonZeroUsize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// One redb file, owned by one gateway.
    #[default]
    Redb,
    /// One PostgreSQL database, shared by any number of gateways.
    Postgres,
}

impl StorageConfig {
    /// How the embedded store is opened.
    #[cfg(feature = "gateway")]
    pub fn redb_settings(&self) -> crate::store::redb::RedbSettings {
        crate::store::redb::RedbSettings {
            checkpoints: crate::store::redb::Checkpoints {
                every: std::time::Duration::from_secs(self.checkpoint_secs.get()),
                deliveries: self.checkpoint_deliveries.get(),
            },
            cache_bytes: self.cache_mib.get().saturating_mul(1 << 20),
        }
    }

    pub fn backup_folder(&self) -> PathBuf {
        self.backup_dir.clone().unwrap_or_else(|| {
            let parent = self
                .path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            parent.join("backups")
        })
    }
}

fn default_path() -> PathBuf {
    PathBuf::from("data/hooktrail.redb")
}

/// A checkpoint every 5 s or 20,000 deliveries: a restart after a crash replays a few
/// seconds of intake, and a checkpoint writes each busy job's pages once per interval.
pub const DEFAULT_CHECKPOINT_SECS: u64 = 5;
pub const DEFAULT_CHECKPOINT_DELIVERIES: usize = 20_000;

/// See `cache_mib`, and docs/architecture.md for how it was chosen.
pub const DEFAULT_CACHE_MIB: usize = 32;

fn default_cache_mib() -> NonZeroUsize {
    NonZeroUsize::new(DEFAULT_CACHE_MIB).unwrap_or(NonZeroUsize::MIN)
}

fn default_checkpoint_secs() -> NonZeroU64 {
    NonZeroU64::new(DEFAULT_CHECKPOINT_SECS).unwrap_or(NonZeroU64::MIN)
}

fn default_checkpoint_deliveries() -> NonZeroUsize {
    NonZeroUsize::new(DEFAULT_CHECKPOINT_DELIVERIES).unwrap_or(NonZeroUsize::MIN)
}

fn default_pool_size() -> usize {
    16
}

fn default_queue_capacity() -> NonZeroUsize {
    NonZeroUsize::new(4096).unwrap_or(NonZeroUsize::MIN)
}

fn default_max_batch() -> NonZeroUsize {
    NonZeroUsize::new(1024).unwrap_or(NonZeroUsize::MIN)
}

/// A `postgres://` url, checked when the config is read. It may carry a password, so it
/// never shows itself: `Debug` and `Display` print it with the password masked, and every
/// error about it names the key, not the value.
#[derive(Clone)]
pub struct DatabaseUrl {
    url: String,
    config: tokio_postgres::Config,
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<DatabaseUrl, String> {
        let config: tokio_postgres::Config = url.parse().map_err(|_| {
            "is not a PostgreSQL connection url (postgres://user@host/database)".to_owned()
        })?;
        if config.get_dbname().is_none() {
            return Err("names no database (postgres://user@host/database)".to_owned());
        }
        Ok(DatabaseUrl {
            url: url.to_owned(),
            config,
        })
    }

    /// The client configuration, password included: for connecting, never for printing.
    pub fn connect_config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// The same server and credentials, another database (the tests make one each).
    pub fn with_database(&self, name: &str) -> DatabaseUrl {
        let mut config = self.config.clone();
        config.dbname(name);
        let url = match self.url.rsplit_once('/') {
            Some((server, rest)) if !server.ends_with('/') => {
                let query = rest.split_once('?').map(|(_, q)| format!("?{q}"));
                format!("{server}/{name}{}", query.unwrap_or_default())
            }
            _ => format!("{}/{name}", self.url.trim_end_matches('/')),
        };
        DatabaseUrl { url, config }
    }

    /// The url with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        if self.config.get_password().is_none() {
            return self.url.clone();
        }
        // postgres://user:secret@host/db → postgres://user:***@host/db; key=value form masks
        // the password's value.
        if let Some((scheme, rest)) = self.url.split_once("://")
            && let Some((credentials, server)) = rest.rsplit_once('@')
        {
            let user = credentials.split_once(':').map_or(credentials, |(u, _)| u);
            return format!("{scheme}://{user}:***@{server}");
        }
        self.url
            .split_whitespace()
            .map(|pair| match pair.split_once('=') {
                Some(("password", _)) => "password=***".to_owned(),
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

/// The config is read from a parsed TOML value, so a refusal carries only this message and the
/// key's path (`storage.url: …`), never the text of the url.
impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        DatabaseUrl::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_shows() {
        let url = DatabaseUrl::parse("postgres://app:s3cret@db.internal:5432/hooktrail").unwrap();
        for shown in [format!("{url}"), format!("{url:?}"), url.redacted()] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("db.internal:5432/hooktrail"), "{shown}");
        }
        let url = DatabaseUrl::parse("host=db user=app password=s3cret dbname=h").unwrap();
        assert!(!url.to_string().contains("s3cret"));
        let plain = DatabaseUrl::parse("postgres://app@db/hooktrail").unwrap();
        assert_eq!(plain.to_string(), "postgres://app@db/hooktrail");
    }

    #[test]
    fn a_bad_url_is_refused_without_echoing_it() {
        let err = DatabaseUrl::parse("postgres://app:s3cret@db:notaport/x").unwrap_err();
        assert!(!err.contains("s3cret"));
        assert!(DatabaseUrl::parse("postgres://app@db").is_err());
    }

    #[test]
    fn another_database_on_the_same_server() {
        let url = DatabaseUrl::parse("postgres://postgres@127.0.0.1:5432/postgres").unwrap();
        let other = url.with_database("t_1");
        assert_eq!(other.to_string(), "postgres://postgres@127.0.0.1:5432/t_1");
        assert_eq!(other.connect_config().get_dbname(), Some("t_1"));
    }
}
