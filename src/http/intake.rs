//! `POST /hooks/{source}`: read the raw bytes (bounded), verify them, normalize, and answer
//! 2xx only once the group-commit writer has made the delivery durable.

use actix_web::http::header::{CONTENT_LENGTH, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse, ResponseError, post, web};
use bytes::{Bytes, BytesMut};
use chrono::Utc;
use futures_util::StreamExt;

use super::{ApiError, AppState};
use crate::sources::{Headers, RawDelivery, Rejection, Source};
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
        return ApiError::UnknownSource.error_response();
    };
    let response = match capture(&state, source, &request, payload).await {
        Ok(response) => response,
        Err(err) => err.error_response(),
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
    let body = read_body(request, payload, state.config.server.max_body_bytes).await?;
    let received_at = Utc::now();

    let verified = source
        .verify(request.headers(), &body, received_at.timestamp())
        .map_err(|rejection| reject(&source.name, rejection))?;

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
    let capture = Capture {
        source: source.name.clone(),
        received_at,
        headers,
        body,
        normalized,
        replay_key: verified.replay_key,
    };
    match state.writer.submit(capture).await? {
        Appended::Replayed => Err(reject(&source.name, Rejection::Replayed)),
        appended => Ok(HttpResponse::Ok().json(appended)),
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

/// The raw body, refusing anything over `limit` before buffering it.
async fn read_body(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|err| ApiError::BadRequest(format!("could not read the body: {err}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
