//! The configuration: one typed struct, read from TOML (`config/hooktrail.toml` by default),
//! with `HOOKTRAIL_…` environment overrides. Unknown keys, missing secrets and bad values stop
//! startup with an error that names the key.
//!
//! Overrides use `__` between path segments; arrays of tables are addressed by their item's
//! name: `HOOKTRAIL_SERVER__LISTEN=0.0.0.0:8080`, `HOOKTRAIL_STORAGE__PATH=/var/lib/hooktrail.redb`,
//! `HOOKTRAIL_SOURCES__HOOPS__SECRETS=whsec_a,whsec_b`,
//! `HOOKTRAIL_AUTH__API_TOKENS__HOOPS_APP__TOKEN_SHA256=…`.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod alerts;
mod embed;
mod live;
pub mod storage;
mod trust;

pub use alerts::{AlertRule, AlertWhen, AlertingConfig, COUNTS_KEPT_FOR};
pub use embed::EmbedConfig;
pub use live::LiveConfig;
pub use storage::{Backend, DatabaseUrl, StorageConfig};
pub use trust::TrustConfig;

use crate::crypto::Secret;
use crate::password;
use crate::sources::kind::Registration;
use crate::sources::{KINDS, RawDelivery, Reread, Source, internal, sendgrid};

/// Every development secret in the committed config contains this marker (in the clear or
/// base64-encoded), so `serve` can tell when it runs with them.
pub const DEVELOPMENT_MARKER: &str = "development-only";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The OS error is the source, printed once by whoever prints the chain.
    #[error("cannot read the config file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config key `{key}`: {message}")]
    Key { key: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
}

fn key_error(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key: key.into(),
        message: message.into(),
    }
}

#[derive(Debug)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub display: DisplayConfig,
    pub metrics: MetricsConfig,
    pub sources: Vec<Source>,
    pub auth: AuthConfig,
    pub retention: RetentionConfig,
    pub live: LiveConfig,
    pub embed: EmbedConfig,
    pub alerts: Vec<AlertRule>,
    pub alerting: AlertingConfig,
    pub trust: TrustConfig,
    /// Which keys hold the committed development secrets (empty in production).
    pub development_secrets: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The largest webhook body accepted (413 above it).
    #[serde(default = "defaults::max_body_bytes")]
    pub max_body_bytes: NonZeroUsize,
    /// HTTP worker threads; 0 = one per core.
    #[serde(default)]
    pub workers: usize,
    /// How long a graceful shutdown waits for requests in flight.
    #[serde(default = "defaults::shutdown_timeout_secs")]
    pub shutdown_timeout_secs: u64,
    /// How long a client has to send its request headers, and again to send its body.
    #[serde(default = "defaults::read_timeout_secs")]
    pub read_timeout_secs: NonZeroU64,
    /// Body bytes intake may hold at once (reading, verifying, queued); 503 beyond.
    #[serde(default = "defaults::intake_buffer_bytes")]
    pub intake_buffer_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplayConfig {
    /// The IANA timezone pages show times in and group days by (`America/Chicago`).
    #[serde(default = "defaults::timezone", deserialize_with = "iana_timezone")]
    pub timezone: Tz,
    /// Memory for rendered timelines kept for reuse, in MiB (0 turns keeping them off).
    #[serde(default = "defaults::page_cache_mib")]
    pub page_cache_mib: u64,
}

impl Default for DisplayConfig {
    fn default() -> Self {
        DisplayConfig {
            timezone: defaults::timezone(),
            page_cache_mib: defaults::page_cache_mib(),
        }
    }
}

/// How long raw bodies are kept. Entries (the timelines) and the integrity chain are kept for
/// good; bodies are what re-normalizing needs and what holds most personal data.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Drop raw bodies older than this many days; absent = keep them forever.
    #[serde(default)]
    pub raw_bodies_days: Option<NonZeroU32>,
    /// How often the gateway prunes in the background.
    #[serde(default = "defaults::prune_interval_secs")]
    pub prune_interval_secs: NonZeroU64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            raw_bodies_days: None,
            prune_interval_secs: defaults::prune_interval_secs(),
        }
    }
}

/// `GET /metrics`: on the main listener by default, on its own address with `listen`, or off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    #[serde(default = "defaults::metrics_enabled")]
    pub enabled: bool,
    /// Serve `/metrics` here instead of on `server.listen` (a private interface, say).
    #[serde(default)]
    pub listen: Option<SocketAddr>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: defaults::metrics_enabled(),
            listen: None,
        }
    }
}

impl RetentionConfig {
    /// Bodies received before this are due for pruning, if retention is configured.
    pub fn cutoff(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        self.raw_bodies_days
            .map(|days| now - chrono::Duration::days(i64::from(days.get())))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default)]
    pub users: Vec<UserConfig>,
    #[serde(default)]
    pub api_tokens: Vec<ApiToken>,
    /// Signs staff session cookies. When absent, each process makes a random key, and
    /// sessions end when it restarts.
    #[serde(default, deserialize_with = "session_key")]
    pub session_key: Option<Secret>,
    /// Password checks that may run at once (each holds argon2's 19 MiB); further sign-ins
    /// are answered 429 at once. 0 = one per core, at most 8.
    #[serde(default)]
    pub max_password_checks: usize,
}

impl AuthConfig {
    pub fn user(&self, username: &str) -> Option<&UserConfig> {
        self.users.iter().find(|user| user.username == username)
    }
}

/// The shortest session key accepted: 32 bytes, the size of the HMAC-SHA256 key it becomes.
pub const MIN_SESSION_KEY_BYTES: usize = 32;

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub username: String,
    pub password_hash: String,
    #[serde(default)]
    pub role: Role,
}

/// What a user or token may do. Staff read timelines, search and the API; operators also see
/// and act on the gateway itself (`/admin`). Read from the config on every request, so a
/// changed role takes effect at once, in sessions already signed in too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    Staff,
    Operator,
}

impl std::fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserConfig")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A bearer token for the API, kept only as the sha256 of the token.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    pub name: String,
    #[serde(deserialize_with = "hex_sha256")]
    pub token_sha256: [u8; 32],
    #[serde(default)]
    pub role: Role,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn iana_timezone<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Tz, D::Error> {
    let name = String::deserialize(deserializer)?;
    name.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "unknown IANA timezone {name:?} (e.g. America/Chicago, Europe/London, UTC)"
        ))
    })
}

fn session_key<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Secret>, D::Error> {
    let key = String::deserialize(deserializer)?;
    if key.len() < MIN_SESSION_KEY_BYTES {
        return Err(serde::de::Error::custom(format!(
            "must be at least {MIN_SESSION_KEY_BYTES} characters (e.g. `openssl rand -base64 48`)"
        )));
    }
    Ok(Secret::new(key.into_bytes()))
}

fn hex_sha256<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
    let text = String::deserialize(deserializer)?;
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut hash).map_err(|_| {
        serde::de::Error::custom("expected 64 hex characters (the sha256 of the token)")
    })?;
    Ok(hash)
}

/// Defaults, with the zeros a key may not hold ruled out by their types: a capacity, a
/// batch, a limit or a timeout of nothing cannot be represented once the config is read.
mod defaults {
    use std::num::{NonZeroU64, NonZeroUsize};

    pub fn max_body_bytes() -> NonZeroUsize {
        NonZeroUsize::new(1024 * 1024).unwrap_or(NonZeroUsize::MIN)
    }
    pub fn shutdown_timeout_secs() -> u64 {
        10
    }
    pub fn read_timeout_secs() -> NonZeroU64 {
        NonZeroU64::new(10).unwrap_or(NonZeroU64::MIN)
    }
    pub fn intake_buffer_bytes() -> usize {
        64 * 1024 * 1024
    }
    pub fn metrics_enabled() -> bool {
        true
    }
    pub fn timezone() -> chrono_tz::Tz {
        chrono_tz::UTC
    }
    pub fn page_cache_mib() -> u64 {
        64
    }
    pub fn prune_interval_secs() -> NonZeroU64 {
        NonZeroU64::new(3600).unwrap_or(NonZeroU64::MIN)
    }
}

/// The file as written, before sources are built.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    server: ServerConfig,
    storage: StorageConfig,
    #[serde(default)]
    display: DisplayConfig,
    #[serde(default)]
    metrics: MetricsConfig,
    #[serde(default)]
    sources: Vec<toml::Table>,
    #[serde(default)]
    auth: AuthConfig,
    #[serde(default)]
    retention: RetentionConfig,
    #[serde(default)]
    live: LiveConfig,
    #[serde(default)]
    embed: EmbedConfig,
    #[serde(default)]
    alerts: Vec<alerts::RawAlert>,
    #[serde(default)]
    alerting: AlertingConfig,
    #[serde(default)]
    trust: TrustConfig,
}

impl Config {
    /// Reads `path`, applies the process environment's overrides, and validates everything.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text, path, std::env::vars())
    }

    /// Parses TOML text with the given environment (injectable for tests).
    pub fn from_toml(
        text: &str,
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|err: toml::de::Error| ConfigError::Syntax {
                    path: path.to_owned(),
                    message: err.to_string(),
                })?;
        apply_env(&mut table, env)?;
        let raw: RawConfig = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|err| key_error(err.path().to_string(), err.inner().to_string()))?;
        let mut development_secrets = Vec::new();
        let sources = build_sources(raw.sources, &mut development_secrets)?;
        validate_auth(&raw.auth, &mut development_secrets)?;
        if let Some(secret) = &raw.embed.secret
            && is_development_secret(&String::from_utf8_lossy(secret.expose()))
        {
            development_secrets.push("embed.secret".to_owned());
        }
        if raw.storage.backend == Backend::Postgres && raw.storage.url.is_none() {
            return Err(key_error(
                "storage.url",
                "is required with backend = \"postgres\"",
            ));
        }
        if raw.storage.pool_size < 2 {
            return Err(key_error(
                "storage.pool_size",
                "must be at least 2 (one for the writer, one for reads)",
            ));
        }
        if raw.server.intake_buffer_bytes < raw.server.max_body_bytes.get() {
            return Err(key_error(
                "server.intake_buffer_bytes",
                "must be at least server.max_body_bytes (or no body that size could be taken)",
            ));
        }
        let source_names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        let alerts = alerts::build(raw.alerts, &source_names)
            .map_err(|(key, message)| key_error(key, message))?;
        Ok(Config {
            server: raw.server,
            storage: raw.storage,
            display: raw.display,
            metrics: raw.metrics,
            sources,
            auth: raw.auth,
            retention: raw.retention,
            live: raw.live,
            embed: raw.embed,
            alerts,
            alerting: raw.alerting,
            trust: raw.trust,
            development_secrets,
        })
    }

    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|source| source.name == name)
    }

    /// A logged delivery read again by today's normalizers (for `reindex` and
    /// re-normalization): by its configured source, or as an internal record; `None` when its
    /// source is gone (its entries are then kept as they are).
    pub fn reread(&self, delivery: &RawDelivery<'_>) -> Option<Reread> {
        match self.source(delivery.source) {
            Some(source) => Some(source.reread(delivery)),
            None if delivery.source == internal::SOURCE => {
                Some(internal::normalize(delivery).into())
            }
            None => None,
        }
    }
}

fn build_sources(raw: Vec<toml::Table>, dev: &mut Vec<String>) -> Result<Vec<Source>, ConfigError> {
    let mut sources: Vec<Source> = Vec::with_capacity(raw.len());
    for (index, mut table) in raw.into_iter().enumerate() {
        let at = format!("sources[{index}]");
        let name = take_string(&mut table, "name")
            .ok_or_else(|| key_error(format!("{at}.name"), "missing"))?;
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid_name {
            return Err(key_error(
                format!("{at}.name"),
                "use 1–64 of a-z, 0-9, - and _ (it is a URL path segment)",
            ));
        }
        if name == crate::sources::internal::SOURCE {
            return Err(key_error(
                format!("{at}.name"),
                format!("{name:?} is reserved for Hooktrail's own records"),
            ));
        }
        if sources.iter().any(|s| s.name == name) {
            return Err(key_error(
                format!("{at}.name"),
                format!("{name:?} is used twice"),
            ));
        }
        let at = format!("sources[{index}] ({name})");
        let kind = take_string(&mut table, "kind")
            .ok_or_else(|| key_error(format!("{at}.kind"), "missing"))?;
        if let Some(secrets) = table.get("secrets").and_then(toml::Value::as_array) {
            for (i, secret) in secrets.iter().enumerate() {
                if secret.as_str().is_some_and(is_development_secret) {
                    dev.push(format!("{at}.secrets[{i}]"));
                }
            }
        }
        if table
            .get("password")
            .and_then(toml::Value::as_str)
            .is_some_and(is_development_secret)
        {
            dev.push(format!("{at}.password"));
        }
        if table.get("public_key").and_then(toml::Value::as_str) == Some(sendgrid::TEST_PUBLIC_KEY)
        {
            dev.push(format!("{at}.public_key (SendGrid's published test key)"));
        }
        let Some(registration) = crate::sources::kind::registration(&kind) else {
            let known: Vec<&str> = KINDS.iter().map(Registration::name).collect();
            return Err(key_error(
                format!("{at}.kind"),
                format!("unknown source kind {kind:?} (known: {})", known.join(", ")),
            ));
        };
        let built = (registration.build)(table).map_err(|err| match err.path {
            Some(path) => key_error(format!("{at}.{path}"), err.message),
            None => key_error(at.clone(), err.message),
        })?;
        sources.push(Source::new(name, built));
    }
    Ok(sources)
}

fn validate_auth(auth: &AuthConfig, dev: &mut Vec<String>) -> Result<(), ConfigError> {
    let development_token = sha256(format!("{DEVELOPMENT_MARKER}-api-token").as_bytes());
    for (index, token) in auth.api_tokens.iter().enumerate() {
        if token.name.trim().is_empty() {
            return Err(key_error(
                format!("auth.api_tokens[{index}].name"),
                "missing",
            ));
        }
        if token.token_sha256 == development_token {
            dev.push(format!("auth.api_tokens[{index}] ({})", token.name));
        }
    }
    for (index, user) in auth.users.iter().enumerate() {
        if user.username.trim().is_empty() {
            return Err(key_error(
                format!("auth.users[{index}].username"),
                "missing",
            ));
        }
        if auth.users[..index]
            .iter()
            .any(|other| other.username == user.username)
        {
            return Err(key_error(
                format!("auth.users[{index}].username"),
                format!("{:?} is used twice", user.username),
            ));
        }
        if !password::is_argon2id(&user.password_hash) {
            return Err(key_error(
                format!("auth.users[{index}].password_hash"),
                "expected an argon2id hash (hooktrail hash-password)",
            ));
        }
        if password::verify(password::DEVELOPMENT_PASSWORD, &user.password_hash) {
            dev.push(format!("auth.users[{index}] ({})", user.username));
        }
    }
    if let Some(key) = &auth.session_key
        && is_development_secret(&String::from_utf8_lossy(key.expose()))
    {
        dev.push("auth.session_key".to_owned());
    }
    Ok(())
}

/// The bearer token that matches the committed development config's token hash.
pub fn development_api_token() -> String {
    format!("{DEVELOPMENT_MARKER}-api-token")
}

fn is_development_secret(secret: &str) -> bool {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    secret.contains(DEVELOPMENT_MARKER)
        || STANDARD.decode(encoded).is_ok_and(|bytes| {
            bytes
                .windows(DEVELOPMENT_MARKER.len())
                .any(|w| w == DEVELOPMENT_MARKER.as_bytes())
        })
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn take_string(table: &mut toml::Table, key: &str) -> Option<String> {
    match table.remove(key)? {
        toml::Value::String(text) => Some(text),
        _ => None,
    }
}

/// The config's sections that are tables (not lists of items, which need a name to address).
const SECTIONS: [&str; 10] = [
    "server",
    "storage",
    "display",
    "metrics",
    "auth",
    "retention",
    "live",
    "embed",
    "alerting",
    "trust",
];

/// Applies `HOOKTRAIL_A__B__C=value` overrides onto the parsed file.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let mut overrides: Vec<(String, String)> = env
        .into_iter()
        .filter(|(var, _)| var.starts_with("HOOKTRAIL_") && var.contains("__"))
        .collect();
    overrides.sort();
    for (var, raw) in overrides {
        let path: Vec<String> = var["HOOKTRAIL_".len()..]
            .split("__")
            .map(|s| s.to_ascii_lowercase())
            .collect();
        let env_error = |message: &str| ConfigError::Env {
            var: var.clone(),
            message: message.to_owned(),
        };
        // A section the file leaves out (all its keys have defaults, or it is optional, like
        // `[trust]` with its key kept out of the file) can still be given from the
        // environment; a key it does not have is refused by the section's own parsing.
        if let [section, _, ..] = path.as_slice()
            && SECTIONS.contains(&section.as_str())
            && !table.contains_key(section)
        {
            table.insert(section.clone(), toml::Value::Table(toml::Table::new()));
        }
        let slot = locate(table, &path)
            .ok_or_else(|| env_error("names no section or item of the config"))?;
        let (target, key) = slot;
        let existing_is_array = target.get(&key).is_some_and(toml::Value::is_array);
        target.insert(key, parse_env_value(&raw, existing_is_array));
    }
    Ok(())
}

/// The table that holds the last path segment: `server.listen` → (`[server]`, `listen`);
/// `sources.hoops.secrets` → (the `[[sources]]` item named hoops, `secrets`).
fn locate<'t>(
    table: &'t mut toml::Table,
    path: &[String],
) -> Option<(&'t mut toml::Table, String)> {
    let (key, parents) = path.split_last()?;
    let mut current = table;
    let mut segments = parents.iter();
    while let Some(segment) = segments.next() {
        current = match current.get_mut(segment)? {
            toml::Value::Table(inner) => inner,
            toml::Value::Array(items) => {
                let item_name = segments.next()?;
                items
                    .iter_mut()
                    .filter_map(toml::Value::as_table_mut)
                    .find(|item| {
                        ["name", "username"].iter().any(|field| {
                            item.get(*field)
                                .and_then(toml::Value::as_str)
                                .is_some_and(|name| {
                                    name.to_ascii_lowercase().replace('-', "_") == *item_name
                                })
                        })
                    })?
            }
            _ => return None,
        };
    }
    Some((current, key.clone()))
}

fn parse_env_value(raw: &str, comma_list: bool) -> toml::Value {
    if let Ok(mut parsed) = format!("v = {raw}").parse::<toml::Table>()
        && let Some(value) = parsed.remove("v")
        && (!comma_list || value.is_array())
    {
        return value;
    }
    if comma_list {
        return toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        );
    }
    toml::Value::String(raw.to_owned())
}

#[cfg(test)]
mod tests;
