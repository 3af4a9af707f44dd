//! `hooktrail verify` and `hooktrail reindex`: whole-log operations on a stopped gateway's file.

use std::process::ExitCode;

use crate::config::Config;
use crate::store::redb::RedbStore;
use crate::store::{ChainReport, Store};

fn open(config: &Config) -> anyhow::Result<RedbStore> {
    RedbStore::open(&config.storage.path).map_err(|err| {
        anyhow::anyhow!(
            "{err} (is `hooktrail serve` still running on {}? stop it first)",
            config.storage.path.display()
        )
    })
}

pub fn verify(config: &Config) -> anyhow::Result<ExitCode> {
    match open(config)?.verify_chain()? {
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

pub fn reindex(config: &Config) -> anyhow::Result<ExitCode> {
    let store = open(config)?;
    let report = store.reindex(&|delivery| {
        config
            .source(delivery.source)
            .map(|source| source.normalize(delivery))
    })?;
    println!(
        "reindexed {} deliveries: {} entries, {} flagged, {} skipped (source not configured or body dropped)",
        report.deliveries, report.entries, report.flagged, report.skipped
    );
    Ok(ExitCode::SUCCESS)
}
