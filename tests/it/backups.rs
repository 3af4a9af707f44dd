//! Backups: live over the API (`POST /api/v1/backups`), written only inside the backup folder,
//! never through a link, never over anything, one at a time; and offline by the CLI, never
//! through a link either.

use crate::common;

use std::os::unix::fs::symlink;
use std::path::Path;

use common::{TOKEN, TestGateway, run_cli, status_changed, write_config};
use serde_json::{Value, json};

async fn ask_for_backup(gateway: &TestGateway, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/backups", gateway.client.base))
        .bearer_auth(TOKEN)
        .json(&json!({ "path": path }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    if status >= 400 {
        assert_eq!(content_type, "application/problem+json", "{body}");
    }
    (status, body)
}

fn assert_problem(answer: &(u16, Value), status: u16, problem: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(
        answer.1["type"],
        format!("urn:hooktrail:problem:{problem}"),
        "{}",
        answer.1
    );
}

fn entries_in(folder: &Path) -> Vec<String> {
    std::fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

async fn gateway_with_a_delivery() -> TestGateway {
    let gateway = TestGateway::start().await;
    let event = status_changed("1", "Printing", "2026-03-04T10:00:00Z");
    assert_eq!(gateway.client.post_signed(&event).await.status(), 200);
    gateway
}

#[actix_web::test]
async fn a_symlinked_subfolder_pointing_outside_is_refused_and_nothing_is_written_there() {
    let mut gateway = gateway_with_a_delivery().await;
    let folder = gateway.dir.path().join("backups");
    std::fs::create_dir_all(&folder).unwrap();
    let outside = tempfile::tempdir().unwrap();
    symlink(outside.path(), folder.join("elsewhere")).unwrap();

    let absolute = folder.join("elsewhere/b.redb").display().to_string();
    for requested in ["elsewhere/b.redb", absolute.as_str()] {
        let answer = ask_for_backup(&gateway, requested).await;
        assert_problem(&answer, 400, "invalid-backup-path");
        assert!(
            answer.1["detail"].as_str().unwrap().contains("elsewhere"),
            "the detail names the link: {}",
            answer.1
        );
    }
    assert!(
        entries_in(outside.path()).is_empty(),
        "nothing was written outside"
    );

    // A real subfolder is fine, and the copy verifies.
    std::fs::create_dir(folder.join("weekly")).unwrap();
    let (status, done) = ask_for_backup(&gateway, "weekly/b.redb").await;
    assert_eq!(status, 201, "{done}");
    assert_eq!(done["integrity"]["status"], "intact", "{done}");
    let written = folder.canonicalize().unwrap().join("weekly/b.redb");
    assert_eq!(done["path"], written.display().to_string());
    assert!(written.is_file());
    gateway.stop().await;
}

#[actix_web::test]
async fn a_dangling_symlink_at_the_name_is_refused_and_its_target_not_created() {
    let mut gateway = gateway_with_a_delivery().await;
    let folder = gateway.dir.path().join("backups");
    std::fs::create_dir_all(&folder).unwrap();
    let outside = tempfile::tempdir().unwrap();
    let planted = outside.path().join("planted.redb");
    symlink(&planted, folder.join("nightly.redb")).unwrap();

    let answer = ask_for_backup(&gateway, "nightly.redb").await;
    assert_problem(&answer, 409, "backup-exists");
    assert!(!planted.exists(), "the link was not followed");
    assert!(entries_in(outside.path()).is_empty());
    assert!(
        std::fs::symlink_metadata(folder.join("nightly.redb"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link itself is left as it was"
    );

    // An existing file is refused the same way.
    std::fs::write(folder.join("kept.redb"), b"precious").unwrap();
    let answer = ask_for_backup(&gateway, "kept.redb").await;
    assert_problem(&answer, 409, "backup-exists");
    assert_eq!(
        std::fs::read(folder.join("kept.redb")).unwrap(),
        b"precious"
    );
    gateway.stop().await;
}

#[actix_web::test]
async fn paths_outside_the_folder_or_through_missing_folders_are_bad_requests() {
    let mut gateway = gateway_with_a_delivery().await;
    let folder = gateway.dir.path().join("backups");
    for requested in [
        "missing/b.redb".to_owned(),
        folder.join("missing/deeper/b.redb").display().to_string(),
        "../escape.redb".to_owned(),
        "/etc/hooktrail.redb".to_owned(),
        gateway.dir.path().join("beside.redb").display().to_string(),
        String::new(),
    ] {
        let answer = ask_for_backup(&gateway, &requested).await;
        assert_problem(&answer, 400, "invalid-backup-path");
    }
    assert!(!gateway.dir.path().join("escape.redb").exists());
    assert!(!gateway.dir.path().join("beside.redb").exists());
    assert!(
        entries_in(&folder).is_empty(),
        "a refused backup leaves nothing behind"
    );
    gateway.stop().await;
}

#[actix_web::test]
async fn a_second_backup_while_one_is_written_answers_409() {
    let stores = tempfile::tempdir().unwrap();
    let (store, held, gate) = common::store::holding_backup(&stores);
    let mut gateway = TestGateway::start_with("", Some(store.storage())).await;
    // Declared after the gateway, so a failing assertion drops (opens) the gate before the
    // gateway: the held backup never outlives the test.
    let gate = gate;
    let event = status_changed("1", "Printing", "2026-03-04T10:00:00Z");
    assert_eq!(gateway.client.post_signed(&event).await.status(), 200);

    let first = {
        let base = gateway.client.base.clone();
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{base}/api/v1/backups"))
                .bearer_auth(TOKEN)
                .json(&json!({ "path": "first.redb" }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    // The first backup is inside the store's copy, held there until the gate opens.
    tokio::task::spawn_blocking(move || held.recv().unwrap())
        .await
        .unwrap();
    let answer = ask_for_backup(&gateway, "second.redb").await;
    assert_problem(&answer, 409, "backup-running");
    let folder = gateway.dir.path().join("backups");
    assert!(!folder.join("second.redb").exists());

    gate.send(()).unwrap();
    assert_eq!(first.await.unwrap(), 201);
    // Once it has finished, the next one runs.
    let (status, done) = ask_for_backup(&gateway, "second.redb").await;
    assert_eq!(status, 201, "{done}");
    gateway.stop().await;
}

#[test]
fn an_offline_backup_never_follows_a_link_planted_at_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let (config, text) = write_config(dir.path(), "");
    let event = status_changed("1", "Printing", "2026-03-04T10:00:00Z");
    common::append_directly(&dir.path().join("hooktrail.redb"), &text, &[event]);
    let outside = tempfile::tempdir().unwrap();
    let planted = outside.path().join("planted.redb");
    let link = dir.path().join("copy.redb");
    symlink(&planted, &link).unwrap();

    let (ok, out) = run_cli(&config, &["backup", &link.display().to_string()]);
    assert!(!ok, "{out}");
    assert!(!planted.exists(), "the link was not followed");

    let plain = dir.path().join("plain.redb").display().to_string();
    let (ok, out) = run_cli(&config, &["backup", &plain]);
    assert!(ok && out.contains("ok: 1 deliveries"), "{out}");
}
