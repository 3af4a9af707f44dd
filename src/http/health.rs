//! `GET /healthz` (the process is up) and `GET /readyz` (storage can take deliveries).

use actix_web::{HttpResponse, get, web};

use super::AppState;
use crate::store::health::FAILURE_MEMORY;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}

#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// 503 with the reason while a commit failed recently (and none succeeded since), or while the
/// store cannot open a write transaction. Asking the store also lets a store that failed
/// reopen itself, so an idle gateway notices recovery without a delivery to prove it.
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let store = state.storage.write.clone();
    let writable = match web::block(move || store.check_writable()).await {
        Ok(result) => result.map_err(|err| err.to_string()),
        Err(_) => Err("the storage check did not finish".to_owned()),
    };
    let trouble = match writable {
        Err(reason) => Some(format!("storage cannot write: {reason}")),
        Ok(()) => state
            .health
            .recent_failure(FAILURE_MEMORY)
            .map(|reason| format!("the last commit failed: {reason}")),
    };
    match trouble {
        None => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Some(reason) => {
            tracing::warn!(%reason, "not ready");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .insert_header(("Retry-After", "5"))
                .body(format!("not ready: {reason}"))
        }
    }
}
