//! The integrity chain over the delivery log: h(n) = sha256(h(n-1) ‖ seq ‖ delivery hash),
//! h(0) = 32 zero bytes. The delivery hash covers the source, receipt time, kept headers and
//! the body's sha256 — not the body itself, so retention and erasure can drop a body and the
//! chain still verifies.

use sha2::{Digest, Sha256};

use super::project::ChainHead;
use super::{ChainReport, StoredDelivery};
use crate::trust::merkle::{Frontier, leaf_hash};

pub const GENESIS: [u8; 32] = [0; 32];

pub fn body_hash(body: &[u8]) -> [u8; 32] {
    Sha256::digest(body).into()
}

/// A length-prefixed, unambiguous hash of everything about a delivery but its body bytes.
pub fn delivery_hash(
    source: &str,
    received_micros: i64,
    headers: &[(String, String)],
    body_sha256: &[u8; 32],
) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"hooktrail-delivery-v1");
    hash_field(&mut hasher, source.as_bytes());
    hasher.update(received_micros.to_be_bytes());
    hasher.update((headers.len() as u64).to_be_bytes());
    for (name, value) in headers {
        hash_field(&mut hasher, name.as_bytes());
        hash_field(&mut hasher, value.as_bytes());
    }
    hasher.update(body_sha256);
    hasher.finalize().into()
}

pub fn link(previous: &[u8; 32], seq: u64, delivery_hash: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(seq.to_be_bytes());
    hasher.update(delivery_hash);
    hasher.finalize().into()
}

/// Walks the log in seq order, checking each delivery against the chain — the same check for
/// every backend.
/// The walk also grows the Merkle tree over the same delivery hashes, so that one pass gives
/// both the chain's verdict and the tree's root.
pub struct ChainWalk {
    previous: [u8; 32],
    expected_seq: u64,
    tree: Frontier,
}

impl Default for ChainWalk {
    fn default() -> Self {
        ChainWalk {
            previous: GENESIS,
            expected_seq: 1,
            tree: Frontier::default(),
        }
    }
}

impl ChainWalk {
    /// Checks the next delivery of the log: `seq` as keyed, its record (or why it could not be
    /// read), and the hash of its body as kept now (`None` once dropped). Returns the break, if
    /// this is where the chain breaks.
    pub fn check(
        &mut self,
        seq: u64,
        record: Result<&StoredDelivery, String>,
        kept_body_hash: Option<[u8; 32]>,
    ) -> Option<ChainReport> {
        let broken = |reason: String| Some(ChainReport::Broken { seq, reason });
        if seq != self.expected_seq {
            return Some(ChainReport::Broken {
                seq: self.expected_seq,
                reason: format!("missing; the log jumps to {seq}"),
            });
        }
        let delivery = match record {
            Ok(delivery) => delivery,
            Err(err) => return broken(format!("unreadable record: {err}")),
        };
        if delivery.seq != seq {
            return broken(format!("record says seq {}", delivery.seq));
        }
        if kept_body_hash.is_some_and(|hash| hash != delivery.body_sha256) {
            return broken("the body does not match its hash".to_owned());
        }
        let hash = delivery.hash();
        let chained = link(&self.previous, seq, &hash);
        if chained != delivery.chain {
            return broken(
                "the chain value does not match (altered, removed or reordered)".to_owned(),
            );
        }
        self.previous = chained;
        self.expected_seq += 1;
        self.tree.push(leaf_hash(&hash));
        None
    }

    /// The verdict once every delivery was checked, against the head the log records.
    pub fn finish(self, head: ChainHead) -> ChainReport {
        let count = self.expected_seq - 1;
        if head.seq != count || head.hash != self.previous {
            return ChainReport::Broken {
                seq: head.seq.max(count),
                reason: format!(
                    "the chain head names seq {} but the log ends at {count}",
                    head.seq
                ),
            };
        }
        if head.tree != self.tree {
            return ChainReport::Broken {
                seq: count,
                reason: format!(
                    "the Merkle tree the log keeps ({} leaves) is not the one its deliveries make",
                    head.tree.size()
                ),
            };
        }
        ChainReport::Intact {
            deliveries: count,
            head: self.previous,
            tree_root: self.tree.root(),
        }
    }
}

fn hash_field(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_and_position_changes_the_chain() {
        let headers = vec![("webhook-id".to_owned(), "msg_1".to_owned())];
        let body = body_hash(b"{}");
        let base = delivery_hash("hoops", 1, &headers, &body);
        assert_ne!(base, delivery_hash("hoopz", 1, &headers, &body));
        assert_ne!(base, delivery_hash("hoops", 2, &headers, &body));
        assert_ne!(base, delivery_hash("hoops", 1, &[], &body));
        assert_ne!(base, delivery_hash("hoops", 1, &headers, &body_hash(b"[]")));
        // Length prefixes keep field boundaries unambiguous.
        let split_a = vec![("ab".to_owned(), "c".to_owned())];
        let split_b = vec![("a".to_owned(), "bc".to_owned())];
        assert_ne!(
            delivery_hash("s", 1, &split_a, &body),
            delivery_hash("s", 1, &split_b, &body)
        );
        assert_ne!(link(&GENESIS, 1, &base), link(&GENESIS, 2, &base));
    }
}
