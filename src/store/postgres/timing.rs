//! Where an append's time goes on PostgreSQL, phase by phase, summed over every batch: what
//! `hooktrail-bench` reports to explain the shared backend's throughput and latency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

const PHASES: usize = 5;

/// The steps of one batch's transaction, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Taking a pooled connection.
    Connect,
    /// Waiting for the chain-head row lock, which other writers' transactions hold (the
    /// server's clock).
    Lock,
    /// The rest of the first round trip: `BEGIN`, the lock itself, and the pipelined read of
    /// what the batch will look at.
    Read,
    /// The projection rules, with any row they asked for that was not read ahead.
    Rules,
    /// The second round trip: the multi-row writes and `COMMIT` (the WAL flush), pipelined.
    Commit,
}

impl Phase {
    pub const ALL: [Phase; PHASES] = [
        Phase::Connect,
        Phase::Lock,
        Phase::Read,
        Phase::Rules,
        Phase::Commit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Connect => "connect",
            Phase::Lock => "lock",
            Phase::Read => "read",
            Phase::Rules => "rules",
            Phase::Commit => "commit",
        }
    }
}

/// Running totals, updated by the writer after each batch.
#[derive(Default)]
pub struct PhaseTotals {
    nanos: [AtomicU64; PHASES],
    batches: AtomicU64,
}

impl PhaseTotals {
    pub fn record(&self, lap: &Laps) {
        for (total, nanos) in self.nanos.iter().zip(lap.nanos) {
            total.fetch_add(nanos, Ordering::Relaxed);
        }
        self.batches.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> PhaseSnapshot {
        PhaseSnapshot {
            nanos: self.nanos.each_ref().map(|n| n.load(Ordering::Relaxed)),
            batches: self.batches.load(Ordering::Relaxed),
        }
    }
}

/// The totals at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseSnapshot {
    nanos: [u64; PHASES],
    batches: u64,
}

impl PhaseSnapshot {
    /// Several gateways' totals together.
    pub fn plus(self, other: PhaseSnapshot) -> PhaseSnapshot {
        let mut nanos = self.nanos;
        for (sum, more) in nanos.iter_mut().zip(other.nanos) {
            *sum += more;
        }
        PhaseSnapshot {
            nanos,
            batches: self.batches + other.batches,
        }
    }

    /// The mean time per batch of each phase between two snapshots, in ms; `None` if no batch
    /// ran.
    pub fn per_batch_since(self, start: PhaseSnapshot) -> Option<PhaseMillis> {
        let batches = self.batches.checked_sub(start.batches).filter(|n| *n > 0)?;
        let ms = |index: usize| {
            self.nanos[index].saturating_sub(start.nanos[index]) as f64 / batches as f64 / 1e6
        };
        Some(PhaseMillis {
            connect: ms(0),
            lock: ms(1),
            read: ms(2),
            rules: ms(3),
            commit: ms(4),
        })
    }
}

/// Mean milliseconds per batch, by phase.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PhaseMillis {
    pub connect: f64,
    pub lock: f64,
    pub read: f64,
    pub rules: f64,
    pub commit: f64,
}

impl PhaseMillis {
    pub fn by_phase(&self) -> [(Phase, f64); PHASES] {
        [
            (Phase::Connect, self.connect),
            (Phase::Lock, self.lock),
            (Phase::Read, self.read),
            (Phase::Rules, self.rules),
            (Phase::Commit, self.commit),
        ]
    }
}

/// One batch's stopwatch.
pub struct Laps {
    last: Instant,
    nanos: [u64; PHASES],
}

impl Laps {
    pub fn start() -> Laps {
        Laps {
            last: Instant::now(),
            nanos: [0; PHASES],
        }
    }

    /// Charges the time since the previous lap to `phase`.
    pub fn lap(&mut self, phase: Phase) {
        self.split(phase, phase, Duration::MAX);
    }

    /// Charges the time since the previous lap to `first`, up to `first_share`, and the rest
    /// to `rest`.
    pub fn split(&mut self, first: Phase, rest: Phase, first_share: Duration) {
        let now = Instant::now();
        let elapsed = now - self.last;
        let share = elapsed.min(first_share);
        self.nanos[index(first)] += nanos(share);
        self.nanos[index(rest)] += nanos(elapsed - share);
        self.last = now;
    }
}

fn index(phase: Phase) -> usize {
    Phase::ALL.iter().position(|p| *p == phase).unwrap_or(0)
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_average_over_the_batches_between_snapshots() {
        let totals = PhaseTotals::default();
        let start = totals.snapshot();
        assert_eq!(totals.snapshot().per_batch_since(start), None);
        for _ in 0..2 {
            let mut laps = Laps::start();
            laps.nanos = [1_000_000, 2_000_000, 0, 0, 4_000_000];
            totals.record(&laps);
        }
        let per_batch = totals.snapshot().per_batch_since(start).unwrap();
        assert_eq!(per_batch.connect, 1.0);
        assert_eq!(per_batch.lock, 2.0);
        assert_eq!(per_batch.commit, 4.0);
        let both = totals.snapshot().plus(totals.snapshot());
        assert_eq!(both.per_batch_since(start).unwrap().lock, 2.0);
    }
}
