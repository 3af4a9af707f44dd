//! The fuzz harnesses, shared by the libFuzzer targets (`fuzz_targets/`) and by the corpus
//! replay test (`tests/corpora.rs`), which runs every saved input as a plain test where no
//! fuzzing build is possible.
//!
//! Input format for a source: header lines (`name: value`), an empty line, then the body. Input
//! without an empty line is all body. Seeds in `corpus/<target>/` are written that way, so
//! they stay readable.

use std::path::Path;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use hooktrail::activity::catalog::{self, CatalogContext};
use hooktrail::config::Config;
use hooktrail::sources::{RawDelivery, resend};

/// Every target runs at one fixed "now", so a seed replays the same way on any day.
pub const NOW: i64 = 1_772_700_000;

/// The targets that are not a source kind: Resend's event normalizer, the event catalog, the
/// config parser.
pub const OTHER_TARGETS: [&str; 3] = ["resend", "catalog", "config"];

/// Every target, as named under `fuzz_targets/` and `corpus/`: one per source kind in the
/// gateway's table of kinds (`-` written `_`), then the others. A kind added to the table
/// without its fuzz target fails `every_target_has_its_fuzz_target_and_seeds`.
pub fn targets() -> Vec<String> {
    hooktrail::sources::KINDS
        .iter()
        .map(|kind| kind.name().replace('-', "_"))
        .chain(OTHER_TARGETS.iter().map(|target| (*target).to_owned()))
        .collect()
}

/// Runs one input through the harness of `target`.
pub fn run(target: &str, data: &[u8]) {
    match target {
        "resend" => resend(data),
        "catalog" => catalog(data),
        "config" => config(data),
        source_target => source(&source_target.replace('_', "-"), data),
    }
}

/// One source of each kind, named after its kind (the providers' from the integration tests'
/// fixture); `hmac` signs a timestamp and an id.
fn sources() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let text = format!(
            r#"
[server]
listen = "127.0.0.1:0"
[storage]
path = "unused.redb"
[[sources]]
name = "standard-webhooks"
kind = "standard-webhooks"
secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
{providers}
[[sources]]
name = "hmac"
kind = "hmac"
secrets = ["fuzz-secret"]
header = "X-Signature"
algorithm = "sha256"
encoding = "hex"
prefix = "sha256="
signed_content = "{{id}}.{{timestamp}}.{{body}}"
timestamp_header = "X-Timestamp"
id_header = "X-Delivery-Id"
"#,
            providers = include_str!("../../tests/fixtures/provider_sources.toml"),
        );
        Config::from_toml(&text, Path::new("fuzz.toml"), Vec::new())
            .expect("the fuzzing config is valid")
    })
}

/// Header lines, then an empty line, then the body.
pub fn split(data: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    let Some(end) = data.windows(2).position(|pair| pair == b"\n\n") else {
        return (Vec::new(), data);
    };
    let headers = String::from_utf8_lossy(&data[..end])
        .lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            Some((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect();
    (headers, &data[end + 2..])
}

fn received_at() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).unwrap_or_default()
}

/// A source's verifier and normalizer:
/// - verifying arbitrary headers and body answers, and never panics;
/// - the same body, signed as the provider would, verifies (signer and verifier agree on any
///   bytes);
/// - normalizing is total and deterministic, as `hooktrail reindex` relies on.
pub fn source(name: &str, data: &[u8]) {
    let Some(source) = sources().source(name) else {
        panic!("no fuzzing source named {name}");
    };
    let (headers, body) = split(data);
    let _ = source.verify(&headers, body, NOW);

    // Mailgun's signer needs a JSON object to put its signature block in; others sign anything.
    if let Ok(signed) = source.sign(body, NOW, None) {
        assert!(
            source.verify(&signed.headers, &signed.body, NOW).is_ok(),
            "{name}: a body signed by its own signer did not verify"
        );
    }

    let delivery = RawDelivery {
        source: name,
        received_at: received_at(),
        headers: &headers,
        body,
    };
    let first = source.normalize(&delivery);
    assert_eq!(
        first,
        source.normalize(&delivery),
        "{name}: normalizing twice differed"
    );
}

/// Resend's email events, straight into their normalizer.
pub fn resend(data: &[u8]) {
    let first = resend::normalize_event(data, Some("msg_fuzz"), received_at());
    assert_eq!(
        first,
        resend::normalize_event(data, Some("msg_fuzz"), received_at())
    );
}

/// The event catalog, straight into its normalizer.
pub fn catalog(data: &[u8]) {
    let context = CatalogContext {
        source: "fuzz",
        event_id: Some("msg_fuzz"),
        fallback_time: received_at(),
    };
    let first = catalog::normalize(data, &context);
    assert_eq!(first, catalog::normalize(data, &context));
}

/// `Config::from_toml`: TOML text, then optionally a NUL byte and `HOOKTRAIL_…=value` lines as
/// the environment. Must answer `Ok` or an error, never panic.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (toml, env) = text.split_once('\0').unwrap_or((text, ""));
    let env: Vec<(String, String)> = env
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            Some((key.to_owned(), value.to_owned()))
        })
        .collect();
    let _ = Config::from_toml(toml, Path::new("fuzz.toml"), env);
}
