//! `hooktrail send --source NAME FILE`: sign a payload like the source's provider would and post
//! it to the gateway, for trying integrations by hand.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::config::Config;

#[derive(clap::Args)]
pub struct SendArgs {
    /// The configured source to send as.
    #[arg(long)]
    source: String,
    /// The gateway's base URL (default: the configured listen address).
    #[arg(long)]
    url: Option<String>,
    /// For SendGrid sources: the P-256 private key to sign with (base64 DER, SEC1 or PKCS#8).
    /// Defaults to SendGrid's published test key when the source verifies with its public half.
    #[arg(long)]
    signing_key: Option<String>,
    /// The payload file, sent byte for byte.
    file: PathBuf,
}

pub fn run(config: &Config, args: SendArgs) -> anyhow::Result<ExitCode> {
    let source = config
        .source(&args.source)
        .with_context(|| format!("no source named {:?} in the config", args.source))?;
    let body = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let signed = source
        .sign(
            &body,
            chrono::Utc::now().timestamp(),
            args.signing_key.as_deref(),
        )
        .map_err(anyhow::Error::msg)?;
    let base = args
        .url
        .unwrap_or_else(|| format!("http://{}", config.server.listen));
    let url = format!("{}/hooks/{}", base.trim_end_matches('/'), source.name);

    let client = reqwest::blocking::Client::new();
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
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
