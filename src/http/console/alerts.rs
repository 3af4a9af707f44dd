//! `GET /admin/alerts`: every alert rule, whether it is firing, and how far its notification
//! has come; `POST /admin/alerts/{name}/test` sends a test notification at once (CSRF-checked)
//! so an operator sees that the receiver gets it and verifies its signature.
//! `GET /api/v1/alerts` says the same as JSON, for monitoring.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::alerts::rules::span_words;
use crate::alerts::{AlertStatus, TestOutcome};
use crate::config::{AlertRule, AlertWhen};
use crate::http::auth::OperatorCaller;
use crate::http::html::{Layout, Nav, Operator, html_response, redirect};
use crate::http::openapi::{Internal, OperatorsOnly, Unauthenticated, Unavailable};
use crate::http::page_error::PageError;
use crate::http::{ApiError, AppState};
use crate::render::format::TimeView;

#[derive(Serialize)]
struct AlertCard {
    name: String,
    /// The rule in words (`xero sends nothing for 3 h`).
    rule: String,
    /// Where notifications go: scheme and host only (a chat webhook's path is its secret).
    notify_to: String,
    /// See [`AlertStatus::state`].
    state: &'static str,
    since: Option<TimeView>,
    summary: Option<String>,
    notification: Option<String>,
    notification_failed: bool,
    error: Option<String>,
    last_test: Option<TestLine>,
    test_action: String,
}

#[derive(Serialize)]
struct TestLine {
    at: TimeView,
    delivered: bool,
    result: String,
}

#[derive(Serialize)]
struct AlertsPage<'a> {
    layout: &'a Layout,
    csrf: &'a str,
    alerts: Vec<AlertCard>,
    check_every: String,
}

/// The rule in an operator's words.
fn rule_words(rule: &AlertRule) -> String {
    let window = span_words(TimeDelta::seconds(
        i64::try_from(rule.window_secs.get()).unwrap_or(i64::MAX),
    ));
    let whose = rule.source.as_deref().unwrap_or("any source");
    let at_least = |what: &str| {
        format!(
            "{} or more deliveries from {whose} {what} within {window}",
            rule.threshold
        )
    };
    match rule.when {
        AlertWhen::SourceSilent => format!("{whose} has nothing stored for {window}"),
        AlertWhen::VerificationFailures => at_least("fail verification"),
        AlertWhen::Flagged => at_least("are flagged"),
        AlertWhen::QueueFull => at_least("are turned away by a full intake queue"),
        AlertWhen::NotReady => format!("this gateway's storage refuses writes for {window}"),
    }
}

fn card(status: AlertStatus, state: &AppState) -> AlertCard {
    let now = Utc::now();
    let zone = state.config.display.timezone;
    let record = status.record.as_ref();
    let notification = record.map(|record| {
        let what = if record.firing { "firing" } else { "resolved" };
        if !record.unnotified() {
            format!("The receiver has the “{what}” notification.")
        } else if let Some(error) = &record.last_error {
            let next = record
                .next_attempt
                .map(|at| format!(" Next try {}.", TimeView::new(at, now, zone).relative))
                .unwrap_or_default();
            format!(
                "The “{what}” notification failed {} time(s): {error}.{next}",
                record.attempts
            )
        } else {
            format!("The “{what}” notification is being sent.")
        }
    });
    let name = status.rule.name.clone();
    AlertCard {
        rule: rule_words(&status.rule),
        notify_to: super::url_shown(&status.rule.notify_url),
        state: status.state(),
        since: record.map(|record| TimeView::new(record.since, now, zone)),
        summary: record.map(|record| record.summary.clone()),
        notification_failed: record.is_some_and(|r| r.unnotified() && r.last_error.is_some()),
        notification,
        error: status.error,
        last_test: status.last_test.map(|test: TestOutcome| TestLine {
            at: TimeView::new(test.at, now, zone),
            delivered: test.result.is_ok(),
            result: match test.result {
                Ok(code) => format!("Delivered: the receiver answered {code}."),
                Err(error) => format!("Not delivered: {error}."),
            },
        }),
        test_action: format!(
            "/admin/alerts/{}/test",
            crate::render::view::encode_query_value(&name)
        ),
        name,
    }
}

#[get("/admin/alerts")]
pub async fn page(
    operator: Operator,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let alerting = state.alerting.clone();
    let statuses = web::block(move || alerting.statuses()).await?;
    let alerts = statuses
        .into_iter()
        .map(|status| card(status, &state))
        .collect();
    let layout = Layout::new(&state, "Alerts", Nav::Admin, Some(&operator.0), true);
    let view = AlertsPage {
        layout: &layout,
        csrf: &operator.0.csrf,
        alerts,
        check_every: span_words(TimeDelta::seconds(
            i64::try_from(state.config.alerting.check_interval_secs.get()).unwrap_or(i64::MAX),
        )),
    };
    let body = state
        .renderer
        .render_page("pages/admin/alerts", &layout, &view)?;
    Ok(html_response(StatusCode::OK, body))
}

#[derive(Deserialize)]
struct TestForm {
    #[serde(default)]
    csrf: String,
}

#[post("/admin/alerts/{name}/test")]
pub async fn send_test(
    operator: Operator,
    state: web::Data<AppState>,
    name: web::Path<String>,
    form: web::Form<TestForm>,
) -> Result<HttpResponse, PageError> {
    if !operator.0.csrf_matches(&form.csrf) {
        return Err(PageError::FormExpired);
    }
    let name = name.into_inner();
    let Some(outcome) = state.alerting.send_test(&name).await else {
        return Err(PageError::not_found(
            "No such alert",
            "No alert rule has that name. The alerts page lists them all.",
        ));
    };
    tracing::info!(alert = %name, operator = %operator.0.username, delivered = outcome.result.is_ok(), "test alert sent");
    Ok(redirect(&format!(
        "/admin/alerts#alert-{}",
        crate::render::view::encode_query_value(&name)
    )))
}

/// One rule and its state, for monitoring.
#[derive(Serialize, ToSchema)]
struct AlertJson {
    name: String,
    /// `source_silent`, `verification_failures`, `flagged`, `queue_full` or `not_ready`.
    when: &'static str,
    source: Option<String>,
    threshold: u64,
    window_secs: u64,
    /// `firing`, `resolved`, or `quiet` (never found firing).
    state: &'static str,
    /// When the current state began.
    since: Option<DateTime<Utc>>,
    summary: Option<String>,
    /// Whether the receiver has accepted the notification of the current state.
    notified: bool,
    /// Failed attempts at notifying the current state.
    attempts: u32,
    next_attempt: Option<DateTime<Utc>>,
    last_error: Option<String>,
    /// Set when the rule's state could not be read from the store.
    error: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AlertsStatus)]
struct AlertsJson {
    alerts: Vec<AlertJson>,
}

/// `GET /api/v1/alerts`, operators only.
#[utoipa::path(
    tag = "operations",
    operation_id = "alerts",
    responses(
        (status = 200, description = "Every alert rule and its state.", body = AlertsJson),
        Unauthenticated,
        OperatorsOnly,
        Internal,
        Unavailable,
    ),
)]
#[get("/alerts")]
pub async fn api(
    _operator: OperatorCaller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let alerting = state.alerting.clone();
    let alerts = web::block(move || alerting.statuses())
        .await?
        .into_iter()
        .map(|status| {
            let record = status.record.as_ref();
            AlertJson {
                name: status.rule.name.clone(),
                when: status.rule.when.name(),
                source: status.rule.source.clone(),
                threshold: status.rule.threshold.get(),
                window_secs: status.rule.window_secs.get(),
                state: status.state(),
                since: record.map(|r| r.since),
                summary: record.map(|r| r.summary.clone()),
                notified: record.is_some_and(|r| !r.unnotified()),
                attempts: record.map_or(0, |r| r.attempts),
                next_attempt: record.and_then(|r| r.next_attempt),
                last_error: record.and_then(|r| r.last_error.clone()),
                error: status.error,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(AlertsJson { alerts }))
}
