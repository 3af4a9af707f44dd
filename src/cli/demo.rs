//! `hooktrail demo`: posts the lifecycle of a few sample jobs and sales documents through the
//! gateway's real, signed endpoints, so a new installation shows full timelines at once.
//!
//! The business app's events are signed with the configured `standard-webhooks` source, exactly
//! as `hooktrail send` signs a file. The story also has provider callbacks (SendGrid delivery
//! events, QuickBooks invoice updates); each is posted through a configured source of that
//! kind, and skipped with a note while none is configured.

use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;

use super::connect::{TlsArgs, base_url};
use super::source_named;
use crate::config::Config;
use crate::sources::{Source, standard_webhooks};
use hooktrail_demo_story::{self as story, Posting, Sender};

#[derive(clap::Args)]
pub struct DemoArgs {
    /// The gateway's base URL (default: the configured listen address).
    #[arg(long)]
    url: Option<String>,
    /// The standard-webhooks source to post the business app's events as (default: the first
    /// one configured).
    #[arg(long)]
    source: Option<String>,
    #[command(flatten)]
    tls: TlsArgs,
}

pub fn run(config: &Config, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let app_source = business_app_source(config, args.source.as_deref())?;
    let base = base_url(config, args.url.as_deref());
    let client = args.tls.client()?;
    let postings = story::lifecycle(Utc::now(), config.display.timezone);

    // Per source, in the order first used: what the closing report says went where.
    let mut posted: Vec<(&Source, usize)> = Vec::new();
    let mut skipped: Vec<(Sender, usize)> = Vec::new();
    for posting in &postings {
        match sender_source(config, posting.sender, app_source) {
            Some(source) => {
                post(&client, &base, source, posting)?;
                tally(&mut posted, source, |a, b| a.name == b.name);
            }
            None => tally(&mut skipped, posting.sender, |a, b| a == b),
        }
    }

    let total: usize = posted.iter().map(|(_, count)| count).sum();
    println!("Posted {total} signed events:");
    for (source, count) in &posted {
        println!(
            "  {count:>3} to {base}/hooks/{} ({} source)",
            source.name,
            source.kind_name()
        );
    }
    for (sender, count) in skipped {
        println!(
            "Skipped {count} {} (no source of kind `{}` is configured).",
            sender.description(),
            sender.source_kind()
        );
    }
    println!("\nOpen the timelines:");
    for (label, path) in story::SUBJECTS {
        println!("  {label:<30} {base}{path}");
    }
    if config
        .development_secrets
        .iter()
        .any(|key| key.starts_with("auth.users"))
    {
        println!(
            "\nSign in as `dev` with the development password `{}`.",
            crate::password::DEVELOPMENT_PASSWORD
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Counts one more `item`, keeping the order in which items first came.
fn tally<T: Copy>(counts: &mut Vec<(T, usize)>, item: T, same: impl Fn(T, T) -> bool) {
    match counts.iter_mut().find(|(seen, _)| same(*seen, item)) {
        Some((_, count)) => *count += 1,
        None => counts.push((item, 1)),
    }
}

/// The source the business app's events are signed with.
fn business_app_source<'c>(config: &'c Config, name: Option<&str>) -> anyhow::Result<&'c Source> {
    match name {
        Some(name) => {
            let source = source_named(config, name)?;
            anyhow::ensure!(
                source.kind_name() == standard_webhooks::KIND,
                "source {name:?} is of kind {}, but the demo's business-app events need a \
                 {} source",
                source.kind_name(),
                standard_webhooks::KIND
            );
            Ok(source)
        }
        None => config
            .sources
            .iter()
            .find(|source| source.kind_name() == standard_webhooks::KIND)
            .with_context(|| {
                format!(
                    "the demo needs a source of kind {} in the config",
                    standard_webhooks::KIND
                )
            }),
    }
}

/// The configured source a posting goes through, if there is one.
fn sender_source<'c>(config: &'c Config, sender: Sender, app: &'c Source) -> Option<&'c Source> {
    match sender {
        Sender::BusinessApp => Some(app),
        provider => config
            .sources
            .iter()
            .find(|source| source.kind_name() == provider.source_kind()),
    }
}

fn post(
    client: &reqwest::blocking::Client,
    base: &str,
    source: &Source,
    posting: &Posting,
) -> anyhow::Result<()> {
    let url = format!("{base}/hooks/{}", source.name);
    let signed = source
        .sign(&posting.body, Utc::now().timestamp(), None)
        .map_err(anyhow::Error::msg)?;
    let mut request = client
        .post(&url)
        .header("content-type", "application/json")
        .body(signed.body);
    for (name, value) in signed.headers {
        request = request.header(name, value);
    }
    let response = request.send().with_context(|| {
        format!("cannot reach {url}: is `hooktrail serve` running with this config?")
    })?;
    let status = response.status();
    if !status.is_success() {
        let answer = response.text().unwrap_or_default();
        anyhow::bail!(
            "{url} answered {status} to “{}”: {answer}",
            posting.description
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::Outcome;
    use crate::activity::catalog::{CatalogContext, normalize};
    use crate::sources::kind;

    #[test]
    fn every_business_app_event_is_a_catalog_event_in_the_past_and_in_order() {
        let now = Utc::now();
        let postings = story::lifecycle(now, chrono_tz::America::Chicago);
        assert!(postings.len() > 40);
        assert!(postings.windows(2).all(|w| w[0].at <= w[1].at));
        for posting in postings.iter().filter(|p| p.sender == Sender::BusinessApp) {
            assert!(posting.at < now, "{}", posting.description);
            let normalized = normalize(
                &posting.body,
                &CatalogContext {
                    source: "hoops",
                    event_id: Some("msg_test"),
                    fallback_time: now,
                },
            );
            let expected_unknown = posting.description == "shipment.label_created";
            match normalized.outcome {
                Outcome::Normalized => assert!(!expected_unknown),
                Outcome::UnknownType { .. } => assert!(expected_unknown),
                other => panic!("{}: {other:?}", posting.description),
            }
            assert_eq!(normalized.entries.len(), 1);
        }
    }

    #[test]
    fn every_sender_posts_through_a_kind_the_gateway_knows() {
        for sender in [Sender::BusinessApp, Sender::SendGrid, Sender::QuickBooks] {
            assert!(
                kind::KINDS
                    .iter()
                    .any(|known| known.name() == sender.source_kind()),
                "{sender:?} names kind {:?}, which no source kind registers",
                sender.source_kind()
            );
        }
        assert_eq!(Sender::BusinessApp.source_kind(), standard_webhooks::KIND);
    }
}
