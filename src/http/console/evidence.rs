//! `GET /admin/evidence`: the signed tree heads as an operator looks after them — which key
//! signs them (the public key to give auditors), where copies go, whether the last head due
//! was signed, how far the log has grown past the latest, and the latest heads themselves.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use chrono::{TimeDelta, Utc};
use serde::Serialize;

use crate::alerts::rules::span_words;
use crate::http::AppState;
use crate::http::html::{Layout, Nav, Operator, html_response};
use crate::http::page_error::PageError;
use crate::render::format::TimeView;
use crate::store::StoreError;
use crate::trust::heads::SignedHead;

/// Heads the page lists; the API pages back further.
const LISTED: usize = 20;

#[derive(Serialize)]
struct EvidencePage<'a> {
    layout: &'a Layout,
    signing: Option<Signing>,
    failure: Option<FailureLine>,
    log: LogLine,
    heads: Vec<HeadRow>,
    more: bool,
}

#[derive(Serialize)]
struct Signing {
    key_id: String,
    public_key: String,
    every: String,
    copies_to: Vec<String>,
}

#[derive(Serialize)]
struct FailureLine {
    at: TimeView,
    error: String,
}

#[derive(Serialize)]
struct LogLine {
    deliveries: u64,
    root: String,
    /// Deliveries after the latest head (none when there is no head).
    after_latest: Option<u64>,
}

#[derive(Serialize)]
struct HeadRow {
    number: u64,
    tree_size: u64,
    signed: TimeView,
    /// The root's first 16 hex digits (the whole in `root`).
    root_short: String,
    root: String,
    key_id: String,
}

fn row(head: &SignedHead, state: &AppState) -> HeadRow {
    let root = hex::encode(head.root);
    HeadRow {
        number: head.number,
        tree_size: head.tree_size,
        signed: TimeView::new(head.signed_at, Utc::now(), state.config.display.timezone),
        root_short: root[..16].to_owned(),
        root,
        key_id: head.key_id.clone(),
    }
}

/// Where copies of each head go, as an operator can show them: a folder's path; a URL's
/// scheme and host only (its path may be a credential).
fn copies_to(state: &AppState) -> Vec<String> {
    let trust = &state.config.trust;
    let folder = trust
        .digests_dir
        .as_ref()
        .map(|dir| format!("written into the folder {}", dir.display()));
    let url = trust
        .digests_url
        .as_deref()
        .map(|url| format!("posted to {}", super::url_shown(url)));
    folder.into_iter().chain(url).collect()
}

#[get("/admin/evidence")]
pub async fn page(
    operator: Operator,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let store = state.storage.read.clone();
    let (mut heads, tree) = web::block(move || {
        Ok::<_, StoreError>((
            store.tree_heads(None, LISTED + 1)?,
            store.chain_head()?.tree,
        ))
    })
    .await??;
    let more = heads.len() > LISTED;
    heads.truncate(LISTED);
    let signing = state.config.trust.signing_key.as_ref().map(|key| {
        let public = key.public();
        Signing {
            key_id: public.key_id(),
            public_key: public.encoded(),
            every: span_words(TimeDelta::seconds(
                i64::try_from(state.config.trust.digest_interval_secs.get()).unwrap_or(i64::MAX),
            )),
            copies_to: copies_to(&state),
        }
    });
    let zone = state.config.display.timezone;
    let failure = state
        .tree_signing
        .last_failure()
        .map(|failure| FailureLine {
            at: TimeView::new(failure.at, Utc::now(), zone),
            error: failure.error,
        });
    let log = LogLine {
        deliveries: tree.size(),
        root: hex::encode(tree.root()),
        after_latest: heads
            .first()
            .map(|latest| tree.size().saturating_sub(latest.tree_size)),
    };
    let layout = Layout::new(&state, "Evidence", Nav::Admin, Some(&operator.0), true);
    let view = EvidencePage {
        layout: &layout,
        signing,
        failure,
        log,
        heads: heads.iter().map(|head| row(head, &state)).collect(),
        more,
    };
    let body = state
        .renderer
        .render_page("pages/admin/evidence", &layout, &view)?;
    Ok(html_response(StatusCode::OK, body))
}
