//! What a run found: each cell's summary, the ratios against the baselines and the goals.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::time::Duration;

use serde::Serialize;

use hooktrail::store::postgres::timing::PhaseMillis;

use crate::apart::ThreadRole;
use crate::load::Tally;
use crate::servers::Serving;
use crate::streams::StreamStats;
use crate::workload::EVENT_BYTES;
use crate::{
    BenchArgs, Cell, GOAL_CONNECTIONS, SERVER_WORKERS, Target, commits, disk, pages, short_count,
};

#[derive(Debug, Serialize)]
pub(crate) struct CellResult {
    pub(crate) target: Target,
    /// For `pages`: how many entries the job whose page was read has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) history: Option<u64>,
    pub(crate) connections: u32,
    pub(crate) acked: u64,
    pub(crate) acked_per_sec: f64,
    /// `None` when nothing was acknowledged.
    pub(crate) p50_ms: Option<f64>,
    pub(crate) p99_ms: Option<f64>,
    pub(crate) errors: u64,
    /// Errors by kind ("HTTP 503", "timeout after 10 s", …).
    pub(crate) error_kinds: BTreeMap<String, u64>,
    /// For gateways taking deliveries: what their writer did in the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) commits: Option<commits::CommitStats>,
    /// For gateways on PostgreSQL: mean ms per batch in each phase of its transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) phases: Option<PhaseMillis>,
    /// For `gateway-streams`: the live timelines open during the cell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) streams: Option<StreamStats>,
    /// For `gateway`: how far the search index trailed when the load stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) index_lag: Option<crate::index_lag::IndexLag>,
    /// The server's resident memory as the window closed, where it runs in a process of its
    /// own (see [`Target::serving`]); `None` for a server sharing the bench's process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rss_mib: Option<f64>,
    /// The most resident memory the server's process held, from its start to the window's
    /// close: its peak under the cell's load (each cell's server is started for it). The
    /// memory goal is held to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) peak_rss_mib: Option<f64>,
    /// The CPU time (user and system, every thread) the server's process used over the
    /// measured window, per answer counted in it: what a delivery costs, which a busy
    /// machine's noise moves far less than throughput. Like `rss_mib`, only for a server in a
    /// process of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cpu_us_per_ack: Option<f64>,
    /// The same CPU time split by what the server's threads do (see [`ThreadRole`]), per
    /// answer: where a delivery's cost goes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cpu_us_by_thread: Option<BTreeMap<ThreadRole, f64>>,
    /// With `--repeat`: the throughput of every run, this row being the median one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) runs_acked_per_sec: Vec<f64>,
}

pub(crate) fn summarize(
    cell: Cell,
    connections: u32,
    tally: Tally,
    measured: Duration,
) -> CellResult {
    let mut latencies = tally.ack_latencies;
    latencies.sort_unstable();
    let acked = latencies.len() as u64;
    let millis = |latency: Duration| latency.as_secs_f64() * 1e3;
    CellResult {
        target: cell.target,
        history: cell.history,
        connections,
        acked,
        acked_per_sec: acked as f64 / measured.as_secs_f64(),
        p50_ms: percentile(&latencies, 50).map(millis),
        p99_ms: percentile(&latencies, 99).map(millis),
        errors: tally.failures.values().sum(),
        error_kinds: tally
            .failures
            .iter()
            .map(|(failure, count)| (failure.to_string(), *count))
            .collect(),
        commits: None,
        streams: None,
        index_lag: None,
        phases: None,
        rss_mib: None,
        peak_rss_mib: None,
        cpu_us_per_ack: None,
        cpu_us_by_thread: None,
        runs_acked_per_sec: Vec::new(),
    }
}

/// The nearest-rank percentile of sorted samples: the smallest sample that at least
/// `percent` % of all samples are less than or equal to. Integer arithmetic, so that p99 of
/// 100 samples is exactly the 99th and not pushed to the 100th by a rounding error.
pub fn percentile(sorted: &[Duration], percent: u32) -> Option<Duration> {
    let count = sorted.len();
    let rank = (count * percent as usize)
        .div_ceil(100)
        .clamp(1, count.max(1));
    sorted.get(rank - 1).copied()
}

// ---------------------------------------------------------------------------------------------
// The report

#[derive(Serialize)]
pub(crate) struct Report {
    pub(crate) duration_secs: f64,
    pub(crate) warmup_secs: f64,
    pub(crate) runs_per_cell: u32,
    pub(crate) server_workers: usize,
    pub(crate) event_bytes: usize,
    pub(crate) results: Vec<CellResult>,
    pub(crate) ratios: Vec<Ratios>,
    /// Present when `pages` ran.
    pub(crate) page_ratios: Vec<PageRatios>,
    /// Present when the gateway ran at 64 connections.
    pub(crate) goals_at_64_connections: Option<Vec<Goal>>,
    /// What an fsync costs on the stores' disk; present when a gateway took deliveries.
    pub(crate) disk: Option<disk::DiskProbe>,
}

/// How a timeline page compares, at one connection count and job history: with HTTP alone
/// (`plain-get`), and with the page of the smallest history (1.0 = the page costs the same
/// however long the job's history).
#[derive(Debug, Serialize)]
pub(crate) struct PageRatios {
    pub(crate) connections: u32,
    pub(crate) history: u64,
    pub(crate) pages_per_sec: f64,
    pub(crate) over_plain_get: Option<f64>,
    pub(crate) over_smallest_history: Option<f64>,
}

/// Throughput ratios at one connection count; `None` where a target did not run or acked nothing.
#[derive(Debug, Serialize)]
pub(crate) struct Ratios {
    pub(crate) connections: u32,
    pub(crate) gateway_over_plain: Option<f64>,
    pub(crate) gateway_over_per_request: Option<f64>,
    /// The gateway against its log-only ceiling (views off).
    pub(crate) gateway_over_log_only: Option<f64>,
    /// The log-only ceiling against HTTP alone.
    pub(crate) log_only_over_plain: Option<f64>,
    /// HTTP with a group-committed fsync against HTTP alone: what the disk alone leaves of
    /// `plain`'s throughput.
    pub(crate) plain_durable_over_plain: Option<f64>,
    /// The gateway against HTTP with a group-committed fsync and nothing else.
    pub(crate) gateway_over_plain_durable: Option<f64>,
    /// The gateway against the same without the Merkle tree (1.0: the tree is free).
    pub(crate) gateway_over_no_tree: Option<f64>,
    /// The gateway on a pre-filled store against on an empty one.
    pub(crate) filled_over_gateway: Option<f64>,
    /// One gateway on PostgreSQL against the same gateway on redb.
    pub(crate) postgres_over_gateway: Option<f64>,
    /// Two gateways on one PostgreSQL against one.
    pub(crate) pair_over_postgres: Option<f64>,
    /// The gateway with live timelines open against without.
    pub(crate) streams_over_gateway: Option<f64>,
}

/// One stated performance goal, and whether this run met it (`None`: not measured).
#[derive(Debug, Serialize)]
pub(crate) struct Goal {
    pub(crate) goal: &'static str,
    pub(crate) measured: Option<f64>,
    pub(crate) unit: &'static str,
    pub(crate) met: Option<bool>,
}

impl Report {
    pub(crate) fn new(
        args: &BenchArgs,
        results: Vec<CellResult>,
        disk: Option<disk::DiskProbe>,
    ) -> Report {
        let ratios = args
            .connections
            .iter()
            .map(|&connections| ratios_at(&results, connections))
            .collect();
        let page_ratios = args
            .connections
            .iter()
            .flat_map(|&connections| page_ratios_at(&results, connections))
            .collect();
        let goals = (args.connections.contains(&GOAL_CONNECTIONS)
            && (args.targets.contains(&Target::Gateway)
                || args.targets.contains(&Target::Postgres)))
        .then(|| goals_at(&results, GOAL_CONNECTIONS));
        Report {
            duration_secs: args.duration.as_secs_f64(),
            warmup_secs: args.warmup.as_secs_f64(),
            runs_per_cell: args.repeat,
            server_workers: SERVER_WORKERS,
            event_bytes: EVENT_BYTES,
            results,
            ratios,
            page_ratios,
            goals_at_64_connections: goals,
            disk,
        }
    }

    pub(crate) fn render_text(&self) -> String {
        let mut out = String::new();
        self.write_text(&mut out)
            .map(|()| out)
            .unwrap_or_else(|err| format!("cannot format the report: {err}\n"))
    }

    pub(crate) fn write_text(&self, out: &mut String) -> fmt::Result {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let intake = self
            .results
            .iter()
            .any(|cell| !(cell.target.reads_pages() || cell.target == Target::PlainGet));
        let events = if intake {
            format!("{}-byte signed status.changed events; ", self.event_bytes)
        } else {
            String::new()
        };
        let runs = if self.runs_per_cell > 1 {
            format!(
                "the median of {} runs per cell (targets taking turns); ",
                self.runs_per_cell
            )
        } else {
            String::new()
        };
        writeln!(
            out,
            "\n{} s measured per cell after {} s warm-up; {runs}{events}{} server workers; \
             client and servers share {cores} cores.\n",
            self.duration_secs, self.warmup_secs, self.server_workers
        )?;
        self.write_table(out)?;
        self.write_errors(out)?;
        self.write_ratios(out)?;
        self.write_commits(out)?;
        self.write_streams(out)?;
        self.write_index_lag(out)?;
        self.write_phases(out)?;
        self.write_goals(out)
    }

    pub(crate) fn write_table(&self, out: &mut String) -> fmt::Result {
        let repeated = self.runs_per_cell > 1;
        write!(
            out,
            "{:<14} {:>11} {:>11} {:>9} {:>9} {:>8} {:>10} {:>8} {:>9}",
            "target",
            "connections",
            "ok/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "CPU µs/ok",
            "RSS MiB",
            "peak MiB"
        )?;
        writeln!(out, "{}", if repeated { "   ok/s of the runs" } else { "" })?;
        for cell in &self.results {
            write!(
                out,
                "{:<14} {:>11} {:>11.0} {:>9} {:>9} {:>8} {:>10} {:>8} {:>9}",
                cell.name(),
                cell.connections,
                cell.acked_per_sec,
                optional(cell.p50_ms, 2),
                optional(cell.p99_ms, 2),
                cell.errors,
                optional(cell.cpu_us_per_ack, 1),
                optional(cell.rss_mib, 0),
                optional(cell.peak_rss_mib, 0)
            )?;
            if repeated {
                let (low, high) = cell
                    .runs_acked_per_sec
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(low, high), &rate| {
                        (low.min(rate), high.max(rate))
                    });
                if low <= high {
                    write!(out, "   {low:.0}–{high:.0}")?;
                }
            }
            writeln!(out)?;
        }
        Ok(())
    }

    pub(crate) fn write_errors(&self, out: &mut String) -> fmt::Result {
        for cell in self.results.iter().filter(|cell| cell.errors > 0) {
            let kinds: Vec<String> = cell
                .error_kinds
                .iter()
                .map(|(kind, count)| format!("{kind} ×{count}"))
                .collect();
            writeln!(
                out,
                "  errors, {} at {}: {}",
                cell.name(),
                cell.connections,
                kinds.join(", ")
            )?;
        }
        Ok(())
    }

    pub(crate) fn write_ratios(&self, out: &mut String) -> fmt::Result {
        if !self.page_ratios.is_empty() {
            writeln!(
                out,
                "\nTimeline pages ({} entries per page; jobs in one store of {} entries):",
                hooktrail::http::pages::PAGE_SIZE,
                pages::TOTAL_ENTRIES
            )?;
            writeln!(
                out,
                "{:>11} {:>9} {:>10} {:>16} {:>20}",
                "connections", "history", "pages/s", "pages/plain-get", "vs smallest history"
            )?;
            for ratio in &self.page_ratios {
                writeln!(
                    out,
                    "{:>11} {:>9} {:>10.0} {:>16} {:>20}",
                    ratio.connections,
                    short_count(ratio.history),
                    ratio.pages_per_sec,
                    optional(ratio.over_plain_get, 3),
                    optional(ratio.over_smallest_history, 2)
                )?;
            }
        }
        if !self
            .results
            .iter()
            .any(|cell| cell.target == Target::Gateway)
        {
            return Ok(());
        }
        writeln!(
            out,
            "\n{:>11} {:>15} {:>21} {:>18} {:>16}",
            "connections",
            "gateway/plain",
            "gateway/per-request",
            "gateway/log-only",
            "log-only/plain"
        )?;
        for ratios in &self.ratios {
            writeln!(
                out,
                "{:>11} {:>15} {:>21} {:>18} {:>16}",
                ratios.connections,
                optional(ratios.gateway_over_plain, 2),
                optional(ratios.gateway_over_per_request, 1),
                optional(ratios.gateway_over_log_only, 2),
                optional(ratios.log_only_over_plain, 2)
            )?;
        }
        for ratios in &self.ratios {
            if let Some(tree) = ratios.gateway_over_no_tree {
                writeln!(
                    out,
                    "gateway/gateway-no-tree at {} connections: {tree:.2} (1.00: the Merkle tree costs intake nothing)",
                    ratios.connections
                )?;
            }
        }
        for ratios in &self.ratios {
            if let Some(durable) = ratios.plain_durable_over_plain {
                writeln!(
                    out,
                    "plain-durable/plain at {} connections: {durable:.2} (what the disk alone leaves of HTTP's throughput); gateway/plain-durable: {}",
                    ratios.connections,
                    optional(ratios.gateway_over_plain_durable, 2)
                )?;
            }
        }
        for ratios in &self.ratios {
            if let Some(filled) = ratios.filled_over_gateway {
                writeln!(
                    out,
                    "gateway-filled/gateway at {} connections: {filled:.2} (goal: within 20%)",
                    ratios.connections
                )?;
            }
        }
        Ok(())
    }

    /// How far search trailed intake under the load, and how soon it caught up after it.
    pub(crate) fn write_index_lag(&self, out: &mut String) -> fmt::Result {
        for cell in &self.results {
            let Some(lag) = &cell.index_lag else {
                continue;
            };
            let caught_up = match lag.caught_up_secs {
                Some(secs) => format!("searchable {secs:.1} s later"),
                None => "not caught up 120 s later".to_owned(),
            };
            writeln!(
                out,
                "\nSearch at {} connections: {} deliveries not yet searchable as the load \
                 stopped; {caught_up} (the indexer yields the CPU to intake).",
                cell.connections, lag.behind_at_end
            )?;
        }
        Ok(())
    }

    /// What the live timelines of `gateway-streams` received and took, and what they cost
    /// intake against the same gateway without them.
    pub(crate) fn write_streams(&self, out: &mut String) -> fmt::Result {
        for cell in &self.results {
            let Some(streams) = &cell.streams else {
                continue;
            };
            let ratio = ratio_of(
                &self.results,
                cell.connections,
                Target::GatewayStreams,
                Target::Gateway,
            );
            writeln!(
                out,
                "\nLive timelines at {} connections: {} open, {} entry events received, \
                 {} KiB per stream (the gateway's resident memory as they opened); \
                 acked/s with them / without: {}",
                cell.connections,
                streams.open,
                streams.events,
                optional(streams.kib_per_stream, 1),
                optional(ratio, 2)
            )?;
        }
        Ok(())
    }

    /// The writer's side of the intake numbers: commits, their size and time, and what the
    /// disk charges for the fsync each one ends with.
    pub(crate) fn write_commits(&self, out: &mut String) -> fmt::Result {
        let cells: Vec<(&CellResult, &commits::CommitStats)> = self
            .results
            .iter()
            .filter_map(|cell| Some((cell, cell.commits.as_ref()?)))
            .collect();
        if !cells.is_empty() {
            writeln!(
                out,
                "\nGroup commits in the measured window (the gateway's /metrics):"
            )?;
            writeln!(
                out,
                "{:<14} {:>11} {:>10} {:>13} {:>10} {:>6}",
                "target", "connections", "commits/s", "per commit", "commit ms", "busy"
            )?;
            for (cell, stats) in cells {
                writeln!(
                    out,
                    "{:<14} {:>11} {:>10.0} {:>13.1} {:>10.2} {:>5.0}%",
                    cell.name(),
                    cell.connections,
                    stats.commits_per_sec,
                    stats.deliveries_per_commit,
                    stats.commit_ms,
                    stats.busy * 100.0
                )?;
            }
        }
        self.write_cpu_by_thread(out)?;
        if let Some(disk) = &self.disk {
            writeln!(
                out,
                "\nThis disk, write then fdatasync (median): 1 page {:.2} ms; {pages} adjacent pages \
                 {:.2} ms; {pages} scattered pages {:.2} ms (+{:.3} ms a page).",
                disk.one_page_ms,
                disk.adjacent_pages_ms,
                disk.scattered_pages_ms,
                disk.per_scattered_page_ms(),
                pages = disk::PAGES_PER_SYNC,
            )?;
        }
        Ok(())
    }

    /// Where each served process's CPU went, by what its threads do.
    fn write_cpu_by_thread(&self, out: &mut String) -> fmt::Result {
        let cells: Vec<_> = self
            .results
            .iter()
            .filter_map(|cell| Some((cell, cell.cpu_us_by_thread.as_ref()?)))
            .collect();
        if cells.is_empty() {
            return Ok(());
        }
        writeln!(
            out,
            "\nWhere the server's CPU went, µs an answer (its threads, by name):"
        )?;
        write!(out, "{:<14} {:>11}", "target", "connections")?;
        for role in ThreadRole::ALL {
            write!(out, " {:>9}", role.label())?;
        }
        writeln!(out)?;
        for (cell, by_thread) in cells {
            write!(out, "{:<14} {:>11}", cell.name(), cell.connections)?;
            for role in ThreadRole::ALL {
                write!(
                    out,
                    " {:>9.1}",
                    by_thread.get(&role).copied().unwrap_or(0.0)
                )?;
            }
            writeln!(out)?;
        }
        Ok(())
    }

    /// The shared backend: how it compares with redb, and where its batches spend their time.
    pub(crate) fn write_phases(&self, out: &mut String) -> fmt::Result {
        if self
            .results
            .iter()
            .any(|cell| matches!(cell.target.serving(), Serving::Postgres { .. }))
        {
            writeln!(
                out,
                "\n{:>11} {:>17} {:>22}",
                "connections", "postgres/gateway", "postgres-pair/postgres"
            )?;
            for ratios in &self.ratios {
                writeln!(
                    out,
                    "{:>11} {:>17} {:>22}",
                    ratios.connections,
                    optional(ratios.postgres_over_gateway, 2),
                    optional(ratios.pair_over_postgres, 2)
                )?;
            }
        }
        let cells: Vec<(&CellResult, &PhaseMillis)> = self
            .results
            .iter()
            .filter_map(|cell| Some((cell, cell.phases.as_ref()?)))
            .collect();
        if cells.is_empty() {
            return Ok(());
        }
        writeln!(
            out,
            "\nWhere a PostgreSQL batch's time goes (mean ms per batch; lock = waiting for the \
             chain-head row, which other gateways' commits hold):"
        )?;
        write!(out, "{:<14} {:>11}", "target", "connections")?;
        for (phase, _) in cells[0].1.by_phase() {
            write!(out, " {:>8}", phase.name())?;
        }
        writeln!(out)?;
        for (cell, phases) in cells {
            write!(out, "{:<14} {:>11}", cell.name(), cell.connections)?;
            for (_, ms) in phases.by_phase() {
                write!(out, " {ms:>8.3}")?;
            }
            writeln!(out)?;
        }
        Ok(())
    }

    pub(crate) fn write_goals(&self, out: &mut String) -> fmt::Result {
        let Some(goals) = &self.goals_at_64_connections else {
            return Ok(());
        };
        writeln!(out, "\nGoals at {GOAL_CONNECTIONS} connections:")?;
        for goal in goals {
            let verdict = match goal.met {
                Some(true) => "met",
                Some(false) => "NOT met",
                None => "not measured",
            };
            let measured = goal
                .measured
                .map(|value| format!("{value:.2}{}", goal.unit))
                .unwrap_or_else(|| "-".to_owned());
            writeln!(out, "  {:<40} {:>10}  {verdict}", goal.goal, measured)?;
        }
        Ok(())
    }
}

pub(crate) fn optional(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{value:.decimals$}"))
}

pub(crate) fn find(
    results: &[CellResult],
    target: Target,
    connections: u32,
) -> Option<&CellResult> {
    results
        .iter()
        .find(|cell| cell.target == target && cell.connections == connections)
}

impl CellResult {
    pub(crate) fn name(&self) -> String {
        Cell {
            target: self.target,
            history: self.history,
        }
        .to_string()
    }
}

pub(crate) fn page_ratios_at(results: &[CellResult], connections: u32) -> Vec<PageRatios> {
    let pages: Vec<&CellResult> = results
        .iter()
        .filter(|cell| cell.target == Target::Pages && cell.connections == connections)
        .collect();
    let baseline = find(results, Target::PlainGet, connections)
        .map(|cell| cell.acked_per_sec)
        .filter(|rate| *rate > 0.0);
    let smallest = pages
        .iter()
        .min_by_key(|cell| cell.history)
        .map(|cell| cell.acked_per_sec)
        .filter(|rate| *rate > 0.0);
    pages
        .iter()
        .filter_map(|cell| {
            Some(PageRatios {
                connections,
                history: cell.history?,
                pages_per_sec: cell.acked_per_sec,
                over_plain_get: baseline.map(|rate| cell.acked_per_sec / rate),
                over_smallest_history: smallest.map(|rate| cell.acked_per_sec / rate),
            })
        })
        .collect()
}

pub(crate) fn throughput_ratio(
    results: &[CellResult],
    connections: u32,
    denominator: Target,
) -> Option<f64> {
    ratio_of(results, connections, Target::Gateway, denominator)
}

/// `numerator`'s acked/s over `denominator`'s, at one connection count.
pub(crate) fn ratio_of(
    results: &[CellResult],
    connections: u32,
    numerator: Target,
    denominator: Target,
) -> Option<f64> {
    let top = find(results, numerator, connections)?.acked_per_sec;
    let bottom = find(results, denominator, connections)?.acked_per_sec;
    (bottom > 0.0).then(|| top / bottom)
}

pub(crate) fn ratios_at(results: &[CellResult], connections: u32) -> Ratios {
    Ratios {
        connections,
        gateway_over_plain: throughput_ratio(results, connections, Target::Plain),
        gateway_over_per_request: throughput_ratio(results, connections, Target::PerRequest),
        gateway_over_log_only: throughput_ratio(results, connections, Target::LogOnly),
        gateway_over_no_tree: throughput_ratio(results, connections, Target::GatewayNoTree),
        log_only_over_plain: ratio_of(results, connections, Target::LogOnly, Target::Plain),
        plain_durable_over_plain: ratio_of(
            results,
            connections,
            Target::PlainDurable,
            Target::Plain,
        ),
        gateway_over_plain_durable: throughput_ratio(results, connections, Target::PlainDurable),
        filled_over_gateway: ratio_of(results, connections, Target::GatewayFilled, Target::Gateway),
        postgres_over_gateway: ratio_of(results, connections, Target::Postgres, Target::Gateway),
        pair_over_postgres: ratio_of(results, connections, Target::PostgresPair, Target::Postgres),
        streams_over_gateway: ratio_of(
            results,
            connections,
            Target::GatewayStreams,
            Target::Gateway,
        ),
    }
}

/// The gateway's goals: at least half of plain HTTP's throughput, p99 within 5 ms, and ten
/// times what committing per request achieves.
pub(crate) fn goals_at(results: &[CellResult], connections: u32) -> Vec<Goal> {
    let at_least = |goal, measured: Option<f64>, unit, floor: f64| Goal {
        goal,
        measured,
        unit,
        met: measured.map(|value| value >= floor),
    };
    let p99 = find(results, Target::Gateway, connections).and_then(|cell| cell.p99_ms);
    let mut goals = Vec::new();
    if find(results, Target::Postgres, connections).is_some() {
        let p99 = find(results, Target::Postgres, connections).and_then(|cell| cell.p99_ms);
        goals.push(at_least(
            "postgres throughput >= 0.5 x gateway (redb)",
            ratio_of(results, connections, Target::Postgres, Target::Gateway),
            " x",
            0.5,
        ));
        goals.push(Goal {
            goal: "postgres p99 <= 10 ms",
            measured: p99,
            unit: " ms",
            met: p99.map(|value| value <= 10.0),
        });
    }
    if find(results, Target::GatewayStreams, connections).is_some() {
        goals.push(at_least(
            "gateway throughput with 500 live timelines >= 0.9 x without",
            ratio_of(
                results,
                connections,
                Target::GatewayStreams,
                Target::Gateway,
            ),
            " x",
            0.9,
        ));
    }
    if find(results, Target::GatewayUnindexed, connections).is_some() {
        goals.push(at_least(
            "gateway (search indexed) >= 0.85 x gateway-unindexed",
            ratio_of(
                results,
                connections,
                Target::Gateway,
                Target::GatewayUnindexed,
            ),
            " x",
            0.85,
        ));
    }
    if let Some(filled) = find(results, Target::GatewayFilled, connections) {
        goals.push(at_least(
            "gateway-filled >= 0.8 x gateway",
            ratio_of(results, connections, Target::GatewayFilled, Target::Gateway),
            " x",
            0.8,
        ));
        // The gateway's own process: the load runs in another.
        goals.push(Goal {
            goal: "gateway-filled peak RSS <= 150 MiB",
            measured: filled.peak_rss_mib,
            unit: " MiB",
            met: filled.peak_rss_mib.map(|mib| mib <= 150.0),
        });
    }
    if find(results, Target::Gateway, connections).is_none() {
        return goals;
    }
    let mut gateway_goals = vec![
        at_least(
            "gateway throughput >= 0.5 x plain",
            throughput_ratio(results, connections, Target::Plain),
            " x",
            0.5,
        ),
        Goal {
            goal: "gateway p99 <= 5 ms",
            measured: p99,
            unit: " ms",
            met: p99.map(|value| value <= 5.0),
        },
        at_least(
            "gateway throughput >= 10 x per-request",
            throughput_ratio(results, connections, Target::PerRequest),
            " x",
            10.0,
        ),
    ];
    gateway_goals.append(&mut goals);
    gateway_goals
}
