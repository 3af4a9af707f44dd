//! `GET /healthz` (the process is up) and `GET /readyz` (storage is writable).

use actix_web::{HttpResponse, get, web};

use super::{ApiError, AppState};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}

#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    web::block(move || store.check_writable()).await??;
    Ok(HttpResponse::Ok().content_type("text/plain").body("ready"))
}
