//! Templates and static files compiled into the binary, so a release build needs nothing
//! beside it. The names are listed once, here; a test checks the lists against the folders.

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$((
            $name,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $name, ".hbs")),
        )),*]
    };
}

macro_rules! static_files {
    ($(($name:literal, $content_type:literal)),* $(,)?) => {
        &[$((
            $name,
            $content_type,
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/static/", $name)).as_slice(),
        )),*]
    };
}

/// (name, source): `pages/timeline` is `templates/pages/timeline.hbs`.
pub const TEMPLATES: &[(&str, &str)] = templates![
    "layout",
    "pages/admin/alerts",
    "pages/admin/deliveries",
    "pages/admin/evidence",
    "pages/admin/delivery",
    "pages/admin/renormalize",
    "pages/admin/sources",
    "pages/error",
    "pages/home",
    "pages/login",
    "pages/search",
    "pages/timeline",
    "pages/unmatched",
    "partials/days",
    "partials/jump",
    "partials/live",
    "partials/time",
    "details/accounting_event",
    "details/accounting_sync",
    "details/artwork",
    "details/automation",
    "details/email",
    "details/email_event",
    "details/generic",
    "details/invoice",
    "details/job",
    "details/note",
    "details/notification",
    "details/payment",
    "details/proof",
    "details/purchase_order",
    "details/salesdoc",
    "details/status",
];

/// (file name, content type, bytes), served under `/static/`.
pub const STATIC_FILES: &[(&str, &str, &[u8])] = static_files![
    ("hooktrail.css", "text/css; charset=utf-8"),
    ("hooktrail.js", "text/javascript; charset=utf-8"),
    ("favicon.svg", "image/svg+xml"),
];
