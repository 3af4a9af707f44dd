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
    #[error(
        "the Merkle tree's kept subtrees do not make the root of the log's frontier ({0}); \
         no head is signed until `hooktrail reindex` grows the tree again"
    )]
    Unprovable(String),
    #[error(
        "{dir} holds a copy of head {number} that the store does not have (its latest is \
         {in_store}): the store was restored from an older copy, or another store signs into \
         the folder; no head is signed, since the next number would publish a second history \
         (see `hooktrail verify --digests`)"
    )]
    AheadOfStore {
        number: u64,
        in_store: u64,
        dir: PathBuf,
    },
    #[error(
        "{dir} holds a head {number} that differs from the store's head {number}: the store was \
         restored from another copy, or another store signs into the folder; no head is \
         signed, since the next one would follow a head that was not published (see \
         `hooktrail verify --digests`)"
    )]
    CopyDiffers { number: u64, dir: PathBuf },
    #[error("cannot read the folder of head copies: {0}")]
    Folder(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The signing side: the key, and the folder of published copies to stay behind.
pub struct Notary {
    key: TreeKey,
    published: Option<PathBuf>,
}

impl Notary {
    pub fn new(key: TreeKey) -> Notary {
        Notary {
            key,
            published: None,
        }
    }

    /// A notary that also refuses to sign while `dir`, where its copies go, holds heads the
    /// store does not (see [`check_folder`]).
    pub fn publishing_to(mut self, dir: Option<PathBuf>) -> Notary {
        self.published = dir;
        self
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
        if let Some(dir) = &self.published {
            check_folder(dir, latest.as_ref())?;
        }
        // What is signed must be provable: the kept subtrees must make the frontier's root
        // (they would not if either were damaged, and every proof under this head would fail).
        let provable = StoredTree::new(read).root(tree.size());
        if !matches!(&provable, Ok(root) if *root == tree.root()) {
            let why = match provable {
                Ok(_) => "they make another root".to_owned(),
                Err(err) => err.to_string(),
            };
            return Err(NotaryError::Unprovable(why));
        }
        // Never earlier than the head before, whatever this gateway's clock says: heads are
        // in time order for anyone who checks.
        let signed_at = latest
            .as_ref()
            .map_or(now, |latest| now.max(latest.signed_at));
        let head = SignedHead::sign(
            &self.key,
            latest.as_ref(),
            UnsignedHead {
                tree_size: tree.size(),
                root: tree.root(),
                signed_at,
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
    /// Heads not yet accepted by the URL, oldest first, retried each round while the gateway
    /// runs (bounded: the store has them all, `GET /api/v1/digests` lists them).
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

/// The name of head `number`'s copy in a folder.
fn file_name(number: u64) -> String {
    format!("{number:010}.json")
}

/// `{dir}/{number:010}.json`, written whole or not at all (a temporary file, synced, then
/// linked under its name, which fails if the name is taken), and never over another head: a
/// copy is evidence, and one of the same number already there is kept as it is. The same head
/// again is not an error.
pub fn write_file(dir: &Path, head: &SignedHead) -> std::io::Result<PathBuf> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let path = dir.join(file_name(head.number));
    let partial = dir.join(format!(".{}.partial", file_name(head.number)));
    let mut text = serde_json::to_vec_pretty(head)?;
    text.push(b'\n');
    let mut file = std::fs::File::create(&partial)?;
    file.write_all(&text)?;
    file.sync_all()?;
    let linked = std::fs::hard_link(&partial, &path);
    std::fs::remove_file(&partial)?;
    match linked {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            if std::fs::read(&path)? != text {
                return Err(std::io::Error::other(format!(
                    "{} holds another head {}; it is kept as it is",
                    path.display(),
                    head.number
                )));
            }
        }
        Err(err) => return Err(err),
    }
    // The name itself is durable once the folder is synced.
    std::fs::File::open(dir)?.sync_all()?;
    Ok(path)
}

/// That the folder of copies holds no head the store does not, and the store's latest as it
/// was published. After a restore from an older copy the store's latest head is older than
/// what was published: signing the next number again would publish a second history under
/// numbers already given out.
fn check_folder(dir: &Path, latest: Option<&SignedHead>) -> Result<(), NotaryError> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(NotaryError::Folder(format!("{}: {err}", dir.display()))),
    };
    let newest = listing
        .filter_map(Result::ok)
        .filter_map(|item| {
            let name = item.file_name().into_string().ok()?;
            let digits = name.strip_suffix(".json")?;
            (digits.len() == 10).then(|| digits.parse::<u64>().ok())?
        })
        .max();
    let in_store = latest.map_or(0, |latest| latest.number);
    if let Some(newest) = newest.filter(|newest| *newest > in_store) {
        return Err(NotaryError::AheadOfStore {
            number: newest,
            in_store,
            dir: dir.to_owned(),
        });
    }
    if let Some(latest) = latest
        && let Ok(text) = std::fs::read(dir.join(file_name(latest.number)))
        && serde_json::from_slice::<SignedHead>(&text).ok().as_ref() != Some(latest)
    {
        return Err(NotaryError::CopyDiffers {
            number: latest.number,
            dir: dir.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::Duration as Span;

    use super::*;
    use crate::store::contract::support::single;
    use crate::store::redb::RedbStore;

    fn store_of(dir: &tempfile::TempDir, deliveries: usize) -> RedbStore {
        let store = RedbStore::open(&dir.path().join("notary.redb")).unwrap();
        let batch: Vec<_> = (0..deliveries)
            .map(|n| single(&format!("n{n}"), "job:1", n as i64))
            .collect();
        store.append(&batch).unwrap();
        store
    }

    /// A head signed by `key` after `previous` over a made-up tree: one the store never had.
    fn forged(
        key: &TreeKey,
        previous: Option<&SignedHead>,
        tree_size: u64,
        fill: u8,
    ) -> SignedHead {
        SignedHead::sign(
            key,
            previous,
            UnsignedHead {
                tree_size,
                root: [fill; 32],
                signed_at: Utc::now(),
            },
        )
    }

    /// A notary signing every round, whose copies go to `heads/` beside the store.
    fn publishing(dir: &tempfile::TempDir, key: &TreeKey) -> (Notary, PathBuf) {
        let copies = dir.path().join("heads");
        let notary = Notary::new(key.clone()).publishing_to(Some(copies.clone()));
        (notary, copies)
    }

    const EVERY_ROUND: Due = Due::Every(std::time::Duration::ZERO);

    fn signed(round: Result<Round, NotaryError>) -> SignedHead {
        match round {
            Ok(Round::Signed(head)) => *head,
            other => panic!("not signed: {other:?}"),
        }
    }

    #[test]
    fn a_copy_is_never_written_over_another_head() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_of(&dir, 3);
        let key = TreeKey::generate().unwrap();
        let head = signed(Notary::new(key.clone()).round(&store, &store, Due::IfGrown, Utc::now()));
        let copies = dir.path().join("heads");
        let path = write_file(&copies, &head).unwrap();
        assert!(path.ends_with("0000000001.json"));
        write_file(&copies, &head).expect("the same head again");
        let other = forged(&key, None, 2, 1);
        let refused = write_file(&copies, &other).unwrap_err();
        assert!(
            refused.to_string().contains("holds another head 1"),
            "{refused}"
        );
        let kept: SignedHead = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(kept, head);
        let names: Vec<_> = std::fs::read_dir(&copies)
            .unwrap()
            .map(|item| item.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no partial file is left: {names:?}");
    }

    #[test]
    fn a_folder_ahead_of_the_store_stops_signing() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_of(&dir, 3);
        let key = TreeKey::generate().unwrap();
        let (notary, copies) = publishing(&dir, &key);
        let first = signed(notary.round(&store, &store, EVERY_ROUND, Utc::now()));
        write_file(&copies, &first).unwrap();
        // Published heads 2 and 3 the store no longer has (restored from an older copy).
        let second = forged(&key, Some(&first), 9, 2);
        let third = forged(&key, Some(&second), 12, 3);
        write_file(&copies, &second).unwrap();
        write_file(&copies, &third).unwrap();
        let refused = notary
            .round(&store, &store, EVERY_ROUND, Utc::now())
            .unwrap_err();
        assert!(
            matches!(
                refused,
                NotaryError::AheadOfStore {
                    number: 3,
                    in_store: 1,
                    ..
                }
            ),
            "{refused}"
        );
        assert_eq!(store.tree_heads(None, 10).unwrap(), vec![first]);
    }

    #[test]
    fn a_folder_copy_that_differs_from_the_stores_head_stops_signing() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_of(&dir, 3);
        let key = TreeKey::generate().unwrap();
        let (notary, copies) = publishing(&dir, &key);
        signed(notary.round(&store, &store, EVERY_ROUND, Utc::now()));
        // Head 1 as another store signed it.
        let other = forged(&key, None, 3, 7);
        write_file(&copies, &other).unwrap();
        let refused = notary
            .round(&store, &store, EVERY_ROUND, Utc::now())
            .unwrap_err();
        assert!(
            matches!(refused, NotaryError::CopyDiffers { number: 1, .. }),
            "{refused}"
        );
        assert!(
            refused
                .to_string()
                .contains("differs from the store's head 1")
        );
        assert_eq!(store.tree_heads(None, 10).unwrap().len(), 1);
    }

    #[test]
    fn a_head_is_never_signed_earlier_than_the_one_before() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_of(&dir, 3);
        let notary = Notary::new(TreeKey::generate().unwrap());
        let now = Utc::now();
        let first = signed(notary.round(&store, &store, Due::IfGrown, now));
        store.append(&[single("later", "job:1", 9)]).unwrap();
        // Another gateway's clock, a second behind.
        let second = signed(notary.round(&store, &store, Due::IfGrown, now - Span::seconds(1)));
        assert_eq!(second.signed_at, first.signed_at);
        assert!(second.follows(&first));
    }
}
