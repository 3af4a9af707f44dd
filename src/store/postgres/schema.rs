//! Schema migrations: versioned SQL files in `migrations/postgres/`, compiled in, applied at
//! start in one transaction under an advisory lock, so that N gateways starting at once apply
//! each migration exactly once (the others wait, then find nothing to do). A gateway refuses a
//! database whose schema is newer than it knows: it would misread it.

use tokio_postgres::Client;

use crate::store::StoreError;

/// Every migration, in order: (version, name, SQL). Versions are never reused or edited; a
/// change is a new file.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "subject changes",
        include_str!("../../../migrations/postgres/0002_subject_changes.sql"),
    ),
    (
        3,
        "folded callbacks",
        include_str!("../../../migrations/postgres/0003_folded_callbacks.sql"),
    ),
    (
        4,
        "entries by time",
        include_str!("../../../migrations/postgres/0004_entries_by_time.sql"),
    ),
    (
        5,
        "search",
        include_str!("../../../migrations/postgres/0005_search.sql"),
    ),
    (
        6,
        "source tally",
        include_str!("../../../migrations/postgres/0006_source_tally.sql"),
    ),
    (
        7,
        "alerts",
        include_str!("../../../migrations/postgres/0007_alerts.sql"),
    ),
    (
        8,
        "merkle tree",
        include_str!("../../../migrations/postgres/0008_merkle_tree.sql"),
    ),
];

/// The migration that made search documents: a gateway that applies it writes the documents
/// of the entries already stored.
pub const SEARCH_VERSION: i32 = 5;

/// The advisory lock migrations take (`hooktrail` in ASCII): held to the end of their
/// transaction only.
const MIGRATION_LOCK: i64 = 0x686f_6f6b_7472_6169;

/// The schema version this build writes.
pub fn current_version() -> i32 {
    MIGRATIONS.last().map_or(0, |(version, _, _)| *version)
}

/// Brings the schema to [`current_version`]; returns the versions it applied.
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>, StoreError> {
    let txn = client.transaction().await?;
    txn.query_one("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    txn.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version integer PRIMARY KEY,
             name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let found: i32 = txn
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .try_get(0)?;
    if found > current_version() {
        return Err(StoreError::Unavailable(format!(
            "the database's schema is version {found}, newer than this gateway knows ({}): \
             upgrade the gateway",
            current_version()
        )));
    }
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > found) {
        txn.batch_execute(sql).await?;
        txn.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await?;
        applied.push(*version);
    }
    txn.commit().await?;
    Ok(applied)
}

/// A 2xx promises the delivery is durable; with `synchronous_commit = off` a commit returns
/// before its WAL is flushed, and a crash could lose acknowledged deliveries.
pub async fn check_durability(client: &Client) -> Result<(), StoreError> {
    let setting: String = client
        .query_one("SHOW synchronous_commit", &[])
        .await?
        .try_get(0)?;
    if setting == "off" {
        return Err(StoreError::Unavailable(
            "PostgreSQL has synchronous_commit = off: a commit could return before it is \
             durable, and Hooktrail acknowledges deliveries on commit. Set it to on (or \
             remote_write, remote_apply) for this database."
                .to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_rise_by_one_from_one() {
        for (index, (version, _, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version as usize, index + 1);
        }
    }
}
