//! A running gateway owns its store file, so `verify`, `export` and `backup` ask it over its
//! API instead (with an API token), and read the file directly only when no gateway runs.

use std::path::Path;

use anyhow::Context;
use serde_json::Value;

use super::connect::{TlsArgs, base_url};
use crate::activity::{Entry, Subject};
use crate::config::Config;
use crate::http::evidence::{ConsistencyAnswer, ProofAnswer};
use crate::trust::heads::SignedHead;
use crate::trust::proofs::InclusionProof;

#[derive(clap::Args, Clone, Default)]
pub struct RemoteArgs {
    /// The running gateway's base URL (default: from the configured listen address).
    #[arg(long, env = "HOOKTRAIL_URL")]
    pub url: Option<String>,
    /// An API bearer token, needed when the gateway is running.
    #[arg(long, env = "HOOKTRAIL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// The gateway's refusal, from its problem+json (a verb may act on its type).
#[derive(Debug, thiserror::Error)]
#[error("the gateway answered {status}: {detail}")]
pub struct Refusal {
    pub status: reqwest::StatusCode,
    /// e.g. `urn:hooktrail:problem:not-found`.
    pub problem: Option<String>,
    pub detail: String,
}

pub struct Remote {
    base: String,
    token: String,
    http: reqwest::blocking::Client,
}

impl Remote {
    pub fn new(config: &Config, args: &RemoteArgs) -> anyhow::Result<Remote> {
        let token = args.token.clone().ok_or_else(|| {
            anyhow::anyhow!("a gateway is running and owns the store: pass --token (or HOOKTRAIL_TOKEN) so it can be asked")
        })?;
        Ok(Remote {
            base: base_url(config, args.url.as_deref()),
            token,
            http: args.tls.client()?,
        })
    }

    fn answer(&self, request: reqwest::blocking::RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .with_context(|| format!("cannot reach {}", self.base))?;
        let status = response.status();
        let body: Value = response.json().unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(Refusal {
                status,
                problem: body["type"].as_str().map(str::to_owned),
                detail: body["detail"].as_str().unwrap_or("no detail").to_owned(),
            }
            .into());
        }
        Ok(body)
    }

    pub fn integrity(&self) -> anyhow::Result<Value> {
        self.answer(self.http.get(format!("{}/api/v1/integrity", self.base)))
    }

    pub fn export_page(
        &self,
        subject: Option<&Subject>,
        after: Option<&str>,
    ) -> anyhow::Result<(Vec<Entry>, Option<String>)> {
        let mut query = vec![("limit", "500".to_owned())];
        if let Some(subject) = subject {
            query.push(("subject", subject.key()));
        }
        if let Some(after) = after {
            query.push(("after", after.to_owned()));
        }
        let page = self.answer(
            self.http
                .get(format!("{}/api/v1/export", self.base))
                .query(&query),
        )?;
        let entries = serde_json::from_value(page["entries"].clone())?;
        Ok((entries, page["next_cursor"].as_str().map(str::to_owned)))
    }

    pub fn backup(&self, target: &Path) -> anyhow::Result<Value> {
        let body = serde_json::json!({ "path": target });
        self.answer(
            self.http
                .post(format!("{}/api/v1/backups", self.base))
                .json(&body),
        )
    }

    /// Signed heads numbered below `before`, newest first.
    pub fn digests(&self, before: Option<u64>, limit: usize) -> anyhow::Result<Vec<SignedHead>> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(before) = before {
            query.push(("before", before.to_string()));
        }
        let heads = self.answer(
            self.http
                .get(format!("{}/api/v1/digests", self.base))
                .query(&query),
        )?;
        Ok(serde_json::from_value(heads)?)
    }

    /// The latest head over exactly `tree_size` deliveries: heads grow with their numbers, so
    /// the pages are read newest first until they pass below that size.
    pub fn head_of_size(&self, tree_size: u64) -> anyhow::Result<Option<SignedHead>> {
        let mut before = None;
        loop {
            let page = self.digests(before, 1000)?;
            for head in &page {
                if head.tree_size == tree_size {
                    return Ok(Some(head.clone()));
                }
                if head.tree_size < tree_size {
                    return Ok(None);
                }
            }
            match page.last() {
                Some(last) if last.number > 1 => before = Some(last.number),
                _ => return Ok(None),
            }
        }
    }

    /// The inclusion proof of an entry's delivery in the tree of `tree_size` deliveries.
    pub fn proof(&self, entry_id: &str, tree_size: u64) -> anyhow::Result<InclusionProof> {
        let answer = self.answer(
            self.http
                .get(format!("{}/api/v1/entries/{entry_id}/proof", self.base))
                .query(&[("tree_size", tree_size)]),
        )?;
        let answer: ProofAnswer = serde_json::from_value(answer)?;
        Ok(answer.proof)
    }

    /// Heads `from` and `to`, and the consistency proof between them.
    pub fn consistency(&self, from: u64, to: u64) -> anyhow::Result<ConsistencyAnswer> {
        let answer = self.answer(
            self.http
                .get(format!("{}/api/v1/digests/consistency", self.base))
                .query(&[("from", from), ("to", to)]),
        )?;
        Ok(serde_json::from_value(answer)?)
    }
}
