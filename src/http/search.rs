//! Search across all activity: `GET /search` (the page) and `GET /api/v1/search` (JSON). Both
//! read the same parameters ([`SearchParams`]) and run the same search ([`search::run`]), on the
//! blocking pool and within [`search::QUERY_TIMEOUT`]: a search that takes longer is answered
//! as timed out (the work it started is bounded, and ends by itself).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::Caller;
use super::html::{Layout, Nav, Staff, html_response};
use super::openapi::{Internal, Unauthenticated};
use super::page_error::PageError;
use super::problem::Problem;
use super::{ApiError, AppState};
use crate::activity::details::Details;
use crate::activity::{Category, Entry, EntryId};
use crate::render::view::{self, EntryView, TrackedClock, category_label, encode_query_value};
use crate::search::{self, Found, IndexLag, Results, SearchParams, SearchRequest};
use crate::store::{Cursor, StoreError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(search_page);
}

pub fn api_routes(cfg: &mut ServiceConfig) {
    cfg.service(search_api);
}

/// Runs `request` on the blocking pool, answering [`StoreError::TimedOut`] past the limit.
async fn run(state: &web::Data<AppState>, request: SearchRequest) -> Result<Results, StoreError> {
    let store = state.storage.read.clone();
    let work = web::block(move || search::run(store.as_ref(), &request));
    match tokio::time::timeout(search::QUERY_TIMEOUT, work).await {
        Ok(Ok(results)) => results,
        Ok(Err(_)) => Err(StoreError::Unavailable("the search task failed".into())),
        Err(_) => Err(StoreError::TimedOut),
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = SearchResults)]
struct ApiResults {
    entries: Vec<Found>,
    /// Where the next page starts (give it as `before`); `null` on the last page.
    next_cursor: Option<String>,
    /// How far the index is behind the timelines (zero when it is written in the same commit).
    index_behind: IndexLag,
}

/// Search across all activity, in the language of the `/search` page.
#[utoipa::path(
    tag = "search",
    operation_id = "search",
    params(SearchParams),
    responses(
        (status = 200, description = "A page of results, best match or newest first.", body = ApiResults),
        (status = 400, description = "Nothing to search for, a malformed `field:` or cursor, an unknown filter value or parameter, a query over 500 characters or 16 parts, or a malformed query string.",
            body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        Internal,
        (status = 503, description = "The search took longer than 3 s, the storage cannot be read, or the gateway is starting.",
            body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying."))),
    ),
)]
#[get("/search")]
async fn search_api(
    _caller: Caller,
    state: web::Data<AppState>,
    params: web::Query<SearchParams>,
) -> Result<HttpResponse, ApiError> {
    let request = params
        .parse(state.config.display.timezone)
        .map_err(|err| ApiError::BadRequest(err.to_string()))?;
    let results = run(&state, request).await?;
    Ok(HttpResponse::Ok().json(ApiResults {
        entries: results.found,
        next_cursor: results.next.map(|cursor| cursor.to_string()),
        index_behind: results.behind,
    }))
}

/// Where a result opens: the page of its timeline that starts with it, scrolled to it and
/// opened (`#entry-…`); a callback folded into its email is shown as a line there. An entry
/// on no timeline yet opens on the unmatched list.
pub fn entry_href(entry: &Entry) -> String {
    let anchor = format!("#entry-{}", entry.id);
    let just_after = EntryId::from_u128(entry.id.as_u128().saturating_add(1));
    match entry.subjects.first() {
        Some(subject) => {
            let cursor = Cursor {
                occurred_micros: entry.occurred_at.timestamp_micros(),
                id: just_after,
            };
            let callbacks = if matches!(entry.details, Details::EmailEvent { .. }) {
                "&callbacks=shown"
            } else {
                ""
            };
            format!(
                "{}?before={cursor}{callbacks}{anchor}",
                view::subject_path(subject)
            )
        }
        None => format!("/unmatched?before={just_after}{anchor}"),
    }
}

#[derive(Serialize)]
struct ResultView {
    entry: EntryView,
    href: String,
    /// Escaped HTML with `<mark>`s (see [`search::Snippet`]).
    snippet: String,
}

#[derive(Serialize, Default)]
struct FormView {
    q: String,
    from: String,
    to: String,
    categories: Vec<CategoryOption>,
    newest: bool,
}

#[derive(Serialize)]
struct CategoryOption {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Serialize)]
struct SearchPage {
    layout: Layout,
    form: FormView,
    /// Why the search could not run, in words.
    problem: Option<String>,
    /// Whether a search ran (otherwise the page shows how to search).
    searched: bool,
    results: Vec<ResultView>,
    more_href: Option<String>,
    /// "3 deliveries are not searchable yet", while the index catches up.
    behind: Option<String>,
    /// Filters in the address that the form does not show (kind, subject, source, actor),
    /// and the same search without them.
    narrowed: Vec<String>,
    widened_href: String,
}

impl FormView {
    fn of(params: &SearchParams) -> FormView {
        let chosen = params.category.as_deref().unwrap_or("");
        FormView {
            q: params.q.clone().unwrap_or_default(),
            from: params.from.clone().unwrap_or_default(),
            to: params.to.clone().unwrap_or_default(),
            categories: Category::ALL
                .into_iter()
                .map(|category| CategoryOption {
                    value: category.as_str(),
                    label: category_label(category),
                    selected: category.as_str() == chosen,
                })
                .collect(),
            newest: params.sort.as_deref() == Some("newest"),
        }
    }
}

/// The page's address with `before` moved to `cursor`, every other parameter kept.
fn more_href(params: &SearchParams, cursor: &str) -> String {
    search_href(params.given().into_iter().chain([("before", cursor)]))
}

/// The same search as the form shows it: without the filters it does not (see
/// [`narrowed`]), keeping the words, category, dates and order.
fn widened_href(params: &SearchParams) -> String {
    search_href(
        params
            .given()
            .into_iter()
            .filter(|(name, _)| matches!(*name, "q" | "category" | "from" | "to" | "sort")),
    )
}

fn search_href<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let query: Vec<String> = pairs
        .map(|(name, value)| format!("{name}={}", encode_query_value(value)))
        .collect();
    format!("/search?{}", query.join("&"))
}

/// The filters given that the form does not show, in words ("kind email.bounced").
fn narrowed(params: &SearchParams) -> Vec<String> {
    params
        .given()
        .into_iter()
        .filter_map(|(name, value)| {
            let label = match name {
                "kind" | "source" => name,
                "subject" => "on",
                "actor" => "by",
                _ => return None,
            };
            Some(format!("{label} {value}"))
        })
        .collect()
}

fn behind_note(lag: IndexLag) -> Option<String> {
    match lag.deliveries {
        0 => None,
        1 => Some("The latest delivery is not searchable yet: it will be within seconds.".into()),
        n => Some(format!(
            "The latest {n} deliveries are not searchable yet: they will be within seconds."
        )),
    }
}

#[get("/search")]
async fn search_page(
    staff: Staff,
    state: web::Data<AppState>,
    params: web::Query<SearchParams>,
) -> Result<HttpResponse, PageError> {
    let params = params.into_inner();
    let mut page = SearchPage {
        layout: Layout::new(&state, "Search", Nav::Search, Some(&staff), false),
        form: FormView::of(&params),
        problem: None,
        searched: false,
        results: Vec::new(),
        more_href: None,
        behind: None,
        narrowed: narrowed(&params),
        widened_href: widened_href(&params),
    };
    // The order alone asks for nothing: the page shows how to search.
    let asked = params.given().iter().any(|(name, _)| *name != "sort");
    let mut status = StatusCode::OK;
    if asked {
        match params.parse(state.config.display.timezone) {
            Err(err) => {
                status = StatusCode::BAD_REQUEST;
                page.problem = Some(err.to_string());
            }
            Ok(request) => {
                let results = run(&state, request).await?;
                let clock = TrackedClock::new(Utc::now(), state.config.display.timezone);
                page.searched = true;
                page.more_href = results
                    .next
                    .map(|cursor| more_href(&params, &cursor.to_string()));
                page.behind = behind_note(results.behind);
                page.results = results
                    .found
                    .into_iter()
                    .map(|found| ResultView {
                        href: entry_href(&found.entry),
                        snippet: found.snippet.as_html().to_owned(),
                        entry: EntryView::new(found.entry, &clock, false),
                    })
                    .collect();
            }
        }
    }
    let body = state
        .renderer
        .render_page("pages/search", &page.layout, &page)?;
    Ok(html_response(status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clearing_the_hidden_filters_keeps_what_the_form_shows() {
        let params = SearchParams {
            q: Some("reprint".into()),
            category: Some("communication".into()),
            kind: Some("email.bounced".into()),
            actor: Some("Dana".into()),
            from: Some("2026-03-01".into()),
            sort: Some("newest".into()),
            ..SearchParams::default()
        };
        assert_eq!(
            widened_href(&params),
            "/search?q=reprint&category=communication&from=2026-03-01&sort=newest"
        );
    }

    #[test]
    fn more_keeps_every_parameter_and_encodes_them() {
        let params = SearchParams {
            q: Some("to:a@b.example \"x&y\"".into()),
            kind: Some("email.sent".into()),
            ..SearchParams::default()
        };
        assert_eq!(
            more_href(&params, "r20"),
            "/search?q=to%3Aa%40b.example%20%22x%26y%22&kind=email.sent&before=r20"
        );
    }
}
