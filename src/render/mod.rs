//! Server-side rendering: the handlebars registry (strict mode, HTML-escaping every value),
//! its helpers, the view models pages are rendered from, and the static files they link.
//!
//! Templates and static files are compiled into the binary ([`embedded`]). In development they
//! are read from disk instead and re-read on every request (handlebars' dev mode), so editing
//! a template or the stylesheet needs only a browser reload: debug builds do this when run
//! from the source tree, any build when `HOOKTRAIL_ASSETS_DIR` names a folder holding
//! `templates/` and `static/`.

pub mod email_html;
mod embedded;
pub mod format;
mod helpers;
pub mod view;

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use handlebars::Handlebars;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use handlebars::RenderError;

/// Where templates and static files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Compiled in: what release builds serve.
    Embedded,
    /// Read from `root/templates` and `root/static` on every use (development).
    Disk(PathBuf),
}

impl Origin {
    /// Disk when `HOOKTRAIL_ASSETS_DIR` is set, or in a debug build run from the source tree;
    /// embedded otherwise.
    pub fn for_this_build() -> Origin {
        if let Some(dir) = std::env::var_os("HOOKTRAIL_ASSETS_DIR") {
            return Origin::Disk(PathBuf::from(dir));
        }
        let source_tree = Path::new(env!("CARGO_MANIFEST_DIR"));
        if cfg!(debug_assertions) && source_tree.join("templates").is_dir() {
            return Origin::Disk(source_tree.to_owned());
        }
        Origin::Embedded
    }
}

#[derive(Debug, thiserror::Error)]
#[error("template {name}: {message}")]
pub struct SetupError {
    name: String,
    message: String,
}

/// A static file ready to serve.
pub struct StaticFile {
    pub content_type: &'static str,
    pub bytes: Cow<'static, [u8]>,
}

pub struct Renderer {
    registry: Handlebars<'static>,
    origin: Origin,
    /// `?v=…` appended to static URLs: a hash of the embedded content, so a new release
    /// busts caches while an unchanged file stays cached.
    static_version: String,
}

impl Renderer {
    pub fn new(origin: Origin) -> Result<Renderer, SetupError> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        helpers::register(&mut registry);
        for (name, source) in embedded::TEMPLATES {
            let registered = match &origin {
                Origin::Embedded => {
                    registry.register_template_string(name, without_indentation(source))
                }
                Origin::Disk(root) => {
                    registry.set_dev_mode(true);
                    let path = root.join("templates").join(format!("{name}.hbs"));
                    registry.register_template_file(name, path)
                }
            };
            registered.map_err(|err| SetupError {
                name: (*name).to_owned(),
                message: err.to_string(),
            })?;
        }
        let static_version = match origin {
            Origin::Embedded => content_version(),
            Origin::Disk(_) => "dev".to_owned(),
        };
        Ok(Renderer {
            registry,
            origin,
            static_version,
        })
    }

    /// Renders `template` (e.g. `pages/timeline`) with `data`. Every `{{value}}` is
    /// HTML-escaped; a template naming a field `data` lacks is an error (strict mode).
    pub fn render<T: Serialize>(&self, template: &str, data: &T) -> Result<String, RenderError> {
        self.registry.render(template, data)
    }

    /// A list of days, rendered on its own and handed to a page as HTML (see
    /// [`Renderer::render_page`] for why fragments are composed in Rust); nothing for no days.
    /// A `fragment` (a live update's few lines) leaves out the icons, which its page has.
    pub fn days(
        &self,
        days: &[view::DayGroup],
        show_subjects: bool,
        fragment: bool,
    ) -> Result<String, RenderError> {
        #[derive(Serialize)]
        struct Days<'a> {
            days: &'a [view::DayGroup],
            show_subjects: bool,
            fragment: bool,
        }
        if days.is_empty() {
            return Ok(String::new());
        }
        self.render(
            "partials/days",
            &Days {
                days,
                show_subjects,
                fragment,
            },
        )
    }

    /// Renders a page: `template` with `page`, then the layout around it with `layout`.
    ///
    /// The layout is applied by rendering twice rather than with a handlebars partial block,
    /// because handlebars clones the whole context for every partial it enters: with a
    /// 50-entry page that cloning cost more than everything else together.
    pub fn render_page<L: Serialize, P: Serialize>(
        &self,
        template: &str,
        layout: &L,
        page: &P,
    ) -> Result<String, RenderError> {
        let body = self.render(template, page)?;
        self.render_layout(layout, &body)
    }

    /// The layout around a page body rendered before (by [`Renderer::render`] of one of our
    /// templates, so already escaped).
    ///
    /// The layout is rendered around a marker that is then replaced by the body, rather than
    /// with the body in its data: handlebars would copy a body of tens of KiB into its own
    /// value tree and out again. The marker cannot come from the layout's data, where every
    /// `<` is escaped.
    pub fn render_layout<L: Serialize>(
        &self,
        layout: &L,
        body: &str,
    ) -> Result<String, RenderError> {
        #[derive(Serialize)]
        struct Frame<'a, L> {
            layout: &'a L,
            body: &'static str,
        }
        const MARKER: &str = "<hooktrail-page-body/>";
        let frame = self.render(
            "layout",
            &Frame {
                layout,
                body: MARKER,
            },
        )?;
        // A layout without its `{{{body}}}` must fail loudly, not serve empty pages.
        let (head, tail) = frame.split_once(MARKER).ok_or_else(|| {
            RenderError::from(handlebars::RenderErrorReason::Other(
                "the layout does not place the page body".to_owned(),
            ))
        })?;
        let mut page = String::with_capacity(head.len() + body.len() + tail.len());
        page.push_str(head);
        page.push_str(body);
        page.push_str(tail);
        Ok(page)
    }

    /// A value that changes when the templates change: constant for embedded templates; for
    /// templates read from disk, a hash of their files' sizes and modification times, so pages
    /// kept for reuse ([`crate::http::page_cache`]) are rendered again after an edit.
    pub fn templates_version(&self) -> u64 {
        let Origin::Disk(root) = &self.origin else {
            return 0;
        };
        let mut hasher = std::hash::DefaultHasher::new();
        for (name, _) in embedded::TEMPLATES {
            let path = root.join("templates").join(format!("{name}.hbs"));
            if let Ok(meta) = std::fs::metadata(path) {
                meta.len().hash(&mut hasher);
                meta.modified().ok().hash(&mut hasher);
            }
        }
        hasher.finish()
    }

    /// Whether templates and static files are re-read on every use.
    pub fn is_development(&self) -> bool {
        matches!(self.origin, Origin::Disk(_))
    }

    /// The URL of a static file, with its cache-busting version.
    pub fn static_url(&self, name: &str) -> String {
        format!("/static/{name}?v={}", self.static_version)
    }

    pub fn static_file(&self, name: &str) -> Option<StaticFile> {
        let (_, content_type, bytes) = embedded::STATIC_FILES
            .iter()
            .find(|(file, _, _)| *file == name)?;
        let bytes = match &self.origin {
            Origin::Embedded => Cow::Borrowed(*bytes),
            Origin::Disk(root) => Cow::Owned(std::fs::read(root.join("static").join(name)).ok()?),
        };
        Some(StaticFile {
            content_type,
            bytes,
        })
    }
}

/// Template source without each line's indentation. Templates are indented for reading; the
/// pages they render need none of it (HTML collapses the newline that stays), and on a 50-entry
/// timeline it is a sixth of the bytes every view copies. Safe because no template spreads
/// whitespace-sensitive content over several lines (a test checks). Templates read from disk
/// in development keep theirs, which changes nothing but whitespace.
fn without_indentation(source: &str) -> String {
    source
        .lines()
        .map(str::trim_start)
        .collect::<Vec<_>>()
        .join("\n")
}

fn content_version() -> String {
    let mut hash = Sha256::new();
    for (name, _, bytes) in embedded::STATIC_FILES {
        hash.update(name.as_bytes());
        hash.update(bytes);
    }
    hex::encode(&hash.finalize()[..6])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn files_under(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        for item in std::fs::read_dir(dir).unwrap() {
            let path = item.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                files_under(&path, &format!("{prefix}{name}/"), out);
            } else {
                out.push(format!("{prefix}{name}"));
            }
        }
    }

    #[test]
    fn every_file_on_disk_is_embedded_and_every_embedded_name_exists() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut templates = Vec::new();
        files_under(&root.join("templates"), "", &mut templates);
        let mut expected: Vec<String> = embedded::TEMPLATES
            .iter()
            .map(|(name, _)| format!("{name}.hbs"))
            .collect();
        templates.sort();
        expected.sort();
        assert_eq!(templates, expected);

        let mut statics = Vec::new();
        files_under(&root.join("static"), "", &mut statics);
        let mut expected: Vec<String> = embedded::STATIC_FILES
            .iter()
            .map(|(name, _, _)| (*name).to_owned())
            .collect();
        statics.sort();
        expected.sort();
        assert_eq!(statics, expected);
    }

    #[test]
    fn the_layout_places_the_body_once_and_its_marker_cannot_be_injected() {
        let mut renderer = Renderer::new(Origin::Embedded).unwrap();
        let layout = json!({"title": "<hooktrail-page-body/>", "user": null, "csrf": null,
            "css": "/c", "js": "/j", "favicon": "/f", "nav": "home", "header_jump": false,
            "timezone": "UTC"});
        let page = renderer
            .render_layout(&layout, "<main>BODY</main>")
            .unwrap();
        assert_eq!(page.matches("<main>BODY</main>").count(), 1);
        assert!(
            page.contains("&lt;hooktrail-page-body/&gt;"),
            "the title stays escaped"
        );

        renderer
            .registry
            .register_template_string("layout", "<html></html>")
            .unwrap();
        assert!(
            renderer
                .render_layout(&layout, "<main>BODY</main>")
                .is_err()
        );
    }

    #[test]
    fn whitespace_sensitive_elements_open_and_close_on_one_line() {
        // What lets `without_indentation` strip every line: nothing whose content keeps its
        // whitespace (`<pre>`, `<textarea>`, the `pre-wrap` blockquotes) spans lines.
        for (name, source) in embedded::TEMPLATES {
            for line in source.lines() {
                for tag in ["pre", "textarea", "blockquote"] {
                    let opens = line.matches(&format!("<{tag}")).count();
                    let closes = line.matches(&format!("</{tag}>")).count();
                    assert_eq!(opens, closes, "{name}: <{tag}> spans lines: {line}");
                }
            }
        }
        let stripped = without_indentation("<ol>\n  <li>\n    {{x}}\n  </li>\n</ol>\n");
        assert_eq!(stripped, "<ol>\n<li>\n{{x}}\n</li>\n</ol>");
    }

    #[test]
    fn embedded_and_disk_templates_both_load_in_strict_mode() {
        let embedded = Renderer::new(Origin::Embedded).unwrap();
        assert!(!embedded.is_development());
        assert!(embedded.static_url("hooktrail.css").contains("?v="));
        assert!(embedded.static_file("hooktrail.css").is_some());
        assert!(embedded.static_file("../Cargo.toml").is_none());
        let disk = Renderer::new(Origin::Disk(env!("CARGO_MANIFEST_DIR").into())).unwrap();
        assert!(disk.is_development());
        assert_eq!(
            disk.static_file("favicon.svg").unwrap().bytes,
            embedded.static_file("favicon.svg").unwrap().bytes
        );
        // Strict mode: a field the data lacks is an error, not an empty string.
        let missing = embedded.render("details/generic", &json!({"json": "{}"}));
        assert!(missing.is_err());
    }
}
