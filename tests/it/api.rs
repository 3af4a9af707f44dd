//! The JSON API's refusals: whatever is malformed — query, path, body, method, route — the answer
//! is problem+json with a stable type, never actix's plain text.

use crate::common;

use common::{TOKEN, TestGateway, status_changed};
use hooktrail::activity::EntryId;
use hooktrail::store::Cursor;
use reqwest::Method;
use serde_json::Value;

/// One malformed request and the problem it must get.
struct Case {
    method: Method,
    path: &'static str,
    body: Option<(&'static str, String)>,
    status: u16,
    problem: &'static str,
}

fn get(path: &'static str, status: u16, problem: &'static str) -> Case {
    Case {
        method: Method::GET,
        path,
        body: None,
        status,
        problem,
    }
}

fn with_method(method: Method, path: &'static str) -> Case {
    Case {
        method,
        path,
        body: None,
        status: 404,
        problem: "not-found",
    }
}

fn backup_body(
    content_type: &'static str,
    body: String,
    status: u16,
    problem: &'static str,
) -> Case {
    Case {
        method: Method::POST,
        path: "/api/v1/backups",
        body: Some((content_type, body)),
        status,
        problem,
    }
}

async fn send(
    http: &reqwest::Client,
    base: &str,
    case: &Case,
    token: &str,
) -> (u16, String, Value) {
    let mut request = http
        .request(case.method.clone(), format!("{base}{}", case.path))
        .bearer_auth(token);
    if let Some((content_type, body)) = &case.body {
        request = request
            .header("content-type", *content_type)
            .body(body.clone());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, content_type, body)
}

fn assert_problem(
    case: &Case,
    (status, content_type, body): &(u16, String, Value),
    expected: (u16, &str),
) {
    let what = format!("{} {}", case.method, case.path);
    assert_eq!(*status, expected.0, "{what}: {body}");
    assert_eq!(content_type, "application/problem+json", "{what}: {body}");
    assert_eq!(
        body["type"],
        format!("urn:hooktrail:problem:{}", expected.1),
        "{what}: {body}"
    );
    assert_eq!(body["status"], expected.0, "{what}: {body}");
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{what}: {body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{what}: {body}"
    );
}

#[actix_web::test]
async fn every_api_route_answers_malformed_requests_with_problem_json() {
    let mut gateway = TestGateway::start().await;
    let event = status_changed("1", "Printing", "2026-03-04T10:00:00Z");
    assert_eq!(gateway.client.post_signed(&event).await.status(), 200);

    let too_big = format!(r#"{{"path": "{}"}}"#, "a".repeat(64 * 1024));
    let cases = [
        // Timelines: every query parameter and both path segments.
        get(
            "/api/v1/subjects/job/1/entries?limit=abc",
            400,
            "bad-request",
        ),
        get(
            "/api/v1/subjects/job/1/entries?limit=-1",
            400,
            "bad-request",
        ),
        get("/api/v1/subjects/job/1/entries?limit=0", 400, "bad-request"),
        get(
            "/api/v1/subjects/job/1/entries?before=garbage",
            400,
            "bad-request",
        ),
        get(
            "/api/v1/subjects/job/1/entries?category=gossip",
            400,
            "bad-request",
        ),
        get(
            "/api/v1/subjects/job/1/entries?category=workflow&category=accounting",
            400,
            "bad-request",
        ),
        get("/api/v1/subjects/order/1/entries", 404, "not-found"),
        // Entries and deliveries by id.
        get("/api/v1/entries/not-an-id", 404, "not-found"),
        get("/api/v1/deliveries/abc", 404, "not-found"),
        get("/api/v1/deliveries/-1", 404, "not-found"),
        get(
            "/api/v1/deliveries/99999999999999999999999",
            404,
            "not-found",
        ),
        // The unmatched list.
        get("/api/v1/unmatched?limit=abc", 400, "bad-request"),
        get("/api/v1/unmatched?limit=1&limit=2", 400, "bad-request"),
        get("/api/v1/unmatched?before=garbage", 400, "bad-request"),
        // Export pages.
        get("/api/v1/export?limit=abc", 400, "bad-request"),
        get("/api/v1/export?after=garbage", 400, "bad-request"),
        get("/api/v1/export?subject=nonsense", 400, "bad-request"),
        get(
            "/api/v1/export?subject=job:1&subject=job:2",
            400,
            "bad-request",
        ),
        // Backups: the body.
        backup_body("application/json", "not json".into(), 400, "bad-request"),
        backup_body("application/json", "{}".into(), 400, "bad-request"),
        backup_body(
            "application/json",
            r#"{"path": 5}"#.into(),
            400,
            "bad-request",
        ),
        backup_body(
            "text/plain",
            r#"{"path": "a.redb"}"#.into(),
            415,
            "unsupported-media-type",
        ),
        backup_body("application/json", too_big, 413, "payload-too-large"),
        // Methods no route takes, and routes that do not exist.
        with_method(Method::DELETE, "/api/v1/unmatched"),
        with_method(Method::POST, "/api/v1/entries/01M89XAMGF0000000000002000"),
        with_method(Method::PUT, "/api/v1/subjects/job/1/entries"),
        with_method(Method::GET, "/api/v1/backups"),
        with_method(Method::POST, "/api/v1/integrity"),
        with_method(Method::POST, "/api/v1/export"),
        with_method(Method::DELETE, "/api/v1/deliveries/1"),
        with_method(Method::GET, "/api/v1/nothing"),
        with_method(Method::GET, "/api/v2/subjects/job/1/entries"),
    ];
    let http = reqwest::Client::new();
    let base = gateway.client.base.clone();
    for case in &cases {
        let answer = send(&http, &base, case, TOKEN).await;
        assert_problem(case, &answer, (case.status, case.problem));
        // Without a token the same request is refused first, in the same form.
        if case.path.starts_with("/api/v1/") && case.status != 404 {
            let anonymous = send(&http, &base, case, "wrong-token").await;
            assert_problem(case, &anonymous, (401, "unauthenticated"));
        }
    }
    gateway.stop().await;
}

#[actix_web::test]
async fn a_subject_nothing_was_received_for_is_a_404_but_an_empty_filter_is_not() {
    let mut gateway = TestGateway::start().await;
    let event = status_changed("1", "Printing", "2026-03-04T10:00:00Z");
    assert_eq!(gateway.client.post_signed(&event).await.status(), 200);
    let client = &gateway.client;

    for path in [
        "/api/v1/subjects/job/nope/entries",
        "/api/v1/subjects/job/nope/entries?category=accounting",
        "/api/v1/subjects/salesdoc/1/entries",
        "/api/v1/export?subject=job:nope",
    ] {
        let (status, problem) = client.get(path).await;
        assert_eq!(status, 404, "{path}: {problem}");
        assert_eq!(problem["type"], "urn:hooktrail:problem:not-found", "{path}");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|detail| detail.contains("nothing has been received about")),
            "{path}: {problem}"
        );
    }

    // A subject with history: a filter, or a page past its oldest entry, that finds nothing is
    // an empty page, not an error.
    let before_everything = Cursor {
        occurred_micros: i64::MIN,
        id: EntryId::from_u128(0),
    };
    for path in [
        "/api/v1/subjects/job/1/entries?category=accounting".to_owned(),
        format!("/api/v1/subjects/job/1/entries?before={before_everything}"),
        format!(
            "/api/v1/export?subject=job:1&after={}",
            Cursor {
                occurred_micros: i64::MAX,
                id: EntryId::from_u128(u128::MAX),
            }
        ),
    ] {
        let (status, page) = client.get(&path).await;
        assert_eq!(status, 200, "{path}: {page}");
        assert_eq!(page["entries"], Value::Array(Vec::new()), "{path}");
        assert_eq!(page["next_cursor"], Value::Null, "{path}");
    }
    gateway.stop().await;
}
