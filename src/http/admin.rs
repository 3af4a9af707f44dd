//! Operations on a live store, for `hooktrail verify | export | backup` while the gateway runs
//! (the gateway owns the file, so other processes ask it): integrity, paging through every
//! entry, and consistent backups. Every route requires a [`Caller`].

mod backup_target;

use std::path::PathBuf;

use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};

use super::api::EntriesPage;
use super::api::unless_nothing_received;
use super::auth::Caller;
use super::{ApiError, AppState};
use crate::activity::Subject;
use crate::store::redb::RedbSnapshot;
use crate::store::{BackupReport, ChainReport, Cursor, WriteSide};
use backup_target::{BackupFolder, TargetError};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(integrity).service(export).service(backup);
}

#[derive(Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Integrity {
    Intact {
        deliveries: u64,
        head: String,
        tree_root: String,
    },
    Broken {
        seq: u64,
        reason: String,
    },
}

impl From<ChainReport> for Integrity {
    fn from(report: ChainReport) -> Self {
        match report {
            ChainReport::Intact {
                deliveries,
                head,
                tree_root,
            } => Integrity::Intact {
                deliveries,
                head: hex::encode(head),
                tree_root: hex::encode(tree_root),
            },
            ChainReport::Broken { seq, reason } => Integrity::Broken { seq, reason },
        }
    }
}

/// Recomputes the integrity chain over the whole log (O(history): an operator's check).
#[get("/integrity")]
async fn integrity(_caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.storage.read.clone();
    let report = web::block(move || store.verify_chain()).await??;
    Ok(HttpResponse::Ok().json(Integrity::from(report)))
}

#[derive(Deserialize)]
struct ExportQuery {
    subject: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

/// A page of an export, oldest first: `?subject=job:1042` for one timeline, else everything.
#[get("/export")]
async fn export(
    _caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(500).clamp(1, 1000);
    let subject = match query.subject.as_deref().filter(|s| !s.is_empty()) {
        Some(text) => Some(
            text.parse::<Subject>()
                .map_err(|err| ApiError::BadRequest(err.to_string()))?,
        ),
        None => None,
    };
    let after = match query.after.as_deref().filter(|s| !s.is_empty()) {
        Some(text) => Some(
            text.parse::<Cursor>()
                .map_err(|err| ApiError::BadRequest(err.to_string()))?,
        ),
        None => None,
    };
    let store = state.storage.read.clone();
    let page = web::block(move || {
        let page = store.export_page(subject.as_ref(), after, limit)?;
        match &subject {
            Some(subject) => unless_nothing_received(store.as_ref(), subject, page),
            None => Ok(page),
        }
    })
    .await??;
    Ok(HttpResponse::Ok().json(EntriesPage {
        entries: page.entries,
        next_cursor: page.next.map(|cursor| cursor.to_string()),
    }))
}

#[derive(Deserialize)]
struct BackupRequest {
    path: PathBuf,
}

#[derive(Serialize)]
struct BackupDone {
    path: PathBuf,
    rows: u64,
    tables: usize,
    integrity: Integrity,
}

/// Copies a consistent snapshot into a new file inside the configured backup folder, then
/// verifies the copy. A live gateway writes only there, and follows no link on the way (see
/// [`backup_target`]): an API token must not become a way to write anywhere. One backup at a
/// time: another request meanwhile answers 409.
#[post("/backups")]
async fn backup(
    _caller: Caller,
    state: web::Data<AppState>,
    request: web::Json<BackupRequest>,
) -> Result<HttpResponse, ApiError> {
    // Held by the copy itself, not by this request: a client that hangs up does not let a
    // second backup start beside a copy still running.
    let only_one = state
        .backup_running
        .clone()
        .try_lock_owned()
        .map_err(|_| ApiError::BackupRunning)?;
    let configured = state.config.storage.backup_folder();
    let store = state.storage.write.clone();
    let done = web::block(move || {
        let _only_one = only_one;
        let folder = BackupFolder::open(&configured)?;
        let target = folder.create(&folder.relative(&request.path)?)?;
        match copy_and_verify(store.as_ref(), &target.file) {
            Ok((report, chain)) => Ok(BackupDone {
                path: target.path,
                rows: report.rows,
                tables: report.tables,
                integrity: chain.into(),
            }),
            Err(err) => {
                target.discard();
                Err(err)
            }
        }
    })
    .await??;
    Ok(HttpResponse::Created().json(done))
}

/// The copy, then its verification through the same file handle.
fn copy_and_verify(
    store: &dyn WriteSide,
    file: &std::fs::File,
) -> Result<(BackupReport, ChainReport), ApiError> {
    let handle = || {
        file.try_clone().map_err(|err| {
            tracing::error!(error = %err, "cannot duplicate the backup file's handle");
            ApiError::Internal
        })
    };
    let report = store.backup(handle()?)?;
    let chain = RedbSnapshot::from_file(handle()?)?.verify_chain()?;
    Ok((report, chain))
}

impl From<TargetError> for ApiError {
    fn from(err: TargetError) -> Self {
        match err {
            TargetError::Exists(_) => ApiError::BackupExists(err.to_string()),
            TargetError::Unwritable(ref io) => {
                tracing::error!(error = %io, "the backup folder cannot be written");
                ApiError::StorageUnavailable
            }
            TargetError::Outside { .. }
            | TargetError::NoSuchFolder(_)
            | TargetError::NotAFolder(_) => ApiError::BackupPath(err.to_string()),
        }
    }
}
