//! `hooktrail send --source NAME FILE`: sign a payload like the source's provider would and post
//! it to the gateway, for trying integrations by hand.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;

use super::connect::{TlsArgs, base_url};
use super::source_named;
use crate::config::Config;
use crate::sources::{Signed, Source};

/// The exit status when the gateway stored the delivery but flagged it: its content could not
/// be read as that source's events. Not 1, so a script can tell "refused" from "kept, but look".
pub const EXIT_FLAGGED: u8 = 3;

#[derive(clap::Args)]
pub struct SendArgs {
    /// The configured source to send as.
    #[arg(long)]
    source: String,
    /// The gateway's base URL (default: the configured listen address).
    #[arg(long)]
    url: Option<String>,
    /// Reuse this delivery id instead of a fresh one, as a provider's retry does: the gateway
    /// answers `duplicate` for an id it has stored. It is the `webhook-id` of a
    /// standard-webhooks source, the `id_header` of an hmac source, Postmark's trace id; the
    /// other kinds carry their ids in the body (send the same file again).
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// For SendGrid sources: the P-256 private key to sign with (base64 DER, SEC1 or PKCS#8).
    /// Defaults to SendGrid's published test key when the source verifies with its public half.
    #[arg(long)]
    signing_key: Option<String>,
    #[command(flatten)]
    tls: TlsArgs,
    /// The payload file, sent byte for byte.
    file: PathBuf,
}

pub fn run(config: &Config, args: SendArgs) -> anyhow::Result<ExitCode> {
    let source = source_named(config, &args.source)?;
    let body = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let now = chrono::Utc::now().timestamp();
    let signed = match &args.id {
        Some(id) => sign_with_id(source, &body, now, id)?,
        None => source
            .sign(&body, now, args.signing_key.as_deref())
            .map_err(anyhow::Error::msg)?,
    };
    let url = format!(
        "{}/hooks/{}",
        base_url(config, args.url.as_deref()),
        source.name
    );

    let client = args.tls.client()?;
    let mut request = client
        .post(&url)
        .header("content-type", "application/json")
        .body(signed.body);
    for (name, value) in &signed.headers {
        request = request.header(name, value);
    }
    let response = request
        .send()
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let text = response.text().unwrap_or_default();
    println!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    if !text.is_empty() {
        println!("{text}");
    }
    if !status.is_success() {
        return Ok(ExitCode::FAILURE);
    }
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let flagged = &answer["flagged"];
    if flagged.is_object() {
        println!(
            "Flagged {}: {}. The delivery is kept in the log for a look (GET /api/v1/deliveries/{}), \
             but its content was not understood.",
            flagged["status"].as_str().unwrap_or("for a look"),
            flagged["reason"].as_str().unwrap_or("no reason given"),
            answer["seq"]
        );
        return Ok(ExitCode::from(EXIT_FLAGGED));
    }
    Ok(ExitCode::SUCCESS)
}

/// Signs `body` as a retry of delivery `id` would be signed. Only kinds whose delivery id
/// travels beside the body can take one; the others say where their id lives instead.
fn sign_with_id(source: &Source, body: &[u8], now: i64, id: &str) -> anyhow::Result<Signed> {
    anyhow::ensure!(
        !id.is_empty() && id.bytes().all(|byte| byte.is_ascii_graphic()),
        "--id must be printable ASCII without spaces"
    );
    source
        .sign_with_id(body, now, id)
        .map_err(|reason| anyhow::anyhow!("source {:?}: {reason}", source.name))
}
