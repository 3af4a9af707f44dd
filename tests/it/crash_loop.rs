//! Crash safety, hard: the real binary is SIGKILLed at a random moment under concurrent load,
//! round after round, and restarted on the same file each time. Every acknowledged delivery
//! must survive, each restart must open the file without repair by hand, the integrity chain
//! must verify, and the projections must equal what a fresh `reindex` builds from the log.
//!
//! Rounds vary where the kill lands: with a checkpoint every few dozen deliveries (kills
//! during checkpoints), with none (the journal holds the whole round, which the next start
//! replays), and inside that start-up replay (after every round with no checkpoint; at least
//! one such kill must land between the replay's first and last log lines). A kill between
//! the two files' syncs of a checkpoint leaves the views ahead of the log, which the next start
//! rolls back; no start may have to rebuild them from the whole log.
//!
//! The kill moments come from a seed printed at the start; `HOOKTRAIL_TEST_SEED=<seed>` replays
//! a run.

use crate::common::{self, ChildGateway};
use crate::ops_support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Client, run_cli, status_changed, write_config};
use hooktrail::activity::Subject;
use hooktrail::store::prelude::*;
use hooktrail::store::redb::RedbStore;
use hooktrail::store::{ChainReport, PageQuery};
use ops_support::Rng;

/// Every round is bounded (a kill at most 0.9 s after start, requests with a 5 s timeout), so
/// the loop is too, without a wall-clock budget that a slow machine could fail.
const ROUNDS: usize = 20;
/// The store's log lines as the start-up replay begins and ends.
const REPLAY_BEGINS: &str = "appending the journal's deliveries since the last checkpoint again";
const REPLAY_ENDS: &str = "the journal's deliveries since the last checkpoint were appended again";
/// What the store logs when a start finds the views one checkpoint ahead of the log (a kill
/// between the two files' syncs), and when it must rebuild them from the whole log instead.
const VIEWS_ROLLED_BACK: &str = "rolled it back to the log's last checkpoint";
const VIEWS_REBUILT: &str = "rebuilding it from the log before serving";
const WRITERS: usize = 12;

/// Posts from `WRITERS` connections until the server dies or `stop` is set; returns the
/// webhook ids answered 2xx (the promises that must be kept).
async fn load(client: Arc<Client>, round: usize, stop: Arc<AtomicBool>) -> Vec<String> {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let (client, acked, stop, http) =
            (client.clone(), acked.clone(), stop.clone(), http.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let body = status_changed(
                    &format!("w{writer}"),
                    &format!("r{round}n{n}"),
                    "2026-03-04T10:00:00Z",
                );
                let headers = client.signed_headers("hoops", &body);
                let id = headers
                    .iter()
                    .find(|(name, _)| name == "webhook-id")
                    .map(|(_, value)| value.clone())
                    .unwrap_or_default();
                let request = headers.iter().fold(
                    http.post(format!("{}/hooks/hoops", client.base)).body(body),
                    |request, (name, value)| request.header(name, value),
                );
                match request.send().await {
                    Ok(response) if response.status().is_success() => {
                        acked.lock().unwrap().push(id);
                    }
                    Ok(_) => {}
                    // The kill cut the connection: this request was never acknowledged.
                    Err(_) => break,
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    acked.lock().unwrap().clone()
}

/// Where a round's kill lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    /// Under load, with a checkpoint every few dozen deliveries.
    Checkpointing,
    /// Under load, with no checkpoint before the kill: all of it is in the journal.
    Journaling,
    /// Right after start, once the replay of what the last round journaled has begun.
    InReplay,
}

impl Round {
    /// The `[storage]` checkpoint settings the round's gateway runs with.
    fn env(self) -> Vec<(&'static str, &'static str)> {
        let (secs, deliveries) = match self {
            Round::Checkpointing => ("1", "40"),
            Round::Journaling | Round::InReplay => ("3600", "1000000"),
        };
        vec![
            ("HOOKTRAIL_STORAGE__CHECKPOINT_SECS", secs),
            ("HOOKTRAIL_STORAGE__CHECKPOINT_DELIVERIES", deliveries),
        ]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_sigkills_under_load_lose_nothing_acknowledged() {
    let (mut rng, seed) = Rng::seeded();
    eprintln!("crash loop seed {seed} (set HOOKTRAIL_TEST_SEED={seed} to replay)");
    let dir = tempfile::tempdir().unwrap();
    let (config, text) = write_config(dir.path(), "");
    let log = dir.path().join("gateway.log");
    let started = Instant::now();
    let mut acked: Vec<String> = Vec::new();
    let mut rounds = 0;
    let mut killed_in_replay = 0;
    let mut rolled_back = 0;
    // A kill lands between the views' sync and the log's at worst: the start rolls the views
    // back and replays the journal. It never has to rebuild them from the whole log.
    let mut start_said = |said: &str| {
        assert!(
            !said.contains(VIEWS_REBUILT),
            "a start rebuilt the views from the whole log (seed {seed}):\n{said}"
        );
        rolled_back += usize::from(said.contains(VIEWS_ROLLED_BACK));
    };
    let mut previous = Round::Checkpointing;

    while rounds < ROUNDS {
        // The first round journals everything, and every such round is followed by a kill in
        // the replay of it.
        let round = match (previous, rng.between(0, 2)) {
            _ if rounds == 0 => Round::Journaling,
            (Round::Journaling, _) => Round::InReplay,
            (_, 1) => Round::Journaling,
            _ => Round::Checkpointing,
        };
        previous = round;
        rounds += 1;
        if round == Round::InReplay {
            let mut child = std::process::Command::new(common::binary())
                .args(["--config", &config.display().to_string(), "serve"])
                .envs(round.env())
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            while !std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains(REPLAY_BEGINS)
                && Instant::now() < deadline
                && child.try_wait().ok().flatten().is_none()
            {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            tokio::time::sleep(Duration::from_millis(rng.between(0, 20))).await;
            let _ = child.kill();
            let _ = child.wait();
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            killed_in_replay +=
                usize::from(said.contains(REPLAY_BEGINS) && !said.contains(REPLAY_ENDS));
            start_said(&said);
            continue;
        }
        // Starting proves the file opens as the last kill left it, with no repair by hand.
        let mut server = ChildGateway::start_with(&config, &[], &round.env(), Some(&log));
        let client = Arc::new(Client::new(server.base.clone(), &text));
        let stop = Arc::new(AtomicBool::new(false));
        let loading = tokio::spawn(load(client, rounds, stop.clone()));
        // A round that journals everything runs long enough that its replay takes a while.
        let (shortest, longest) = match round {
            Round::Journaling => (300, 900),
            _ => (30, 900),
        };
        tokio::time::sleep(Duration::from_millis(rng.between(shortest, longest))).await;
        server.kill9();
        start_said(&std::fs::read_to_string(&log).unwrap_or_default());
        stop.store(true, Ordering::Relaxed);
        let round_acked = loading.await.unwrap();
        acked.extend(round_acked);
    }
    let elapsed = started.elapsed();
    assert_eq!(rounds, ROUNDS);
    assert!(!acked.is_empty(), "no round acknowledged anything");
    assert!(
        killed_in_replay > 0,
        "no kill landed inside a start-up replay (seed {seed})"
    );

    let path = dir.path().join("hooktrail.redb");
    let store = RedbStore::open(&path).expect("the file opens after the last kill");
    let mut stored = HashSet::new();
    let mut from = 1;
    loop {
        let page = store.deliveries(from, 500).unwrap();
        let Some(last) = page.last().map(|d| d.seq) else {
            break;
        };
        stored.extend(page.into_iter().filter_map(|d| d.delivery_id));
        from = last + 1;
    }
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged deliveries lost: {lost:?}",
        lost.len(),
        acked.len()
    );
    assert!(matches!(
        store.verify_chain().unwrap(),
        ChainReport::Intact { .. }
    ));

    // Projections were committed with their deliveries: one entry per stored delivery, each
    // on its writer's timeline.
    let replayed_views = views(&store);
    let entries: usize = replayed_views.timelines.iter().map(Vec::len).sum();
    assert_eq!(entries, stored.len(), "entries and deliveries disagree");
    drop(store);

    // What start-up replay built equals what a fresh rebuild from the log builds.
    let (ok, out) = run_cli(&config, &["reindex"]);
    assert!(ok, "hooktrail reindex: {out}");
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(
        views(&store),
        replayed_views,
        "the views differ from a fresh reindex"
    );
    drop(store);

    let (ok, out) = run_cli(&config, &["verify"]);
    assert!(ok && out.starts_with("ok:"), "hooktrail verify: {out}");
    eprintln!(
        "crash loop: {rounds} SIGKILLs in {:.1} s ({killed_in_replay} inside the start-up \
         replay; views rolled back at {rolled_back} starts); {} acknowledged, all {} stored \
         deliveries intact",
        elapsed.as_secs_f64(),
        acked.len(),
        stored.len()
    );
}

/// Everything the views show.
#[derive(Debug, PartialEq)]
struct Views {
    /// Every entry as read, status roll-ups included.
    entries: Vec<serde_json::Value>,
    /// Each writer's timeline, newest first.
    timelines: Vec<Vec<String>>,
    unmatched: u64,
}

fn views(store: &RedbStore) -> Views {
    let mut entries = Vec::new();
    store
        .export(None, &mut |entry| {
            entries.push(serde_json::to_value(&entry).unwrap());
            Ok(())
        })
        .unwrap();
    let timelines = (0..WRITERS)
        .map(|writer| {
            let subject: Subject = format!("job:w{writer}").parse().unwrap();
            let mut ids = Vec::new();
            let mut query = PageQuery {
                callbacks: true,
                limit: PageQuery::MAX_LIMIT,
                before: None,
                category: None,
            };
            loop {
                let page = store.subject_entries(&subject, &query).unwrap();
                ids.extend(page.entries.iter().map(|entry| entry.id.to_string()));
                match page.next {
                    Some(cursor) => query.before = Some(cursor),
                    None => break ids,
                }
            }
        })
        .collect();
    Views {
        entries,
        timelines,
        unmatched: store.unmatched_count().unwrap(),
    }
}
