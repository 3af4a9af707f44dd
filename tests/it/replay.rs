//! Replays through generic HMAC sources, against the real binary: a captured delivery re-sent
//! under a new unsigned id, or with none, stores nothing new — nor after the gateway restarts
//! on the same file. Where the id is signed it cannot be changed at all.

use crate::common;

use common::{ChildGateway, Client, status_changed, write_config};
use serde_json::Value;

const ID_HEADER: &str = "X-Delivery-Id";

/// A delivery as it went over the wire, and the seq it was stored as.
struct Captured {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    seq: u64,
}

/// One source per way of signing: a timestamp and the body, the body alone (GitHub-style),
/// and the id with a timestamp and the body.
fn hmac_sources() -> String {
    format!(
        r#"
[[sources]]
name = "zapier"
kind = "hmac"
secrets = ["zapier-test-secret"]
header = "X-Signature"
prefix = "sha256="
signed_content = "{{timestamp}}.{{body}}"
timestamp_header = "X-Timestamp"
id_header = "{ID_HEADER}"

[[sources]]
name = "bodyonly"
kind = "hmac"
secrets = ["bodyonly-test-secret"]
header = "X-Signature"
id_header = "{ID_HEADER}"

[[sources]]
name = "signedid"
kind = "hmac"
secrets = ["signedid-test-secret"]
header = "X-Signature"
signed_content = "{{id}}.{{timestamp}}.{{body}}"
timestamp_header = "X-Timestamp"
id_header = "{ID_HEADER}"
"#
    )
}

/// The captured headers with the id header replaced (`Some`) or removed (`None`).
fn with_id(headers: &[(String, String)], id: Option<&str>) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case(ID_HEADER))
        .cloned()
        .collect();
    if let Some(id) = id {
        headers.push((ID_HEADER.to_owned(), id.to_owned()));
    }
    headers
}

async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// How many deliveries the log holds, from the integrity report.
async fn logged(client: &Client) -> u64 {
    let (status, report) = client.get("/api/v1/integrity").await;
    assert_eq!(status, 200, "{report}");
    report["deliveries"].as_u64().expect("a delivery count")
}

/// Re-sends a captured delivery under other ids and none; each must be a duplicate of
/// `original` and add nothing.
async fn resend_stores_nothing(
    client: &Client,
    source: &str,
    captured: &Captured,
    ids: &[Option<&str>],
) {
    for id in ids {
        let headers = with_id(&captured.headers, *id);
        let (status, body) = answer(client.post(source, &captured.body, &headers).await).await;
        assert_eq!(status, 200, "{source}, id {id:?}: {body}");
        assert_eq!(body["outcome"], "duplicate", "{source}, id {id:?}: {body}");
        assert_eq!(body["seq"], captured.seq, "{source}, id {id:?}: {body}");
    }
}

#[tokio::test]
async fn a_captured_delivery_resent_under_another_id_or_none_stores_nothing_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (config, text) = write_config(dir.path(), &hmac_sources());
    let mut server = ChildGateway::start(&config);
    let client = Client::new(server.base.clone(), &text);

    let mut captured = Vec::new();
    for (source, job) in [("zapier", "301"), ("bodyonly", "302")] {
        let body = status_changed(job, "Printing", "2026-03-04T10:00:00Z");
        let signed = client.signed(source, &body);
        let (status, stored) =
            answer(client.post(source, &signed.body, &signed.headers).await).await;
        assert_eq!((status, &stored["outcome"]), (200, &"stored".into()));
        let seq = stored["seq"].as_u64().unwrap();
        let delivery = Captured {
            headers: signed.headers,
            body: signed.body,
            seq,
        };
        resend_stores_nothing(
            &client,
            source,
            &delivery,
            &[Some("01ATTACKER0000000000000001"), None],
        )
        .await;
        assert_eq!(client.all_entries("job", job).await.len(), 1, "{source}");
        captured.push((source, job, delivery));
    }
    assert_eq!(logged(&client).await, 2);
    assert!(server.terminate().success());

    // The gateway remembers what it saw: the same captures after a restart add nothing.
    let mut server = ChildGateway::start(&config);
    let client = Client::new(server.base.clone(), &text);
    for (source, job, delivery) in &captured {
        resend_stores_nothing(
            &client,
            source,
            delivery,
            &[Some("01ATTACKER0000000000000002"), None],
        )
        .await;
        assert_eq!(client.all_entries("job", job).await.len(), 1, "{source}");
    }
    assert_eq!(logged(&client).await, 2);
    assert!(server.terminate().success());
}

#[tokio::test]
async fn a_signed_id_cannot_be_changed_and_its_retry_is_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let (config, text) = write_config(dir.path(), &hmac_sources());
    let mut server = ChildGateway::start(&config);
    let client = Client::new(server.base.clone(), &text);

    let body = status_changed("303", "Printing", "2026-03-04T10:00:00Z");
    let signed = client.signed("signedid", &body);
    let (status, stored) =
        answer(client.post("signedid", &signed.body, &signed.headers).await).await;
    assert_eq!((status, &stored["outcome"]), (200, &"stored".into()));
    let (status, retry) =
        answer(client.post("signedid", &signed.body, &signed.headers).await).await;
    assert_eq!((status, &retry["outcome"]), (200, &"duplicate".into()));
    for id in [Some("01ATTACKER0000000000000003"), None] {
        let headers = with_id(&signed.headers, id);
        let refused = client.post("signedid", &signed.body, &headers).await;
        assert_eq!(refused.status(), 401, "id {id:?}");
    }
    assert_eq!(client.all_entries("job", "303").await.len(), 1);
    assert_eq!(logged(&client).await, 1);
    assert!(server.terminate().success());
}

#[tokio::test]
async fn a_source_whose_captures_never_expire_is_named_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let (config, text) = write_config(dir.path(), &hmac_sources());
    let mut server = ChildGateway::start(&config);
    // Serving (so it has its signal handlers) before it is asked to stop.
    let client = Client::new(server.base.clone(), &text);
    assert_eq!(client.get("/healthz").await.0, 200);
    let warnings: Vec<&String> = server
        .startup_log
        .iter()
        .filter(|line| line.contains("WARN") && line.contains("never expires"))
        .collect();
    assert_eq!(warnings.len(), 1, "{:#?}", server.startup_log);
    assert!(warnings[0].contains("source=bodyonly"), "{}", warnings[0]);
    assert!(server.terminate().success());
}
