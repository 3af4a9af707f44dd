//! Slowing down password guessing: after a few failed sign-ins, a username (and, with a larger
//! allowance, a client address) must wait before the next attempt, twice as long after each
//! further failure, up to a ceiling. Attempts during the wait are refused without checking the
//! password, so guessing costs the guesser time, not this server CPU.
//!
//! Memory is bounded: each table holds at most [`MAX_TRACKED`] keys; records expire after
//! [`Policy::forget_after`] without failures, and when a table is full the stalest record
//! makes room. Usernames are tracked whether or not they exist, so the throttle does not
//! reveal which do.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
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
        let elapsed = now.saturating_duration_since(record.last);
        if elapsed >= self.policy.forget_after {
            return None;
        }
        let delay = self.policy.delay_after(record.count);
        (elapsed < delay).then(|| delay - elapsed)
    }

    fn fail(&mut self, key: K, now: Instant) {
        let forget_after = self.policy.forget_after;
        if !self.records.contains_key(&key) && self.records.len() >= MAX_TRACKED {
            self.records
                .retain(|_, record| now.saturating_duration_since(record.last) < forget_after);
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
            last: now,
        });
        if now.saturating_duration_since(record.last) >= forget_after {
            record.count = 0;
        }
        record.count = record.count.saturating_add(1);
        record.last = now;
    }
}

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

    /// `Err(wait)` when this attempt must not be checked yet.
    pub fn check(&self, username: &str, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let state = self.lock();
        let wait = [
            state.usernames.wait(&username_key(username), now),
            state.clients.wait(&client_key(client), now),
        ]
        .into_iter()
        .flatten()
        .max();
        match wait {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, username: &str, client: IpAddr, now: Instant) {
        let mut state = self.lock();
        state.usernames.fail(username_key(username), now);
        state.clients.fail(client_key(client), now);
    }

    /// A successful sign-in clears its username's record (the address keeps its own, so one
    /// valid account cannot launder guesses at others).
    pub fn record_success(&self, username: &str) {
        self.lock()
            .usernames
            .records
            .remove(&username_key(username));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every update is one insert.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
        free_failures: 1000,
        ..FAST
    };

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn waits_grow_after_the_free_failures_and_cap() {
        let throttle = LoginThrottle::new(FAST, LOOSE);
        let t0 = Instant::now();
        let client = ip("192.0.2.1");
        for _ in 0..2 {
            assert!(throttle.check("dana", client, t0).is_ok(), "two are free");
            throttle.record_failure("Dana", client, t0);
        }
        assert_eq!(
            throttle.check("DANA", client, t0),
            Err(Duration::from_secs(1))
        );
        throttle.record_failure("dana", client, t0 + Duration::from_secs(1));
        assert_eq!(
            throttle.check("dana", client, t0 + Duration::from_secs(1)),
            Err(Duration::from_secs(2)),
            "doubling"
        );
        assert!(
            throttle
                .check("dana", client, t0 + Duration::from_secs(3))
                .is_ok()
        );
        for _ in 0..10 {
            throttle.record_failure("dana", client, t0);
        }
        assert_eq!(
            throttle.check("dana", client, t0),
            Err(Duration::from_secs(8))
        );
        assert!(throttle.check("someone-else", client, t0).is_ok());
        throttle.record_success("dana");
        assert!(throttle.check("dana", client, t0).is_ok());
    }

    #[test]
    fn one_client_guessing_many_usernames_is_slowed_too() {
        let throttle = LoginThrottle::new(LOOSE, FAST);
        let t0 = Instant::now();
        let client = ip("2001:db8::1");
        for n in 0..3 {
            throttle.record_failure(&format!("user{n}"), client, t0);
        }
        // The same /64 is the same client.
        assert!(throttle.check("user9", ip("2001:db8::2"), t0).is_err());
        assert!(throttle.check("user9", ip("2001:db9::1"), t0).is_ok());
    }

    #[test]
    fn records_are_forgotten_and_memory_is_bounded() {
        let throttle = LoginThrottle::new(FAST, FAST);
        let t0 = Instant::now();
        for _ in 0..5 {
            throttle.record_failure("dana", ip("192.0.2.1"), t0);
        }
        let later = t0 + Duration::from_secs(101);
        assert!(throttle.check("dana", ip("192.0.2.1"), later).is_ok());

        for n in 0..(MAX_TRACKED + 50) {
            throttle.record_failure(&format!("guess{n}"), ip("192.0.2.9"), later);
        }
        let state = throttle.lock();
        assert!(state.usernames.records.len() <= MAX_TRACKED);
    }
}
