//! The HTTP layer's one error type, mapped once to responses: RFC 9457 problem+json for the
//! API and intake. Messages never carry internals (no stack traces, no storage paths).
//!
//! Requests that actix's extractors refuse before a handler runs (a query, path or JSON body
//! that does not fit the route) are mapped here too, through [`extractor_configs`], so no API
//! route ever answers in plain text.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError, web};
use serde::Serialize;

use crate::activity::Subject;
use crate::sources::Rejection;
use crate::store::StoreError;
use crate::store::writer::SubmitError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no source is configured under this name")]
    UnknownSource,
    #[error("{0}")]
    NotFound(&'static str),
    /// A subject with no history at all (an id is the business app's: the gateway cannot tell
    /// a job that has sent nothing yet from a mistyped id).
    #[error("nothing has been received about {}", .0.key())]
    NothingReceived(Subject),
    #[error("the body is larger than the {limit} byte limit")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    Rejected(Rejection),
    #[error("a valid bearer token or staff session is required")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error("the body must be JSON, sent with Content-Type: application/json")]
    UnsupportedMediaType,
    /// Another backup is being written; one at a time keeps the disk and the snapshot's pinned
    /// pages bounded.
    #[error("a backup is already being written; retry when it has finished")]
    BackupRunning,
    /// A backup may not be written where it was asked to be.
    #[error("{0}")]
    BackupPath(String),
    /// Backups never overwrite.
    #[error("{0}")]
    BackupExists(String),
    #[error("the request was not received in time")]
    RequestTimeout,
    /// The storage backend does not do this (a backup of a PostgreSQL deployment is
    /// `pg_dump`'s job).
    #[error("{0}")]
    Unsupported(&'static str),
    #[error("too many deliveries are waiting to be stored; retry shortly")]
    Overloaded,
    #[error("storage is unavailable; retry shortly")]
    StorageUnavailable,
    /// The gateway is starting: its store is not open yet (the embedded one may be replaying
    /// its journal).
    #[error("the gateway is starting ({0}); retry shortly")]
    Starting(String),
    #[error("too many live timelines are open on this gateway; retry shortly")]
    TooManyStreams,
    #[error("the search took longer than {} s; narrow it, or retry shortly", crate::search::QUERY_TIMEOUT.as_secs())]
    SearchTimedOut,
    #[error("an internal error occurred")]
    Internal,
}

impl ApiError {
    fn slug(&self) -> &'static str {
        match self {
            ApiError::UnknownSource => "unknown-source",
            ApiError::NotFound(_) | ApiError::NothingReceived(_) => "not-found",
            ApiError::PayloadTooLarge { .. } => "payload-too-large",
            ApiError::Rejected(_) => "invalid-signature",
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::BadRequest(_) => "bad-request",
            ApiError::UnsupportedMediaType => "unsupported-media-type",
            ApiError::BackupRunning => "backup-running",
            ApiError::BackupPath(_) => "invalid-backup-path",
            ApiError::BackupExists(_) => "backup-exists",
            ApiError::RequestTimeout => "request-timeout",
            ApiError::Unsupported(_) => "not-supported",
            ApiError::Overloaded => "overloaded",
            ApiError::StorageUnavailable => "storage-unavailable",
            ApiError::Starting(_) => "starting",
            ApiError::TooManyStreams => "too-many-streams",
            ApiError::SearchTimedOut => "search-timeout",
            ApiError::Internal => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::UnknownSource => "Unknown source",
            ApiError::NotFound(_) | ApiError::NothingReceived(_) => "Not found",
            ApiError::PayloadTooLarge { .. } => "Payload too large",
            ApiError::Rejected(_) => "Signature verification failed",
            ApiError::Unauthenticated => "Authentication required",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::BadRequest(_) => "Bad request",
            ApiError::UnsupportedMediaType => "Unsupported media type",
            ApiError::BackupRunning => "Backup already running",
            ApiError::BackupPath(_) => "Invalid backup path",
            ApiError::BackupExists(_) => "Backup exists",
            ApiError::RequestTimeout => "Request timeout",
            ApiError::Unsupported(_) => "Not supported by this storage backend",
            ApiError::Overloaded => "Overloaded",
            ApiError::StorageUnavailable => "Storage unavailable",
            ApiError::Starting(_) => "Starting",
            ApiError::TooManyStreams => "Too many live timelines",
            ApiError::SearchTimedOut => "Search timed out",
            ApiError::Internal => "Internal error",
        }
    }

    fn retry_after_secs(&self) -> Option<u32> {
        match self {
            ApiError::Overloaded => Some(1),
            ApiError::Starting(_) => Some(super::starting::RETRY_AFTER_SECS),
            ApiError::StorageUnavailable | ApiError::TooManyStreams => Some(5),
            ApiError::SearchTimedOut => Some(2),
            _ => None,
        }
    }
}

/// An error, as RFC 9457 problem details (`application/problem+json`).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(examples(json!({
    "type": "urn:hooktrail:problem:not-found",
    "title": "Not found",
    "status": 404,
    "detail": "nothing has been received about job:1042"
})))]
pub struct Problem {
    /// What kind of error: `urn:hooktrail:problem:` and a stable name (`bad-request`,
    /// `not-found`, `unauthenticated`, `forbidden`, `payload-too-large`,
    /// `unsupported-media-type`, `invalid-backup-path`, `backup-exists`, `backup-running`,
    /// `not-supported`, `overloaded`, `storage-unavailable`, `starting`, `too-many-streams`,
    /// `search-timeout`, `internal`…). Programs branch on this, never on the text.
    #[serde(rename = "type")]
    #[schema(pattern = "^urn:hooktrail:problem:[a-z-]+$")]
    problem_type: String,
    /// The kind of error in words.
    title: &'static str,
    /// The HTTP status, repeated.
    #[schema(minimum = 400, maximum = 599)]
    status: u16,
    /// What went wrong with this request, for a person to read.
    detail: String,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::UnknownSource | ApiError::NotFound(_) | ApiError::NothingReceived(_) => {
                StatusCode::NOT_FOUND
            }
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Rejected(_) | ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) | ApiError::BackupPath(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BackupRunning | ApiError::BackupExists(_) => StatusCode::CONFLICT,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unsupported(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Overloaded
            | ApiError::StorageUnavailable
            | ApiError::Starting(_)
            | ApiError::TooManyStreams
            | ApiError::SearchTimedOut => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        if let Some(secs) = self.retry_after_secs() {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if matches!(self, ApiError::Unauthenticated) {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        let problem = Problem {
            problem_type: format!("urn:hooktrail:problem:{}", self.slug()),
            title: self.title(),
            status: status.as_u16(),
            detail: self.to_string(),
        };
        response.body(serde_json::to_vec(&problem).unwrap_or_default())
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        tracing::error!(error = %err, "storage error while serving a request");
        match err {
            StoreError::Unavailable(_) | StoreError::InUse => ApiError::StorageUnavailable,
            StoreError::Corrupt(_) => ApiError::Internal,
            StoreError::TimedOut => ApiError::SearchTimedOut,
            StoreError::Unsupported(what) => ApiError::Unsupported(what),
        }
    }
}

impl From<SubmitError> for ApiError {
    fn from(err: SubmitError) -> Self {
        match err {
            SubmitError::Overloaded => ApiError::Overloaded,
            SubmitError::Store(_) | SubmitError::Stopped => ApiError::StorageUnavailable,
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        ApiError::Internal
    }
}

/// The extractor settings for every API route: each refusal becomes an [`ApiError`].
pub fn extractor_configs(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::QueryConfig::default().error_handler(|err, _| ApiError::from(err).into()))
        .app_data(web::PathConfig::default().error_handler(|err, _| ApiError::from(err).into()))
        .app_data(
            web::JsonConfig::default()
                .limit(JSON_BODY_LIMIT)
                .error_handler(|err, _| ApiError::from(err).into()),
        );
}

/// The API's JSON bodies are small requests (`{"path": …}`), never data.
const JSON_BODY_LIMIT: usize = 16 * 1024;

impl From<QueryPayloadError> for ApiError {
    fn from(err: QueryPayloadError) -> Self {
        match err {
            QueryPayloadError::Deserialize(reason) => ApiError::BadRequest(format!(
                "the query string does not fit this route: {reason}"
            )),
            _ => ApiError::BadRequest("the query string does not fit this route".into()),
        }
    }
}

impl From<PathError> for ApiError {
    /// A path segment that cannot be an id (`/api/v1/deliveries/abc`) names nothing, just as
    /// an id nothing was stored under does.
    fn from(_: PathError) -> Self {
        ApiError::NotFound("nothing is found at this address")
    }
}

impl From<JsonPayloadError> for ApiError {
    fn from(err: JsonPayloadError) -> Self {
        match err {
            JsonPayloadError::OverflowKnownLength { limit, .. }
            | JsonPayloadError::Overflow { limit } => ApiError::PayloadTooLarge { limit },
            JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
            JsonPayloadError::Deserialize(reason) => {
                ApiError::BadRequest(format!("the body does not fit this route: {reason}"))
            }
            JsonPayloadError::Payload(_) => {
                ApiError::BadRequest("the body could not be read".into())
            }
            _ => ApiError::Internal,
        }
    }
}
