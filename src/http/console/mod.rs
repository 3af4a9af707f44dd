//! The operator console: pages for whoever runs the gateway (the `operator` role), about the
//! gateway itself rather than the shop's work. Staff get a 403 page; signed-out visitors go to
//! sign in first (see [`super::html::Operator`]).

mod alerts;
mod deliveries;
mod evidence;
mod renormalize;
mod sources;

use actix_web::web;

pub use renormalize::Runs as RenormalizeRuns;

/// A URL the gateway posts to, as the console shows it: scheme and host only, since a
/// webhook's path is often its credential (a chat webhook's is).
fn url_shown(url: &str) -> String {
    reqwest::Url::parse(url).map_or_else(
        |_| "(unreadable URL)".to_owned(),
        |url| format!("{}://{}/…", url.scheme(), url.host_str().unwrap_or("")),
    )
}

/// The console's JSON, inside the API's scope (`/api/v1/…`, problem+json errors).
pub fn api_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(sources::api).service(alerts::api);
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(sources::page)
        .service(alerts::page)
        .service(alerts::send_test)
        .service(evidence::page)
        .service(renormalize::one)
        .service(renormalize::matching)
        .service(renormalize::follow)
        .service(deliveries::list)
        .service(deliveries::detail)
        .service(deliveries::raw_body);
}
