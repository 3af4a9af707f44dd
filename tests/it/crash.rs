//! Nothing acknowledged is lost: the real binary is SIGKILLed while concurrent signed requests
//! run, restarted on the same file, and every delivery that got a 2xx must be there.

use crate::common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{ChildGateway, Client, run_cli, status_changed, write_config};

const WRITERS: usize = 16;

/// Posts signed events from `WRITERS` concurrent connections until the deadline (or the
/// gateway is gone); returns the webhook ids that were acknowledged with a 2xx. `acked` fills
/// as answers come.
async fn load_until(
    client: Arc<Client>,
    round: usize,
    deadline: Instant,
    acked: Arc<Mutex<HashSet<String>>>,
) -> HashSet<String> {
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let (client, acked) = (client.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < deadline {
                n += 1;
                let body = status_changed(
                    &format!("r{round}w{writer}"),
                    &format!("S{n}"),
                    "2026-03-04T10:00:00Z",
                );
                let headers = client.signed_headers("hoops", &body);
                let id = headers
                    .iter()
                    .find(|(k, _)| k == "webhook-id")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                // Requests cut off by the kill fail here; only 2xx answers count as promises.
                let request = reqwest::Client::new()
                    .post(format!("{}/hooks/hoops", client.base))
                    .body(body.clone())
                    .timeout(Duration::from_secs(5));
                let request = headers.iter().fold(request, |r, (k, v)| r.header(k, v));
                match request.send().await {
                    Ok(response) if response.status().is_success() => {
                        acked.lock().unwrap().insert(id);
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    acked.lock().map(|set| set.clone()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (config, text) = write_config(dir.path(), "");
    let mut all_acked: Vec<(usize, HashSet<String>)> = Vec::new();

    for round in 0..3 {
        let mut server = ChildGateway::start(&config);
        let client = Arc::new(Client::new(server.base.clone(), &text));
        let deadline = Instant::now() + Duration::from_secs(20);
        let acked = Arc::new(Mutex::new(HashSet::new()));
        let load = tokio::spawn(load_until(client, round, deadline, acked.clone()));
        // Kill mid-load, at a different moment each round, once something was acknowledged
        // (a busy machine may take a while to answer the first request).
        tokio::time::sleep(Duration::from_millis(700 + 400 * round as u64)).await;
        while acked.lock().unwrap().is_empty() {
            assert!(
                Instant::now() < deadline,
                "round {round}: nothing acknowledged"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server.kill9();
        let acked = load.await.unwrap();
        all_acked.push((round, acked));
    }

    let mut server = ChildGateway::start(&config);
    let client = Client::new(server.base.clone(), &text);
    let mut total = 0;
    for (round, acked) in &all_acked {
        let mut stored = HashSet::new();
        for writer in 0..WRITERS {
            for entry in client
                .all_entries("job", &format!("r{round}w{writer}"))
                .await
            {
                stored.insert(
                    entry["source"]["event_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
        let lost: Vec<_> = acked.difference(&stored).collect();
        assert!(
            lost.is_empty(),
            "round {round}: {} acknowledged deliveries lost: {lost:?}",
            lost.len()
        );
        total += acked.len();
    }
    assert!(
        server.terminate().success(),
        "SIGTERM must stop the gateway cleanly"
    );

    let (ok, out) = run_cli(&config, &["verify"]);
    assert!(ok, "verify failed after the kills: {out}");
    assert!(out.starts_with("ok:"), "{out}");
    eprintln!("{total} acknowledged deliveries survived 3 SIGKILLs");
}

/// After a crash the gateway answers while it replays its journal: `/readyz` says
/// "replaying n/m", a delivery gets 503 with `Retry-After` (its provider retries), and once the
/// replay is done every journaled delivery is on its timeline and intake takes new ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_tells_the_replay_after_a_crash_and_intake_waits_for_it() {
    let (_dir, config_text, gateway) = opening_after_a_crash();
    let base = gateway.base.clone();
    let log = gateway.log.clone();

    let http = reqwest::Client::new();
    let client = Client::new(base.clone(), &config_text);
    let mut seen_replaying = Vec::new();
    let mut refused_during_replay = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "never ready:\n{}",
            gateway.log_text()
        );
        let Ok(answer) = http.get(format!("{base}/readyz")).send().await else {
            tokio::time::sleep(Duration::from_millis(2)).await;
            continue;
        };
        let status = answer.status().as_u16();
        let nosniff = answer.headers().get("x-content-type-options").cloned();
        let text = answer.text().await.unwrap_or_default();
        if status == 200 {
            assert_eq!(text, "ready");
            break;
        }
        assert_eq!(status, 503, "{text}");
        if text.starts_with("not ready: replaying ") {
            // The start-up server sends the security headers every response carries.
            assert_eq!(
                nosniff.as_ref().map(|v| v.as_bytes()),
                Some(&b"nosniff"[..])
            );
            seen_replaying.push(text);
            if refused_during_replay.is_none() {
                let body = status_changed("7002", "Printing", "2026-03-04T10:00:00Z");
                let response = client.post_signed(&body).await;
                refused_during_replay = Some((
                    response.status().as_u16(),
                    response.headers().contains_key("retry-after"),
                ));
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let total = format!("/{JOURNALED} journaled deliveries");
    assert!(
        seen_replaying.iter().any(|text| text.ends_with(&total)),
        "/readyz never said \"replaying n{total}\": {seen_replaying:?}\n{}",
        gateway.log_text()
    );
    assert_eq!(refused_during_replay, Some((503, true)));

    // Ready means the gateway itself answers now: every journaled delivery is readable, and
    // intake stores again.
    wait_for_line(&log, "listening on http://", Duration::from_secs(5));
    assert_eq!(client.all_entries("job", "7001").await.len(), JOURNALED);
    let body = status_changed("7002", "Printing", "2026-03-04T10:00:00Z");
    assert!(client.post_signed(&body).await.status().is_success());
}

/// SIGTERM while the store replays its journal: the replay finishes (it cannot be cut
/// short), the store closes with a checkpoint, and the gateway exits cleanly without serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_the_start_up_replay_stops_cleanly_once_the_store_is_open() {
    let (dir, _, mut gateway) = opening_after_a_crash();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "{}", gateway.log_text());
        if let Ok(answer) = http.get(format!("{}/readyz", gateway.base)).send().await
            && answer
                .text()
                .await
                .unwrap_or_default()
                .contains("replaying")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let status = gateway.terminate();
    let log = gateway.log_text();
    assert!(status.success(), "{status}: {log}");
    assert!(
        log.contains("asked to stop while the store was opening"),
        "{log}"
    );
    assert!(
        !log.contains("listening on http://"),
        "it served after SIGTERM: {log}"
    );

    // Closed with a checkpoint: the journal holds no record, and every delivery is in the file.
    let journal =
        hooktrail::store::redb::journal::deliveries_in(&dir.path().join("hooktrail.redb.journal"));
    assert_eq!(journal.unwrap(), 0, "{log}");
    let store =
        hooktrail::store::redb::RedbStore::open(&dir.path().join("hooktrail.redb")).unwrap();
    assert_eq!(
        hooktrail::store::prelude::ReadSide::deliveries(&store, 1, 10_000)
            .unwrap()
            .len(),
        JOURNALED
    );
}

/// How many deliveries the replay tests' crash leaves journaled: enough for a replay that
/// takes a while in a debug build.
const JOURNALED: usize = 3000;

/// A gateway started on the files a crash left with [`JOURNALED`] deliveries in the journal,
/// returned as soon as it listens (while it replays), with its folder and config text.
fn opening_after_a_crash() -> (tempfile::TempDir, String, ChildGateway) {
    let dir = tempfile::tempdir().unwrap();
    let (config, config_text) = write_config(dir.path(), "");
    crash_with_a_full_journal(dir.path(), &config_text, JOURNALED);
    let gateway = ChildGateway::start_opening(&config);
    (dir, config_text, gateway)
}

/// Leaves in `dir` the files a crash leaves after `deliveries` signed deliveries of the
/// `hoops` source, none of them checkpointed: a copy taken while a store that never
/// checkpoints is open, as a power cut would leave them.
fn crash_with_a_full_journal(dir: &std::path::Path, config_text: &str, deliveries: usize) {
    use hooktrail::store::redb::{Checkpoints, RedbStore};

    let staging = tempfile::tempdir().unwrap();
    let bodies: Vec<Vec<u8>> = (0..deliveries)
        .map(|n| status_changed("7001", &format!("S{n}"), "2026-03-04T10:00:00Z"))
        .collect();
    let never = Checkpoints {
        every: Duration::from_secs(3600),
        deliveries: usize::MAX,
    };
    let store = RedbStore::open_with(&staging.path().join("hooktrail.redb"), never).unwrap();
    common::append_to(&store, config_text, &bodies);
    for name in ["hooktrail.redb", "hooktrail.redb.journal"] {
        std::fs::copy(staging.path().join(name), dir.join(name)).unwrap();
    }
    drop(store);
}

/// Waits up to `within` for a line of `log` that contains `needle`.
fn wait_for_line(log: &std::path::Path, needle: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no line with {needle:?}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
