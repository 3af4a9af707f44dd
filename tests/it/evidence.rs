//! Signed tree heads and proofs end to end: a gateway with a `[trust]` key signs heads over
//! what it received, lists them, writes each into its folder and posts it to its URL; its
//! proofs pass the auditor's checker printed in docs/verifying.md, and fail it once altered;
//! its API refuses what it cannot prove; and a stopped gateway signs a last head, under which
//! `hooktrail prove` proves a timeline and `hooktrail verify --digests` checks the log, a
//! running gateway and a proof bundle.
//!
//! The checker is a Python script needing the `cryptography` package, so outside CI the test
//! that runs it is `#[ignore]`d and `cargo test` lists it as ignored; under CI (`CI=true`, as
//! `.ci/run` sets after installing the package into `target/verifier-venv`) it runs, and fails
//! if that Python is missing. `HOOKTRAIL_VERIFIER_PYTHON` names another Python that has the
//! package; `--include-ignored` runs the test anywhere one is installed.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use hooktrail::trust::heads::{SignedHead, UnsignedHead};
use hooktrail::trust::keys::{PublicKey, TreeKey};
use serde_json::{Value, json};

use crate::common::{self, Client, TestGateway, run_cli_output, status_changed};

/// The `[trust]` section: `key` signs a head every `interval` seconds, copied into `dir` and
/// posted to `url`.
fn trust(key: &str, interval: u64, dir: Option<&Path>, url: Option<&str>) -> String {
    let mut section =
        format!("\n[trust]\nsigning_key = \"{key}\"\ndigest_interval_secs = {interval}\n");
    if let Some(dir) = dir {
        section.push_str(&format!("digests_dir = \"{}\"\n", dir.display()));
    }
    if let Some(url) = url {
        section.push_str(&format!("digests_url = \"{url}\"\n"));
    }
    section
}

/// Posts `count` signed status changes of job `job` through intake, each stored; returns the
/// bodies as sent, in order.
async fn deliver(client: &Client, job: &str, first: usize, count: usize) -> Vec<Vec<u8>> {
    let mut bodies = Vec::new();
    for step in first..first + count {
        let body = status_changed(
            job,
            &format!("Step {step}"),
            &format!("2026-03-04T10:{:02}:00Z", step % 60),
        );
        let response = client.post_signed(&body).await;
        assert_eq!(response.status(), 200, "delivery {step} is stored");
        bodies.push(body);
    }
    bodies
}

/// Waits (up to 20 s) until `ready` answers something.
async fn eventually<T>(what: &str, mut ready: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(found) = ready().await {
            return found;
        }
        assert!(Instant::now() < deadline, "waited 20 s for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The latest head, once one covers `tree_size` deliveries or more.
async fn head_covering(client: &Client, tree_size: u64) -> Value {
    eventually(&format!("a head over {tree_size} deliveries"), async || {
        let (status, heads) = client.get("/api/v1/digests?limit=1").await;
        assert_eq!(status, 200, "{heads}");
        let latest = heads.as_array()?.first()?.clone();
        (latest["tree_size"].as_u64()? >= tree_size).then_some(latest)
    })
    .await
}

/// Every head the gateway lists, newest first.
async fn all_heads(client: &Client) -> Vec<Value> {
    let (status, heads) = client.get("/api/v1/digests?limit=1000").await;
    assert_eq!(status, 200, "{heads}");
    heads.as_array().expect("a list of heads").clone()
}

/// The folder copy of head `number`, once it is written.
async fn folder_copy(dir: &Path, number: u64) -> Value {
    let path = dir.join(format!("{number:010}.json"));
    eventually(&format!("{}", path.display()), async || {
        let text = std::fs::read(&path).ok()?;
        Some(serde_json::from_slice(&text).expect("a folder copy is JSON"))
    })
    .await
}

/// The heads' file names in a folder, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("the heads' folder")
        .map(|item| item.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn is_lower_hex(value: &Value, digits: usize) -> bool {
    value.as_str().is_some_and(|text| {
        text.len() == digits
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Flips a hex string's first digit.
fn flip_hex(value: &mut Value) {
    let text = value.as_str().expect("hex").to_owned();
    let first = if text.starts_with('0') { '1' } else { '0' };
    *value = Value::String(format!("{first}{}", &text[1..]));
}

/// A head's JSON has its exact form and is signed by `key`, as `number`, over `tree_size`.
fn assert_signed_head(head: &Value, key: &PublicKey) {
    let number = head["number"].as_u64().expect("a number");
    assert!(number >= 1, "{head}");
    assert!(head["tree_size"].as_u64().is_some(), "{head}");
    assert!(is_lower_hex(&head["root"], 64), "{head}");
    assert!(is_lower_hex(&head["signature"], 128), "{head}");
    assert_eq!(head["key_id"], key.key_id(), "{head}");
    let signed_at = head["signed_at"].as_str().expect("signed_at");
    assert!(
        signed_at.len() == 27 && signed_at.ends_with('Z') && signed_at.as_bytes()[19] == b'.',
        "RFC 3339, UTC, microseconds: {signed_at}"
    );
    if number == 1 {
        assert_eq!(head["previous"], Value::Null, "{head}");
    } else {
        assert!(is_lower_hex(&head["previous"], 128), "{head}");
    }
    let parsed: SignedHead = serde_json::from_value(head.clone()).expect("a signed head");
    assert!(parsed.verifies(key), "signed by the configured key: {head}");
    assert_eq!(serde_json::to_value(&parsed).unwrap(), *head, "{head}");
}

/// A head list, newest first, is one chain: numbers count down to 1, each names the
/// signature of the one below it, and tree sizes never go back.
fn assert_one_chain(heads: &[Value]) {
    assert!(!heads.is_empty());
    assert_eq!(heads.last().unwrap()["number"], 1, "down to head 1");
    for pair in heads.windows(2) {
        let (newer, older) = (&pair[0], &pair[1]);
        assert_eq!(
            newer["number"].as_u64().unwrap(),
            older["number"].as_u64().unwrap() + 1
        );
        assert_eq!(newer["previous"], older["signature"], "{newer} / {older}");
        assert!(newer["tree_size"].as_u64() >= older["tree_size"].as_u64());
    }
}

/// A local stand-in for the URL heads are posted to: keeps every head it is sent as JSON.
struct HeadReceiver {
    url: String,
    heads: Arc<Mutex<Vec<Value>>>,
    server: actix_web::dev::ServerHandle,
}

impl HeadReceiver {
    fn start() -> HeadReceiver {
        let heads = Arc::new(Mutex::new(Vec::new()));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/heads", listener.local_addr().unwrap());
        let shared = heads.clone();
        let server = HttpServer::new(move || {
            let shared = shared.clone();
            // `web::Json` takes only an `application/json` body.
            App::new().route(
                "/heads",
                web::post().to(move |head: web::Json<Value>| {
                    let shared = shared.clone();
                    async move {
                        shared.lock().unwrap().push(head.into_inner());
                        HttpResponse::NoContent().finish()
                    }
                }),
            )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        HeadReceiver {
            url,
            heads,
            server: handle,
        }
    }

    /// Head `number` as posted, once it arrives.
    async fn head(&self, number: u64) -> Value {
        eventually(&format!("head {number} at the URL"), async || {
            let heads = self.heads.lock().unwrap();
            heads.iter().find(|head| head["number"] == number).cloned()
        })
        .await
    }
}

impl Drop for HeadReceiver {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

/// The Python of `.ci/run`'s verifier venv, or the one `HOOKTRAIL_VERIFIER_PYTHON` names.
fn verifier_python() -> PathBuf {
    if let Some(path) = std::env::var_os("HOOKTRAIL_VERIFIER_PYTHON") {
        return PathBuf::from(path);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("verifier-venv/bin/python")
}

/// The auditor's checker: docs/verifying.md's one Python block, saved as `check.py`, run with
/// the public key given.
struct Checker {
    python: PathBuf,
    script: PathBuf,
    public_key: String,
}

impl Checker {
    fn new(dir: &Path, public_key: &str) -> Checker {
        let python = verifier_python();
        assert!(
            python.exists(),
            "{} is missing: .ci/run installs it, or set HOOKTRAIL_VERIFIER_PYTHON",
            python.display()
        );
        let doc = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/verifying.md"),
        )
        .expect("docs/verifying.md");
        let blocks: Vec<&str> = doc
            .split("```python\n")
            .skip(1)
            .map(|rest| rest.split("\n```").next().unwrap_or(rest))
            .collect();
        assert_eq!(blocks.len(), 1, "docs/verifying.md has one Python block");
        let script = dir.join("check.py");
        std::fs::write(&script, format!("{}\n", blocks[0])).unwrap();
        Checker {
            python,
            script,
            public_key: public_key.to_owned(),
        }
    }

    /// Runs the checker with the public key and `args`: its exit code, and what it printed.
    fn run(&self, args: &[&str]) -> (Option<i32>, String) {
        self.run_with_key(&self.public_key, args)
    }

    fn run_with_key(&self, key: &str, args: &[&str]) -> (Option<i32>, String) {
        let output = Command::new(&self.python)
            .arg(&self.script)
            .args(["--public-key", key])
            .args(args)
            .output()
            .expect("run the checker");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code(), said)
    }

    /// Writes `document` to `path` and checks it as a proof (with `more` arguments).
    fn check_file(&self, path: &Path, document: &Value, more: &[&str]) -> (Option<i32>, String) {
        std::fs::write(path, serde_json::to_vec_pretty(document).unwrap()).unwrap();
        let path = path.display().to_string();
        let mut args = vec![path.as_str()];
        args.extend_from_slice(more);
        self.run(&args)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a CLI verb of the binary off the async workers (a gateway in this process answers
/// it meanwhile).
async fn cli(config: &Path, args: &[&str]) -> std::process::Output {
    let config = config.to_owned();
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cli_output(&config, &args)
    })
    .await
    .expect("the CLI ran")
}

/// Runs a CLI verb that must succeed; its standard output.
async fn succeeds(config: &Path, args: &[&str]) -> String {
    let output = cli(config, args).await;
    let said = text(&output.stdout);
    assert!(
        output.status.success(),
        "{args:?}: {said}{}",
        text(&output.stderr)
    );
    said
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(hooktrail_ci),
    ignore = "needs Python with `cryptography` (.ci/run installs it in target/verifier-venv); runs under CI=true or with --include-ignored"
)]
async fn heads_are_signed_listed_copied_and_proofs_check_with_the_auditors_script() {
    let work = tempfile::tempdir().unwrap();
    let key = TreeKey::generate().unwrap();
    let public = key.public();
    let checker = Checker::new(work.path(), &public.encoded());
    let digests = work.path().join("digests");
    let receiver = HeadReceiver::start();
    let mut gateway = TestGateway::start_with(
        &trust(&key.encoded(), 1, Some(&digests), Some(&receiver.url)),
        None,
    )
    .await;
    let client = &gateway.client;
    let bodies = deliver(client, "1042", 0, 3).await;

    // A head over the three deliveries is signed, listed, written to the folder and posted.
    let head = head_covering(client, 3).await;
    assert_eq!(head["tree_size"], 3, "{head}");
    assert_signed_head(&head, &public);
    let number = head["number"].as_u64().unwrap();
    assert_eq!(folder_copy(&digests, number).await, head);
    assert_eq!(receiver.head(number).await, head);
    let listed = all_heads(client).await;
    assert_eq!(listed[0]["number"].as_u64(), Some(number), "newest first");
    assert_one_chain(&listed);
    for listed in &listed {
        assert_signed_head(listed, &public);
    }
    assert!(
        !names_in(&digests).iter().any(|name| name.starts_with('.')),
        "no partial copy is left: {:?}",
        names_in(&digests)
    );

    // An entry's proof under that head passes the checker, also against the folder's copy of
    // the head and with the body as sent.
    let entries = client.all_entries("job", "1042").await;
    assert_eq!(entries.len(), 3);
    let entry = &entries[0];
    let id = entry["id"].as_str().unwrap().to_owned();
    let seq = entry["source"]["delivery_seq"].as_u64().unwrap();
    let (status, proof) = client
        .get(&format!("/api/v1/entries/{id}/proof?tree_size=3"))
        .await;
    assert_eq!(status, 200, "{proof}");
    assert_eq!(proof["entry_id"], id.as_str());
    assert_eq!(proof["delivery"]["seq"], seq);
    assert_eq!(proof["delivery"]["source"], "hoops");
    assert_eq!(proof["leaf_index"], seq - 1);
    assert_eq!(proof["tree_size"], 3);
    assert_eq!(proof["digest"]["tree_size"], 3);
    assert_eq!(proof["root"], proof["digest"]["root"]);
    assert_eq!(proof["root"], head["root"]);
    assert_signed_head(&proof["digest"], &public);
    let proof_number = proof["digest"]["number"].as_u64().unwrap();
    folder_copy(&digests, proof_number).await;
    let headers = proof["delivery"]["headers"].as_array().unwrap();
    assert!(!headers.is_empty(), "{proof}");
    assert!(!proof["audit_path"].as_array().unwrap().is_empty());

    let proof_file = work.path().join("proof.json");
    let (code, said) = checker.check_file(&proof_file, &proof, &[]);
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains(&format!(
            "ok entry {id} delivery {seq} in tree 3 (head {proof_number})"
        )),
        "{said}"
    );
    let digests_arg = digests.display().to_string();
    let (code, said) = checker.check_file(&proof_file, &proof, &["--head", &digests_arg]);
    assert_eq!(code, Some(0), "{said}");
    let body = work.path().join("body.json");
    std::fs::write(&body, &bodies[seq as usize - 1]).unwrap();
    let body_arg = body.display().to_string();
    let (code, said) = checker.check_file(&proof_file, &proof, &["--body", &body_arg]);
    assert_eq!(code, Some(0), "{said}");
    // Another body is not the one logged.
    std::fs::write(&body, &bodies[seq as usize % 3]).unwrap();
    let (code, said) = checker.check_file(&proof_file, &proof, &["--body", &body_arg]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("is not the logged body_sha256"), "{said}");

    // Altered anywhere, the proof fails: exit 1, saying why.
    type Alteration = fn(&mut Value);
    let alterations: [(&str, Alteration, &str); 6] = [
        (
            "a header value",
            |proof| proof["delivery"]["headers"][0][1] = json!("forged"),
            "the delivery's fields do not give its hash",
        ),
        (
            "the time received",
            |proof| {
                let micros = proof["delivery"]["received_at_micros"].as_i64().unwrap();
                proof["delivery"]["received_at_micros"] = json!(micros + 1);
            },
            "the delivery's fields do not give its hash",
        ),
        (
            "an audit path element",
            |proof| flip_hex(&mut proof["audit_path"][0]),
            "the audit path does not lead",
        ),
        (
            "the tree size",
            |proof| proof["tree_size"] = json!(4),
            "the proof's tree_size is not the head's",
        ),
        (
            "the head's root",
            |proof| flip_hex(&mut proof["digest"]["root"]),
            "the signature does not verify",
        ),
        (
            "the head's tree size",
            |proof| proof["digest"]["tree_size"] = json!(4),
            "the signature does not verify",
        ),
    ];
    for (what, alter, why) in alterations {
        let mut altered = proof.clone();
        alter(&mut altered);
        let (code, said) = checker.check_file(&proof_file, &altered, &[]);
        assert_eq!(code, Some(1), "{what}: {said}");
        assert!(
            said.contains(&format!("FAIL entry {id}: ")),
            "{what}: {said}"
        );
        assert!(said.contains(why), "{what}: {said}");
    }
    // A head that is not the one published: the folder's copy disagrees.
    let heads_file = work.path().join("other-heads.json");
    let mut other = proof["digest"].clone();
    flip_hex(&mut other["signature"]);
    std::fs::write(&heads_file, serde_json::to_vec(&json!([other])).unwrap()).unwrap();
    let heads_arg = heads_file.display().to_string();
    let (code, said) = checker.check_file(&proof_file, &proof, &["--head", &heads_arg]);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("differs from the one published independently"),
        "{said}"
    );
    // Another key did not sign it; a key that is not one, or no file, is a usage error.
    let stranger = TreeKey::generate().unwrap().public().encoded();
    let proof_arg = proof_file.display().to_string();
    std::fs::write(&proof_file, proof.to_string()).unwrap();
    let (code, said) = checker.run_with_key(&stranger, &[&proof_arg]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("not by a public key given"), "{said}");
    let (code, said) = checker.run_with_key("ed25519:AAAA", &[&proof_arg]);
    assert_eq!(code, Some(2), "{said}");
    let (code, said) = checker.run(&[]);
    assert_eq!(code, Some(2), "{said}");

    // `hooktrail prove`, asking the running gateway, writes a bundle the checker passes.
    let config = config_of(&gateway, work.path());
    let bundle_file = work.path().join("bundle.json");
    let bundle_arg = bundle_file.display().to_string();
    let live = [
        "--url",
        gateway.client.base.as_str(),
        "--token",
        common::TOKEN,
    ];
    let proved = cli(
        &config,
        &[
            &["prove", "job:1042", "--output", &bundle_arg][..],
            &live[..],
        ]
        .concat(),
    )
    .await;
    assert!(proved.status.success(), "{}", text(&proved.stderr));
    let bundle: Value = serde_json::from_slice(&std::fs::read(&bundle_file).unwrap()).unwrap();
    assert_eq!(bundle["format"], "hooktrail-proofs-v1");
    assert_eq!(bundle["subject"], "job:1042");
    assert_eq!(bundle["entries"].as_array().unwrap().len(), 3);
    folder_copy(&digests, bundle["digest"]["number"].as_u64().unwrap()).await;
    let (code, said) = checker.run(&[&bundle_arg, "--head", &digests_arg]);
    assert_eq!(code, Some(0), "{said}");
    assert_eq!(said.matches("ok entry ").count(), 3, "{said}");
    assert!(said.contains("passed: all 3 checks"), "{said}");

    // More deliveries: a later head, and the proof that its log begins with head 1's.
    deliver(client, "1042", 3, 5).await;
    let later = head_covering(client, 8).await;
    assert_eq!(later["tree_size"], 8, "{later}");
    assert_signed_head(&later, &public);
    let later_number = later["number"].as_u64().unwrap();
    assert_eq!(folder_copy(&digests, later_number).await, later);
    assert_eq!(receiver.head(later_number).await, later);
    let listed = all_heads(client).await;
    assert_one_chain(&listed);
    let first = listed.last().unwrap().clone();
    assert!(first["tree_size"].as_u64().unwrap() <= 3, "{first}");

    let (status, consistency) = client
        .get(&format!(
            "/api/v1/digests/consistency?from=1&to={later_number}"
        ))
        .await;
    assert_eq!(status, 200, "{consistency}");
    assert_eq!(consistency["from"], first);
    assert_eq!(consistency["to"], later);
    assert!(!consistency["proof"].as_array().unwrap().is_empty());
    let consistency_file = work.path().join("consistency.json");
    let consistency_arg = consistency_file.display().to_string();
    std::fs::write(&consistency_file, consistency.to_string()).unwrap();
    let (code, said) = checker.run(&["--consistency", &consistency_arg]);
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains(&format!(
            "ok heads 1 to {later_number}: tree {} is the first",
            first["tree_size"]
        )),
        "{said}"
    );
    let mut altered = consistency.clone();
    flip_hex(&mut altered["proof"][0]);
    std::fs::write(&consistency_file, altered.to_string()).unwrap();
    let (code, said) = checker.run(&["--consistency", &consistency_arg]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("the proof does not show tree"), "{said}");
    let mut altered = consistency.clone();
    altered["to"]["tree_size"] = json!(9);
    std::fs::write(&consistency_file, altered.to_string()).unwrap();
    let (code, said) = checker.run(&["--consistency", &consistency_arg]);
    assert_eq!(code, Some(1), "{said}");

    // The folder's heads are one chain.
    let (code, said) = checker.run(&["--chain", &digests_arg]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("ok heads 1 to "), "{said}");

    // The same entry, proven in the larger tree, still passes; proven at a size no head was
    // signed at, it rests on the gateway's word only, and the checker refuses it.
    let (status, grown) = client
        .get(&format!("/api/v1/entries/{id}/proof?tree_size=8"))
        .await;
    assert_eq!(status, 200, "{grown}");
    let (code, said) = checker.check_file(&proof_file, &grown, &[]);
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains(&format!("delivery {seq} in tree 8")),
        "{said}"
    );
    let signed_sizes: Vec<u64> = all_heads(client)
        .await
        .iter()
        .map(|head| head["tree_size"].as_u64().unwrap())
        .collect();
    let unsigned = (seq..=8)
        .find(|size| !signed_sizes.contains(size))
        .expect("a tree size no head was signed at");
    let (status, unheaded) = client
        .get(&format!("/api/v1/entries/{id}/proof?tree_size={unsigned}"))
        .await;
    assert_eq!(status, 200, "{unheaded}");
    assert_eq!(unheaded["digest"], Value::Null);
    let (code, said) = checker.check_file(&proof_file, &unheaded, &[]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("no signed head"), "{said}");

    gateway.stop().await;
}

/// A config file of `gateway`'s (its store), for the CLI.
fn config_of(gateway: &TestGateway, dir: &Path) -> PathBuf {
    let path = dir.join("hooktrail.toml");
    std::fs::write(&path, &gateway.config_text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evidence_api_refuses_what_it_cannot_prove() {
    let key = TreeKey::generate().unwrap();
    let mut gateway = TestGateway::start_with(&trust(&key.encoded(), 1, None, None), None).await;
    let client = &gateway.client;
    deliver(client, "1042", 0, 3).await;
    let head = head_covering(client, 3).await;
    let entries = client.all_entries("job", "1042").await;
    let newest = entries
        .iter()
        .find(|entry| entry["source"]["delivery_seq"] == 3)
        .expect("the entry of delivery 3");
    let id = newest["id"].as_str().unwrap();
    let problem = |status: u16, answer: &Value, expected: u16, kind: &str, what: &str| {
        assert_eq!(status, expected, "{what}: {answer}");
        assert_eq!(
            answer["type"],
            format!("urn:hooktrail:problem:{kind}"),
            "{what}"
        );
    };

    // Without a token, nothing.
    let http = reqwest::Client::new();
    for path in [
        "/api/v1/digests".to_owned(),
        "/api/v1/digests/consistency?from=1&to=1".to_owned(),
        format!("/api/v1/entries/{id}/proof"),
    ] {
        let response = http
            .get(format!("{}{path}", client.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["type"], "urn:hooktrail:problem:unauthenticated");
    }

    // Entries that do not exist.
    for path in [
        "/api/v1/entries/01KBX8Q2M4T6V8Y0A2C4E6G8J0/proof".to_owned(),
        "/api/v1/entries/not-an-id/proof".to_owned(),
    ] {
        let (status, answer) = client.get(&path).await;
        problem(status, &answer, 404, "not-found", &path);
    }
    // Trees that do not hold the delivery, or are larger than the log.
    for tree_size in [0, 2, 4, 1000] {
        let path = format!("/api/v1/entries/{id}/proof?tree_size={tree_size}");
        let (status, answer) = client.get(&path).await;
        problem(status, &answer, 400, "bad-request", &path);
    }
    // Without a tree size, the proof is under the latest head.
    let (status, proof) = client.get(&format!("/api/v1/entries/{id}/proof")).await;
    assert_eq!(status, 200, "{proof}");
    assert_eq!(proof["tree_size"], 3);
    assert_eq!(proof["digest"]["tree_size"], 3);

    // Heads that do not exist, and malformed queries.
    for path in [
        "/api/v1/digests/consistency?from=1&to=9999",
        "/api/v1/digests/consistency?from=9999&to=1",
        "/api/v1/digests/consistency?from=0&to=1",
    ] {
        let (status, answer) = client.get(path).await;
        problem(status, &answer, 404, "not-found", path);
    }
    for path in [
        "/api/v1/digests/consistency",
        "/api/v1/digests/consistency?from=1",
        "/api/v1/digests/consistency?from=one&to=1",
        "/api/v1/digests?limit=0",
        "/api/v1/digests?limit=1001",
        "/api/v1/digests?before=x",
        "/api/v1/digests?before=9223372036854775808",
    ] {
        let (status, answer) = client.get(path).await;
        problem(status, &answer, 400, "bad-request", path);
    }

    // A head over more deliveries than an earlier one is not the `from` of a proof.
    deliver(client, "1042", 3, 2).await;
    let later = head_covering(client, 5).await;
    let path = format!("/api/v1/digests/consistency?from={}&to=1", later["number"]);
    let (status, answer) = client.get(&path).await;
    problem(status, &answer, 400, "bad-request", &path);
    // The same head to itself: an empty proof.
    let path = format!(
        "/api/v1/digests/consistency?from={0}&to={0}",
        head["number"]
    );
    let (status, answer) = client.get(&path).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["proof"], json!([]));

    // Paging back through the heads.
    let (status, page) = client.get("/api/v1/digests?before=2&limit=5").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page.as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page[0]["number"], 1);
    gateway.stop().await;

    // A gateway without a key lists no heads, and its proofs name none.
    let mut unsigned = TestGateway::start().await;
    deliver(&unsigned.client, "7", 0, 2).await;
    let (status, heads) = unsigned.client.get("/api/v1/digests").await;
    assert_eq!((status, heads), (200, json!([])));
    let entry = unsigned.client.all_entries("job", "7").await[0].clone();
    let (status, proof) = unsigned
        .client
        .get(&format!(
            "/api/v1/entries/{}/proof",
            entry["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200, "{proof}");
    assert_eq!(proof["tree_size"], 2);
    assert_eq!(proof["digest"], Value::Null);
    let path = "/api/v1/digests/consistency?from=1&to=1";
    let (status, answer) = unsigned.client.get(path).await;
    problem(status, &answer, 404, "not-found", path);
    unsigned.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_gateway_signs_a_last_head_and_the_cli_proves_and_verifies() {
    let work = tempfile::tempdir().unwrap();
    let digests = work.path().join("digests");
    let digests_arg = digests.display().to_string();
    let keygen = run_cli_output(&work.path().join("none.toml"), &["keygen"]);
    assert!(keygen.status.success(), "{}", text(&keygen.stderr));
    let printed = text(&keygen.stdout);
    let value_of = |name: &str| {
        printed
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name} = \"")))
            .and_then(|rest| rest.strip_suffix('"'))
            .unwrap_or_else(|| panic!("no {name} in {printed}"))
            .to_owned()
    };
    let (signing_key, public_key) = (value_of("signing_key"), value_of("public_key"));
    let public = PublicKey::parse(&public_key).unwrap();
    // An hour between heads: only the gateway's stops sign any here.
    let extra = trust(&signing_key, 3600, Some(&digests), None);
    let mut gateway = TestGateway::start_with(&extra, None).await;
    deliver(&gateway.client, "1042", 0, 3).await;
    deliver(&gateway.client, "7", 0, 1).await;
    assert_eq!(gateway.client.get("/api/v1/digests").await.1, json!([]));

    // Stopping signs head 1 over all four; the restarted gateway lists it.
    gateway.restart_with(&extra).await;
    assert_eq!(names_in(&digests), ["0000000001.json"]);
    let first = folder_copy(&digests, 1).await;
    assert_signed_head(&first, &public);
    assert_eq!(first["tree_size"], 4);
    assert_eq!(
        gateway.client.get("/api/v1/digests").await.1,
        json!([first])
    );
    deliver(&gateway.client, "1042", 3, 2).await;

    // Against the running gateway: its log extends the published head, and `prove` proves
    // what that head covers, saying how many entries came after it.
    let config = config_of(&gateway, work.path());
    // A job whose every entry came after the head has nothing to prove yet: refused, not an
    // empty bundle.
    deliver(&gateway.client, "8", 0, 1).await;
    let early = cli(
        &config,
        &[
            "prove",
            "job:8",
            "--url",
            &gateway.client.base,
            "--token",
            common::TOKEN,
        ],
    )
    .await;
    let said = text(&early.stderr);
    assert_eq!(early.status.code(), Some(1), "{said}");
    assert!(
        said.contains("none of the 1 entries of job:8 is under signed head 1 yet"),
        "{said}"
    );
    assert!(early.stdout.is_empty());
    let live = [
        "--url",
        gateway.client.base.as_str(),
        "--token",
        common::TOKEN,
    ];
    let verify = [
        "verify",
        "--digests",
        &digests_arg,
        "--public-key",
        &public_key,
    ];
    let said = succeeds(&config, &[&verify[..], &live[..]].concat()).await;
    assert!(
        said.starts_with(&format!(
            "ok: 1 published heads signed by key {}; the running gateway's log holds every one",
            public.key_id()
        )),
        "{said}"
    );
    let live_bundle = work.path().join("live.json");
    let live_bundle_arg = live_bundle.display().to_string();
    let proved = cli(
        &config,
        &[
            &["prove", "job:1042", "-o", &live_bundle_arg][..],
            &live[..],
        ]
        .concat(),
    )
    .await;
    let said = text(&proved.stderr);
    assert!(proved.status.success(), "{said}");
    assert!(
        said.contains("3 entries of job:1042 proven under signed head 1 (4 deliveries"),
        "{said}"
    );
    assert!(
        said.contains("2 later entries are not under that head yet"),
        "{said}"
    );

    // Stopping again signs head 2, over every delivery, chained to head 1.
    gateway.stop().await;
    assert_eq!(names_in(&digests), ["0000000001.json", "0000000002.json"]);
    let last = folder_copy(&digests, 2).await;
    assert_signed_head(&last, &public);
    assert_eq!(last["tree_size"], 7);
    assert_eq!(last["previous"], first["signature"]);

    // With the gateway stopped, `prove` reads the store: every entry of the job, under head 2.
    let bundle_file = work.path().join("bundle.json");
    let bundle_arg = bundle_file.display().to_string();
    let proved = cli(&config, &["prove", "job:1042", "--output", &bundle_arg]).await;
    let said = text(&proved.stderr);
    assert!(proved.status.success(), "{said}");
    assert!(
        said.contains("5 entries of job:1042 proven under signed head 2 (7 deliveries"),
        "{said}"
    );
    assert!(!said.contains("later entries"), "{said}");
    let bundle: Value = serde_json::from_slice(&std::fs::read(&bundle_file).unwrap()).unwrap();
    assert_eq!(bundle["format"], "hooktrail-proofs-v1");
    assert_eq!(bundle["subject"], "job:1042");
    assert_eq!(bundle["digest"], last);
    let proven = bundle["entries"].as_array().unwrap();
    assert_eq!(proven.len(), 5);
    let mut seqs: Vec<u64> = proven
        .iter()
        .map(|item| {
            assert_eq!(
                item["entry"]["source"]["delivery_seq"],
                item["proof"]["delivery"]["seq"]
            );
            assert_eq!(item["proof"]["tree_size"], 7);
            assert_eq!(item["proof"]["root"], last["root"]);
            item["proof"]["delivery"]["seq"].as_u64().unwrap()
        })
        .collect();
    seqs.sort();
    assert_eq!(seqs, [1, 2, 3, 5, 6], "job 7's delivery is not in it");

    // `verify --digests` checks the log, then each bundle, against the folder's heads.
    let verify = [
        "verify",
        "--digests",
        &digests_arg,
        "--public-key",
        &public_key,
    ];
    let said = succeeds(&config, &verify).await;
    assert!(
        said.starts_with(&format!(
            "ok: 2 published heads signed by key {}; the log holds every one",
            public.key_id()
        )),
        "{said}"
    );
    for bundle in [&bundle_arg, &live_bundle_arg] {
        let said = succeeds(&config, &[&verify[..], &[bundle.as_str()]].concat()).await;
        assert!(said.starts_with("ok: 2 published heads"), "{said}");
    }

    // Another key: every head fails, and so does the command.
    let stranger = TreeKey::generate().unwrap().public().encoded();
    let wrong = cli(
        &config,
        &[
            "verify",
            "--digests",
            &digests_arg,
            "--public-key",
            &stranger,
            &bundle_arg,
        ],
    )
    .await;
    let said = text(&wrong.stdout);
    assert_eq!(wrong.status.code(), Some(1), "{said}");
    for number in [1, 2] {
        assert!(
            said.contains(&format!("FAILED: head {number} is not signed by key")),
            "{said}"
        );
    }
    assert!(!said.contains("ok:"), "{said}");
    // Keys rotated: any of those given may have signed a head.
    let said = succeeds(
        &config,
        &[
            "verify",
            "--digests",
            &digests_arg,
            "--public-key",
            &stranger,
            "--public-key",
            &public_key,
            &bundle_arg,
        ],
    )
    .await;
    assert!(said.starts_with("ok: 2 published heads"), "{said}");

    // An altered bundle fails, naming the entry.
    let mut altered = bundle.clone();
    altered["entries"][0]["proof"]["delivery"]["headers"][0][1] = json!("forged");
    let altered_file = work.path().join("altered.json");
    std::fs::write(&altered_file, altered.to_string()).unwrap();
    let altered_arg = altered_file.display().to_string();
    let failed = cli(&config, &[&verify[..], &[altered_arg.as_str()]].concat()).await;
    let said = text(&failed.stdout);
    assert_eq!(failed.status.code(), Some(1), "{said}");
    let entry_id = bundle["entries"][0]["entry"]["id"].as_str().unwrap();
    assert!(
        said.contains(&format!("FAILED: entry {entry_id}: delivery")),
        "{said}"
    );

    // A published head the log does not match fails too.
    let forged_dir = work.path().join("forged");
    std::fs::create_dir(&forged_dir).unwrap();
    // Signed with the key, chained to head 1, over six deliveries, but not the log's root.
    let forged = SignedHead::sign(
        &TreeKey::parse(&signing_key).unwrap(),
        Some(&serde_json::from_value(first.clone()).unwrap()),
        UnsignedHead {
            tree_size: 6,
            root: [0x42; 32],
            signed_at: chrono::Utc::now(),
        },
    );
    std::fs::write(forged_dir.join("0000000001.json"), first.to_string()).unwrap();
    std::fs::write(
        forged_dir.join("0000000002.json"),
        serde_json::to_vec(&forged).unwrap(),
    )
    .unwrap();
    let forged_arg = forged_dir.display().to_string();
    let failed = cli(
        &config,
        &[
            "verify",
            "--digests",
            &forged_arg,
            "--public-key",
            &public_key,
        ],
    )
    .await;
    let said = text(&failed.stdout);
    assert_eq!(failed.status.code(), Some(1), "{said}");
    assert!(
        said.contains("FAILED: head 2 is not in the store as published"),
        "{said}"
    );
    assert!(
        said.contains("FAILED: head 2 (tree size 6): the log's deliveries make another root"),
        "{said}"
    );

    // Under an earlier head, by its tree size; at a size no head was signed at, nothing.
    let early = work.path().join("early.json");
    let early_arg = early.display().to_string();
    let proved = cli(
        &config,
        &["prove", "job:1042", "--tree-size", "4", "-o", &early_arg],
    )
    .await;
    let said = text(&proved.stderr);
    assert!(proved.status.success(), "{said}");
    assert!(
        said.contains("3 entries of job:1042 proven under signed head 1"),
        "{said}"
    );
    let early: Value = serde_json::from_slice(&std::fs::read(&early).unwrap()).unwrap();
    assert_eq!(early["digest"], first);
    let refused = cli(&config, &["prove", "job:1042", "--tree-size", "5"]).await;
    let said = text(&refused.stderr);
    assert!(!refused.status.success(), "{said}");
    assert!(
        said.contains("no signed tree head covers exactly 5 deliveries"),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proving_a_subject_nothing_was_received_about_exits_3_and_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let key = TreeKey::generate().unwrap();
    let extra = trust(&key.encoded(), 3600, None, None);
    let mut gateway = TestGateway::start_with(&extra, None).await;
    deliver(&gateway.client, "1", 0, 1).await;
    // Head 1 is signed as it stops.
    gateway.restart_with(&extra).await;
    assert_eq!(all_heads(&gateway.client).await.len(), 1);
    let config = config_of(&gateway, work.path());
    let nope = work.path().join("nope.json");
    let nope_arg = nope.display().to_string();
    let prove_nope = ["prove", "job:nope", "-o", &nope_arg];
    let live = [
        "--url",
        gateway.client.base.as_str(),
        "--token",
        common::TOKEN,
    ];

    let asked_the_gateway = cli(&config, &[&prove_nope[..], &live[..]].concat()).await;
    let known = cli(&config, &[&["prove", "job:1"][..], &live[..]].concat()).await;
    gateway.stop().await;
    let read_the_store = cli(&config, &prove_nope).await;

    // Both ways, checked before failing, so a failure says which ways are wrong.
    let wrong: Vec<String> = [("live", asked_the_gateway), ("offline", read_the_store)]
        .into_iter()
        .filter_map(|(how, output)| {
            let said = text(&output.stderr);
            let right = output.status.code() == Some(3)
                && said.contains("nothing has been received about job:nope")
                && !nope.exists();
            (!right).then(|| format!("{how}: exit {:?}: {said}", output.status.code()))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "not exit 3 with no file left behind:\n{}",
        wrong.join("\n")
    );
    // A subject with history is proven, to standard output.
    assert!(known.status.success(), "{}", text(&known.stderr));
    let bundle: Value = serde_json::from_slice(&known.stdout).expect("a bundle");
    assert_eq!(bundle["entries"].as_array().map(Vec::len), Some(1));
}

/// The console's evidence page in each of its states: no key; a key and its heads; and a head
/// it refused to sign over a log that no longer holds the latest head's deliveries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_the_key_the_heads_and_a_head_it_would_not_sign() {
    use crate::common::{Browser, OPERATOR_USER, STAFF_PASSWORD, staff_and_operator};
    use crate::pages::texts;
    use hooktrail::store::prelude::*;

    let users = staff_and_operator();
    let mut gateway = TestGateway::start_with(&users, None).await;
    let page = async |gateway: &TestGateway| {
        let mut operator = Browser::new(&gateway.client.base);
        operator.sign_in_as(OPERATOR_USER, STAFF_PASSWORD).await;
        let answer = operator.get("/admin/evidence").await;
        assert_eq!(answer.status, 200);
        answer
    };
    let unsigned = page(&gateway).await;
    assert!(texts(&unsigned.html(), "h2").contains(&"Heads are not signed".to_owned()));
    assert!(unsigned.body.contains("No head has been signed yet."));

    let key = TreeKey::generate().unwrap();
    let copies = tempfile::tempdir().unwrap();
    // Nothing answers there; its path stands for a credential the page must not show.
    let url = "http://127.0.0.1:1/heads/s3cret-path";
    let signing = format!(
        "{users}{}",
        trust(&key.encoded(), 1, Some(copies.path()), Some(url))
    );
    gateway.restart_with(&signing).await;
    deliver(&gateway.client, "1042", 0, 3).await;
    let latest = head_covering(&gateway.client, 3).await;
    let signed = page(&gateway).await;
    let html = signed.html();
    assert_eq!(
        texts(&html, "pre.evidence-key"),
        [format!("public_key = \"{}\"", key.public().encoded())],
        "the key to publish"
    );
    assert!(
        texts(&html, "h2")
            .iter()
            .any(|title| title.contains(&key.public().key_id()))
    );
    // Newest first. A head is signed every second, grown or not, so heads newer than the one
    // read above may be listed before it.
    let numbers: Vec<u64> = texts(&html, ".evidence-heads tbody th")
        .iter()
        .map(|number| number.parse().unwrap())
        .collect();
    let latest_number = latest["number"].as_u64().unwrap();
    assert!(
        numbers.is_sorted_by(|newer, older| newer > older),
        "{numbers:?}"
    );
    assert!(numbers.contains(&latest_number), "{numbers:?}");
    assert_eq!(
        texts(&html, ".evidence-heads tbody td:nth-child(2)")[0],
        "3",
        "the newest head covers the three deliveries"
    );
    assert!(
        signed
            .body
            .contains("3 deliveries; all under the latest head.")
    );
    assert!(!signed.body.contains("was not signed"));
    let copied_to = texts(&html, ".evidence-copies li");
    assert_eq!(
        copied_to,
        [
            format!("written into the folder {}", copies.path().display()),
            "posted to http://127.0.0.1/…".to_owned()
        ]
    );
    assert!(
        !signed.body.contains("s3cret"),
        "a URL's path is never shown"
    );
    let secret = key.encoded();
    let seed = secret.trim_start_matches("ed25519:");
    assert!(
        !signed.body.contains(&seed[..20]),
        "the secret is never shown"
    );

    // A head over more deliveries than the log holds, as after restoring an older copy.
    gateway.stop().await;
    {
        let store = hooktrail::store::redb::RedbStore::open(&gateway.storage_path()).unwrap();
        let latest = store.tree_heads(None, 1).unwrap().remove(0);
        let ahead = SignedHead::sign(
            &key,
            Some(&latest),
            UnsignedHead {
                tree_size: 50,
                root: [9; 32],
                signed_at: chrono::Utc::now() - chrono::Duration::hours(1),
            },
        );
        assert!(store.add_tree_head(&ahead).unwrap());
    }
    gateway.restart_with(&signing).await;
    let refused = eventually("the refusal on the page", async || {
        let answer = page(&gateway).await;
        answer
            .body
            .contains("The last head due was not signed")
            .then_some(answer)
    })
    .await;
    assert!(
        refused.body.contains("the log holds only 3 deliveries"),
        "{}",
        refused.body
    );
    gateway.stop().await;
}
