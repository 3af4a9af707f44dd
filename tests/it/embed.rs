//! Timelines inside the business app: signed links, refused ones, framing, the live stream
//! behind the link, and `hooktrail embed-link`.

use crate::common;
use crate::live::EventStream;

use std::time::Duration;

use chrono::Utc;
use common::{TestGateway, run_cli, status_changed, write_config};
use hooktrail::crypto::Secret;
use hooktrail::http::embed;
use scraper::{Html, Selector};

const SECRET: &str = "an-embed-secret-for-the-tests-0123456789";
const EMBED: &str = "[embed]\nsecret = \"an-embed-secret-for-the-tests-0123456789\"\n\
    allowed_origins = [\"https://app.example-printshop.test\"]\nmax_ttl_secs = 600\n";

fn secret() -> Secret {
    Secret::new(SECRET.as_bytes().to_vec()).unwrap()
}

fn link(subject: &str, ttl: i64, viewer: &str) -> String {
    let exp = Utc::now().timestamp() + ttl;
    embed::link(&secret(), &subject.parse().unwrap(), exp, viewer)
}

async fn get(base: &str, path: &str) -> reqwest::Response {
    reqwest::get(format!("{base}{path}")).await.unwrap()
}

fn select_attr(html: &Html, css: &str, attr: &str) -> Option<String> {
    html.select(&Selector::parse(css).unwrap())
        .next()
        .and_then(|element| element.value().attr(attr).map(str::to_owned))
}

#[actix_web::test]
async fn a_signed_link_shows_the_timeline_framed_only_by_allowed_origins_and_live() {
    let gateway = TestGateway::start_with(EMBED, None).await;
    let base = gateway.client.base.clone();
    let first = status_changed("1042", "Printing", "2026-03-02T10:00:00Z");
    assert!(
        gateway
            .client
            .post_signed(&first)
            .await
            .status()
            .is_success()
    );

    let response = get(&base, &link("job:1042", 300, "dana")).await;
    assert_eq!(response.status(), 200);
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("frame-ancestors https://app.example-printshop.test;"),
        "{policy}"
    );
    assert!(policy.contains("script-src 'self'"), "{policy}");
    let html = Html::parse_document(&response.text().await.unwrap());
    // The timeline, without Hooktrail's header, filters or anything that needs a session.
    let heading = html.select(&Selector::parse("h1").unwrap()).next().unwrap();
    assert_eq!(heading.text().collect::<String>(), "Job #1042");
    for absent in [".site-header", ".filters", ".view-toggle", "form", ".pager"] {
        assert!(
            html.select(&Selector::parse(absent).unwrap())
                .next()
                .is_none(),
            "{absent}"
        );
    }
    assert_eq!(
        html.select(&Selector::parse("li.entry").unwrap()).count(),
        1
    );

    // The page follows the timeline through the link's own stream.
    let stream = select_attr(&html, ".activity", "data-stream").unwrap();
    assert!(
        stream.starts_with("/embed/job/1042/stream?exp="),
        "{stream}"
    );
    let mut live = EventStream::open(&base, &stream, None).await;
    let second = status_changed("1042", "Packed", "2026-03-02T11:00:00Z");
    assert!(
        gateway
            .client
            .post_signed(&second)
            .await
            .status()
            .is_success()
    );
    let event = live
        .next_entry(Duration::from_secs(10))
        .await
        .expect("the new entry");
    assert_eq!(event.json()["details"]["to"], "Packed");
}

#[actix_web::test]
async fn expired_forged_over_long_or_incomplete_links_are_refused() {
    let gateway = TestGateway::start_with(EMBED, None).await;
    let base = gateway.client.base.clone();
    let good = link("job:1042", 300, "dana");
    let forged = good.replace("viewer=dana", "viewer=eve");
    let other_job = good.replace("/job/1042?", "/job/1043?");
    let expired = link("job:1042", -5, "dana");
    let over_long = link("job:1042", 3_600, "dana");
    let incomplete = "/embed/job/1042?exp=1&viewer=dana".to_owned();
    for path in [forged, other_job, expired, over_long, incomplete] {
        let response = get(&base, &path).await;
        assert_eq!(response.status(), 403, "{path}");
        let page = response.text().await.unwrap();
        assert!(
            page.contains("This link cannot be opened"),
            "{path}: {page}"
        );
        let stream = path.replacen("?", "/stream?", 1);
        assert_eq!(get(&base, &stream).await.status(), 403, "{stream}");
    }
}

#[actix_web::test]
async fn without_a_secret_there_is_no_embed() {
    let gateway = TestGateway::start().await;
    let path = link("job:1042", 300, "dana");
    assert_eq!(get(&gateway.client.base, &path).await.status(), 404);
}

#[actix_web::test]
async fn embed_link_prints_a_link_that_opens() {
    let gateway = TestGateway::start_with(EMBED, None).await;
    let body = status_changed("77", "Printing", "2026-03-02T10:00:00Z");
    assert!(
        gateway
            .client
            .post_signed(&body)
            .await
            .status()
            .is_success()
    );
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = write_config(dir.path(), EMBED);
    let (ok, out) = run_cli(
        &config,
        &[
            "embed-link",
            "job:77",
            "--ttl",
            "120",
            "--viewer",
            "Dana Q",
            "--url",
            &gateway.client.base,
        ],
    );
    assert!(ok, "{out}");
    let url = out.trim();
    assert!(url.contains("viewer=Dana%20Q"), "{url}");
    assert_eq!(reqwest::get(url).await.unwrap().status(), 200);
    let (too_long, _) = run_cli(&config, &["embed-link", "job:77", "--ttl", "601"]);
    assert!(!too_long);
}
