//! Operations on a live store, for `hooktrail verify | export | backup` while the gateway runs
//! (the gateway owns the file, so other processes ask it): integrity, paging through every
//! entry, and consistent backups. Every route requires a [`Caller`].

mod backup_target;

use std::path::PathBuf;

use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::api::EntriesPage;
use super::api::unless_nothing_received;
use super::auth::Caller;
use super::openapi::{Internal, Unauthenticated, Unavailable};
use super::problem::Problem;
use super::{ApiError, AppState};
use crate::activity::Subject;
use crate::store::redb::RedbSnapshot;
use crate::store::{BackupReport, ChainReport, Cursor, WriteSide};
use backup_target::{BackupFolder, TargetError};

pub(super) fn routes(cfg: &mut ServiceConfig) {
    cfg.service(integrity).service(export).service(backup);
}

/// The integrity chain, recomputed over the whole log.
#[derive(Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Integrity {
    /// Every delivery matches its place in the chain.
    Intact {
        deliveries: u64,
        /// The chain's last value (hex SHA-256).
        #[schema(pattern = "^[0-9a-f]{64}$")]
        head: String,
        /// The RFC 9162 Merkle tree root over the deliveries' hashes (hex): what a signed tree
        /// head of this log carries.
        #[schema(pattern = "^[0-9a-f]{64}$")]
        tree_root: String,
    },
    /// The first delivery whose stored data or position does not match the chain.
    Broken { seq: u64, reason: String },
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
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Whether the log is intact, and where it is not.", body = Integrity),
        Unauthenticated,
        Internal,
        Unavailable,
    ),
)]
#[get("/integrity")]
async fn integrity(_caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.storage.read.clone();
    let report = web::block(move || store.verify_chain()).await??;
    Ok(HttpResponse::Ok().json(Integrity::from(report)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ExportQuery {
    /// One timeline (`job:1042`); everything without it.
    subject: Option<String>,
    /// Where the page starts: the previous page's `next_cursor`.
    after: Option<String>,
    /// Entries per page (a number outside 1 to 1000 is taken as the nearest end).
    #[param(default = 500)]
    limit: Option<usize>,
}

/// A page of an export, oldest first: `?subject=job:1042` for one timeline, else everything.
#[utoipa::path(
    tag = "operations",
    params(ExportQuery),
    responses(
        (status = 200, description = "A page of entries, oldest first.", body = EntriesPage),
        (status = 400, description = "A `subject` or `after` that cannot be one, or a malformed query string.",
            body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 404, description = "Nothing was ever received about this subject.",
            body = Problem, content_type = "application/problem+json"),
        Internal,
        Unavailable,
    ),
)]
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

/// Where to write a backup.
#[derive(Deserialize, ToSchema)]
struct BackupRequest {
    /// A file name, or a path below the backup folder whose folders exist (absolute paths
    /// inside the folder are taken too). Never an existing file; links are never followed.
    #[schema(value_type = String, min_length = 1)]
    path: PathBuf,
}

/// A backup written and verified.
#[derive(Serialize, ToSchema)]
#[schema(as = BackupReport)]
struct BackupDone {
    /// Where it was written (canonical).
    #[schema(value_type = String)]
    path: PathBuf,
    rows: u64,
    tables: usize,
    /// The integrity chain, recomputed in the copy.
    integrity: Integrity,
}

/// A consistent backup of the live store, verified.
///
/// Copies a consistent snapshot into a new file inside the configured backup folder, then
/// verifies the copy. A live gateway writes only there, and follows no link on the way: an API
/// token must not become a way to write anywhere. One backup at a time: another request
/// meanwhile answers 409.
// How the file is reached without following a link: [`backup_target`].
#[utoipa::path(
    tag = "operations",
    request_body(content = BackupRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The backup, written and verified.", body = BackupDone),
        (status = 400, description = "A path outside the backup folder, through a link or into a missing folder, or a name the file system cannot hold (`invalid-backup-path`); or a body that does not fit.",
            body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 409, description = "The file exists (`backup-exists`; backups never overwrite), or another backup is being written (`backup-running`).",
            body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "A body over 16 KiB.",
            body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "A body not sent as `application/json`.",
            body = Problem, content_type = "application/problem+json"),
        Internal,
        (status = 501, description = "The storage backend makes no backups (PostgreSQL: use `pg_dump`).",
            body = Problem, content_type = "application/problem+json"),
        Unavailable,
    ),
)]
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
            | TargetError::NotAFolder(_)
            | TargetError::BadName(_) => ApiError::BackupPath(err.to_string()),
        }
    }
}
