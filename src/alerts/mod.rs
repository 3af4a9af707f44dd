//! Alerts: rules (`[[alerts]]`) checked every `[alerting] check_interval_secs`, and a
//! notification to the rule's webhook when one fires and when it resolves — never one per
//! event, and across several gateways one per change.
//!
//! How "once" holds: a rule's state is a record in an [`book::AlertBook`] that changes only
//! by compare-and-swap. Rules about deliveries read the store's tally, which every gateway on
//! the store shares, and keep their records in the store: whichever gateway swaps a change in
//! first owns it, and the notification is claimed the same way before it is sent, so a second
//! gateway neither records the change again nor sends it. The claim expires, so a gateway that
//! dies while sending leaves the notification to the next. Failed sends are retried with
//! backoff; a retry carries the same `webhook-id`. `not_ready` is about this gateway's own
//! storage, which may be the very thing down, so its record is kept in memory and its
//! notification names the gateway.

pub mod book;
pub mod notify;
pub mod rules;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::{AlertRule, AlertWhen, Config};
use crate::store::health::StorageHealth;
use crate::store::tally::TallyCounter;
use crate::store::{AlertRecord, Storage, StoreError, StoredAlert};
use book::{AlertBook, LocalBook, SharedBook};
use notify::{Event, Notification};
use rules::{Observations, Verdict};

/// How long a gateway's claim on a notification holds: longer than a send may take.
const CLAIM: TimeDelta = TimeDelta::seconds(60);
/// The longest wait between retries.
const MAX_BACKOFF: TimeDelta = TimeDelta::minutes(30);

/// The gateway's alerting: its rules, where their records live, and the sender.
pub struct Alerting {
    config: Arc<Config>,
    shared: SharedBook,
    local: LocalBook,
    client: reqwest::Client,
    /// Names this gateway in notifications (`host:port`).
    gateway: String,
    /// Since when this gateway's storage has refused writes, and why.
    not_ready_since: Mutex<Option<(DateTime<Utc>, String)>>,
    /// The last "send a test" of each rule, for the console.
    tests: Mutex<HashMap<String, TestOutcome>>,
}

/// What became of a test notification.
#[derive(Debug, Clone)]
pub struct TestOutcome {
    pub at: DateTime<Utc>,
    /// The receiver's status, or why nothing was delivered.
    pub result: Result<u16, String>,
}

/// A rule and its record, as the console shows them.
#[derive(Debug, Clone)]
pub struct AlertStatus {
    pub rule: AlertRule,
    /// `None` before the rule was first found firing (or its record could not be read: see
    /// `error`).
    pub record: Option<AlertRecord>,
    pub error: Option<String>,
    pub last_test: Option<TestOutcome>,
}

impl AlertStatus {
    /// `firing`, `resolved`, or `quiet` (never found firing).
    pub fn state(&self) -> &'static str {
        match &self.record {
            Some(record) if record.firing => "firing",
            Some(_) => "resolved",
            None => "quiet",
        }
    }
}

impl Alerting {
    /// `listening` is the gateway's address, whose port names it in notifications.
    pub fn new(config: Arc<Config>, storage: &Storage, listening: SocketAddr) -> Alerting {
        Alerting {
            gateway: gateway_name(listening),
            config,
            shared: SharedBook {
                read: storage.read.clone(),
                write: storage.write.clone(),
            },
            local: LocalBook::default(),
            client: notify::client(),
            not_ready_since: Mutex::new(None),
            tests: Mutex::new(HashMap::new()),
        }
    }

    pub fn rules(&self) -> &[AlertRule] {
        &self.config.alerts
    }

    fn book(&self, rule: &AlertRule) -> &dyn AlertBook {
        match rule.when {
            AlertWhen::NotReady => &self.local,
            _ => &self.shared,
        }
    }

    /// One round: observe, record the changes, send what is due.
    ///
    /// The store is used only in blocking steps that run to the end; `stopping` cuts short
    /// the sends alone, and a claim left unsent lapses for the next round to take.
    pub async fn check(
        self: &Arc<Self>,
        counter: Arc<TallyCounter>,
        health: Arc<StorageHealth>,
        mut stopping: tokio::sync::watch::Receiver<bool>,
    ) {
        if self.rules().is_empty() {
            return;
        }
        let this = self.clone();
        let due = tokio::task::spawn_blocking(move || {
            let now = Utc::now();
            this.advance(&counter, &health, now)
        })
        .await
        .unwrap_or_else(|err| {
            tracing::warn!(error = %err, "alerts: the check failed");
            Vec::new()
        });
        for (rule, record) in due {
            let id = notification_id(&rule, &record);
            let state = if record.firing {
                Event::Firing
            } else {
                Event::Resolved
            };
            let note =
                Notification::new(&rule, state, record.since, &record.summary, &self.gateway);
            let sent = tokio::select! {
                sent = notify::send(&self.client, &rule, &id, &note, Utc::now()) => sent,
                _ = stopping.changed() => return,
            };
            match &sent {
                Ok(status) => {
                    tracing::info!(alert = %rule.name, ?state, status, "alert notification sent")
                }
                Err(err) => {
                    tracing::warn!(alert = %rule.name, ?state, error = %err, "alert notification failed; will retry")
                }
            }
            let this = self.clone();
            let outcome = sent.map_err(|err| err.to_string());
            let settled = tokio::task::spawn_blocking(move || {
                this.settle(&rule, record.change, outcome, Utc::now())
            })
            .await;
            if let Ok(Err(err)) = settled {
                tracing::warn!(error = %err, "cannot record an alert notification's outcome");
            }
        }
    }

    /// Judges every rule, swaps in the records whose state changed, and claims the
    /// notifications that are due; returns those this gateway claimed.
    fn advance(
        &self,
        counter: &TallyCounter,
        health: &StorageHealth,
        now: DateTime<Utc>,
    ) -> Vec<(AlertRule, AlertRecord)> {
        let tally = self
            .rules()
            .iter()
            .any(|rule| rule.when != AlertWhen::NotReady)
            .then(|| {
                // Judged from the store alone, after adding this gateway's counts to it:
                // every gateway then judges the same data, so one cannot undo another's
                // change because it has not yet heard of a delivery the other took.
                counter.flush_to(self.shared.write.as_ref())?;
                self.shared.read.tally(now - self.longest_window())
            })
            .and_then(|read| {
                read.inspect_err(
                    |err| tracing::warn!(error = %err, "alerts: cannot read the tally"),
                )
                .ok()
            });
        let not_ready = self.observe_readiness(health, now);
        let seen = Observations {
            now,
            tally: tally.as_ref(),
            not_ready: not_ready.as_ref(),
        };
        // Each book is read once a round; a rule's later steps know the revision they wrote.
        let (shared, local) = (self.shared.records(), self.local.records());
        let mut due = Vec::new();
        for rule in self.rules() {
            let records = match rule.when {
                AlertWhen::NotReady => &local,
                _ => &shared,
            };
            let stepped = match records {
                Ok(records) => {
                    let current = records.iter().find(|alert| alert.name == rule.name);
                    self.step(rule, current.cloned(), &seen, now)
                }
                Err(err) => Err(StoreError::Unavailable(err.to_string())),
            };
            match stepped {
                Ok(Some(claimed)) => due.push((rule.clone(), claimed)),
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(alert = %rule.name, error = %err, "alerts: cannot record or claim")
                }
            }
        }
        due
    }

    /// One rule's round: swaps in a change of state if its verdict is one, then claims the
    /// notification if one is due. A swap another gateway won leaves the rule to the next
    /// round, with the record it wrote.
    fn step(
        &self,
        rule: &AlertRule,
        mut current: Option<StoredAlert>,
        seen: &Observations<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<AlertRecord>, StoreError> {
        let book = self.book(rule);
        if let Some(verdict) = rules::judge(rule, seen)
            && let Some(next) = changed(current.as_ref().map(|c| &c.record), &verdict, now)
        {
            let expected = current.as_ref().map(|c| c.revision);
            if !book.swap(&rule.name, expected, &next)? {
                return Ok(None);
            }
            tracing::warn!(
                alert = %rule.name, firing = verdict.firing, summary = %verdict.summary,
                "alert state changed"
            );
            // A won swap stores revision `expected + 1` (see `AlertBook::swap`).
            current = Some(StoredAlert {
                name: rule.name.clone(),
                revision: expected.unwrap_or(0) + 1,
                record: next,
            });
        }
        let Some(current) = current else {
            return Ok(None);
        };
        let Some(claim) = claimed(&current.record, now) else {
            return Ok(None);
        };
        Ok(book
            .swap(&rule.name, Some(current.revision), &claim)?
            .then_some(claim))
    }

    /// Whether storage takes writes now (the `/readyz` check), remembering since when it has
    /// not; only asked when a `not_ready` rule needs it.
    fn observe_readiness(
        &self,
        health: &StorageHealth,
        now: DateTime<Utc>,
    ) -> Option<(DateTime<Utc>, String)> {
        if !self
            .rules()
            .iter()
            .any(|rule| rule.when == AlertWhen::NotReady)
        {
            return None;
        }
        let trouble = crate::store::health::readiness(self.shared.write.as_ref(), health).err();
        let mut since = self
            .not_ready_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *since = match (since.take(), trouble) {
            (_, None) => None,
            (Some((began, _)), Some(reason)) => Some((began, reason)),
            (None, Some(reason)) => Some((now, reason)),
        };
        since.clone()
    }

    fn longest_window(&self) -> TimeDelta {
        let secs = self
            .rules()
            .iter()
            .filter(|rule| rule.when.counts_deliveries())
            .map(|rule| rule.window_secs.get())
            .max()
            .unwrap_or(0);
        TimeDelta::seconds(i64::try_from(secs).unwrap_or(i64::MAX))
    }

    /// Records what became of the notification of change `change`, re-reading on a lost swap
    /// (a new change may have landed meanwhile).
    fn settle(
        &self,
        rule: &AlertRule,
        change: u64,
        outcome: Result<u16, String>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let book = self.book(rule);
        for _ in 0..5 {
            let Some(current) = book.record(&rule.name)? else {
                return Ok(());
            };
            let next = match &outcome {
                Ok(_) => delivered(&current.record, change),
                Err(error) => failed(&current.record, change, now, error),
            };
            if book.swap(&rule.name, Some(current.revision), &next)? {
                return Ok(());
            }
        }
        Err(StoreError::Unavailable(
            "the alert record kept changing".to_owned(),
        ))
    }

    /// Sends a test notification of `name` now, once, and remembers the outcome for the
    /// console. `None` if no rule has that name.
    pub async fn send_test(&self, name: &str) -> Option<TestOutcome> {
        let rule = self.rules().iter().find(|rule| rule.name == name)?;
        let now = Utc::now();
        let summary = "if you can read this, the alert reaches you and its signature verifies with the configured secret";
        let note = Notification::new(rule, Event::Test, now, summary, &self.gateway);
        let id = format!("alert_{}_test_{}", rule.name, ulid::Ulid::generate());
        let result = notify::send(&self.client, rule, &id, &note, now)
            .await
            .map_err(|err| err.to_string());
        let outcome = TestOutcome { at: now, result };
        self.tests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(rule.name.clone(), outcome.clone());
        Some(outcome)
    }

    /// Every rule with its record (blocking: reads the store).
    pub fn statuses(&self) -> Vec<AlertStatus> {
        let shared = self.shared.records();
        let local = self.local.records();
        let tests = self.tests.lock().unwrap_or_else(PoisonError::into_inner);
        self.rules()
            .iter()
            .map(|rule| {
                let records = match rule.when {
                    AlertWhen::NotReady => &local,
                    _ => &shared,
                };
                let (record, error) = match records {
                    Ok(records) => (
                        records
                            .iter()
                            .find(|alert| alert.name == rule.name)
                            .map(|alert: &StoredAlert| alert.record.clone()),
                        None,
                    ),
                    Err(err) => (None, Some(err.to_string())),
                };
                AlertStatus {
                    rule: rule.clone(),
                    record,
                    error,
                    last_test: tests.get(&rule.name).cloned(),
                }
            })
            .collect()
    }
}

/// The record after `verdict`, if it changes the state (a rule never found firing has no
/// record: there is nothing to resolve).
fn changed(
    current: Option<&AlertRecord>,
    verdict: &Verdict,
    now: DateTime<Utc>,
) -> Option<AlertRecord> {
    let (firing, change, notified) = current.map_or((false, 0, 0), |record| {
        (record.firing, record.change, record.notified)
    });
    (firing != verdict.firing).then(|| AlertRecord {
        firing: verdict.firing,
        since: now,
        summary: verdict.summary.clone(),
        change: change + 1,
        notified,
        attempts: 0,
        next_attempt: None,
        last_error: None,
    })
}

/// The record with this gateway's claim on its notification, if one is due and unclaimed.
fn claimed(record: &AlertRecord, now: DateTime<Utc>) -> Option<AlertRecord> {
    let due = record.unnotified() && record.next_attempt.is_none_or(|at| at <= now);
    due.then(|| AlertRecord {
        next_attempt: Some(now + CLAIM),
        ..record.clone()
    })
}

/// The record once the notification of `change` was accepted.
fn delivered(record: &AlertRecord, change: u64) -> AlertRecord {
    let notified = record.notified.max(change);
    let current = notified == record.change;
    AlertRecord {
        notified,
        attempts: if current { 0 } else { record.attempts },
        next_attempt: if current { None } else { record.next_attempt },
        last_error: if current {
            None
        } else {
            record.last_error.clone()
        },
        ..record.clone()
    }
}

/// The record once the notification of `change` failed: retried after a backoff that doubles
/// from 10 s up to [`MAX_BACKOFF`] while it is still the current change.
fn failed(record: &AlertRecord, change: u64, now: DateTime<Utc>, error: &str) -> AlertRecord {
    if record.change != change {
        // A newer change supersedes it: send that one at once.
        return AlertRecord {
            next_attempt: None,
            ..record.clone()
        };
    }
    let attempts = record.attempts.saturating_add(1);
    let backoff = TimeDelta::seconds(10)
        .checked_mul(1 << attempts.saturating_sub(1).min(16))
        .map_or(MAX_BACKOFF, |wait| wait.min(MAX_BACKOFF));
    AlertRecord {
        attempts,
        next_attempt: Some(now + backoff),
        last_error: Some(error.to_owned()),
        ..record.clone()
    }
}

/// The `webhook-id` of a change's notification: the same on every retry, new for every change
/// (the time it began tells apart changes of a rule whose count restarted with its gateway).
fn notification_id(rule: &AlertRule, record: &AlertRecord) -> String {
    let state = if record.firing { "firing" } else { "resolved" };
    format!(
        "alert_{}_{}_{state}_{}",
        rule.name,
        record.change,
        record.since.timestamp_micros()
    )
}

/// `host:port`, naming this gateway in notifications.
fn gateway_name(listening: SocketAddr) -> String {
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    format!("{host}:{}", listening.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn verdict(firing: bool) -> Verdict {
        Verdict {
            firing,
            summary: "why".to_owned(),
        }
    }

    #[test]
    fn only_a_change_of_state_makes_a_record_and_each_change_counts() {
        assert_eq!(changed(None, &verdict(false), now()), None);
        let fired = changed(None, &verdict(true), now()).unwrap();
        assert_eq!((fired.firing, fired.change, fired.notified), (true, 1, 0));
        assert_eq!(changed(Some(&fired), &verdict(true), now()), None);
        let resolved = changed(Some(&fired), &verdict(false), now()).unwrap();
        assert_eq!((resolved.firing, resolved.change), (false, 2));
        assert!(resolved.unnotified());
    }

    #[test]
    fn a_claim_holds_until_it_expires_and_a_delivery_ends_it() {
        let fired = changed(None, &verdict(true), now()).unwrap();
        let claim = claimed(&fired, now()).unwrap();
        assert_eq!(claimed(&claim, now() + TimeDelta::seconds(59)), None);
        assert!(
            claimed(&claim, now() + CLAIM).is_some(),
            "a dead gateway's claim lapses"
        );
        let done = delivered(&claim, 1);
        assert!(!done.unnotified());
        assert_eq!(claimed(&done, now() + TimeDelta::days(1)), None);
    }

    #[test]
    fn failures_back_off_doubling_up_to_the_cap_and_a_newer_change_goes_at_once() {
        let mut record = claimed(&changed(None, &verdict(true), now()).unwrap(), now()).unwrap();
        let mut waits = Vec::new();
        for _ in 0..10 {
            record = failed(&record, 1, now(), "the receiver answered 500");
            waits.push((record.next_attempt.unwrap() - now()).num_seconds());
        }
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 1280, 1800, 1800]);
        assert_eq!(
            record.last_error.as_deref(),
            Some("the receiver answered 500")
        );
        // It resolved meanwhile: the failed "firing" is superseded by "resolved", sent now.
        let resolved = changed(Some(&record), &verdict(false), now()).unwrap();
        let superseded = failed(&resolved, 1, now(), "timeout");
        assert_eq!(superseded.next_attempt, None);
        assert_eq!(superseded.attempts, 0);
        // A late success of the old change leaves the new one to send.
        let late = delivered(&resolved, 1);
        assert_eq!((late.notified, late.change), (1, 2));
        assert!(late.unnotified());
    }
}
