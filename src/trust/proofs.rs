//! Proofs from a store: inclusion of a delivery in the Merkle tree of a given size, and
//! consistency between two sizes, made from the subtrees the writer keeps (see
//! [`crate::store::project::tree`]) and, below their height, from the deliveries' hashes.
//! Each costs O(log n) reads and at most two blocks of deliveries.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::heads::SignedHead;
use super::merkle::{self, Hash, Subtrees, leaf_hash, node_hash};
use crate::store::chain::delivery_hash;
use crate::store::project::tree::KEPT_FROM_HEIGHT;
use crate::store::{ReadSide, StoreError, StoredDelivery};

#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("delivery {seq} is not in a tree of {tree_size} deliveries")]
    NotInTree { seq: u64, tree_size: u64 },
    #[error("the log holds {logged} deliveries, fewer than {asked}")]
    BeyondLog { asked: u64, logged: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Everything that goes into a delivery's hash, so that anyone can recompute it: the body's
/// hash, not the body, which retention may have dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryEvidence {
    pub seq: u64,
    pub source: String,
    /// When it was received, in microseconds since the Unix epoch (as hashed).
    pub received_at_micros: i64,
    /// The headers kept, `[name, value]`, in their order.
    #[schema(value_type = Vec<(String, String)>)]
    pub headers: Vec<(String, String)>,
    /// SHA-256 of the body as received, hex.
    #[serde(with = "hex::serde")]
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub body_sha256: [u8; 32],
    /// The delivery hash those make, hex.
    #[serde(with = "hex::serde")]
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub hash: [u8; 32],
}

impl DeliveryEvidence {
    pub fn of(delivery: &StoredDelivery) -> DeliveryEvidence {
        DeliveryEvidence {
            seq: delivery.seq,
            source: delivery.source.clone(),
            received_at_micros: delivery.received_at.timestamp_micros(),
            headers: delivery.headers.clone(),
            body_sha256: delivery.body_sha256,
            hash: delivery.hash(),
        }
    }

    /// Whether the hash is the one the other fields make.
    pub fn is_consistent(&self) -> bool {
        self.hash
            == delivery_hash(
                &self.source,
                self.received_at_micros,
                &self.headers,
                &self.body_sha256,
            )
    }
}

/// That a delivery is leaf `leaf_index` of the tree of `tree_size` deliveries whose root is
/// `root` (RFC 9162 §2.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    #[serde(with = "hex::serde")]
    pub leaf_hash: Hash,
    #[serde(with = "hex_list")]
    pub audit_path: Vec<Hash>,
    #[serde(with = "hex::serde")]
    pub root: Hash,
    pub delivery: DeliveryEvidence,
}

impl InclusionProof {
    /// Whether the proof holds by itself: the delivery's fields make its hash, the hash its
    /// leaf, and the path leads from the leaf to the root. (Whom the root is signed by is the
    /// head's business: [`SignedHead::verifies`].)
    pub fn holds(&self) -> bool {
        self.delivery.is_consistent()
            && self.delivery.seq.checked_sub(1) == Some(self.leaf_index)
            && self.leaf_hash == leaf_hash(&self.delivery.hash)
            && merkle::verify_inclusion(
                &self.leaf_hash,
                self.leaf_index,
                self.tree_size,
                &self.audit_path,
                &self.root,
            )
    }

    /// Whether the proof holds under `head`: same tree, same root.
    pub fn holds_under(&self, head: &SignedHead) -> bool {
        self.tree_size == head.tree_size && self.root == head.root && self.holds()
    }
}

/// The perfect subtrees of a store's tree: kept ones read, lower ones computed from their
/// block of deliveries (read once per proof).
pub struct StoredTree<'s> {
    store: &'s dyn ReadSide,
    blocks: HashMap<u64, Vec<Hash>>,
}

impl<'s> StoredTree<'s> {
    pub fn new(store: &'s dyn ReadSide) -> Self {
        StoredTree {
            store,
            blocks: HashMap::new(),
        }
    }

    /// The leaves of block `block` (deliveries `block · 2^KEPT_FROM_HEIGHT + 1` on), as far
    /// as they go without a gap.
    fn block(&mut self, block: u64) -> Result<&[Hash], StoreError> {
        if !self.blocks.contains_key(&block) {
            let width = 1usize << KEPT_FROM_HEIGHT;
            let first = (block << KEPT_FROM_HEIGHT) + 1;
            let leaves = self
                .store
                .delivery_records(first, width)?
                .iter()
                .zip(first..)
                .take_while(|(delivery, seq)| delivery.seq == *seq)
                .map(|(delivery, _)| leaf_hash(&delivery.hash()))
                .collect();
            self.blocks.insert(block, leaves);
        }
        Ok(self
            .blocks
            .get(&block)
            .map(Vec::as_slice)
            .unwrap_or_default())
    }

    /// The root and size of the tree of the first `tree_size` deliveries.
    pub fn root(&mut self, tree_size: u64) -> Result<Hash, ProofError> {
        self.within_log(tree_size)?;
        Ok(merkle::root(self, tree_size)?)
    }

    /// The inclusion of delivery `seq` in the tree of the first `tree_size` deliveries.
    pub fn inclusion(&mut self, seq: u64, tree_size: u64) -> Result<InclusionProof, ProofError> {
        if seq == 0 || seq > tree_size {
            return Err(ProofError::NotInTree { seq, tree_size });
        }
        self.within_log(tree_size)?;
        let delivery = self
            .store
            .delivery_records(seq, 1)?
            .into_iter()
            .find(|delivery| delivery.seq == seq)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery {seq} is missing")))?;
        let delivery = DeliveryEvidence::of(&delivery);
        let leaf_index = seq - 1;
        Ok(InclusionProof {
            leaf_index,
            tree_size,
            leaf_hash: leaf_hash(&delivery.hash),
            audit_path: merkle::inclusion_proof(self, leaf_index, tree_size)?,
            root: merkle::root(self, tree_size)?,
            delivery,
        })
    }

    /// That the tree of `old` deliveries is a prefix of the tree of `new` (RFC 9162 §2.1.4).
    pub fn consistency(&mut self, old: u64, new: u64) -> Result<Vec<Hash>, ProofError> {
        self.within_log(new)?;
        Ok(merkle::consistency_proof(self, old, new)?)
    }

    fn within_log(&self, tree_size: u64) -> Result<(), ProofError> {
        let logged = self.store.chain_head()?.tree.size();
        if tree_size > logged {
            return Err(ProofError::BeyondLog {
                asked: tree_size,
                logged,
            });
        }
        Ok(())
    }
}

impl Subtrees for StoredTree<'_> {
    type Error = StoreError;

    fn perfect(&mut self, height: u32, index: u64) -> Result<Hash, StoreError> {
        if height >= KEPT_FROM_HEIGHT {
            return self.store.subtree(height, index)?.ok_or_else(|| {
                StoreError::Corrupt(format!("the Merkle subtree {height}/{index} is missing"))
            });
        }
        let first = index << height;
        let block = first >> KEPT_FROM_HEIGHT;
        let offset = (first - (block << KEPT_FROM_HEIGHT)) as usize;
        let width = 1usize << height;
        let leaves = self.block(block)?;
        let Some(leaves) = leaves.get(offset..offset + width) else {
            return Err(StoreError::Corrupt(format!(
                "deliveries {}..{} are missing",
                first + 1,
                first + width as u64
            )));
        };
        Ok(fold_perfect(leaves))
    }
}

/// The root of a power-of-two run of leaves.
fn fold_perfect(leaves: &[Hash]) -> Hash {
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|pair| node_hash(&pair[0], &pair[1]))
            .collect();
    }
    level.first().copied().unwrap_or_else(merkle::empty_root)
}

/// A list of hashes as hex strings.
pub mod hex_list {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::trust::merkle::Hash;

    pub fn serialize<S: Serializer>(hashes: &[Hash], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(hashes.iter().map(hex::encode))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Hash>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|text| {
                crate::trust::heads::lower_hex::<32>(text, "a hash")
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

/// What `hooktrail prove` writes: a timeline's entries, each with the inclusion proof of its
/// delivery under one signed head.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bundle {
    /// Always [`Bundle::FORMAT`].
    pub format: String,
    /// The subject's key (`job:1042`).
    pub subject: String,
    pub digest: SignedHead,
    pub entries: Vec<ProvenEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProvenEntry {
    pub entry: crate::activity::Entry,
    pub proof: InclusionProof,
}

impl Bundle {
    pub const FORMAT: &'static str = "hooktrail-proofs-v1";

    /// Every way the bundle fails to prove itself under one of `keys`, entry by entry (empty
    /// when it holds).
    pub fn failures(&self, keys: &[super::keys::PublicKey]) -> Vec<String> {
        let mut failures = Vec::new();
        if !self.digest.verifies_with_one_of(keys) {
            failures.push(format!(
                "head {} is not signed by key {}",
                self.digest.number,
                super::audit::key_ids(keys)
            ));
        }
        failures.extend(self.proof_failures());
        failures
    }

    /// Every way the bundle's proofs fail under its head, whoever signed it.
    pub fn proof_failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        if self.format != Bundle::FORMAT {
            failures.push(format!(
                "the format is {:?}, not {}",
                self.format,
                Bundle::FORMAT
            ));
        }
        for proven in &self.entries {
            let id = proven.entry.id;
            if proven.proof.delivery.seq != proven.entry.source.delivery_seq {
                failures.push(format!("entry {id}: the proof is of another delivery"));
            } else if !proven.proof.holds_under(&self.digest) {
                failures.push(format!(
                    "entry {id}: delivery {} is not proven in the tree of head {}",
                    proven.proof.delivery.seq, self.digest.number
                ));
            }
        }
        failures
    }
}
