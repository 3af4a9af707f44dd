//! `GET /admin/sources`: every configured source, the address to give its provider, what
//! became of its deliveries over the last hour and day (from the store's tally, the same on
//! every gateway), a warning when it has gone silent, and its latest refusals with the check
//! that failed — "is everything arriving, and why is Xero failing?" in one look.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::http::AppState;
use crate::http::html::{Layout, Nav, Operator, html_response};
use crate::http::page_error::PageError;
use crate::observability::rejections::Refusal;
use crate::render::format::TimeView;
use crate::store::Tally;

/// Refusals a source's card lists (the ring keeps more; the newest tell the story).
const SHOWN_REFUSALS: usize = 10;
/// A source that used to deliver and has sent nothing stored for this long is called silent.
const SILENT_AFTER: TimeDelta = TimeDelta::hours(3);

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
    /// The last hour, and the last day.
    windows: [Counts; 2],
    refusals: Vec<RefusalLine>,
    /// Refusals kept beyond those shown.
    more_refusals: usize,
}

/// What became of a source's deliveries over a window.
#[derive(Serialize)]
struct Counts {
    label: &'static str,
    accepted: u64,
    flagged: u64,
    duplicate: u64,
    refused: u64,
    /// Refusals by cause, most first.
    causes: Vec<(String, u64)>,
}

impl Counts {
    fn of(tally: &Tally, source: &str, label: &'static str, since: DateTime<Utc>) -> Counts {
        let causes = tally.refusals(source, since);
        let flagged = tally.count(source, "flagged", since);
        Counts {
            label,
            accepted: tally.count(source, "stored", since) + flagged,
            flagged,
            duplicate: tally.count(source, "duplicate", since),
            refused: causes.iter().map(|(_, count)| count).sum(),
            causes,
        }
    }
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

/// `1 h 40 min`, `5 h`, `2 days`.
fn duration_words(span: TimeDelta) -> String {
    let minutes = span.num_minutes();
    match (minutes / 60, minutes % 60) {
        (hours, _) if hours >= 48 => format!("{} days", hours / 24),
        (hours, 0) => format!("{hours} h"),
        (hours, rest) => format!("{hours} h {rest} min"),
    }
}

#[get("/admin/sources")]
pub async fn page(
    operator: Operator,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, PageError> {
    // This gateway's latest counts first, so the page is current here; others' arrive
    // within their next round.
    let tally = web::block({
        let state = state.clone();
        move || -> Result<Tally, PageError> {
            crate::app::add_to_tally(state.storage.write.as_ref(), &state.tally)?;
            Ok(state.storage.read.tally(Utc::now() - TimeDelta::days(1))?)
        }
    })
    .await??;
    let now = Utc::now();
    // The address as this request reached the gateway: behind a proxy, what the provider
    // must be given too.
    let base = {
        let info = request.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    };
    let zone = state.config.display.timezone;
    let sources = state
        .config
        .sources
        .iter()
        .map(|source| {
            let (refusals, more_refusals) = lines(&state, state.rejections.of(&source.name));
            let last_stored = tally.last_stored.get(&source.name).copied();
            let encoded = crate::render::view::encode_query_value(&source.name);
            SourceCard {
                name: source.name.clone(),
                kind: source.kind_name(),
                url: format!("{base}/hooks/{}", source.name),
                deliveries_href: format!("/admin/deliveries?source={encoded}"),
                flagged_href: format!("/admin/deliveries?source={encoded}&outcome=flagged"),
                last_stored: last_stored.map(|at| TimeView::new(at, now, zone)),
                silent_for: last_stored
                    .map(|at| now - at)
                    .filter(|quiet| *quiet >= SILENT_AFTER)
                    .map(duration_words),
                windows: [
                    Counts::of(&tally, &source.name, "Last hour", now - TimeDelta::hours(1)),
                    Counts::of(&tally, &source.name, "Last day", now - TimeDelta::days(1)),
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
