//! `POST /hooks/{source}`: read the raw bytes (bounded), verify them, normalize, and answer
//! 2xx only once the group-commit writer has made the delivery durable.

use std::time::{Duration, Instant};

use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpRequest, HttpResponse, ResponseError, post, web};
use chrono::Utc;
use serde::Serialize;

use super::limits::read_body;
use super::{ApiError, AppState};
use crate::activity::{Category, Outcome};
use crate::observability::metrics::UNKNOWN_SOURCE;
use crate::observability::rejections::Refusal;
use crate::sources::{Headers, RawDelivery, Rejection, Source};
use crate::store::tally::Arrival;
use crate::store::{Appended, Capture};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(receive);
}

#[post("/hooks/{source}")]
async fn receive(
    state: web::Data<AppState>,
    source_name: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let Some(source) = state.config.source(&source_name) else {
        let refusal = ApiError::UnknownSource;
        state
            .metrics
            .delivery_rejected(UNKNOWN_SOURCE, refusal_cause(&refusal));
        state
            .rejections
            .record_unknown(&source_name, refusal_of(&refusal, &request));
        return refusal.error_response();
    };
    let response = match capture(&state, source, &request, payload).await {
        Ok(response) => response,
        Err(err) => {
            let refusal = refusal_of(&err, &request);
            state.metrics.delivery_rejected(&source.name, refusal.cause);
            state
                .tally
                .count(&source.name, Arrival::Refused(refusal.cause), refusal.at);
            state.rejections.record(&source.name, refusal);
            err.error_response()
        }
    };
    if source.wants_empty_responses() {
        without_body(&response)
    } else {
        response
    }
}

/// The same status (and `Retry-After`), nothing else: what Xero requires of every answer.
fn without_body(response: &HttpResponse) -> HttpResponse {
    let mut bare = HttpResponse::build(response.status());
    if let Some(retry_after) = response.headers().get(RETRY_AFTER) {
        bare.insert_header((RETRY_AFTER, retry_after.clone()));
    }
    bare.finish()
}

async fn capture(
    state: &AppState,
    source: &Source,
    request: &HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Under overload, refuse before spending anything on a delivery that could not be queued.
    if state.writer.is_full() {
        return Err(ApiError::Overloaded);
    }
    let server = &state.config.server;
    // `_held` keeps the body's bytes counted against the intake budget until the answer.
    let (body, _held) = read_body(
        request,
        payload,
        server.max_body_bytes.get(),
        &state.intake_budget,
        Duration::from_secs(server.read_timeout_secs.get()),
    )
    .await?;
    let received_at = Utc::now();

    let verify_started = Instant::now();
    let verified = source.verify(request.headers(), &body, received_at.timestamp());
    state
        .metrics
        .observe_verify(&source.name, verify_started.elapsed());
    let verified = verified.map_err(|rejection| reject(&source.name, rejection))?;

    let headers: Vec<(String, String)> = source
        .captured_headers()
        .iter()
        .filter_map(|name| {
            request
                .headers()
                .header(name)
                .map(|value| (name.clone(), value.to_owned()))
        })
        .collect();
    let normalized = source.normalize(&RawDelivery {
        source: &source.name,
        received_at,
        headers: &headers,
        body: &body,
    });
    if normalized.outcome.is_flagged() {
        tracing::warn!(source = %source.name, outcome = ?normalized.outcome, "signed delivery kept but flagged");
    }
    let categories: Vec<Category> = normalized.entries.iter().map(|e| e.category).collect();
    let outcome = normalized.outcome.clone();
    let capture = Capture::new(source.name.clone(), received_at, headers, body, normalized)
        .with_replay_key(verified.replay_key)
        .prepared_for(state.storage.write.as_ref());
    match state.writer.submit(capture).await? {
        Appended::Replayed => Err(reject(&source.name, Rejection::Replayed)),
        appended => {
            state
                .metrics
                .delivery_accepted(&source.name, &appended, &categories, &outcome);
            let flagged = matches!(appended, Appended::Stored { .. }) && outcome.is_flagged();
            let arrival = match (&appended, flagged) {
                (Appended::Duplicate { .. }, _) => Arrival::Duplicate,
                (_, true) => Arrival::Flagged,
                (_, false) => Arrival::Stored,
            };
            state.tally.count(&source.name, arrival, received_at);
            Ok(HttpResponse::Ok().json(Answer {
                appended,
                flagged: flagged.then_some(&outcome),
            }))
        }
    }
}

/// What a sender is told: how the delivery was taken and, when it was stored but its content
/// could not be read, why it was flagged (`{"status": "unparseable", "reason": …}`). A sender
/// trying an integration learns at once that a delivery made no entries, and why.
#[derive(Serialize)]
struct Answer<'a> {
    #[serde(flatten)]
    appended: Appended,
    #[serde(skip_serializing_if = "Option::is_none")]
    flagged: Option<&'a Outcome>,
}

/// What the rejections ring keeps of a refusal: the error's words name the check that failed
/// and never quote the request.
fn refusal_of(err: &ApiError, request: &HttpRequest) -> Refusal {
    Refusal {
        at: Utc::now(),
        cause: refusal_cause(err),
        check: err.to_string(),
        remote: request.peer_addr().map(|addr| addr.ip()),
        sent_to: None,
    }
}

/// The `cause` label of a refused delivery in `hooktrail_deliveries_rejected_total`.
fn refusal_cause(err: &ApiError) -> &'static str {
    match err {
        ApiError::Rejected(rejection) => rejection.cause(),
        ApiError::UnknownSource => "unknown_source",
        ApiError::PayloadTooLarge { .. } => "too_large",
        ApiError::Overloaded => "overloaded",
        ApiError::StorageUnavailable => "storage_unavailable",
        ApiError::RequestTimeout => "timeout",
        ApiError::BadRequest(_) => "unreadable_body",
        // Never raised on intake (the start-up server answers before intake runs).
        ApiError::Starting(_)
        | ApiError::NotFound(_)
        | ApiError::NothingReceived(_)
        | ApiError::UnsupportedMediaType
        | ApiError::BackupRunning
        | ApiError::BackupPath(_)
        | ApiError::BackupExists(_)
        | ApiError::Unsupported(_)
        | ApiError::Unauthenticated
        | ApiError::TooManyStreams
        | ApiError::SearchTimedOut
        | ApiError::Forbidden(_)
        | ApiError::Internal => "internal",
    }
}

fn reject(source: &str, rejection: Rejection) -> ApiError {
    tracing::info!(
        source,
        cause = rejection.cause(),
        "delivery rejected: {rejection}"
    );
    ApiError::Rejected(rejection)
}
