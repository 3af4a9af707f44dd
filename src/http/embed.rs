//! Timelines inside the business app: `GET /embed/{kind}/{id}?exp=&viewer=&sig=`, and the
//! live stream its page follows, `GET /embed/{kind}/{id}/stream?…` (same parameters).
//!
//! No session and no cookie: the link is the permission. The business app mints it on its
//! server with the secret it shares with the gateway (`[embed] secret`): `sig` is the
//! base64url (no padding) HMAC-SHA256 of `{kind}:{id}:{exp}:{viewer}`, `exp` a unix time at
//! most `[embed] max_ttl_secs` ahead. An expired, forged or over-long link gets 403; without
//! a secret the routes do not exist (404). The page is read-only, and only the origins in
//! `[embed] allowed_origins` may frame it (`frame-ancestors`).

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use actix_web::{HttpRequest, HttpResponse, get, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::html::{Layout, Nav, html_response};
use super::page_cache::PageKey;
use super::pages::{self, Frame};
use super::{ApiError, AppState, PageError, live};
use crate::activity::{Subject, SubjectKind};
use crate::config::EmbedConfig;
use crate::crypto::{Secret, hmac_sha256, hmac_sha256_matches};
use crate::render::view::TrackedClock;
use crate::store::Follow;

/// The longest viewer name a link may carry.
const MAX_VIEWER_CHARS: usize = 200;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(embed_stream).service(embed_page);
}

/// What an embed link carries besides its subject.
#[derive(Debug, Deserialize)]
struct LinkQuery {
    exp: Option<String>,
    viewer: Option<String>,
    sig: Option<String>,
    /// For the stream: where the page left off.
    after: Option<String>,
}

/// Why a link is refused, said to whoever opened it.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Incomplete,
    Expired,
    TooLong,
    Forged,
}

impl Refusal {
    fn reason(&self) -> &'static str {
        match self {
            Refusal::Incomplete => "This link is missing part of its signature",
            Refusal::Expired => "This link has expired",
            Refusal::TooLong => "This link asks to stay valid for longer than allowed",
            Refusal::Forged => "This link’s signature does not match",
        }
    }
}

/// The signature of a link to `subject` for `viewer`, valid until `exp`.
pub fn signature(secret: &Secret, subject: &Subject, exp: i64, viewer: &str) -> String {
    URL_SAFE_NO_PAD.encode(hmac_sha256(
        secret,
        &[message(subject, exp, viewer).as_bytes()],
    ))
}

/// The path and query of a signed link (the gateway's base URL goes in front).
pub fn link(secret: &Secret, subject: &Subject, exp: i64, viewer: &str) -> String {
    format!(
        "{}?exp={exp}&viewer={}&sig={}",
        path_of(subject),
        utf8_percent_encode(viewer, NON_ALPHANUMERIC),
        signature(secret, subject, exp, viewer)
    )
}

fn message(subject: &Subject, exp: i64, viewer: &str) -> String {
    format!(
        "{}:{}:{exp}:{viewer}",
        subject.kind().as_str(),
        subject.id()
    )
}

/// Checks a link at `now`: complete, not expired, not valid for longer than allowed, and
/// signed with the secret (compared in constant time).
fn check(
    secret: &Secret,
    config: &EmbedConfig,
    subject: &Subject,
    query: &LinkQuery,
    now: i64,
) -> Result<(), Refusal> {
    let (Some(exp), Some(viewer), Some(sig)) = (&query.exp, &query.viewer, &query.sig) else {
        return Err(Refusal::Incomplete);
    };
    let exp: i64 = exp.parse().map_err(|_| Refusal::Incomplete)?;
    if viewer.chars().count() > MAX_VIEWER_CHARS {
        return Err(Refusal::Forged);
    }
    let given = URL_SAFE_NO_PAD
        .decode(sig.trim())
        .map_err(|_| Refusal::Forged)?;
    if !hmac_sha256_matches(secret, &[message(subject, exp, viewer).as_bytes()], &given) {
        return Err(Refusal::Forged);
    }
    if exp <= now {
        return Err(Refusal::Expired);
    }
    let max_ttl = i64::try_from(config.max_ttl_secs.get()).unwrap_or(i64::MAX);
    if exp - now > max_ttl {
        return Err(Refusal::TooLong);
    }
    Ok(())
}

/// Why a request for an embed path is not served.
enum Denied {
    /// Embedding is off, or the path names no subject.
    NotFound,
    Refused(Refusal),
}

/// The subject an embed request may see: embedding is on, the path names a subject, and the
/// link holds now.
fn admit(state: &AppState, path: (String, String), query: &LinkQuery) -> Result<Subject, Denied> {
    let (kind, id) = path;
    let secret = state.config.embed.secret.as_ref().ok_or(Denied::NotFound)?;
    let kind: SubjectKind = kind.parse().map_err(|_| Denied::NotFound)?;
    let subject = Subject::new(kind, id).map_err(|_| Denied::NotFound)?;
    let now = Utc::now().timestamp();
    check(secret, &state.config.embed, &subject, query, now).map_err(Denied::Refused)?;
    Ok(subject)
}

#[get("/embed/{kind}/{id}")]
async fn embed_page(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<LinkQuery>,
) -> Result<HttpResponse, PageError> {
    let subject = admit(&state, path.into_inner(), &query).map_err(|denied| match denied {
        Denied::NotFound => {
            PageError::not_found("Page not found", "Nothing is found at this address.")
        }
        Denied::Refused(refusal) => PageError::LinkRefused(refusal.reason().to_owned()),
    })?;
    let stream = format!(
        "{}/stream?exp={}&viewer={}&sig={}",
        path_of(&subject),
        query.exp.as_deref().unwrap_or_default(),
        utf8_percent_encode(
            query.viewer.as_deref().unwrap_or_default(),
            NON_ALPHANUMERIC
        ),
        query.sig.as_deref().unwrap_or_default().trim(),
    );
    let body = web::block({
        let state = state.clone();
        move || -> Result<String, PageError> {
            let key = PageKey {
                subject,
                category: None,
                callbacks: false,
                before: None,
            };
            let clock = TrackedClock::new(Utc::now(), state.config.display.timezone);
            let (title, body) =
                pages::render_timeline(&state, &key, &clock, Frame::Embedded { stream })?;
            let layout = Layout::new(&state, &title, Nav::Embed, None, false);
            Ok(state.renderer.render_layout(&layout, &body)?)
        }
    })
    .await??;
    let mut response = html_response(StatusCode::OK, body);
    response.headers_mut().insert(
        actix_web::http::header::CONTENT_SECURITY_POLICY,
        content_security_policy(&state.config.embed),
    );
    Ok(response)
}

#[get("/embed/{kind}/{id}/stream")]
async fn embed_stream(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<LinkQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let subject = admit(&state, path.into_inner(), &query).map_err(|denied| match denied {
        Denied::NotFound => ApiError::NotFound("no such page"),
        Denied::Refused(refusal) => ApiError::Forbidden(refusal.reason()),
    })?;
    let after = query.after.clone();
    let lines = live::Lines::TIMELINE;
    live::open(
        state,
        Follow::Subject(subject),
        lines,
        &request,
        after.as_deref(),
    )
    .await
}

fn path_of(subject: &Subject) -> String {
    format!(
        "/embed/{}/{}",
        subject.kind().as_str(),
        utf8_percent_encode(subject.id(), NON_ALPHANUMERIC)
    )
}

/// The page's own policy: the site-wide one, with framing allowed to the configured origins.
fn content_security_policy(config: &EmbedConfig) -> HeaderValue {
    let ancestors = if config.allowed_origins.is_empty() {
        "'none'".to_owned()
    } else {
        config.allowed_origins.join(" ")
    };
    let policy = super::security::CONTENT_SECURITY_POLICY.replace(
        "frame-ancestors 'none'",
        &format!("frame-ancestors {ancestors}"),
    );
    // Origins were checked when the config was read: only characters a header may hold.
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static(super::security::CONTENT_SECURITY_POLICY))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new(b"an-embed-secret-of-at-least-32-bytes!!".to_vec()).unwrap()
    }

    fn query(exp: i64, viewer: &str, sig: String) -> LinkQuery {
        LinkQuery {
            exp: Some(exp.to_string()),
            viewer: Some(viewer.to_owned()),
            sig: Some(sig),
            after: None,
        }
    }

    #[test]
    fn a_link_holds_for_its_subject_viewer_and_time_only() {
        let config = EmbedConfig::default();
        let job: Subject = "job:1042".parse().unwrap();
        let now = 1_772_600_000;
        let exp = now + 600;
        let sig = signature(&secret(), &job, exp, "dana");
        let ok = |subject: &Subject, q: &LinkQuery, at| check(&secret(), &config, subject, q, at);
        assert_eq!(ok(&job, &query(exp, "dana", sig.clone()), now), Ok(()));
        // Another job, viewer, expiry or key: forged.
        let other: Subject = "job:1043".parse().unwrap();
        assert_eq!(
            ok(&other, &query(exp, "dana", sig.clone()), now),
            Err(Refusal::Forged)
        );
        assert_eq!(
            ok(&job, &query(exp, "eve", sig.clone()), now),
            Err(Refusal::Forged)
        );
        assert_eq!(
            ok(&job, &query(exp + 1, "dana", sig.clone()), now),
            Err(Refusal::Forged)
        );
        let stranger = Secret::new(b"another-secret-another-secret-another".to_vec()).unwrap();
        assert_eq!(
            check(
                &stranger,
                &config,
                &job,
                &query(exp, "dana", sig.clone()),
                now
            ),
            Err(Refusal::Forged)
        );
        // Its time passes; a link valid for longer than allowed is refused even when signed.
        assert_eq!(
            ok(&job, &query(exp, "dana", sig), exp),
            Err(Refusal::Expired)
        );
        let long = now + 3 * 3600;
        let long_sig = signature(&secret(), &job, long, "dana");
        assert_eq!(
            ok(&job, &query(long, "dana", long_sig), now),
            Err(Refusal::TooLong)
        );
        let missing = LinkQuery {
            exp: None,
            viewer: None,
            sig: None,
            after: None,
        };
        assert_eq!(ok(&job, &missing, now), Err(Refusal::Incomplete));
    }

    #[test]
    fn a_link_names_its_subject_and_viewer_escaped() {
        let job: Subject = "job:A/7 x".parse().unwrap();
        let link = link(&secret(), &job, 99, "Dana & co");
        assert!(link.starts_with("/embed/job/A%2F7%20x?exp=99&viewer=Dana%20%26%20co&sig="));
    }

    #[test]
    fn framing_is_allowed_to_the_configured_origins_only() {
        let mut config = EmbedConfig::default();
        let none = content_security_policy(&config);
        assert!(none.to_str().unwrap().contains("frame-ancestors 'none'"));
        config.allowed_origins = vec!["https://app.example.com".to_owned()];
        let some = content_security_policy(&config);
        assert!(
            some.to_str()
                .unwrap()
                .contains("frame-ancestors https://app.example.com;")
        );
    }
}
