//! The command line against the real binary: send, verify, reindex, export, graceful shutdown.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use common::{ChildGateway, Client, cli, run_cli, run_cli_output, status_changed, write_config};

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

    // A source that does not exist is an error, not a request, and says what would work.
    let output = run_cli_output(
        &config,
        &[
            "send",
            "--source",
            "hoosp",
            "--url",
            &url,
            &payload.display().to_string(),
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no source named \"hoosp\""), "{stderr}");
    assert!(
        stderr.contains("the configured sources are: hoops (standard-webhooks)"),
        "{stderr}"
    );
    assert!(server.terminate().success());
}

fn send(
    config: &Path,
    url: &str,
    source: &str,
    file: &Path,
    more: &[&str],
) -> std::process::Output {
    let file = file.display().to_string();
    let mut args = vec!["send", "--source", source, "--url", url];
    args.extend_from_slice(more);
    args.push(&file);
    run_cli_output(config, &args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_with_an_id_already_sent_is_answered_as_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "{}{}",
        common::provider_sources(),
        r#"
[[sources]]
name = "zapier"
kind = "hmac"
secrets = ["zapier-test-secret"]
header = "X-Signature"
signed_content = "{id}.{body}"
id_header = "X-Delivery-Id"

[[sources]]
name = "make"
kind = "hmac"
secrets = ["make-test-secret"]
header = "X-Signature"
"#
    );
    let (config, text_config) = write_config(dir.path(), &extra);
    let mut server = ChildGateway::start(&config);
    let url = server.base.clone();
    let payload = dir.path().join("event.json");
    std::fs::write(
        &payload,
        status_changed("1042", "Printing", "2026-03-04T10:00:00Z"),
    )
    .unwrap();

    // The id travels in a header (signed or not): the second send is the same delivery.
    for source in ["hoops", "zapier"] {
        let first = send(&config, &url, source, &payload, &["--id", "msg_try-dedup"]);
        assert!(first.status.success(), "{source}: {}", text(&first.stderr));
        assert!(
            text(&first.stdout).contains("\"outcome\":\"stored\""),
            "{source}: {}",
            text(&first.stdout)
        );
        let again = send(&config, &url, source, &payload, &["--id", "msg_try-dedup"]);
        assert!(again.status.success(), "{source}: {}", text(&again.stderr));
        assert!(
            text(&again.stdout).contains("\"outcome\":\"duplicate\""),
            "{source}: {}",
            text(&again.stdout)
        );
    }
    let postmark = dir.path().join("postmark.json");
    std::fs::write(&postmark, br#"{"RecordType":"Delivery","MessageID":"pm-1","Recipient":"a@b.test","DeliveredAt":"2026-03-04T10:00:00Z","Metadata":{"hooktrail_subject":"job:1042"}}"#).unwrap();
    for _ in 0..2 {
        let output = send(&config, &url, "postmark", &postmark, &["--id", "trace-1"]);
        assert!(output.status.success(), "{}", text(&output.stderr));
    }
    let client = Client::new(url.clone(), &text_config);
    assert_eq!(
        client.all_entries("job", "1042").await.len(),
        3,
        "one entry per distinct delivery"
    );

    // Where the id is in the body, or there is none, --id is refused and says what to do.
    let stripe = dir.path().join("stripe.json");
    std::fs::write(&stripe, br#"{"id":"evt_1","object":"event","type":"charge.succeeded","created":1772618177,"data":{"object":{"id":"ch_1","object":"charge","amount":100,"currency":"usd"}}}"#).unwrap();
    for (source, file, says) in [
        ("stripe", &stripe, "the event's `id`"),
        ("quickbooks", &payload, "has no id"),
        ("make", &payload, "has no id_header"),
    ] {
        let output = send(&config, &url, source, file, &["--id", "x1"]);
        assert_eq!(output.status.code(), Some(1), "{source}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(says), "{source}: {stderr}");
        assert!(
            stderr.contains("send the same file again") || source == "make",
            "{source}: {stderr}"
        );
    }
    assert!(server.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_of_a_file_the_gateway_flags_prints_why_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = write_config(dir.path(), "");
    let mut server = ChildGateway::start(&config);
    let url = server.base.clone();
    for (name, body, says) in [
        ("notes.txt", &b"Dana: proof approved, print Monday"[..], "unparseable"),
        (
            "no-subject.json",
            &br#"{"type":"status.changed","timestamp":"2026-03-04T10:00:00Z","data":{"from":"A","to":"B"}}"#[..],
            "",
        ),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, body).unwrap();
        let output = send(&config, &url, "hoops", &file, &[]);
        let stdout = text(&output.stdout);
        assert_eq!(output.status.code(), Some(3), "{name}: {stdout}");
        assert!(stdout.starts_with("200 OK"), "{name}: {stdout}");
        assert!(stdout.contains("\"flagged\":{"), "{name}: {stdout}");
        let verdict = stdout
            .lines()
            .find(|line| line.starts_with("Flagged "))
            .unwrap_or_else(|| panic!("{name}: no verdict in {stdout}"));
        assert!(verdict.contains(says), "{name}: {verdict}");
        assert!(!verdict.contains("no reason given"), "{name}: {verdict}");
    }
    assert!(server.terminate().success());
}

#[test]
fn a_missing_config_file_is_named_and_the_os_error_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("hooktrail.toml");
    let output = run_cli_output(&missing, &["verify"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot read the config file {}",
            missing.display()
        )),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renormalize_redoes_a_sources_flagged_deliveries_and_logs_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let (config, text) = write_config(dir.path(), "");
    let mut server = ChildGateway::start(&config);
    let client = Client::new(server.base.clone(), &text);
    let event = status_changed("8", "A", "2026-03-04T09:00:00Z");
    assert_eq!(client.post_signed(&event).await.status(), 200);
    assert_eq!(client.post_signed(b"not json").await.status(), 200);
    assert!(server.terminate().success());

    let (ok, out) = run_cli(
        &config,
        &[
            "renormalize",
            "--source",
            "hoops",
            "--flagged",
            "--by",
            "olive",
        ],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("re-normalizing 1 deliveries (flagged deliveries of hoops)"),
        "{out}"
    );
    // Today's normalizer still cannot read it: nothing changes, and the run is logged.
    assert!(out.contains("changed 0, unchanged 1"), "{out}");
    assert!(out.contains("(logged as delivery 3)"), "{out}");
    let (ok, out) = run_cli(&config, &["renormalize", "--seq", "1"]);
    assert!(ok && out.contains("changed 0, unchanged 1"), "{out}");
    let refused = run_cli_output(&config, &["renormalize", "--source", "nope"]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && said.contains("no source is configured as \"nope\""),
        "{said}"
    );
    // The runs are chained like every delivery.
    let (ok, out) = run_cli(&config, &["verify"]);
    assert!(ok && out.starts_with("ok: 4 deliveries"), "{out}");
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
    let base = &server.base;
    assert!(
        out.contains(&format!(
            "Posted 42 signed events:\n   42 to {base}/hooks/hoops (standard-webhooks source)\n"
        )),
        "{out}"
    );
    assert!(
        out.contains("Skipped 6 SendGrid delivery event batches (no source of kind `sendgrid`"),
        "{out}"
    );
    assert!(
        out.contains("Skipped 2 QuickBooks invoice notifications (no source of kind `quickbooks`"),
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
fn demo_reports_what_went_to_each_source() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = write_config(dir.path(), &common::provider_sources());
    let mut server = ChildGateway::start(&config);
    let (ok, out) = run_cli(&config, &["demo", "--url", &server.base]);
    assert!(ok, "{out}");
    let base = &server.base;
    assert!(
        out.contains(&format!(
            "Posted 50 signed events:\n   42 to {base}/hooks/hoops (standard-webhooks source)\n    \
             6 to {base}/hooks/sendgrid (sendgrid source)\n    \
             2 to {base}/hooks/quickbooks (quickbooks source)\n"
        )),
        "{out}"
    );
    assert!(!out.contains("Skipped"), "{out}");
    assert!(server.terminate().success());
}

/// A TLS front for a plain-HTTP gateway, as a reverse proxy terminating https would be: its
/// certificate (for 127.0.0.1 and localhost) is signed by a throwaway CA that no system
/// trusts. Returns the https base URL and the CA certificate as PEM.
async fn tls_front(backend: &str) -> (String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    use tokio_rustls::rustls;

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Hooktrail test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let certificate = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let tls = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![certificate.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front = format!("https://{}", listener.local_addr().unwrap());
    let backend = backend.trim_start_matches("http://").to_owned();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let backend = backend.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to forward.
                if let Ok(mut client) = acceptor.accept(client).await {
                    let mut gateway = tokio::net::TcpStream::connect(&backend).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut gateway).await;
                }
            });
        }
    });
    (front, ca.pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_and_verify_reach_a_gateway_over_https_trusting_the_given_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = write_config(dir.path(), "");
    let mut server = ChildGateway::start(&config);
    let (front, ca_pem) = tls_front(&server.base).await;
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let payload = dir.path().join("event.json");
    std::fs::write(
        &payload,
        status_changed("1042", "Printing", "2026-03-04T10:00:00Z"),
    )
    .unwrap();
    // The CLI blocks; the TLS front needs the runtime meanwhile.
    let run = |args: Vec<String>| {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_cli_output(&config, &args)
        })
    };
    let send_args = |more: &[&str]| {
        let mut args = vec!["send", "--source", "hoops", "--url", &front];
        args.extend_from_slice(more);
        let payload = payload.display().to_string();
        args.into_iter()
            .map(str::to_owned)
            .chain([payload])
            .collect::<Vec<String>>()
    };

    // https is spoken and the certificate checked: a CA nobody trusts is refused.
    let untrusted = run(send_args(&[])).await.unwrap();
    assert_eq!(untrusted.status.code(), Some(1));
    let stderr = text(&untrusted.stderr);
    assert!(
        stderr.contains(&format!("cannot reach {front}/hooks/hoops")),
        "{stderr}"
    );
    assert!(stderr.contains("certificate"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "said once: {stderr}");

    let ca_arg = ca.display().to_string();
    let trusted = run(send_args(&["--ca-cert", &ca_arg])).await.unwrap();
    assert!(trusted.status.success(), "{}", text(&trusted.stderr));
    let stdout = text(&trusted.stdout);
    assert!(stdout.starts_with("200 OK"), "{stdout}");
    assert!(stdout.contains("\"outcome\":\"stored\""), "{stdout}");

    // The verbs that ask a running gateway take the same CA.
    let verify = run([
        "verify",
        "--url",
        &front,
        "--token",
        common::TOKEN,
        "--ca-cert",
        &ca_arg,
    ]
    .map(str::to_owned)
    .to_vec())
    .await
    .unwrap();
    let stdout = text(&verify.stdout);
    assert!(verify.status.success(), "{stdout}{}", text(&verify.stderr));
    assert!(stdout.starts_with("ok: 1 deliveries"), "{stdout}");
    assert!(server.terminate().success());
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

#[test]
fn csv_export_keeps_the_time_an_entry_claimed_but_could_not_use() {
    let dir = tempfile::tempdir().unwrap();
    let (config, text) = write_config(dir.path(), "");
    let claims = [
        status_changed("8", "Printing", "1999-12-31T23:00:00Z"),
        status_changed("8", "Packing", "2026-03-04T10:00:00Z"),
    ];
    common::append_directly(&dir.path().join("hooktrail.redb"), &text, &claims);
    let (ok, out) = run_cli(
        &config,
        &["export", "--subject", "job:8", "--format", "csv"],
    );
    assert!(ok, "{out}");
    let mut rows = csv::Reader::from_reader(out.as_bytes());
    let header = rows.headers().unwrap().clone();
    let flag = header
        .iter()
        .position(|name| name == "flag")
        .expect("a flag column");
    assert_eq!(flag, header.len() - 1, "added last: {header:?}");
    let flags: Vec<String> = rows
        .records()
        .map(|row| row.unwrap()[flag].to_owned())
        .collect();
    assert_eq!(flags.len(), 2);
    assert!(
        flags.contains(&String::new()),
        "the plausible one carries none: {flags:?}"
    );
    assert!(
        flags
            .iter()
            .any(|flag| flag.contains("occurred_at_out_of_range")
                && flag.contains("1999-12-31T23:00:00Z")),
        "{flags:?}"
    );
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

#[test]
fn keygen_makes_a_key_the_config_takes_and_a_gateway_says_how_its_heads_are_signed() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = write_config(dir.path(), "");
    let (ok, out) = run_cli(&config, &["keygen"]);
    assert!(ok, "{out}");
    let line = |name: &str| {
        out.lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {out}"))
            .to_owned()
    };
    let (signing, public) = (
        line("signing_key = \"ed25519:"),
        line("public_key = \"ed25519:"),
    );
    let public = public.trim_start_matches("public_key = ").trim_matches('"');
    let (again, _) = run_cli(&config, &["keygen"]);
    assert!(
        again && !run_cli(&config, &["keygen"]).1.contains(&signing),
        "a new key each time"
    );

    // A gateway without a key says its heads are not signed; with the printed key, which one.
    let mut without = ChildGateway::start(&config);
    assert!(without.terminate().success());
    assert!(
        without.log_text().contains("tree heads are not signed"),
        "{}",
        without.log_text()
    );
    let other = tempfile::tempdir().unwrap();
    let (keyed, _) = write_config(other.path(), &format!("\n[trust]\n{signing}\n"));
    let mut with = ChildGateway::start(&keyed);
    assert!(with.terminate().success());
    assert!(with.log_text().contains(public), "{}", with.log_text());
    // A key that is not one stops startup, naming the key.
    let (bad, _) = write_config(other.path(), "\n[trust]\nsigning_key = \"ed25519:AAAA\"\n");
    let refused = run_cli_output(&bad, &["verify"]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && said.contains("trust.signing_key"),
        "{said}"
    );
}

/// mimalloc asks for huge pages, and zeroing them on the HTTP workers' page faults raised
/// intake's p99 by half or more (see `hooktrail::app::memory`): the gateway's process has
/// them off.
#[cfg(target_os = "linux")]
#[test]
fn serve_runs_without_transparent_huge_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = write_config(dir.path(), "");
    let mut server = ChildGateway::start(&config);
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let thp = status.lines().find(|line| line.starts_with("THP_enabled:"));
    assert!(server.terminate().success());
    assert_eq!(
        thp.map(|line| line.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["THP_enabled:", "0"]),
        "{status}"
    );
}
