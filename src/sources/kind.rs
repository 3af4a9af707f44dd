//! One table of source kinds. Each provider's file implements [`Kind`] for its source and
//! registers it in [`KINDS`] with its name and how its `[[sources]]` settings build it; the
//! gateway, the config and the command line go through the table and nothing else. A new
//! provider is one new file and one line here, plus its fuzz target (see "Adding a provider"
//! in docs/architecture.md).

use serde::de::DeserializeOwned;

use super::{
    Headers, RawDelivery, Rejection, ReplayKey, Signed, Verified, hmac, mailgun, postmark,
    quickbooks, sendgrid, standard_webhooks, stripe, xero,
};
use crate::activity::Normalized;

/// What a configured source of one kind does.
pub trait Kind: Send + Sync {
    /// What every source of this kind shares, whatever its settings.
    fn profile(&self) -> &'static Profile;

    /// Checks the delivery's signature over the exact raw bytes, at `now` (Unix seconds).
    fn verify(&self, headers: &dyn Headers, body: &[u8], now: i64) -> Result<Verified, Rejection>;

    /// The delivery's entries: total and deterministic (reindex relies on it).
    fn normalize(&self, delivery: &RawDelivery<'_>) -> Normalized {
        (self.profile().normalize)(delivery)
    }

    /// Signs `body` as the provider would at `now`: for `hooktrail send`, the demo, the
    /// benchmark and the tests. `signing_key` is for schemes that sign with a private key.
    /// Kinds whose signature travels in headers alone give [`Kind::signing_headers`]; the
    /// others (Mailgun signs inside the body, SendGrid with a private key) implement this.
    fn sign(&self, body: &[u8], now: i64, _signing_key: Option<&str>) -> Result<Signed, String> {
        self.signing_headers(body, now)
            .map(|headers| with_headers(headers, body))
            .ok_or_else(|| {
                format!(
                    "a {} delivery is not signed in headers",
                    self.profile().name
                )
            })
    }

    /// The headers that sign `body` at `now`, for kinds whose signature travels in headers
    /// alone; `None` for the kinds that sign otherwise.
    fn signing_headers(&self, _body: &[u8], _now: i64) -> Option<Vec<(String, String)>> {
        None
    }

    /// Signs `body` as a retry of delivery `id` would be signed (`send --id`), or says where
    /// this kind's delivery ids live instead.
    fn sign_with_id(&self, body: &[u8], now: i64, id: &str) -> Result<Signed, String>;

    /// The request headers kept with each delivery: what the normalizer reads, and what would
    /// let someone re-check the signature later.
    fn captured_headers(&self) -> Vec<String> {
        let names = self.profile().captured_headers;
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    /// The replay key verification gives a logged delivery, worked out again from it.
    fn replay_key(&self, _delivery: &RawDelivery<'_>) -> Option<ReplayKey> {
        None
    }

    /// Whether a captured delivery stays valid for good (see
    /// [`super::Source::replays_never_expire`]).
    fn replays_never_expire(&self) -> bool {
        false
    }

    /// Whether every answer must have an empty body (Xero's rule).
    fn wants_empty_responses(&self) -> bool {
        false
    }
}

/// What every source of a kind shares. [`Kind::normalize`] and [`Kind::captured_headers`]
/// are these unless a kind's settings change them (`hmac`'s configured headers do).
pub struct Profile {
    /// Its `kind = "…"` in the config.
    pub name: &'static str,
    /// The request headers kept with each delivery.
    pub captured_headers: &'static [&'static str],
    /// The delivery's entries.
    pub normalize: fn(&RawDelivery<'_>) -> Normalized,
}

/// A kind's entry in [`KINDS`].
pub struct Registration {
    pub profile: &'static Profile,
    /// Builds a source from its `[[sources]]` table (without `name` and `kind`).
    pub build: fn(toml::Table) -> Result<Box<dyn Kind>, SettingsError>,
}

impl Profile {
    pub const fn new(
        name: &'static str,
        captured_headers: &'static [&'static str],
        normalize: fn(&RawDelivery<'_>) -> Normalized,
    ) -> Profile {
        Profile {
            name,
            captured_headers,
            normalize,
        }
    }
}

impl Registration {
    pub const fn new(
        profile: &'static Profile,
        build: fn(toml::Table) -> Result<Box<dyn Kind>, SettingsError>,
    ) -> Registration {
        Registration { profile, build }
    }

    /// Its `kind = "…"` in the config.
    pub fn name(&self) -> &'static str {
        self.profile.name
    }
}

/// Every kind the gateway knows.
pub const KINDS: &[Registration] = &[
    standard_webhooks::REGISTRATION,
    quickbooks::REGISTRATION,
    xero::REGISTRATION,
    stripe::REGISTRATION,
    sendgrid::REGISTRATION,
    mailgun::REGISTRATION,
    postmark::REGISTRATION,
    hmac::REGISTRATION,
];

/// The registration of `name`, if it is a kind.
pub fn registration(name: &str) -> Option<&'static Registration> {
    KINDS.iter().find(|kind| kind.name() == name)
}

/// Why a source's settings were refused: the key (a path within the table; `None` for the
/// table as a whole) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    pub path: Option<String>,
    pub message: String,
}

/// Reads a table as a kind's settings `S`, then lets the kind check them (`from_settings`).
pub fn build<S: DeserializeOwned, K: Kind + 'static>(
    table: toml::Table,
    from_settings: fn(S) -> Result<K, String>,
) -> Result<Box<dyn Kind>, SettingsError> {
    let settings: S =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|err| {
            let path = err.path().to_string();
            SettingsError {
                path: (path != ".").then_some(path),
                message: err.inner().to_string(),
            }
        })?;
    let kind = from_settings(settings).map_err(|message| SettingsError {
        path: None,
        message,
    })?;
    Ok(Box::new(kind))
}

/// The headers of a request signed as `headers` describe, with the body unchanged.
pub fn with_headers(headers: Vec<(String, String)>, body: &[u8]) -> Signed {
    Signed {
        headers,
        body: body.to_vec(),
    }
}

/// What `send --id` says of a kind whose delivery ids travel in the body.
pub fn id_in_body(kind: &str, field: &str) -> String {
    format!(
        "a {kind} delivery carries its id in the body ({field}), so --id cannot set it: send \
         the same file again to send a duplicate"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_registered_once_under_its_name() {
        let mut names: Vec<&str> = KINDS.iter().map(Registration::name).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a kind registered twice");
        assert!(registration("quickbooks").is_some());
        assert!(registration("carrier-pigeon").is_none());
    }
}
