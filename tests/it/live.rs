//! Live timelines over real HTTP: what a stream sends as deliveries are committed, how it
//! resumes, and its bounds (a cap, heartbeats, an idle timeout).

use crate::common;

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{TOKEN, TestGateway, status_changed};
use serde_json::Value;

/// One server-sent event as the stream framed it.
#[derive(Debug, Clone, Default)]
pub struct Event {
    pub id: Option<String>,
    pub name: Option<String>,
    pub data: String,
    /// A comment line (`: …`), which a heartbeat is.
    pub comment: Option<String>,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).expect("entry events carry JSON")
    }
}

/// An open stream, read event by event.
pub struct EventStream {
    body: reqwest::Response,
    buffer: String,
    ready: VecDeque<Event>,
}

impl EventStream {
    /// Opens `path` on `base` with the test token; panics unless the answer is a stream.
    pub async fn open(base: &str, path: &str, last_event_id: Option<&str>) -> EventStream {
        let response = request(base, path, last_event_id).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "{path}"
        );
        EventStream {
            body: response,
            buffer: String::new(),
            ready: VecDeque::new(),
        }
    }

    /// The next event or comment, or `None` when the stream ended or `wait` passed.
    pub async fn next(&mut self, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.chunk())
                .await
                .ok()?
                .expect("stream chunk")?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                self.ready.push_back(parse(&block));
            }
        }
    }

    /// The next `entry` event, skipping the `retry:` preamble and heartbeats.
    pub async fn next_entry(&mut self, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next(left).await?;
            if event.name.as_deref() == Some("entry") {
                return Some(event);
            }
        }
    }
}

fn parse(block: &str) -> Event {
    let mut event = Event::default();
    for line in block.lines() {
        if let Some(comment) = line.strip_prefix(':') {
            event.comment = Some(comment.trim().to_owned());
        } else if let Some((field, value)) = line.split_once(": ") {
            match field {
                "id" => event.id = Some(value.to_owned()),
                "event" => event.name = Some(value.to_owned()),
                "data" => event.data.push_str(value),
                _ => {}
            }
        }
    }
    event
}

pub async fn request(base: &str, path: &str, last_event_id: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(TOKEN);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    request.send().await.expect("request")
}

const STREAM: &str = "/api/v1/subjects/job/1042/stream";
const WAIT: Duration = Duration::from_secs(10);

async fn post_status(gateway: &TestGateway, to: &str, timestamp: &str) {
    let response = gateway
        .client
        .post_signed(&status_changed("1042", to, timestamp))
        .await;
    assert!(response.status().is_success());
}

#[actix_web::test]
async fn a_stream_sends_what_is_committed_after_it_opened_and_resumes_after_its_last_event() {
    let gateway = TestGateway::start().await;
    post_status(&gateway, "Printing", "2026-03-02T10:00:00Z").await;
    let mut stream = EventStream::open(&gateway.client.base, STREAM, None).await;

    // A late event (it happened before the first) still arrives, with its rendered line.
    post_status(&gateway, "Approved", "2026-03-01T09:00:00Z").await;
    let first = stream.next_entry(WAIT).await.expect("an entry event");
    let entry = first.json();
    assert_eq!(entry["kind"], "status.changed");
    assert_eq!(entry["details"]["to"], "Approved");
    let html = entry["html"].as_str().unwrap();
    assert!(
        html.contains(&format!("id=\"entry-{}\"", entry["id"].as_str().unwrap())),
        "{html}"
    );
    assert!(html.contains("data-at=\"2026-03-01T09:00:00Z\""), "{html}");
    assert!(html.contains("day-2026-03-01"), "{html}");

    post_status(&gateway, "Shipped", "2026-03-03T09:00:00Z").await;
    let second = stream.next_entry(WAIT).await.expect("a second entry");
    assert_eq!(second.json()["details"]["to"], "Shipped");
    drop(stream);

    // Reconnecting from the first event gives exactly what came after it; from the second,
    // nothing until something new is committed.
    let first_id = first.id.clone().unwrap();
    let mut resumed = EventStream::open(&gateway.client.base, STREAM, Some(&first_id)).await;
    let again = resumed.next_entry(WAIT).await.unwrap();
    assert_eq!(again.id, second.id);
    assert_eq!(again.json()["details"]["to"], "Shipped");
    let query = format!("{STREAM}?after={}", second.id.clone().unwrap());
    let mut caught_up = EventStream::open(&gateway.client.base, &query, None).await;
    assert!(
        caught_up
            .next_entry(Duration::from_millis(500))
            .await
            .is_none()
    );
    post_status(&gateway, "Delivered", "2026-03-04T09:00:00Z").await;
    assert_eq!(
        caught_up.next_entry(WAIT).await.unwrap().json()["details"]["to"],
        "Delivered"
    );
}

#[actix_web::test]
async fn streams_are_capped_beat_when_quiet_and_close_when_idle() {
    let gateway = TestGateway::start_with(
        "[live]\nmax_streams = 1\nheartbeat_secs = 1\nidle_timeout_secs = 3\n",
        None,
    )
    .await;
    let base = gateway.client.base.clone();
    let opened = std::time::Instant::now();
    let mut stream = EventStream::open(&base, STREAM, None).await;

    let refused = request(&base, STREAM, None).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "5");
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );

    let mut beats = 0;
    while let Some(event) = stream.next(WAIT).await {
        if event.comment.is_some() {
            beats += 1;
        }
    }
    // Ended by the idle timeout, having beaten about once a second until then.
    let lasted = opened.elapsed();
    assert!(lasted >= Duration::from_secs(3), "{lasted:?}");
    assert!(beats >= 2, "{beats} heartbeats");

    // Its slot is free again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    EventStream::open(&base, STREAM, None).await;
}

#[actix_web::test]
async fn a_stream_needs_a_caller_and_a_readable_cursor() {
    let gateway = TestGateway::start().await;
    let base = &gateway.client.base;
    let anonymous = reqwest::get(format!("{base}{STREAM}")).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let bad = request(base, STREAM, Some("not-a-cursor")).await;
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.headers()["content-type"], "application/problem+json");
    let unknown_kind = request(base, "/api/v1/subjects/widget/1/stream", None).await;
    assert_eq!(unknown_kind.status(), 404);
}

#[actix_web::test]
async fn everything_new_anywhere_streams_to_the_home_page_and_the_unmatched_list() {
    let gateway = TestGateway::start().await;
    let mut stream = EventStream::open(&gateway.client.base, "/api/v1/stream", None).await;
    for job in ["501", "502"] {
        let body = status_changed(job, "Printing", "2026-03-02T10:00:00Z");
        assert!(
            gateway
                .client
                .post_signed(&body)
                .await
                .status()
                .is_success()
        );
        let event = stream.next_entry(WAIT).await.expect("an entry");
        let entry = event.json();
        assert_eq!(entry["subjects"][0]["id"], job);
        // The home page's line: it names the job it belongs to.
        let html = entry["html"].as_str().unwrap();
        assert!(html.contains(&format!("href=\"/jobs/{job}\"")), "{html}");
    }
}

#[actix_web::test]
async fn what_a_stream_sends_is_escaped_and_sanitized_like_the_page() {
    let gateway = TestGateway::start().await;
    let mut stream = EventStream::open(&gateway.client.base, STREAM, None).await;
    let hostile = common::event(
        "email.sent",
        "2026-03-04T20:00:00Z",
        serde_json::json!({"subject": {"kind": "job", "id": "1042"},
            "message": {"subject": "<script>window.pwned=1</script>",
                        "to": ["<img src=x onerror=\"window.pwned=2\">"],
                        "html": "<img src=x onerror=\"window.pwned=3\"><a href=\"javascript:alert(1)\">x</a><script>window.pwned=4</script><p>Hello</p>"}}),
    );
    assert!(
        gateway
            .client
            .post_signed(&hostile)
            .await
            .status()
            .is_success()
    );
    let event = stream.next_entry(WAIT).await.expect("the entry");
    let html = event.json()["html"].as_str().unwrap().to_owned();
    let fragment = scraper::Html::parse_fragment(&html);
    let any = |css: &str| {
        fragment
            .select(&scraper::Selector::parse(css).unwrap())
            .next()
            .is_some()
    };
    assert!(!any("script"), "{html}");
    assert!(!any("[onerror]"), "{html}");
    assert!(!any("a[href^='javascript']"), "{html}");
    assert!(html.contains("&lt;script&gt;window.pwned"), "{html}");
    assert!(
        any(".email-body p"),
        "the sanitized body keeps its text: {html}"
    );
}

#[actix_web::test]
async fn a_stream_that_cannot_read_its_changes_keeps_its_client_and_catches_up_on_the_next_beat() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store::FlakyChanges::open(&dir);
    let gateway = TestGateway::start_with(
        "[live]\nheartbeat_secs = 1\nidle_timeout_secs = 30\n",
        Some(store.storage()),
    )
    .await;
    let mut stream = EventStream::open(&gateway.client.base, STREAM, None).await;

    // The commit wakes the stream while its read fails: nothing is sent, the stream stays.
    store.failing.store(true, Ordering::SeqCst);
    post_status(&gateway, "Printing", "2026-03-02T10:00:00Z").await;
    let mut beats = 0;
    while beats < 2 {
        let event = stream.next(WAIT).await.expect("the stream stays open");
        assert_ne!(event.name.as_deref(), Some("entry"), "{event:?}");
        beats += usize::from(event.comment.is_some());
    }

    // Once reads work again, the next beat reads what it missed, without a new commit.
    store.failing.store(false, Ordering::SeqCst);
    let caught_up = stream.next_entry(WAIT).await.expect("the missed entry");
    assert_eq!(caught_up.json()["details"]["to"], "Printing");
    assert_eq!(caught_up.json()["change"], "new");
}
