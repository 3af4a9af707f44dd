//! The embedded store's views file, lost or corrupt, is rebuilt from the log when the gateway
//! starts, by the configured sources' normalizers: every page reads as it did.

use crate::common;

use common::{TestGateway, event, provider_sources, status_changed};
use serde_json::{Value, json};

/// An email whose delivery callback came before it (attached when the email arrived, and
/// rolled up into its status), a callback that found its email at once, a status change, and
/// a callback no email claims yet.
async fn story(gateway: &TestGateway) {
    let client = &gateway.client;
    let callback = |event_id: &str, message: &str, kind: &str, at: i64| {
        serde_json::to_vec(&json!([{
            "event": kind, "email": "ann@acme.test", "timestamp": at,
            "sg_event_id": event_id, "sg_message_id": format!("{message}.filter0001"),
        }]))
        .unwrap()
    };
    let email = |job: &str, message: &str| {
        event(
            "email.sent",
            "2026-03-04T15:00:00Z",
            json!({"subject": {"kind": "job", "id": job}, "message": {
                "provider": "sendgrid", "provider_message_id": message,
                "to": ["ann@acme.test"], "subject": "Your proof"}}),
        )
    };
    let sendgrid = |body: Vec<u8>| async move {
        let signed = client.signed("sendgrid", &body);
        let answer = client.post("sendgrid", &signed.body, &signed.headers).await;
        assert_eq!(answer.status(), 200);
    };
    sendgrid(callback("early", "sg-early", "delivered", 1_772_636_500)).await;
    assert_eq!(
        client.post_signed(&email("77", "sg-early")).await.status(),
        200
    );
    assert_eq!(
        client.post_signed(&email("78", "sg-late")).await.status(),
        200
    );
    sendgrid(callback("late", "sg-late", "open", 1_772_636_600)).await;
    sendgrid(callback("stray", "sg-nobody", "bounce", 1_772_636_700)).await;
    let status = status_changed("77", "Printing", "2026-03-04T16:00:00Z");
    assert_eq!(client.post_signed(&status).await.status(), 200);
}

/// What staff read: both jobs' timelines (every line, callbacks included) and the unmatched
/// list.
async fn everything_read(gateway: &TestGateway) -> Vec<Value> {
    let mut read = Vec::new();
    for path in [
        "/api/v1/subjects/job/77/entries",
        "/api/v1/subjects/job/78/entries",
        "/api/v1/unmatched",
    ] {
        let (status, body) = gateway.client.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        read.push(body);
    }
    read
}

#[actix_web::test]
async fn a_lost_views_file_is_rebuilt_by_the_sources_normalizers_when_the_gateway_starts() {
    let mut gateway = TestGateway::start_with(&provider_sources(), None).await;
    story(&gateway).await;
    let before = everything_read(&gateway).await;
    // The early callback was attached to its email, and rolled up into its status.
    let job77 = before[0]["entries"].as_array().unwrap();
    let email = job77.iter().find(|e| e["kind"] == "email.sent").unwrap();
    assert_eq!(email["delivery_status"]["current"], "delivered", "{email}");
    assert_eq!(before[2]["entries"].as_array().unwrap().len(), 1);

    gateway.stop().await;
    let views = gateway.dir.path().join("hooktrail.views.redb");
    std::fs::remove_file(&views).unwrap();
    gateway.restart_with(&provider_sources()).await;
    assert_eq!(everything_read(&gateway).await, before);
    assert!(views.exists());

    // Corrupt this time: not a redb file at all.
    gateway.stop().await;
    std::fs::write(&views, b"not a database").unwrap();
    gateway.restart_with(&provider_sources()).await;
    assert_eq!(everything_read(&gateway).await, before);
    gateway.stop().await;
}
