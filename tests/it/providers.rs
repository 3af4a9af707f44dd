//! Every provider over real HTTP: its own signature in, tampering out, redelivery deduplicated,
//! and correlation — email callbacks onto their email, accounting events onto their job.

use crate::common;

use common::{TestGateway, event};
use serde_json::{Value, json};

fn providers() -> String {
    common::provider_sources()
        + r#"
[[sources]]
name = "zapier"
kind = "hmac"
secrets = ["zapier-test-secret"]
header = "X-Signature"
prefix = "sha256="
signed_content = "{timestamp}.{body}"
timestamp_header = "X-Timestamp"
id_header = "X-Delivery-Id"
"#
}

/// The same sources with other keys: what a forger without the real ones would sign with.
fn forger_config() -> String {
    providers()
        .replace("qbo-test-verifier-token", "wrong")
        .replace("xero-test-webhook-key", "wrong")
        .replace("whsec_stripe-test-endpoint-secret", "whsec_wrong")
        .replace("mailgun-test-signing-key", "wrong")
        .replace("postmark-test-password", "wrong")
        .replace("zapier-test-secret", "wrong")
}

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

/// One realistic delivery per provider (batches where the provider batches).
fn deliveries() -> Vec<(&'static str, Vec<u8>)> {
    let postmark: Value = serde_json::from_slice(&fixture("postmark/events.json")).unwrap();
    let zapier = event(
        "status.changed",
        "2026-03-04T10:00:00Z",
        json!({"subject": {"kind": "job", "id": "77"}, "to": "Shipped"}),
    );
    vec![
        ("quickbooks", fixture("quickbooks/legacy_batch.json")),
        ("quickbooks", fixture("quickbooks/cloudevents_batch.json")),
        ("xero", fixture("xero/events_batch.json")),
        ("stripe", fixture("stripe/invoice_paid.json")),
        ("sendgrid", fixture("sendgrid/batch.json")),
        ("mailgun", fixture("mailgun/failed-permanent.json")),
        ("postmark", serde_json::to_vec(&postmark[0]).unwrap()),
        ("zapier", zapier),
    ]
}

async fn start() -> TestGateway {
    TestGateway::start_with(&providers(), None).await
}

async fn delivery_exists(gateway: &TestGateway, seq: u64) -> bool {
    gateway
        .client
        .get(&format!("/api/v1/deliveries/{seq}"))
        .await
        .0
        == 200
}

#[actix_web::test]
async fn every_provider_takes_its_own_signature_and_refuses_forgeries() {
    let mut gateway = start().await;
    let forger = common::Client::new(
        gateway.client.base.clone(),
        &common::config_text(&gateway.storage_path(), &forger_config()),
    );
    let mut stored = 0u64;
    for (source, body) in deliveries() {
        // A forger's key (SendGrid's wrong-key vectors are unit tests: only the published test
        // key pair can sign here), then the real key over a tampered body, then no signature.
        if source != "sendgrid" {
            let forged = forger.signed(source, &body);
            assert_eq!(
                gateway
                    .client
                    .post(source, &forged.body, &forged.headers)
                    .await
                    .status(),
                401,
                "{source}: wrong key"
            );
        }
        let genuine = gateway.client.signed(source, &body);
        let mut tampered = genuine.body.clone();
        // Mailgun signs only its signature block, so tamper with the token there.
        let tamper_at = if source == "mailgun" {
            let text = String::from_utf8(tampered.clone()).unwrap();
            text.find("\"token\"").unwrap() + 12
        } else {
            tampered.len() / 2
        };
        tampered[tamper_at] ^= 0x01;
        // Postmark signs nothing (it authenticates with Basic auth), so only the others can tell.
        if source != "postmark" {
            assert_eq!(
                gateway
                    .client
                    .post(source, &tampered, &genuine.headers)
                    .await
                    .status(),
                401,
                "{source}: tampered"
            );
        }
        if source != "mailgun" {
            assert_eq!(
                gateway
                    .client
                    .post(source, &genuine.body, &[])
                    .await
                    .status(),
                401,
                "{source}: unsigned"
            );
        }
        assert!(
            !delivery_exists(&gateway, stored + 1).await,
            "{source}: a refused delivery was stored"
        );

        let response = gateway
            .client
            .post(source, &genuine.body, &genuine.headers)
            .await;
        assert_eq!(response.status(), 200, "{source}");
        stored += 1;
        assert!(delivery_exists(&gateway, stored).await, "{source}");
        let (_, delivery) = gateway
            .client
            .get(&format!("/api/v1/deliveries/{stored}"))
            .await;
        assert_eq!(delivery["flagged"], false, "{source}: {delivery}");
    }
    gateway.stop().await;
}

#[actix_web::test]
async fn redelivered_batches_add_nothing() {
    let mut gateway = start().await;
    for (source, body) in deliveries() {
        let signed = gateway.client.signed(source, &body);
        let first = gateway
            .client
            .post(source, &signed.body, &signed.headers)
            .await;
        assert_eq!(first.status(), 200, "{source}");
        // A provider's retry: the same request again.
        let again = gateway
            .client
            .post(source, &signed.body, &signed.headers)
            .await;
        assert_eq!(again.status(), 200, "{source}");
        if source != "xero" {
            let again: Value = again.json().await.unwrap();
            assert_eq!(again["outcome"], "duplicate", "{source}: {again}");
        }
    }
    gateway.stop().await;
}

#[actix_web::test]
async fn a_sendgrid_retry_signed_hours_ago_is_accepted_once() {
    let mut gateway = start().await;
    // A batch first signed six hours ago, retried with its signature as it was.
    let signed_at = chrono::Utc::now().timestamp() - 6 * 60 * 60;
    let body = fixture("sendgrid/batch.json");
    let signed = common::parse_config(&gateway.config_text)
        .source("sendgrid")
        .unwrap()
        .sign(&body, signed_at, None)
        .unwrap();
    let first = gateway
        .client
        .post("sendgrid", &signed.body, &signed.headers)
        .await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["outcome"], "stored", "{first}");
    // Its events' ids were seen: the next retry adds nothing.
    let again: Value = gateway
        .client
        .post("sendgrid", &signed.body, &signed.headers)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["outcome"], "duplicate", "{again}");
    gateway.stop().await;
}

#[actix_web::test]
async fn a_captured_sendgrid_batch_without_event_ids_is_stored_once() {
    let mut gateway = start().await;
    // Nothing in it to deduplicate on: no sg_event_id, and an event that is not an object.
    let body =
        br#"[{"event": "processed", "email": "pat@example.com", "timestamp": 1772700000}, 7]"#;
    let signed = gateway.client.signed("sendgrid", body);
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let answer = gateway
            .client
            .post("sendgrid", &signed.body, &signed.headers)
            .await;
        assert_eq!(answer.status(), 200);
        let answer: Value = answer.json().await.unwrap();
        outcomes.push(answer["outcome"].clone());
    }
    assert_eq!(
        outcomes,
        ["stored", "duplicate"],
        "the signed request itself is the key"
    );
    gateway.stop().await;
}

#[actix_web::test]
async fn a_reused_mailgun_token_is_a_replay() {
    let mut gateway = start().await;
    let signed = gateway
        .client
        .signed("mailgun", &fixture("mailgun/failed-permanent.json"));
    assert_eq!(
        gateway
            .client
            .post("mailgun", &signed.body, &[])
            .await
            .status(),
        200
    );
    // The same signature block on a different event: a captured signature reused.
    let mut replay: Value = serde_json::from_slice(&signed.body).unwrap();
    replay["event-data"]["id"] = json!("another-event-id");
    let replay = serde_json::to_vec(&replay).unwrap();
    assert_eq!(
        gateway.client.post("mailgun", &replay, &[]).await.status(),
        401
    );
    gateway.stop().await;
}

#[actix_web::test]
async fn xero_intent_to_receive_gets_empty_answers() {
    let mut gateway = start().await;
    let body = fixture("xero/intent_to_receive.json");
    let good = gateway.client.send("xero", &body).await;
    assert_eq!(good.status(), 200);
    assert!(good.headers().get("set-cookie").is_none());
    assert!(good.bytes().await.unwrap().is_empty());
    let bad = vec![(
        "x-xero-signature".to_owned(),
        "bm90IHRoZSBzaWduYXR1cmU=".to_owned(),
    )];
    let bad = gateway.client.post("xero", &body, &bad).await;
    assert_eq!(bad.status(), 401);
    assert!(bad.bytes().await.unwrap().is_empty());
    gateway.stop().await;
}

fn email_sent(job: &str, provider: &str, provider_message_id: &str, subject: &str) -> Vec<u8> {
    event(
        "email.sent",
        "2026-03-04T15:00:00Z",
        json!({"subject": {"kind": "job", "id": job}, "message": {
            "provider": provider, "provider_message_id": provider_message_id,
            "message_id": format!("<{provider_message_id}@shop.example.com>"),
            "from": "proofs@shop.example.com", "to": ["ann@acme.test"], "subject": subject,
            "text": "Your proof is ready.", "html": "<p>Your proof is ready.</p>"}}),
    )
}

async fn email_status(gateway: &TestGateway, job: &str, subject: &str) -> Value {
    let entries = gateway.client.all_entries("job", job).await;
    let email = entries
        .iter()
        .find(|e| e["kind"] == "email.sent" && e["details"]["message"]["subject"] == subject)
        .expect("the email entry");
    email["delivery_status"].clone()
}

#[actix_web::test]
async fn email_callbacks_roll_up_onto_their_email() {
    let mut gateway = start().await;
    let client = &gateway.client;
    assert_eq!(
        client
            .post_signed(&email_sent("501", "sendgrid", "14c5d75ce93", "Proof ready"))
            .await
            .status(),
        200
    );
    assert_eq!(
        client
            .post_signed(&email_sent(
                "501",
                "mailgun",
                "20260304151700.2.FEDCBA@mg.shop.example.com",
                "Invoice"
            ))
            .await
            .status(),
        200
    );

    // No custom args: the callbacks find their emails through the provider message ids.
    let sendgrid = json!([
        {"email": "ann@acme.test", "timestamp": 1772636405, "event": "delivered", "sg_event_id": "sg-delivered-1",
         "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0", "response": "250 OK"},
        {"email": "ann@acme.test", "timestamp": 1772636465, "event": "open", "sg_event_id": "sg-open-1",
         "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0", "useragent": "Mozilla/5.0"}
    ]);
    assert_eq!(
        client
            .send("sendgrid", &serde_json::to_vec(&sendgrid).unwrap())
            .await
            .status(),
        200
    );
    let mut mailgun: Value =
        serde_json::from_slice(&fixture("mailgun/failed-permanent.json")).unwrap();
    mailgun["event-data"]["user-variables"] = json!({});
    assert_eq!(
        client
            .send("mailgun", &serde_json::to_vec(&mailgun).unwrap())
            .await
            .status(),
        200
    );

    let proof = email_status(&gateway, "501", "Proof ready").await;
    assert_eq!(proof["current"], "opened", "{proof}");
    let statuses: Vec<&str> = proof["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["delivered", "opened"]);
    let invoice = email_status(&gateway, "501", "Invoice").await;
    assert_eq!(invoice["current"], "bounced", "{invoice}");
    assert!(
        invoice["history"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("550"),
        "{invoice}"
    );

    // Each callback is also its own entry on the job's timeline.
    let kinds: Vec<String> = gateway
        .client
        .all_entries("job", "501")
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    for kind in ["email.delivered", "email.opened", "email.bounced"] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "{kind} missing from {kinds:?}"
        );
    }
    gateway.stop().await;
}

#[actix_web::test]
async fn an_accounting_event_before_its_link_is_unmatched_then_attached() {
    let mut gateway = start().await;
    let update = br#"{"eventNotifications":[{"realmId":"9130350266011486","dataChangeEvent":{"entities":[{"name":"Invoice","id":"130","operation":"Update","lastUpdated":"2026-03-04T09:15:02-0600"}]}}]}"#;
    assert_eq!(
        gateway.client.send("quickbooks", update).await.status(),
        200
    );
    let (_, unmatched) = gateway.client.get("/api/v1/unmatched").await;
    assert_eq!(
        unmatched["entries"].as_array().unwrap().len(),
        1,
        "{unmatched}"
    );
    assert_eq!(
        unmatched["entries"][0]["kind"],
        "quickbooks.invoice.updated"
    );
    assert!(gateway.client.all_entries("job", "1042").await.is_empty());

    let link = event(
        "invoice.sent_to_accounting",
        "2026-03-04T09:00:00Z",
        json!({"subject": {"kind": "job", "id": "1042"}, "invoice": {"number": "INV-1001", "total": "250.00", "currency": "USD"},
               "platform": "quickbooks", "account_id": "9130350266011486", "external_id": "130"}),
    );
    assert_eq!(gateway.client.post_signed(&link).await.status(), 200);
    let (_, unmatched) = gateway.client.get("/api/v1/unmatched").await;
    assert!(
        unmatched["entries"].as_array().unwrap().is_empty(),
        "{unmatched}"
    );
    let kinds: Vec<String> = gateway
        .client
        .all_entries("job", "1042")
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        ["quickbooks.invoice.updated", "invoice.sent_to_accounting"]
    );

    // Later events find the link straight away.
    let void = br#"{"eventNotifications":[{"realmId":"9130350266011486","dataChangeEvent":{"entities":[{"name":"Invoice","id":"130","operation":"Void","lastUpdated":"2026-03-05T09:00:00Z"}]}}]}"#;
    assert_eq!(gateway.client.send("quickbooks", void).await.status(), 200);
    assert_eq!(gateway.client.all_entries("job", "1042").await.len(), 3);
    gateway.stop().await;
}

#[actix_web::test]
async fn an_overlapping_batch_adds_only_what_is_new() {
    let mut gateway = start().await;
    let change = |id: &str, at: &str| {
        format!(r#"{{"name":"Invoice","id":"{id}","operation":"Update","lastUpdated":"{at}"}}"#)
    };
    let batch = |entities: &[String]| {
        format!(r#"{{"eventNotifications":[{{"realmId":"42","dataChangeEvent":{{"entities":[{}]}}}}]}}"#, entities.join(","))
            .into_bytes()
    };
    let a = change("1", "2026-03-04T10:00:00Z");
    let b = change("2", "2026-03-04T10:01:00Z");
    let c = change("3", "2026-03-04T10:02:00Z");
    let first: Value = gateway
        .client
        .send("quickbooks", &batch(&[a.clone(), b.clone()]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["entries"], 2);
    let overlap: Value = gateway
        .client
        .send("quickbooks", &batch(&[b, c]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overlap["entries"], 1, "{overlap}");
    let (_, unmatched) = gateway.client.get("/api/v1/unmatched").await;
    assert_eq!(unmatched["entries"].as_array().unwrap().len(), 3);
    gateway.stop().await;
}
