//! The pages' one error type, mapped once to a friendly HTML page (as [`super::ApiError`] is
//! to problem+json for the API).
//!
//! A handler returns `Err(PageError)`; actix turns it into a bare response that still carries
//! the error, and [`super::error_pages::render_error_pages`] (a middleware over the whole app)
//! replaces that with the rendered error page — it can reach the templates and the visitor's
//! session, which an error on its own cannot. `LoginRequired` is not a page but a redirect to `/login`.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError, web};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// Not signed in: off to `/login`, coming back to `next` afterwards.
    #[error("sign in to see this page")]
    LoginRequired { next: String },
    #[error("{message}")]
    NotFound { title: String, message: String },
    #[error("{0}")]
    BadRequest(String),
    /// A form without this session's CSRF token.
    #[error("this form has expired")]
    FormExpired,
    /// A signed link that does not hold (an embed link: expired, forged, too long-lived).
    #[error("{0}")]
    LinkRefused(String),
    /// Signed in, without the operator role.
    #[error("this page is for operators")]
    OperatorsOnly,
    #[error("storage is unavailable")]
    StorageUnavailable,
    #[error("the search took too long")]
    SearchTimedOut,
    #[error("an internal error occurred")]
    Internal,
}

impl PageError {
    pub fn not_found(title: impl Into<String>, message: impl Into<String>) -> PageError {
        PageError::NotFound {
            title: title.into(),
            message: message.into(),
        }
    }

    /// The page's heading.
    pub fn title(&self) -> String {
        match self {
            PageError::LoginRequired { .. } => "Please sign in".to_owned(),
            PageError::NotFound { title, .. } => title.clone(),
            PageError::BadRequest(_) => "That link does not look right".to_owned(),
            PageError::FormExpired => "This form has expired".to_owned(),
            PageError::LinkRefused(_) => "This link cannot be opened".to_owned(),
            PageError::OperatorsOnly => "This page is for operators".to_owned(),
            PageError::StorageUnavailable => "Hooktrail cannot read its storage".to_owned(),
            PageError::SearchTimedOut => "The search took too long".to_owned(),
            PageError::Internal => "Something went wrong on our side".to_owned(),
        }
    }

    /// What the page says under it.
    pub fn message(&self) -> String {
        match self {
            PageError::NotFound { message, .. } => message.clone(),
            PageError::BadRequest(reason) => {
                format!("{reason}. Try again from the page you came from.")
            }
            PageError::FormExpired => {
                "For your safety, forms only work for a limited time and from Hooktrail’s own \
                 pages. Go back, reload the page, and try again."
                    .to_owned()
            }
            PageError::LinkRefused(reason) => format!(
                "{reason}. Links to a timeline are made for one person and a short time: \
                 open the timeline again from the page you came from."
            ),
            PageError::OperatorsOnly => {
                "It shows how the gateway itself is doing. Ask whoever runs Hooktrail to give \
                 your account the operator role if you need it."
                    .to_owned()
            }
            PageError::StorageUnavailable => {
                "This is usually brief. Reload the page in a few seconds; webhooks keep being \
                 accepted and nothing is lost."
                    .to_owned()
            }
            PageError::SearchTimedOut => {
                "Try again in a moment, or narrow the search with more exact words, a filter or \
                 dates."
                    .to_owned()
            }
            PageError::Internal => {
                "The problem has been logged. Reload the page, or go back and try again.".to_owned()
            }
            PageError::LoginRequired { .. } => String::new(),
        }
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::LoginRequired { .. } => StatusCode::SEE_OTHER,
            PageError::NotFound { .. } => StatusCode::NOT_FOUND,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::FormExpired | PageError::LinkRefused(_) | PageError::OperatorsOnly => {
                StatusCode::FORBIDDEN
            }
            PageError::StorageUnavailable | PageError::SearchTimedOut => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            PageError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The bare response; [`super::error_pages::render_error_pages`] puts the page in. Plain text remains only if
    /// rendering fails.
    fn error_response(&self) -> HttpResponse {
        match self {
            PageError::LoginRequired { next } => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, super::html::login_url(next)))
                .finish(),
            other => HttpResponse::build(other.status_code())
                .content_type("text/plain; charset=utf-8")
                .body(format!("{}\n", other.title())),
        }
    }
}

/// The extractor settings outside the API (which has its own, in [`super::problem`]): a query,
/// path or form the route cannot read gets the friendly error page, not actix's plain text.
pub fn extractor_configs(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::QueryConfig::default().error_handler(|err, _| {
        PageError::BadRequest(format!(
            "This address asks for something Hooktrail cannot read ({err})."
        ))
        .into()
    }))
    .app_data(web::PathConfig::default().error_handler(|_, _| {
        PageError::not_found("Page not found", "Nothing is found at this address.").into()
    }))
    .app_data(web::FormConfig::default().error_handler(|err, _| {
        PageError::BadRequest(format!(
            "This form could not be read ({err}). Please try again."
        ))
        .into()
    }));
}

impl From<StoreError> for PageError {
    fn from(err: StoreError) -> Self {
        tracing::error!(error = %err, "storage error while rendering a page");
        match err {
            StoreError::Unavailable(_) | StoreError::InUse => PageError::StorageUnavailable,
            StoreError::TimedOut => PageError::SearchTimedOut,
            StoreError::Corrupt(_) | StoreError::Unsupported(_) => PageError::Internal,
        }
    }
}

impl From<actix_web::error::BlockingError> for PageError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        PageError::Internal
    }
}

impl From<handlebars::RenderError> for PageError {
    fn from(err: handlebars::RenderError) -> Self {
        tracing::error!(error = %err, "a page template failed to render");
        PageError::Internal
    }
}

/// Any path no route claims: a friendly page, or problem+json under `/api/` and `/hooks/`.
pub async fn no_such_route(request: actix_web::HttpRequest) -> actix_web::Result<HttpResponse> {
    let path = request.path();
    if path.starts_with("/api/") || path.starts_with("/hooks/") {
        return Err(super::ApiError::NotFound("no such route").into());
    }
    Err(PageError::not_found(
        "There is no page here",
        "The address may be mistyped, or the page may have moved.",
    )
    .into())
}
