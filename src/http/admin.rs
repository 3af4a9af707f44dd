//! Operations on a live store, for `hooktrail verify | export | backup` while the gateway runs
//! (the gateway owns the file, so other processes ask it): integrity, paging through every
//! entry, and consistent backups. Every route requires a [`Caller`].

use std::path::{Component, Path, PathBuf};

use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};

use super::api::ensure_received;
use super::auth::Caller;
use super::{ApiError, AppState};
use crate::activity::{Entry, Subject};
use crate::store::redb::RedbSnapshot;
use crate::store::{ChainReport, Cursor};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(integrity).service(export).service(backup);
}

#[derive(Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Integrity {
    Intact { deliveries: u64, head: String },
    Broken { seq: u64, reason: String },
}

impl From<ChainReport> for Integrity {
    fn from(report: ChainReport) -> Self {
        match report {
            ChainReport::Intact { deliveries, head } => Integrity::Intact {
                deliveries,
                head: hex::encode(head),
            },
            ChainReport::Broken { seq, reason } => Integrity::Broken { seq, reason },
        }
    }
}

/// Recomputes the integrity chain over the whole log (O(history): an operator's check).
#[get("/integrity")]
async fn integrity(_caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let report = web::block(move || store.verify_chain()).await??;
    Ok(HttpResponse::Ok().json(Integrity::from(report)))
}

#[derive(Deserialize)]
struct ExportQuery {
    subject: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

#[derive(Serialize)]
struct EntriesPage {
    entries: Vec<Entry>,
    next_cursor: Option<String>,
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
    let store = state.store.clone();
    let page = web::block(move || {
        let page = store.export_page(subject.as_ref(), after, limit)?;
        if let Some(subject) = subject.as_ref().filter(|_| page.entries.is_empty()) {
            ensure_received(store.as_ref(), subject)?;
        }
        Ok::<_, ApiError>(page)
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

/// Copies a consistent snapshot into a new file inside the configured backup folder (a live
/// gateway writes only there: an API token must not become a way to write anywhere), then
/// verifies the copy.
#[post("/backups")]
async fn backup(
    _caller: Caller,
    state: web::Data<AppState>,
    request: web::Json<BackupRequest>,
) -> Result<HttpResponse, ApiError> {
    let folder = state.config.storage.backup_folder();
    let target = inside(&folder, &request.path).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "a running gateway writes backups only inside {}",
            folder.display()
        ))
    })?;
    if target.exists() {
        return Err(ApiError::BadRequest(
            "that file exists already; backups never overwrite".into(),
        ));
    }
    std::fs::create_dir_all(&folder).map_err(|_| ApiError::StorageUnavailable)?;
    let store = state.store.clone();
    let copy_to = target.clone();
    let report = web::block(move || store.backup(&copy_to)).await??;
    let check = target.clone();
    let chain = web::block(move || RedbSnapshot::open(&check)?.verify_chain()).await??;
    Ok(HttpResponse::Created().json(BackupDone {
        path: target,
        rows: report.rows,
        tables: report.tables,
        integrity: chain.into(),
    }))
}

/// `requested` resolved inside `folder` (a bare file name, or a path under it without `..`).
fn inside(folder: &Path, requested: &Path) -> Option<PathBuf> {
    let relative = requested.strip_prefix(folder).unwrap_or(requested);
    let clean = relative
        .components()
        .all(|part| matches!(part, Component::Normal(_)));
    (clean && relative.file_name().is_some()).then(|| folder.join(relative))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_stay_inside_their_folder() {
        let folder = Path::new("/var/lib/hooktrail/backups");
        assert_eq!(
            inside(folder, Path::new("a.redb")),
            Some(folder.join("a.redb"))
        );
        assert_eq!(
            inside(folder, Path::new("/var/lib/hooktrail/backups/b.redb")),
            Some(folder.join("b.redb"))
        );
        assert_eq!(inside(folder, Path::new("../escape.redb")), None);
        assert_eq!(inside(folder, Path::new("/etc/passwd")), None);
        assert_eq!(inside(folder, Path::new("")), None);
    }
}
