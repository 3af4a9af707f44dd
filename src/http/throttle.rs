//! Slowing down password guessing: after a few failed sign-ins, a username (and, with a larger
//! allowance, a client address) must wait before the next attempt, twice as long after each
//! further failure, up to a ceiling. Attempts during the wait are refused without checking the
//! password, so guessing costs the guesser time, not this server CPU.
//!
//! An attempt is counted the moment it is let through, before its password is checked, and
//! stays counted unless it proves a success ([`Attempt`]): a burst of attempts sent at once
//! gets no more checks than one sent after another. And however many different usernames and
//! addresses arrive at once, at most [`PasswordChecks`] checks run together — each holds
//! argon2's memory (19 MiB) — and the rest are told to come back, without waiting in a queue.
//!
//! Memory is bounded: each table holds at most [`MAX_TRACKED`] keys; records expire after
//! [`Policy::forget_after`] without failures, and when a table is full the stalest record
//! makes room. Usernames are tracked whether or not they exist, so the throttle does not
//! reveal which do.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The most keys each table remembers.
pub const MAX_TRACKED: usize = 10_000;

/// How failures turn into waiting.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures allowed without waiting; after that many, each attempt must wait.
    pub free_failures: u32,
    /// The wait once the free failures are used up; it doubles with each further failure.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// A record with no failure for this long starts over.
    pub forget_after: Duration,
}

impl Policy {
    /// Per username: a person mistyping a few times never waits; a guesser soon waits minutes.
    pub const USERNAME: Policy = Policy {
        free_failures: 5,
        first_delay: Duration::from_secs(2),
        max_delay: Duration::from_secs(15 * 60),
        forget_after: Duration::from_secs(60 * 60),
    };

    /// Per client address: more generous, since a shop may share one address (and a proxy in
    /// front of the gateway makes every client one address).
    pub const CLIENT: Policy = Policy {
        free_failures: 20,
        first_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(5 * 60),
        forget_after: Duration::from_secs(60 * 60),
    };

    fn delay_after(&self, failures: u32) -> Duration {
        if failures < self.free_failures {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free_failures).min(20);
        self.first_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }
}

/// What a table remembers of one key.
#[derive(Debug, Clone, Copy)]
struct Failures {
    /// Failed attempts, counting those still being checked (see [`Attempt`]).
    count: u32,
    /// Attempts reserved and not yet settled: part of `count` until they prove a success.
    pending: u32,
    last: Instant,
}

/// One table of failure records with its policy.
struct Tracker<K> {
    policy: Policy,
    records: HashMap<K, Failures>,
}

impl<K: Hash + Eq + Clone> Tracker<K> {
    fn new(policy: Policy) -> Self {
        Tracker {
            policy,
            records: HashMap::new(),
        }
    }

    fn wait(&self, key: &K, now: Instant) -> Option<Duration> {
        let record = self.records.get(key)?;
        let delay = self.policy.delay_after(record.count);
        if record.pending > 0 {
            // Attempts still being checked are failures that have not ended yet: the wait
            // after them cannot have begun.
            return (!delay.is_zero()).then_some(delay);
        }
        let elapsed = now.saturating_duration_since(record.last);
        if elapsed >= self.policy.forget_after {
            return None;
        }
        (elapsed < delay).then(|| delay - elapsed)
    }

    /// Counts an attempt as a failure from now on, and as pending until it is settled.
    fn reserve(&mut self, key: K, now: Instant) {
        let forget_after = self.policy.forget_after;
        if !self.records.contains_key(&key) && self.records.len() >= MAX_TRACKED {
            self.records.retain(|_, record| {
                record.pending > 0 || now.saturating_duration_since(record.last) < forget_after
            });
            if self.records.len() >= MAX_TRACKED
                && let Some(stalest) = self
                    .records
                    .iter()
                    .min_by_key(|(_, record)| record.last)
                    .map(|(key, _)| key.clone())
            {
                self.records.remove(&stalest);
            }
        }
        let record = self.records.entry(key).or_insert(Failures {
            count: 0,
            pending: 0,
            last: now,
        });
        if now.saturating_duration_since(record.last) >= forget_after {
            // Settled failures this old are forgotten; attempts still running are not.
            record.count = record.pending;
        }
        record.count = record.count.saturating_add(1);
        record.pending = record.pending.saturating_add(1);
        record.last = now;
    }

    /// A reserved attempt failed: it stays counted, and the wait runs from now.
    fn settle_failure(&mut self, key: &K, now: Instant) {
        if let Some(record) = self.records.get_mut(key) {
            record.pending = record.pending.saturating_sub(1);
            record.last = record.last.max(now);
        }
    }

    /// A reserved attempt is not counted after all.
    fn refund(&mut self, key: &K) {
        if let Some(record) = self.records.get_mut(key) {
            record.pending = record.pending.saturating_sub(1);
            record.count = record.count.saturating_sub(1);
            if record.count == 0 && record.pending == 0 {
                self.records.remove(key);
            }
        }
    }

    /// A reserved attempt succeeded: the key's settled failures are forgiven, while attempts
    /// still running keep counting until they settle themselves.
    fn forgive(&mut self, key: &K) {
        if let Some(record) = self.records.get_mut(key) {
            record.pending = record.pending.saturating_sub(1);
            record.count = record.pending;
            if record.pending == 0 {
                self.records.remove(key);
            }
        }
    }
}

/// The sign-in throttle: one table per username, one per client address.
pub struct LoginThrottle {
    state: Mutex<State>,
}

struct State {
    usernames: Tracker<String>,
    clients: Tracker<IpAddr>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::new(Policy::USERNAME, Policy::CLIENT)
    }
}

impl LoginThrottle {
    pub fn new(usernames: Policy, clients: Policy) -> Self {
        LoginThrottle {
            state: Mutex::new(State {
                usernames: Tracker::new(usernames),
                clients: Tracker::new(clients),
            }),
        }
    }

    /// Reserves a sign-in attempt of `username` from `client`, or `Err(wait)` when either must
    /// wait first (and then nothing is counted).
    ///
    /// Checking and counting happen under one lock, and the attempt counts as a failure of
    /// both from this moment until it proves a success. So attempts running at once cannot all
    /// pass the check: once the free failures are reserved, the next attempt waits, however
    /// many arrive together.
    pub fn reserve(
        &self,
        username: &str,
        client: IpAddr,
        now: Instant,
    ) -> Result<Attempt<'_>, Duration> {
        let (username, client) = (username_key(username), client_key(client));
        let mut state = self.lock();
        let wait = [
            state.usernames.wait(&username, now),
            state.clients.wait(&client, now),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        state.usernames.reserve(username.clone(), now);
        state.clients.reserve(client, now);
        Ok(Attempt {
            throttle: self,
            username,
            client,
            settled: false,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every update is one insert.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A reserved sign-in attempt, counted as a failure until settled otherwise. Dropping it
/// unsettled (the request went away mid-check, say) settles it as a failure.
#[must_use = "an attempt counts as a failure unless it is settled otherwise"]
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    username: String,
    client: IpAddr,
    settled: bool,
}

impl Attempt<'_> {
    /// The password was wrong (or the user unknown): it stays counted, the wait starts now.
    pub fn failed(mut self, now: Instant) {
        self.fail(now);
    }

    /// The password matched: the username's earlier failures are forgiven, and this attempt
    /// no longer counts against the address (which keeps its other failures, so one valid
    /// account cannot launder guesses at others).
    pub fn succeeded(mut self) {
        self.settled = true;
        let mut state = self.throttle.lock();
        state.usernames.forgive(&self.username);
        state.clients.refund(&self.client);
    }

    fn fail(&mut self, now: Instant) {
        if std::mem::replace(&mut self.settled, true) {
            return;
        }
        let mut state = self.throttle.lock();
        state.usernames.settle_failure(&self.username, now);
        state.clients.settle_failure(&self.client, now);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.fail(Instant::now());
    }
}

/// The most password checks that run at once when the config leaves it to the cores.
pub const MAX_AUTOMATIC_PASSWORD_CHECKS: usize = 8;

/// A fixed number of slots for password checks. Argon2 is slow and holds its memory (19 MiB
/// with the default parameters) for the whole check, so checks that run at once cost that
/// much each; beyond the slots a sign-in is refused at once rather than queued, since a queue
/// that grows with the attack would only move the memory elsewhere.
pub struct PasswordChecks {
    slots: Arc<Semaphore>,
    capacity: usize,
}

impl PasswordChecks {
    /// `configured` slots, or with 0, one per core up to [`MAX_AUTOMATIC_PASSWORD_CHECKS`]:
    /// a check is CPU work, so more at once than cores only makes each one slower.
    pub fn new(configured: usize) -> PasswordChecks {
        let capacity = match configured {
            0 => std::thread::available_parallelism()
                .map_or(1, usize::from)
                .min(MAX_AUTOMATIC_PASSWORD_CHECKS),
            slots => slots,
        };
        PasswordChecks {
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
        }
    }

    /// A slot for one check, held until the permit is dropped; `None` when all are taken.
    /// Move it into the blocking task that runs the check, so it is held until the check
    /// really ends, even when the request that started it has gone.
    pub fn try_start(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// Checks running right now.
    pub fn running(&self) -> usize {
        self.capacity.saturating_sub(self.slots.available_permits())
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Usernames are typed by anyone: bounded and case-folded, so `Dana` and `dana` share a record.
fn username_key(username: &str) -> String {
    username
        .trim()
        .chars()
        .take(128)
        .collect::<String>()
        .to_lowercase()
}

/// IPv6 clients usually control a whole /64, so that is the unit.
fn client_key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::from(segments)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Policy = Policy {
        free_failures: 2,
        first_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(8),
        forget_after: Duration::from_secs(100),
    };
    const LOOSE: Policy = Policy {
        free_failures: u32::MAX,
        ..FAST
    };
    /// Waits long enough that no test could outlast one.
    const PATIENT: Policy = Policy {
        first_delay: Duration::from_secs(3600),
        max_delay: Duration::from_secs(3600),
        forget_after: Duration::from_secs(7200),
        ..FAST
    };

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// One attempt that fails at `at`.
    fn fail(throttle: &LoginThrottle, username: &str, client: IpAddr, at: Instant) {
        throttle
            .reserve(username, client, at)
            .expect("may try")
            .failed(at);
    }

    #[test]
    fn waits_grow_after_the_free_failures_and_cap() {
        let throttle = LoginThrottle::new(FAST, LOOSE);
        let t0 = Instant::now();
        let client = ip("192.0.2.1");
        fail(&throttle, "dana", client, t0);
        fail(&throttle, "Dana", client, t0);
        assert_eq!(
            throttle.reserve("DANA", client, t0).err(),
            Some(Duration::from_secs(1)),
            "two are free, case-folded"
        );
        fail(&throttle, "dana", client, t0 + Duration::from_secs(1));
        assert_eq!(
            throttle
                .reserve("dana", client, t0 + Duration::from_secs(1))
                .err(),
            Some(Duration::from_secs(2)),
            "doubling"
        );
        fail(&throttle, "dana", client, t0 + Duration::from_secs(3));
        for _ in 0..10 {
            // Refused attempts are not counted; these are refused until the ceiling.
            assert!(
                throttle
                    .reserve("dana", client, t0 + Duration::from_secs(3))
                    .is_err()
            );
        }
        let later = t0 + Duration::from_secs(7);
        fail(&throttle, "dana", client, later);
        fail_until_capped(&throttle, "dana", client, later);
        assert!(throttle.reserve("someone-else", client, later).is_ok());
    }

    /// Fails as soon as allowed, until the wait stops growing: it must stop at the ceiling.
    fn fail_until_capped(throttle: &LoginThrottle, username: &str, client: IpAddr, from: Instant) {
        let mut at = from;
        let mut waits = Vec::new();
        for _ in 0..8 {
            let wait = throttle.reserve(username, client, at).err().unwrap();
            waits.push(wait);
            at += wait;
            fail(throttle, username, client, at);
        }
        assert_eq!(waits.last(), Some(&Duration::from_secs(8)), "{waits:?}");
        assert!(waits.windows(2).all(|pair| pair[0] <= pair[1]), "{waits:?}");
    }

    #[test]
    fn attempts_at_once_are_counted_before_their_passwords_are_checked() {
        let throttle = LoginThrottle::new(FAST, LOOSE);
        let t0 = Instant::now();
        let client = ip("192.0.2.1");
        // Two attempts let through and still being checked: the third must already wait.
        let first = throttle.reserve("dana", client, t0).unwrap();
        let second = throttle.reserve("dana", client, t0).unwrap();
        assert!(throttle.reserve("dana", client, t0).is_err());
        assert!(throttle.reserve("dana", client, t0).is_err());
        // One proves a success: the other is still running and still counts.
        first.succeeded();
        let third = throttle.reserve("dana", client, t0).unwrap();
        assert!(throttle.reserve("dana", client, t0).is_err());
        // Failing starts the wait from when the check ended.
        second.failed(t0 + Duration::from_secs(5));
        third.failed(t0 + Duration::from_secs(5));
        assert_eq!(
            throttle
                .reserve("dana", client, t0 + Duration::from_secs(5))
                .err(),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn an_attempt_that_goes_away_counts_as_a_failure() {
        let throttle = LoginThrottle::new(PATIENT, LOOSE);
        let t0 = Instant::now();
        let client = ip("192.0.2.1");
        // Dropped unsettled (the request went away mid-check): a failure.
        drop(throttle.reserve("dana", client, t0).unwrap());
        drop(throttle.reserve("dana", client, t0).unwrap());
        assert!(throttle.reserve("dana", client, Instant::now()).is_err());
    }

    #[test]
    fn a_success_forgives_the_username_but_not_the_address() {
        let throttle = LoginThrottle::new(FAST, FAST);
        let t0 = Instant::now();
        let client = ip("192.0.2.1");
        fail(&throttle, "dana", client, t0);
        throttle.reserve("dana", client, t0).unwrap().succeeded();
        // Dana's record is gone; the address keeps its one failure, not the success.
        assert!(throttle.lock().usernames.records.is_empty());
        fail(&throttle, "lee", client, t0);
        assert!(throttle.reserve("kim", client, t0).is_err());
    }

    #[test]
    fn one_client_guessing_many_usernames_is_slowed_too() {
        let throttle = LoginThrottle::new(LOOSE, FAST);
        let t0 = Instant::now();
        let client = ip("2001:db8::1");
        // At once, for different usernames: the address's reservations add up.
        let running: Vec<_> = (0..2)
            .map(|n| throttle.reserve(&format!("user{n}"), client, t0).unwrap())
            .collect();
        // The same /64 is the same client.
        assert!(throttle.reserve("user9", ip("2001:db8::2"), t0).is_err());
        assert!(throttle.reserve("user9", ip("2001:db9::1"), t0).is_ok());
        drop(running);
        assert!(throttle.reserve("user9", client, t0).is_err());
    }

    #[test]
    fn records_are_forgotten_and_memory_is_bounded() {
        let throttle = LoginThrottle::new(FAST, LOOSE);
        let t0 = Instant::now();
        fail(&throttle, "dana", ip("192.0.2.1"), t0);
        fail(&throttle, "dana", ip("192.0.2.1"), t0);
        let later = t0 + Duration::from_secs(101);
        assert!(throttle.reserve("dana", ip("192.0.2.1"), later).is_ok());

        for n in 0..(MAX_TRACKED + 50) {
            fail(&throttle, &format!("guess{n}"), ip("192.0.2.9"), later);
        }
        let state = throttle.lock();
        assert!(state.usernames.records.len() <= MAX_TRACKED);
    }

    #[test]
    fn password_checks_beyond_the_slots_are_refused_not_queued() {
        let checks = PasswordChecks::new(2);
        let first = checks.try_start().unwrap();
        let second = checks.try_start().unwrap();
        assert_eq!(checks.running(), 2);
        assert!(checks.try_start().is_none());
        drop(first);
        assert_eq!(checks.running(), 1);
        assert!(checks.try_start().is_some());
        drop(second);
        let automatic = PasswordChecks::new(0).capacity();
        assert!((1..=MAX_AUTOMATIC_PASSWORD_CHECKS).contains(&automatic));
    }
}
