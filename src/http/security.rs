//! Security headers on every response, pages, API and errors alike.
//!
//! The Content-Security-Policy allows scripts, styles and images from this origin only — no
//! inline script or style at all, so even markup that slipped past escaping and sanitizing
//! could not run or load anything — and no framing (clickjacking).

use actix_web::middleware::DefaultHeaders;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// Adds the headers to every response that does not set them itself.
pub fn headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Content-Type-Options", "nosniff"))
        // Job URLs do not leak to the sites that email links point to.
        .add(("Referrer-Policy", "same-origin"))
        // For browsers that predate frame-ancestors.
        .add(("X-Frame-Options", "DENY"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
}
