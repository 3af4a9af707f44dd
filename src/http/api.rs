//! The JSON API: `GET /api/v1/subjects/{kind}/{id}/entries`, `GET /api/v1/entries/{id}`,
//! `GET /api/v1/deliveries/{seq}`, `GET /api/v1/unmatched`. Every route requires a [`Caller`].

use actix_web::dev::{HttpServiceFactory, ServiceFactory, ServiceRequest};
use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::Caller;
use super::openapi::{Document, Internal, Unauthenticated, Unavailable};
use super::problem::Problem;
use super::{ApiError, AppState, admin, live, openapi, problem};
use crate::activity::{Category, Entry, EntryId, Subject, SubjectKind};
use crate::store::{Cursor, Page, PageQuery, ReadSide, StoredDelivery};

/// Everything under `/api/v1` — the routes here, the live streams, search, the operators' in
/// [`admin`] and the console's — in one scope, whose extractor settings answer a malformed
/// query, path or body as problem+json, and which serves its own OpenAPI document.
pub fn scope() -> impl HttpServiceFactory {
    let scope = register(utoipa_actix_web::scope(PREFIX));
    let document = web::Data::new(Document::of(&scope));
    scope.map(|scope| {
        scope
            .configure(problem::extractor_configs)
            .app_data(document)
    })
}

const PREFIX: &str = "/api/v1";

/// The routes of the API, on `scope`. Each is registered through `utoipa_actix_web`, which
/// takes only documented handlers: what is registered here is what the document lists.
fn register<T>(scope: utoipa_actix_web::scope::Scope<T>) -> utoipa_actix_web::scope::Scope<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    scope
        .configure(routes)
        .configure(live::routes)
        .configure(super::search::api_routes)
        .configure(admin::routes)
        .configure(super::console::api_routes)
        .configure(super::evidence::routes)
        .configure(openapi::routes)
}

/// The API's OpenAPI document, as served (for tests and tools).
pub fn openapi_document() -> serde_json::Value {
    Document::of(&register(utoipa_actix_web::scope(PREFIX))).to_value()
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

fn routes(cfg: &mut ServiceConfig) {
    cfg.service(subject_entries)
        .service(entry)
        .service(delivery)
        .service(unmatched);
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EntriesQuery {
    /// Entries per page.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<usize>,
    /// Where the page starts: the previous page's `next_cursor`.
    before: Option<String>,
    /// Only this category (`all`, or empty, for every one).
    #[param(value_type = Option<String>, pattern = "^(|all|workflow|communication|accounting|purchasing|automation|system)$")]
    category: Option<String>,
}

/// A page of entries and where the next one starts: the API's timeline and export pages.
#[derive(Serialize, ToSchema)]
pub(super) struct EntriesPage {
    pub entries: Vec<Entry>,
    /// Where the next page starts (give it as `before`, or `after` for an export); `null` on
    /// the last page.
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

/// A timeline: the entries of a job or sales document, newest `occurred_at` first.
///
/// A filter, or a page past the end, that finds nothing is an empty list; a subject nothing was
/// ever received about is a 404, like its page.
#[utoipa::path(
    tag = "timelines",
    params(
        ("kind" = SubjectKind, Path, description = "`job` or `salesdoc`.", example = "job"),
        ("id" = String, Path, description = "The business app's id (1 to 128 characters, no control characters).", example = "1042"),
        EntriesQuery,
    ),
    responses(
        (status = 200, description = "A page of the timeline.", body = EntriesPage),
        (status = 400, description = "A bad `limit`, `before` or `category`, an id that cannot be one, or a malformed query string.",
            body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 404, description = "No such kind of subject, or nothing was ever received about this one.",
            body = Problem, content_type = "application/problem+json"),
        Internal,
        Unavailable,
    ),
)]
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

/// One entry.
#[utoipa::path(
    tag = "timelines",
    params(("id" = String, Path, description = "The entry's id (a ULID).")),
    responses(
        (status = 200, description = "The entry, as it reads now (an email with its delivery status).", body = Entry),
        Unauthenticated,
        (status = 404, description = "No entry has this id.",
            body = Problem, content_type = "application/problem+json"),
        Internal,
        Unavailable,
    ),
)]
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

/// A delivery's record in the log, as the API shows it.
#[derive(Serialize, ToSchema)]
struct DeliveryRecord {
    #[serde(flatten)]
    delivery: StoredDelivery,
    /// Whether its content wants a person's look (malformed or unparseable).
    flagged: bool,
    /// Whether its body is still kept (retention and erasure drop bodies; the hash stays).
    body_retained: bool,
}

/// A delivery's record in the log (without its body): how it was received and understood,
/// including whether it was flagged.
#[utoipa::path(
    tag = "timelines",
    params(("seq" = u64, Path, description = "The delivery's place in the log.", example = 1)),
    responses(
        (status = 200, description = "The delivery's record.", body = DeliveryRecord),
        Unauthenticated,
        (status = 404, description = "No delivery has this seq (or it is not a number).",
            body = Problem, content_type = "application/problem+json"),
        Internal,
        Unavailable,
    ),
)]
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
    Ok(HttpResponse::Ok().json(DeliveryRecord {
        flagged: delivery.outcome.is_flagged(),
        body_retained: delivery.body.is_some(),
        delivery,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UnmatchedQuery {
    /// Entries per page (a number outside 1 to 200 is taken as the nearest end).
    #[param(default = 50)]
    limit: Option<usize>,
    /// Where the page starts: the previous page's `next_cursor` (an entry id).
    before: Option<String>,
}

/// Entries that no link resolves to a job or salesdoc yet (an email callback before its
/// `email.sent`, an accounting change before `invoice.sent_to_accounting`), newest first.
#[utoipa::path(
    tag = "timelines",
    params(UnmatchedQuery),
    responses(
        (status = 200, description = "A page of unmatched entries, newest first.", body = EntriesPage),
        (status = 400, description = "A `before` that is not an entry id, or a malformed query string.",
            body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        Internal,
        Unavailable,
    ),
)]
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
