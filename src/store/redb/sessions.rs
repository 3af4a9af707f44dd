//! Revoked staff sessions (see [`crate::store::Revocation`]): two small tables, written in a
//! short transaction of their own per sign-out (redb serializes it with the writer's commits),
//! and pruned of expired rows in that same transaction.

use chrono::{DateTime, Utc};
use redb::ReadableTable;

use super::files::{Files, ReadTxn, WriteTxn};

use super::tables::{REVOKED_SESSIONS, SESSION_CUTOFFS};
use crate::store::{Revocation, StoreError};

/// Creates both tables, so readers never meet a file without them.
pub fn create_tables(txn: &WriteTxn<'_>) -> Result<(), StoreError> {
    txn.open_table(REVOKED_SESSIONS)?;
    txn.open_table(SESSION_CUTOFFS)?;
    Ok(())
}

pub fn revoke(db: &Files, revocation: &Revocation, now: DateTime<Utc>) -> Result<(), StoreError> {
    let now = micros(now);
    let txn = db.begin_write()?;
    {
        let mut sessions = txn.open_table(REVOKED_SESSIONS)?;
        let mut cutoffs = txn.open_table(SESSION_CUTOFFS)?;
        sessions.retain(|_, expires| expires > now)?;
        cutoffs.retain(|_, (_, expires)| expires > now)?;
        match revocation {
            Revocation::Session { id, expires } => {
                sessions.insert(id, micros(*expires))?;
            }
            Revocation::AllSessionsOf {
                username,
                issued_up_to,
                expires,
            } => {
                // A later cutoff covers an earlier one; never move one back.
                let (mut up_to, mut until) = (micros(*issued_up_to), micros(*expires));
                if let Some(existing) = cutoffs.get(username.as_str())? {
                    let (earlier_up_to, earlier_until) = existing.value();
                    up_to = up_to.max(earlier_up_to);
                    until = until.max(earlier_until);
                }
                cutoffs.insert(username.as_str(), (up_to, until))?;
            }
        }
    }
    txn.commit()?;
    Ok(())
}

pub fn revocations(txn: &ReadTxn, now: DateTime<Utc>) -> Result<Vec<Revocation>, StoreError> {
    let now_micros = micros(now);
    let mut live = Vec::new();
    match txn.open_table(REVOKED_SESSIONS) {
        Ok(sessions) => {
            for row in sessions.iter()? {
                let (id, expires) = row?;
                if expires.value() > now_micros {
                    live.push(Revocation::Session {
                        id: id.value(),
                        expires: from_micros(expires.value())?,
                    });
                }
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(err) => return Err(err.into()),
    }
    match txn.open_table(SESSION_CUTOFFS) {
        Ok(cutoffs) => {
            for row in cutoffs.iter()? {
                let (username, value) = row?;
                let (up_to, expires) = value.value();
                if expires > now_micros {
                    live.push(Revocation::AllSessionsOf {
                        username: username.value().to_owned(),
                        issued_up_to: from_micros(up_to)?,
                        expires: from_micros(expires)?,
                    });
                }
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => {}
        Err(err) => return Err(err.into()),
    }
    Ok(live)
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn from_micros(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::Corrupt(format!("a session revocation at {micros} µs")))
}

#[cfg(test)]
mod tests {
    use redb::ReadableTableMetadata;

    use super::*;
    use crate::store::prelude::*;
    use crate::store::redb::RedbStore;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn revocations_survive_reopening_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.redb");
        let one = Revocation::Session {
            id: u128::MAX - 7,
            expires: at(100),
        };
        let everywhere = |up_to: i64, expires: i64| Revocation::AllSessionsOf {
            username: "dana".to_owned(),
            issued_up_to: at(up_to),
            expires: at(expires),
        };
        {
            let store = RedbStore::open(&path).unwrap();
            assert_eq!(store.revocations(at(0)).unwrap(), []);
            store.revoke_sessions(&one, at(0)).unwrap();
            store.revoke_sessions(&everywhere(10, 500), at(10)).unwrap();
            // An older cutoff arriving late never moves the newer one back.
            store.revoke_sessions(&everywhere(5, 400), at(11)).unwrap();
        }
        let store = RedbStore::open(&path).unwrap();
        let mut live = store.revocations(at(50)).unwrap();
        live.sort_by_key(Revocation::expires);
        assert_eq!(live, [one.clone(), everywhere(10, 500)]);
        // Expired records are not in force, and the next write drops them from the file.
        assert_eq!(store.revocations(at(100)).unwrap(), [everywhere(10, 500)]);
        let other = Revocation::Session {
            id: 1,
            expires: at(900),
        };
        store.revoke_sessions(&other, at(600)).unwrap();
        assert_eq!(store.revocations(at(0)).unwrap(), [other]);
        store.raw(|db| {
            let rows = db.begin_read().unwrap();
            assert_eq!(rows.open_table(REVOKED_SESSIONS).unwrap().len().unwrap(), 1);
            assert_eq!(rows.open_table(SESSION_CUTOFFS).unwrap().len().unwrap(), 0);
        });
    }

    #[test]
    fn a_backup_keeps_the_revocations() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("live.redb")).unwrap();
        let revocation = Revocation::Session {
            id: 42,
            expires: at(100),
        };
        store.revoke_sessions(&revocation, at(0)).unwrap();
        let copy = dir.path().join("copy.redb");
        store
            .backup(std::fs::File::create_new(&copy).unwrap())
            .unwrap();
        let restored = RedbStore::open(&copy).unwrap();
        assert_eq!(restored.revocations(at(1)).unwrap(), [revocation]);
    }
}
