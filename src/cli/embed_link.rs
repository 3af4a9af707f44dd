//! `hooktrail embed-link job:1042 [--ttl SECS] [--viewer NAME]`: a signed link to a timeline
//! for a frame in the business app, made the way the business app makes them (see
//! docs/integrating.md). For trying the embed by hand.

use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;

use super::connect::base_url;
use crate::activity::Subject;
use crate::config::Config;
use crate::http::embed;

#[derive(clap::Args)]
pub struct EmbedLinkArgs {
    /// The timeline: `job:1042`, `salesdoc:Q-2291`.
    subject: Subject,
    /// Seconds the link stays valid (at most `[embed] max_ttl_secs`, the default).
    #[arg(long)]
    ttl: Option<u64>,
    /// Who the link is for, as the business app knows them.
    #[arg(long, default_value = "staff")]
    viewer: String,
    /// The gateway's base URL (default: the configured listen address).
    #[arg(long)]
    url: Option<String>,
}

pub fn run(config: &Config, args: EmbedLinkArgs) -> anyhow::Result<ExitCode> {
    let secret = config
        .embed
        .secret
        .as_ref()
        .context("embedding is off: set [embed] secret in the config")?;
    let max_ttl = config.embed.max_ttl_secs.get();
    let ttl = args.ttl.unwrap_or(max_ttl);
    anyhow::ensure!(
        (1..=max_ttl).contains(&ttl),
        "--ttl must be 1 to {max_ttl} seconds ([embed] max_ttl_secs)"
    );
    let exp = Utc::now().timestamp() + i64::try_from(ttl)?;
    let base = base_url(config, args.url.as_deref());
    println!(
        "{base}{}",
        embed::link(secret, &args.subject, exp, &args.viewer)
    );
    Ok(ExitCode::SUCCESS)
}
