//! The operator console over real HTTP: roles on every operator route, the sources page with
//! its refusals, the deliveries list and a delivery's page, all with hostile content.

use crate::common;
use crate::pages::{CORPUS, assert_no_live_markup, attrs, select, texts, urlencode};
use hooktrail::store::prelude::*;

use common::{
    Browser, OPERATOR_USER, STAFF_PASSWORD, TestGateway, post_job_story, staff_and_operator,
};

const OPERATOR_PAGES: [&str; 5] = [
    "/admin/sources",
    "/admin/evidence",
    "/admin/deliveries",
    "/admin/deliveries/1",
    "/admin/deliveries/1/body",
];

async fn operator(gateway: &TestGateway) -> Browser {
    let mut browser = Browser::new(&gateway.client.base);
    browser.sign_in_as(OPERATOR_USER, STAFF_PASSWORD).await;
    browser
}

#[actix_web::test]
async fn operator_pages_need_the_operator_role() {
    let mut gateway = TestGateway::start_with(&staff_and_operator(), None).await;
    post_job_story(&gateway.client, "1042").await;
    let mut visitor = Browser::new(&gateway.client.base);
    let mut staff = Browser::new(&gateway.client.base);
    staff.sign_in().await;
    let mut operator = operator(&gateway).await;
    for path in OPERATOR_PAGES {
        let away = visitor.get(path).await;
        assert_eq!(away.status, 303, "{path}");
        assert_eq!(
            away.location(),
            Some(format!("/login?next={}", urlencode(path)).as_str()),
            "{path}"
        );
        let refused = staff.get(path).await;
        assert_eq!(refused.status, 403, "{path}");
        assert!(
            refused.body.contains("This page is for operators"),
            "{path}"
        );
        assert_eq!(operator.get(path).await.status, 200, "{path}");
    }
    // Only operators are offered the console.
    let nav = |answer: &common::Answer| texts(&answer.html(), ".site-nav a");
    assert!(!nav(&staff.get("/").await).contains(&"Operations".to_owned()));
    assert!(nav(&operator.get("/").await).contains(&"Operations".to_owned()));
    gateway.stop().await;
}

const OPERATOR_TOKEN: &str = "an-operator-token-for-the-console-tests";

/// `[[auth.api_tokens]]` for [`OPERATOR_TOKEN`], with the operator role.
fn operator_token() -> String {
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(OPERATOR_TOKEN.as_bytes()));
    format!(
        "\n[[auth.api_tokens]]\nname = \"ops\"\ntoken_sha256 = \"{sha}\"\nrole = \"operator\"\n"
    )
}

#[actix_web::test]
async fn the_sources_api_is_for_operator_tokens_and_says_what_the_page_says() {
    let extra = format!("{}{}", staff_and_operator(), operator_token());
    let mut gateway = TestGateway::start_with(&extra, None).await;
    let client = &gateway.client;
    assert_eq!(client.send("hoops", b"not json").await.status(), 200);
    let body = common::status_changed("1042", "Printing", "2026-03-04T10:00:00Z");
    assert_eq!(client.post("hoops", &body, &[]).await.status(), 401);

    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/sources", client.base);
    let anonymous = http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    // The tests' own token has the default role.
    let (status, problem) = client.get("/api/v1/sources").await;
    assert_eq!(status, 403);
    assert_eq!(
        problem["type"], "urn:hooktrail:problem:forbidden",
        "{problem}"
    );
    let answer = http
        .get(&url)
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let json: serde_json::Value = answer.json().await.unwrap();
    let hoops = &json["sources"][0];
    assert_eq!(hoops["name"], "hoops");
    assert_eq!(hoops["kind"], "standard-webhooks");
    assert_eq!(hoops["url"], format!("{}/hooks/hoops", client.base));
    assert_eq!(hoops["last_hour"]["accepted"], 1);
    assert_eq!(hoops["last_hour"]["flagged"], 1);
    assert_eq!(hoops["last_day"]["refused"], 1);
    assert_eq!(
        hoops["last_day"]["causes"][0],
        serde_json::json!(["missing_signature", 1])
    );
    assert_eq!(hoops["silent"], false);
    assert!(hoops["last_stored_at"].is_string());
    assert_eq!(hoops["recent_refusals"][0]["cause"], "missing_signature");
    assert_eq!(
        hoops["recent_refusals"][0]["check"],
        "the webhook-id header is missing"
    );
    gateway.stop().await;
}

#[actix_web::test]
async fn sources_show_their_address_and_why_deliveries_were_refused() {
    let mut gateway = TestGateway::start_with(&staff_and_operator(), None).await;
    let client = &gateway.client;
    let body = common::status_changed("1042", "Printing", "2026-03-04T10:00:00Z");
    // No signature headers; then signed with another secret; then a hostile unknown source.
    assert_eq!(client.post("hoops", &body, &[]).await.status(), 401);
    let mut forged = client.signed_headers("hoops", &body);
    for (name, value) in &mut forged {
        if name == "webhook-signature" {
            *value = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned();
        }
    }
    assert_eq!(client.post("hoops", &body, &forged).await.status(), 401);
    for text in CORPUS {
        let name = urlencode(text);
        let _ = client.try_post(&name, b"{}", &[]).await;
    }

    let mut operator = operator(&gateway).await;
    let page = operator.get("/admin/sources").await;
    assert_eq!(page.status, 200);
    assert_no_live_markup("/admin/sources", &page.body);
    let html = page.html();
    let url = texts(&html, ".source-url code");
    assert_eq!(url, [format!("{}/hooks/hoops", gateway.client.base)]);
    let checks = texts(&html, ".admin-card:first-child .refusals li .refusal-check");
    assert_eq!(
        checks,
        ["no signature matches", "the webhook-id header is missing"],
        "newest first, each naming the check that failed"
    );
    let causes = texts(&html, ".admin-card:first-child .refusal-cause");
    assert_eq!(causes, ["bad_signature", "missing_signature"]);
    assert_eq!(
        texts(&html, ".admin-card:first-child .refusal-remote")[0],
        "127.0.0.1"
    );
    let sent_to = texts(&html, ".refusal-sent-to");
    assert!(
        sent_to.iter().any(|name| name.contains("<script>")),
        "hostile names are shown as text: {sent_to:?}"
    );
    gateway.stop().await;
}

/// The counts of the first source card's row `window` (0: last hour, 1: last day): accepted,
/// flagged, duplicates, refused.
fn counts(html: &scraper::Html, window: usize) -> Vec<String> {
    let row = select(html, ".admin-card:first-child .source-counts tbody tr")[window];
    row.select(&scraper::Selector::parse("td").unwrap())
        .map(|cell| cell.text().next().unwrap_or_default().trim().to_owned())
        .collect()
}

#[actix_web::test]
async fn source_counts_are_kept_in_the_store_and_survive_a_restart() {
    let mut gateway = TestGateway::start_with(&staff_and_operator(), None).await;
    let client = &gateway.client;
    let body = common::status_changed("1042", "Printing", "2026-03-04T10:00:00Z");
    let signed = client.signed("hoops", &body);
    // Stored, then the same delivery again: a duplicate.
    for _ in 0..2 {
        let answer = client.post("hoops", &signed.body, &signed.headers).await;
        assert_eq!(answer.status(), 200);
    }
    assert_eq!(client.send("hoops", b"not json").await.status(), 200);
    assert_eq!(client.post("hoops", &body, &[]).await.status(), 401);
    let mut operator = operator(&gateway).await;
    let page = operator.get("/admin/sources").await;
    let html = page.html();
    assert_eq!(counts(&html, 0), ["2", "1", "1", "1"], "{}", page.body);
    assert_eq!(counts(&html, 1), ["2", "1", "1", "1"]);
    let causes = texts(&html, ".admin-card:first-child .count-causes");
    assert_eq!(causes[0], "missing_signature 1");
    assert!(
        texts(&html, ".admin-card:first-child .source-last")[0].starts_with("Last stored delivery")
    );
    assert!(
        select(&html, ".source-silent").is_empty(),
        "it just arrived"
    );

    // Counted once more after the restart, and nothing counted twice by the stop's own flush.
    gateway.restart_with(&staff_and_operator()).await;
    assert_eq!(
        gateway
            .client
            .send("hoops", b"also not json")
            .await
            .status(),
        200
    );
    let mut operator = self::operator(&gateway).await;
    let html = operator.get("/admin/sources").await.html();
    assert_eq!(counts(&html, 0), ["3", "2", "1", "1"]);
    assert!(
        texts(&html, ".admin-card:first-child .refusals-none")[0].contains("No refusals"),
        "the refusal list is this run's, the counts are the store's"
    );
    gateway.stop().await;
}

#[actix_web::test]
async fn a_source_that_used_to_deliver_and_stopped_is_called_silent() {
    let dir = tempfile::tempdir().unwrap();
    let store = hooktrail::store::redb::RedbStore::open(&dir.path().join("silent.redb")).unwrap();
    let four_hours_ago = chrono::Utc::now() - chrono::TimeDelta::hours(4);
    store
        .add_to_tally(&hooktrail::store::TallyBatch {
            rows: Vec::new(),
            last_stored: vec![("hoops".to_owned(), four_hours_ago)],
            drop_before: 0,
        })
        .unwrap();
    let storage = hooktrail::store::Storage::new(std::sync::Arc::new(store));
    let mut gateway = TestGateway::start_with(&staff_and_operator(), Some(storage)).await;
    let mut operator = operator(&gateway).await;
    let html = operator.get("/admin/sources").await.html();
    let silent = texts(&html, ".admin-card:first-child .source-silent");
    assert_eq!(silent.len(), 1);
    assert!(silent[0].starts_with("Silent for 4 h."), "{silent:?}");
    assert_eq!(counts(&html, 1), ["0", "0", "0", "0"]);
    gateway.stop().await;
}

#[actix_web::test]
async fn deliveries_list_filters_and_a_delivery_shows_what_it_held() {
    let mut gateway = TestGateway::start_with(&staff_and_operator(), None).await;
    let client = &gateway.client;
    post_job_story(client, "1042").await;
    // Signed, but not JSON: kept and flagged. Hostile, as any body may be.
    let hostile = b"<script>alert('body')</script> not json \xff".to_vec();
    assert_eq!(client.send("hoops", &hostile).await.status(), 200);
    let mut operator = operator(&gateway).await;

    let all = operator.get("/admin/deliveries").await;
    assert_eq!(all.status, 200);
    let rows = attrs(
        &all.html(),
        "table.deliveries tbody tr td:first-child a",
        "href",
    );
    assert!(rows.len() > 3, "{rows:?}");
    let newest = rows[0].clone();
    let flagged = operator.get("/admin/deliveries?outcome=flagged").await;
    assert_no_live_markup("flagged deliveries", &flagged.body);
    let flagged_rows = attrs(
        &flagged.html(),
        "table.deliveries tbody tr td:first-child a",
        "href",
    );
    assert_eq!(
        flagged_rows,
        std::slice::from_ref(&newest),
        "only the unreadable one"
    );
    let none = operator
        .get("/admin/deliveries?from=2000-01-01&to=2000-01-02")
        .await;
    assert!(select(&none.html(), "table.deliveries").is_empty());
    assert!(none.body.contains("No delivery matches"));
    for bad in [
        "outcome=lost",
        "source=nowhere",
        "from=yesterday",
        "colour=red",
    ] {
        let answer = operator.get(&format!("/admin/deliveries?{bad}")).await;
        assert_eq!(answer.status, 400, "{bad}");
    }

    // The unreadable delivery: its body shown as text, downloadable byte for byte.
    let page = operator.get(&newest).await;
    assert_eq!(page.status, 200);
    assert_no_live_markup(&newest, &page.body);
    let html = page.html();
    let shown = texts(&html, "pre.raw-body");
    assert!(
        shown[0].contains("<script>alert('body')</script>"),
        "{shown:?}"
    );
    let header_names = texts(&html, "table.headers th");
    assert!(
        header_names.contains(&"webhook-id".to_owned()),
        "{header_names:?}"
    );
    assert!(page.body.contains("Unparseable"));
    let download = operator.get(&format!("{newest}/body")).await;
    assert_eq!(download.status, 200);
    let disposition = download.headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert_eq!(
        download.headers["content-type"].to_str().unwrap(),
        "application/octet-stream"
    );

    // A delivery that made entries links each to its timeline.
    let first = operator.get("/admin/deliveries/1").await;
    let links = attrs(&first.html(), ".delivery-entries a", "href");
    assert!(
        links.iter().any(|href| href.starts_with("/jobs/1042")),
        "{links:?}"
    );
    assert!(texts(&first.html(), "pre.raw-body")[0].contains("\"type\": \"job.created\""));

    let missing = operator.get("/admin/deliveries/999999").await;
    assert_eq!(missing.status, 404);
    gateway.stop().await;
}

/// Re-normalizing from the console: operators only, the form's token checked, a run page that
/// follows the run to its end, and the run in the log under the operator's name.
#[actix_web::test]
async fn operators_renormalize_one_delivery_or_a_filter_and_each_run_is_logged() {
    let mut gateway = TestGateway::start_with(&staff_and_operator(), None).await;
    post_job_story(&gateway.client, "1042").await;
    let signed = gateway
        .client
        .post_signed(b"this is not JSON, so today's normalizer flags it")
        .await;
    assert_eq!(signed.status(), 200);
    let mut staff = Browser::new(&gateway.client.base);
    staff.sign_in().await;
    let mut operator = operator(&gateway).await;
    let flagged = operator.get("/admin/deliveries?outcome=flagged").await;
    let seq: u64 = attrs(&flagged.html(), "table.deliveries td a", "href")[0]
        .trim_start_matches("/admin/deliveries/")
        .parse()
        .unwrap();
    let page = operator.get(&format!("/admin/deliveries/{seq}")).await;
    let csrf = Browser::csrf_of(&page);
    let action = format!("/admin/deliveries/{seq}/renormalize");
    assert_eq!(
        operator
            .post_form(&action, &[("csrf", "stale")])
            .await
            .status,
        403
    );
    assert_eq!(
        staff.post_form(&action, &[("csrf", &csrf)]).await.status,
        403
    );
    assert_eq!(
        operator
            .post_form("/admin/deliveries/99999/renormalize", &[("csrf", &csrf)])
            .await
            .status,
        404
    );

    let started = operator.post_form(&action, &[("csrf", &csrf)]).await;
    assert_eq!(started.status, 303);
    let run = started.location().unwrap().to_owned();
    let done = finished(&mut operator, &run).await;
    assert!(done.contains("Nothing changed"), "{done}");
    // The run is in the log, with who asked and what it looked at.
    let logged = texts(&scraper::Html::parse_document(&done), "a")
        .into_iter()
        .find_map(|text| text.strip_prefix("delivery #").map(str::to_owned))
        .expect("a link to the run's record");
    let record = operator.get(&format!("/admin/deliveries/{logged}")).await;
    assert!(record.body.contains("system.renormalization"));
    assert!(record.body.contains(OPERATOR_USER));

    // The filter's form: every flagged delivery of the source, in one run.
    let matching = operator
        .post_form(
            "/admin/renormalize",
            &[("csrf", &csrf), ("source", "hoops"), ("outcome", "flagged")],
        )
        .await;
    assert_eq!(matching.status, 303);
    let done = finished(&mut operator, matching.location().unwrap()).await;
    assert!(done.contains("flagged deliveries of hoops"), "{done}");
    assert!(done.contains("Done: 1 of 1"), "{done}");
    assert_eq!(
        operator
            .post_form("/admin/renormalize", &[("csrf", "")])
            .await
            .status,
        403
    );
    assert_eq!(operator.get("/admin/renormalize/999").await.status, 404);
    gateway.stop().await;
}

/// The run page, once it no longer refreshes itself.
async fn finished(browser: &mut Browser, run: &str) -> String {
    for _ in 0..100 {
        let page = browser.get(run).await;
        assert_eq!(page.status, 200);
        if !page.body.contains("http-equiv=\"refresh\"") {
            return page.body;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the run did not finish");
}
