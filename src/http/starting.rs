//! What the gateway answers while it starts: the embedded store appends its journal again
//! before intake opens, which takes up to a few seconds after a crash. Meanwhile the listener
//! is already open, so a load balancer and an operator can see why it is not ready:
//! `/healthz` answers 200, `/readyz` 503 with "replaying n/m", and every other route 503 with
//! `Retry-After`, so providers retry their deliveries instead of giving up on a refused
//! connection.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::ApiError;
use crate::store::health::OpeningProgress;

/// How long a caller is asked to wait (here and by [`ApiError::Starting`]): a replay is
/// bounded by the checkpoint interval.
pub const RETRY_AFTER_SECS: u32 = 2;

/// The routes of the start-up server.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .default_service(web::to(everything_else));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

async fn readyz(progress: web::Data<Arc<OpeningProgress>>) -> HttpResponse {
    not_ready(format!("not ready: {}", progress.describe()))
}

/// The API and intake get problem+json, as they always do; a browser gets a line of text.
async fn everything_else(
    request: HttpRequest,
    progress: web::Data<Arc<OpeningProgress>>,
) -> HttpResponse {
    let path = request.path();
    if path.starts_with("/api/") || path.starts_with("/hooks/") {
        return actix_web::ResponseError::error_response(&ApiError::Starting(progress.describe()));
    }
    let mut response = not_ready(format!(
        "Hooktrail is starting ({}). This page reloads by itself until it works.",
        progress.describe()
    ));
    // Browsers honour `Refresh` on any response: a page asked for during a restart comes up
    // by itself once the gateway serves it.
    response
        .headers_mut()
        .insert(header::REFRESH, header::HeaderValue::from(RETRY_AFTER_SECS));
    response
}

fn not_ready(text: String) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(text)
}

#[cfg(test)]
mod tests {
    use actix_web::{App, test};

    use super::*;

    async fn get(progress: &Arc<OpeningProgress>, path: &str) -> (u16, String, String) {
        let (status, headers, body) = get_with_headers(progress, path).await;
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, content_type, body)
    }

    async fn get_with_headers(
        progress: &Arc<OpeningProgress>,
        path: &str,
    ) -> (u16, header::HeaderMap, String) {
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(progress.clone()))
                .configure(routes),
        )
        .await;
        let response =
            test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = test::read_body(response).await;
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    #[actix_web::test]
    async fn readyz_reports_the_replay_and_everything_else_asks_to_retry() {
        let progress = Arc::new(OpeningProgress::default());
        progress.replaying(500);
        progress.replayed(200);

        assert_eq!(get(&progress, "/healthz").await.0, 200);
        let (status, _, body) = get(&progress, "/readyz").await;
        assert_eq!(status, 503);
        assert_eq!(body, "not ready: replaying 200/500 journaled deliveries");

        let (status, content_type, body) = get(&progress, "/hooks/hoops").await;
        assert_eq!(status, 503);
        assert_eq!(content_type, "application/problem+json");
        assert!(body.contains("urn:hooktrail:problem:starting"), "{body}");
        assert!(body.contains("replaying 200/500"), "{body}");

        let (status, headers, body) = get_with_headers(&progress, "/jobs/1042").await;
        assert_eq!(status, 503);
        let content_type = headers.get(header::CONTENT_TYPE).unwrap().to_str().unwrap();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        assert!(body.contains("starting"), "{body}");
        // A browser tries again by itself; an API client is told when to.
        assert_eq!(headers.get(header::REFRESH).unwrap(), "2");
        let (_, headers, _) = get_with_headers(&progress, "/api/v1/recent").await;
        assert!(headers.get(header::REFRESH).is_none());
        assert_eq!(headers.get(header::RETRY_AFTER).unwrap(), "2");
    }
}
