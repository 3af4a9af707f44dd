//! Sessions that were signed out before their expiry, in memory.
//!
//! Every page and API request asks whether its session was signed out, so the answer must
//! cost no I/O: this is a copy of the store's revocations, loaded when the gateway starts and
//! added to after each revocation is committed. With one redb file, every revocation passes
//! through this process, so the copy is exact. A backend shared by several gateways hands each
//! gateway the others' revocations from the database's change notifications
//! ([`crate::store::ChangeFeed::revocations_from_elsewhere`]), which the session check adds
//! here before it answers. Records are dropped once every session they cover has expired, so
//! the copy holds only the sign-outs of the last session lifetime.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use chrono::{DateTime, Utc};

use super::session::Session;
use crate::store::Revocation;

#[derive(Default)]
pub struct RevokedSessions {
    records: RwLock<Records>,
}

#[derive(Default)]
struct Records {
    /// Signed-out sessions: id → when the session would have expired (µs).
    sessions: HashMap<u128, i64>,
    /// "Signed out everywhere": username → (sessions issued up to this µs are void, the µs
    /// after which none of them is still unexpired).
    cutoffs: HashMap<String, (i64, i64)>,
}

impl RevokedSessions {
    /// The store's revocations in force when the gateway starts.
    pub fn new(revocations: impl IntoIterator<Item = Revocation>) -> RevokedSessions {
        let revoked = RevokedSessions::default();
        for revocation in revocations {
            revoked.write().add(&revocation);
        }
        revoked
    }

    /// Adds a revocation the store has committed, and forgets those expired by `now`.
    pub fn record(&self, revocation: &Revocation, now: DateTime<Utc>) {
        let now = now.timestamp_micros();
        let mut records = self.write();
        records.sessions.retain(|_, expires| *expires > now);
        records.cutoffs.retain(|_, (_, expires)| *expires > now);
        records.add(revocation);
    }

    /// Whether `session` was signed out, by itself or by "sign out everywhere".
    pub fn covers(&self, session: &Session) -> bool {
        let Some(username) = session.username() else {
            return false; // a visitor's session signs nobody in
        };
        let records = self.records.read().unwrap_or_else(PoisonError::into_inner);
        records.sessions.contains_key(&session.id())
            || records
                .cutoffs
                .get(username)
                .is_some_and(|(up_to, _)| session.issued_micros() <= *up_to)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Records> {
        // Each update is a single insert or retain, so a panicking holder leaves no half-state.
        self.records.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Records {
    fn add(&mut self, revocation: &Revocation) {
        match revocation {
            Revocation::Session { id, expires } => {
                self.sessions.insert(*id, expires.timestamp_micros());
            }
            Revocation::AllSessionsOf {
                username,
                issued_up_to,
                expires,
            } => {
                let cutoff = self
                    .cutoffs
                    .entry(username.clone())
                    .or_insert((i64::MIN, 0));
                cutoff.0 = cutoff.0.max(issued_up_to.timestamp_micros());
                cutoff.1 = cutoff.1.max(expires.timestamp_micros());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UserConfig;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    fn user(name: &str) -> UserConfig {
        UserConfig {
            username: name.to_owned(),
            password_hash: "$argon2id$x".to_owned(),
            role: Default::default(),
        }
    }

    #[test]
    fn a_signed_out_session_is_covered_and_no_other() {
        let first = Session::staff(&user("dana"), at(0)).unwrap();
        let second = Session::staff(&user("dana"), at(0)).unwrap();
        let revoked = RevokedSessions::new([Revocation::Session {
            id: first.id(),
            expires: at(100),
        }]);
        assert!(revoked.covers(&first));
        assert!(!revoked.covers(&second));
        assert!(!revoked.covers(&Session::visitor(at(0)).unwrap()));
    }

    #[test]
    fn signing_out_everywhere_covers_every_earlier_session_of_that_user_only() {
        let before = Session::staff(&user("dana"), at(0)).unwrap();
        let others = Session::staff(&user("lee"), at(0)).unwrap();
        let revoked = RevokedSessions::default();
        revoked.record(
            &Revocation::AllSessionsOf {
                username: "dana".to_owned(),
                issued_up_to: at(10),
                expires: at(1000),
            },
            at(10),
        );
        assert!(revoked.covers(&before));
        assert!(!revoked.covers(&others));
        let after = Session::staff(&user("dana"), at(11)).unwrap();
        assert!(!revoked.covers(&after), "signing in again works");
    }

    #[test]
    fn records_are_forgotten_once_their_sessions_have_expired() {
        let session = Session::staff(&user("dana"), at(0)).unwrap();
        let revoked = RevokedSessions::default();
        revoked.record(
            &Revocation::Session {
                id: session.id(),
                expires: at(100),
            },
            at(1),
        );
        revoked.record(
            &Revocation::Session {
                id: 7,
                expires: at(300),
            },
            at(200),
        );
        let records = revoked.records.read().unwrap();
        assert_eq!(records.sessions.keys().collect::<Vec<_>>(), [&7]);
    }
}
