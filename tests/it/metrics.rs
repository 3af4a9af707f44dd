//! Observability: the counters move with what intake does, `/metrics` can be moved or turned
//! off, and no secret ever reaches a log line.

use crate::common::{self, ChildGateway};
use crate::ops_support;

use std::net::TcpListener;
use std::time::Duration;

use common::{SECRET, TOKEN, TestGateway, config_text, event, parse_config, status_changed};
use ops_support::{delta, scrape, series};
use serde_json::json;

const ACCEPTED: &str = "hooktrail_deliveries_accepted_total";
const REJECTED: &str = "hooktrail_deliveries_rejected_total";

#[actix_web::test]
async fn counters_and_histograms_move_with_every_kind_of_delivery() {
    let mut gateway = TestGateway::start().await;
    let client = &gateway.client;
    let before = scrape(&client.base).await;

    // Stored, then the same delivery again: a duplicate.
    let body = status_changed("m1", "Printing", "2026-03-04T10:00:00Z");
    let headers = client.signed_headers("hoops", &body);
    assert_eq!(client.post("hoops", &body, &headers).await.status(), 200);
    assert_eq!(client.post("hoops", &body, &headers).await.status(), 200);
    // Signed but unreadable: stored, flagged.
    assert_eq!(client.post_signed(b"not json at all").await.status(), 200);
    // An email callback nothing links to yet: stored, unmatched.
    let orphan = event(
        "email.delivered",
        "2026-03-04T10:00:00Z",
        json!({"email_id": "re_nobody_sent_this", "created_at": "2026-03-04T10:00:00Z",
               "from": "shop@example.test", "to": ["ann@example.test"], "subject": "Proof"}),
    );
    assert_eq!(client.post_signed(&orphan).await.status(), 200);

    // Refusals, one per cause.
    let forged = status_changed("m1", "Forged", "2026-03-04T10:00:00Z");
    assert_eq!(client.post("hoops", &forged, &headers).await.status(), 401);
    assert_eq!(client.post("hoops", &body, &[]).await.status(), 401);
    let secret = hooktrail::sources::standard_webhooks::decode_secret(SECRET).unwrap();
    let old = chrono::Utc::now().timestamp() - 3600;
    let stale = vec![
        ("webhook-id".to_owned(), "msg_stale".to_owned()),
        ("webhook-timestamp".to_owned(), old.to_string()),
        (
            "webhook-signature".to_owned(),
            hooktrail::sources::standard_webhooks::sign(&secret, "msg_stale", old, &body),
        ),
    ];
    assert_eq!(client.post("hoops", &body, &stale).await.status(), 401);
    let huge = vec![b'x'; 70_000];
    assert_eq!(client.post_signed(&huge).await.status(), 413);
    assert_eq!(client.post("nowhere", &body, &headers).await.status(), 404);

    let after = scrape(&client.base).await;
    let grew = |key: String| delta(&before, &after, &key);
    let hoops =
        |label: &'static str, value: &'static str| vec![("source", "hoops"), (label, value)];

    assert_eq!(grew(series(ACCEPTED, &hoops("outcome", "stored"))), 3.0);
    assert_eq!(grew(series(ACCEPTED, &hoops("outcome", "duplicate"))), 1.0);
    assert_eq!(
        grew(series(
            "hooktrail_deliveries_flagged_total",
            &hoops("reason", "unparseable")
        )),
        1.0
    );
    for cause in [
        "bad_signature",
        "missing_signature",
        "stale_timestamp",
        "too_large",
    ] {
        assert_eq!(
            grew(series(REJECTED, &hoops("cause", cause))),
            1.0,
            "{cause}"
        );
    }
    assert_eq!(
        grew(series(
            REJECTED,
            &[("source", "(unknown)"), ("cause", "unknown_source")]
        )),
        1.0
    );
    assert_eq!(
        grew(series(
            "hooktrail_entries_written_total",
            &[("category", "workflow")]
        )),
        1.0
    );
    assert_eq!(
        grew(series(
            "hooktrail_entries_written_total",
            &[("category", "communication")]
        )),
        1.0
    );
    assert_eq!(
        grew(series("hooktrail_unmatched_entries_written_total", &[])),
        1.0
    );
    assert_eq!(grew(series("hooktrail_unmatched_entries", &[])), 1.0);
    // Everything that got past reading its body was verified, and timed.
    assert_eq!(
        grew(series(
            "hooktrail_verify_duration_seconds_count",
            &[("source", "hoops")]
        )),
        7.0
    );
    // Stored, duplicate, flagged, unmatched: each went through a commit.
    assert!(grew(series("hooktrail_commits_total", &[("result", "ok")])) >= 1.0);
    assert!(grew(series("hooktrail_commit_batch_size_sum", &[])) >= 4.0);
    assert!(grew(series("hooktrail_commit_duration_seconds_count", &[])) >= 1.0);
    assert_eq!(
        grew(series(
            "hooktrail_http_request_duration_seconds_count",
            &[
                ("method", "POST"),
                ("route", "/hooks/{source}"),
                ("status", "200")
            ]
        )),
        4.0
    );
    assert_eq!(after[&series("hooktrail_intake_queue_depth", &[])], 0.0);
    assert_eq!(
        after[&series("hooktrail_intake_queue_capacity", &[])],
        4096.0
    );
    assert_eq!(after[&series("hooktrail_intake_buffered_bytes", &[])], 0.0);
    gateway.stop().await;
}

/// `[metrics] listen` moves the route off the public listener; `enabled = false` removes it.
#[actix_web::test]
async fn metrics_can_move_to_their_own_address_or_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, apart) in [
        ("[metrics]\nlisten = \"127.0.0.1:0\"\n", true),
        ("[metrics]\nenabled = false\n", false),
    ] {
        // A file per gateway: a stopped one may still be letting go of its file.
        let text = config_text(&dir.path().join(format!("m-{apart}.redb")), extra);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let gateway = hooktrail::app::Gateway::start(parse_config(&text), listener).unwrap();
        let main = reqwest::get(format!("http://{}/metrics", gateway.addr))
            .await
            .unwrap();
        assert_eq!(main.status(), 404, "{extra}");
        match gateway.metrics_addr {
            Some(addr) => {
                assert!(apart);
                let text = reqwest::get(format!("http://{addr}/metrics"))
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                assert!(text.contains("hooktrail_intake_queue_depth"), "{text}");
            }
            None => assert!(!apart, "{extra}"),
        }
        gateway.stop().await.unwrap();
    }
}

/// Known secrets of every kind go in through the config, the environment and requests — good
/// ones and wrong ones — with the most verbose log filter, in both log formats; none may come
/// out in a log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_token_or_password_reaches_the_logs() {
    const HMAC_SECRET: &str = "hmac-secret-0f1e2d3c4b5a";
    const STRIPE_SECRET: &str = "whsec_stripe_secret_9a8b7c6d5e";
    const POSTMARK_PASSWORD: &str = "postmark-password-3c4d5e";
    const WRONG_PASSWORD: &str = "wrong-password-7h8j9k";
    const WRONG_TOKEN: &str = "wrong-api-token-1q2w3e";
    const ENV_SECRET: &str = "whsec_ZW52LW92ZXJyaWRlLXNlY3JldC1rZXk=";
    let extra = format!(
        r#"
[[sources]]
name = "zapier"
kind = "hmac"
secrets = ["{HMAC_SECRET}"]
header = "X-Signature"
algorithm = "sha256"
encoding = "hex"

[[sources]]
name = "stripe"
kind = "stripe"
secrets = ["{STRIPE_SECRET}"]

[[sources]]
name = "postmark"
kind = "postmark"
username = "postmark-user"
password = "{POSTMARK_PASSWORD}"

[[sources]]
name = "rotated"
kind = "standard-webhooks"
secrets = ["whsec_cGxhY2Vob2xkZXItc2VjcmV0LWtleQ=="]
"#
    );
    let mut secrets: Vec<String> = [
        SECRET,
        SECRET.trim_start_matches("whsec_"),
        TOKEN,
        HMAC_SECRET,
        STRIPE_SECRET,
        POSTMARK_PASSWORD,
        WRONG_PASSWORD,
        WRONG_TOKEN,
        ENV_SECRET,
        ENV_SECRET.trim_start_matches("whsec_"),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    use base64::Engine;
    let basic = |password: &str| {
        base64::engine::general_purpose::STANDARD.encode(format!("postmark-user:{password}"))
    };
    secrets.push(basic(POSTMARK_PASSWORD));
    secrets.push(basic(WRONG_PASSWORD));

    for format in ["text", "json"] {
        let dir = tempfile::tempdir().unwrap();
        let (config, text) = common::write_config(dir.path(), &extra);
        let log = dir.path().join("gateway.log");
        let mut server = ChildGateway::start_with(
            &config,
            &["--log-format", format],
            &[
                ("HOOKTRAIL_LOG", "trace"),
                ("HOOKTRAIL_SOURCES__ROTATED__SECRETS", ENV_SECRET),
            ],
            Some(&log),
        );
        // Sign as the server's environment configured it, not as the file says.
        let signer_text = text.replace("whsec_cGxhY2Vob2xkZXItc2VjcmV0LWtleQ==", ENV_SECRET);
        let client = common::Client::new(server.base.clone(), &signer_text);
        exercise_every_secret(&client, WRONG_PASSWORD, WRONG_TOKEN).await;
        assert!(server.terminate().success());

        let logged = server.log_text();
        assert!(
            logged.contains("delivery rejected"),
            "the run should have logged something to search: {logged}"
        );
        for secret in &secrets {
            assert!(
                !logged.contains(secret.as_str()),
                "{format} log contains the secret {secret:?}:\n{logged}"
            );
        }
    }

    // A config that fails to load names the key, not the value.
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = common::write_config(
        dir.path(),
        &format!(
            "[[sources]]\nname = \"broken\"\nkind = \"standard-webhooks\"\nsecrets = [\"{HMAC_SECRET}\"]\n"
        ),
    );
    let output = std::process::Command::new(common::binary())
        .args(["--config", &config.display().to_string(), "verify"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("sources[1]"), "{stderr}");
    assert!(!stderr.contains(HMAC_SECRET), "{stderr}");
}

/// Good and bad requests through every configured secret.
async fn exercise_every_secret(client: &common::Client, wrong_password: &str, wrong_token: &str) {
    let body = status_changed("s1", "Printing", "2026-03-04T10:00:00Z");
    for source in ["hoops", "zapier", "postmark", "rotated"] {
        let payload = if source == "postmark" {
            br#"{"RecordType":"Delivery","MessageID":"pm-1","Recipient":"a@example.test","DeliveredAt":"2026-03-04T10:00:00Z"}"#.to_vec()
        } else {
            body.clone()
        };
        assert_eq!(
            client.send(source, &payload).await.status(),
            200,
            "{source}"
        );
        // Right headers, altered body.
        let signed = client.signed(source, &payload);
        let mut altered = signed.body.clone();
        altered.push(b' ');
        client.post(source, &altered, &signed.headers).await;
    }
    let stripe_event = br#"{"id":"evt_1","object":"event","type":"charge.succeeded","created":1772618177,"data":{"object":{"id":"ch_1","object":"charge","amount":100,"currency":"usd"}}}"#;
    client.send("stripe", stripe_event).await;
    let basic = |password: &str| {
        use base64::Engine;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("postmark-user:{password}"));
        vec![("Authorization".to_owned(), format!("Basic {encoded}"))]
    };
    client.post("postmark", b"{}", &basic(wrong_password)).await;
    let http = reqwest::Client::new();
    for token in [TOKEN, wrong_token] {
        http.get(format!("{}/api/v1/subjects/job/s1/entries", client.base))
            .bearer_auth(token)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .unwrap();
    }
}
