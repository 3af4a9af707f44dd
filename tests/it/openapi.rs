//! The OpenAPI document against a running gateway: it is served without credentials, every
//! operation it lists is routed, and Schemathesis, sending what the document allows and what
//! it does not, finds no answer the document does not describe.
//!
//! Schemathesis is a Python tool, so outside CI that test is `#[ignore]`d and `cargo test`
//! lists it as ignored; under CI (`CI=true`, as `.ci/run` sets after installing it into
//! `target/schemathesis-venv`) it runs, and fails if Schemathesis is missing.
//! `--include-ignored` runs it anywhere it is installed.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::{TestGateway, event, post_job_story};
use serde_json::{Value, json};

#[tokio::test]
async fn the_document_is_served_openly_and_every_operation_it_lists_is_routed() {
    let gateway = TestGateway::start().await;
    let http = reqwest::Client::new();
    let base = &gateway.client.base;
    let response = http
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().ok(),
        Some("application/json")
    );
    let document: Value = response.json().await.expect("JSON");
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|version| version.starts_with("3.1.")),
        "{}",
        document["openapi"]
    );
    assert_eq!(document, hooktrail::http::api::openapi_document());

    // Each operation reaches its handler: without credentials it is refused as the document
    // says (401, problem+json), not answered as a route that does not exist.
    let paths = document["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("a path item") {
            let url = format!(
                "{base}{}",
                path.replace("{kind}", "job")
                    .replace("{id}", "1042")
                    .replace("{seq}", "1")
            );
            let method =
                reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            let response = http
                .request(method.clone(), &url)
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            assert!(
                operation["responses"].get(status.to_string()).is_some(),
                "{method} {path}: {status} is not documented"
            );
            if operation["security"] == json!([{}]) {
                assert_eq!(status, 200, "{method} {path}");
                continue;
            }
            assert_eq!(status, 401, "{method} {path}");
            assert_eq!(
                response.headers()["content-type"].to_str().ok(),
                Some("application/problem+json"),
                "{method} {path}"
            );
            let problem: Value = response.json().await.expect("a problem");
            assert_eq!(problem["type"], "urn:hooktrail:problem:unauthenticated");
        }
    }
}

/// The operator's bearer token of the Schemathesis run: operators may call every route.
const OPERATOR_TOKEN: &str = "schemathesis-operator-token";

/// The Schemathesis of `.ci/run`, or the one `HOOKTRAIL_SCHEMATHESIS` names.
fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("HOOKTRAIL_SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("schemathesis-venv/bin/schemathesis")
}

/// A little of everything a timeline holds, through the real intake: a job's week (one event
/// of most kinds, and one of a type the catalog does not have), a sales document, and a
/// delivery that cannot be read (kept, flagged).
async fn post_some_activity(gateway: &TestGateway) {
    post_job_story(&gateway.client, "1042").await;
    let quote = event(
        "salesdoc.created",
        "2026-03-01T15:00:00Z",
        json!({"subject": {"kind": "salesdoc", "id": "Q-7"},
               "salesdoc": {"id": "Q-7", "number": "Q-7", "doc_type": "quote", "customer": "Acme"}}),
    );
    for body in [quote, b"not json at all".to_vec()] {
        let response = gateway.client.post_signed(&body).await;
        assert_eq!(response.status(), 200);
    }
}

#[tokio::test]
#[cfg_attr(
    not(hooktrail_ci),
    ignore = "needs Schemathesis (.ci/run installs it in target/schemathesis-venv); runs under CI=true or with --include-ignored"
)]
async fn schemathesis_finds_no_answer_the_document_does_not_describe() {
    let schemathesis = schemathesis();
    assert!(
        schemathesis.exists(),
        "{} is missing: .ci/run installs it, or set HOOKTRAIL_SCHEMATHESIS",
        schemathesis.display()
    );
    let operator = format!(
        r#"
[[auth.api_tokens]]
name = "schemathesis"
token_sha256 = "{}"
role = "operator"

# Schemathesis reads each stream for a moment (tests/it/schemathesis.toml); one it stopped
# reading closes within a second instead of holding its slot.
[live]
idle_timeout_secs = 1
"#,
        sha256_hex(OPERATOR_TOKEN)
    );
    // The store is in a temporary folder, and so is its backup folder (`backups/` beside it):
    // the backups Schemathesis asks for are written there and removed with it.
    let gateway = TestGateway::start_with(&operator, None).await;
    post_some_activity(&gateway).await;

    let work = tempfile::tempdir().expect("a working folder");
    let mut command = Command::new(&schemathesis);
    command
        .current_dir(work.path())
        .arg("--config-file")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/schemathesis.toml"))
        .arg("--no-color")
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", gateway.client.base))
        .args([
            "--header",
            &format!("Authorization: Bearer {OPERATOR_TOKEN}"),
        ]);
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the run")
        .expect("start Schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!(
        "Schemathesis ran for {:.1} s:\n{stdout}\n{}",
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "Schemathesis found answers the document does not describe (see above)"
    );
    // It tested every operation the document lists but the one serving the document, which
    // Schemathesis leaves out (it reads it).
    let document = hooktrail::http::api::openapi_document();
    let operations: usize = document["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| item.as_object().map_or(0, |methods| methods.len()))
        .sum();
    let tested = operations - 1;
    assert!(
        stdout.contains(&format!("Tested: {tested}")),
        "not every one of the {tested} operations was tested"
    );
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}
