//! Live timelines: `GET /api/v1/subjects/{kind}/{id}/stream` (one subject) and
//! `GET /api/v1/stream` (everything: the home page and the unmatched list), server-sent events.
//!
//! A stream follows its feed's changes in the store (see [`crate::store::ReadSide::changes`]),
//! so it sees what any gateway committed: it waits on the change feed, and when its feed's
//! stamp moves it reads the changes after its cursor and sends each as an `entry` event whose
//! `id:` is the change's cursor. A browser that reconnects sends the last one back as
//! `Last-Event-ID` and the stream resumes right after it: nothing is lost, and the page
//! replaces a line it already shows rather than adding it twice.
//!
//! Every stream is bounded: a cap on how many are open (one more is answered 503), a comment
//! when quiet (so proxies keep the connection), an idle timeout (the browser reconnects), and
//! a small queue per client — one that does not read what was sent within `[live]
//! send_timeout_secs` is dropped, never buffered for.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, web};
use bytes::Bytes;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::auth::Caller;
use super::openapi::{Internal, Unauthenticated};
use super::problem::Problem;
use super::{ApiError, AppState};
use crate::activity::{Entry, SubjectKind};
use crate::config::LiveConfig;
use crate::render::view::{self, TrackedClock};
use crate::store::{Change, ChangeCursor, Follow};

/// Changes read per round; a subject with more waiting is read again at once.
const CHANGES_PER_READ: usize = 100;
/// Events queued for one client before sending waits (and, past the send timeout, drops it).
const QUEUED_EVENTS: usize = 16;
/// How long the browser waits before reconnecting, in milliseconds.
const RECONNECT_MILLIS: u32 = 2000;

/// The open streams of this gateway, and how many may be.
#[derive(Clone)]
pub struct Streams {
    slots: Arc<Semaphore>,
    capacity: usize,
}

impl Streams {
    pub fn new(config: &LiveConfig) -> Streams {
        let capacity = config.max_streams.get();
        Streams {
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
        }
    }

    pub fn in_use(&self) -> usize {
        self.capacity - self.slots.available_permits()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn admit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::TooManyStreams)
    }
}

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(stream).service(stream_everything);
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct StreamQuery {
    /// Where to resume: the `id:` of the last event seen (or the cursor a page was rendered
    /// with). `Last-Event-ID` wins when both are sent; without either, the stream starts at
    /// the latest change.
    after: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EverythingQuery {
    /// Where to resume: the `id:` of the last event seen (or the cursor a page was rendered
    /// with). `Last-Event-ID` wins when both are sent; without either, the stream starts at
    /// the latest change.
    after: Option<String>,
    /// `receipt` renders lines as the unmatched list shows them, by receipt; by default
    /// (`time`, or empty) they are the home page's, by when they happened.
    #[param(pattern = "^(|time|receipt)$")]
    lines: Option<String>,
}

/// The response of a stream, described once for both.
const STREAM_DESCRIPTION: &str = "Server-sent events, for as long as the connection lasts: an \
    `entry` event (`id:` a cursor to resume from, `data:` one `LiveEntry` as JSON) for every \
    entry new to the feed or changed, and a comment line while quiet. Idle streams close after \
    `[live] idle_timeout_secs`; the browser reconnects.";

/// How a stream's lines are rendered: placed and labelled by when things happened (timelines,
/// the home page) or by receipt (the unmatched list); with the subjects they belong to on lists
/// of everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lines {
    by_receipt: bool,
    with_subjects: bool,
}

impl Lines {
    pub const TIMELINE: Lines = Lines {
        by_receipt: false,
        with_subjects: false,
    };
}

/// A timeline's changes, live: what an open timeline page follows.
#[utoipa::path(
    tag = "live",
    operation_id = "subject_stream",
    params(
        ("kind" = SubjectKind, Path, description = "`job` or `salesdoc`.", example = "job"),
        ("id" = String, Path, description = "The business app's id.", example = "1042"),
        ("Last-Event-ID" = Option<String>, Header, description = "The `id:` of the last event seen: the stream resumes right after it."),
        StreamQuery,
    ),
    responses(
        (status = 200, description = STREAM_DESCRIPTION, content_type = "text/event-stream", body = String),
        (status = 400, description = "A cursor (`Last-Event-ID` or `after`) that is not one, an id that cannot be one, or a malformed query string.",
            body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 404, description = "No such kind of subject.",
            body = Problem, content_type = "application/problem+json"),
        Internal,
        (status = 503, description = "Too many live streams are open on this gateway (`[live] max_streams`), the storage cannot be read, or the gateway is starting.",
            body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying."))),
    ),
)]
#[get("/subjects/{kind}/{id}/stream")]
async fn stream(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<StreamQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (kind, id) = path.into_inner();
    let subject = super::api::subject_at(&kind, id)?;
    let after = query.after.as_deref();
    open(
        state,
        Follow::Subject(subject),
        Lines::TIMELINE,
        &request,
        after,
    )
    .await
}

/// Everything new or changed, anywhere: what the home page and the unmatched list follow.
#[utoipa::path(
    tag = "live",
    operation_id = "stream",
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "The `id:` of the last event seen: the stream resumes right after it."),
        EverythingQuery,
    ),
    responses(
        (status = 200, description = STREAM_DESCRIPTION, content_type = "text/event-stream", body = String),
        (status = 400, description = "A cursor (`Last-Event-ID` or `after`) that is not one, a `lines` other than `time` or `receipt`, or a malformed query string.",
            body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        Internal,
        (status = 503, description = "Too many live streams are open on this gateway (`[live] max_streams`), the storage cannot be read, or the gateway is starting.",
            body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying."))),
    ),
)]
#[get("/stream")]
async fn stream_everything(
    _caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<EverythingQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let lines = match query.lines.as_deref() {
        // Empty is the default, like every other parameter of the API.
        None | Some("" | "time") => Lines {
            by_receipt: false,
            with_subjects: true,
        },
        Some("receipt") => Lines {
            by_receipt: true,
            with_subjects: true,
        },
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "lines={other:?}: use time or receipt"
            )));
        }
    };
    open(
        state,
        Follow::Everything,
        lines,
        &request,
        query.after.as_deref(),
    )
    .await
}

/// Opens a live timeline of `subject` for a caller already allowed to read it. It resumes
/// after the request's `Last-Event-ID`, else after `after` (the cursor the page was rendered
/// with), else at the subject's latest change. An empty one is no cursor, as everywhere in
/// the API (a form's empty field, a client that has seen no event yet).
pub async fn open(
    state: web::Data<AppState>,
    followed: Follow,
    lines: Lines,
    request: &HttpRequest,
    after: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let resume = request
        .headers()
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .filter(|text| !text.is_empty())
        .or(after.filter(|text| !text.is_empty()));
    let after = match resume {
        Some(text) => Some(
            text.parse::<ChangeCursor>()
                .map_err(|_| ApiError::BadRequest(format!("{text:?} is not a stream cursor")))?,
        ),
        None => None,
    };
    let permit = state.live.admit()?;
    let after = match after {
        Some(after) => after,
        None => {
            let (store, followed) = (state.storage.read.clone(), followed.clone());
            web::block(move || store.latest_change(followed.feed())).await??
        }
    };
    let (sender, events) = mpsc::channel::<Bytes>(QUEUED_EVENTS);
    let followed = Followed {
        feed: followed,
        lines,
    };
    actix_web::rt::spawn(follow(state.into_inner(), followed, after, sender, permit));
    let body = futures_util::stream::unfold(events, |mut events| async move {
        events
            .recv()
            .await
            .map(|event| (Ok::<_, Infallible>(event), events))
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Reverse proxies that buffer responses would hold events back (nginx reads this).
        .insert_header(("x-accel-buffering", HeaderValue::from_static("no")))
        .streaming(body))
}

/// A stream's feed and how it renders its lines.
struct Followed {
    feed: Follow,
    lines: Lines,
}

/// Why a stream ended.
enum End {
    /// The client went away, or did not keep up.
    Client,
    /// Nothing to send for the idle timeout; the browser reconnects.
    Idle,
}

/// Sends the feed's changes after `after` as they are committed, until the client leaves,
/// falls behind or the stream idles out. Holds `_slot` for as long as it runs.
async fn follow(
    state: Arc<AppState>,
    followed: Followed,
    mut after: ChangeCursor,
    sender: mpsc::Sender<Bytes>,
    _slot: OwnedSemaphorePermit,
) {
    let live = state.config.live.clone();
    let outbox = Outbox {
        sender,
        timeout: live.send_timeout(),
    };
    let end = async {
        outbox
            .send(Bytes::from(format!("retry: {RECONNECT_MILLIS}\n\n")))
            .await?;
        let feed = followed.feed.feed();
        let waker = state.storage.feed.waker(feed);
        let stamp_now = || state.storage.feed.stamp(feed).ok();
        let mut idle_since = tokio::time::Instant::now();
        let mut next_beat = idle_since + live.heartbeat();
        loop {
            // Armed, then the stamp, then the changes: a commit after the stamp was read
            // wakes the wait below, so it is read on the next round — never missed.
            let woken = waker.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let stamp = stamp_now();
            // What could not be read (the stamp, or the changes) is tried again at each beat.
            let mut retry_on_beat = stamp.is_none();
            match read_changes(&state, &followed.feed, followed.lines, after).await {
                Ok(changes) => {
                    let full = changes.len() == CHANGES_PER_READ;
                    for (cursor, event) in changes {
                        outbox.send(event).await?;
                        after = cursor;
                        idle_since = tokio::time::Instant::now();
                        next_beat = idle_since + live.heartbeat();
                    }
                    if full {
                        continue;
                    }
                }
                // Storage trouble: keep the client and try again on the next change or beat.
                Err(err) => {
                    tracing::warn!(feed = %feed.key(), error = %err,
                        "a live timeline cannot read its changes");
                    retry_on_beat = true;
                }
            }
            loop {
                let idle_until = idle_since + live.idle_timeout();
                tokio::select! {
                    () = &mut woken => {
                        // Armed again before comparing, as above.
                        woken.set(waker.notified());
                        woken.as_mut().enable();
                        // Another subject sharing the slot: wait again.
                        if stamp_now() != stamp {
                            break;
                        }
                    }
                    () = tokio::time::sleep_until(next_beat) => {
                        outbox.send(Bytes::from_static(b": still here\n\n")).await?;
                        next_beat = tokio::time::Instant::now() + live.heartbeat();
                        if retry_on_beat {
                            break;
                        }
                    }
                    () = tokio::time::sleep_until(idle_until) => return Err(End::Idle),
                    () = outbox.sender.closed() => return Err(End::Client),
                }
            }
        }
    };
    let end: Result<Infallible, End> = end.await;
    if let Err(End::Idle) = end {
        tracing::debug!(feed = %followed.feed.feed().key(), "a quiet live timeline closed");
    }
}

/// The client's queue, with the patience it is given.
struct Outbox {
    sender: mpsc::Sender<Bytes>,
    timeout: Duration,
}

impl Outbox {
    async fn send(&self, event: Bytes) -> Result<(), End> {
        self.sender
            .send_timeout(event, self.timeout)
            .await
            .map_err(|_| End::Client)
    }
}

/// The changes after `after`, each as the event that carries it, read and rendered off the
/// async workers.
async fn read_changes(
    state: &Arc<AppState>,
    followed: &Follow,
    lines: Lines,
    after: ChangeCursor,
) -> Result<Vec<(ChangeCursor, Bytes)>, ApiError> {
    let (state, followed) = (state.clone(), followed.clone());
    web::block(move || {
        let feed = followed.feed();
        let changes = state.storage.read.changes(feed, after, CHANGES_PER_READ)?;
        let clock = TrackedClock::new(Utc::now(), state.config.display.timezone);
        changes
            .into_iter()
            .map(|change| Ok((change.cursor, entry_event(&state, lines, change, &clock)?)))
            .collect()
    })
    .await?
}

/// An entry event's data: the entry as the API shows it, the line the timeline shows for it
/// (`html`, rendered and escaped like the page), and the day it belongs under.
#[derive(Serialize, ToSchema)]
#[schema(as = LiveEntry)]
struct EntryEvent<'a> {
    #[serde(flatten)]
    entry: &'a Entry,
    /// The line as the page shows it, under its day (escaped HTML).
    html: String,
    change: ChangeKind,
}

/// Whether an event brings an entry in or changes one already there: what the page's counts
/// follow.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum ChangeKind {
    /// Placed by its own delivery.
    New,
    /// Changed by a later delivery: an email's delivery status, or an entry attached to this
    /// timeline when the link it waited for arrived.
    Updated,
}

/// The schema of an `entry` event's data (`LiveEntry`) and those it refers to, for the OpenAPI
/// document: a stream's body is text, so no response names it.
pub(super) fn event_schemas(
    schemas: &mut Vec<(
        String,
        utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    )>,
) {
    <EntryEvent<'_> as ToSchema>::schemas(schemas);
    schemas.push((
        <EntryEvent<'_> as ToSchema>::name().into_owned(),
        <EntryEvent<'_> as utoipa::PartialSchema>::schema(),
    ));
}

impl ChangeKind {
    fn of(change: &Change) -> ChangeKind {
        if change.cursor.seq == change.entry.source.delivery_seq {
            ChangeKind::New
        } else {
            ChangeKind::Updated
        }
    }
}

fn entry_event(
    state: &AppState,
    lines: Lines,
    change: Change,
    clock: &TrackedClock,
) -> Result<Bytes, ApiError> {
    let mut days = view::group_by_day(vec![change.entry.clone()], clock, lines.by_receipt);
    if lines.with_subjects {
        view::name_subject_links(&mut days, |subject| {
            state.storage.read.subject_origin(subject)
        })?;
    }
    let html = state
        .renderer
        .days(&days, lines.with_subjects, true)
        .map_err(|err| {
            tracing::error!(error = %err, "cannot render a live timeline's line");
            ApiError::Internal
        })?;
    let data = serde_json::to_string(&EntryEvent {
        entry: &change.entry,
        html,
        change: ChangeKind::of(&change),
    })
    .map_err(|_| ApiError::Internal)?;
    // JSON has no raw line breaks, so the data is one `data:` line.
    Ok(Bytes::from(format!(
        "id: {}\nevent: entry\ndata: {data}\n\n",
        change.cursor
    )))
}
