//! Looking after the data: retention, erasure, export and backup, through the real binary.

use crate::common;

use chrono::{Duration, Utc};
use common::{ChildGateway, Client, event, run_cli, status_changed, write_config};
use hooktrail::activity::Entry;
use hooktrail::store::prelude::*;
use hooktrail::store::redb::RedbStore;
use serde_json::{Value, json};

const ADDRESS: &str = "ann.customer@acme.test";

fn email_sent(job: &str) -> Vec<u8> {
    event(
        "email.sent",
        "2026-03-04T15:00:00Z",
        json!({"subject": {"kind": "job", "id": job}, "message": {
            "provider": "sendgrid", "provider_message_id": format!("sg-{job}"),
            "from": "proofs@shop.example.com", "to": [ADDRESS], "cc": ["boss@acme.test"],
            "subject": "Your proof", "text": "Dear Ann, your secret proof text.",
            "html": "<p>Dear Ann, your secret proof text.</p>"}}),
    )
}

async fn seed(client: &Client) {
    for (job, to, at) in [
        ("1", "A", "2026-03-04T09:00:00Z"),
        ("1", "B", "2026-03-04T10:00:00Z"),
        ("2", "C", "2026-03-04T11:00:00Z"),
    ] {
        assert_eq!(
            client
                .post_signed(&status_changed(job, to, at))
                .await
                .status(),
            200
        );
    }
    assert_eq!(client.post_signed(&email_sent("1")).await.status(), 200);
    assert_eq!(client.post_signed(&email_sent("2")).await.status(), 200);
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// `run_cli` with the arguments that let a CLI verb ask a running gateway.
fn run_live(config: &std::path::Path, server: &ChildGateway, args: &[&str]) -> (bool, String) {
    let live = ["--url", server.base.as_str(), "--token", common::TOKEN];
    run_cli(config, &[args, &live[..]].concat())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_verify_and_backup_work_beside_a_live_gateway_and_offline() {
    let dir = tempfile::tempdir().unwrap();
    let (config, text) = write_config(dir.path(), "");
    let mut server = ChildGateway::start(&config);
    let client = Client::new(server.base.clone(), &text);
    seed(&client).await;

    // The gateway owns the file, so these verbs ask it, with an API token.
    let (ok, out) = run_cli(&config, &["export", "--subject", "job:1"]);
    assert!(!ok, "without a token a live export is refused: {out}");
    let (ok, out) = run_live(&config, &server, &["verify"]);
    assert!(ok && out.starts_with("ok: 5 deliveries"), "{out}");
    // The tree root comes through the gateway's answer too (all zeros if it were lost).
    let tree_root = out.split("tree root ").nth(1).map(str::trim);
    assert!(
        tree_root.is_some_and(|root| root.len() == 64 && root != "0".repeat(64)),
        "{out}"
    );

    // JSON lines round-trip to exactly what the API serves (oldest first).
    let (ok, out) = run_live(
        &config,
        &server,
        &["export", "--subject", "job:1", "--format", "jsonl"],
    );
    assert!(ok, "{out}");
    let exported = lines(&out);
    let mut served = client.all_entries("job", "1").await;
    served.reverse();
    assert_eq!(exported, served);
    for line in &exported {
        serde_json::from_value::<Entry>(line.clone()).expect("an entry");
    }

    let (ok, all) = run_live(&config, &server, &["export", "--all"]);
    assert!(ok);
    assert_eq!(lines(&all).len(), 5);

    let csv_path = dir.path().join("job1.csv").display().to_string();
    let (ok, _) = run_live(
        &config,
        &server,
        &[
            "export",
            "--subject",
            "job:1",
            "--format",
            "csv",
            "--output",
            &csv_path,
        ],
    );
    assert!(ok);
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    assert_eq!(reader.headers().unwrap().iter().next(), Some("id"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(&rows[0][8], "Status changed from Proofing to A");

    // A running gateway writes backups only inside its backup folder (beside the store).
    let outside = dir.path().join("elsewhere.redb").display().to_string();
    assert!(
        !run_live(&config, &server, &["backup", &outside]).0,
        "a live backup outside the backup folder is refused"
    );

    // A backup taken while the gateway keeps accepting deliveries opens and verifies.
    let backup = dir.path().join("backups").join("backup.redb");
    let backup_arg = backup.display().to_string();
    let load = tokio::spawn({
        let client = Client::new(server.base.clone(), &text);
        async move {
            for i in 0..50 {
                let body = status_changed("3", &format!("S{i}"), "2026-03-05T10:00:00Z");
                assert_eq!(client.post_signed(&body).await.status(), 200);
            }
        }
    });
    let (ok, out) = run_live(&config, &server, &["backup", &backup_arg]);
    assert!(ok, "{out}");
    assert!(out.contains("ok:"), "the backup verified: {out}");
    load.await.unwrap();
    assert!(
        !run_live(&config, &server, &["backup", &backup_arg]).0,
        "a backup never overwrites"
    );
    assert!(server.terminate().success());

    // Offline, the same verbs read the file directly.
    let (ok, out) = run_cli(&config, &["verify"]);
    assert!(ok && out.starts_with("ok: 55 deliveries"), "{out}");
    let (ok, offline) = run_cli(&config, &["export", "--subject", "job:1"]);
    assert!(ok);
    assert_eq!(lines(&offline), exported);
    let offline_backup = dir.path().join("offline.redb").display().to_string();
    let (ok, out) = run_cli(&config, &["backup", &offline_backup]);
    assert!(ok && out.contains("ok: 55 deliveries"), "{out}");

    let restored = RedbStore::open(&backup).unwrap();
    let mut from_backup = 0;
    restored
        .export(Some(&"job:1".parse().unwrap()), &mut |entry| {
            assert_eq!(serde_json::to_value(&entry).unwrap(), exported[from_backup]);
            from_backup += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(from_backup, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_an_address_removes_it_everywhere_and_the_chain_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (config, text) = write_config(dir.path(), &common::staff_users());
    let mut server = ChildGateway::start(&config);
    let client = Client::new(server.base.clone(), &text);
    seed(&client).await;
    assert!(server.terminate().success());

    let (ok, out) = run_cli(&config, &["erase", "--email", "ANN.customer@acme.test"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("2 entries redacted, 2 raw bodies dropped"),
        "{out}"
    );

    let assert_gone = |text: &str, place: &str| {
        assert!(
            !text.to_lowercase().contains(ADDRESS),
            "{place} still holds the address: {text}"
        );
        assert!(
            !text.contains("secret proof text"),
            "{place} still holds the email body"
        );
    };
    let (ok, export) = run_cli(&config, &["export", "--all"]);
    assert!(ok);
    assert_gone(&export, "the export");
    let entries = lines(&export);
    let emails: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "email.sent")
        .collect();
    assert_eq!(emails.len(), 2);
    assert_eq!(emails[0]["details"]["message"]["to"], json!(["[erased]"]));
    assert_eq!(
        emails[0]["details"]["message"]["cc"],
        json!(["boss@acme.test"]),
        "other people stay"
    );
    let erasures: Vec<&Value> = entries
        .iter()
        .filter(|e| e["kind"] == "system.erasure")
        .collect();
    assert_eq!(erasures.len(), 1);
    assert_eq!(erasures[0]["subjects"].as_array().unwrap().len(), 2);

    let (ok, out) = run_cli(&config, &["verify"]);
    assert!(ok, "{out}");

    // Rebuilding the projections must not bring anything back.
    let (ok, out) = run_cli(&config, &["reindex"]);
    assert!(ok, "{out}");
    let (_, export) = run_cli(&config, &["export", "--all"]);
    assert_gone(&export, "the export after reindex");
    assert_eq!(lines(&export).len(), entries.len());

    let mut server = ChildGateway::start(&config);
    let client = Client::new(server.base.clone(), &text);
    let api = serde_json::to_string(&client.all_entries("job", "1").await).unwrap();
    assert_gone(&api, "the API");
    let mut staff = common::Browser::new(&server.base);
    staff.sign_in().await;
    for page in ["/jobs/1", "/jobs/2", "/"] {
        let answer = staff.get(page).await;
        assert_eq!(answer.status, 200, "{page}");
        assert_gone(&answer.body, page);
        assert!(
            answer.body.contains("Personal data erased"),
            "{page} shows the erasure"
        );
    }
    for seq in 1..=5 {
        let (_, delivery) = client.get(&format!("/api/v1/deliveries/{seq}")).await;
        let expect_body = seq <= 3;
        assert_eq!(
            delivery["body_retained"], expect_body,
            "delivery {seq}: {delivery}"
        );
    }
    assert!(server.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_a_subject_redacts_its_timeline_only() {
    let dir = tempfile::tempdir().unwrap();
    let (config, text) = write_config(dir.path(), "");
    let mut server = ChildGateway::start(&config);
    seed(&Client::new(server.base.clone(), &text)).await;
    assert!(server.terminate().success());

    let (ok, out) = run_cli(&config, &["erase", "--subject", "job:2"]);
    assert!(ok, "{out}");
    let (_, job2) = run_cli(&config, &["export", "--subject", "job:2"]);
    assert!(
        !job2.contains(ADDRESS)
            && !job2.contains("boss@acme.test")
            && !job2.contains("secret proof"),
        "{job2}"
    );
    let (_, job1) = run_cli(&config, &["export", "--subject", "job:1"]);
    assert!(job1.contains(ADDRESS), "job:1 is untouched");
    assert!(run_cli(&config, &["verify"]).0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_old_bodies_keeps_entries_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "\n[retention]\nraw_bodies_days = 30\nprune_interval_secs = 1\n";
    let (config, text) = write_config(dir.path(), extra);
    // Deliveries received 40 and 10 days ago, written through the store as intake would.
    {
        let store = RedbStore::open(&dir.path().join("hooktrail.redb")).unwrap();
        let parsed = common::parse_config(&text);
        let source = parsed.source("hoops").unwrap();
        for (days_ago, to) in [(40, "Old"), (10, "Recent")] {
            let body = status_changed("9", to, "2026-03-04T10:00:00Z");
            let signed = source.sign(&body, Utc::now().timestamp(), None).unwrap();
            let received_at = Utc::now() - Duration::days(days_ago);
            let normalized = source.normalize(&hooktrail::sources::RawDelivery {
                source: "hoops",
                received_at,
                headers: &signed.headers,
                body: &body,
            });
            let capture = hooktrail::store::Capture::new(
                "hoops",
                received_at,
                signed.headers,
                body.into(),
                normalized,
            );
            store.append(&[capture]).unwrap();
        }
    }
    // The gateway prunes in the background.
    let mut server = ChildGateway::start(&config);
    let client = Client::new(server.base.clone(), &text);
    let mut pruned = false;
    for _ in 0..50 {
        let (_, old) = client.get("/api/v1/deliveries/1").await;
        if old["body_retained"] == false {
            pruned = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(pruned, "the old body was not pruned");
    let (_, recent) = client.get("/api/v1/deliveries/2").await;
    assert_eq!(recent["body_retained"], true);
    assert_eq!(
        client.all_entries("job", "9").await.len(),
        2,
        "entries stay"
    );
    assert!(server.terminate().success());
    assert!(run_cli(&config, &["verify"]).0);

    // And by hand, with a shorter period.
    let (ok, out) = run_cli(&config, &["prune", "--older-than-days", "5"]);
    assert!(ok, "{out}");
    assert!(out.starts_with("dropped 1 raw bodies"), "{out}");
    assert!(run_cli(&config, &["verify"]).0);
    let (ok, out) = run_cli(&config, &["reindex"]);
    assert!(
        ok && out.contains("2 entries"),
        "entries survive a reindex without their bodies: {out}"
    );
}
