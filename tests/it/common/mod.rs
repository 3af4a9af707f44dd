//! A real gateway for integration tests: in-process on port 0 with a temp redb, or as a child
//! process of the built binary; real HTTP either way.
#![allow(dead_code)]

pub mod store;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use chrono::Utc;
use hooktrail::app::Gateway;
use hooktrail::config::Config;
use hooktrail::store::Storage;
use hooktrail::store::prelude::*;
use serde_json::{Value, json};

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const TOKEN: &str = "integration-test-token";

/// The test config; `extra` is appended (more sources, overrides).
pub fn config_text(storage: &Path, extra: &str) -> String {
    let token_sha256 = sha256_hex(TOKEN);
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
max_body_bytes = 65536
workers = 2
shutdown_timeout_secs = 5

[storage]
path = "{storage}"

[[sources]]
name = "hoops"
kind = "standard-webhooks"
secrets = ["{SECRET}"]

[[auth.api_tokens]]
name = "tests"
token_sha256 = "{token_sha256}"
{extra}
"#,
        storage = storage.display()
    )
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

pub fn parse_config(text: &str) -> Config {
    Config::from_toml(text, Path::new("test.toml"), Vec::new()).expect("test config")
}

/// Signs and posts like the business app would.
pub struct Client {
    pub base: String,
    http: reqwest::Client,
    signer: Config,
}

impl Client {
    pub fn new(base: String, config_text: &str) -> Client {
        Client {
            base,
            http: reqwest::Client::new(),
            signer: parse_config(config_text),
        }
    }

    pub fn signed_headers(&self, source: &str, body: &[u8]) -> Vec<(String, String)> {
        self.signed(source, body).headers
    }

    /// Headers and body as the source's provider would send them now.
    pub fn signed(&self, source: &str, body: &[u8]) -> hooktrail::sources::Signed {
        self.signer
            .source(source)
            .expect("source")
            .sign(body, Utc::now().timestamp(), None)
            .expect("sign")
    }

    /// Signs like the provider and posts.
    pub async fn send(&self, source: &str, body: &[u8]) -> reqwest::Response {
        let signed = self.signed(source, body);
        self.post(source, &signed.body, &signed.headers).await
    }

    pub async fn post(
        &self,
        source: &str,
        body: &[u8],
        headers: &[(String, String)],
    ) -> reqwest::Response {
        self.try_post(source, body, headers).await.expect("request")
    }

    /// Posts, answering with the failure when the gateway cannot be reached (it was killed).
    pub async fn try_post(
        &self,
        source: &str,
        body: &[u8],
        headers: &[(String, String)],
    ) -> reqwest::Result<reqwest::Response> {
        let mut request = self
            .http
            .post(format!("{}/hooks/{source}", self.base))
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send().await
    }

    pub async fn post_signed(&self, body: &[u8]) -> reqwest::Response {
        let headers = self.signed_headers("hoops", body);
        self.post("hoops", body, &headers).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Every entry of a subject, walking the cursor pages; none for a subject nothing was
    /// received for (which the API answers with a 404).
    pub async fn all_entries(&self, kind: &str, id: &str) -> Vec<Value> {
        let mut entries = Vec::new();
        let mut before = String::new();
        loop {
            let (status, page) = self
                .get(&format!(
                    "/api/v1/subjects/{kind}/{id}/entries?limit=200&before={before}"
                ))
                .await;
            if status == 404 && before.is_empty() {
                assert_eq!(page["type"], "urn:hooktrail:problem:not-found", "{page}");
                return entries;
            }
            assert_eq!(status, 200, "{page}");
            entries.extend(page["entries"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(cursor) => before = cursor.to_owned(),
                None => return entries,
            }
        }
    }
}

/// `[[sources]]` of every provider kind but the generic `hmac` (whose shapes vary by test), with
/// test keys; pass as a config's `extra`. The same file configures the fuzz targets.
pub fn provider_sources() -> String {
    include_str!("../../fixtures/provider_sources.toml").to_owned()
}

/// A catalog event body.
pub fn event(event_type: &str, timestamp: &str, data: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"type": event_type, "timestamp": timestamp, "data": data}))
        .expect("json")
}

pub fn status_changed(job: &str, to: &str, timestamp: &str) -> Vec<u8> {
    event(
        "status.changed",
        timestamp,
        json!({"subject": {"kind": "job", "id": job}, "from": "Proofing", "to": to,
               "actor": {"kind": "user", "id": "u1", "name": "Dana"}}),
    )
}

/// An in-process gateway on port 0 with a temp redb.
pub struct TestGateway {
    pub client: Client,
    pub dir: tempfile::TempDir,
    pub config_text: String,
    gateway: Option<Gateway>,
}

impl TestGateway {
    pub async fn start() -> TestGateway {
        TestGateway::start_with("", None).await
    }

    pub async fn start_with(extra: &str, storage: Option<Storage>) -> TestGateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = config_text(&dir.path().join("hooktrail.redb"), extra);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let gateway = match storage {
            Some(storage) => Gateway::start_with_storage(parse_config(&text), storage, listener),
            None => Gateway::start(parse_config(&text), listener),
        }
        .expect("gateway starts");
        TestGateway {
            client: Client::new(base, &text),
            dir,
            config_text: text,
            gateway: Some(gateway),
        }
    }

    pub fn storage_path(&self) -> PathBuf {
        self.dir.path().join("hooktrail.redb")
    }

    /// Stops the gateway and starts it again on the same store file, with `extra` in its
    /// config (the same as before, or changed). It listens on a new port: see `client.base`.
    pub async fn restart_with(&mut self, extra: &str) {
        self.stop().await;
        let text = config_text(&self.storage_path(), extra);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let gateway = Gateway::start(parse_config(&text), listener).expect("gateway restarts");
        self.gateway = Some(gateway);
        self.client = Client::new(base, &text);
        self.config_text = text;
    }

    pub async fn stop(&mut self) {
        if let Some(gateway) = self.gateway.take() {
            gateway.stop().await.expect("clean stop");
        }
    }
}

/// The built binary, `hooktrail serve`, as a child process on its own config file; its log
/// (stderr) is written to a file, kept for the test to read.
pub struct ChildGateway {
    pub child: Child,
    pub base: String,
    /// What it logged before it was listening (startup warnings).
    pub startup_log: Vec<String>,
    pub log: PathBuf,
    /// The folder of a log the test did not place itself.
    _log_dir: Option<tempfile::TempDir>,
}

/// Where a started gateway answers, and the lines it logged before it did.
type Started = (String, Vec<String>);

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_hooktrail")
}

pub fn write_config(dir: &Path, extra: &str) -> (PathBuf, String) {
    let text = config_text(&dir.join("hooktrail.redb"), extra);
    let path = dir.join("hooktrail.toml");
    std::fs::write(&path, &text).expect("write config");
    (path, text)
}

impl ChildGateway {
    /// Starts `hooktrail serve` and waits for its listening line.
    pub fn start(config: &Path) -> ChildGateway {
        ChildGateway::start_with(config, &[], &[], None)
    }

    /// Starts the binary on `config` with extra arguments before `serve` and extra
    /// environment, logging to `log` (or a file of its own), and waits up to 20 s for its
    /// listening line.
    pub fn start_with(
        config: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        log: Option<&Path>,
    ) -> ChildGateway {
        ChildGateway::spawn(config, args, env, log, listening)
    }

    /// Starts `hooktrail serve` and returns once its listener is open, before its store is
    /// (while it replays its journal): `base` is where the start-up server answers.
    pub fn start_opening(config: &Path) -> ChildGateway {
        ChildGateway::spawn(config, &[], &[], None, |log| {
            let line = log
                .lines()
                .find(|line| line.contains("while the store opens"))?;
            let base = line
                .split("answering on ")
                .nth(1)?
                .split_whitespace()
                .next()?;
            Some((base.to_owned(), Vec::new()))
        })
    }

    /// Spawns the binary and waits up to 20 s until `ready` finds its address in its log.
    fn spawn(
        config: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        log: Option<&Path>,
        ready: fn(&str) -> Option<Started>,
    ) -> ChildGateway {
        let (log, log_dir) = match log {
            Some(log) => (log.to_owned(), None),
            None => {
                let dir = tempfile::tempdir().expect("log folder");
                (dir.path().join("gateway.log"), Some(dir))
            }
        };
        let log_file = std::fs::File::create(&log).expect("create log file");
        let mut command = Command::new(binary());
        command
            .args(["--config", &config.display().to_string()])
            .args(args)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(log_file);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn hooktrail");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some((base, before)) = ready(&text) {
                return ChildGateway {
                    child,
                    base,
                    startup_log: before,
                    log,
                    _log_dir: log_dir,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the gateway exited ({status}) before listening:\n{text}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no listening line:\n{text}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no chance to flush or clean up, like a crash or power loss.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        self.child.wait().expect("wait")
    }
}

impl Drop for ChildGateway {
    /// A test that fails leaves no gateway running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill9();
        }
    }
}

/// The address in a log's listening line, and the lines logged before it.
fn listening(log: &str) -> Option<Started> {
    // Text logs: "… listening on http://127.0.0.1:PORT"; JSON logs carry the same message.
    let at = log.find("listening on http://")?;
    let rest = &log[at + "listening on ".len()..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"' || c == '\\')
        .unwrap_or(rest.len());
    let before = log[..at].lines().map(str::to_owned).collect::<Vec<_>>();
    // The listening line itself is not "before".
    let before = before[..before.len().saturating_sub(1)].to_vec();
    Some((rest[..end].to_owned(), before))
}

/// A CLI verb of the binary on a config file, to run.
pub fn cli(config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command
        .args(["--config", &config.display().to_string()])
        .args(args);
    command
}

/// Runs a CLI verb of the binary on a config file; returns (success, stdout).
pub fn run_cli(config: &Path, args: &[&str]) -> (bool, String) {
    let output = cli(config, args).output().expect("run hooktrail");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// Runs a CLI verb of the binary on a config file; returns everything: exit status, stdout
/// and stderr.
pub fn run_cli_output(config: &Path, args: &[&str]) -> std::process::Output {
    cli(config, args).output().expect("run hooktrail")
}

/// Writes signed `bodies` of the `hoops` source straight into the (stopped) store at `storage`,
/// as intake would have received them now: for stores larger than posting would fill quickly.
pub fn append_directly(storage: &Path, config_text: &str, bodies: &[Vec<u8>]) {
    let store = hooktrail::store::redb::RedbStore::open(storage).expect("open the store");
    append_to(&store, config_text, bodies);
}

/// Appends signed `bodies` of the `hoops` source to an open `store`, in batches of 500, as
/// intake would have received them now.
pub fn append_to(store: &hooktrail::store::redb::RedbStore, config_text: &str, bodies: &[Vec<u8>]) {
    let config = parse_config(config_text);
    let source = config.source("hoops").expect("the hoops source");
    for chunk in bodies.chunks(500) {
        let batch: Vec<hooktrail::store::Capture> = chunk
            .iter()
            .map(|body| {
                let received_at = Utc::now();
                let signed = source
                    .sign(body, received_at.timestamp(), None)
                    .expect("sign");
                let normalized = source.normalize(&hooktrail::sources::RawDelivery {
                    source: "hoops",
                    received_at,
                    headers: &signed.headers,
                    body,
                });
                hooktrail::store::Capture::new(
                    "hoops",
                    received_at,
                    signed.headers,
                    body.clone().into(),
                    normalized,
                )
            })
            .collect();
        store.append(&batch).expect("append");
    }
}

/// The staff member the page tests sign in as.
pub const STAFF_USER: &str = "dana";
pub const STAFF_PASSWORD: &str = "correct horse battery staple";

/// `[[auth.users]]` for [`STAFF_USER`], to pass as a config's `extra`. Hashing is slow on
/// purpose, so the hash is made once per test binary.
pub fn staff_users() -> String {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = HASH.get_or_init(|| hooktrail::password::hash(STAFF_PASSWORD).expect("hash"));
    format!("\n[[auth.users]]\nusername = \"{STAFF_USER}\"\npassword_hash = \"{hash}\"\n")
}

/// The operator the console tests sign in as, beside [`STAFF_USER`] (same password).
pub const OPERATOR_USER: &str = "olive";

/// [`staff_users`] and [`OPERATOR_USER`], with the operator role.
pub fn staff_and_operator() -> String {
    let staff = staff_users();
    let hash = staff
        .split('"')
        .nth(3)
        .expect("the staff user's hash")
        .to_owned();
    format!(
        "{staff}\n[[auth.users]]\nusername = \"{OPERATOR_USER}\"\npassword_hash = \"{hash}\"\nrole = \"operator\"\n"
    )
}

/// An answer as a browser would see it, before following any redirect.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> Option<&str> {
        self.headers
            .get("location")
            .and_then(|value| value.to_str().ok())
    }

    pub fn html(&self) -> scraper::Html {
        scraper::Html::parse_document(&self.body)
    }
}

/// A browser-like client: keeps the session cookie, follows no redirects by itself.
pub struct Browser {
    pub base: String,
    http: reqwest::Client,
    pub cookie: Option<String>,
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        Browser {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookie: None,
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let request = self.http.post(format!("{}{path}", self.base)).form(fields);
        self.send(request).await
    }

    async fn send(&mut self, mut request: reqwest::RequestBuilder) -> Answer {
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.expect("request");
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().expect("ascii cookie");
            let pair = set.split(';').next().unwrap_or_default().to_owned();
            let removed = set.contains("Max-Age=0") || pair.ends_with('=');
            self.cookie = (!removed).then_some(pair);
        }
        Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap_or_default(),
        }
    }

    /// The CSRF token of the form on a page.
    pub fn csrf_of(answer: &Answer) -> String {
        let html = answer.html();
        let selector = scraper::Selector::parse("input[name=csrf]").expect("selector");
        html.select(&selector)
            .next()
            .and_then(|input| input.value().attr("value"))
            .expect("a csrf field")
            .to_owned()
    }

    /// Signs in as [`STAFF_USER`] through the login form.
    pub async fn sign_in(&mut self) {
        self.sign_in_as(STAFF_USER, STAFF_PASSWORD).await;
    }

    /// Signs in through the login form.
    pub async fn sign_in_as(&mut self, username: &str, password: &str) {
        let form = self.get("/login").await;
        let csrf = Browser::csrf_of(&form);
        let answer = self
            .post_form(
                "/login",
                &[
                    ("username", username),
                    ("password", password),
                    ("csrf", &csrf),
                    ("next", "/"),
                ],
            )
            .await;
        assert_eq!(answer.status, 303, "{}", answer.body);
    }
}

/// A job's week, one event of most kinds, on known days (Chicago time: March 2 to 4, 2026):
/// what the page tests and the browser test look at.
pub async fn post_job_story(client: &Client, job: &str) {
    let subject = json!({"kind": "job", "id": job});
    let dana = json!({"kind": "user", "id": "u7", "name": "Dana"});
    let events = [
        event(
            "job.created",
            "2026-03-02T15:00:00Z",
            json!({"subject": subject, "actor": dana,
                   "job": {"id": job, "number": job, "title": "Business cards", "customer": "Acme Coffee"}}),
        ),
        event(
            "artwork.uploaded",
            "2026-03-02T16:00:00Z",
            json!({"subject": subject, "actor": {"kind": "customer", "name": "Maria"},
                   "file": {"name": "cards.pdf", "size_bytes": 2_400_000, "content_type": "application/pdf",
                            "url": "https://files.example.com/cards.pdf"}}),
        ),
        event(
            "proof.rejected",
            "2026-03-03T14:00:00Z",
            json!({"subject": subject, "actor": {"kind": "customer", "name": "Maria"},
                   "proof": {"version": 1, "name": "Front"}, "comment": "Logo is blurry"}),
        ),
        event(
            "email.sent",
            "2026-03-03T15:00:00Z",
            json!({"subject": subject, "actor": dana,
                   "message": {"provider": "sendgrid", "provider_message_id": format!("sg-{job}"),
                               "from": "orders@shop.example", "to": ["maria@acme.example"],
                               "cc": ["boss@acme.example"], "subject": "Your proof is ready",
                               "html": "<p>Hi Maria, <b>your proof</b> is ready.</p><p><a href=\"https://proofs.example.com/1\">Review your proof</a></p><img src=\"https://tracker.example/o.gif\">",
                               "text": "Hi Maria, your proof is ready.",
                               "sent_at": "2026-03-03T15:00:00Z"}}),
        ),
        event(
            "invoice.created",
            "2026-03-04T01:30:00Z",
            json!({"subject": subject, "actor": dana,
                   "invoice": {"number": "INV-7", "total": "1284.5", "currency": "USD"}}),
        ),
        event(
            "invoice.sent_to_accounting",
            "2026-03-04T15:00:00Z",
            json!({"subject": subject, "invoice": {"number": "INV-7", "total": "1284.5", "currency": "USD"},
                   "platform": "quickbooks", "account_id": "9130", "external_id": "187"}),
        ),
        event(
            "automation.triggered",
            "2026-03-04T16:00:00Z",
            json!({"subject": subject, "rule": {"id": "r1", "name": "Rush order"},
                   "trigger": "job.created", "actions": ["Tag RUSH", "Notify production"]}),
        ),
        event(
            "purchase_order.sent",
            "2026-03-04T17:00:00Z",
            json!({"subject": subject, "actor": dana,
                   "purchase_order": {"number": "PO-9", "vendor": "Mohawk Paper", "total": "312.4", "currency": "EUR"}}),
        ),
        event(
            "status.changed",
            "2026-03-04T18:00:00Z",
            json!({"subject": subject, "actor": dana, "from": "Proofing", "to": "Printing"}),
        ),
        event(
            "shipment.label_created",
            "2026-03-04T19:00:00Z",
            json!({"subject": subject, "carrier": "UPS", "tracking": "1Z999"}),
        ),
    ];
    for body in events {
        let response = client.post_signed(&body).await;
        assert_eq!(response.status(), 200);
    }
}
