//! Request timing: every HTTP request is observed in the latency histogram and logged at
//! debug level — method, route pattern, status and duration only. Never headers, bodies or
//! query strings: they carry signatures, bearer tokens and passwords.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;

use crate::http::AppState;

/// Middleware (for `actix_web::middleware::from_fn`).
pub async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(request.method());
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let result = next.call(request).await;
    let (status, route) = match &result {
        Ok(response) => (
            response.status().as_u16(),
            response.request().match_pattern(),
        ),
        Err(err) => (err.as_response_error().status_code().as_u16(), None),
    };
    // The pattern (`/hooks/{source}`), not the path: bounded, and free of ids.
    let route = route.unwrap_or_else(|| "unmatched".to_owned());
    let elapsed = started.elapsed();
    if let Some(state) = state {
        state
            .metrics
            .observe_request(method, &route, status, elapsed);
    }
    tracing::debug!(
        method,
        route,
        status,
        ms = elapsed.as_secs_f64() * 1e3,
        "request"
    );
    result
}

/// Methods outside the standard set are labelled `other`: a client picks the method, and each
/// distinct label value would be a new series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}
