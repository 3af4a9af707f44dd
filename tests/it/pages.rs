//! The staff pages over real HTTP, read as HTML: sign-in, CSRF, structure, day grouping, order,
//! filters, pagination, the home and unmatched pages, and hostile webhook content.

use crate::common;

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use common::{
    Answer, Browser, STAFF_PASSWORD, STAFF_USER, TOKEN, TestGateway, event, post_job_story,
    staff_users, status_changed,
};
use hooktrail::activity::details::{AccountingEvent, EmailEvent, EmailStatus};
use hooktrail::activity::{
    Actor, ActorKind, Category, Details, EntryKind, NewEntry, Normalized, Outcome, Subject,
};
use hooktrail::store::Capture;
use hooktrail::store::prelude::*;
use hooktrail::store::redb::RedbStore;
use scraper::{ElementRef, Html, Selector};
use serde_json::json;

const CHICAGO: &str = "\n[display]\ntimezone = \"America/Chicago\"\n";

async fn gateway_with_staff(extra: &str) -> TestGateway {
    TestGateway::start_with(&format!("{}{extra}", staff_users()), None).await
}

async fn signed_in(gateway: &TestGateway) -> Browser {
    let mut browser = Browser::new(&gateway.client.base);
    browser.sign_in().await;
    browser
}

pub fn select<'a>(html: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
    let selector = Selector::parse(css).expect("selector");
    html.select(&selector).collect()
}

pub fn texts(html: &Html, css: &str) -> Vec<String> {
    select(html, css)
        .into_iter()
        .map(|element| {
            element
                .text()
                .collect::<String>()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

pub fn attrs(html: &Html, css: &str, attr: &str) -> Vec<String> {
    select(html, css)
        .into_iter()
        .filter_map(|element| element.value().attr(attr).map(str::to_owned))
        .collect()
}

fn kinds(html: &Html) -> Vec<String> {
    attrs(html, "li.entry", "data-kind")
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("time")
}

/// Appends entries straight to a store, for what no configured source produces yet
/// (provider callbacks, unmatched entries).
fn seed(store: &RedbStore, id: &str, entries: Vec<NewEntry>) {
    let capture = Capture::new(
        "seed",
        Utc::now(),
        Vec::new(),
        Bytes::from(id.to_owned()),
        Normalized {
            delivery_id: Some(id.to_owned()),
            entries,
            outcome: Outcome::Normalized,
        },
    );
    store.append(&[capture]).expect("seed");
}

fn callback_entry(subjects: Vec<Subject>, text: &str, occurred: &str) -> Vec<NewEntry> {
    let email_event = NewEntry {
        kind: EntryKind::new("email.bounced").unwrap(),
        category: Category::Communication,
        occurred_at: at(occurred),
        actor: Actor {
            kind: ActorKind::Integration,
            id: None,
            name: text.to_owned(),
        },
        subjects: subjects.clone(),
        summary: format!("Email bounced: {text}"),
        details: Details::EmailEvent {
            event: EmailEvent {
                provider: text.to_owned(),
                status: EmailStatus::Bounced,
                provider_event: text.to_owned(),
                recipient: Some(text.to_owned()),
                provider_message_id: Some(text.to_owned()),
                message_id: Some(text.to_owned()),
                subject: Some(text.to_owned()),
                reason: Some(text.to_owned()),
                url: None,
            },
        },
        event_id: Some(format!("e1-{occurred}")),
        correlation: vec![format!("email:sendgrid:{text}")],
    };
    let accounting = NewEntry {
        kind: EntryKind::new("quickbooks.invoice.updated").unwrap(),
        category: Category::Accounting,
        details: Details::AccountingEvent {
            event: AccountingEvent {
                platform: text.to_owned(),
                account_id: Some(text.to_owned()),
                entity: text.to_owned(),
                entity_id: text.to_owned(),
                operation: text.to_owned(),
                number: Some(text.to_owned()),
                amount: None,
                currency: Some(text.to_owned()),
                status: Some(text.to_owned()),
            },
        },
        summary: format!("Invoice updated: {text}"),
        event_id: Some(format!("e2-{occurred}")),
        correlation: vec![format!("quickbooks:1:Invoice:{text}")],
        ..email_event.clone()
    };
    vec![email_event, accounting]
}

/// An `email.sent` through SendGrid on `subject` at 10:00, establishing the link its callbacks
/// resolve through.
fn email_sent(subject: &str, provider_message_id: &str, email_subject: &str) -> NewEntry {
    let mut base = callback_entry(vec![subject.parse().unwrap()], "x", "2026-03-04T10:00:00Z");
    NewEntry {
        kind: EntryKind::new("email.sent").unwrap(),
        summary: "Email sent".into(),
        details: Details::Email {
            message: hooktrail::activity::details::EmailMessage {
                provider: Some("sendgrid".into()),
                provider_message_id: Some(provider_message_id.into()),
                subject: Some(email_subject.into()),
                ..Default::default()
            },
        },
        correlation: Vec::new(),
        event_id: Some(format!("sent-{provider_message_id}")),
        ..base.remove(0)
    }
}

/// SendGrid's `delivered` callback for that email at 10:05, naming no subject.
fn delivered(provider_message_id: &str) -> NewEntry {
    let mut entry =
        callback_entry(Vec::new(), provider_message_id, "2026-03-04T10:05:00Z").remove(0);
    entry.kind = EntryKind::new("email.delivered").unwrap();
    if let Details::EmailEvent { event } = &mut entry.details {
        event.status = EmailStatus::Delivered;
        event.reason = None;
        event.provider = "sendgrid".into();
    }
    entry
}

// ---------------------------------------------------------------------------------------------
// Signing in

#[actix_web::test]
async fn pages_redirect_to_login_the_api_answers_401_and_hooks_stay_open() {
    let mut gateway = gateway_with_staff("").await;
    let mut anonymous = Browser::new(&gateway.client.base);
    for (path, next) in [
        ("/", "/login"),
        ("/jobs/1042", "/login?next=%2Fjobs%2F1042"),
        (
            "/jobs/1042?category=workflow",
            "/login?next=%2Fjobs%2F1042%3Fcategory%3Dworkflow",
        ),
        ("/unmatched", "/login?next=%2Funmatched"),
        ("/go?id=7", "/login?next=%2Fgo%3Fid%3D7"),
    ] {
        let answer = anonymous.get(path).await;
        assert_eq!(answer.status, 303, "{path}");
        assert_eq!(answer.location(), Some(next), "{path}");
    }
    for path in ["/api/v1/unmatched", "/api/v1/subjects/job/1/entries"] {
        let answer = anonymous.get(path).await;
        assert_eq!(answer.status, 401, "{path}");
        assert_eq!(answer.headers["content-type"], "application/problem+json");
    }
    assert_eq!(anonymous.get("/healthz").await.status, 200);
    assert_eq!(anonymous.get("/readyz").await.status, 200);
    let css = anonymous.get("/static/hooktrail.css").await;
    assert_eq!(css.status, 200);
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(css.headers.contains_key("cache-control"));
    let hook = gateway
        .client
        .post_signed(&status_changed("1", "Done", "2026-03-04T10:00:00Z"))
        .await;
    assert_eq!(hook.status(), 200, "webhooks need no session");
    gateway.stop().await;
}

#[actix_web::test]
async fn signing_in_returns_to_the_page_asked_for_and_the_api_accepts_the_session() {
    let mut gateway = gateway_with_staff("").await;
    post_job_story(&gateway.client, "1042").await;
    let mut browser = Browser::new(&gateway.client.base);

    let redirect = browser.get("/jobs/1042?category=accounting").await;
    let login = browser.get(redirect.location().unwrap()).await;
    assert_eq!(login.status, 200);
    let html = login.html();
    assert_eq!(
        attrs(&html, "input[name=next]", "value"),
        ["/jobs/1042?category=accounting"]
    );
    let cookie = login.headers["set-cookie"].to_str().unwrap().to_owned();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: no Secure flag");
    // Labelled controls.
    for id in ["username", "password"] {
        assert_eq!(select(&html, &format!("label[for={id}]")).len(), 1);
    }

    let csrf = Browser::csrf_of(&login);
    let signed_in = browser
        .post_form(
            "/login",
            &[
                ("username", STAFF_USER),
                ("password", STAFF_PASSWORD),
                ("csrf", &csrf),
                ("next", "/jobs/1042?category=accounting"),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303);
    assert_eq!(signed_in.location(), Some("/jobs/1042?category=accounting"));
    let page = browser.get("/jobs/1042?category=accounting").await;
    assert_eq!(page.status, 200);
    assert_eq!(texts(&page.html(), ".who"), [STAFF_USER]);
    assert!(
        browser.post_form("/login", &[]).await.status == 403,
        "a form without its token is refused even when signed in"
    );

    // The same session reads the API (the pages link to each entry's JSON).
    let api = browser.get("/api/v1/subjects/job/1042/entries").await;
    assert_eq!(api.status, 200, "{}", api.body);
    assert_eq!(browser.get("/api/v1/unmatched").await.status, 200);
    // A presented token must itself be valid: no falling back to the cookie.
    let wrong_token = reqwest::Client::new()
        .get(format!("{}/api/v1/unmatched", gateway.client.base))
        .header("cookie", browser.cookie.clone().unwrap())
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_token.status(), 401);
    let (status, _) = gateway.client.get("/api/v1/unmatched").await;
    assert_eq!(status, 200, "bearer tokens still work ({TOKEN})");
    gateway.stop().await;
}

#[actix_web::test]
async fn next_never_leaves_the_site() {
    let mut gateway = gateway_with_staff("").await;
    for next in ["https://evil.example/", "//evil.example", "/\\evil.example"] {
        let mut browser = Browser::new(&gateway.client.base);
        let form = browser.get("/login").await;
        let csrf = Browser::csrf_of(&form);
        let answer = browser
            .post_form(
                "/login",
                &[
                    ("username", STAFF_USER),
                    ("password", STAFF_PASSWORD),
                    ("csrf", &csrf),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(answer.location(), Some("/"), "{next}");
    }
    gateway.stop().await;
}

#[actix_web::test]
async fn signing_out_needs_the_token_and_ends_the_session() {
    let mut gateway = gateway_with_staff("").await;
    let mut browser = signed_in(&gateway).await;
    let home = browser.get("/").await;
    assert_eq!(home.status, 200);
    let csrf = Browser::csrf_of(&home);

    let forged = browser.post_form("/logout", &[("csrf", "guess")]).await;
    assert_eq!(forged.status, 403);
    assert!(forged.body.contains("This form has expired"));
    assert_eq!(browser.get("/").await.status, 200, "still signed in");

    let out = browser.post_form("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), Some("/login?signed_out=1"));
    assert!(browser.cookie.is_none(), "the cookie was removed");
    assert_eq!(browser.get("/").await.status, 303);
    let notice = browser.get("/login?signed_out=1").await;
    assert_eq!(texts(&notice.html(), ".notice"), ["You have signed out."]);
    gateway.stop().await;
}

#[actix_web::test]
async fn login_forms_without_their_session_token_are_refused() {
    let mut gateway = gateway_with_staff("").await;
    let credentials = |csrf: &'static str| {
        [
            ("username", STAFF_USER),
            ("password", STAFF_PASSWORD),
            ("csrf", csrf),
        ]
    };

    // No session cookie at all: a post from another site, without our cookie.
    let mut stranger = Browser::new(&gateway.client.base);
    let answer = stranger.post_form("/login", &credentials("anything")).await;
    assert_eq!(answer.status, 403);

    // A session, but a missing token, or another session's.
    let mut victim = Browser::new(&gateway.client.base);
    victim.get("/login").await;
    let mut attacker = Browser::new(&gateway.client.base);
    let attackers_form = attacker.get("/login").await;
    let attackers_token: &'static str = Browser::csrf_of(&attackers_form).leak();
    for csrf in ["", attackers_token] {
        let answer = victim.post_form("/login", &credentials(csrf)).await;
        assert_eq!(answer.status, 403);
        assert!(answer.body.contains("This sign-in form had expired"));
    }
    assert_eq!(victim.get("/").await.status, 303, "not signed in");

    // Refusing a forged post signs nobody out.
    let mut staff = signed_in(&gateway).await;
    let answer = staff.post_form("/login", &credentials("forged")).await;
    assert_eq!(answer.status, 403);
    assert_eq!(staff.get("/").await.status, 200);
    gateway.stop().await;
}

#[actix_web::test]
async fn wrong_passwords_are_refused_and_repeated_failures_must_wait() {
    let mut gateway = gateway_with_staff("").await;
    let mut browser = Browser::new(&gateway.client.base);
    let form = browser.get("/login").await;
    let csrf = Browser::csrf_of(&form);
    for _ in 0..5 {
        let answer = browser
            .post_form(
                "/login",
                &[
                    ("username", STAFF_USER),
                    ("password", "hunter2"),
                    ("csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(answer.status, 401);
        let html = answer.html();
        assert_eq!(
            texts(&html, ".alert"),
            ["That username and password do not match."]
        );
        assert_eq!(attrs(&html, "#username", "value"), [STAFF_USER]);
    }
    // The sixth must wait, even with the right password.
    let answer = browser
        .post_form(
            "/login",
            &[
                ("username", STAFF_USER),
                ("password", STAFF_PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(answer.status, 429);
    assert!(answer.headers.contains_key("retry-after"));
    assert!(answer.body.contains("Too many failed sign-ins"));
    // Unknown usernames fail like wrong passwords.
    let unknown = browser
        .post_form(
            "/login",
            &[("username", "nobody"), ("password", "x"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(unknown.status, 401);
    gateway.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Timelines

#[actix_web::test]
async fn a_timeline_is_newest_first_grouped_by_local_day_with_every_detail() {
    let mut gateway = gateway_with_staff(CHICAGO).await;
    post_job_story(&gateway.client, "1042").await;
    let mut browser = signed_in(&gateway).await;
    let page = browser.get("/jobs/1042").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.headers["cache-control"], "no-store");
    let html = page.html();

    assert_eq!(texts(&html, "h1"), ["Job #1042"]);
    assert_eq!(texts(&html, ".subtitle"), ["Business cards · Acme Coffee"]);
    assert_eq!(
        texts(&html, "title"),
        ["Job #1042 — Business cards · Acme Coffee · Hooktrail"]
    );
    // 01:30 UTC on March 4 is the evening of March 3 in Chicago.
    let days: Vec<String> = attrs(&html, ".day-heading time", "datetime");
    assert_eq!(days, ["2026-03-04", "2026-03-03", "2026-03-02"]);
    let headings = texts(&html, ".day-heading");
    assert!(
        headings[0].starts_with("Wednesday, March 4"),
        "{headings:?}"
    );
    assert_eq!(
        kinds(&html),
        [
            "shipment.label_created",
            "status.changed",
            "purchase_order.sent",
            "automation.triggered",
            "invoice.sent_to_accounting",
            "invoice.created",
            "email.sent",
            "proof.rejected",
            "artwork.uploaded",
            "job.created",
        ]
    );
    let march_3 = select(&html, "section.day")[1];
    let invoice_day: Vec<&str> = march_3
        .select(&Selector::parse("li.entry").unwrap())
        .filter_map(|li| li.value().attr("data-kind"))
        .collect();
    assert!(invoice_day.contains(&"invoice.created"));

    // Each entry: one line with icon, summary, actor and time, and one expandable detail.
    for entry in select(&html, "li.entry") {
        let one = |css: &str| entry.select(&Selector::parse(css).unwrap()).count();
        assert_eq!(one(":scope > details > summary"), 1);
        assert_eq!(one("summary .entry-icon svg.icon"), 1);
        assert_eq!(one("summary .entry-summary"), 1);
        assert_eq!(one("summary .actor"), 1);
        assert_eq!(one("summary time[datetime][title]"), 1);
        assert_eq!(one(".entry-detail"), 1);
        let class = entry.value().attr("class").unwrap();
        let category = entry.value().attr("data-category").unwrap();
        assert!(class.contains(&format!("cat-{category}")));
    }
    let first_time = select(&html, "li.entry summary time")[0];
    assert_eq!(
        first_time.value().attr("datetime"),
        Some("2026-03-04T19:00:00Z")
    );
    assert_eq!(
        first_time.value().attr("title"),
        Some("Wed, Mar 4, 2026, 1:00:00 PM CST")
    );

    let detail =
        |kind: &str| texts(&html, &format!("li[data-kind='{kind}'] .entry-detail"))[0].clone();
    assert!(detail("invoice.created").contains("$1,284.50"));
    assert!(detail("purchase_order.sent").contains("€312.40"));
    assert!(detail("purchase_order.sent").contains("Mohawk Paper"));
    let sync = detail("invoice.sent_to_accounting");
    assert!(sync.contains("QuickBooks") && sync.contains("9130") && sync.contains("187"));
    assert_eq!(
        texts(&html, "li[data-kind='proof.rejected'] blockquote"),
        ["Logo is blurry"]
    );
    assert!(detail("proof.rejected").contains("Rejected"));
    assert_eq!(
        attrs(
            &html,
            "li[data-kind='artwork.uploaded'] .file-name a",
            "href"
        ),
        ["https://files.example.com/cards.pdf"]
    );
    assert!(detail("artwork.uploaded").contains("2.4 MB"));
    assert_eq!(
        texts(&html, "li[data-kind='automation.triggered'] .actions li"),
        ["Tag RUSH", "Notify production"]
    );
    let change = detail("status.changed");
    assert!(change.contains("Proofing") && change.contains("Printing"));
    let email = detail("email.sent");
    for part in [
        "Your proof is ready",
        "orders@shop.example",
        "maria@acme.example",
        "boss@acme.example",
        "Tue, Mar 3, 2026, 9:00:00 AM CST",
        "1 image(s) not shown",
    ] {
        assert!(email.contains(part), "{part} in {email}");
    }
    assert_eq!(
        texts(&html, "li[data-kind='email.sent'] .email-body b"),
        ["your proof"]
    );
    let generic = texts(&html, "li[data-kind='shipment.label_created'] pre.json")[0].clone();
    assert!(generic.contains("\"carrier\": \"UPS\""), "{generic}");

    // The same moments grouped in UTC: the invoice moves to March 4.
    let mut utc = gateway_with_staff("").await;
    post_job_story(&utc.client, "1042").await;
    let mut utc_browser = signed_in(&utc).await;
    let utc_html = utc_browser.get("/jobs/1042").await.html();
    let march_4: Vec<String> = select(&utc_html, "section.day")[0]
        .select(&Selector::parse("li.entry").unwrap())
        .filter_map(|li| li.value().attr("data-kind").map(str::to_owned))
        .collect();
    assert!(march_4.contains(&"invoice.created".to_owned()));
    utc.stop().await;
    gateway.stop().await;
}

#[actix_web::test]
async fn email_delivery_status_and_provider_callbacks_show_on_the_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(&dir.path().join("seeded.redb")).unwrap());
    // An email.sent establishing the link the callback below resolves through.
    seed(&store, "d1", vec![email_sent("job:77", "sg-77", "Invoice")]);
    seed(&store, "d2", vec![delivered("sg-77")]);

    let extra = format!("{}{CHICAGO}", staff_users());
    let mut gateway =
        TestGateway::start_with(&extra, Some(hooktrail::store::Storage::new(store.clone()))).await;
    let mut browser = signed_in(&gateway).await;
    // The callback found its email: it is told by the email's line (its mark) and details
    // (its history), not as a line of its own.
    let html = browser.get("/jobs/77").await.html();
    assert_eq!(kinds(&html), ["email.sent"]);
    assert_eq!(
        texts(&html, "li[data-kind='email.sent'] summary .mark"),
        ["✓ Delivered"]
    );
    assert_eq!(
        texts(&html, "li[data-kind='email.sent'] .delivery h3 .badge"),
        ["delivered"]
    );
    let toggle = attrs(&html, ".view-toggle a", "href");
    assert_eq!(toggle, ["/jobs/77?callbacks=shown"]);
    let html = browser.get(&toggle[0]).await.html();
    assert_eq!(kinds(&html), ["email.delivered", "email.sent"]);
    assert_eq!(
        attrs(&html, ".view-toggle a", "href"),
        ["/jobs/77"],
        "and back"
    );
    assert_eq!(
        texts(
            &html,
            "li[data-kind='email.sent'] .delivery-history li .badge"
        ),
        ["delivered"]
    );
    let callback = texts(&html, "li[data-kind='email.delivered'] .entry-detail")[0].clone();
    assert!(
        callback.contains("delivered") && callback.contains("SendGrid"),
        "{callback}"
    );
    gateway.stop().await;
}

/// Timelines are kept after rendering and reused: whatever arrives afterwards — a new event, a
/// late one, an email's delivery callback — must show on the next view all the same, and the
/// kept part must never carry one person's session into another's page.
#[actix_web::test]
async fn a_timeline_seen_before_shows_everything_that_arrives_after() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(&dir.path().join("kept.redb")).unwrap());
    seed(&store, "d1", vec![email_sent("job:88", "sg-88", "Proof")]);
    let mut gateway = TestGateway::start_with(
        &staff_users(),
        Some(hooktrail::store::Storage::new(store.clone())),
    )
    .await;
    let mut browser = signed_in(&gateway).await;

    let first = browser.get("/jobs/88").await.html();
    assert_eq!(kinds(&first), ["email.sent"]);
    assert!(texts(&first, "li[data-kind='email.sent'] .delivery h3 .badge").is_empty());
    // Seen twice: the same page.
    let again = browser.get("/jobs/88").await.html();
    assert_eq!(texts(&again, "ol.entries"), texts(&first, "ol.entries"));

    // A newer event, then a late one that belongs between.
    let newer = status_changed("88", "Printing", "2026-03-04T12:00:00Z");
    assert_eq!(gateway.client.post_signed(&newer).await.status(), 200);
    assert_eq!(
        kinds(&browser.get("/jobs/88").await.html()),
        ["status.changed", "email.sent"]
    );
    let late = event(
        "proof.approved",
        "2026-03-04T11:00:00Z",
        json!({"subject": {"kind": "job", "id": "88"}, "proof_id": "p1",
               "actor": {"kind": "customer", "name": "Maria"}}),
    );
    assert_eq!(gateway.client.post_signed(&late).await.status(), 200);
    assert_eq!(
        kinds(&browser.get("/jobs/88").await.html()),
        ["status.changed", "proof.approved", "email.sent"]
    );
    // A filtered view seen before the change is renewed too.
    let emails = "/jobs/88?category=communication";
    assert_eq!(kinds(&browser.get(emails).await.html()), ["email.sent"]);

    // The delivery callback names no subject: it reaches the job through the email's link,
    // and the email's status on the page follows.
    seed(&store, "d2", vec![delivered("sg-88")]);
    let page = browser.get("/jobs/88").await.html();
    assert_eq!(
        texts(&page, "li[data-kind='email.sent'] .delivery h3 .badge"),
        ["delivered"]
    );
    let emails_now = browser.get(emails).await.html();
    assert_eq!(kinds(&emails_now), ["email.sent"]);
    let with_callbacks = browser
        .get("/jobs/88?category=communication&callbacks=shown")
        .await
        .html();
    assert_eq!(kinds(&with_callbacks), ["email.delivered", "email.sent"]);

    // Another session gets the same timeline inside its own layout.
    let mut other = signed_in(&gateway).await;
    let theirs = other.get("/jobs/88").await;
    let mine = browser.get("/jobs/88").await;
    assert_eq!(
        texts(&theirs.html(), "ol.entries"),
        texts(&mine.html(), "ol.entries")
    );
    assert_ne!(Browser::csrf_of(&theirs), Browser::csrf_of(&mine));
    gateway.stop().await;
}

#[actix_web::test]
async fn filters_and_older_pages_keep_each_others_state() {
    let mut gateway = gateway_with_staff("").await;
    for minute in 0..60 {
        let at = format!("2026-03-04T10:{minute:02}:00Z");
        let body = status_changed("7", &format!("S{minute}"), &at);
        assert_eq!(gateway.client.post_signed(&body).await.status(), 200);
    }
    for (number, at) in [("A", "2026-03-04T09:00:00Z"), ("B", "2026-03-04T09:30:00Z")] {
        let body = event(
            "invoice.created",
            at,
            json!({"subject": {"kind": "job", "id": "7"}, "invoice": {"number": number, "total": "5", "currency": "USD"}}),
        );
        assert_eq!(gateway.client.post_signed(&body).await.status(), 200);
    }
    let mut browser = signed_in(&gateway).await;

    let first = browser.get("/jobs/7").await.html();
    assert_eq!(select(&first, "li.entry").len(), 50);
    assert_eq!(
        attrs(&first, ".chip[aria-current]", "href"),
        ["/jobs/7"],
        "All is active"
    );
    let older = attrs(&first, ".pager a[rel=next]", "href");
    assert_eq!(older.len(), 1);
    assert!(older[0].starts_with("/jobs/7?before="), "{older:?}");
    assert!(attrs(&first, ".pager a.button-quiet", "href").is_empty());
    // Each chip counts the lines it leads to, whatever page is shown.
    assert_eq!(
        texts(&first, ".chip")[..4],
        [
            "All: 62",
            "Workflow: 60",
            "Communication: 0",
            "Accounting: 2"
        ]
    );
    assert_eq!(attrs(&first, ".chip-all .chip-count", "data-count"), ["62"]);
    // An empty chip is quieter, and its exact zero can still grow live.
    assert_eq!(
        attrs(
            &first,
            ".chip-communication.chip-empty .chip-count",
            "data-count"
        ),
        ["0"]
    );

    let second = browser.get(&older[0]).await.html();
    assert_eq!(
        select(&second, "li.entry").len(),
        12,
        "10 status changes and 2 invoices"
    );
    assert!(
        attrs(&second, ".pager a[rel=next]", "href").is_empty(),
        "the last page"
    );
    assert_eq!(attrs(&second, ".pager a.button-quiet", "href"), ["/jobs/7"]);
    // The chips keep the position...
    let cursor = older[0].trim_start_matches("/jobs/7?before=");
    let chips = attrs(&second, ".chip", "href");
    assert!(
        chips
            .iter()
            .all(|href| href.contains(&format!("before={cursor}"))),
        "{chips:?}"
    );
    let accounting_here = chips
        .iter()
        .find(|href| href.contains("category=accounting"))
        .unwrap()
        .clone();
    let filtered = browser.get(&accounting_here).await.html();
    assert_eq!(
        attrs(&filtered, "li.entry", "data-category"),
        ["accounting", "accounting"]
    );
    assert_eq!(
        attrs(&filtered, ".chip[aria-current]", "href"),
        [accounting_here]
    );

    // ...and "Older" keeps the filter.
    let workflow = browser.get("/jobs/7?category=workflow").await.html();
    assert_eq!(select(&workflow, "li.entry").len(), 50);
    let older_workflow = attrs(&workflow, ".pager a[rel=next]", "href");
    assert!(older_workflow[0].starts_with("/jobs/7?category=workflow&before="));
    let rest = browser.get(&older_workflow[0]).await.html();
    assert_eq!(select(&rest, "li.entry").len(), 10);
    assert_eq!(
        attrs(&rest, ".pager a.button-quiet", "href"),
        ["/jobs/7?category=workflow"]
    );

    // An empty filter says so kindly, and offers the way back.
    let none = browser.get("/jobs/7?category=purchasing").await;
    assert_eq!(none.status, 200);
    let none = none.html();
    assert_eq!(
        texts(&none, ".empty-title"),
        ["No purchasing activity on this job yet"]
    );
    assert_eq!(attrs(&none, ".empty a", "href"), ["/jobs/7"]);

    for bad in ["/jobs/7?category=gossip", "/jobs/7?before=garbage"] {
        let answer = browser.get(bad).await;
        assert_eq!(answer.status, 400, "{bad}");
        assert_eq!(
            texts(&answer.html(), "h1"),
            ["That link does not look right"]
        );
    }
    gateway.stop().await;
}

#[actix_web::test]
async fn a_query_or_form_a_page_cannot_read_gets_the_friendly_error_page() {
    let mut gateway = gateway_with_staff("").await;
    let mut browser = signed_in(&gateway).await;
    for path in [
        "/jobs/1042?category=workflow&category=system",
        "/unmatched?before=1&before=2",
    ] {
        let answer = browser.get(path).await;
        assert_eq!(answer.status, 400, "{path}: {}", answer.body);
        assert_eq!(answer.headers["content-type"], "text/html; charset=utf-8");
        let html = answer.html();
        assert_eq!(
            texts(&html, ".who"),
            [STAFF_USER],
            "{path}: the page keeps its header"
        );
    }
    // A sign-in form that is not a form.
    let refused = reqwest::Client::new()
        .post(format!("{}/login", gateway.client.base))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    gateway.stop().await;
}

#[actix_web::test]
async fn unknown_ids_and_routes_get_friendly_404_pages() {
    let mut gateway = gateway_with_staff("").await;
    let mut browser = signed_in(&gateway).await;
    let unknown = browser.get("/jobs/9999").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.headers["content-type"], "text/html; charset=utf-8");
    let html = unknown.html();
    assert_eq!(texts(&html, "h1"), ["No activity for job 9999 yet"]);
    assert_eq!(
        texts(&html, ".who"),
        [STAFF_USER],
        "the page keeps its header"
    );
    assert_eq!(
        select(&html, "form.jump").len(),
        1,
        "and offers the jump box"
    );

    let nowhere = browser.get("/no/such/page").await;
    assert_eq!(nowhere.status, 404);
    assert_eq!(texts(&nowhere.html(), "h1"), ["There is no page here"]);
    let api = browser.get("/api/v1/nothing").await;
    assert_eq!(api.status, 404);
    assert_eq!(api.headers["content-type"], "application/problem+json");
    gateway.stop().await;
}

#[actix_web::test]
async fn the_jump_box_opens_jobs_and_salesdocs_by_id() {
    let mut gateway = gateway_with_staff("").await;
    let mut browser = signed_in(&gateway).await;
    // The jump box opens what Hooktrail has heard of (anything else is searched for: see the
    // search tests), so each subject below has some history first.
    for (kind, id) in [
        ("job", "1042"),
        ("salesdoc", "Q-7"),
        ("salesdoc", "Q-9"),
        ("job", "A/B C"),
    ] {
        let body = event(
            "status.changed",
            "2026-03-04T10:00:00Z",
            json!({"subject": {"kind": kind, "id": id}, "to": "Done"}),
        );
        assert_eq!(gateway.client.post_signed(&body).await.status(), 200);
    }
    for (query, location) in [
        ("?kind=job&id=1042", "/jobs/1042"),
        ("?kind=salesdoc&id=%20Q-7%20", "/salesdocs/Q-7"),
        ("?kind=job&id=%231042", "/jobs/1042"),
        ("?kind=job&id=salesdoc%3AQ-9", "/salesdocs/Q-9"),
        ("?kind=job&id=A%2FB%20C", "/jobs/A%2FB%20C"),
        ("?kind=job&id=", "/"),
    ] {
        let answer = browser.get(&format!("/go{query}")).await;
        assert_eq!(answer.status, 303, "{query}");
        assert_eq!(answer.location(), Some(location), "{query}");
    }
    // An id with a slash round-trips through its encoded URL.
    let page = browser.get("/jobs/A%2FB%20C").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(texts(&page.html(), "h1"), ["Job #A/B C"]);
    gateway.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Home and unmatched

#[actix_web::test]
async fn home_lists_the_latest_activity_with_links_and_the_unmatched_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(&dir.path().join("home.redb")).unwrap());
    seed(
        &store,
        "orphans",
        callback_entry(Vec::new(), "sg-orphan", "2026-03-01T10:00:00Z"),
    );
    let extra = format!("{}{CHICAGO}", staff_users());
    let mut gateway =
        TestGateway::start_with(&extra, Some(hooktrail::store::Storage::new(store.clone()))).await;
    for (job, to) in [("1", "A"), ("2", "B")] {
        let body = status_changed(job, to, "2026-03-04T10:00:00Z");
        assert_eq!(gateway.client.post_signed(&body).await.status(), 200);
    }
    let quote = event(
        "salesdoc.created",
        "2026-03-04T11:00:00Z",
        json!({"subject": {"kind": "salesdoc", "id": "Q-7"}, "salesdoc": {"number": "Q-7", "doc_type": "quote"}}),
    );
    assert_eq!(gateway.client.post_signed(&quote).await.status(), 200);
    // Received last, it happened first: it goes below the others, not at the top.
    let late = status_changed("3", "C", "2026-03-03T09:00:00Z");
    assert_eq!(gateway.client.post_signed(&late).await.status(), 200);

    let mut browser = signed_in(&gateway).await;
    let home = browser.get("/").await;
    assert_eq!(home.status, 200);
    let html = home.html();
    assert_eq!(texts(&html, "h1"), ["Latest activity"]);
    assert_eq!(
        kinds(&html)[..4],
        [
            "salesdoc.created",
            "status.changed",
            "status.changed",
            "status.changed"
        ],
        "newest first, by when it happened"
    );
    assert_eq!(
        attrs(&html, "li.entry .subject-link", "href")[..4],
        ["/salesdocs/Q-7", "/jobs/2", "/jobs/1", "/jobs/3"]
    );
    // Named as their own pages head them.
    assert_eq!(
        texts(&html, "li.entry .subject-link")[..4],
        ["Quote #Q-7", "Job #2", "Job #1", "Job #3"]
    );
    let quote_page = browser.get("/salesdocs/Q-7").await.html();
    assert_eq!(texts(&quote_page, "h1"), ["Quote #Q-7"]);
    let days: Vec<String> = attrs(&html, "section.day", "aria-labelledby");
    assert_eq!(days[..2], ["day-2026-03-04", "day-2026-03-03"]);
    assert_eq!(texts(&html, ".unmatched-count"), ["2 unmatched entries"]);
    assert_eq!(attrs(&html, ".unmatched-count", "href"), ["/unmatched"]);
    assert_eq!(select(&html, "form.jump").len(), 1);
    assert_eq!(attrs(&html, "form.jump", "action"), ["/go"]);
    for id in ["jump-kind", "jump-id"] {
        assert_eq!(select(&html, &format!("label[for={id}]")).len(), 1);
    }

    let unmatched = browser.get("/unmatched").await.html();
    assert_eq!(texts(&unmatched, "h1"), ["Unmatched entries"]);
    assert_eq!(
        kinds(&unmatched),
        ["quickbooks.invoice.updated", "email.bounced"]
    );
    assert!(select(&unmatched, ".subject-link").is_empty());
    gateway.stop().await;
}

#[actix_web::test]
async fn long_lists_page_by_entry_id() {
    let mut gateway = gateway_with_staff("").await;
    for n in 0..55 {
        let body = status_changed(&format!("{n}"), "Done", "2026-03-04T10:00:00Z");
        assert_eq!(gateway.client.post_signed(&body).await.status(), 200);
    }
    let mut browser = signed_in(&gateway).await;
    let first = browser.get("/").await.html();
    assert_eq!(select(&first, "li.entry").len(), 50);
    let older = attrs(&first, ".pager a[rel=next]", "href");
    let second = browser.get(&older[0]).await.html();
    assert_eq!(select(&second, "li.entry").len(), 5);
    assert_eq!(attrs(&second, ".pager a.button-quiet", "href"), ["/"]);
    let last_job = attrs(&second, "li.entry .subject-link", "href");
    assert_eq!(last_job.last().map(String::as_str), Some("/jobs/0"));
    gateway.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Hostile content

/// Strings a webhook might carry to attack the page: script, event handlers, `javascript:`
/// URLs, markup that tries to close ours, and plain broken markup.
pub const CORPUS: &[&str] = &[
    "<script>alert('s1')</script>",
    "\"><img src=x onerror=alert('s2')>",
    "javascript:alert('s3')",
    "<a href=\"javascript:alert('s4')\">click</a>",
    "<svg/onload=alert('s5')>",
    "</summary></details></li></ol><iframe src=\"javascript:alert('s6')\"></iframe>",
    "<div style=\"background:url(javascript:alert('s7'))\" onmouseover=\"alert('s8')\">x</div>",
    "' onfocus='alert(9)' autofocus='",
    "<b><i>unclosed <!-- comment <![CDATA[ x",
    "{{this}} {{{raw}}} <%= 1 %>",
    "<form action=\"https://evil.example\"><input name=csrf></form>",
    "<object data=\"data:text/html,<script>alert(10)</script>\"></object>",
];

/// Every string field a catalog event carries, set to `text`.
fn hostile_events(job: &str, text: &str, n: usize) -> Vec<Vec<u8>> {
    let at = |minute: usize| format!("2026-03-04T{:02}:{:02}:00Z", 10 + n % 10, minute);
    let subject = json!({"kind": "job", "id": job});
    let actor = json!({"kind": "customer", "id": text, "name": text});
    let invoice = json!({"id": text, "number": text, "total": "10.00", "currency": text});
    let po = json!({"id": text, "number": text, "vendor": text, "total": "1", "currency": text});
    vec![
        event(
            "job.created",
            &at(0),
            json!({"subject": subject, "actor": actor,
            "job": {"id": text, "number": text, "title": text, "customer": text}}),
        ),
        event(
            "salesdoc.created",
            &at(1),
            json!({"subject": subject, "actor": actor,
            "salesdoc": {"id": text, "number": text, "doc_type": text, "customer": text}}),
        ),
        event(
            "status.changed",
            &at(2),
            json!({"subject": subject, "actor": actor, "from": text, "to": text}),
        ),
        event(
            "artwork.uploaded",
            &at(3),
            json!({"subject": subject, "actor": actor,
            "file": {"name": text, "size_bytes": 5, "content_type": text, "url": text}}),
        ),
        event(
            "artwork.uploaded",
            &at(4),
            json!({"subject": subject, "actor": actor,
            "file": {"name": text, "url": "javascript:alert('url')"}}),
        ),
        event(
            "proof.rejected",
            &at(5),
            json!({"subject": subject, "actor": actor,
            "proof": {"id": text, "version": text, "name": text}, "comment": text}),
        ),
        event(
            "invoice.created",
            &at(6),
            json!({"subject": subject, "actor": actor, "invoice": invoice}),
        ),
        event(
            "invoice.sent_to_accounting",
            &at(7),
            json!({"subject": subject, "actor": actor,
            "invoice": invoice, "platform": text, "account_id": text, "external_id": text}),
        ),
        event(
            "invoice.status_changed",
            &at(8),
            json!({"subject": subject, "actor": actor,
            "invoice": invoice, "from": text, "to": text}),
        ),
        event(
            "payment.recorded",
            &at(9),
            json!({"subject": subject, "actor": actor,
            "invoice": invoice, "amount": "3", "currency": text, "method": text}),
        ),
        event(
            "purchase_order.received",
            &at(10),
            json!({"subject": subject, "actor": actor, "purchase_order": po}),
        ),
        event(
            "email.sent",
            &at(11),
            json!({"subject": subject, "actor": actor,
            "message": {"message_id": text, "provider": text, "provider_message_id": text,
                        "from": text, "to": [text], "cc": [text], "bcc": [text], "subject": text,
                        "text": text, "html": text, "sent_at": "2026-03-04T10:00:00Z"}}),
        ),
        event(
            "notification.sent",
            &at(12),
            json!({"subject": subject, "actor": actor,
            "channel": text, "to": text, "text": text}),
        ),
        event(
            "automation.triggered",
            &at(13),
            json!({"subject": subject,
            "rule": {"id": text, "name": text}, "trigger": text, "actions": [text, {"name": text}]}),
        ),
        event(
            "user.action",
            &at(14),
            json!({"subject": subject, "actor": actor, "action": text, "description": text}),
        ),
        event(
            "system.event",
            &at(15),
            json!({"subject": subject, "action": text, "description": text}),
        ),
        event(
            "some.future_event",
            &at(16),
            json!({"subject": subject, "actor": actor, "anything": text, "nested": {"deeper": [text]}}),
        ),
        // A known type with data that does not fit: kept as a generic entry.
        event(
            "status.changed",
            &at(17),
            json!({"subject": subject, "actor": actor, "to": {"html": text}}),
        ),
    ]
}

/// Fails if anything in the page could run script or load something the page did not put
/// there itself.
pub fn assert_no_live_markup(page: &str, html: &str) {
    let document = Html::parse_document(html);
    let scripts = attrs(&document, "script", "src");
    assert_eq!(
        select(&document, "script").len(),
        1,
        "{page}: only our own script"
    );
    assert!(
        scripts[0].starts_with("/static/hooktrail.js"),
        "{page}: {scripts:?}"
    );
    for forbidden in [
        "iframe",
        "object",
        "embed",
        "img",
        "style",
        "form[action^=http]",
        "base",
        "meta[http-equiv]",
        "link[rel=import]",
    ] {
        assert!(
            select(&document, forbidden).is_empty(),
            "{page}: a {forbidden} element survived"
        );
    }
    for svg in select(&document, "svg") {
        let class = svg.value().attr("class").unwrap_or("");
        assert!(
            ["icon", "icon-symbols", "brand-mark"].contains(&class),
            "{page}: a foreign svg survived"
        );
    }
    let all = Selector::parse("*").unwrap();
    for element in document.select(&all) {
        for (name, value) in element.value().attrs() {
            let name = name.to_ascii_lowercase();
            assert!(
                !name.starts_with("on"),
                "{page}: event handler {name}={value:?} survived"
            );
            assert!(name != "style", "{page}: a style attribute survived");
            assert!(
                name != "autofocus" || element.value().name() == "input",
                "{page}: autofocus on {}",
                element.value().name()
            );
            if matches!(
                name.as_str(),
                "href" | "src" | "action" | "formaction" | "data" | "xlink:href"
            ) {
                let url: String = value
                    .chars()
                    .filter(|c| !c.is_whitespace() && !c.is_control())
                    .collect::<String>()
                    .to_ascii_lowercase();
                assert!(
                    url.starts_with('/')
                        || url.starts_with("http://")
                        || url.starts_with("https://")
                        || url.starts_with("mailto:")
                        || url.starts_with('#')
                        || url.starts_with('?'),
                    "{page}: {name}={value:?} survived"
                );
            }
        }
    }
}

#[actix_web::test]
async fn hostile_webhook_content_never_becomes_markup() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(&dir.path().join("xss.redb")).unwrap());
    let job: Subject = "job:x".parse().unwrap();
    for (n, text) in CORPUS.iter().enumerate() {
        // Provider callbacks, attached and unmatched, with every field hostile.
        seed(
            &store,
            &format!("attached-{n}"),
            callback_entry(
                vec![job.clone()],
                text,
                &format!("2026-03-05T10:{n:02}:00Z"),
            ),
        );
        seed(
            &store,
            &format!("orphan-{n}"),
            callback_entry(Vec::new(), text, &format!("2026-03-05T11:{n:02}:00Z")),
        );
    }
    let extra = format!("{}{CHICAGO}", staff_users());
    let mut gateway =
        TestGateway::start_with(&extra, Some(hooktrail::store::Storage::new(store.clone()))).await;
    let mut posted = 0;
    for (n, text) in CORPUS.iter().enumerate() {
        for body in hostile_events("x", text, n) {
            let response = gateway.client.post_signed(&body).await;
            assert_eq!(response.status(), 200);
            posted += 1;
        }
        // The subject id itself is the business app's: hostile too.
        let body = status_changed(text, "Done", "2026-03-04T10:00:00Z");
        assert_eq!(gateway.client.post_signed(&body).await.status(), 200);
    }
    let mut browser = signed_in(&gateway).await;

    let mut entries_seen = 0;
    let mut path = "/jobs/x".to_owned();
    loop {
        let answer = browser.get(&path).await;
        assert_eq!(answer.status, 200, "{path}");
        assert_no_live_markup(&path, &answer.body);
        let html = answer.html();
        // Broken markup closed nothing of ours: every entry is still one list item.
        let entries = select(&html, "li.entry").len();
        assert_eq!(select(&html, "li.entry > details > summary").len(), entries);
        entries_seen += entries;
        match attrs(&html, ".pager a[rel=next]", "href").first() {
            Some(older) => path = older.clone(),
            None => break,
        }
    }
    assert_eq!(entries_seen, posted + CORPUS.len() * 2);

    // The hostile text is shown, as text.
    let first = browser.get("/jobs/x?category=workflow").await;
    let text = first.html().root_element().text().collect::<String>();
    assert!(text.contains("<script>alert('s1')</script>"));

    for (n, text) in CORPUS.iter().enumerate() {
        let link = format!("/go?kind=job&id={}", urlencode(text));
        let answer = browser.get(&link).await;
        let location = answer.location().unwrap_or("/").to_owned();
        let page = browser.get(&location).await;
        assert_eq!(page.status, 200, "subject {n}: {location}");
        assert_no_live_markup(&location, &page.body);
        let unknown = browser
            .get(&format!("/salesdocs/{}", &location["/jobs/".len()..]))
            .await;
        assert_eq!(unknown.status, 404);
        assert_no_live_markup("a 404 naming a hostile id", &unknown.body);
        let login = Browser::new(&gateway.client.base)
            .get(&format!("/login?next=/jobs/{}", urlencode(text)))
            .await;
        assert_no_live_markup("login with a hostile next", &login.body);
    }
    for page in [
        "/",
        "/unmatched",
        "/unmatched?before=7ZZZZZZZZZZZZZZZZZZZZZZZZZ",
    ] {
        let answer = browser.get(page).await;
        assert_eq!(answer.status, 200, "{page}");
        assert_no_live_markup(page, &answer.body);
    }
    // Search: its snippets and summaries of the same content stay text. (A query the corpus
    // makes malformed, an unclosed quote, answers 400 with the form: also text.)
    crate::search::wait_until_searchable(&gateway.client).await;
    let mut results = 0;
    for text in CORPUS {
        let path = format!("/search?q={}", urlencode(text));
        let answer = browser.get(&path).await;
        assert!(
            matches!(answer.status, 200 | 400),
            "{path}: {}",
            answer.status
        );
        assert_no_live_markup(&path, &answer.body);
        results += select(&answer.html(), "li.result").len();
    }
    assert!(
        results > CORPUS.len(),
        "the hostile corpus is findable: {results} results"
    );
    gateway.stop().await;
}

/// A signed event can claim any time at all. -8334601228800 s is -262143-01-01T00:00:00Z,
/// the earliest instant a date can hold, so Chicago (behind UTC) has no local time for it: it
/// used to fail its job's page on every view. Now such claims are placed at their receipt,
/// flagged, and keep what they claimed.
#[actix_web::test]
async fn an_event_claiming_an_impossible_time_is_shown_at_its_receipt_and_flagged() {
    let mut gateway = gateway_with_staff(CHICAGO).await;
    post_job_story(&gateway.client, "1042").await;
    let claims = [
        (json!(-8_334_601_228_800i64), "-262143-01-01T00:00:00Z"),
        (json!("9999-12-31T23:59:59Z"), "9999-12-31T23:59:59Z"),
        (json!("0001-01-01T00:00:00Z"), "0001-01-01T00:00:00Z"),
    ];
    for (n, (claim, _)) in claims.iter().enumerate() {
        let body = serde_json::to_vec(&json!({
            "type": "status.changed",
            "timestamp": claim,
            "data": {"subject": {"kind": "job", "id": "1042"}, "from": "Printing", "to": format!("Step {n}")},
        }))
        .unwrap();
        assert_eq!(gateway.client.post_signed(&body).await.status(), 200);
    }
    let mut browser = signed_in(&gateway).await;
    for path in ["/jobs/1042?category=workflow", "/", "/unmatched"] {
        assert_eq!(browser.get(path).await.status, 200, "{path}");
    }
    let page = browser.get("/jobs/1042").await;
    assert_eq!(page.status, 200);
    let html = page.html();

    // Received last, so newest: the three sit on top, under today, each marked beside its
    // time and saying in its detail what it claimed. The story's entries are not marked.
    assert_eq!(texts(&html, ".day-heading")[0], "Today");
    let entries = select(&html, "li.entry");
    assert_eq!(entries.len(), 13);
    let marked = |entry: &ElementRef| {
        entry
            .select(&Selector::parse("summary .entry-flag").unwrap())
            .count()
    };
    for (n, entry) in entries.iter().enumerate() {
        assert_eq!(marked(entry), usize::from(n < 3), "entry {n}");
    }
    let notes = texts(&html, "li.entry .entry-flag-note").join("\n");
    for (_, claimed) in &claims {
        assert!(notes.contains(claimed), "{claimed} in {notes}");
    }

    // The API: placed at receipt, the claim kept beside it.
    let entries = gateway.client.all_entries("job", "1042").await;
    let flagged: Vec<&serde_json::Value> =
        entries.iter().filter(|e| !e["flag"].is_null()).collect();
    assert_eq!(flagged.len(), 3);
    for entry in &flagged {
        assert_eq!(entry["occurred_at"], entry["received_at"]);
        assert_eq!(entry["flag"]["reason"], "occurred_at_out_of_range");
    }
    let mut claimed: Vec<&str> = flagged
        .iter()
        .filter_map(|e| e["flag"]["claimed_occurred_at"].as_str())
        .collect();
    claimed.sort_unstable();
    let mut expected: Vec<&str> = claims.iter().map(|(_, text)| *text).collect();
    expected.sort_unstable();
    assert_eq!(claimed, expected);
    gateway.stop().await;
}

pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[actix_web::test]
async fn every_response_carries_the_security_headers() {
    let mut gateway = gateway_with_staff("").await;
    let mut browser = Browser::new(&gateway.client.base);
    let answers: Vec<Answer> = vec![
        browser.get("/login").await,
        browser.get("/").await,
        browser.get("/static/hooktrail.js").await,
        browser.get("/api/v1/unmatched").await,
        browser.get("/healthz").await,
        browser.get("/nowhere").await,
    ];
    for answer in answers {
        let csp = answer.headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{csp}");
        }
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(answer.headers["x-content-type-options"], "nosniff");
        assert_eq!(answer.headers["referrer-policy"], "same-origin");
        assert_eq!(answer.headers["x-frame-options"], "DENY");
    }
    gateway.stop().await;
}
