//! The gateway's Prometheus metrics: one registry per gateway (not a process-global one), so
//! that several gateways in one process — the integration tests run many — count separately.
//!
//! Every label value comes from a closed set (configured source names, fixed causes, route
//! patterns), never from what a client sent, so a client cannot grow the number of series.

use std::time::Duration;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::activity::{Category, Outcome};
use crate::store::Appended;
use crate::store::writer::BatchReport;

/// The `source` label of a delivery to a name no source is configured under. Not the name
/// itself: anyone can post to any path, and each distinct value would be a new series.
pub const UNKNOWN_SOURCE: &str = "(unknown)";

/// Gauges read at scrape time rather than kept up to date on every change.
#[derive(Debug, Clone, Copy)]
pub struct LiveGauges {
    pub queue_depth: usize,
    pub queue_capacity: usize,
    pub buffered_bytes: usize,
    pub buffer_capacity_bytes: usize,
    /// Entries waiting for a link right now; `None` when the store could not say.
    pub unmatched: Option<u64>,
    /// Sign-in password checks running right now, and how many may run at once.
    pub password_checks: usize,
    pub password_checks_capacity: usize,
    /// Live timelines open now, and how many may be.
    pub live_streams: usize,
    pub live_streams_capacity: usize,
}

pub struct Metrics {
    registry: Registry,
    deliveries_accepted: IntCounterVec,
    deliveries_rejected: IntCounterVec,
    deliveries_flagged: IntCounterVec,
    entries_written: IntCounterVec,
    unmatched_entries_written: IntCounter,
    password_checks_started: IntCounter,
    verify_duration: HistogramVec,
    commits: IntCounterVec,
    tree_heads: IntCounterVec,
    commit_batch_size: Histogram,
    commit_duration: Histogram,
    request_duration: HistogramVec,
    queue_depth: IntGauge,
    queue_capacity: IntGauge,
    buffered_bytes: IntGauge,
    buffer_capacity_bytes: IntGauge,
    unmatched: IntGauge,
    password_checks: IntGauge,
    password_checks_capacity: IntGauge,
    live_streams: IntGauge,
    live_streams_capacity: IntGauge,
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let metrics = Metrics {
            deliveries_accepted: register(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "hooktrail_deliveries_accepted_total",
                        "Deliveries answered 2xx, by source and outcome (stored, duplicate).",
                    ),
                    &["source", "outcome"],
                )?,
            )?,
            deliveries_rejected: register(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "hooktrail_deliveries_rejected_total",
                        "Deliveries refused (nothing stored), by source and cause.",
                    ),
                    &["source", "cause"],
                )?,
            )?,
            deliveries_flagged: register(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "hooktrail_deliveries_flagged_total",
                        "Stored deliveries flagged for a look, by source and reason \
                         (unparseable, malformed, unknown_type).",
                    ),
                    &["source", "reason"],
                )?,
            )?,
            entries_written: register(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "hooktrail_entries_written_total",
                        "Activity entries written, by category.",
                    ),
                    &["category"],
                )?,
            )?,
            password_checks_started: register(
                &registry,
                IntCounter::new(
                    "hooktrail_password_checks_total",
                    "Sign-in password checks started: guesses that got past the throttle.",
                )?,
            )?,
            unmatched_entries_written: register(
                &registry,
                IntCounter::new(
                    "hooktrail_unmatched_entries_written_total",
                    "Entries that no link resolved to a subject when they were written.",
                )?,
            )?,
            verify_duration: register(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "hooktrail_verify_duration_seconds",
                        "Time to verify a delivery's signature, by source.",
                    )
                    .buckets(vec![
                        0.000_01, 0.000_03, 0.000_1, 0.000_3, 0.001, 0.003, 0.01, 0.03, 0.1,
                    ]),
                    &["source"],
                )?,
            )?,
            commits: register(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "hooktrail_commits_total",
                        "Group commits by the writer, by result (ok, failed).",
                    ),
                    &["result"],
                )?,
            )?,
            tree_heads: register(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "hooktrail_tree_heads_total",
                        "Rounds of signing tree heads that signed one (signed) or could not \
                         (failed: the log contradicts the last head, or storage failed).",
                    ),
                    &["result"],
                )?,
            )?,
            commit_batch_size: register(
                &registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "hooktrail_commit_batch_size",
                        "Deliveries per group commit.",
                    )
                    .buckets(prometheus::exponential_buckets(1.0, 2.0, 11)?),
                )?,
            )?,
            commit_duration: register(
                &registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "hooktrail_commit_duration_seconds",
                        "Time to write and fsync one group commit.",
                    )
                    .buckets(vec![
                        0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    ]),
                )?,
            )?,
            request_duration: register(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "hooktrail_http_request_duration_seconds",
                        "HTTP request latency, by method, route pattern and status.",
                    )
                    .buckets(vec![
                        0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                        2.5, 5.0, 10.0,
                    ]),
                    &["method", "route", "status"],
                )?,
            )?,
            queue_depth: register(
                &registry,
                IntGauge::new(
                    "hooktrail_intake_queue_depth",
                    "Deliveries waiting for the writer.",
                )?,
            )?,
            queue_capacity: register(
                &registry,
                IntGauge::new(
                    "hooktrail_intake_queue_capacity",
                    "Deliveries that may wait for the writer before intake answers 503.",
                )?,
            )?,
            buffered_bytes: register(
                &registry,
                IntGauge::new(
                    "hooktrail_intake_buffered_bytes",
                    "Body bytes held by intake requests in flight (read, verified or queued).",
                )?,
            )?,
            buffer_capacity_bytes: register(
                &registry,
                IntGauge::new(
                    "hooktrail_intake_buffer_capacity_bytes",
                    "Body bytes intake may hold before answering 503.",
                )?,
            )?,
            unmatched: register(
                &registry,
                IntGauge::new(
                    "hooktrail_unmatched_entries",
                    "Entries no link resolves to a job or salesdoc yet (read at scrape time).",
                )?,
            )?,
            password_checks: register(
                &registry,
                IntGauge::new(
                    "hooktrail_password_checks_running",
                    "Sign-in password checks running now (each holds argon2's memory).",
                )?,
            )?,
            password_checks_capacity: register(
                &registry,
                IntGauge::new(
                    "hooktrail_password_checks_capacity",
                    "Password checks that may run at once before sign-ins are answered 429.",
                )?,
            )?,
            live_streams: register(
                &registry,
                IntGauge::new(
                    "hooktrail_live_streams",
                    "Live timelines (server-sent event streams) open now.",
                )?,
            )?,
            live_streams_capacity: register(
                &registry,
                IntGauge::new(
                    "hooktrail_live_streams_capacity",
                    "Live timelines that may be open at once before more are answered 503.",
                )?,
            )?,
            registry,
        };
        Ok(metrics)
    }

    /// A delivery answered 2xx: count it, its entries and whether it was flagged.
    pub fn delivery_accepted(
        &self,
        source: &str,
        appended: &Appended,
        categories: &[Category],
        outcome: &Outcome,
    ) {
        match *appended {
            Appended::Stored {
                entries, unmatched, ..
            } => {
                inc(&self.deliveries_accepted, &[source, "stored"]);
                if let Some(reason) = flag_reason(outcome) {
                    inc(&self.deliveries_flagged, &[source, reason]);
                }
                for (category, count) in written_by_category(entries, categories) {
                    add(&self.entries_written, &[category], count);
                }
                self.unmatched_entries_written.inc_by(as_u64(unmatched));
            }
            Appended::Duplicate { .. } => inc(&self.deliveries_accepted, &[source, "duplicate"]),
            // Answered 401 by intake, which counts it as a refusal.
            Appended::Replayed => {}
        }
    }

    /// A delivery refused with `cause` (a short stable label: `bad_signature`, `overloaded`…).
    pub fn delivery_rejected(&self, source: &str, cause: &str) {
        inc(&self.deliveries_rejected, &[source, cause]);
    }

    pub fn observe_verify(&self, source: &str, elapsed: Duration) {
        if let Ok(histogram) = self.verify_duration.get_metric_with_label_values(&[source]) {
            histogram.observe(elapsed.as_secs_f64());
        }
    }

    /// One group commit, from the writer's report.
    pub fn observe_batch(&self, report: &BatchReport) {
        inc(&self.commits, &[if report.ok { "ok" } else { "failed" }]);
        self.commit_batch_size.observe(report.size as f64);
        self.commit_duration.observe(report.commit.as_secs_f64());
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let status = status.to_string();
        if let Ok(histogram) = self
            .request_duration
            .get_metric_with_label_values(&[method, route, &status])
        {
            histogram.observe(elapsed.as_secs_f64());
        }
    }

    /// A tree head was signed by this gateway (`true`), or a due one could not be (`false`).
    pub fn tree_head_round(&self, signed: bool) {
        let result = if signed { "signed" } else { "failed" };
        self.tree_heads.with_label_values(&[result]).inc();
    }

    /// A sign-in's password check began (it holds a slot, and the throttle let it through).
    pub fn password_check_started(&self) {
        self.password_checks_started.inc();
    }

    /// The Prometheus text exposition of every metric, with the live gauges read now.
    pub fn render(&self, live: LiveGauges) -> Result<String, prometheus::Error> {
        self.queue_depth.set(as_i64(live.queue_depth));
        self.queue_capacity.set(as_i64(live.queue_capacity));
        self.buffered_bytes.set(as_i64(live.buffered_bytes));
        self.buffer_capacity_bytes
            .set(as_i64(live.buffer_capacity_bytes));
        self.password_checks.set(as_i64(live.password_checks));
        self.password_checks_capacity
            .set(as_i64(live.password_checks_capacity));
        self.live_streams.set(as_i64(live.live_streams));
        self.live_streams_capacity
            .set(as_i64(live.live_streams_capacity));
        if let Some(unmatched) = live.unmatched {
            self.unmatched
                .set(i64::try_from(unmatched).unwrap_or(i64::MAX));
        }
        TextEncoder::new().encode_to_string(&self.registry.gather())
    }
}

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn register<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: M,
) -> Result<M, prometheus::Error> {
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

// Label arity is fixed in this file, so these lookups do not fail; if one ever did, a missed
// count is better than a panic on the request path.
fn inc(counter: &IntCounterVec, labels: &[&str]) {
    add(counter, labels, 1);
}

fn add(counter: &IntCounterVec, labels: &[&str], count: u64) {
    if let Ok(counter) = counter.get_metric_with_label_values(labels) {
        counter.inc_by(count);
    }
}

fn flag_reason(outcome: &Outcome) -> Option<&'static str> {
    match outcome {
        Outcome::Normalized => None,
        Outcome::UnknownType { .. } => Some("unknown_type"),
        Outcome::Malformed { .. } => Some("malformed"),
        Outcome::Unparseable { .. } => Some("unparseable"),
    }
}

/// Which categories the `written` new entries of a delivery belong to, given the categories
/// of all its normalized entries. When every entry was new, or all share one category (every
/// batching provider's do), this is exact. Otherwise an overlapping batch skipped entries the
/// store already had, and which ones is not reported back: those count as `unattributed`.
fn written_by_category(written: usize, categories: &[Category]) -> Vec<(&'static str, u64)> {
    if written == 0 {
        return Vec::new();
    }
    let uniform = categories.windows(2).all(|pair| pair[0] == pair[1]);
    if written == categories.len() || (uniform && !categories.is_empty()) {
        if uniform {
            return vec![(categories[0].as_str(), as_u64(written))];
        }
        let mut counts: Vec<(&'static str, u64)> = Vec::new();
        for category in categories {
            match counts
                .iter_mut()
                .find(|(name, _)| *name == category.as_str())
            {
                Some((_, count)) => *count += 1,
                None => counts.push((category.as_str(), 1)),
            }
        }
        return counts;
    }
    vec![("unattributed", as_u64(written))]
}

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn as_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_entries_are_attributed_to_categories_where_that_is_known() {
        use Category::*;
        assert_eq!(
            written_by_category(3, &[Workflow, Accounting, Workflow]),
            [("workflow", 2), ("accounting", 1)]
        );
        assert_eq!(
            written_by_category(2, &[Communication; 5]),
            [("communication", 2)]
        );
        assert_eq!(
            written_by_category(1, &[Workflow, Accounting]),
            [("unattributed", 1)]
        );
        assert!(written_by_category(0, &[Workflow]).is_empty());
    }

    #[test]
    fn rejections_and_live_gauges_appear_in_the_exposition() {
        let metrics = Metrics::new().unwrap();
        metrics.delivery_rejected("hoops", "bad_signature");
        metrics.observe_verify("hoops", Duration::from_micros(40));
        let text = metrics
            .render(LiveGauges {
                queue_depth: 3,
                queue_capacity: 10,
                buffered_bytes: 0,
                buffer_capacity_bytes: 100,
                unmatched: Some(4),
                password_checks: 1,
                password_checks_capacity: 2,
                live_streams: 5,
                live_streams_capacity: 1000,
            })
            .unwrap();
        assert!(text.contains("hooktrail_unmatched_entries 4"));
        assert!(text.contains("hooktrail_live_streams 5"));
        assert!(text.contains(
            "hooktrail_deliveries_rejected_total{cause=\"bad_signature\",source=\"hoops\"} 1"
        ));
        assert!(text.contains("hooktrail_intake_queue_depth 3"));
        assert!(text.contains("hooktrail_password_checks_running 1"));
        assert!(text.contains("hooktrail_verify_duration_seconds_count{source=\"hoops\"} 1"));
    }
}
