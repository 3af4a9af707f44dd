//! The command line against the real binary: send, verify, reindex, export, graceful shutdown.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::{ChildGateway, Client, cli, run_cli, status_changed, write_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_posts_a_signed_file_that_the_api_then_serves() {
    let dir = tempfile::tempdir().unwrap();
    let (config, text) = write_config(dir.path(), "");
    let mut server = ChildGateway::start(&config);
    let payload = dir.path().join("event.json");
    std::fs::write(
        &payload,
        status_changed("1042", "Printing", "2026-03-04T10:00:00Z"),
    )
    .unwrap();

    let url = server.base.clone();
    let (ok, out) = run_cli(
        &config,
        &[
            "send",
            "--source",
            "hoops",
            "--url",
            &url,
            &payload.display().to_string(),
        ],
    );
    assert!(ok, "{out}");
    assert!(out.starts_with("200 OK"), "{out}");
    assert!(out.contains("\"outcome\":\"stored\""), "{out}");

    let client = Client::new(server.base.clone(), &text);
    let entries = client.all_entries("job", "1042").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0]["summary"],
        "Status changed from Proofing to Printing"
    );

    // A source that does not exist is an error, not a request.
    let (ok, _) = run_cli(
        &config,
        &[
            "send",
            "--source",
            "nope",
            "--url",
            &url,
            &payload.display().to_string(),
        ],
    );
    assert!(!ok);
    assert!(server.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_rebuilds_the_same_timelines_and_verify_passes() {
    let dir = tempfile::tempdir().unwrap();
    let (config, text) = write_config(dir.path(), "");
    let mut server = ChildGateway::start(&config);
    let client = Client::new(server.base.clone(), &text);
    for (to, at) in [
        ("A", "2026-03-04T09:00:00Z"),
        ("C", "2026-03-04T11:00:00Z"),
        ("B", "2026-03-04T10:00:00Z"),
    ] {
        assert_eq!(
            client
                .post_signed(&status_changed("8", to, at))
                .await
                .status(),
            200
        );
    }
    assert_eq!(client.post_signed(b"not json").await.status(), 200);
    let before = client.all_entries("job", "8").await;
    assert!(server.terminate().success());

    let (ok, out) = run_cli(&config, &["reindex"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("reindexed 4 deliveries: 3 entries, 1 flagged"),
        "{out}"
    );
    let (ok, out) = run_cli(&config, &["verify"]);
    assert!(ok && out.starts_with("ok: 4 deliveries"), "{out}");

    let mut server = ChildGateway::start(&config);
    let client = Client::new(server.base.clone(), &text);
    assert_eq!(client.all_entries("job", "8").await, before);
    assert!(server.terminate().success());
}

#[test]
fn bad_config_stops_startup_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (config, text) = write_config(dir.path(), "");
    std::fs::write(
        &config,
        text.replace("[storage]", "[storage]\nfsync = false"),
    )
    .unwrap();
    let output = std::process::Command::new(common::binary())
        .args(["--config", &config.display().to_string(), "serve"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("storage") && stderr.contains("fsync"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_signs_like_each_provider() {
    let dir = tempfile::tempdir().unwrap();
    let sources = format!(
        r#"
[[sources]]
name = "sendgrid"
kind = "sendgrid"
public_key = "{}"

[[sources]]
name = "mailgun"
kind = "mailgun"
secrets = ["mailgun-test-signing-key"]
"#,
        hooktrail::sources::sendgrid::TEST_PUBLIC_KEY
    );
    let (config, _) = write_config(dir.path(), &sources);
    let mut server = ChildGateway::start(&config);
    let url = server.base.clone();
    let sendgrid = dir.path().join("sendgrid.json");
    std::fs::write(&sendgrid, br#"[{"email":"a@b.test","timestamp":1772636405,"event":"delivered","sg_event_id":"e1","sg_message_id":"m1.x","hooktrail_subject":"job:1"}]"#).unwrap();
    let mailgun = dir.path().join("mailgun.json");
    std::fs::write(&mailgun, br#"{"event-data":{"id":"mg1","event":"delivered","timestamp":1772636405.5,"recipient":"a@b.test","user-variables":{"hooktrail_subject":"job:1"},"message":{"headers":{"message-id":"x@mg.test"}}}}"#).unwrap();
    for (source, file) in [("sendgrid", &sendgrid), ("mailgun", &mailgun)] {
        let (ok, out) = run_cli(
            &config,
            &[
                "send",
                "--source",
                source,
                "--url",
                &url,
                &file.display().to_string(),
            ],
        );
        assert!(ok, "{source}: {out}");
        assert!(out.contains("\"outcome\":\"stored\""), "{source}: {out}");
    }
    assert!(server.terminate().success());
}

#[test]
fn hash_password_reads_stdin_and_prints_an_argon2id_hash() {
    use std::io::Write;
    let mut child = std::process::Command::new(common::binary())
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"open sesame\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let hash = String::from_utf8(output.stdout).unwrap();
    let hash = hash.trim();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(hooktrail::password::verify("open sesame", hash));
    assert!(!hooktrail::password::verify("open sesame\n", hash));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_fills_timelines_through_the_signed_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = write_config(dir.path(), &common::staff_users());
    let mut server = ChildGateway::start(&config);
    let (ok, out) = run_cli(&config, &["demo", "--url", &server.base]);
    assert!(ok, "{out}");
    assert!(out.contains("Posted 42 signed events"), "{out}");
    assert!(
        out.contains("Skipped 6 SendGrid delivery event batches (no source of kind `sendgrid`"),
        "{out}"
    );
    assert!(out.contains("/jobs/1042"), "{out}");

    let mut browser = common::Browser::new(&server.base);
    browser.sign_in().await;
    let page = browser.get("/jobs/1042").await;
    assert_eq!(page.status, 200);
    let html = page.html();
    let entries = scraper::Selector::parse("li.entry").unwrap();
    assert_eq!(html.select(&entries).count(), 22);
    let quote = browser.get("/salesdocs/Q-2291").await;
    assert_eq!(quote.status, 200);
    assert!(server.terminate().success());
}

#[test]
fn bench_explains_intake_by_the_gateways_commits_and_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = write_config(dir.path(), "");
    let (ok, out) = run_cli(
        &config,
        &[
            "bench",
            "--targets",
            "gateway,per-request,plain",
            "--connections",
            "4",
            "--duration",
            "0.5",
            "--warmup",
            "0.2",
            "--repeat",
            "2",
            "--json",
        ],
    );
    assert!(ok, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = report["results"].as_array().unwrap();
    let cell = |target: &str| {
        results
            .iter()
            .find(|cell| cell["target"] == target)
            .unwrap_or_else(|| panic!("no {target} cell in {out}"))
    };
    assert_eq!(
        results.len(),
        3,
        "one row per cell, the median of its runs: {out}"
    );
    for target in ["gateway", "per-request", "plain"] {
        assert!(cell(target)["acked"].as_u64().unwrap() > 0, "{out}");
        assert_eq!(cell(target)["errors"], 0, "{out}");
        assert_eq!(
            cell(target)["runs_acked_per_sec"].as_array().unwrap().len(),
            2
        );
    }
    // Read from each gateway's own /metrics: one delivery a commit is what per-request means.
    assert_eq!(cell("per-request")["commits"]["deliveries_per_commit"], 1.0);
    let grouped = &cell("gateway")["commits"];
    assert!(
        grouped["deliveries_per_commit"].as_f64().unwrap() >= 1.0,
        "{out}"
    );
    assert!(grouped["commit_ms"].as_f64().unwrap() > 0.0, "{out}");
    assert!(cell("plain").get("commits").is_none(), "{out}");
    assert!(
        report["disk"]["scattered_pages_ms"].as_f64().unwrap() > 0.0,
        "{out}"
    );
}

#[test]
fn export_without_a_subject_or_all_names_both() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = write_config(dir.path(), "");
    let output = cli(&config, &["export"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--subject") && stderr.contains("--all"),
        "{stderr}"
    );
}

#[test]
fn export_into_a_reader_that_stops_early_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (config, text) = write_config(dir.path(), "");
    // Far more than a pipe holds (64 KiB), so the export is still writing when the pipe closes.
    let bodies: Vec<Vec<u8>> = (0..2000)
        .map(|i| status_changed("7", &format!("Step {i}"), "2026-03-04T10:00:00Z"))
        .collect();
    common::append_directly(&dir.path().join("hooktrail.redb"), &text, &bodies);

    for format in ["jsonl", "csv"] {
        // `hooktrail export … | head -1`
        let mut child = cli(&config, &["export", "--all", "--format", format])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty(), "{format}: the first line arrived");
        // The reader is dropped here: the pipe is closed while the export still writes.
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{format}: {stderr}");
        assert!(
            !stderr.to_lowercase().contains("broken pipe") && !stderr.contains("error"),
            "{format}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporting_a_subject_nothing_was_received_for_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let (config, text) = write_config(dir.path(), "");
    let mut server = ChildGateway::start(&config);
    let client = Client::new(server.base.clone(), &text);
    let event = status_changed("1", "Printing", "2026-03-04T10:00:00Z");
    assert_eq!(client.post_signed(&event).await.status(), 200);
    let output_file = dir.path().join("nope.jsonl");
    let output_arg = output_file.display().to_string();
    let export_nope = ["export", "--subject", "job:nope", "--output", &output_arg];

    let live = ["--url", server.base.as_str(), "--token", common::TOKEN];
    let asked_the_gateway = cli(&config, &[&export_nope[..], &live[..]].concat())
        .output()
        .unwrap();
    assert!(server.terminate().success());
    let read_the_file = cli(&config, &export_nope).output().unwrap();

    for (how, output) in [("live", asked_the_gateway), ("offline", read_the_file)] {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{how}: {stderr}");
        assert!(
            stderr.contains("nothing has been received about job:nope"),
            "{how}: {stderr}"
        );
        assert!(
            !output_file.exists(),
            "{how}: no empty export is left behind"
        );
    }
    // A subject with history still exports, with success.
    let (ok, out) = run_cli(&config, &["export", "--subject", "job:1"]);
    assert!(ok && out.lines().count() == 1, "{out}");
}
