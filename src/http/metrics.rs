//! `GET /metrics`: the Prometheus text exposition. No login, as scrapers expect; where the
//! counts should not be public, `[metrics] listen` moves the route to its own address (a
//! private interface) and `enabled = false` removes it.

use actix_web::{HttpResponse, get, web};

use super::AppState;
use crate::observability::LiveGauges;
use crate::observability::metrics::CONTENT_TYPE;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(metrics);
}

#[get("/metrics")]
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    // An O(1) read (redb keeps each table's length); a failing store leaves the last value.
    let store = state.storage.read.clone();
    let unmatched = web::block(move || store.unmatched_count())
        .await
        .ok()
        .and_then(Result::ok);
    let live = LiveGauges {
        unmatched,
        queue_depth: state.writer.queue_depth(),
        queue_capacity: state.config.storage.queue_capacity.get(),
        buffered_bytes: state.intake_budget.in_use(),
        buffer_capacity_bytes: state.intake_budget.capacity(),
        password_checks: state.password_checks.running(),
        password_checks_capacity: state.password_checks.capacity(),
        live_streams: state.live.in_use(),
        live_streams_capacity: state.live.capacity(),
    };
    match state.metrics.render(live) {
        Ok(text) => HttpResponse::Ok().content_type(CONTENT_TYPE).body(text),
        Err(err) => {
            tracing::error!(error = %err, "cannot render the metrics");
            HttpResponse::InternalServerError().finish()
        }
    }
}
