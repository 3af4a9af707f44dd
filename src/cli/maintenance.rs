//! Whole-log operations. Read-only ones (`verify`, `export`, `backup`) open a snapshot and run
//! beside a live gateway; writing ones (`reindex`, `prune`, `erase`) need it stopped.

use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;

use crate::activity::Normalized;
use crate::activity::Subject;
use crate::activity::redact::ErasureTarget;
use crate::config::Config;
use crate::sources::{RawDelivery, internal};
use crate::store::redb::{RedbSnapshot, RedbStore};
use crate::store::{ChainReport, Store};

/// The store for writing; refused while a gateway has it open.
pub fn open_for_writing(config: &Config) -> anyhow::Result<RedbStore> {
    RedbStore::open(&config.storage.path).map_err(|err| {
        anyhow::anyhow!(
            "{err} (is `hooktrail serve` running on {}? stop it first)",
            config.storage.path.display()
        )
    })
}

/// A read-only snapshot, beside a running gateway if there is one. A file left unclean by a
/// crash must be repaired first, which only a writer can do: when no gateway runs, open it for
/// writing once (that repairs it), then read.
pub fn open_snapshot(path: &Path) -> anyhow::Result<RedbSnapshot> {
    if !path.exists() {
        anyhow::bail!("no store at {}", path.display());
    }
    match RedbSnapshot::open(path) {
        Ok(snapshot) => Ok(snapshot),
        Err(first) => {
            drop(RedbStore::open(path).map_err(|_| {
                anyhow::anyhow!("cannot open {} read-only: {first}", path.display())
            })?);
            Ok(RedbSnapshot::open(path)?)
        }
    }
}

pub fn verify_path(path: &Path) -> anyhow::Result<ExitCode> {
    match open_snapshot(path)?.verify_chain()? {
        ChainReport::Intact { deliveries, head } => {
            println!(
                "ok: {deliveries} deliveries, chain head {}",
                hex::encode(head)
            );
            Ok(ExitCode::SUCCESS)
        }
        ChainReport::Broken { seq, reason } => {
            println!("BROKEN at seq {seq}: {reason}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// How `reindex` normalizes a logged delivery: by its configured source, or as an internal
/// record; `None` when its source is gone (its entries are kept as they are).
pub fn renormalize(config: &Config, delivery: &RawDelivery<'_>) -> Option<Normalized> {
    match config.source(delivery.source) {
        Some(source) => Some(source.normalize(delivery)),
        None if delivery.source == internal::SOURCE => Some(internal::normalize(delivery)),
        None => None,
    }
}

pub fn reindex(config: &Config) -> anyhow::Result<ExitCode> {
    let store = open_for_writing(config)?;
    let report = store.reindex(&|delivery| renormalize(config, delivery))?;
    println!(
        "reindexed {} deliveries: {} entries, {} flagged, {} kept as they were (source not configured or body dropped)",
        report.deliveries, report.entries, report.flagged, report.skipped
    );
    Ok(ExitCode::SUCCESS)
}

pub fn prune(config: &Config, older_than_days: Option<u32>) -> anyhow::Result<ExitCode> {
    let days = older_than_days
        .or(config.retention.raw_bodies_days)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no retention configured: set [retention] raw_bodies_days or pass --older-than-days"
            )
        })?;
    let cutoff = Utc::now() - chrono::Duration::days(i64::from(days));
    let dropped = open_for_writing(config)?.prune_bodies(cutoff)?;
    println!(
        "dropped {dropped} raw bodies received before {}",
        cutoff.to_rfc3339()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn erase(
    config: &Config,
    subject: Option<Subject>,
    email: Option<String>,
) -> anyhow::Result<ExitCode> {
    let target = match (subject, email) {
        (Some(subject), None) => ErasureTarget::Subject(subject),
        (None, Some(email)) => ErasureTarget::email(&email)
            .ok_or_else(|| anyhow::anyhow!("{email:?} is not an email address"))?,
        _ => anyhow::bail!("give exactly one of --subject or --email"),
    };
    let report = open_for_writing(config)?.erase(&target, Utc::now())?;
    println!(
        "erased: {} entries redacted, {} raw bodies dropped, {} timelines noted",
        report.entries,
        report.raw_bodies,
        report.subjects.len()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn backup(config: &Config, target: &Path) -> anyhow::Result<ExitCode> {
    let snapshot = open_snapshot(&config.storage.path)?;
    let report = snapshot.backup(target)?;
    drop(snapshot);
    println!(
        "copied {} rows in {} tables to {}",
        report.rows,
        report.tables,
        target.display()
    );
    // A backup that does not verify is not a backup.
    verify_path(target)
}
