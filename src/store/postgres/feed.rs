//! The change feed across gateways: every commit that changes timelines sends, with the
//! commit, a notification naming the subjects it touched; every gateway listens and gives those
//! subjects new stamps, so its rendered pages of them are retired (and live timelines can
//! follow). PostgreSQL delivers notifications only on commit, in commit order.
//!
//! A listener that loses its connection may have missed notifications: it retires every page
//! when it is back, and while it is away the gateway treats every stamp as changed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::config::DatabaseUrl;
use crate::store::stamps::SubjectStamps;

pub const CHANNEL: &str = "hooktrail_timelines";

/// A payload naming every subject: a reindex, an erasure, or more subjects than fit.
pub const EVERY_SUBJECT: &str = "*";

/// PostgreSQL refuses payloads of 8000 bytes or more.
const MAX_PAYLOAD: usize = 7_900;

/// Which store sent a notification: a gateway has bumped its own stamps at commit already,
/// and skips its own notifications (a second bump would only retire pages for nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin(u64);

impl Origin {
    pub fn random() -> Origin {
        let mut bytes = [0u8; 8];
        // Failing that, the time: distinct enough to tell two gateways apart.
        if getrandom::fill(&mut bytes).is_err() {
            bytes = chrono::Utc::now()
                .timestamp_nanos_opt()
                .unwrap_or(0)
                .to_be_bytes();
        }
        Origin(u64::from_be_bytes(bytes))
    }
}

/// What to send for a commit that touched `subjects` (their keys): the origin on the first
/// line, then a key per line, or [`EVERY_SUBJECT`].
pub fn payload<'a>(
    origin: Origin,
    subjects: impl IntoIterator<Item = &'a String>,
) -> Option<String> {
    let mut payload = format!("{:016x}", origin.0);
    let mut any = false;
    for key in subjects {
        payload.push('\n');
        payload.push_str(key);
        any = true;
        if payload.len() > MAX_PAYLOAD {
            return Some(format!("{:016x}\n{EVERY_SUBJECT}", origin.0));
        }
    }
    any.then_some(payload)
}

/// The payload that retires every page (reindex, erasure).
pub fn everything(origin: Origin) -> String {
    format!("{:016x}\n{EVERY_SUBJECT}", origin.0)
}

/// Applies one notification to the stamps, unless `own` sent it.
pub fn apply(stamps: &SubjectStamps, own: Origin, payload: &str) {
    let (sender, keys) = payload.split_once('\n').unwrap_or((payload, ""));
    if u64::from_str_radix(sender, 16).is_ok_and(|sender| sender == own.0) {
        return;
    }
    if keys == EVERY_SUBJECT {
        stamps.bump_all();
    } else {
        stamps.bump(keys.split('\n'));
    }
}

/// Whether the listener is connected; while it is not, pages must not trust stamps.
#[derive(Default)]
pub struct Listening(AtomicBool);

impl Listening {
    pub fn is_live(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Waits, up to `limit`, for the listener to be live.
    pub async fn wait(&self, limit: Duration) -> bool {
        let started = tokio::time::Instant::now();
        while !self.is_live() {
            if started.elapsed() >= limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }
}

/// Listens until the runtime stops, reconnecting after failures.
pub async fn listen(
    url: DatabaseUrl,
    own: Origin,
    stamps: Arc<SubjectStamps>,
    listening: Arc<Listening>,
) {
    loop {
        if let Err(err) = listen_once(&url, own, &stamps, &listening).await {
            tracing::warn!(error = %err, "the change feed lost its connection; reconnecting");
        }
        listening.0.store(false, Ordering::Release);
        stamps.bump_all();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn listen_once(
    url: &DatabaseUrl,
    own: Origin,
    stamps: &SubjectStamps,
    listening: &Listening,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = url.connect_config().connect(NoTls).await?;
    let (messages_tx, mut messages) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut stream = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = stream.next().await {
            if messages_tx.send(message).is_err() {
                break;
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    // Anything committed while no one listened is covered by retiring every page once.
    stamps.bump_all();
    listening.0.store(true, Ordering::Release);
    while let Some(message) = messages.recv().await {
        match message? {
            AsyncMessage::Notification(note) => apply(stamps, own, note.payload()),
            AsyncMessage::Notice(notice) => tracing::debug!(%notice, "PostgreSQL notice"),
            _ => {}
        }
    }
    driver.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_subjects_or_everything_and_skip_their_sender() {
        let (own, other) = (Origin(1), Origin(2));
        let keys = ["job:1".to_owned(), "salesdoc:2".to_owned()];
        let sent = payload(other, &keys).unwrap();
        assert_eq!(sent, "0000000000000002\njob:1\nsalesdoc:2");
        assert_eq!(payload(other, &Vec::<String>::new()), None);
        let many: Vec<String> = (0..2_000).map(|n| format!("job:{n}")).collect();
        assert_eq!(payload(other, &many), Some(everything(other)));

        let stamps = SubjectStamps::new();
        let before = (stamps.get("job:1"), stamps.get("job:3"));
        apply(&stamps, own, &payload(own, &keys).unwrap());
        assert_eq!(
            stamps.get("job:1"),
            before.0,
            "its own commit: bumped already"
        );
        apply(&stamps, own, &sent);
        assert_ne!(stamps.get("job:1"), before.0);
        assert_eq!(stamps.get("job:3"), before.1);
        apply(&stamps, own, &everything(other));
        assert_ne!(stamps.get("job:3"), before.1);
    }
}
