//! The intake workload of the benchmarks — `hooktrail-bench` over HTTP, and
//! `cargo bench -p hooktrail-bench --bench append` against the store alone — so both measure the same deliveries:
//! signed `status.changed` events of [`EVENT_BYTES`], spread over [`JOBS`] jobs.

use anyhow::Context;
use bytes::Bytes;

use hooktrail::config::Config;
use hooktrail::sources::Source;

/// The configured source every event is signed for and posted to.
pub const SOURCE_NAME: &str = "bench";
/// A fixed key: the benchmarks sign their own traffic, there is nothing to protect.
const SOURCE_SECRET: &str = "whsec_aG9va3RyYWlsLWJlbmNoLWtleS0zMi1ieXRlcy14eCE=";
/// The size of every event body, close to a typical catalog event with a note attached.
pub const EVENT_BYTES: usize = 1024;
/// The jobs the events are about, in turn: enough that nearly every delivery of a commit is
/// about a job of its own, as in a busy shop.
pub const JOBS: u64 = 5_000;

/// The `[[sources]]` table of the source, for a configuration file.
pub fn source_toml() -> String {
    format!(
        "[[sources]]\nname = \"{SOURCE_NAME}\"\nkind = \"standard-webhooks\"\nsecrets = [\"{SOURCE_SECRET}\"]\n"
    )
}

/// The source as a sender sees it: what signs every event like a real sender would (and, on
/// the receiving side, verifies and normalizes it).
pub fn signing_source() -> anyhow::Result<Source> {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \"unused.redb\"\n{}",
        source_toml()
    );
    // No environment: HOOKTRAIL_… overrides meant for `serve` must not change what is measured.
    let config = Config::from_toml(&text, std::path::Path::new("(bench)"), std::iter::empty())?;
    config
        .sources
        .into_iter()
        .next()
        .context("the bench config names no source")
}

/// A `status.changed` event from the catalog, padded with a note to exactly [`EVENT_BYTES`].
pub fn status_changed_event(sequence: u64, timestamp: &str) -> Bytes {
    const STEPS: [(&str, &str); 4] = [
        ("quoted", "approved"),
        ("approved", "in_production"),
        ("in_production", "ready_for_pickup"),
        ("ready_for_pickup", "completed"),
    ];
    const NOTE: &str = "Customer confirmed the revised proof by phone; rush fee waived. ";
    let job_id = 1000 + sequence % JOBS;
    let (from, to) = STEPS[(sequence % STEPS.len() as u64) as usize];
    // Every value spliced in is plain ASCII without quotes or backslashes: no escaping needed.
    let head = format!(
        r#"{{"type":"status.changed","timestamp":"{timestamp}","data":{{"subject":{{"kind":"job","id":"{job_id}"}},"from":"{from}","to":"{to}","actor":{{"kind":"user","id":"u-17","name":"Dana Whitfield"}},"note":""#
    );
    let tail = r#""}}"#;
    let padding = EVENT_BYTES.saturating_sub(head.len() + tail.len());
    let mut body = String::with_capacity(EVENT_BYTES);
    body.push_str(&head);
    body.extend(NOTE.chars().cycle().take(padding));
    body.push_str(tail);
    Bytes::from(body)
}
