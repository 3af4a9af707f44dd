//! The HTTP surface: webhook intake, the JSON API, the staff pages and their sign-in, health.
//! Each route group in its own file.

pub mod admin;
pub mod api;
pub mod auth;
pub mod console;
pub mod embed;
pub mod error_pages;
pub mod evidence;
pub mod health;
pub mod html;
pub mod intake;
pub mod limits;
pub mod live;
pub mod login;
pub mod metrics;
pub mod openapi;
pub mod page_cache;
pub mod page_error;
pub mod pages;
pub mod problem;
pub mod revoked;
pub mod search;
pub mod security;
pub mod session;
pub mod starting;
pub mod throttle;

use std::sync::Arc;

use actix_web::web;

use crate::alerts::Alerting;
use crate::config::Config;
use crate::observability::Metrics;
use crate::observability::rejections::RecentRejections;
use crate::render::Renderer;
use crate::store::Storage;
use crate::store::health::StorageHealth;
use crate::store::tally::TallyCounter;
use crate::store::writer::WriterHandle;

pub use page_error::PageError;
pub use problem::ApiError;

/// What every handler can reach.
pub struct AppState {
    pub config: Arc<Config>,
    pub storage: Storage,
    pub writer: WriterHandle,
    pub metrics: Arc<Metrics>,
    /// The last refused deliveries of each source, for `/admin/sources`.
    pub rejections: Arc<RecentRejections>,
    /// What became of each source's deliveries, until added to the store's tally.
    pub tally: Arc<TallyCounter>,
    /// This gateway's recent re-normalization runs, for the console to follow.
    pub renormalize_runs: Arc<console::RenormalizeRuns>,
    /// The alert rules, their state and the notifier.
    pub alerting: Arc<Alerting>,
    /// Whether this gateway could sign the last tree head due, for `/admin/evidence`.
    pub tree_signing: Arc<crate::trust::notary::SigningStatus>,
    pub health: Arc<StorageHealth>,
    pub intake_budget: limits::IntakeBudget,
    pub renderer: Renderer,
    pub page_cache: page_cache::PageCache,
    pub sessions: session::SessionCodec,
    pub revoked_sessions: revoked::RevokedSessions,
    pub login_throttle: throttle::LoginThrottle,
    pub password_checks: throttle::PasswordChecks,
    /// The live timelines open now.
    pub live: live::Streams,
    /// Held while a live backup is being written: one at a time.
    pub backup_running: Arc<tokio::sync::Mutex<()>>,
}

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(page_error::extractor_configs)
        .configure(intake::routes)
        .service(api::scope())
        .configure(health::routes)
        .configure(login::routes)
        .configure(embed::routes)
        .configure(search::routes)
        .configure(console::routes)
        .configure(pages::routes);
}
