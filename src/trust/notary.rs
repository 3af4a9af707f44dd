//! Signing tree heads: every `[trust] digest_interval_secs`, and at shutdown when deliveries
//! came after the last head. Gateways sharing a store share its heads: whoever finds the
//! latest head older than the interval signs the next, and the store takes only one head per
//! number (see [`crate::store::WriteSide::add_tree_head`]).
//!
//! Before signing, the notary checks the log against the latest head: the tree of that head's
//! size must still have its root. A log restored from an older copy, or altered, is refused a
//! new head — and the error says which head it contradicts.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::heads::{SignedHead, UnsignedHead};
use super::keys::TreeKey;
use super::proofs::{ProofError, StoredTree};
use crate::config::TrustConfig;
use crate::store::{ReadSide, StoreError, WriteSide};

/// When a round signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// When the latest head is `interval` old or more (or there is none).
    Every(Duration),
    /// When deliveries came after the latest head (the last round, at shutdown).
    IfGrown,
}

/// What a round did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Round {
    Signed(Box<SignedHead>),
    /// Nothing was due (or the log is empty).
    NotDue,
    /// Another gateway stored that number first.
    Raced,
}

#[derive(Debug, thiserror::Error)]
pub enum NotaryError {
    #[error(
        "the log no longer matches signed head {number} (tree size {tree_size}): {reason}; \
         no new head is signed"
    )]
    Contradicted {
        number: u64,
        tree_size: u64,
        reason: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The signing side: the key and the store.
pub struct Notary {
    key: TreeKey,
}

impl Notary {
    pub fn new(key: TreeKey) -> Notary {
        Notary { key }
    }

    /// Signs and stores the next head over the log as it stands, if one is `due`.
    pub fn round(
        &self,
        read: &dyn ReadSide,
        write: &dyn WriteSide,
        due: Due,
        now: DateTime<Utc>,
    ) -> Result<Round, NotaryError> {
        let latest = read.tree_heads(None, 1)?.into_iter().next();
        let tree = read.chain_head()?.tree;
        let is_due = match (&latest, due) {
            (None, _) => tree.size() > 0,
            (Some(latest), Due::IfGrown) => tree.size() > latest.tree_size,
            (Some(latest), Due::Every(interval)) => {
                let age = now.signed_duration_since(latest.signed_at);
                age.to_std().is_ok_and(|age| age >= interval)
            }
        };
        if !is_due {
            return Ok(Round::NotDue);
        }
        if let Some(latest) = &latest {
            check_against(read, latest)?;
        }
        let head = SignedHead::sign(
            &self.key,
            latest.as_ref(),
            UnsignedHead {
                tree_size: tree.size(),
                root: tree.root(),
                signed_at: now,
            },
        );
        if write.add_tree_head(&head)? {
            Ok(Round::Signed(Box::new(head)))
        } else {
            Ok(Round::Raced)
        }
    }
}

/// That the log still holds the tree `head` signed.
fn check_against(read: &dyn ReadSide, head: &SignedHead) -> Result<(), NotaryError> {
    let contradicted = |reason: String| NotaryError::Contradicted {
        number: head.number,
        tree_size: head.tree_size,
        reason,
    };
    match StoredTree::new(read).root(head.tree_size) {
        Ok(root) if root == head.root => Ok(()),
        Ok(_) => Err(contradicted(
            "the tree of that size has another root".into(),
        )),
        Err(ProofError::BeyondLog { logged, .. }) => Err(contradicted(format!(
            "the log holds only {logged} deliveries (restored from an older copy?)"
        ))),
        Err(ProofError::Store(StoreError::Corrupt(reason))) => Err(contradicted(reason)),
        Err(ProofError::Store(err)) => Err(err.into()),
        Err(other) => Err(contradicted(other.to_string())),
    }
}

/// Whether this gateway's last round could do what was due, for the console: a failure stays
/// until a round succeeds.
#[derive(Debug, Default)]
pub struct SigningStatus(Mutex<Option<Failure>>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub at: DateTime<Utc>,
    pub error: String,
}

impl SigningStatus {
    pub fn succeeded(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    pub fn failed(&self, at: DateTime<Utc>, error: String) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Failure { at, error });
    }

    pub fn last_failure(&self) -> Option<Failure> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Where heads are copied to, outside the store.
pub struct Copies {
    dir: Option<PathBuf>,
    url: Option<String>,
    client: reqwest::Client,
    /// Heads not yet accepted by the URL, oldest first, retried each round (bounded: the
    /// store has them all, and the folder copy is written again when missing).
    unsent: Vec<SignedHead>,
}

/// Heads kept for a URL that is down.
const UNSENT_KEPT: usize = 100;

impl Copies {
    pub fn from_config(trust: &TrustConfig) -> Copies {
        Copies {
            dir: trust.digests_dir.clone(),
            url: trust.digests_url.clone(),
            client: crate::alerts::notify::client(),
            unsent: Vec::new(),
        }
    }

    /// Writes `head` into the folder (if configured) and queues it for the URL.
    pub fn keep(&mut self, head: &SignedHead) {
        if let Some(dir) = &self.dir
            && let Err(err) = write_file(dir, head)
        {
            tracing::warn!(folder = %dir.display(), number = head.number, error = %err, "cannot write a tree head's copy");
        }
        if self.url.is_some() {
            self.unsent.push(head.clone());
            let excess = self.unsent.len().saturating_sub(UNSENT_KEPT);
            self.unsent.drain(..excess);
        }
    }

    /// Posts every queued head to the URL, in order, stopping at the first refusal (it is
    /// tried again next round).
    pub async fn send(&mut self) {
        let Some(url) = &self.url else { return };
        while let Some(head) = self.unsent.first() {
            let sent = self.client.post(url).json(head).send().await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    self.unsent.remove(0);
                }
                Ok(response) => {
                    tracing::warn!(
                        number = head.number,
                        status = response.status().as_u16(),
                        "the tree-head URL refused a head; retrying next round"
                    );
                    return;
                }
                Err(err) => {
                    tracing::warn!(number = head.number, error = %err.without_url(), "cannot post a tree head; retrying next round");
                    return;
                }
            }
        }
    }
}

/// `{dir}/{number}.json`, written whole or not at all (a temporary file, synced, renamed).
pub fn write_file(dir: &Path, head: &SignedHead) -> std::io::Result<PathBuf> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{:010}.json", head.number));
    let partial = dir.join(format!(".{:010}.json.partial", head.number));
    let mut file = std::fs::File::create(&partial)?;
    serde_json::to_writer_pretty(&mut file, head)?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}
