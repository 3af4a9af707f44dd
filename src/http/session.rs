//! Staff sessions in one signed cookie; the server remembers only the sessions that ended
//! early (see [`super::revoked`]).
//!
//! The cookie is `base64url(json) "." base64url(HMAC-SHA256(key, json))`: the server can read
//! back only what it wrote, and a change to any byte (another username, a later expiry) breaks
//! the signature. The JSON holds the username, a fingerprint of that user's configured password
//! hash (changing the password or removing the user ends their sessions), the session's random
//! id and when it was issued (what signing out records), the CSRF token of the session, and an
//! absolute expiry. Visitors who have not signed in get a session without a user, so the login
//! form has a CSRF token too.
//!
//! The cookie is `HttpOnly` (scripts cannot read it), `SameSite=Lax` (other sites cannot make
//! the browser send it with a POST, while links from email or chat still open pages signed in)
//! and `Secure` when the request came over https.

use std::future::{Ready, ready};

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AppState;
use super::html::{Operator, Staff};
use super::page_error::PageError;
use crate::config::{AuthConfig, Role, UserConfig};
use crate::crypto::{Secret, hmac_sha256, hmac_sha256_matches};

pub const COOKIE_NAME: &str = "hooktrail_session";
/// A signed-in session lasts one long working day, then asks for the password again.
pub const STAFF_LIFETIME_SECS: i64 = 12 * 60 * 60;
/// A visitor's session only carries the login form's CSRF token.
pub const VISITOR_LIFETIME_SECS: i64 = 2 * 60 * 60;
/// Separates session signatures from anything else the key might ever sign.
const CONTEXT: &[u8] = b"hooktrail-session-v1.";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    /// 128 random bits: how a sign-out names this session and no other.
    #[serde(rename = "i")]
    id: u128,
    /// When it was issued, in µs since the epoch ("sign out everywhere" ends those issued
    /// before it).
    #[serde(rename = "t")]
    issued: i64,
    #[serde(rename = "c")]
    csrf: String,
    #[serde(rename = "x")]
    expires: i64,
}

impl Session {
    /// A session for someone who has not signed in (yet).
    pub fn visitor(now: DateTime<Utc>) -> Result<Session, NoRandomness> {
        Session::new(None, None, now, VISITOR_LIFETIME_SECS)
    }

    /// A signed-in session, with a fresh id and CSRF token (nothing from before sign-in
    /// carries over).
    pub fn staff(user: &UserConfig, now: DateTime<Utc>) -> Result<Session, NoRandomness> {
        Session::new(
            Some(user.username.clone()),
            Some(password_fingerprint(&user.password_hash)),
            now,
            STAFF_LIFETIME_SECS,
        )
    }

    fn new(
        user: Option<String>,
        password: Option<String>,
        now: DateTime<Utc>,
        lifetime_secs: i64,
    ) -> Result<Session, NoRandomness> {
        let mut id = [0u8; 16];
        fill_random(&mut id)?;
        Ok(Session {
            user,
            password,
            id: u128::from_be_bytes(id),
            issued: now.timestamp_micros(),
            csrf: random_token()?,
            expires: now.timestamp() + lifetime_secs,
        })
    }

    /// The signed-in username, if the user is still configured with the same password.
    pub fn staff_user(&self, auth: &AuthConfig) -> Option<&str> {
        let name = self.user.as_deref()?;
        let user = auth.user(name)?;
        let fingerprint = password_fingerprint(&user.password_hash);
        (self.password.as_deref() == Some(fingerprint.as_str())).then_some(name)
    }

    pub fn csrf_token(&self) -> &str {
        &self.csrf
    }

    /// Whether a submitted form carries this session's token (compared in constant time).
    pub fn csrf_matches(&self, submitted: &str) -> bool {
        crate::crypto::token_matches(&self.csrf, submitted)
    }

    pub fn expires(&self) -> i64 {
        self.expires
    }

    /// The username the session was issued to, whether or not it is still valid.
    pub fn username(&self) -> Option<&str> {
        self.user.as_deref()
    }

    pub fn id(&self) -> u128 {
        self.id
    }

    /// When the session was issued, µs since the epoch.
    pub fn issued_micros(&self) -> i64 {
        self.issued
    }
}

fn password_fingerprint(password_hash: &str) -> String {
    hex::encode(&Sha256::digest(password_hash.as_bytes())[..8])
}

/// The operating system's random source failed: no token can be made safely.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed: {0}")]
pub struct NoRandomness(String);

/// 128 random bits, base64url.
fn random_token() -> Result<String, NoRandomness> {
    let mut bytes = [0u8; 16];
    fill_random(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn fill_random(bytes: &mut [u8]) -> Result<(), NoRandomness> {
    getrandom::fill(bytes).map_err(|err| NoRandomness(err.to_string()))
}

/// Seals and opens session cookies with the configured key (or a random one per process).
pub struct SessionCodec {
    key: Secret,
}

impl SessionCodec {
    pub fn from_config(auth: &AuthConfig) -> Result<SessionCodec, NoRandomness> {
        if let Some(key) = &auth.session_key {
            return Ok(SessionCodec { key: key.clone() });
        }
        let mut bytes = vec![0u8; 32];
        fill_random(&mut bytes)?;
        if auth.users.is_empty() {
            tracing::debug!("no auth.session_key: using a random one for this process");
        } else {
            tracing::warn!(
                "no auth.session_key configured: using a random key for this process, so staff \
                 sessions end when it restarts (set HOOKTRAIL_AUTH__SESSION_KEY in production)"
            );
        }
        let key = Secret::new(bytes).ok_or_else(|| NoRandomness("no key bytes".into()))?;
        Ok(SessionCodec { key })
    }

    pub fn seal(&self, session: &Session) -> String {
        let json = serde_json::to_vec(session).unwrap_or_default();
        let signature = hmac_sha256(&self.key, &[CONTEXT, &json]);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(json),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    /// The session in `value` if its signature holds and it has not expired at `now`.
    pub fn open(&self, value: &str, now: i64) -> Option<Session> {
        let (payload, signature) = value.split_once('.')?;
        let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        if !hmac_sha256_matches(&self.key, &[CONTEXT, &json], &signature) {
            return None;
        }
        let session: Session = serde_json::from_slice(&json).ok()?;
        (session.expires > now).then_some(session)
    }

    /// The `Set-Cookie` for `session`.
    pub fn cookie(&self, session: &Session, secure: bool, now: i64) -> Cookie<'static> {
        let max_age = (session.expires - now).max(0);
        base_cookie(self.seal(session), secure)
            .max_age(time::Duration::seconds(max_age))
            .finish()
    }
}

/// The `Set-Cookie` that removes the session (signing out).
pub fn removal_cookie(secure: bool) -> Cookie<'static> {
    base_cookie(String::new(), secure)
        .max_age(time::Duration::ZERO)
        .finish()
}

fn base_cookie(value: String, secure: bool) -> actix_web::cookie::CookieBuilder<'static> {
    Cookie::build(COOKIE_NAME, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
}

/// Whether the browser reached us over https (directly, or as a proxy's `Forwarded` /
/// `X-Forwarded-Proto` says; a client lying about it only makes its own cookie https-only).
pub fn is_https(request: &HttpRequest) -> bool {
    request.connection_info().scheme() == "https"
}

/// The request's valid session, if any.
pub fn from_request(request: &HttpRequest, state: &AppState) -> Option<Session> {
    let cookie = request.cookie(COOKIE_NAME)?;
    state.sessions.open(cookie.value(), Utc::now().timestamp())
}

impl FromRequest for Staff {
    type Error = PageError;
    type Future = Ready<Result<Staff, PageError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(signed_in(request))
    }
}

impl FromRequest for Operator {
    type Error = PageError;
    type Future = Ready<Result<Operator, PageError>>;

    /// Signed out: off to sign in. Signed in without the operator role: 403.
    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(signed_in(request).and_then(|staff| match staff.role {
            Role::Operator => Ok(Operator(staff)),
            Role::Staff => Err(PageError::OperatorsOnly),
        }))
    }
}

fn signed_in(request: &HttpRequest) -> Result<Staff, PageError> {
    staff(request).ok_or_else(|| PageError::LoginRequired {
        next: request
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
    })
}

/// The signed-in staff member of a request, if any.
pub fn staff(request: &HttpRequest) -> Option<Staff> {
    let state = request.app_data::<web::Data<AppState>>()?;
    let session = from_request(request, state)?;
    let username = signed_in_user(&session, state)?.to_owned();
    let role = state.config.auth.user(&username)?.role;
    Some(Staff {
        username,
        csrf: session.csrf,
        role,
    })
}

/// Whom `session` signs in: its user while still configured with the same password, unless
/// the session was signed out. A memory read, no I/O: every page and API request asks.
pub fn signed_in_user<'s>(session: &'s Session, state: &AppState) -> Option<&'s str> {
    let username = session.staff_user(&state.config.auth)?;
    let elsewhere = state.storage.feed.revocations_from_elsewhere();
    if !elsewhere.is_empty() {
        let now = chrono::Utc::now();
        for revocation in &elsewhere {
            state.revoked_sessions.record(revocation, now);
        }
    }
    (!state.revoked_sessions.covers(session)).then_some(username)
}

impl From<NoRandomness> for PageError {
    fn from(err: NoRandomness) -> Self {
        tracing::error!(error = %err, "cannot make a session token");
        PageError::Internal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(users: &[(&str, &str)], key: Option<&str>) -> AuthConfig {
        AuthConfig {
            users: users
                .iter()
                .map(|(username, hash)| UserConfig {
                    username: (*username).to_owned(),
                    password_hash: (*hash).to_owned(),
                    role: Default::default(),
                })
                .collect(),
            api_tokens: Vec::new(),
            session_key: key.and_then(|k| Secret::new(k.as_bytes().to_vec())),
            max_password_checks: 0,
        }
    }

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    #[test]
    fn each_session_has_its_own_id_and_knows_when_it_was_issued() {
        let config = auth(&[("dana", "$argon2id$one")], Some(KEY));
        let codec = SessionCodec::from_config(&config).unwrap();
        let now = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let a = Session::staff(&config.users[0], now).unwrap();
        let b = Session::staff(&config.users[0], now).unwrap();
        assert_ne!(a.id(), b.id());
        assert_eq!(a.issued_micros(), 1_700_000_000_123_456);
        let opened = codec.open(&codec.seal(&a), now.timestamp()).unwrap();
        assert_eq!(
            (opened.id(), opened.issued_micros()),
            (a.id(), a.issued_micros())
        );
    }

    #[test]
    fn sealed_sessions_open_only_untouched_and_unexpired() {
        let config = auth(&[("dana", "$argon2id$one")], Some(KEY));
        let codec = SessionCodec::from_config(&config).unwrap();
        let session = Session::staff(&config.users[0], at(1_000)).unwrap();
        let sealed = codec.seal(&session);
        assert_eq!(codec.open(&sealed, 1_001), Some(session.clone()));
        assert_eq!(codec.open(&sealed, 1_000 + STAFF_LIFETIME_SECS), None);

        // Another user's name in the payload, with the old signature.
        let (_, signature) = sealed.split_once('.').unwrap();
        let forged = serde_json::to_vec(&Session {
            user: Some("admin".into()),
            ..session.clone()
        })
        .unwrap();
        let forged = format!("{}.{signature}", URL_SAFE_NO_PAD.encode(forged));
        assert_eq!(codec.open(&forged, 1_001), None);
        for garbage in ["", ".", "abc", "abc.def", &sealed.replace('.', "")] {
            assert_eq!(codec.open(garbage, 1_001), None, "{garbage}");
        }

        // Another key (another deployment, or a restart without a configured key).
        let other = SessionCodec::from_config(&auth(&[], None)).unwrap();
        assert_eq!(other.open(&sealed, 1_001), None);
    }

    #[test]
    fn a_password_change_or_removed_user_ends_the_session() {
        let before = auth(&[("dana", "$argon2id$one")], Some(KEY));
        let session = Session::staff(&before.users[0], at(0)).unwrap();
        assert_eq!(session.staff_user(&before), Some("dana"));
        assert_eq!(
            session.staff_user(&auth(&[("dana", "$argon2id$two")], Some(KEY))),
            None
        );
        assert_eq!(session.staff_user(&auth(&[], Some(KEY))), None);
        assert_eq!(Session::visitor(at(0)).unwrap().staff_user(&before), None);
    }

    #[test]
    fn csrf_tokens_are_random_and_compared_exactly() {
        let a = Session::visitor(at(0)).unwrap();
        let b = Session::visitor(at(0)).unwrap();
        assert_ne!(a.csrf_token(), b.csrf_token());
        assert!(a.csrf_matches(a.csrf_token()));
        assert!(!a.csrf_matches(b.csrf_token()));
        assert!(!a.csrf_matches(""));
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_over_https() {
        let codec = SessionCodec::from_config(&auth(&[], Some(KEY))).unwrap();
        let cookie = codec
            .cookie(&Session::visitor(at(0)).unwrap(), true, 0)
            .to_string();
        for part in [
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Max-Age=7200",
        ] {
            assert!(cookie.contains(part), "{cookie}");
        }
        let plain = codec
            .cookie(&Session::visitor(at(0)).unwrap(), false, 0)
            .to_string();
        assert!(!plain.contains("Secure"));
        assert!(removal_cookie(false).to_string().contains("Max-Age=0"));
    }
}
