//! Who may read: API callers with a bearer token from config (compared as sha256 hashes, in
//! constant time, against every configured token), or staff signed in to the pages (their
//! session cookie), so the pages' own links to the JSON work in the browser.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState, session};
use crate::config::{ApiToken, Role};

/// Proof that the request is authenticated; take it as a handler argument to require login.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's configured name, or the staff member's username.
    pub name: String,
    pub role: Role,
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(request))
    }
}

/// An authenticated caller with the operator role; take it as a handler argument to require
/// one. Without credentials: 401; with a staff token or session: 403.
#[derive(Debug, Clone)]
pub struct OperatorCaller(pub Caller);

impl FromRequest for OperatorCaller {
    type Error = ApiError;
    type Future = Ready<Result<OperatorCaller, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(request).and_then(|caller| match caller.role {
            Role::Operator => Ok(OperatorCaller(caller)),
            Role::Staff => Err(ApiError::Forbidden("this route is for operators")),
        }))
    }
}

fn authenticate(request: &HttpRequest) -> Result<Caller, ApiError> {
    let state = request
        .app_data::<web::Data<AppState>>()
        .ok_or(ApiError::Internal)?;
    let Some(authorization) = request.headers().get(AUTHORIZATION) else {
        // No token: a staff session will do. (Reads only; the API changes nothing, so a
        // cookie-authenticated request needs no CSRF token.)
        return session::staff(request)
            .map(|staff| Caller {
                name: staff.username,
                role: staff.role,
            })
            .ok_or(ApiError::Unauthenticated);
    };
    // A token that is presented must be valid: no falling back to the cookie.
    let token = authorization
        .to_str()
        .ok()
        .and_then(bearer_token)
        .ok_or(ApiError::Unauthenticated)?;
    match_token(&state.config.auth.api_tokens, token)
        .map(|matched| Caller {
            name: matched.name.clone(),
            role: matched.role,
        })
        .ok_or(ApiError::Unauthenticated)
}

/// The token of an `Authorization` header's value: `Bearer <token>`, the scheme in any case
/// (RFC 9110 makes it case-insensitive: `bearer` is the same scheme).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The configured token matching `token`. Every configured hash is compared, with no early
/// exit, so timing says nothing about which (or whether one) matched.
pub fn match_token<'t>(tokens: &'t [ApiToken], token: &str) -> Option<&'t ApiToken> {
    let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let mut found = None;
    for candidate in tokens {
        if bool::from(candidate.token_sha256.ct_eq(&presented)) {
            found = Some(candidate);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        for value in ["Bearer abc", "bearer abc", "BEARER  abc ", "bEaReR abc"] {
            assert_eq!(bearer_token(value), Some("abc"), "{value:?}");
        }
        for value in [
            "Bearer",
            "Bearer ",
            "Bearer   ",
            "Basic abc",
            "Bearerabc",
            "abc",
        ] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }

    #[test]
    fn tokens_match_by_hash() {
        let tokens = vec![
            ApiToken {
                name: "a".into(),
                token_sha256: Sha256::digest(b"alpha").into(),
                role: Role::Staff,
            },
            ApiToken {
                name: "b".into(),
                token_sha256: Sha256::digest(b"bravo").into(),
                role: Role::Operator,
            },
        ];
        let matched = match_token(&tokens, "bravo").unwrap();
        assert_eq!((matched.name.as_str(), matched.role), ("b", Role::Operator));
        assert!(match_token(&tokens, "charlie").is_none());
        assert!(match_token(&[], "alpha").is_none());
    }
}
