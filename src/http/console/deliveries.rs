//! `GET /admin/deliveries`: what arrived, newest first, filtered by source, outcome and time;
//! `GET /admin/deliveries/{seq}`: one delivery as it was kept (headers, raw body, hashes, its
//! place in the chain, how it was normalized and the entries it made); and
//! `GET /admin/deliveries/{seq}/body`: the raw body, downloaded as it was received.

use actix_web::http::StatusCode;
use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::activity::wording::human_bytes;
use crate::activity::{Entry, EntryId, Outcome};
use crate::http::AppState;
use crate::http::html::{Layout, Nav, Operator, html_response};
use crate::http::page_error::PageError;
use crate::http::search::entry_href;
use crate::render::format::TimeView;
use crate::render::view::subject_path;
use crate::search::given;
use crate::store::selection::{DeliveryFilter, OutcomeFilter};
use crate::store::{ReadSide, StoredDelivery};

/// Deliveries a list page shows.
const PAGE_SIZE: usize = 50;
/// Deliveries read from the store at a time while filtering.
const WINDOW: usize = 200;
/// The most deliveries one list request reads: a filter that matches rarely stops here and
/// offers to look further back, so no request costs more than this, whatever the history.
const SCAN_LIMIT: usize = 5_000;
/// The raw body shown on a delivery's page; the download has all of it.
const SHOWN_BODY_BYTES: usize = 64 * 1024;
/// Entries listed on a delivery's page (a batch of callbacks can make many).
const SHOWN_ENTRIES: usize = 500;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub(super) source: Option<String>,
    pub(super) outcome: Option<String>,
    pub(super) from: Option<String>,
    pub(super) to: Option<String>,
    /// The seq the page starts below.
    pub(super) before: Option<u64>,
}

impl ListQuery {
    pub(super) fn filter(&self, state: &AppState) -> Result<DeliveryFilter, PageError> {
        let zone = state.config.display.timezone;
        let moment = |text: Option<&str>, end| {
            text.map(|text| crate::search::moment(text, zone, end))
                .transpose()
                .map_err(|err| PageError::BadRequest(err.to_string()))
        };
        let source = given(&self.source).map(str::to_owned);
        if let Some(name) = &source
            && state.config.source(name).is_none()
        {
            return Err(PageError::BadRequest(format!(
                "no source is configured as “{name}”"
            )));
        }
        Ok(DeliveryFilter {
            source,
            outcome: given(&self.outcome)
                .map(OutcomeFilter::parse)
                .transpose()
                .map_err(PageError::BadRequest)?
                .flatten(),
            from: moment(given(&self.from), false)?,
            to: moment(given(&self.to), true)?,
        })
    }

    /// This list's address starting below `before`.
    fn href_before(&self, before: u64) -> String {
        let mut query = url_pairs(self);
        query.push(("before", before.to_string()));
        format!("/admin/deliveries?{}", encode_pairs(&query))
    }
}

fn url_pairs(query: &ListQuery) -> Vec<(&'static str, String)> {
    [
        ("source", &query.source),
        ("outcome", &query.outcome),
        ("from", &query.from),
        ("to", &query.to),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some((name, given(value)?.to_owned())))
    .collect()
}

fn encode_pairs(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={}", crate::render::view::encode_query_value(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One list page: the matches, and where to go on.
struct Found {
    deliveries: Vec<StoredDelivery>,
    /// The seq to continue below, when there may be more.
    next: Option<u64>,
    /// Set when the scan stopped at its limit before filling the page: how far back it read.
    stopped_at: Option<StoredDelivery>,
}

/// Reads newest first below `before`, keeping what `filter` admits, until a page is full, the
/// log's start, `from` or [`SCAN_LIMIT`].
fn find(store: &dyn ReadSide, filter: &DeliveryFilter, before: u64) -> Result<Found, PageError> {
    let mut deliveries = Vec::new();
    let mut below = before;
    let mut scanned = 0;
    loop {
        let window = store.deliveries_before(below, WINDOW)?;
        let reached_start = window.len() < WINDOW;
        for delivery in window {
            scanned += 1;
            below = delivery.seq;
            if filter.passed(&delivery) {
                return Ok(Found {
                    deliveries,
                    next: None,
                    stopped_at: None,
                });
            }
            if filter.admits(&delivery) {
                deliveries.push(delivery);
                if deliveries.len() == PAGE_SIZE {
                    return Ok(Found {
                        deliveries,
                        next: (below > 1).then_some(below),
                        stopped_at: None,
                    });
                }
            } else if scanned >= SCAN_LIMIT {
                return Ok(Found {
                    deliveries,
                    next: (below > 1).then_some(below),
                    stopped_at: Some(delivery),
                });
            }
        }
        if reached_start {
            return Ok(Found {
                deliveries,
                next: None,
                stopped_at: None,
            });
        }
    }
}

#[derive(Serialize)]
struct DeliveryRow {
    seq: u64,
    href: String,
    source: String,
    received: TimeView,
    outcome: OutcomeView,
    delivery_id: Option<String>,
    size: String,
}

#[derive(Serialize)]
struct OutcomeView {
    /// `normalized`, `unknown_type`, `malformed`, `unparseable`: the badge's class.
    label: &'static str,
    text: &'static str,
    flagged: bool,
    /// Why it was flagged, or the unknown type.
    reason: Option<String>,
}

impl OutcomeView {
    fn of(outcome: &Outcome) -> OutcomeView {
        let (text, reason) = match outcome {
            Outcome::Normalized => ("Normalized", None),
            Outcome::UnknownType { event_type } => ("Unknown type", Some(event_type.clone())),
            Outcome::Malformed { reason } => ("Malformed", Some(reason.clone())),
            Outcome::Unparseable { reason } => ("Unparseable", Some(reason.clone())),
        };
        OutcomeView {
            label: outcome.label(),
            text,
            flagged: outcome.is_flagged(),
            reason,
        }
    }
}

/// `at` as the page shows it, relative to `now`: one moment for the whole page.
fn time(state: &AppState, now: DateTime<Utc>, at: DateTime<Utc>) -> TimeView {
    TimeView::new(at, now, state.config.display.timezone)
}

fn body_size(delivery: &StoredDelivery) -> String {
    match &delivery.body {
        Some(body) => human_bytes(body.len() as u64),
        None => "dropped".to_owned(),
    }
}

#[derive(Serialize)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Serialize)]
struct ListPage<'a> {
    layout: &'a Layout,
    rows: Vec<DeliveryRow>,
    sources: Vec<Choice>,
    outcomes: Vec<Choice>,
    from: String,
    to: String,
    filtered: bool,
    /// The filter's fields, for the form that re-normalizes what it matches.
    filter_fields: Vec<(&'static str, String)>,
    older_href: Option<String>,
    newest_href: Option<String>,
    /// Set when the scan stopped before filling the page: how far back it read.
    searched_back_to: Option<TimeView>,
}

#[get("/admin/deliveries")]
pub async fn list(
    operator: Operator,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    let body = web::block(move || -> Result<String, PageError> {
        let now = Utc::now();
        let filter = query.filter(&state)?;
        let found = find(
            state.storage.read.as_ref(),
            &filter,
            query.before.unwrap_or(u64::MAX),
        )?;
        let rows = found
            .deliveries
            .iter()
            .map(|delivery| DeliveryRow {
                seq: delivery.seq,
                href: format!("/admin/deliveries/{}", delivery.seq),
                source: delivery.source.clone(),
                received: time(&state, now, delivery.received_at),
                outcome: OutcomeView::of(&delivery.outcome),
                delivery_id: delivery.delivery_id.clone(),
                size: body_size(delivery),
            })
            .collect();
        let chosen_source = given(&query.source);
        let mut sources = vec![Choice {
            value: String::new(),
            label: "Every source".to_owned(),
            selected: chosen_source.is_none(),
        }];
        sources.extend(state.config.sources.iter().map(|source| Choice {
            value: source.name.clone(),
            label: source.name.clone(),
            selected: chosen_source == Some(source.name.as_str()),
        }));
        let chosen_outcome = given(&query.outcome).unwrap_or("all");
        let mut outcomes = vec![Choice {
            value: "all".to_owned(),
            label: "Any outcome".to_owned(),
            selected: chosen_outcome == "all",
        }];
        outcomes.extend(OutcomeFilter::ALL.iter().map(|(_, value, label)| Choice {
            value: (*value).to_owned(),
            label: (*label).to_owned(),
            selected: chosen_outcome == *value,
        }));
        let layout = Layout::new(&state, "Deliveries", Nav::Admin, Some(&operator.0), true);
        let filter_fields = url_pairs(&query);
        let filtered = !filter_fields.is_empty();
        let view = ListPage {
            layout: &layout,
            rows,
            sources,
            outcomes,
            from: given(&query.from).unwrap_or_default().to_owned(),
            to: given(&query.to).unwrap_or_default().to_owned(),
            filtered,
            filter_fields,
            older_href: found.next.map(|seq| query.href_before(seq)),
            newest_href: query.before.map(|_| {
                let pairs = url_pairs(&query);
                if pairs.is_empty() {
                    "/admin/deliveries".to_owned()
                } else {
                    format!("/admin/deliveries?{}", encode_pairs(&pairs))
                }
            }),
            searched_back_to: found
                .stopped_at
                .map(|delivery| time(&state, now, delivery.received_at)),
        };
        Ok(state
            .renderer
            .render_page("pages/admin/deliveries", &layout, &view)?)
    })
    .await??;
    Ok(html_response(StatusCode::OK, body))
}

#[derive(Serialize)]
struct DetailPage<'a> {
    layout: &'a Layout,
    seq: u64,
    source: String,
    source_kind: Option<&'static str>,
    received: TimeView,
    delivery_id: Option<String>,
    outcome: OutcomeView,
    headers: Vec<(String, String)>,
    body: Option<BodyView>,
    body_sha256: String,
    chain: String,
    replay_key: Option<String>,
    entries: Vec<EntryLine>,
    more_entries: bool,
    previous_href: Option<String>,
    next_href: String,
}

#[derive(Serialize)]
struct BodyView {
    /// The text shown: JSON pretty-printed, anything else as UTF-8 (invalid bytes replaced).
    /// The template escapes it.
    text: String,
    json: bool,
    size: String,
    /// Set when only the start is shown.
    cut_at: Option<String>,
    download_href: String,
}

#[derive(Serialize)]
struct EntryLine {
    id: String,
    kind: String,
    summary: String,
    occurred: TimeView,
    href: String,
    subjects: Vec<SubjectLink>,
}

#[derive(Serialize)]
struct SubjectLink {
    key: String,
    href: String,
}

impl BodyView {
    fn of(seq: u64, body: &[u8]) -> BodyView {
        let pretty = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|value| serde_json::to_string_pretty(&value).ok());
        let json = pretty.is_some();
        let text = pretty.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
        let (text, cut_at) = if text.len() > SHOWN_BODY_BYTES {
            let mut end = SHOWN_BODY_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            (text[..end].to_owned(), Some(human_bytes(end as u64)))
        } else {
            (text, None)
        };
        BodyView {
            text,
            json,
            size: human_bytes(body.len() as u64),
            cut_at,
            download_href: format!("/admin/deliveries/{seq}/body"),
        }
    }
}

/// The entries a delivery made: their ids are derived from it (receipt time, seq, index), so
/// they are read by id, in order, until one is missing — O(entries), no index needed.
fn entries_of(
    store: &dyn ReadSide,
    delivery: &StoredDelivery,
) -> Result<(Vec<Entry>, bool), PageError> {
    let mut entries = Vec::new();
    for index in 0..=SHOWN_ENTRIES {
        let Ok(index) = u16::try_from(index) else {
            break;
        };
        let id = EntryId::derive(delivery.received_at, delivery.seq, index);
        match store.entry(id)? {
            Some(_) if entries.len() == SHOWN_ENTRIES => return Ok((entries, true)),
            Some(entry) => entries.push(entry),
            None => break,
        }
    }
    Ok((entries, false))
}

fn missing(seq: u64) -> PageError {
    PageError::not_found(
        "No such delivery",
        format!(
            "Delivery #{seq} is not in the log. Deliveries are numbered from 1 as they arrive."
        ),
    )
}

#[get("/admin/deliveries/{seq}")]
pub async fn detail(
    operator: Operator,
    state: web::Data<AppState>,
    seq: web::Path<u64>,
) -> Result<HttpResponse, PageError> {
    let seq = seq.into_inner();
    let body = web::block(move || -> Result<String, PageError> {
        let now = Utc::now();
        let store = state.storage.read.as_ref();
        let delivery = store.delivery(seq)?.ok_or_else(|| missing(seq))?;
        let (entries, more_entries) = entries_of(store, &delivery)?;
        let entries = entries
            .iter()
            .map(|entry| EntryLine {
                id: entry.id.to_string(),
                kind: entry.kind.as_str().to_owned(),
                summary: entry.summary.clone(),
                occurred: time(&state, now, entry.occurred_at),
                href: entry_href(entry),
                subjects: entry
                    .subjects
                    .iter()
                    .map(|subject| SubjectLink {
                        key: subject.key(),
                        href: subject_path(subject),
                    })
                    .collect(),
            })
            .collect();
        let title = format!("Delivery #{seq}");
        let layout = Layout::new(&state, &title, Nav::Admin, Some(&operator.0), true);
        let view = DetailPage {
            layout: &layout,
            seq,
            source_kind: state
                .config
                .source(&delivery.source)
                .map(|source| source.kind_name()),
            source: delivery.source.clone(),
            received: time(&state, now, delivery.received_at),
            delivery_id: delivery.delivery_id.clone(),
            outcome: OutcomeView::of(&delivery.outcome),
            body: delivery.body.as_deref().map(|body| BodyView::of(seq, body)),
            body_sha256: hex::encode(delivery.body_sha256),
            chain: hex::encode(delivery.chain),
            replay_key: delivery
                .replay_key
                .as_ref()
                .and_then(|key| serde_json::to_string(key).ok()),
            headers: delivery.headers.clone(),
            entries,
            more_entries,
            previous_href: (seq > 1).then(|| format!("/admin/deliveries/{}", seq - 1)),
            next_href: format!("/admin/deliveries/{}", seq + 1),
        };
        Ok(state
            .renderer
            .render_page("pages/admin/delivery", &layout, &view)?)
    })
    .await??;
    Ok(html_response(StatusCode::OK, body))
}

/// The raw body as received, as a download: never rendered by the browser (a hostile body
/// would otherwise run as a page of this site).
#[get("/admin/deliveries/{seq}/body")]
pub async fn raw_body(
    _operator: Operator,
    state: web::Data<AppState>,
    seq: web::Path<u64>,
) -> Result<HttpResponse, PageError> {
    let seq = seq.into_inner();
    let store = state.storage.read.clone();
    let delivery = web::block(move || store.delivery(seq))
        .await??
        .ok_or_else(|| missing(seq))?;
    let body = delivery.body.ok_or_else(|| {
        PageError::not_found(
            "The body is gone",
            format!(
                "Retention dropped the raw body of delivery #{seq}; its hash, its place in the \
                 chain and its entries remain."
            ),
        )
    })?;
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(format!(
                "delivery-{seq}-{}.bin",
                delivery.source
            ))],
        })
        .insert_header(actix_web::http::header::CacheControl(vec![
            actix_web::http::header::CacheDirective::NoStore,
        ]))
        .body(body))
}
