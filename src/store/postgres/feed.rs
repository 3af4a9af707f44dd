//! The change feed across gateways: every commit that changes timelines sends, with the
//! commit, a notification naming the subjects it touched; every gateway listens and gives those
//! subjects new stamps, so its rendered pages of them are retired (and live timelines can
//! follow). PostgreSQL delivers notifications only on commit, in commit order.
//!
//! Sign-outs travel the same way: a gateway that commits one notifies it, and the others add it
//! to their in-memory copies ([`crate::store::ChangeFeed::revocations_from_elsewhere`]).
//!
//! A listener that loses its connection may have missed notifications: when it is back it
//! retires every page and reads every sign-out still in force, and while it is away the
//! gateway treats every stamp as changed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::config::DatabaseUrl;
use crate::store::Revocation;
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

/// Marks a notification of a sign-out (subject keys never start with it).
const REVOKED: &str = "!revoked ";

/// The payload that tells the other gateways of a sign-out.
pub fn revoked(origin: Origin, revocation: &Revocation) -> String {
    let body = match revocation {
        Revocation::Session { id, expires } => {
            format!("session {id:032x} {}", expires.timestamp_micros())
        }
        Revocation::AllSessionsOf {
            username,
            issued_up_to,
            expires,
        } => format!(
            "everywhere {} {} {username}",
            issued_up_to.timestamp_micros(),
            expires.timestamp_micros()
        ),
    };
    format!("{:016x}\n{REVOKED}{body}", origin.0)
}

fn parse_revocation(text: &str) -> Option<Revocation> {
    let micros = |text: &str| chrono::DateTime::from_timestamp_micros(text.parse().ok()?);
    let (kind, rest) = text.split_once(' ')?;
    match kind {
        "session" => {
            let (id, expires) = rest.split_once(' ')?;
            Some(Revocation::Session {
                id: u128::from_str_radix(id, 16).ok()?,
                expires: micros(expires)?,
            })
        }
        "everywhere" => {
            let mut parts = rest.splitn(3, ' ');
            let issued_up_to = micros(parts.next()?)?;
            let expires = micros(parts.next()?)?;
            Some(Revocation::AllSessionsOf {
                username: parts.next()?.to_owned(),
                issued_up_to,
                expires,
            })
        }
        _ => None,
    }
}

/// Applies one notification, unless `own` sent it: subjects' stamps are bumped, a sign-out is
/// handed to the gateway through `feed`.
pub fn apply(stamps: &SubjectStamps, feed: &Listening, own: Origin, payload: &str) {
    let (sender, body) = payload.split_once('\n').unwrap_or((payload, ""));
    if u64::from_str_radix(sender, 16).is_ok_and(|sender| sender == own.0) {
        return;
    }
    if let Some(revocation) = body.strip_prefix(REVOKED) {
        match parse_revocation(revocation) {
            Some(revocation) => feed.deliver(vec![revocation]),
            None => tracing::warn!(payload, "an unreadable sign-out notification"),
        }
    } else if body == EVERY_SUBJECT {
        stamps.bump_all();
    } else {
        stamps.bump(body.split('\n'));
    }
}

/// What the listener shares with its gateway: whether it is connected (while it is not, pages
/// must not trust stamps), and the sign-outs it heard of that the gateway has not taken yet.
#[derive(Default)]
pub struct Listening {
    live: AtomicBool,
    revocations: Mutex<Vec<Revocation>>,
}

impl Listening {
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    fn set_live(&self, live: bool) {
        self.live.store(live, Ordering::Release);
    }

    fn deliver(&self, revocations: Vec<Revocation>) {
        self.revocations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(revocations);
    }

    /// The sign-outs heard of since the last call.
    pub fn take_revocations(&self) -> Vec<Revocation> {
        std::mem::take(
            &mut *self
                .revocations
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
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
        listening.set_live(false);
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
    // Anything committed while no one listened is covered by retiring every page once, and
    // by reading every sign-out still in force (listening already: none can slip between).
    listening.deliver(revocations_in_force(&client, chrono::Utc::now()).await?);
    stamps.bump_all();
    listening.set_live(true);
    while let Some(message) = messages.recv().await {
        match message? {
            AsyncMessage::Notification(note) => apply(stamps, listening, own, note.payload()),
            AsyncMessage::Notice(notice) => tracing::debug!(%notice, "PostgreSQL notice"),
            _ => {}
        }
    }
    driver.abort();
    Ok(())
}

/// Every sign-out still in force at `now`.
pub async fn revocations_in_force(
    client: &tokio_postgres::Client,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Revocation>, tokio_postgres::Error> {
    let now = now.timestamp_micros();
    let micros = |value: i64| chrono::DateTime::from_timestamp_micros(value).unwrap_or_default();
    let mut out = Vec::new();
    for row in client
        .query(
            "SELECT id, expires FROM revoked_sessions WHERE expires > $1",
            &[&now],
        )
        .await?
    {
        let id: &[u8] = row.try_get(0)?;
        if let Ok(id) = <[u8; 16]>::try_from(id) {
            out.push(Revocation::Session {
                id: u128::from_be_bytes(id),
                expires: micros(row.try_get(1)?),
            });
        }
    }
    for row in client
        .query(
            "SELECT username, issued_up_to, expires FROM session_cutoffs WHERE expires > $1",
            &[&now],
        )
        .await?
    {
        out.push(Revocation::AllSessionsOf {
            username: row.try_get(0)?,
            issued_up_to: micros(row.try_get(1)?),
            expires: micros(row.try_get(2)?),
        });
    }
    Ok(out)
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
        let feed = Listening::default();
        let before = (stamps.get("job:1"), stamps.get("job:3"));
        apply(&stamps, &feed, own, &payload(own, &keys).unwrap());
        assert_eq!(
            stamps.get("job:1"),
            before.0,
            "its own commit: bumped already"
        );
        apply(&stamps, &feed, own, &sent);
        assert_ne!(stamps.get("job:1"), before.0);
        assert_eq!(stamps.get("job:3"), before.1);
        apply(&stamps, &feed, own, &everything(other));
        assert_ne!(stamps.get("job:3"), before.1);
        assert!(feed.take_revocations().is_empty());
    }

    #[test]
    fn sign_outs_travel_whole_and_only_to_others() {
        let (own, other) = (Origin(1), Origin(2));
        let at = |micros| chrono::DateTime::from_timestamp_micros(micros).unwrap();
        let revocations = [
            Revocation::Session {
                id: u128::MAX - 7,
                expires: at(1_700_000_000_123_456),
            },
            Revocation::AllSessionsOf {
                username: "dana with spaces".to_owned(),
                issued_up_to: at(1_700_000_000_000_001),
                expires: at(1_700_000_900_000_000),
            },
        ];
        let (stamps, feed) = (SubjectStamps::new(), Listening::default());
        let job = stamps.get("job:1");
        for revocation in &revocations {
            apply(&stamps, &feed, own, &revoked(own, revocation));
            apply(&stamps, &feed, own, &revoked(other, revocation));
        }
        assert_eq!(feed.take_revocations(), revocations);
        assert!(feed.take_revocations().is_empty(), "taken once");
        assert_eq!(stamps.get("job:1"), job, "a sign-out retires no page");
    }
}
