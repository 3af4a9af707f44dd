//! Intake end to end: signed deliveries in over real HTTP, entries out of the API.

use crate::common;
use crate::ops_support;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::{SECRET, TestGateway, event, status_changed};
use serde_json::{Value, json};

async fn entries_of(gateway: &TestGateway, job: &str) -> Vec<Value> {
    gateway.client.all_entries("job", job).await
}

#[actix_web::test]
async fn a_signed_event_is_stored_and_served_with_its_subject_kind_and_category() {
    let mut gateway = TestGateway::start().await;
    let response = gateway
        .client
        .post_signed(&status_changed("1042", "Printing", "2026-03-04T10:00:00Z"))
        .await;
    assert_eq!(response.status(), 200);
    let ack: Value = response.json().await.unwrap();
    assert_eq!(ack, json!({"outcome": "stored", "seq": 1, "entries": 1}));

    let entries = entries_of(&gateway, "1042").await;
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry["kind"], "status.changed");
    assert_eq!(entry["category"], "workflow");
    assert_eq!(entry["subjects"], json!([{"kind": "job", "id": "1042"}]));
    assert_eq!(entry["summary"], "Status changed from Proofing to Printing");
    assert_eq!(entry["actor"]["name"], "Dana");
    assert_eq!(entry["occurred_at"], "2026-03-04T10:00:00Z");
    assert_eq!(
        entry["details"],
        json!({"type": "status_change", "from": "Proofing", "to": "Printing"})
    );
    assert!(
        entry["source"]["event_id"]
            .as_str()
            .unwrap()
            .starts_with("msg_")
    );
    assert_eq!(entry["source"]["delivery_seq"], 1);

    let (status, one) = gateway
        .client
        .get(&format!(
            "/api/v1/entries/{}",
            entry["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(&one, entry);
    gateway.stop().await;
}

#[actix_web::test]
async fn bad_or_missing_signatures_get_401_and_store_nothing() {
    let mut gateway = TestGateway::start().await;
    let body = status_changed("1", "Done", "2026-03-04T10:00:00Z");
    let mut tampered = gateway.client.signed_headers("hoops", &body);
    let forged_body = status_changed("1", "Forged", "2026-03-04T10:00:00Z");
    let missing: Vec<(String, String)> = tampered
        .iter()
        .filter(|(name, _)| name != "webhook-signature")
        .cloned()
        .collect();
    let response = gateway.client.post("hoops", &forged_body, &tampered).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 401);
    assert_eq!(
        gateway.client.post("hoops", &body, &missing).await.status(),
        401
    );
    assert_eq!(gateway.client.post("hoops", &body, &[]).await.status(), 401);
    // A signature made with another key.
    tampered.retain(|(name, _)| name != "webhook-signature");
    tampered.push((
        "webhook-signature".into(),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".into(),
    ));
    assert_eq!(
        gateway
            .client
            .post("hoops", &body, &tampered)
            .await
            .status(),
        401
    );

    assert!(entries_of(&gateway, "1").await.is_empty());
    assert_eq!(gateway.client.get("/api/v1/deliveries/1").await.0, 404);
    gateway.stop().await;
}

#[actix_web::test]
async fn timestamps_outside_the_window_get_401() {
    let mut gateway = TestGateway::start().await;
    let body = status_changed("1", "Done", "2026-03-04T10:00:00Z");
    let secret = hooktrail::sources::standard_webhooks::decode_secret(SECRET).unwrap();
    for offset in [-301i64, 301] {
        let timestamp = chrono::Utc::now().timestamp() + offset;
        let signature =
            hooktrail::sources::standard_webhooks::sign(&secret, "msg_window", timestamp, &body);
        let headers = vec![
            ("webhook-id".to_owned(), "msg_window".to_owned()),
            ("webhook-timestamp".to_owned(), timestamp.to_string()),
            ("webhook-signature".to_owned(), signature),
        ];
        assert_eq!(
            gateway.client.post("hoops", &body, &headers).await.status(),
            401,
            "offset {offset}"
        );
    }
    assert!(entries_of(&gateway, "1").await.is_empty());
    gateway.stop().await;
}

#[actix_web::test]
async fn a_retried_delivery_answers_2xx_and_adds_nothing() {
    let mut gateway = TestGateway::start().await;
    let body = status_changed("7", "Done", "2026-03-04T10:00:00Z");
    let headers = gateway.client.signed_headers("hoops", &body);
    let first: Value = gateway
        .client
        .post("hoops", &body, &headers)
        .await
        .json()
        .await
        .unwrap();
    let retry = gateway.client.post("hoops", &body, &headers).await;
    assert_eq!(retry.status(), 200);
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry, json!({"outcome": "duplicate", "seq": first["seq"]}));
    assert_eq!(entries_of(&gateway, "7").await.len(), 1);
    assert_eq!(
        gateway.client.get("/api/v1/deliveries/2").await.0,
        404,
        "the retry was not logged"
    );
    gateway.stop().await;
}

#[actix_web::test]
async fn unknown_sources_get_404_and_oversized_bodies_413() {
    let mut gateway = TestGateway::start().await;
    let body = status_changed("1", "Done", "2026-03-04T10:00:00Z");
    let headers = gateway.client.signed_headers("hoops", &body);
    let response = gateway.client.post("nope", &body, &headers).await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    let huge = event(
        "user.action",
        "2026-03-04T10:00:00Z",
        json!({"subject": {"kind": "job", "id": "1"}, "description": "x".repeat(70_000)}),
    );
    let headers = gateway.client.signed_headers("hoops", &huge);
    let response = gateway.client.post("hoops", &huge, &headers).await;
    assert_eq!(response.status(), 413);
    assert!(entries_of(&gateway, "1").await.is_empty());
    gateway.stop().await;
}

#[actix_web::test]
async fn a_signed_body_that_is_not_json_is_kept_flagged_and_acknowledged() {
    let mut gateway = TestGateway::start().await;
    let response = gateway.client.post_signed(b"this is not json {").await;
    assert_eq!(response.status(), 200);
    let ack: Value = response.json().await.unwrap();
    // The sender is told that, and why.
    assert_eq!(ack["outcome"], "stored");
    assert_eq!(ack["entries"], 0);
    assert_eq!(ack["flagged"]["status"], "unparseable", "{ack}");
    assert!(
        ack["flagged"]["reason"]
            .as_str()
            .is_some_and(|why| !why.is_empty()),
        "{ack}"
    );
    let (status, delivery) = gateway
        .client
        .get(&format!("/api/v1/deliveries/{}", ack["seq"]))
        .await;
    assert_eq!(status, 200);
    assert_eq!(delivery["flagged"], true);
    assert_eq!(delivery["outcome"]["status"], "unparseable");
    assert_eq!(delivery["body_retained"], true);
    gateway.stop().await;
}

#[actix_web::test]
async fn unknown_types_become_generic_entries() {
    let mut gateway = TestGateway::start().await;
    let body = event(
        "job.teleported",
        "2026-03-04T10:00:00Z",
        json!({"subject": {"kind": "job", "id": "5"}, "to": "Mars"}),
    );
    assert_eq!(gateway.client.post_signed(&body).await.status(), 200);
    let entries = entries_of(&gateway, "5").await;
    assert_eq!(entries[0]["kind"], "job.teleported");
    assert_eq!(entries[0]["details"]["type"], "generic");
    assert_eq!(entries[0]["details"]["data"]["to"], "Mars");
    gateway.stop().await;
}

#[actix_web::test]
async fn an_event_sent_late_lands_in_its_time_order() {
    let mut gateway = TestGateway::start().await;
    for (to, at) in [
        ("B", "2026-03-04T10:00:00Z"),
        ("D", "2026-03-04T12:00:00Z"),
        ("C", "2026-03-04T11:00:00Z"),
        ("A", "2026-03-04T09:00:00Z"),
    ] {
        assert_eq!(
            gateway
                .client
                .post_signed(&status_changed("9", to, at))
                .await
                .status(),
            200
        );
    }
    let order: Vec<String> = entries_of(&gateway, "9")
        .await
        .iter()
        .map(|e| e["details"]["to"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(order, ["D", "C", "B", "A"]);
    gateway.stop().await;
}

#[actix_web::test]
async fn the_api_pages_filters_and_requires_a_token() {
    let mut gateway = TestGateway::start().await;
    for i in 0..7 {
        let at = format!("2026-03-04T10:0{i}:00Z");
        assert_eq!(
            gateway
                .client
                .post_signed(&status_changed("3", &format!("S{i}"), &at))
                .await
                .status(),
            200
        );
    }
    let invoice = event(
        "invoice.created",
        "2026-03-05T00:00:00Z",
        json!({"subject": {"kind": "job", "id": "3"}, "invoice": {"number": "INV-1", "total": "10.00", "currency": "USD"}}),
    );
    assert_eq!(gateway.client.post_signed(&invoice).await.status(), 200);

    let (_, first) = gateway
        .client
        .get("/api/v1/subjects/job/3/entries?limit=3")
        .await;
    assert_eq!(first["entries"].as_array().unwrap().len(), 3);
    assert_eq!(first["entries"][0]["kind"], "invoice.created");
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = gateway
        .client
        .get(&format!(
            "/api/v1/subjects/job/3/entries?limit=3&before={cursor}"
        ))
        .await;
    assert_eq!(second["entries"][0]["details"]["to"], "S4");
    assert_eq!(gateway.client.all_entries("job", "3").await.len(), 8);

    let (_, accounting) = gateway
        .client
        .get("/api/v1/subjects/job/3/entries?category=accounting")
        .await;
    assert_eq!(accounting["entries"].as_array().unwrap().len(), 1);
    assert_eq!(accounting["next_cursor"], Value::Null);

    for bad in [
        "?limit=0",
        "?limit=1000",
        "?before=garbage",
        "?category=gossip",
    ] {
        let (status, problem) = gateway
            .client
            .get(&format!("/api/v1/subjects/job/3/entries{bad}"))
            .await;
        assert_eq!(status, 400, "{bad}: {problem}");
    }
    assert_eq!(
        gateway
            .client
            .get("/api/v1/subjects/order/3/entries")
            .await
            .0,
        404
    );
    assert_eq!(gateway.client.get("/api/v1/entries/not-an-id").await.0, 404);

    let anonymous = reqwest::get(format!(
        "{}/api/v1/subjects/job/3/entries",
        gateway.client.base
    ))
    .await
    .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let wrong = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/entries/01M89XAMGF0000000000002000",
            gateway.client.base
        ))
        .bearer_auth("wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    gateway.stop().await;
}

#[actix_web::test]
async fn health_and_readiness() {
    let mut gateway = TestGateway::start().await;
    assert_eq!(
        reqwest::get(format!("{}/healthz", gateway.client.base))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        reqwest::get(format!("{}/readyz", gateway.client.base))
            .await
            .unwrap()
            .status(),
        200
    );
    gateway.stop().await;
}

/// A stopped gateway has closed its store: the CLI, or another gateway, may open the file the
/// moment `stop` returns. Each round has the workers answer a delivery and a read at once
/// before the stop, so they have served with the shared state they must drop first. (Whether a
/// worker lets go late is up to the scheduler; `app::tests` checks the waiting itself.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_gateway_has_closed_its_store() {
    let mut gateway = TestGateway::start().await;
    let config = common::parse_config(&gateway.config_text);
    for round in 0..10 {
        let body = status_changed(&format!("{round}"), "Printing", "2026-03-04T10:00:00Z");
        let (stored, read) = tokio::join!(
            gateway.client.post_signed(&body),
            gateway
                .client
                .get("/api/v1/subjects/job/1042/entries?limit=1"),
        );
        assert_eq!(stored.status(), 200);
        // A job nothing was received about: still a full answer from the store.
        assert_eq!(read.0, 404, "{}", read.1);
        gateway.stop().await;
        match hooktrail::store::open(&config.storage, None) {
            Ok(store) => drop(store),
            Err(err) => panic!("round {round}: the stopped gateway's store: {err}"),
        }
        gateway.restart_with("").await;
    }
    gateway.stop().await;
}

#[actix_web::test]
async fn a_full_queue_answers_503_with_retry_after_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (store, entered, gate) = common::store::controlled(&dir);
    let text = common::config_text(&dir.path().join("unused.redb"), "").replace(
        "[storage]\n",
        "[storage]\nqueue_capacity = 1\nmax_batch = 1\n",
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let small = hooktrail::app::Gateway::start_with_storage(
        common::parse_config(&text),
        store.storage(),
        listener,
    )
    .unwrap();
    let client = Arc::new(common::Client::new(base, &text));

    // First request: taken by the writer, which is then held inside its commit.
    let first = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .post_signed(&status_changed("q", "A", "2026-03-04T10:00:00Z"))
                .await
                .status()
        }
    });
    tokio::task::spawn_blocking(move || entered.recv().unwrap())
        .await
        .unwrap();
    // Second: waits in the queue (capacity 1).
    let second = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .post_signed(&status_changed("q", "B", "2026-03-04T10:01:00Z"))
                .await
                .status()
        }
    });
    // Wait until the second is in the queue (the gauge counts what waits for the writer).
    ops_support::until_at_least(&client.base, "hooktrail_intake_queue_depth", 1.0).await;
    // Third: the queue is full.
    let third = client
        .post_signed(&status_changed("q", "C", "2026-03-04T10:02:00Z"))
        .await;
    assert_eq!(third.status(), 503);
    assert_eq!(third.headers()["retry-after"], "1");

    gate.send(()).unwrap();
    assert_eq!(first.await.unwrap(), 200);
    assert_eq!(second.await.unwrap(), 200);
    let kept: Vec<String> = client
        .all_entries("job", "q")
        .await
        .iter()
        .map(|e| e["details"]["to"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kept, ["B", "A"]);
    small.stop().await.unwrap();
}

#[actix_web::test]
async fn a_failed_commit_acknowledges_nothing_and_the_gateway_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (store, entered, gate) = common::store::controlled(&dir);
    store.failing.store(true, Ordering::SeqCst);
    drop(entered);
    gate.send(()).unwrap();
    let mut gateway = TestGateway::start_with("", Some(store.storage())).await;
    let response = gateway
        .client
        .post_signed(&status_changed("f", "Lost?", "2026-03-04T10:00:00Z"))
        .await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(gateway.client.all_entries("job", "f").await.is_empty());

    store.failing.store(false, Ordering::SeqCst);
    let response = gateway
        .client
        .post_signed(&status_changed("f", "Kept", "2026-03-04T10:00:00Z"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(gateway.client.all_entries("job", "f").await.len(), 1);
    gateway.stop().await;
}
