//! `GET /admin/sources` (a page) and `GET /api/v1/sources` (the same as JSON, for monitoring
//! scripts): every configured source, the address to give its provider, what became of its
//! deliveries over the last hour and day (from the store's tally, the same on every gateway),
//! whether it has gone silent, and its latest refusals with the check that failed — "is
//! everything arriving, and why is Xero failing?" in one look.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::alerts::rules::span_words;
use crate::http::auth::OperatorCaller;
use crate::http::html::{Layout, Nav, Operator, html_response};
use crate::http::openapi::{Internal, OperatorsOnly, Unauthenticated, Unavailable};
use crate::http::page_error::PageError;
use crate::http::{ApiError, AppState};
use crate::observability::rejections::Refusal;
use crate::render::format::TimeView;
use crate::sources::Source;
use crate::store::{StoreError, Tally};

/// Refusals a source's card lists (the ring keeps more; the newest tell the story).
const SHOWN_REFUSALS: usize = 10;
/// A source that used to deliver and has sent nothing stored for this long is called silent.
const SILENT_AFTER: TimeDelta = TimeDelta::hours(3);

/// What became of a source's deliveries over a window.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DeliveryCounts)]
struct Counts {
    /// Stored (flagged ones included).
    accepted: u64,
    /// Stored, but their content wants a look.
    flagged: u64,
    /// Answered 2xx without storing anything new.
    duplicate: u64,
    /// Refused (nothing stored).
    refused: u64,
    /// Refusals by cause (`bad_signature`, `stale_timestamp`…) with their counts, most first:
    /// `[cause, count]` pairs.
    #[schema(value_type = Vec<(String, u64)>)]
    causes: Vec<(String, u64)>,
}

impl Counts {
    fn of(tally: &Tally, source: &str, since: DateTime<Utc>) -> Counts {
        let causes = tally.refusals(source, since);
        let flagged = tally.count(source, "flagged", since);
        Counts {
            accepted: tally.count(source, "stored", since) + flagged,
            flagged,
            duplicate: tally.count(source, "duplicate", since),
            refused: causes.iter().map(|(_, count)| count).sum(),
            causes,
        }
    }
}

/// One source as both routes tell it.
struct Status<'a> {
    source: &'a Source,
    last_stored: Option<DateTime<Utc>>,
    /// Set when the source used to deliver and has been quiet for [`SILENT_AFTER`] or more.
    silent_for: Option<TimeDelta>,
    last_hour: Counts,
    last_day: Counts,
}

/// The last day's tally, off the async workers, with this gateway's counts not yet stored
/// added in memory: current here without a write (a page polled by monitoring must not
/// become a second writer beside intake's); other gateways' arrive within their next round.
async fn read_tally(
    state: web::Data<AppState>,
) -> Result<Result<Tally, StoreError>, actix_web::error::BlockingError> {
    web::block(move || {
        let now = Utc::now();
        let mut tally = state.storage.read.tally(now - TimeDelta::days(1))?;
        tally.add(state.tally.snapshot(now));
        Ok(tally)
    })
    .await
}

fn statuses<'a>(state: &'a AppState, tally: &Tally, now: DateTime<Utc>) -> Vec<Status<'a>> {
    state
        .config
        .sources
        .iter()
        .map(|source| {
            let last_stored = tally.last_stored.get(&source.name).copied();
            Status {
                source,
                last_stored,
                silent_for: last_stored
                    .map(|at| now - at)
                    .filter(|quiet| *quiet >= SILENT_AFTER),
                last_hour: Counts::of(tally, &source.name, now - TimeDelta::hours(1)),
                last_day: Counts::of(tally, &source.name, now - TimeDelta::days(1)),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The page

#[derive(Serialize)]
struct SourceCard {
    name: String,
    kind: &'static str,
    url: String,
    deliveries_href: String,
    flagged_href: String,
    last_stored: Option<TimeView>,
    /// Set when the source has gone quiet: for how long, in words.
    silent_for: Option<String>,
    windows: [Window; 2],
    refusals: Vec<RefusalLine>,
    /// Refusals kept beyond those shown.
    more_refusals: usize,
}

#[derive(Serialize)]
struct Window {
    label: &'static str,
    #[serde(flatten)]
    counts: Counts,
}

#[derive(Serialize)]
struct RefusalLine {
    at: TimeView,
    cause: &'static str,
    check: String,
    remote: Option<String>,
    sent_to: Option<String>,
}

#[derive(Serialize)]
struct SourcesPage<'a> {
    layout: &'a Layout,
    sources: Vec<SourceCard>,
    unknown: Vec<RefusalLine>,
}

fn lines(state: &AppState, refusals: Vec<Refusal>) -> (Vec<RefusalLine>, usize) {
    let now = Utc::now();
    let zone = state.config.display.timezone;
    let more = refusals.len().saturating_sub(SHOWN_REFUSALS);
    let shown = refusals
        .into_iter()
        .take(SHOWN_REFUSALS)
        .map(|refusal| RefusalLine {
            at: TimeView::new(refusal.at, now, zone),
            cause: refusal.cause,
            check: refusal.check,
            remote: refusal.remote.map(|ip| ip.to_string()),
            sent_to: refusal.sent_to,
        })
        .collect();
    (shown, more)
}

/// The address as this request reached the gateway: behind a proxy, what the provider must
/// be given too.
fn hook_url(request: &HttpRequest, source: &Source) -> String {
    let info = request.connection_info();
    format!("{}://{}/hooks/{}", info.scheme(), info.host(), source.name)
}

#[get("/admin/sources")]
pub async fn page(
    operator: Operator,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let tally = read_tally(state.clone()).await??;
    let now = Utc::now();
    let zone = state.config.display.timezone;
    let sources = statuses(&state, &tally, now)
        .into_iter()
        .map(|status| {
            let name = &status.source.name;
            let (refusals, more_refusals) = lines(&state, state.rejections.of(name));
            let encoded = crate::render::view::encode_query_value(name);
            SourceCard {
                name: name.clone(),
                kind: status.source.kind_name(),
                url: hook_url(&request, status.source),
                deliveries_href: format!("/admin/deliveries?source={encoded}"),
                flagged_href: format!("/admin/deliveries?source={encoded}&outcome=flagged"),
                last_stored: status.last_stored.map(|at| TimeView::new(at, now, zone)),
                silent_for: status.silent_for.map(span_words),
                windows: [
                    Window {
                        label: "Last hour",
                        counts: status.last_hour,
                    },
                    Window {
                        label: "Last day",
                        counts: status.last_day,
                    },
                ],
                refusals,
                more_refusals,
            }
        })
        .collect();
    let (unknown, _) = lines(&state, state.rejections.of_unknown_sources());
    let layout = Layout::new(&state, "Sources", Nav::Admin, Some(&operator.0), true);
    let view = SourcesPage {
        layout: &layout,
        sources,
        unknown,
    };
    let body = state
        .renderer
        .render_page("pages/admin/sources", &layout, &view)?;
    Ok(html_response(StatusCode::OK, body))
}

// ---------------------------------------------------------------------------------------------
// The API

/// One configured source, as `/admin/sources` shows it.
#[derive(Serialize, ToSchema)]
#[schema(as = SourceStatus)]
struct SourceJson {
    name: String,
    /// Its `kind` in the config (`standard-webhooks`, `stripe`…).
    kind: &'static str,
    /// The address to give its provider, as this request reached the gateway.
    url: String,
    /// When it last delivered something stored.
    last_stored_at: Option<DateTime<Utc>>,
    /// It used to deliver, and has been quiet for 3 hours or more.
    silent: bool,
    last_hour: Counts,
    last_day: Counts,
    /// This gateway's latest refusals, newest first.
    recent_refusals: Vec<Refusal>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = SourcesStatus)]
struct SourcesJson {
    sources: Vec<SourceJson>,
    /// Requests to names no source is configured under, newest first (this gateway's).
    unknown_sources: Vec<Refusal>,
}

/// Every configured source: the address to give its provider, what became of its deliveries
/// over the last hour and day, whether it has gone silent, and its latest refusals. For
/// monitoring; operators only.
#[utoipa::path(
    tag = "operations",
    operation_id = "sources",
    responses(
        (status = 200, description = "The sources' status.", body = SourcesJson),
        Unauthenticated,
        OperatorsOnly,
        Internal,
        Unavailable,
    ),
)]
#[get("/sources")]
pub async fn api(
    _operator: OperatorCaller,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let tally = read_tally(state.clone()).await??;
    let sources = statuses(&state, &tally, Utc::now())
        .into_iter()
        .map(|status| SourceJson {
            name: status.source.name.clone(),
            kind: status.source.kind_name(),
            url: hook_url(&request, status.source),
            last_stored_at: status.last_stored,
            silent: status.silent_for.is_some(),
            last_hour: status.last_hour,
            last_day: status.last_day,
            recent_refusals: state.rejections.of(&status.source.name),
        })
        .collect();
    Ok(HttpResponse::Ok().json(SourcesJson {
        sources,
        unknown_sources: state.rejections.of_unknown_sources(),
    }))
}
