//! What the gateway's writer did during a cell, read the way an operator would: from the
//! gateway's own `/metrics`, once when the measured window opens and once when it closes.
//! The difference of the `hooktrail_commit_*` histograms' counts and sums gives how many group
//! commits ran, how many deliveries each took, and how long each took to write and fsync —
//! which is what explains the gateway's throughput: with every connection waiting on a commit,
//! acked/s is deliveries per commit ÷ commit time.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HOST;
use serde::Serialize;

use crate::REQUEST_TIMEOUT;
use crate::load::Connection;

const BATCH_COUNT: &str = "hooktrail_commit_batch_size_count";
const BATCH_SUM: &str = "hooktrail_commit_batch_size_sum";
const DURATION_SUM: &str = "hooktrail_commit_duration_seconds_sum";

/// The writer's running totals at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommitTotals {
    commits: f64,
    deliveries: f64,
    seconds: f64,
}

impl CommitTotals {
    /// Reads the totals from a Prometheus text exposition; `None` when a series is missing.
    pub fn parse(exposition: &str) -> Option<CommitTotals> {
        let value = |name: &str| {
            exposition.lines().find_map(|line| {
                let rest = line.strip_prefix(name)?;
                // `name value`, not a longer name that merely starts with `name`.
                rest.strip_prefix(' ')?.trim().parse::<f64>().ok()
            })
        };
        Some(CommitTotals {
            commits: value(BATCH_COUNT)?,
            deliveries: value(BATCH_SUM)?,
            seconds: value(DURATION_SUM)?,
        })
    }
}

/// The writer's work over a measured window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CommitStats {
    pub commits_per_sec: f64,
    pub deliveries_per_commit: f64,
    /// Mean time to write and fsync one commit.
    pub commit_ms: f64,
    /// The share of the window the writer spent committing (1.0 = never idle; summed over the
    /// writers of several gateways).
    pub busy: f64,
}

impl CommitStats {
    /// The work done between two readings `window` apart; `None` if nothing was committed.
    pub fn between(
        start: CommitTotals,
        end: CommitTotals,
        window: Duration,
    ) -> Option<CommitStats> {
        let commits = end.commits - start.commits;
        let seconds = window.as_secs_f64();
        if commits < 1.0 || seconds <= 0.0 {
            return None;
        }
        let committing = end.seconds - start.seconds;
        Some(CommitStats {
            commits_per_sec: commits / seconds,
            deliveries_per_commit: (end.deliveries - start.deliveries) / commits,
            commit_ms: committing / commits * 1e3,
            busy: committing / seconds,
        })
    }
}

/// The writers' totals of every gateway at `addrs`, added up (several gateways share one
/// database: their commits are the backend's commits).
pub async fn read_all_totals(addrs: &[SocketAddr]) -> anyhow::Result<CommitTotals> {
    let mut sum = CommitTotals {
        commits: 0.0,
        deliveries: 0.0,
        seconds: 0.0,
    };
    for addr in addrs {
        let totals = read_totals(*addr).await?;
        sum.commits += totals.commits;
        sum.deliveries += totals.deliveries;
        sum.seconds += totals.seconds;
    }
    Ok(sum)
}

/// Fetches `/metrics` from the gateway at `addr` and reads the writer's totals.
pub async fn read_totals(addr: SocketAddr) -> anyhow::Result<CommitTotals> {
    let body = get(addr, "/metrics", None).await?;
    let text = std::str::from_utf8(&body).context("the metrics are not UTF-8")?;
    CommitTotals::parse(text).context("the metrics hold no hooktrail_commit_* histograms")
}

/// `GET path` on a connection of its own, with a bearer token if given: the body of a 2xx.
pub(crate) async fn get(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
) -> anyhow::Result<Bytes> {
    let mut connection = Connection::open(addr).await?;
    let mut request = hyper::Request::get(path).header(HOST, addr.to_string());
    if let Some(token) = token {
        request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request.body(Full::new(Bytes::new()))?;
    let fetch = async {
        connection.sender.ready().await?;
        let response = connection.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok::<_, hyper::Error>((status, body))
    };
    let fetched = tokio::time::timeout(REQUEST_TIMEOUT, fetch).await;
    connection.close().await;
    let (status, body) = fetched.with_context(|| format!("GET {path} timed out"))??;
    anyhow::ensure!(status.is_success(), "GET {path} answered {status}");
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPOSITION: &str = "\
# HELP hooktrail_commit_batch_size Deliveries per group commit.
# TYPE hooktrail_commit_batch_size histogram
hooktrail_commit_batch_size_bucket{le=\"1\"} 3
hooktrail_commit_batch_size_sum 1250
hooktrail_commit_batch_size_count 40
hooktrail_commit_duration_seconds_bucket{le=\"0.0005\"} 1
hooktrail_commit_duration_seconds_sum 0.06
hooktrail_commit_duration_seconds_count 40
hooktrail_commits_total{result=\"ok\"} 40
";

    #[test]
    fn totals_come_from_the_histograms_sums_and_counts() {
        assert_eq!(
            CommitTotals::parse(EXPOSITION),
            Some(CommitTotals {
                commits: 40.0,
                deliveries: 1250.0,
                seconds: 0.06,
            })
        );
        let without_durations: String = EXPOSITION
            .lines()
            .filter(|line| !line.starts_with("hooktrail_commit_duration"))
            .map(|line| format!("{line}\n"))
            .collect();
        assert_eq!(CommitTotals::parse(&without_durations), None);
    }

    #[test]
    fn stats_are_the_difference_over_the_window() {
        let start = CommitTotals {
            commits: 10.0,
            deliveries: 200.0,
            seconds: 0.01,
        };
        let end = CommitTotals {
            commits: 1010.0,
            deliveries: 32_200.0,
            seconds: 1.51,
        };
        let stats = CommitStats::between(start, end, Duration::from_secs(2)).unwrap();
        assert_eq!(stats.commits_per_sec, 500.0);
        assert_eq!(stats.deliveries_per_commit, 32.0);
        assert!((stats.commit_ms - 1.5).abs() < 1e-9);
        assert!((stats.busy - 0.75).abs() < 1e-9);
        assert_eq!(CommitStats::between(end, end, Duration::from_secs(2)), None);
    }
}
