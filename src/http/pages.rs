//! The staff pages: `GET /` (latest activity), `GET /jobs/{id}` and `GET /salesdocs/{id}`
//! (timelines), `GET /unmatched`, `GET /go` (the jump box), and `GET /static/{file}`.
//!
//! Every page reads the subject's timeline lanes only as far as the page needs and renders
//! what it found: O(page), whatever the history. Reading and rendering run together on the
//! blocking pool, so a page never holds up the async workers that also take webhooks.
//! Timelines are kept once rendered and reused while still right ([`super::page_cache`]):
//! serving a kept one touches neither store nor pool.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{HttpResponse, get, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::html::{Layout, Nav, Staff, html_response, redirect};
use super::page_cache::{PageKey, RenderedAgainst, RenderedTimeline};
use super::page_error::PageError;
use crate::activity::{Category, Entry, EntryId, Subject, SubjectKind};
use crate::render::view::{
    self, DayGroup, SubjectHeading, TrackedClock, category_label, kind_label, subject_path,
};
use crate::store::project::Lanes;
use crate::store::{Cursor, Feed, LaneCounts, PageQuery};

/// Entries per page: a day or two of a busy job, small enough to render in a blink.
pub const PAGE_SIZE: usize = PageQuery::DEFAULT_LIMIT;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(home)
        .service(job_timeline)
        .service(salesdoc_timeline)
        .service(unmatched_page)
        .service(go)
        .service(static_file);
}

fn clock(state: &AppState) -> TrackedClock {
    TrackedClock::new(Utc::now(), state.config.display.timezone)
}

/// What a page says when it has nothing to list.
#[derive(Debug, Serialize)]
struct EmptyState {
    title: String,
    hint: String,
    link: Option<String>,
    href: Option<String>,
}

#[derive(Debug, Serialize)]
struct Pager {
    newest_href: Option<String>,
    older_href: Option<String>,
}

impl Pager {
    fn new(newest_href: Option<String>, older_href: Option<String>) -> Option<Pager> {
        (newest_href.is_some() || older_href.is_some()).then_some(Pager {
            newest_href,
            older_href,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Timelines

#[derive(Debug, Deserialize)]
struct TimelineQuery {
    category: Option<String>,
    before: Option<String>,
    /// `shown`: email callbacks as lines of their own.
    callbacks: Option<String>,
}

#[derive(Debug, Serialize)]
struct TimelinePage {
    subject: SubjectHeading,
    filters: Vec<FilterChip>,
    /// The rendered day list (`partials/days`), empty when there are no entries.
    days: String,
    empty: Option<EmptyState>,
    pager: Option<Pager>,
    /// Shows or hides email callbacks as lines, where the view has emails.
    callbacks: Option<Toggle>,
    /// Where the page follows new activity; only the newest page does.
    live: Option<LiveTimeline>,
}

/// What the page's script needs to follow the timeline: its stream, the cursor of the
/// latest change the page already shows, and the category it is filtered to.
#[derive(Debug, Serialize)]
struct LiveTimeline {
    stream: String,
    after: String,
    category: Option<&'static str>,
    /// `unmatched`: keep only entries no subject claims (and drop those that found one).
    only: Option<&'static str>,
}

impl LiveTimeline {
    /// The newest page of a list of everything (home, unmatched) follows everything from
    /// `stream`.
    fn of_everything(
        state: &AppState,
        paged: bool,
        stream: &str,
        only: Option<&'static str>,
    ) -> Result<Option<LiveTimeline>, PageError> {
        if paged {
            return Ok(None);
        }
        Ok(Some(LiveTimeline {
            stream: stream.to_owned(),
            after: state
                .storage
                .read
                .latest_change(Feed::Everything)?
                .to_string(),
            category: None,
            only,
        }))
    }
}

/// A link that switches a view on or off.
#[derive(Debug, Serialize)]
struct Toggle {
    label: &'static str,
    href: String,
    on: bool,
}

#[derive(Debug, Serialize)]
struct FilterChip {
    key: &'static str,
    label: &'static str,
    href: String,
    active: bool,
    /// How many lines the chip leads to: `12`, or `100+` past what is counted.
    count: String,
    /// The count when it is exact, for the script to add new lines to.
    exact: Option<usize>,
    /// Nothing to lead to: the chip is quieter.
    empty: bool,
}

/// A timeline URL with its filter and position; chips keep the position and "Older" keeps the
/// filter, so each keeps the other's state.
fn timeline_href(
    base: &str,
    category: Option<Category>,
    callbacks: bool,
    before: Option<&Cursor>,
) -> String {
    let mut params = Vec::new();
    if let Some(category) = category {
        params.push(format!("category={}", category.as_str()));
    }
    if callbacks {
        params.push("callbacks=shown".to_owned());
    }
    if let Some(cursor) = before {
        params.push(format!("before={cursor}"));
    }
    if params.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", params.join("&"))
    }
}

fn filter_chips(
    base: &str,
    active: Option<Category>,
    callbacks: bool,
    before: Option<&Cursor>,
    counts: &LaneCounts,
) -> Vec<FilterChip> {
    let chip = |key, label, category: Option<Category>| {
        let count = counts.lines(Lanes {
            category,
            callbacks,
        });
        FilterChip {
            key,
            label,
            href: timeline_href(base, category, callbacks, before),
            active: active == category,
            count: count.to_string(),
            exact: (!count.capped).then_some(count.at_least),
            empty: count.at_least == 0,
        }
    };
    std::iter::once(chip("all", "All", None))
        .chain(
            Category::ALL
                .into_iter()
                .map(|category| chip(category.as_str(), category_label(category), Some(category))),
        )
        .collect()
}

/// Whether email callbacks show as lines: `?callbacks=shown` (`hidden`, the default, folds
/// them into their email).
fn parse_callbacks(text: Option<&str>) -> Result<bool, PageError> {
    match text.map(str::trim) {
        None | Some("" | "hidden") => Ok(false),
        Some("shown") => Ok(true),
        Some(other) => Err(PageError::BadRequest(format!(
            "“{other}” is not a way to show email callbacks: use shown or hidden"
        ))),
    }
}

/// The switch between folded and listed callbacks, where the view has emails.
fn callbacks_toggle(base: &str, category: Option<Category>, shown: bool) -> Option<Toggle> {
    if category.is_some_and(|category| category != Category::Communication) {
        return None;
    }
    Some(Toggle {
        label: if shown {
            "Hide email delivery events"
        } else {
            "Show email delivery events as lines"
        },
        href: timeline_href(base, category, !shown, None),
        on: shown,
    })
}

fn parse_category(text: Option<&str>) -> Result<Option<Category>, PageError> {
    match text.map(str::trim).filter(|t| !t.is_empty() && *t != "all") {
        None => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| PageError::BadRequest(format!("There is no category called “{text}”"))),
    }
}

fn parse_cursor(text: Option<&str>) -> Result<Option<Cursor>, PageError> {
    match text.filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| {
            PageError::BadRequest("The “Older” link this page came from is damaged".to_owned())
        }),
    }
}

fn unknown_subject(kind: SubjectKind, id: &str) -> PageError {
    let noun = kind_label(kind).to_lowercase();
    PageError::not_found(
        format!("No activity for {noun} {id} yet"),
        format!(
            "Hooktrail has not received anything about {noun} {id}. If it was created a \
             moment ago, its first events will show up here within seconds; otherwise, check \
             the id."
        ),
    )
}

#[get("/jobs/{id}")]
async fn job_timeline(
    staff: Staff,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<TimelineQuery>,
) -> Result<HttpResponse, PageError> {
    timeline(
        staff,
        state,
        SubjectKind::Job,
        id.into_inner(),
        query.into_inner(),
    )
    .await
}

#[get("/salesdocs/{id}")]
async fn salesdoc_timeline(
    staff: Staff,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<TimelineQuery>,
) -> Result<HttpResponse, PageError> {
    timeline(
        staff,
        state,
        SubjectKind::Salesdoc,
        id.into_inner(),
        query.into_inner(),
    )
    .await
}

async fn timeline(
    staff: Staff,
    state: web::Data<AppState>,
    kind: SubjectKind,
    id: String,
    query: TimelineQuery,
) -> Result<HttpResponse, PageError> {
    let subject = Subject::new(kind, id.as_str()).map_err(|_| unknown_subject(kind, &id))?;
    let key = PageKey {
        subject,
        category: parse_category(query.category.as_deref())?,
        callbacks: parse_callbacks(query.callbacks.as_deref())?,
        before: parse_cursor(query.before.as_deref())?,
    };
    // RenderedAgainst come from memory (see `ChangeFeed::subject_stamp`), so a page kept from an earlier
    // request is served right here; only rendering goes to the blocking pool. They are read
    // before the timeline, so a page rendered from data newer than its stamps is at worst
    // rendered again, never served stale.
    let stamps = RenderedAgainst {
        subject: state.storage.feed.subject_stamp(&key.subject)?,
        templates: state.renderer.templates_version(),
    };
    let timeline = match state.page_cache.get(&key, stamps, Utc::now()) {
        Some(kept) => kept,
        None => {
            let state = state.clone();
            web::block(move || render_and_keep_timeline(&state, key, stamps)).await??
        }
    };
    let layout = Layout::new(&state, &timeline.title, Nav::Timeline, Some(&staff), true);
    let body = state.renderer.render_layout(&layout, &timeline.body)?;
    Ok(html_response(StatusCode::OK, body))
}

fn render_and_keep_timeline(
    state: &AppState,
    key: PageKey,
    stamps: RenderedAgainst,
) -> Result<Arc<RenderedTimeline>, PageError> {
    let clock = clock(state);
    let (title, body) = render_timeline(state, &key, &clock, Frame::Staff)?;
    let rendered = Arc::new(RenderedTimeline {
        stamps,
        fresh_until: clock.fresh_until(),
        title,
        body,
    });
    state.page_cache.insert(key, rendered.clone());
    Ok(rendered)
}

/// Where a timeline is shown.
pub(super) enum Frame {
    /// Hooktrail's own page: filters, paging, the switch for callbacks.
    Staff,
    /// Inside the business app (see [`super::embed`]): the newest lines, live from `stream`,
    /// and nothing that leads to a page which needs a session.
    Embedded { stream: String },
}

/// The timeline page without its layout: its title and its body.
pub(super) fn render_timeline(
    state: &AppState,
    key: &PageKey,
    clock: &TrackedClock,
    frame: Frame,
) -> Result<(String, String), PageError> {
    let &PageKey {
        ref subject,
        category,
        callbacks,
        before,
    } = key;
    let query = PageQuery {
        limit: PAGE_SIZE,
        before,
        category,
        callbacks,
    };
    // Read before the page, so that whatever is committed in between is sent live (the
    // script replaces a line the page already has).
    let stream = match (&frame, before) {
        (Frame::Staff, None) => Some(view::subject_stream_path(subject)),
        (Frame::Embedded { stream }, _) => Some(stream.clone()),
        (Frame::Staff, Some(_)) => None,
    };
    let live = match stream {
        Some(stream) => Some(LiveTimeline {
            stream,
            after: state
                .storage
                .read
                .latest_change(Feed::Subject(subject))?
                .to_string(),
            category: category.map(Category::as_str),
            only: None,
        }),
        None => None,
    };
    let page = state.storage.read.subject_entries(subject, &query)?;
    // The kind answer to an id nothing was ever received for: a 404 that says so, rather
    // than an empty page that looks like a job without history.
    let origin = state
        .storage
        .read
        .subject_origin(subject)?
        .ok_or_else(|| unknown_subject(subject.kind(), subject.id()))?;
    let heading = SubjectHeading::new(subject, &origin);
    let base = subject_path(subject);
    let empty = page
        .entries
        .is_empty()
        .then(|| timeline_empty_state(&base, subject, category, before.is_some()));
    let pager = Pager::new(
        before.map(|_| timeline_href(&base, category, callbacks, None)),
        page.next
            .as_ref()
            .map(|next| timeline_href(&base, category, callbacks, Some(next))),
    );
    let title = heading.page_title();
    let days = view::group_by_day(page.entries, clock, false);
    let staff = matches!(frame, Frame::Staff);
    let view = TimelinePage {
        filters: if staff {
            let counts = state.storage.read.lane_counts(subject)?;
            filter_chips(&base, category, callbacks, before.as_ref(), &counts)
        } else {
            Vec::new()
        },
        callbacks: staff
            .then(|| callbacks_toggle(&base, category, callbacks))
            .flatten(),
        days: state.renderer.days(&days, false, false)?,
        subject: heading,
        empty,
        pager: if staff { pager } else { None },
        live,
    };
    Ok((title, state.renderer.render("pages/timeline", &view)?))
}

fn timeline_empty_state(
    base: &str,
    subject: &Subject,
    category: Option<Category>,
    paged: bool,
) -> EmptyState {
    let noun = kind_label(subject.kind()).to_lowercase();
    match (category, paged) {
        (Some(category), false) => EmptyState {
            title: format!(
                "No {} activity on this {noun} yet",
                category_label(category).to_lowercase()
            ),
            hint: "Everything else that happened is under All.".to_owned(),
            link: Some("Show all activity".to_owned()),
            href: Some(base.to_owned()),
        },
        (Some(category), true) => EmptyState {
            title: format!(
                "No older {} activity",
                category_label(category).to_lowercase()
            ),
            hint: "Nothing of this kind happened before this point.".to_owned(),
            link: Some("Back to the newest".to_owned()),
            href: Some(timeline_href(base, Some(category), false, None)),
        },
        (None, true) => EmptyState {
            title: "No older activity".to_owned(),
            hint: format!("This is where the {noun}’s story begins."),
            link: Some("Back to the newest".to_owned()),
            href: Some(base.to_owned()),
        },
        (None, false) => EmptyState {
            title: format!("Nothing on this {noun} yet"),
            hint: "New activity appears here as soon as it arrives.".to_owned(),
            link: None,
            href: None,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Home and unmatched: lists across every subject, newest receipt first, paged by entry id.

#[derive(Debug, Deserialize)]
struct ListQuery {
    before: Option<String>,
}

fn parse_entry_cursor(text: Option<&str>) -> Result<Option<EntryId>, PageError> {
    match text.filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| {
            PageError::BadRequest("The “Older” link this page came from is damaged".to_owned())
        }),
    }
}

/// One page of a list read with one more than shown, which tells whether older ones exist.
struct ListPage {
    days: Vec<DayGroup>,
    pager: Option<Pager>,
}

fn list_page(
    state: &AppState,
    path: &str,
    mut entries: Vec<Entry>,
    before: Option<EntryId>,
) -> ListPage {
    let more = entries.len() > PAGE_SIZE;
    entries.truncate(PAGE_SIZE);
    let older_href = entries
        .last()
        .filter(|_| more)
        .map(|last| format!("{path}?before={}", last.id));
    ListPage {
        days: view::group_by_day(entries, &clock(state), true),
        pager: Pager::new(before.map(|_| path.to_owned()), older_href),
    }
}

#[derive(Debug, Serialize)]
struct UnmatchedSummary {
    any: bool,
    label: String,
}

impl UnmatchedSummary {
    fn new(count: u64) -> UnmatchedSummary {
        let label = match count {
            0 => "No unmatched entries".to_owned(),
            1 => "1 unmatched entry".to_owned(),
            n => format!("{n} unmatched entries"),
        };
        UnmatchedSummary {
            any: count > 0,
            label,
        }
    }
}

#[derive(Debug, Serialize)]
struct HomePage {
    layout: Layout,
    unmatched: UnmatchedSummary,
    days: String,
    empty: Option<EmptyState>,
    pager: Option<Pager>,
    live: Option<LiveTimeline>,
}

#[get("/")]
async fn home(
    staff: Staff,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    let before = parse_cursor(query.before.as_deref())?;
    let body = web::block(move || -> Result<String, PageError> {
        // Before the entries, so what commits in between arrives live.
        let live = LiveTimeline::of_everything(&state, before.is_some(), "/api/v1/stream", None)?;
        let page = state.storage.read.recent(PAGE_SIZE, before)?;
        let unmatched = UnmatchedSummary::new(state.storage.read.unmatched_count()?);
        // By when things happened, as the timelines are.
        let mut days = view::group_by_day(page.entries, &clock(&state), false);
        view::name_subject_links(&mut days, |subject| {
            state.storage.read.subject_origin(subject)
        })?;
        let pager = Pager::new(
            before.map(|_| "/".to_owned()),
            page.next.map(|next| format!("/?before={next}")),
        );
        let empty = days.is_empty().then(|| EmptyState {
            title: "Nothing has arrived yet".to_owned(),
            hint: "Activity shows up here the moment the business app, the accounting platform \
                   or the email provider sends it. New here? Run “hooktrail demo” to send a \
                   few sample jobs."
                .to_owned(),
            link: None,
            href: None,
        });
        let view = HomePage {
            layout: Layout::new(&state, "Latest activity", Nav::Home, Some(&staff), false),
            unmatched,
            days: state.renderer.days(&days, true, false)?,
            empty,
            pager,
            live,
        };
        Ok(state
            .renderer
            .render_page("pages/home", &view.layout, &view)?)
    })
    .await??;
    Ok(html_response(StatusCode::OK, body))
}

#[derive(Debug, Serialize)]
struct UnmatchedPage {
    layout: Layout,
    days: String,
    empty: Option<EmptyState>,
    pager: Option<Pager>,
    live: Option<LiveTimeline>,
}

#[get("/unmatched")]
async fn unmatched_page(
    staff: Staff,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    let before = parse_entry_cursor(query.before.as_deref())?;
    let body = web::block(move || -> Result<String, PageError> {
        let live = LiveTimeline::of_everything(
            &state,
            before.is_some(),
            "/api/v1/stream?lines=receipt",
            Some("unmatched"),
        )?;
        let entries = state.storage.read.unmatched(PAGE_SIZE + 1, before)?;
        let list = list_page(&state, "/unmatched", entries, before);
        let empty = list.days.is_empty().then(|| EmptyState {
            title: "Nothing is waiting for a match".to_owned(),
            hint: "Every provider callback found its job or sales document.".to_owned(),
            link: None,
            href: None,
        });
        let view = UnmatchedPage {
            layout: Layout::new(&state, "Unmatched", Nav::Unmatched, Some(&staff), true),
            days: state.renderer.days(&list.days, true, false)?,
            empty,
            pager: list.pager,
            live,
        };
        Ok(state
            .renderer
            .render_page("pages/unmatched", &view.layout, &view)?)
    })
    .await??;
    Ok(html_response(StatusCode::OK, body))
}

// ---------------------------------------------------------------------------------------------
// The jump box and static files

#[derive(Debug, Deserialize)]
struct GoQuery {
    kind: Option<String>,
    id: Option<String>,
}

/// `GET /go?kind=job&id=1042` → `/jobs/1042`. Also takes `job:1042` or `#1042` as typed.
/// What names no job or sales document Hooktrail has heard of (a typo, an invoice number, a
/// customer's name) is searched for instead.
#[get("/go")]
async fn go(
    _staff: Staff,
    state: web::Data<AppState>,
    query: web::Query<GoQuery>,
) -> Result<HttpResponse, PageError> {
    let typed = query.id.as_deref().unwrap_or("").trim();
    let typed = typed.strip_prefix('#').unwrap_or(typed).trim();
    if typed.is_empty() {
        return Ok(redirect("/"));
    }
    let subject = typed.parse::<Subject>().ok().or_else(|| {
        let kind = query
            .kind
            .as_deref()
            .and_then(|kind| kind.parse().ok())
            .unwrap_or(SubjectKind::Job);
        Subject::new(kind, typed).ok()
    });
    let known = match subject {
        Some(subject) => {
            let store = state.storage.read.clone();
            web::block(move || Ok::<_, PageError>(store.subject_origin(&subject)?.map(|_| subject)))
                .await??
        }
        None => None,
    };
    Ok(redirect(&match known {
        Some(subject) => subject_path(&subject),
        None => format!("/search?q={}", view::encode_query_value(typed)),
    }))
}

/// The stylesheet, script and icon. URLs carry a content hash (`?v=…`), so browsers may keep
/// them for a week; in development they are re-read and never cached.
#[get("/static/{name}")]
async fn static_file(state: web::Data<AppState>, name: web::Path<String>) -> HttpResponse {
    let Some(file) = state.renderer.static_file(&name) else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("no such file\n");
    };
    let cache = if state.renderer.is_development() {
        CacheControl(vec![CacheDirective::NoCache])
    } else {
        CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(7 * 24 * 60 * 60),
        ])
    };
    HttpResponse::Ok()
        .content_type(file.content_type)
        .insert_header(cache)
        .body(file.bytes.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::EntryId;

    #[test]
    fn chips_keep_the_position_and_older_keeps_the_filter() {
        let cursor = Cursor {
            occurred_micros: 5,
            id: EntryId::from_u128(7),
        };
        let counts = LaneCounts::default();
        let chips = filter_chips(
            "/jobs/1",
            Some(Category::Accounting),
            false,
            Some(&cursor),
            &counts,
        );
        assert_eq!(chips.len(), 7);
        assert_eq!(chips[0].href, format!("/jobs/1?before={cursor}"));
        let active: Vec<&str> = chips.iter().filter(|c| c.active).map(|c| c.key).collect();
        assert_eq!(active, ["accounting"]);
        assert_eq!(
            timeline_href("/jobs/1", Some(Category::Workflow), false, Some(&cursor)),
            format!("/jobs/1?category=workflow&before={cursor}")
        );
        let shown = filter_chips("/jobs/1", None, true, None, &counts);
        assert_eq!(shown[0].href, "/jobs/1?callbacks=shown");
        assert_eq!(
            callbacks_toggle("/jobs/1", Some(Category::Communication), true)
                .unwrap()
                .href,
            "/jobs/1?category=communication"
        );
        assert!(callbacks_toggle("/jobs/1", Some(Category::Workflow), false).is_none());
    }

    #[test]
    fn chips_count_what_they_lead_to_folded_callbacks_only_when_shown() {
        use crate::store::project::{CALLBACK_LANE, lane};
        let mut counts = LaneCounts::default();
        counts.set(lane(Category::Workflow), 3);
        counts.set(lane(Category::Communication), 2);
        counts.set(CALLBACK_LANE, 4);
        let count_of = |chips: &[FilterChip], key: &str| {
            let chip = chips.iter().find(|chip| chip.key == key).unwrap();
            (chip.count.clone(), chip.exact)
        };
        let folded = filter_chips("/jobs/1", None, false, None, &counts);
        assert_eq!(count_of(&folded, "all"), ("5".to_owned(), Some(5)));
        assert_eq!(
            count_of(&folded, "communication"),
            ("2".to_owned(), Some(2))
        );
        assert_eq!(count_of(&folded, "accounting"), ("0".to_owned(), Some(0)));
        let shown = filter_chips("/jobs/1", None, true, None, &counts);
        assert_eq!(count_of(&shown, "all"), ("9".to_owned(), Some(9)));
        assert_eq!(count_of(&shown, "communication"), ("6".to_owned(), Some(6)));
        assert_eq!(count_of(&shown, "workflow"), ("3".to_owned(), Some(3)));
        counts.set(lane(Category::Workflow), 500);
        let capped = filter_chips("/jobs/1", None, false, None, &counts);
        assert_eq!(count_of(&capped, "workflow"), ("100+".to_owned(), None));
        assert_eq!(count_of(&capped, "all"), ("102+".to_owned(), None));
    }

    #[test]
    fn unmatched_counts_read_naturally() {
        assert_eq!(UnmatchedSummary::new(0).label, "No unmatched entries");
        assert_eq!(UnmatchedSummary::new(1).label, "1 unmatched entry");
        assert!(UnmatchedSummary::new(12).any);
    }
}
