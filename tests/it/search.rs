//! Search over real HTTP: the API's results contract and its errors, the page, deep links
//! into timelines, and the jump box's fallback.

use crate::common;

use common::{Browser, Client, TestGateway, event, post_job_story, staff_users};
use serde_json::{Value, json};

/// Waits until the index has caught up with everything posted so far (it follows the
/// timelines by about a second on the embedded store). The deadline is generous: the indexer
/// runs at the lowest CPU priority, and with both cores busy (a CI machine running other
/// tests) a catch-up of a few milliseconds' work took 8 s.
pub async fn wait_until_searchable(client: &Client) {
    for _ in 0..600 {
        let (status, body) = client.get("/api/v1/search?kind=system.event&limit=1").await;
        assert_eq!(status, 200, "{body}");
        if body["index_behind"]["deliveries"] == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the search index did not catch up within 30 s");
}

async fn search(client: &Client, query: &str) -> (u16, Value) {
    client.get(&format!("/api/v1/search?{query}")).await
}

fn kinds(body: &Value) -> Vec<String> {
    body["entries"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|entry| entry["kind"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[actix_web::test]
async fn the_api_finds_entries_with_snippets_and_refuses_bad_searches_as_problems() {
    let mut gateway = TestGateway::start_with(&staff_users(), None).await;
    post_job_story(&gateway.client, "1042").await;
    let client = &gateway.client;
    wait_until_searchable(client).await;

    let (status, body) = search(client, "q=INV-7").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(kinds(&body)[0], "invoice.created", "{body}");
    let (_, body) = search(client, "q=to:maria@acme.example").await;
    assert_eq!(kinds(&body), ["email.sent"]);
    let email = &body["entries"][0];
    assert_eq!(
        email["subjects"][0]["id"], "1042",
        "an Entry, as the API has it"
    );
    let snippet = email["snippet"].as_str().unwrap();
    assert!(snippet.contains("<mark>maria</mark>"), "{snippet}");
    // Filters alone list newest first; a date range narrows them.
    let (_, body) = search(client, "category=workflow&from=2026-03-02&to=2026-03-02").await;
    assert_eq!(kinds(&body), ["artwork.uploaded", "job.created"], "{body}");
    let (_, body) = search(client, "q=blurry&subject=job:1042").await;
    assert_eq!(kinds(&body), ["proof.rejected"]);
    let (_, body) = search(client, "q=blurry&subject=job:9999").await;
    assert_eq!(kinds(&body), Vec::<String>::new());

    for (query, says) in [
        ("q=", "nothing to search"),
        ("q=colour:red", "not a field"),
        ("q=to:", "needs a value"),
        ("q=%22open", "quote"),
        ("q=x&colour=red", "unknown field"),
        ("q=x&limit=1000", "limit"),
        ("q=x&from=soon", "not a date"),
        ("q=x&before=garbage", "cursor"),
    ] {
        let (status, body) = search(client, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["type"], "urn:hooktrail:problem:bad-request", "{query}");
        assert!(
            body["detail"].as_str().unwrap_or_default().contains(says),
            "{query}: {body}"
        );
    }
    let long = format!("q={}", "w".repeat(501));
    assert_eq!(search(client, &long).await.0, 400);

    let anonymous = reqwest::get(format!("{}/api/v1/search?q=maria", client.base))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    gateway.stop().await;
}

#[actix_web::test]
async fn the_page_links_each_result_into_its_timeline_and_the_jump_box_falls_back_to_it() {
    let mut gateway = TestGateway::start_with(&staff_users(), None).await;
    post_job_story(&gateway.client, "1042").await;
    // Older activity, so the entry searched for is not on the timeline's first page.
    for n in 0..60 {
        let body = event(
            "status.changed",
            &format!("2026-03-10T10:{:02}:{:02}Z", n / 60, n % 60),
            json!({"subject": {"kind": "job", "id": "1042"}, "from": "A", "to": format!("Step {n}")}),
        );
        assert_eq!(gateway.client.post_signed(&body).await.status(), 200);
    }
    wait_until_searchable(&gateway.client).await;
    let mut browser = Browser::new(&gateway.client.base);
    assert_eq!(
        browser.get("/search?q=blurry").await.location(),
        Some("/login?next=%2Fsearch%3Fq%3Dblurry")
    );
    browser.sign_in().await;

    let page = browser.get("/search?q=blurry").await;
    assert_eq!(page.status, 200);
    let html = page.html();
    let link = scraper::Selector::parse("li.result a.result-link").unwrap();
    let hrefs: Vec<String> = html
        .select(&link)
        .filter_map(|a| a.value().attr("href").map(str::to_owned))
        .collect();
    assert_eq!(hrefs.len(), 1, "{}", page.body);
    assert!(page.body.contains("<mark>blurry</mark>"), "{}", page.body);
    // The deep link opens the page of the timeline that holds the entry, scrolled to it.
    let (path, anchor) = hrefs[0].split_once('#').unwrap();
    let timeline = browser.get(path).await;
    assert_eq!(timeline.status, 200);
    assert!(
        timeline.body.contains(&format!("id=\"{anchor}\"")),
        "{path} shows {anchor}"
    );
    assert!(
        !browser
            .get("/jobs/1042")
            .await
            .body
            .contains(&format!("id=\"{anchor}\"")),
        "the entry is not on the first page, so the link had to find its page"
    );

    let bad = browser.get("/search?q=colour:red").await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("is not a field"), "{}", bad.body);
    let none = browser.get("/search?q=zzzzzz").await;
    assert!(none.body.contains("Nothing matches"));
    let help = browser.get("/search").await;
    assert!(help.body.contains("invoice:INV-3307"));

    // The jump box: a known id opens its timeline; anything else is searched for.
    assert_eq!(
        browser.get("/go?kind=job&id=1042").await.location(),
        Some("/jobs/1042")
    );
    assert_eq!(
        browser.get("/go?kind=job&id=INV-7").await.location(),
        Some("/search?q=INV-7")
    );
    assert_eq!(
        browser.get("/go?kind=job&id=acme%20proof").await.location(),
        Some("/search?q=acme%20proof")
    );
    gateway.stop().await;
}
