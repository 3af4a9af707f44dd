//! `GET /healthz` (the process is up) and `GET /readyz` (storage can take deliveries).

use actix_web::{HttpResponse, get, web};

use super::AppState;
use crate::store::health::readiness;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}

#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// 503 with the reason while storage cannot take deliveries (see [`readiness`]).
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (store, health) = (state.storage.write.clone(), state.health.clone());
    let ready = web::block(move || readiness(store.as_ref(), &health))
        .await
        .unwrap_or_else(|_| Err("the storage check did not finish".to_owned()));
    match ready {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .insert_header(("Retry-After", "5"))
                .body(format!("not ready: {reason}"))
        }
    }
}
