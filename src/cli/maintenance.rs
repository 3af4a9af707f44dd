//! Whole-log operations. On the embedded backend, read-only ones (`verify`, `export`,
//! `backup`) open a snapshot or ask the running gateway, and writing ones (`reindex`, `prune`,
//! `erase`) need the gateway stopped: one process owns the file. On PostgreSQL every verb runs
//! against the database while the gateways run (backups are `pg_dump`'s).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;

use super::remote::{Remote, RemoteArgs};
use crate::activity::Subject;
use crate::activity::redact::ErasureTarget;
use crate::config::{Backend, Config};
use crate::store::redb::RedbSnapshot;
use crate::store::selection::{DeliveryFilter, OutcomeFilter};
use crate::store::{ChainReport, Store, StoreError, renormalize};

/// The store for writing: the redb file (refused while a gateway has it open), or the
/// PostgreSQL database (shared with the running gateways).
pub fn open_for_writing(config: &Config) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    open_store(config).map_err(|err| match config.storage.backend {
        Backend::Redb => anyhow::anyhow!(
            "{err} (is `hooktrail serve` running on {}? stop it first)",
            config.storage.path.display()
        ),
        Backend::Postgres => anyhow::anyhow!("cannot use the database: {err}"),
    })
}

/// The store `config` names, opened by this process, with the configured sources'
/// normalizers for an embedded store's views that must be rebuilt. Its error is the store's
/// own, so callers can tell a file a gateway holds ([`StoreError::InUse`]).
pub fn open_store(config: &Config) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    crate::store::open(&config.storage, Some(&|raw| config.reread(raw)))
}

/// How a read-only verb reaches the store.
pub enum Access {
    /// No gateway runs: read the file directly.
    Local(RedbSnapshot),
    /// The shared database, read directly while the gateways write.
    Database(std::sync::Arc<dyn Store>),
    /// A gateway owns the file: ask it.
    Live(Remote),
}

/// PostgreSQL directly; else the file when no gateway has it (repairing it first if a crash
/// left it unclean, which takes opening it for writing once), else the running gateway's API.
pub fn access(config: &Config, remote: &RemoteArgs) -> anyhow::Result<Access> {
    if config.storage.backend == Backend::Postgres {
        return Ok(Access::Database(open_for_writing(config)?));
    }
    let path = &config.storage.path;
    if !path.exists() {
        anyhow::bail!("no store at {}", path.display());
    }
    match RedbSnapshot::open(path) {
        Ok(snapshot) => Ok(Access::Local(snapshot)),
        Err(StoreError::InUse) => Ok(Access::Live(Remote::new(config, remote)?)),
        Err(_) => match open_store(config) {
            Ok(store) => {
                drop(store);
                Ok(Access::Local(RedbSnapshot::open(path)?))
            }
            Err(StoreError::InUse) => Ok(Access::Live(Remote::new(config, remote)?)),
            Err(err) => Err(err.into()),
        },
    }
}

pub fn verify(config: &Config, remote: &RemoteArgs) -> anyhow::Result<ExitCode> {
    let report = match access(config, remote)? {
        Access::Local(snapshot) => snapshot.verify_chain()?,
        Access::Database(store) => store.verify_chain()?,
        Access::Live(remote) => {
            let answer = remote.integrity()?;
            match answer["status"].as_str() {
                Some("intact") => ChainReport::Intact {
                    deliveries: answer["deliveries"].as_u64().unwrap_or(0),
                    head: decode_hash(answer["head"].as_str().unwrap_or_default()),
                    tree_root: decode_hash(answer["tree_root"].as_str().unwrap_or_default()),
                },
                _ => ChainReport::Broken {
                    seq: answer["seq"].as_u64().unwrap_or(0),
                    reason: answer["reason"].as_str().unwrap_or("unknown").to_owned(),
                },
            }
        }
    };
    Ok(print_chain(report))
}

fn decode_hash(text: &str) -> [u8; 32] {
    let mut hash = [0u8; 32];
    let _ = hex::decode_to_slice(text, &mut hash);
    hash
}

fn print_chain(report: ChainReport) -> ExitCode {
    match report {
        ChainReport::Intact {
            deliveries,
            head,
            tree_root,
        } => {
            println!(
                "ok: {deliveries} deliveries, chain head {}, tree root {}",
                hex::encode(head),
                hex::encode(tree_root)
            );
            ExitCode::SUCCESS
        }
        ChainReport::Broken { seq, reason } => {
            println!("BROKEN at seq {seq}: {reason}");
            ExitCode::FAILURE
        }
    }
}

pub fn reindex(config: &Config) -> anyhow::Result<ExitCode> {
    let store = open_for_writing(config)?;
    let report = store.reindex(&|delivery| config.reread(delivery))?;
    println!(
        "reindexed {} deliveries: {} entries, {} flagged, {} kept as they were (source not configured or body dropped)",
        report.deliveries, report.entries, report.flagged, report.skipped
    );
    Ok(ExitCode::SUCCESS)
}

/// Which deliveries `renormalize` redoes: one, or those of a source (flagged only, between
/// dates).
#[derive(clap::Args, Debug)]
pub struct RenormalizeArgs {
    /// One delivery, by seq.
    #[arg(long, conflicts_with_all = ["source", "flagged", "from", "to"], required_unless_present = "source")]
    seq: Option<u64>,
    /// Every delivery of this source (with the filters below).
    #[arg(long)]
    source: Option<String>,
    /// Only the deliveries that were flagged.
    #[arg(long)]
    flagged: bool,
    /// Received on or after this day (YYYY-MM-DD in the display timezone) or time (RFC 3339).
    #[arg(long)]
    from: Option<String>,
    /// Received on or before this day, or before this time.
    #[arg(long)]
    to: Option<String>,
    /// Who runs it, for the log (default: $USER).
    #[arg(long, env = "USER", default_value = "cli")]
    by: String,
}

pub fn renormalize(config: &Config, args: &RenormalizeArgs) -> anyhow::Result<ExitCode> {
    let store = open_for_writing(config)?;
    let (seqs, selection) = match args.seq {
        Some(seq) => (vec![seq], format!("delivery {seq}")),
        None => {
            let zone = config.display.timezone;
            let moment = |text: &Option<String>, end| {
                text.as_deref()
                    .map(|text| crate::search::moment(text, zone, end))
                    .transpose()
            };
            let filter = DeliveryFilter {
                source: args.source.clone(),
                outcome: args.flagged.then_some(OutcomeFilter::Flagged),
                from: moment(&args.from, false)?,
                to: moment(&args.to, true)?,
            };
            if let Some(source) = &filter.source
                && config.source(source).is_none()
            {
                anyhow::bail!("no source is configured as {source:?}");
            }
            (filter.every_seq(store.as_ref())?, filter.describe())
        }
    };
    if seqs.is_empty() {
        println!("no delivery matches ({selection}): nothing to re-normalize");
        return Ok(ExitCode::SUCCESS);
    }
    println!("re-normalizing {} deliveries ({selection})", seqs.len());
    let done = renormalize::run(
        store.as_ref(),
        &seqs,
        &|delivery| config.reread(delivery),
        &args.by,
        &selection,
        &mut |progress| eprintln!("{}/{}", progress.done, progress.total),
    )?;
    println!(
        "changed {}, unchanged {}, left for a full reindex {}, unreadable {} (logged as delivery {})",
        done.changed.len(),
        done.total
            .saturating_sub(done.changed.len() + done.needs_reindex.len() + done.unreadable.len()),
        done.needs_reindex.len(),
        done.unreadable.len(),
        done.records
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !done.needs_reindex.is_empty() {
        println!(
            "deliveries others depend on (emails, linked entries) changed: run `hooktrail reindex` to redo them: {:?}",
            done.needs_reindex
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn prune(config: &Config, older_than_days: Option<u32>) -> anyhow::Result<ExitCode> {
    let days = older_than_days
        .or(config
            .retention
            .raw_bodies_days
            .map(std::num::NonZeroU32::get))
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

pub fn backup(config: &Config, remote: &RemoteArgs, target: &Path) -> anyhow::Result<ExitCode> {
    match access(config, remote)? {
        Access::Database(_) => anyhow::bail!(
            "a PostgreSQL deployment is backed up with pg_dump, which takes a consistent \
             snapshot while the gateways run (see docs/operations.md)"
        ),
        Access::Local(snapshot) => {
            // Never over an existing file, nor through a link planted at its name.
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(target)
                .with_context(|| format!("cannot create {}", target.display()))?;
            let written = file.try_clone()?;
            let report = match snapshot.backup(file) {
                Ok(report) => report,
                Err(err) => {
                    // A partial copy is not a backup; leave nothing behind.
                    let _ = std::fs::remove_file(target);
                    return Err(err.into());
                }
            };
            drop(snapshot);
            println!(
                "copied {} rows in {} tables to {}",
                report.rows,
                report.tables,
                target.display()
            );
            // A backup that does not verify is not a backup.
            Ok(print_chain(
                RedbSnapshot::from_file(written)?.verify_chain()?,
            ))
        }
        Access::Live(remote) => {
            let target = std::path::absolute(target)?;
            let done = remote.backup(&target)?;
            println!(
                "copied {} rows in {} tables to {} (by the running gateway)",
                done["rows"],
                done["tables"],
                done["path"].as_str().unwrap_or_default()
            );
            let intact = done["integrity"]["status"] == "intact";
            println!(
                "{}: {}",
                if intact { "ok" } else { "BROKEN" },
                done["integrity"]
            );
            Ok(if intact {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
