//! The Merkle tree over deliveries, hashed as RFC 9162 (Certificate Transparency 2.0) says, so
//! that any implementation of it can check our heads and proofs:
//! - a leaf is `SHA-256(0x00 ‖ data)`, where the data is a delivery's hash;
//! - an inner node is `SHA-256(0x01 ‖ left ‖ right)`;
//! - a tree of `n > 1` leaves splits at `k`, the largest power of two below `n`.
//!
//! Three parts:
//! - [`Frontier`], what a writer keeps: the roots of the perfect subtrees the leaves so far
//!   make, one per set bit of the tree size. Appending is O(log n); so is the root.
//! - Proofs, made from the hashes of perfect subtrees, which a store keeps or recomputes:
//!   [`inclusion_proof`] (RFC 9162 §2.1.3.1) and [`consistency_proof`] (§2.1.4.1).
//! - Their checks, which need nothing of ours: [`verify_inclusion`] (§2.1.3.2) and
//!   [`verify_consistency`] (§2.1.4.2).

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// `SHA-256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    hasher.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of an empty tree: the hash of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (`n ≥ 2`).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// A perfect subtree: the root of the `2^height` leaves from `index · 2^height` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subtree {
    pub height: u32,
    pub index: u64,
    pub hash: Hash,
}

/// What a writer keeps to extend the tree and to tell its root: the roots of its perfect
/// subtrees, largest first (one per set bit of `size`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    peaks: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub const EMPTY: Frontier = Frontier {
        size: 0,
        peaks: Vec::new(),
    };

    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adds a leaf (already hashed with [`leaf_hash`]). Two perfect subtrees of the same
    /// height merge into one, as many times as the new size has trailing zeros.
    pub fn push(&mut self, leaf: Hash) {
        self.push_reporting(leaf, |_| {});
    }

    /// [`Frontier::push`], handing `completed` every perfect subtree the leaf completes, the
    /// leaf itself first: what a store keeps to answer proofs later.
    pub fn push_reporting(&mut self, leaf: Hash, mut completed: impl FnMut(Subtree)) {
        let size = self.size + 1;
        let mut carry = leaf;
        completed(Subtree {
            height: 0,
            index: self.size,
            hash: carry,
        });
        for height in 1..=size.trailing_zeros() {
            let Some(left) = self.peaks.pop() else { break };
            carry = node_hash(&left, &carry);
            completed(Subtree {
                height,
                index: (size >> height) - 1,
                hash: carry,
            });
        }
        self.peaks.push(carry);
        self.size = size;
    }

    /// The tree's root: the peaks folded from the smallest, each joining the one before it
    /// as its right side.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(smallest) = peaks.next() else {
            return empty_root();
        };
        peaks.fold(*smallest, |right, left| node_hash(left, &right))
    }

    /// The frontier as bytes: the size (8 bytes, big-endian), then each peak.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(8 + 32 * self.peaks.len());
        bytes.extend_from_slice(&self.size.to_be_bytes());
        for peak in &self.peaks {
            bytes.extend_from_slice(peak);
        }
        bytes
    }

    /// Reads [`Frontier::to_bytes`]; `None` when the bytes do not hold one (a peak count
    /// that does not match the size's bits).
    pub fn from_bytes(bytes: &[u8]) -> Option<Frontier> {
        let (size, rest) = bytes.split_first_chunk::<8>()?;
        let size = u64::from_be_bytes(*size);
        if rest.len() != 32 * size.count_ones() as usize {
            return None;
        }
        let peaks = rest
            .chunks_exact(32)
            .map(|chunk| chunk.try_into().ok())
            .collect::<Option<Vec<Hash>>>()?;
        Some(Frontier { size, peaks })
    }
}

/// The hashes of perfect subtrees, however a store keeps them: `perfect(height, index)` is
/// the root of the `2^height` leaves from `index · 2^height` on.
pub trait Subtrees {
    type Error;
    fn perfect(&mut self, height: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// The root of leaves `start..end` (`start` aligned as the tree splits them).
fn range_root<S: Subtrees>(subtrees: &mut S, start: u64, end: u64) -> Result<Hash, S::Error> {
    let n = end - start;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return subtrees.perfect(n.trailing_zeros(), start >> n.trailing_zeros());
    }
    let k = split(n);
    let left = range_root(subtrees, start, start + k)?;
    let right = range_root(subtrees, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// The root of the first `size` leaves.
pub fn root<S: Subtrees>(subtrees: &mut S, size: u64) -> Result<Hash, S::Error> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_root(subtrees, 0, size)
}

/// The audit path of leaf `index` in the tree of the first `size` leaves (RFC 9162
/// §2.1.3.1), from the leaf's sibling up. `index < size`.
pub fn inclusion_proof<S: Subtrees>(
    subtrees: &mut S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, S::Error> {
    let mut path = Vec::new();
    path_of(subtrees, index, 0, size, &mut path)?;
    Ok(path)
}

fn path_of<S: Subtrees>(
    subtrees: &mut S,
    index: u64,
    start: u64,
    end: u64,
    path: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if index < k {
        path_of(subtrees, index, start, start + k, path)?;
        path.push(range_root(subtrees, start + k, end)?);
    } else {
        path_of(subtrees, index - k, start + k, end, path)?;
        path.push(range_root(subtrees, start, start + k)?);
    }
    Ok(())
}

/// Whether `path` proves leaf `leaf` at `index` in a tree of `size` leaves with root `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// The proof that the tree of the first `old` leaves is a prefix of the tree of the first
/// `new` (RFC 9162 §2.1.4.1). `0 < old ≤ new`; empty when they are equal.
pub fn consistency_proof<S: Subtrees>(
    subtrees: &mut S,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, S::Error> {
    let mut proof = Vec::new();
    if 0 < old && old < new {
        subproof(subtrees, old, 0, new, true, &mut proof)?;
    }
    Ok(proof)
}

fn subproof<S: Subtrees>(
    subtrees: &mut S,
    m: u64,
    start: u64,
    end: u64,
    whole: bool,
    proof: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = end - start;
    if m == n {
        if !whole {
            proof.push(range_root(subtrees, start, end)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(subtrees, m, start, start + k, whole, proof)?;
        proof.push(range_root(subtrees, start + k, end)?);
    } else {
        subproof(subtrees, m - k, start + k, end, false, proof)?;
        proof.push(range_root(subtrees, start, start + k)?);
    }
    Ok(())
}

/// Whether `proof` shows that the tree of `old` leaves with root `old_root` is a prefix of
/// the tree of `new` leaves with root `new_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old == 0 || old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    // When `old` is a power of two, the old root is the proof's implied first element.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && fr == *old_root && sr == *new_root
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Leaves in memory: every perfect subtree recomputed from them (the reference).
    struct Leaves(Vec<Hash>);

    impl Subtrees for Leaves {
        type Error = std::convert::Infallible;
        fn perfect(&mut self, height: u32, index: u64) -> Result<Hash, Self::Error> {
            let width = 1usize << height;
            let start = index as usize * width;
            let mut level: Vec<Hash> = self.0[start..start + width].to_vec();
            while level.len() > 1 {
                level = level
                    .chunks_exact(2)
                    .map(|pair| node_hash(&pair[0], &pair[1]))
                    .collect();
            }
            Ok(level[0])
        }
    }

    fn leaves(n: usize) -> Leaves {
        Leaves(
            (0..n)
                .map(|i| leaf_hash(format!("delivery {i}").as_bytes()))
                .collect(),
        )
    }

    /// The tree of RFC 6962's reference implementation's tests (certificate-transparency),
    /// with the roots published for its first one to eight leaves.
    #[test]
    fn roots_match_the_published_certificate_transparency_vectors() {
        let data: [&[u8]; 8] = [
            b"",
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ];
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let mut frontier = Frontier::default();
        let mut all = Leaves(Vec::new());
        for (data, expected) in data.iter().zip(roots) {
            frontier.push(leaf_hash(data));
            all.0.push(leaf_hash(data));
            assert_eq!(
                hex::encode(frontier.root()),
                expected,
                "{} leaves",
                all.0.len()
            );
            let size = all.0.len() as u64;
            assert_eq!(hex::encode(root(&mut all, size).unwrap()), expected);
        }
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn a_frontier_grows_to_the_same_root_and_survives_its_bytes() {
        let mut all = leaves(70);
        let mut frontier = Frontier::default();
        for (i, leaf) in all.0.clone().into_iter().enumerate() {
            frontier.push(leaf);
            let size = i as u64 + 1;
            assert_eq!(frontier.root(), root(&mut all, size).unwrap(), "{size}");
            let bytes = frontier.to_bytes();
            assert_eq!(bytes.len(), 8 + 32 * size.count_ones() as usize);
            assert_eq!(Frontier::from_bytes(&bytes).as_ref(), Some(&frontier));
        }
        assert_eq!(
            Frontier::from_bytes(&[0; 8 + 32]),
            None,
            "size 0 has no peak"
        );
        assert_eq!(Frontier::from_bytes(&[1; 5]), None);
    }

    #[test]
    fn a_push_reports_every_perfect_subtree_it_completes() {
        let mut all = leaves(40);
        let mut frontier = Frontier::default();
        let mut reported = Vec::new();
        for leaf in all.0.clone() {
            frontier.push_reporting(leaf, |subtree| reported.push(subtree));
        }
        // One per node of the perfect subtrees of 40 leaves: 40 + 20 + 10 + 5 + 2 + 1.
        assert_eq!(reported.len(), 78);
        for subtree in reported {
            let Subtree {
                height,
                index,
                hash,
            } = subtree;
            assert_eq!(
                hash,
                all.perfect(height, index).unwrap(),
                "{height}/{index}"
            );
        }
    }

    #[test]
    fn every_leaf_proves_its_inclusion_and_nothing_else_does() {
        let mut all = leaves(34);
        for size in 1..=33u64 {
            let tree_root = root(&mut all, size).unwrap();
            for index in 0..size {
                let path = inclusion_proof(&mut all, index, size).unwrap();
                let leaf = all.0[index as usize];
                assert!(
                    verify_inclusion(&leaf, index, size, &path, &tree_root),
                    "{index} of {size}"
                );
                // Another leaf, another place, a shorter path or another root: refused.
                let other = leaf_hash(b"not a delivery");
                assert!(!verify_inclusion(&other, index, size, &path, &tree_root));
                if size > 1 {
                    let moved = (index + 1) % size;
                    assert!(!verify_inclusion(&leaf, moved, size, &path, &tree_root));
                    assert!(!verify_inclusion(
                        &leaf,
                        index,
                        size,
                        &path[1..],
                        &tree_root
                    ));
                }
                // (A root alone does not bind its size: heads sign the two together.)
                let grown = root(&mut all, size + 1).unwrap();
                assert!(!verify_inclusion(&leaf, index, size + 1, &path, &grown));
                assert!(!verify_inclusion(&leaf, size, size, &path, &tree_root));
            }
        }
    }

    #[test]
    fn every_older_tree_is_proven_a_prefix_of_every_newer_one() {
        let mut all = leaves(33);
        let roots: Vec<Hash> = (0..=33).map(|n| root(&mut all, n).unwrap()).collect();
        for new in 1..=33u64 {
            for old in 1..=new {
                let proof = consistency_proof(&mut all, old, new).unwrap();
                let (old_root, new_root) = (&roots[old as usize], &roots[new as usize]);
                assert!(
                    verify_consistency(old, new, old_root, new_root, &proof),
                    "{old} → {new}"
                );
                if old < new {
                    // A rewritten history (another old root) or a proof cut short: refused.
                    assert!(!verify_consistency(old, new, &roots[0], new_root, &proof));
                    assert!(!verify_consistency(
                        old,
                        new,
                        old_root,
                        new_root,
                        &proof[1..]
                    ));
                    assert!(!verify_consistency(new, old, new_root, old_root, &proof));
                }
            }
        }
    }

    #[test]
    fn a_changed_or_reordered_delivery_breaks_consistency_with_an_earlier_head() {
        let mut honest = leaves(20);
        let head = root(&mut honest, 12).unwrap();
        // The same 20 deliveries with delivery 5 altered, then with 3 and 4 swapped.
        let mut altered = leaves(20);
        altered.0[5] = leaf_hash(b"an edited delivery");
        let mut reordered = leaves(20);
        reordered.0.swap(3, 4);
        for tampered in [&mut altered, &mut reordered] {
            let proof = consistency_proof(tampered, 12, 20).unwrap();
            let now = root(tampered, 20).unwrap();
            assert!(!verify_consistency(12, 20, &head, &now, &proof));
        }
    }
}
