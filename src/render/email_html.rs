//! Email HTML arrives in webhooks, so it is hostile until proven otherwise. It is cleaned with
//! ammonia (an allow-list HTML sanitizer built on a browser-grade parser) before it reaches a
//! page: no scripts, no styles, no event handlers, no forms, no `javascript:`/`data:` URLs, no
//! relative URLs (which would point into this site), and no images.
//!
//! Images are dropped rather than proxied: loading a remote image would tell the sender that
//! the email was read — and fire the tracking pixel of our own email provider, which would
//! mark the customer's email as "opened" because a staff member looked at it. The page says
//! how many images were left out.

use std::collections::HashSet;
use std::sync::LazyLock;

use ammonia::{Builder, UrlRelative};

static SANITIZER: LazyLock<Builder<'static>> = LazyLock::new(|| {
    let mut builder = Builder::default();
    builder
        .rm_tags(["img"])
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .url_relative(UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer nofollow"))
        .set_tag_attribute_value("a", "target", "_blank");
    builder
});

/// Email HTML made safe to put on a page.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanEmail {
    pub html: String,
    /// How many `<img>` tags were left out.
    pub images_removed: usize,
}

pub fn clean(html: &str) -> CleanEmail {
    CleanEmail {
        html: SANITIZER.clean(html).to_string(),
        images_removed: count_images(html),
    }
}

/// An estimate for the page's note, not a security decision (the sanitizer makes those).
fn count_images(html: &str) -> usize {
    html.to_ascii_lowercase().matches("<img").count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_and_dangerous_urls_are_removed() {
        let dirty = r#"<p onclick="steal()">Hi <b>Ann</b></p><script>alert(1)</script>
            <a href="javascript:alert(2)">x</a><a href="data:text/html,boom">y</a>
            <a href="/logout">z</a><a href="https://example.com/proof">proof</a>
            <style>body{display:none}</style><form action="https://evil"><input></form>
            <iframe src="https://evil"></iframe><svg onload="alert(3)"></svg>
            <img src="https://tracker.example/pixel.gif" onerror="alert(4)">"#;
        let clean = clean(dirty);
        let html = clean.html.to_ascii_lowercase();
        for gone in [
            "script",
            "onclick",
            "onload",
            "onerror",
            "javascript:",
            "data:",
            "/logout",
            "<style",
            "<form",
            "<input",
            "<iframe",
            "<svg",
            "<img",
            "tracker",
        ] {
            assert!(!html.contains(gone), "{gone} survived: {html}");
        }
        assert!(html.contains("<b>ann</b>"));
        assert!(html.contains(r#"href="https://example.com/proof""#));
        assert!(html.contains("noopener"));
        assert_eq!(clean.images_removed, 1);
    }

    #[test]
    fn broken_markup_is_closed() {
        let clean = clean("<div><p>unclosed <b>bold <a href='https://x.test'>link");
        assert!(clean.html.ends_with("</a></b></p></div>"), "{}", clean.html);
    }
}
