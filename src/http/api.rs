//! The JSON API: `GET /api/v1/subjects/{kind}/{id}/entries`, `GET /api/v1/entries/{id}`,
//! `GET /api/v1/deliveries/{seq}`, `GET /api/v1/unmatched`. Every route requires a [`Caller`].

use actix_web::{HttpResponse, Scope, get, web};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::{ApiError, AppState, admin, live, problem};
use crate::activity::{Category, Entry, EntryId, Subject, SubjectKind};
use crate::store::{Cursor, Page, PageQuery, ReadSide, StoredDelivery};

/// Everything under `/api/v1` — the routes here and the operators' in [`admin`] — in one
/// scope, whose extractor settings answer a malformed query, path or body as problem+json.
pub fn scope() -> Scope {
    web::scope("/api/v1")
        .configure(problem::extractor_configs)
        .configure(routes)
        .configure(live::routes)
        .configure(super::search::api_routes)
        .configure(admin::routes)
        .configure(super::console::api_routes)
}

/// `page` of `subject`, unless it is empty because nothing was ever received about the
/// subject: that is a 404, as on the pages, since an empty list would look like a job without
/// history. (A filter, or a cursor past the end, that finds nothing is not an error; only a
/// subject without any entry is.) The check costs a seek, and only for an empty page.
pub(super) fn unless_nothing_received(
    store: &dyn ReadSide,
    subject: &Subject,
    page: Page,
) -> Result<Page, ApiError> {
    if page.entries.is_empty() && store.subject_origin(subject)?.is_none() {
        return Err(ApiError::NothingReceived(subject.clone()));
    }
    Ok(page)
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(subject_entries)
        .service(entry)
        .service(delivery)
        .service(unmatched);
}

#[derive(Deserialize)]
struct EntriesQuery {
    limit: Option<usize>,
    before: Option<String>,
    category: Option<String>,
}

/// A page of entries and where the next one starts: the API's timeline and export pages.
#[derive(Serialize)]
pub(super) struct EntriesPage {
    pub entries: Vec<Entry>,
    pub next_cursor: Option<String>,
}

impl EntriesQuery {
    fn parse(&self) -> Result<PageQuery, ApiError> {
        let limit = self.limit.unwrap_or(PageQuery::DEFAULT_LIMIT);
        if limit == 0 || limit > PageQuery::MAX_LIMIT {
            return Err(ApiError::BadRequest(format!(
                "limit must be between 1 and {}",
                PageQuery::MAX_LIMIT
            )));
        }
        let before = match self.before.as_deref().filter(|s| !s.is_empty()) {
            Some(text) => Some(
                text.parse::<Cursor>()
                    .map_err(|err| ApiError::BadRequest(err.to_string()))?,
            ),
            None => None,
        };
        let category = match self
            .category
            .as_deref()
            .filter(|s| !s.is_empty() && *s != "all")
        {
            Some(text) => Some(
                text.parse::<Category>()
                    .map_err(|err| ApiError::BadRequest(err.to_string()))?,
            ),
            None => None,
        };
        Ok(PageQuery {
            // Programs get every line; pages fold callbacks into their email.
            callbacks: true,
            limit,
            before,
            category,
        })
    }
}

/// The subject a `/subjects/{kind}/{id}/…` path names.
pub(super) fn subject_at(kind: &str, id: String) -> Result<Subject, ApiError> {
    let kind: SubjectKind = kind
        .parse()
        .map_err(|_| ApiError::NotFound("no such subject kind"))?;
    Subject::new(kind, id).map_err(|err| ApiError::BadRequest(err.to_string()))
}

#[get("/subjects/{kind}/{id}/entries")]
async fn subject_entries(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<EntriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let (kind, id) = path.into_inner();
    let subject = subject_at(&kind, id)?;
    let page_query = query.parse()?;
    let store = state.storage.read.clone();
    let page = web::block(move || {
        let page = store.subject_entries(&subject, &page_query)?;
        unless_nothing_received(store.as_ref(), &subject, page)
    })
    .await??;
    Ok(HttpResponse::Ok().json(EntriesPage {
        entries: page.entries,
        next_cursor: page.next.map(|cursor| cursor.to_string()),
    }))
}

#[get("/entries/{id}")]
async fn entry(
    _caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: EntryId = id
        .parse()
        .map_err(|_| ApiError::NotFound("no such entry"))?;
    let store = state.storage.read.clone();
    let entry = web::block(move || store.entry(id))
        .await??
        .ok_or(ApiError::NotFound("no such entry"))?;
    Ok(HttpResponse::Ok().json(entry))
}

/// A delivery's record in the log (without its body): how it was received and understood,
/// including whether it was flagged.
#[get("/deliveries/{seq}")]
async fn delivery(
    _caller: Caller,
    state: web::Data<AppState>,
    seq: web::Path<u64>,
) -> Result<HttpResponse, ApiError> {
    let seq = seq.into_inner();
    let store = state.storage.read.clone();
    let delivery: StoredDelivery = web::block(move || store.delivery(seq))
        .await??
        .ok_or(ApiError::NotFound("no such delivery"))?;
    let flagged = delivery.outcome.is_flagged();
    let body_retained = delivery.body.is_some();
    let mut json = serde_json::to_value(&delivery).map_err(|_| ApiError::Internal)?;
    if let Some(object) = json.as_object_mut() {
        object.insert("flagged".into(), flagged.into());
        object.insert("body_retained".into(), body_retained.into());
    }
    Ok(HttpResponse::Ok().json(json))
}

#[derive(Deserialize)]
struct UnmatchedQuery {
    limit: Option<usize>,
    before: Option<String>,
}

/// Entries that no link resolves to a job or salesdoc yet (an email callback before its
/// `email.sent`, an accounting change before `invoice.sent_to_accounting`), newest first.
#[get("/unmatched")]
async fn unmatched(
    _caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<UnmatchedQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query
        .limit
        .unwrap_or(PageQuery::DEFAULT_LIMIT)
        .clamp(1, PageQuery::MAX_LIMIT);
    let before = match query.before.as_deref().filter(|s| !s.is_empty()) {
        Some(text) => Some(
            text.parse::<EntryId>()
                .map_err(|_| ApiError::BadRequest("invalid cursor".into()))?,
        ),
        None => None,
    };
    let store = state.storage.read.clone();
    let entries = web::block(move || store.unmatched(limit + 1, before)).await??;
    let next_cursor = (entries.len() > limit).then(|| entries[limit - 1].id.to_string());
    Ok(HttpResponse::Ok().json(EntriesPage {
        entries: entries.into_iter().take(limit).collect(),
        next_cursor,
    }))
}
