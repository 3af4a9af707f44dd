//! Several gateways on one PostgreSQL database, as real processes: load spread over both,
//! the same delivery to both at once, one killed under load, and correlation across them.
//!
//! These need a server (127.0.0.1:5432, or `HOOKTRAIL_TEST_DATABASE_URL`). Under CI they run,
//! and fail without one; elsewhere they are listed as ignored, with the reason.

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{
    Browser, ChildGateway, Client, event, provider_sources, run_cli, staff_users, status_changed,
};
use hooktrail::store::postgres::scratch::ScratchDatabase;
use serde_json::json;

/// A test that needs the PostgreSQL server: run under CI, listed as ignored elsewhere.
macro_rules! postgres_tests {
    ($($(#[$doc:meta])* async fn $name:ident() $body:block)*) => {$(
        $(#[$doc])*
        #[actix_web::test]
        #[cfg_attr(
            not(hooktrail_ci),
            ignore = "needs PostgreSQL at 127.0.0.1:5432 (HOOKTRAIL_TEST_DATABASE_URL); runs under CI"
        )]
        async fn $name() $body
    )*};
}

/// Two gateways' configs on one scratch database, and the client that signs for them.
pub(crate) struct Pair {
    _dir: tempfile::TempDir,
    database: ScratchDatabase,
    config: PathBuf,
    text: String,
}

impl Pair {
    pub(crate) fn new(purpose: &str) -> Pair {
        Pair::with(purpose, "")
    }

    /// Two gateways' config, with `extra` after the providers' sources.
    pub(crate) fn with(purpose: &str, extra: &str) -> Pair {
        let database = ScratchDatabase::create(purpose).expect("a PostgreSQL server");
        let dir = tempfile::tempdir().unwrap();
        let extra = format!("{}{extra}", provider_sources());
        let text = common::config_text(&dir.path().join("unused.redb"), &extra).replace(
            "[storage]\n",
            &format!(
                "[storage]\nbackend = \"postgres\"\nurl = \"{}\"\npool_size = 8\n",
                database.url()
            ),
        );
        let config = dir.path().join("hooktrail.toml");
        std::fs::write(&config, &text).unwrap();
        Pair {
            _dir: dir,
            database,
            config,
            text,
        }
    }

    /// Both gateways start together: the schema is migrated once, under its lock.
    pub(crate) fn start_two(&self) -> (ChildGateway, ChildGateway) {
        let config = self.config.clone();
        let other = std::thread::spawn(move || ChildGateway::start(&config));
        let a = ChildGateway::start(&self.config);
        (a, other.join().unwrap())
    }

    pub(crate) fn client(&self, gateway: &ChildGateway) -> Client {
        Client::new(gateway.base.clone(), &self.text)
    }

    fn config(&self) -> &Path {
        &self.config
    }
}

/// The webhook-ids of the deliveries acknowledged, by job.
type Acked = HashMap<String, Vec<String>>;

/// Posts `count` status changes for `jobs` jobs, `concurrency` at a time, spread over
/// `clients` in turn; returns what was acknowledged.
async fn load(clients: &[Arc<Client>], count: usize, jobs: usize, concurrency: usize) -> Acked {
    let acks = Arc::new((0..clients.len()).map(|_| AtomicUsize::new(0)).collect());
    load_counting(clients, count, jobs, concurrency, acks).await
}

/// [`load`], counting in `acks[i]` what `clients[i]` has had acknowledged so far.
async fn load_counting(
    clients: &[Arc<Client>],
    count: usize,
    jobs: usize,
    concurrency: usize,
    acks: Arc<Vec<AtomicUsize>>,
) -> Acked {
    let semaphore = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = Vec::new();
    for n in 0..count {
        let client = clients[n % clients.len()].clone();
        let permit = semaphore.clone().acquire_owned().await.unwrap();
        let acks = acks.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let job = format!("{}", 5000 + n % jobs);
            let body = status_changed(&job, &format!("step {n}"), "2026-03-04T10:00:00Z");
            let signed = client.signed("hoops", &body);
            let id = header(&signed.headers, "webhook-id");
            let response = tokio::time::timeout(
                Duration::from_secs(20),
                client.try_post("hoops", &signed.body, &signed.headers),
            )
            .await;
            let acked = matches!(&response, Ok(Ok(r)) if r.status().is_success());
            if acked {
                acks[n % acks.len()].fetch_add(1, Ordering::SeqCst);
            }
            (job, id, acked)
        }));
    }
    let mut acked = Acked::new();
    for task in tasks {
        let (job, id, ok) = task.await.unwrap();
        if ok {
            acked.entry(job).or_default().push(id);
        }
    }
    acked
}

fn header(headers: &[(String, String)], name: &str) -> String {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .expect("header")
}

/// Every acknowledged delivery is on its job's timeline exactly once (read through `client`).
async fn assert_each_stored_once(client: &Client, acked: &Acked) {
    for (job, ids) in acked {
        let entries = client.all_entries("job", job).await;
        let mut found: Vec<String> = entries
            .iter()
            .map(|e| e["source"]["event_id"].as_str().unwrap().to_owned())
            .collect();
        found.sort();
        let mut expected = ids.clone();
        expected.sort();
        assert_eq!(found, expected, "job {job}");
    }
}

/// `hooktrail verify` against the database: the chain is one chain, seq gap-free.
fn assert_verified(pair: &Pair, deliveries: usize) {
    assert_eq!(verified_count(pair), deliveries);
}

postgres_tests! {
    async fn load_on_two_gateways_is_stored_once_in_one_gap_free_chain() {
        let pair = Pair::new("load");
        let (mut a, mut b) = pair.start_two();
        let clients = [Arc::new(pair.client(&a)), Arc::new(pair.client(&b))];
        let acked = load(&clients, 400, 20, 32).await;
        let total: usize = acked.values().map(Vec::len).sum();
        assert_eq!(total, 400, "every delivery acknowledged");
        // Reads on either gateway see what both committed.
        assert_each_stored_once(&clients[0], &acked).await;
        assert_each_stored_once(&clients[1], &acked).await;
        assert_verified(&pair, 400);
        a.terminate();
        b.terminate();
        drop(pair.database);
    }
}

postgres_tests! {
    async fn the_same_delivery_sent_to_both_at_once_is_stored_once() {
        let pair = Pair::new("twice");
        let (mut a, mut b) = pair.start_two();
        let (ca, cb) = (pair.client(&a), pair.client(&b));
        for n in 0..25 {
            let job = format!("{}", 7000 + n);
            let body = status_changed(&job, "Printing", "2026-03-04T10:00:00Z");
            let signed = ca.signed("hoops", &body);
            let (ra, rb) = tokio::join!(
                ca.post("hoops", &signed.body, &signed.headers),
                cb.post("hoops", &signed.body, &signed.headers),
            );
            assert!(ra.status().is_success() && rb.status().is_success());
            let answers = [
                ra.json::<serde_json::Value>().await.unwrap(),
                rb.json::<serde_json::Value>().await.unwrap(),
            ];
            let stored = answers.iter().filter(|a| a["outcome"] == "stored").count();
            let duplicate = answers
                .iter()
                .filter(|a| a["outcome"] == "duplicate")
                .count();
            assert_eq!((stored, duplicate), (1, 1), "{answers:?}");
            assert_eq!(ca.all_entries("job", &job).await.len(), 1);
        }
        assert_verified(&pair, 25);
        a.terminate();
        b.terminate();
    }
}

postgres_tests! {
    async fn one_gateway_killed_under_load_loses_nothing_acknowledged() {
        let pair = Pair::new("kill");
        let (mut a, mut b) = pair.start_two();
        let clients = [Arc::new(pair.client(&a)), Arc::new(pair.client(&b))];
        let load_clients = clients.clone();
        let acks: Arc<Vec<AtomicUsize>> = Arc::new(vec![AtomicUsize::new(0), AtomicUsize::new(0)]);
        let counted = acks.clone();
        let running =
            tokio::spawn(async move { load_counting(&load_clients, 2_000, 30, 24, counted).await });
        // Under load: once A has answered some of its share (it has 1,000 to go through).
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while acks[0].load(Ordering::SeqCst) < 50 {
            assert!(std::time::Instant::now() < deadline, "A answered nothing");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // SIGKILL: no chance to flush or clean up.
        a.kill9();
        let during = running.await.unwrap();
        // The other kept serving: everything sent to it was acknowledged.
        let acked_during: usize = during.values().map(Vec::len).sum();
        assert!(acked_during >= 1_000, "{acked_during} acknowledged");
        assert!(acked_during < 2_000, "the kill came while the load ran");

        let mut a = ChildGateway::start(pair.config());
        let restarted = [Arc::new(pair.client(&a))];
        let after = load(&restarted, 50, 5, 8).await;
        assert_eq!(after.values().map(Vec::len).sum::<usize>(), 50);

        let mut all = during;
        for (job, ids) in after {
            all.entry(job).or_default().extend(ids);
        }
        // Whatever was acknowledged, by either, before or after the kill, is there once. (A
        // delivery the killed gateway committed but could not answer is there too, unacknowledged:
        // the sender retries it, and dedup answers the retry.)
        let stored = verified_count(&pair);
        let acked_total: usize = all.values().map(Vec::len).sum();
        assert!(
            stored >= acked_total,
            "{stored} stored, {acked_total} acknowledged"
        );
        for (job, ids) in &all {
            let found: Vec<String> = clients[1]
                .all_entries("job", job)
                .await
                .iter()
                .map(|e| e["source"]["event_id"].as_str().unwrap().to_owned())
                .collect();
            for id in ids {
                assert_eq!(
                    found.iter().filter(|f| *f == id).count(),
                    1,
                    "{id} on job {job}"
                );
            }
        }
        a.terminate();
        b.terminate();
    }
}

/// `hooktrail verify` against the database; how many deliveries the intact chain holds.
fn verified_count(pair: &Pair) -> usize {
    let (ok, out) = run_cli(pair.config(), &["verify"]);
    assert!(ok, "{out}");
    out.strip_prefix("ok: ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"))
}

postgres_tests! {
    async fn a_callback_on_one_gateway_attaches_when_its_link_reaches_the_other() {
        let pair = Pair::new("link");
        let (mut a, mut b) = pair.start_two();
        let (ca, cb) = (pair.client(&a), pair.client(&b));
        let update = br#"{"eventNotifications":[{"realmId":"9130350266011486","dataChangeEvent":{"entities":[{"name":"Invoice","id":"130","operation":"Update","lastUpdated":"2026-03-04T09:15:02-0600"}]}}]}"#;
        assert_eq!(cb.send("quickbooks", update).await.status(), 200);
        let (_, unmatched) = ca.get("/api/v1/unmatched").await;
        assert_eq!(
            unmatched["entries"].as_array().unwrap().len(),
            1,
            "{unmatched}"
        );

        let link = event(
            "invoice.sent_to_accounting",
            "2026-03-04T09:00:00Z",
            json!({"subject": {"kind": "job", "id": "1042"}, "invoice": {"number": "INV-1001", "total": "250.00", "currency": "USD"},
                   "platform": "quickbooks", "account_id": "9130350266011486", "external_id": "130"}),
        );
        assert_eq!(ca.post_signed(&link).await.status(), 200);
        for client in [&ca, &cb] {
            let (_, unmatched) = client.get("/api/v1/unmatched").await;
            assert!(
                unmatched["entries"].as_array().unwrap().is_empty(),
                "{unmatched}"
            );
            let kinds: Vec<String> = client
                .all_entries("job", "1042")
                .await
                .iter()
                .map(|e| e["kind"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(
                kinds,
                ["quickbooks.invoice.updated", "invoice.sent_to_accounting"]
            );
        }
        // And a later callback on B finds the link A wrote straight away.
        let void = br#"{"eventNotifications":[{"realmId":"9130350266011486","dataChangeEvent":{"entities":[{"name":"Invoice","id":"130","operation":"Void","lastUpdated":"2026-03-05T09:00:00Z"}]}}]}"#;
        assert_eq!(cb.send("quickbooks", void).await.status(), 200);
        assert_eq!(ca.all_entries("job", "1042").await.len(), 3);
        a.terminate();
        b.terminate();
    }
}

postgres_tests! {
    async fn a_database_outage_answers_503_and_the_gateway_recovers_by_itself() {
        let pair = Pair::new("outage");
        let mut gateway = ChildGateway::start(pair.config());
        let client = pair.client(&gateway);
        let before = status_changed("8000", "Printing", "2026-03-04T10:00:00Z");
        assert_eq!(client.post_signed(&before).await.status(), 200);

        pair.database.set_reachable(false).unwrap();
        let during = status_changed("8000", "Shipped", "2026-03-04T11:00:00Z");
        let signed = client.signed("hoops", &during);
        let refused = client.post("hoops", &signed.body, &signed.headers).await;
        assert_eq!(refused.status(), 503);
        assert!(refused.headers().contains_key("retry-after"));
        let ready = reqwest::get(format!("{}/readyz", gateway.base))
            .await
            .unwrap();
        assert_eq!(ready.status(), 503);
        let reason = ready.text().await.unwrap();
        assert!(reason.contains("PostgreSQL"), "{reason}");

        // The database returns: the sender's retry of the refused delivery is taken, once.
        pair.database.set_reachable(true).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let retry = client.post("hoops", &signed.body, &signed.headers).await;
            if retry.status() == 200 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no recovery: {}",
                retry.status()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let ready = reqwest::get(format!("{}/readyz", gateway.base))
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
        let entries = client.all_entries("job", "8000").await;
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert_verified(&pair, 2);
        gateway.terminate();
    }
}

postgres_tests! {
    async fn a_session_signed_out_on_one_gateway_ends_on_the_other() {
        let key = "\n[auth]\nsession_key = \"postgres-tests-session-key-0123456789abcdef\"\n";
        let pair = Pair::with("signout", &format!("{}{key}", staff_users()));
        let (mut a, mut b) = pair.start_two();
        let mut browser = Browser::new(&a.base);
        browser.sign_in().await;
        let cookie = browser.cookie.clone().expect("a session cookie");
        let mut on_b = Browser::new(&b.base);
        on_b.cookie = Some(cookie.clone());
        assert_eq!(on_b.get("/").await.status, 200, "one session, any gateway");

        let home = browser.get("/").await;
        let csrf = Browser::csrf_of(&home);
        let out = browser.post_form("/logout", &[("csrf", &csrf)]).await;
        assert_eq!(out.status, 303);
        // B hears of it through the database's notification, within moments.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            on_b.cookie = Some(cookie.clone());
            let page = on_b.get("/").await;
            if page.status == 303 {
                assert_eq!(page.location(), Some("/login"));
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "B still takes the signed-out cookie"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // A gateway started afterwards knows it from the start.
        let mut c = ChildGateway::start(pair.config());
        let mut on_c = Browser::new(&c.base);
        on_c.cookie = Some(cookie);
        assert_eq!(on_c.get("/").await.status, 303);
        a.terminate();
        b.terminate();
        c.terminate();
    }
}

postgres_tests! {
    async fn maintenance_verbs_run_against_the_database_while_gateways_serve() {
        let pair = Pair::new("verbs");
        let (mut a, mut b) = pair.start_two();
        let client = pair.client(&a);
        for (job, to) in [("9001", "Printing"), ("9001", "Shipped"), ("9002", "Printing")] {
            let body = status_changed(job, to, "2026-03-04T10:00:00Z");
            assert_eq!(client.post_signed(&body).await.status(), 200);
        }
        let config = pair.config();
        let (ok, out) = run_cli(config, &["reindex"]);
        assert!(ok && out.contains("reindexed 3 deliveries: 3 entries"), "{out}");
        let exported = common::run_cli_output(config, &["export", "--subject", "job:9001"]);
        assert!(exported.status.success());
        assert_eq!(String::from_utf8_lossy(&exported.stdout).lines().count(), 2);
        let (ok, out) = run_cli(config, &["prune", "--older-than-days", "1"]);
        assert!(ok && out.starts_with("dropped 0 raw bodies"), "{out}");
        let (ok, out) = run_cli(config, &["erase", "--subject", "job:9002"]);
        assert!(ok && out.contains("1 timelines noted"), "{out}");
        // Intake went on meanwhile, on both, into the same chain.
        let late = status_changed("9003", "Printing", "2026-03-04T11:00:00Z");
        assert_eq!(pair.client(&b).post_signed(&late).await.status(), 200);
        assert_verified(&pair, 5);
        let backup = common::run_cli_output(config, &["backup", "/tmp/never-written.redb"]);
        assert!(!backup.status.success());
        assert!(String::from_utf8_lossy(&backup.stderr).contains("pg_dump"));
        a.terminate();
        b.terminate();
    }
}

postgres_tests! {
    /// A timeline open on one gateway follows what another commits: its stream waits on the
    /// database's notifications and reads the shared changes.
    async fn a_live_timeline_on_one_gateway_shows_what_another_committed() {
        use crate::live::EventStream;
        let pair = Pair::new("live");
        let (mut a, mut b) = pair.start_two();
        let wait = Duration::from_secs(10);
        let path = "/api/v1/subjects/job/6100/stream";
        let mut on_a = EventStream::open(&a.base, path, None).await;
        let cb = pair.client(&b);
        for (to, at) in [("Printing", "2026-03-04T10:00:00Z"), ("Packed", "2026-03-04T09:00:00Z")] {
            let answer = cb.post_signed(&status_changed("6100", to, at)).await;
            assert!(answer.status().is_success());
            let event = on_a.next_entry(wait).await.expect("the other gateway's entry");
            assert_eq!(event.json()["details"]["to"], to);
        }
        a.terminate();
        b.terminate();
    }
}
