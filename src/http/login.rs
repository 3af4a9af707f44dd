//! `GET /login`, `POST /login`, `POST /logout` (with `everywhere`: every session of the user).
//!
//! Both forms carry the session's CSRF token (a synchronizer token kept in the signed session
//! cookie, see [`super::session`]): a page on another site can make a browser submit a form,
//! but it cannot read ours to learn the token, nor forge the cookie that holds it. Checking it
//! on the login form too stops another site from signing a browser in as someone else.
//!
//! Signing out is recorded in the store before it is answered, so a copy of the cookie stops
//! working too, on every gateway and after restarts (see [`super::revoked`]).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::html::{Layout, Nav, html_response, redirect, safe_next};
use super::page_error::PageError;
use super::session::{self, Session};
use crate::password;
use crate::store::{Revocation, StoreError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(login_form).service(login).service(logout);
}

#[derive(Debug, Serialize)]
struct LoginPage {
    layout: Layout,
    csrf: String,
    next: String,
    username: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

#[get("/login")]
async fn login_form(
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, PageError> {
    let next = safe_next(query.next.as_deref());
    if session::staff(&request).is_some() {
        return Ok(redirect(&next));
    }
    let notice = query.signed_out.as_deref().map(|scope| {
        if scope == EVERYWHERE {
            "You have signed out on every device.".to_owned()
        } else {
            "You have signed out.".to_owned()
        }
    });
    let form = LoginForm {
        next,
        username: String::new(),
        error: None,
        notice,
    };
    render_login(&request, &state, StatusCode::OK, form)
}

/// What the login page shows besides the form itself.
struct LoginForm {
    next: String,
    username: String,
    error: Option<String>,
    notice: Option<String>,
}

/// Renders the login page with the request's session, starting one (and setting its cookie)
/// when the request has none. A valid session is never replaced here: a post from another
/// site, refused for its missing token, must not sign anyone out either.
fn render_login(
    request: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    form: LoginForm,
) -> Result<HttpResponse, PageError> {
    let now = Utc::now();
    let (session, is_new) = match session::from_request(request, state) {
        Some(session) => (session, false),
        None => (Session::visitor(now)?, true),
    };
    let page = LoginPage {
        layout: Layout::new(state, "Sign in", Nav::Login, None, false),
        csrf: session.csrf_token().to_owned(),
        next: form.next,
        username: form.username,
        error: form.error,
        notice: form.notice,
    };
    let body = state
        .renderer
        .render_page("pages/login", &page.layout, &page)?;
    let mut response = html_response(status, body);
    if is_new {
        let cookie = state
            .sessions
            .cookie(&session, session::is_https(request), now.timestamp());
        response
            .add_cookie(&cookie)
            .map_err(|_| PageError::Internal)?;
    }
    Ok(response)
}

#[derive(Deserialize)]
struct Credentials {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

#[post("/login")]
async fn login(
    request: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<Credentials>,
) -> Result<HttpResponse, PageError> {
    let Credentials {
        username,
        password,
        csrf,
        next,
    } = form.into_inner();
    let next = safe_next(next.as_deref());
    let username = username.trim().to_owned();
    let retry = |error: &str| LoginForm {
        next: next.clone(),
        username: username.clone(),
        error: Some(error.to_owned()),
        notice: None,
    };

    let csrf_ok =
        session::from_request(&request, &state).is_some_and(|session| session.csrf_matches(&csrf));
    if !csrf_ok {
        // A stale tab or a cross-site post: a form with a valid token to try again with.
        return render_login(
            &request,
            &state,
            StatusCode::FORBIDDEN,
            retry("This sign-in form had expired. Please sign in again."),
        );
    }

    let client = client_address(&request);
    // The slot first, then the attempt: an attempt refused for want of a slot is never
    // counted, not even for a moment, so it cannot make another sign-in for the same name wait.
    let Some(slot) = state.password_checks.try_start() else {
        tracing::warn!(%client, username, "sign-in refused: every password check slot is taken");
        let message = "Many sign-ins are being checked right now. Please try again in a moment.";
        return come_back_later(&request, &state, BUSY_RETRY_SECS, retry(message));
    };
    let attempt = match state
        .login_throttle
        .reserve(&username, client, Instant::now())
    {
        Ok(attempt) => attempt,
        Err(wait) => {
            drop(slot);
            tracing::warn!(%client, username, "sign-in refused: too many failed attempts");
            let seconds = wait.as_secs().max(1);
            let message =
                format!("Too many failed sign-ins. Please wait {seconds} seconds and try again.");
            return come_back_later(&request, &state, seconds, retry(&message));
        }
    };

    state.metrics.password_check_started();
    // Argon2 is deliberately slow: off the async workers. The slot goes with the check, so
    // it is held until the check ends even if this request is dropped meanwhile.
    let user = state.config.auth.user(&username).cloned();
    let verified = web::block(move || {
        let _slot = slot;
        match &user {
            Some(user) => password::verify(&password, &user.password_hash).then_some(user.clone()),
            None => {
                password::verify_decoy(&password);
                None
            }
        }
    })
    .await?;
    let Some(user) = verified else {
        attempt.failed(Instant::now());
        tracing::info!(%client, username, "sign-in failed");
        return render_login(
            &request,
            &state,
            StatusCode::UNAUTHORIZED,
            retry("That username and password do not match."),
        );
    };

    attempt.succeeded();
    tracing::info!(%client, username, "signed in");
    let now = Utc::now();
    let session = Session::staff(&user, now)?;
    let mut response = redirect(&next);
    let cookie = state
        .sessions
        .cookie(&session, session::is_https(&request), now.timestamp());
    response
        .add_cookie(&cookie)
        .map_err(|_| PageError::Internal)?;
    Ok(response)
}

/// When to try again after every password check slot was taken: checks take a fraction of a
/// second, so a slot is soon free.
const BUSY_RETRY_SECS: u64 = 1;

/// The login page again with `429 Too Many Requests`, saying why and for how long.
fn come_back_later(
    request: &HttpRequest,
    state: &AppState,
    seconds: u64,
    form: LoginForm,
) -> Result<HttpResponse, PageError> {
    let mut response = render_login(request, state, StatusCode::TOO_MANY_REQUESTS, form)?;
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    Ok(response)
}

/// The `signed_out` value (and the sign-out button's `scope`) that means every session.
const EVERYWHERE: &str = "everywhere";

#[derive(Deserialize)]
struct SignOut {
    #[serde(default)]
    csrf: String,
    /// `everywhere` ends every session of the user, not only this one.
    #[serde(default)]
    scope: String,
}

#[post("/logout")]
async fn logout(
    request: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SignOut>,
) -> Result<HttpResponse, PageError> {
    let Some(session) = session::from_request(&request, &state) else {
        // Nothing to end.
        return Ok(redirect("/login"));
    };
    if !session.csrf_matches(&form.csrf) {
        return Err(PageError::FormExpired);
    }
    let everywhere = form.scope == EVERYWHERE;
    // Only a live staff session has anything to end on the server. A visitor's, or one that
    // has ended already, is only removed from the browser: nothing is written, so posting
    // this form cannot fill the store without signing in each time.
    if let Some(username) = session::signed_in_user(&session, &state) {
        let now = Utc::now();
        let revocation = if everywhere {
            Revocation::AllSessionsOf {
                username: username.to_owned(),
                issued_up_to: now,
                // Every session issued up to now has expired by then.
                expires: now + chrono::Duration::seconds(session::STAFF_LIFETIME_SECS),
            }
        } else {
            Revocation::Session {
                id: session.id(),
                expires: DateTime::from_timestamp(session.expires(), 0)
                    .ok_or(PageError::Internal)?,
            }
        };
        // Committed before the answer: once the browser hears "signed out", no copy of the
        // cookie works, here or after a restart. The in-memory copy learns of it in the same
        // blocking task, right after the commit: a blocking task runs to its end even when
        // the request is dropped, so the two cannot disagree.
        let gateway = state.clone();
        web::block(move || {
            gateway.storage.write.revoke_sessions(&revocation, now)?;
            gateway.revoked_sessions.record(&revocation, now);
            Ok::<_, StoreError>(())
        })
        .await??;
        tracing::info!(username, everywhere, "signed out");
    }
    let mut response = redirect(if everywhere {
        "/login?signed_out=everywhere"
    } else {
        "/login?signed_out=1"
    });
    response
        .add_cookie(&session::removal_cookie(session::is_https(&request)))
        .map_err(|_| PageError::Internal)?;
    Ok(response)
}

/// The peer's address. Behind a reverse proxy this is the proxy's: see the throttle's client
/// policy, which is generous for that reason. Forwarded headers are not trusted, since any
/// client could set them to dodge the throttle.
fn client_address(request: &HttpRequest) -> IpAddr {
    request
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip())
}
