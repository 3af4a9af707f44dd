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
