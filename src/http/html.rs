//! What every staff page shares: the layout's data, the navigation, HTML responses and
//! redirects, and where signing in sends people. It depends on no other page module, so the
//! pages, the login, the sessions and the error pages can all use it without a circle.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, CacheControl, CacheDirective};
use serde::Serialize;

use super::AppState;
use crate::config::Role;
use crate::render::view::encode_query_value;

/// A signed-in staff member. As a page handler's argument it requires signing in (see
/// [`super::session`]): without one, the page redirects to `/login?next=<this page>`.
#[derive(Debug, Clone)]
pub struct Staff {
    pub username: String,
    pub csrf: String,
    pub role: Role,
}

impl Staff {
    /// Whether a submitted form carries this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, submitted: &str) -> bool {
        crate::crypto::token_matches(&self.csrf, submitted)
    }
}

/// A signed-in operator. As a page handler's argument it requires the operator role: staff
/// get a 403 page, and a signed-out visitor goes to sign in first.
#[derive(Debug, Clone)]
pub struct Operator(pub Staff);

/// Which navigation item a page belongs to.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Nav {
    Home,
    Timeline,
    Unmatched,
    Search,
    /// The operator console (`/admin`).
    Admin,
    Login,
    Error,
    /// A timeline inside the business app: no header, nothing that needs a session.
    Embed,
}

/// What the layout template needs on every page.
#[derive(Debug, Serialize)]
pub struct Layout {
    title: String,
    user: Option<String>,
    /// Whether the navigation offers the operator console.
    operator: bool,
    /// For the sign-out form.
    csrf: Option<String>,
    css: String,
    js: String,
    favicon: String,
    nav: Nav,
    /// Whether the header carries the jump box (pages that show their own do not).
    header_jump: bool,
    timezone: String,
}

impl Layout {
    pub fn new(
        state: &AppState,
        title: &str,
        nav: Nav,
        staff: Option<&Staff>,
        header_jump: bool,
    ) -> Layout {
        let renderer = &state.renderer;
        Layout {
            title: title.to_owned(),
            user: staff.map(|s| s.username.clone()),
            operator: staff.is_some_and(|s| s.role == Role::Operator),
            csrf: staff.map(|s| s.csrf.clone()),
            css: renderer.static_url("hooktrail.css"),
            js: renderer.static_url("hooktrail.js"),
            favicon: renderer.static_url("favicon.svg"),
            nav,
            header_jump,
            timezone: state.config.display.timezone.name().to_owned(),
        }
    }
}

/// An HTML page. Pages show customer data, so no cache (shared or the browser's disk) keeps
/// them: the back button after signing out on a shared shop computer shows nothing.
pub fn html_response(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .body(body)
}

pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// `/login?next=…` for a page that needs signing in.
pub fn login_url(next: &str) -> String {
    let next = safe_next(Some(next));
    if next == "/" {
        "/login".to_owned()
    } else {
        format!("/login?next={}", encode_query_value(&next))
    }
}

/// Where to go after signing in: a path on this site, never another site (`//evil.test`,
/// `/\evil.test` and absolute URLs are refused), and never back to the login itself.
pub fn safe_next(next: Option<&str>) -> String {
    let Some(next) = next.map(str::trim) else {
        return "/".to_owned();
    };
    let same_site_path = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && next.len() <= 2048;
    let loops = next == "/login" || next.starts_with("/login?") || next.starts_with("/logout");
    if same_site_path && !loops {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(
            safe_next(Some("/jobs/1?category=workflow")),
            "/jobs/1?category=workflow"
        );
        for unsafe_next in [
            "https://evil.test/",
            "//evil.test",
            "/\\evil.test",
            "evil",
            "javascript:alert(1)",
            "/login",
            "/login?next=/x",
            "/logout",
            "/jobs/1\r\nSet-Cookie: x",
        ] {
            assert_eq!(safe_next(Some(unsafe_next)), "/", "{unsafe_next:?}");
        }
        assert_eq!(safe_next(None), "/");
        assert_eq!(login_url("/"), "/login");
        assert_eq!(
            login_url("/jobs/7?category=workflow"),
            "/login?next=%2Fjobs%2F7%3Fcategory%3Dworkflow"
        );
    }
}
