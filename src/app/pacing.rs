//! When the search indexer gives way to intake.
//!
//! The index is a projection that may lag for a moment; the 2xx may not wait. The indexer's
//! thread already runs at the lowest CPU priority (nice 19), but on two cores that is not
//! enough: a nice-19 thread that is running keeps its slice when the writer or an HTTP worker
//! wakes, and each such wait lands on the path of a 2xx. Measured at 64 connections, an
//! indexer that followed intake at full speed cost up to a fifth of its throughput (gateway /
//! gateway-unindexed 0.79–0.87 across runs) and about doubled its p99, while using CPU that
//! was mostly idle. (Linux's idle scheduling class avoids that too, but without a bound: with
//! both cores kept busy by anything else, search would stop following.)
//!
//! So while intake is committing, the indexer works a round and then rests three times as
//! long: it is on the CPU a quarter of the time it would be, and falls behind during a burst
//! instead of slowing it. Searches say how far behind they are. The deferral is bounded: once
//! the index has been behind for [`Pacing::AT_MOST`], it works at full speed again, so under
//! a sustained load it trails by seconds, not without end. With intake quiet it never rests
//! between rounds.

use std::time::{Duration, Instant};

use crate::search::Indexing;

/// The indexer's rhythm: what it does after each round.
#[derive(Debug, Default)]
pub struct Pacing {
    /// When the index was last seen behind after being caught up.
    behind_since: Option<Instant>,
}

/// What the indexer does after a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Another round at once.
    Round,
    /// Another round after this rest (woken early only to stop).
    Rest(Duration),
    /// Nothing more: the backend indexes in its own commits, or not at all.
    Stop,
}

impl Pacing {
    /// A commit this recent means intake is taking deliveries now.
    pub const BUSY_WITHIN: Duration = Duration::from_millis(100);
    /// The longest the indexer gives way to intake before it works at full speed.
    pub const AT_MOST: Duration = Duration::from_secs(10);
    /// How long a round's time it rests while giving way.
    const REST_PER_ROUND: u32 = 3;
    /// How often an index that has caught up looks for more.
    pub const CAUGHT_UP: Duration = Duration::from_millis(250);
    /// How long after a failed round it tries again.
    pub const AFTER_FAILURE: Duration = Duration::from_secs(2);

    /// What follows a round that ended in `outcome` after `took`, with intake committing or not.
    pub fn after(
        &mut self,
        outcome: Indexing,
        took: Duration,
        intake_busy: bool,
        now: Instant,
    ) -> Next {
        match outcome {
            Indexing::InCommit | Indexing::Off => Next::Stop,
            Indexing::CaughtUp => {
                self.behind_since = None;
                Next::Rest(Self::CAUGHT_UP)
            }
            Indexing::Behind => {
                let since = *self.behind_since.get_or_insert(now);
                if intake_busy && now.duration_since(since) < Self::AT_MOST {
                    Next::Rest(took * Self::REST_PER_ROUND)
                } else {
                    Next::Round
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUND: Duration = Duration::from_millis(20);

    #[test]
    fn with_intake_quiet_the_indexer_never_rests_while_behind() {
        let mut pacing = Pacing::default();
        let now = Instant::now();
        assert_eq!(
            pacing.after(Indexing::Behind, ROUND, false, now),
            Next::Round
        );
        assert_eq!(
            pacing.after(Indexing::Behind, ROUND, false, now + ROUND),
            Next::Round
        );
    }

    #[test]
    fn while_intake_commits_the_indexer_rests_three_rounds_for_each_it_works() {
        let mut pacing = Pacing::default();
        let now = Instant::now();
        assert_eq!(
            pacing.after(Indexing::Behind, ROUND, true, now),
            Next::Rest(ROUND * 3)
        );
    }

    #[test]
    fn it_gives_way_for_a_bounded_time_then_works_at_full_speed() {
        let mut pacing = Pacing::default();
        let start = Instant::now();
        pacing.after(Indexing::Behind, ROUND, true, start);
        let nearly = start + Pacing::AT_MOST - Duration::from_millis(1);
        assert_eq!(
            pacing.after(Indexing::Behind, ROUND, true, nearly),
            Next::Rest(ROUND * 3)
        );
        assert_eq!(
            pacing.after(Indexing::Behind, ROUND, true, start + Pacing::AT_MOST),
            Next::Round,
            "a sustained load does not defer the index without end"
        );
    }

    #[test]
    fn catching_up_starts_the_bound_afresh() {
        let mut pacing = Pacing::default();
        let start = Instant::now();
        pacing.after(Indexing::Behind, ROUND, true, start);
        let later = start + Pacing::AT_MOST * 2;
        assert_eq!(
            pacing.after(Indexing::CaughtUp, ROUND, true, later),
            Next::Rest(Pacing::CAUGHT_UP)
        );
        assert_eq!(
            pacing.after(Indexing::Behind, ROUND, true, later + ROUND),
            Next::Rest(ROUND * 3),
            "a new burst is given way to again"
        );
    }

    #[test]
    fn a_backend_that_indexes_in_its_commits_needs_no_indexer() {
        let mut pacing = Pacing::default();
        let now = Instant::now();
        assert_eq!(
            pacing.after(Indexing::InCommit, ROUND, true, now),
            Next::Stop
        );
        assert_eq!(pacing.after(Indexing::Off, ROUND, false, now), Next::Stop);
    }
}
