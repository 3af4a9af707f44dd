//! Re-normalizing from the console: `POST /admin/deliveries/{seq}/renormalize` for one
//! delivery, `POST /admin/renormalize` for every delivery a deliveries-list filter matches,
//! and `GET /admin/renormalize/{run}` to follow a run (it refreshes itself until done). Forms
//! carry the session's CSRF token; runs go in parts (see [`crate::store::renormalize`]), each
//! logged with the operator's name.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::deliveries::ListQuery;
use crate::http::AppState;
use crate::http::html::{Layout, Nav, Operator, html_response, redirect};
use crate::http::page_error::PageError;
use crate::render::format::TimeView;
use crate::store::renormalize::{self, Progress};

/// Runs the console remembers (the log keeps every one).
const REMEMBERED: usize = 20;

/// One run, as the console follows it.
#[derive(Debug, Clone)]
struct Run {
    id: u64,
    by: String,
    selection: String,
    started: DateTime<Utc>,
    progress: Progress,
    finished: Option<DateTime<Utc>>,
    error: Option<String>,
}

/// This gateway's recent runs.
#[derive(Debug, Default)]
pub struct Runs {
    runs: Mutex<(u64, VecDeque<Run>)>,
}

impl Runs {
    fn start(&self, by: &str, selection: &str, total: usize) -> u64 {
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        runs.0 += 1;
        let id = runs.0;
        if runs.1.len() == REMEMBERED {
            runs.1.pop_front();
        }
        runs.1.push_back(Run {
            id,
            by: by.to_owned(),
            selection: selection.to_owned(),
            started: Utc::now(),
            progress: Progress {
                total,
                ..Progress::default()
            },
            finished: None,
            error: None,
        });
        id
    }

    fn update(&self, id: u64, change: impl FnOnce(&mut Run)) {
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(run) = runs.1.iter_mut().find(|run| run.id == id) {
            change(run);
        }
    }

    fn get(&self, id: u64) -> Option<Run> {
        let runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        runs.1.iter().find(|run| run.id == id).cloned()
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
pub struct FilterForm {
    #[serde(default)]
    csrf: String,
    source: Option<String>,
    outcome: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// Starts a run over `seqs` in the background and answers with its page.
fn start(
    state: &web::Data<AppState>,
    operator: &Operator,
    seqs: Vec<u64>,
    selection: String,
) -> HttpResponse {
    let by = operator.0.username.clone();
    let runs = state.renormalize_runs.clone();
    let id = runs.start(&by, &selection, seqs.len());
    let (store, config) = (state.storage.write.clone(), state.config.clone());
    tracing::info!(run = id, %by, %selection, deliveries = seqs.len(), "re-normalization started");
    actix_web::rt::spawn(async move {
        let followed = runs.clone();
        let done = web::block(move || {
            renormalize::run(
                store.as_ref(),
                &seqs,
                &|delivery| config.reread(delivery),
                &by,
                &selection,
                &mut |so_far| followed.update(id, |run| run.progress = so_far.clone()),
            )
        })
        .await;
        let error = match done {
            Ok(Ok(_)) => None,
            Ok(Err(err)) => Some(err.to_string()),
            Err(_) => Some("the run stopped unexpectedly".to_owned()),
        };
        if let Some(error) = &error {
            tracing::warn!(run = id, %error, "re-normalization failed");
        }
        runs.update(id, |run| {
            run.finished = Some(Utc::now());
            run.error = error;
        });
    });
    redirect(&format!("/admin/renormalize/{id}"))
}

#[post("/admin/deliveries/{seq}/renormalize")]
pub async fn one(
    operator: Operator,
    state: web::Data<AppState>,
    seq: web::Path<u64>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    if !operator.0.csrf_matches(&form.csrf) {
        return Err(PageError::FormExpired);
    }
    let seq = seq.into_inner();
    let store = state.storage.read.clone();
    if web::block(move || store.delivery(seq)).await??.is_none() {
        return Err(PageError::not_found(
            "No such delivery",
            "The log has no delivery with that number.",
        ));
    }
    Ok(start(
        &state,
        &operator,
        vec![seq],
        format!("delivery {seq}"),
    ))
}

#[post("/admin/renormalize")]
pub async fn matching(
    operator: Operator,
    state: web::Data<AppState>,
    form: web::Form<FilterForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    if !operator.0.csrf_matches(&form.csrf) {
        return Err(PageError::FormExpired);
    }
    let query = ListQuery {
        source: form.source,
        outcome: form.outcome,
        from: form.from,
        to: form.to,
        before: None,
    };
    let filter = query.filter(&state)?;
    let store = state.storage.read.clone();
    let selection = filter.describe();
    let seqs = web::block(move || filter.every_seq(store.as_ref())).await??;
    Ok(start(&state, &operator, seqs, selection))
}

#[derive(Serialize)]
struct RunPage<'a> {
    layout: &'a Layout,
    id: u64,
    by: String,
    selection: String,
    started: TimeView,
    running: bool,
    total: usize,
    done: usize,
    percent: usize,
    changed: Vec<u64>,
    needs_reindex: Vec<u64>,
    unreadable: Vec<u64>,
    records: Vec<u64>,
    error: Option<String>,
}

#[get("/admin/renormalize/{run}")]
pub async fn follow(
    operator: Operator,
    state: web::Data<AppState>,
    id: web::Path<u64>,
) -> Result<HttpResponse, PageError> {
    let Some(run) = state.renormalize_runs.get(id.into_inner()) else {
        return Err(PageError::not_found(
            "No such run",
            "This gateway does not remember that run (it keeps its last 20, until it restarts). \
             Every run is in the log as a delivery of the source “hooktrail”.",
        ));
    };
    let now = Utc::now();
    let layout = Layout::new(
        &state,
        "Re-normalization",
        Nav::Admin,
        Some(&operator.0),
        true,
    );
    let progress = run.progress;
    let view = RunPage {
        layout: &layout,
        id: run.id,
        by: run.by,
        selection: run.selection,
        started: TimeView::new(run.started, now, state.config.display.timezone),
        running: run.finished.is_none(),
        total: progress.total,
        done: progress.done,
        percent: (progress.done * 100)
            .checked_div(progress.total)
            .unwrap_or(100),
        changed: progress.changed,
        needs_reindex: progress.needs_reindex,
        unreadable: progress.unreadable,
        records: progress.records,
        error: run.error,
    };
    let body = state
        .renderer
        .render_page("pages/admin/renormalize", &layout, &view)?;
    Ok(html_response(StatusCode::OK, body))
}
