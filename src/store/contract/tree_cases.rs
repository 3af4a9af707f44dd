//! The Merkle tree cases every backend must pass: the writer keeps the tree, proofs made from
//! what it keeps verify with nothing of ours, `reindex` grows the same tree, and signed heads
//! are stored one per number.

use chrono::{Duration, Utc};

use super::Fixture;
use super::support::*;
use crate::store::{ChainReport, Store};
use crate::trust::heads::{SignedHead, UnsignedHead};
use crate::trust::keys::TreeKey;
use crate::trust::merkle::{self, Frontier, leaf_hash};
use crate::trust::notary::{Due, Notary, NotaryError, Round};
use crate::trust::proofs::StoredTree;

/// Appends `count` deliveries, a few to a batch.
fn append(store: &dyn Store, from: usize, count: usize) {
    let captures: Vec<_> = (from..from + count)
        .map(|n| single(&format!("t{n}"), &format!("job:{}", n % 3), n as i64))
        .collect();
    for batch in captures.chunks(7) {
        store.append(batch).unwrap();
    }
}

/// The tree an outsider grows from the deliveries' hashes.
fn outside_tree(store: &dyn Store) -> Vec<[u8; 32]> {
    let mut leaves = Vec::new();
    let mut from = 1;
    loop {
        let chunk = store.deliveries(from, 500).unwrap();
        let Some(last) = chunk.last() else {
            return leaves;
        };
        from = last.seq + 1;
        for delivery in chunk {
            let hash = delivery.hash();
            leaves.push(leaf_hash(&hash));
        }
    }
}

fn root_of(leaves: &[[u8; 32]]) -> [u8; 32] {
    let mut tree = Frontier::EMPTY;
    for leaf in leaves {
        tree.push(*leaf);
    }
    tree.root()
}

pub fn the_writer_keeps_the_tree_and_every_proof_from_it_verifies(fixture: &mut Fixture) {
    let store = fixture.store();
    append(store, 0, 70);
    let leaves = outside_tree(store);
    assert_eq!(leaves.len(), 70);
    // Proofs read records without bodies: the same deliveries otherwise.
    let mut with_bodies = store.deliveries(14, 20).unwrap();
    assert!(with_bodies.iter().all(|delivery| delivery.body.is_some()));
    with_bodies
        .iter_mut()
        .for_each(|delivery| delivery.body = None);
    assert_eq!(store.delivery_records(14, 20).unwrap(), with_bodies);
    let head = store.chain_head().unwrap();
    assert_eq!(head.tree.size(), 70);
    assert_eq!(head.tree.root(), root_of(&leaves));
    let ChainReport::Intact { tree_root, .. } = store.verify_chain().unwrap() else {
        panic!("the chain is broken");
    };
    assert_eq!(tree_root, root_of(&leaves));
    // Kept from height 4 up; lower ones are not rows.
    assert!(store.subtree(4, 3).unwrap().is_some());
    assert!(store.subtree(6, 0).unwrap().is_some());
    assert_eq!(
        store.subtree(4, 4).unwrap(),
        None,
        "leaves 64..80 are not all there"
    );
    assert_eq!(store.subtree(3, 0).unwrap(), None);

    let mut tree = StoredTree::new(store);
    for size in [1, 2, 15, 16, 17, 33, 64, 70] {
        let root = root_of(&leaves[..size as usize]);
        assert_eq!(tree.root(size).unwrap(), root, "root of {size}");
        for seq in 1..=size {
            let proof = tree.inclusion(seq, size).unwrap();
            assert_eq!(proof.root, root);
            assert!(proof.holds(), "delivery {seq} in {size}");
            assert_eq!(proof.leaf_hash, leaves[seq as usize - 1]);
        }
        for old in [1, 3, 16, size] {
            if old <= size {
                let consistency = tree.consistency(old, size).unwrap();
                let old_root = root_of(&leaves[..old as usize]);
                assert!(
                    merkle::verify_consistency(old, size, &old_root, &root, &consistency),
                    "{old} → {size}"
                );
            }
        }
    }
    assert!(tree.inclusion(71, 71).is_err(), "beyond the log");
    assert!(tree.inclusion(5, 4).is_err(), "not in that tree");

    // Restarted, it goes on from the frontier it kept.
    fixture.reopen();
    let store = fixture.store();
    append(store, 70, 30);
    let leaves = outside_tree(store);
    assert_eq!(store.chain_head().unwrap().tree.root(), root_of(&leaves));
    let proof = StoredTree::new(store).inclusion(100, 100).unwrap();
    assert!(proof.holds());
}

pub fn reindex_grows_the_same_tree_and_retention_and_erasure_keep_it(fixture: &mut Fixture) {
    let store = fixture.store();
    append(store, 0, 40);
    let before = store.chain_head().unwrap();
    let kept = store.subtree(5, 0).unwrap();
    store.reindex(&|_| None).unwrap();
    let after = store.chain_head().unwrap();
    assert_eq!(
        after.tree, before.tree,
        "the same frontier, so the same root"
    );
    assert_eq!(store.subtree(5, 0).unwrap(), kept);
    store.prune_bodies(Utc::now() + Duration::days(1)).unwrap();
    let proof = StoredTree::new(store).inclusion(17, 40).unwrap();
    assert!(proof.holds(), "leaves are delivery hashes: bodies may go");
    assert_eq!(proof.root, before.tree.root());

    // An erasure redacts entries and logs itself: the tree grows by that record, and every
    // earlier proof and root stands.
    let job: crate::activity::Subject = "job:1".parse().unwrap();
    store
        .erase(
            &crate::activity::redact::ErasureTarget::Subject(job),
            Utc::now(),
        )
        .unwrap();
    let erased = store.chain_head().unwrap().tree;
    assert_eq!(erased.size(), 41, "the erasure's own record");
    let mut tree = StoredTree::new(store);
    let proof = tree.inclusion(17, 40).unwrap();
    assert!(proof.holds());
    assert_eq!(proof.root, before.tree.root());
    let consistency = tree.consistency(40, 41).unwrap();
    assert!(merkle::verify_consistency(
        40,
        41,
        &before.tree.root(),
        &erased.root(),
        &consistency
    ));
}

pub fn signed_heads_are_stored_once_per_number_in_order(fixture: &mut Fixture) {
    let store = fixture.store();
    let key = TreeKey::parse("ed25519:nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=").unwrap();
    let notary = Notary::new(key.clone());
    let now = Utc::now();
    let hour = std::time::Duration::from_secs(3600);
    assert_eq!(
        notary.round(store, store, Due::Every(hour), now).unwrap(),
        Round::NotDue,
        "an empty log has nothing to sign"
    );
    append(store, 0, 5);
    let Round::Signed(first) = notary.round(store, store, Due::Every(hour), now).unwrap() else {
        panic!("the first head is due at once");
    };
    assert_eq!((first.number, first.tree_size), (1, 5));
    assert_eq!(first.root, store.chain_head().unwrap().tree.root());
    assert!(first.verifies(&key.public()));
    assert_eq!(
        notary.round(store, store, Due::Every(hour), now).unwrap(),
        Round::NotDue,
        "not an hour old"
    );
    assert_eq!(
        notary.round(store, store, Due::IfGrown, now).unwrap(),
        Round::NotDue
    );
    append(store, 5, 12);
    let Round::Signed(second) = notary.round(store, store, Due::IfGrown, now).unwrap() else {
        panic!("grown since");
    };
    assert!(second.follows(&first));
    assert_eq!(second.tree_size, 17);
    let later = now + Duration::hours(2);
    let Round::Signed(third) = notary.round(store, store, Due::Every(hour), later).unwrap() else {
        panic!("an hour old");
    };
    assert_eq!(
        (third.number, third.tree_size),
        (3, 17),
        "signed when due, grown or not"
    );

    // Another gateway signing number 3 too is refused; so is a gap.
    let rival = SignedHead::sign(
        &key,
        Some(&second),
        UnsignedHead {
            tree_size: 17,
            root: second.root,
            signed_at: later,
        },
    );
    assert!(!store.add_tree_head(&rival).unwrap());
    let mut gap = rival.clone();
    gap.number = 5;
    assert!(!store.add_tree_head(&gap).unwrap());

    let listed = store.tree_heads(None, 10).unwrap();
    let numbers: Vec<u64> = listed.iter().map(|head| head.number).collect();
    assert_eq!(numbers, [3, 2, 1]);
    assert_eq!(listed[0], *third);
    assert_eq!(store.tree_heads(Some(3), 1).unwrap(), vec![*second.clone()]);
    assert_eq!(store.tree_head(2).unwrap().as_ref(), Some(&*second));
    assert_eq!(store.tree_head(4).unwrap(), None);
    assert_eq!(store.tree_head(0).unwrap(), None);
    assert_eq!(
        store.tree_head_of_size(17).unwrap().as_ref(),
        Some(&*third),
        "the latest of that size"
    );
    assert_eq!(store.tree_head_of_size(5).unwrap().as_ref(), Some(&*first));
    assert_eq!(store.tree_head_of_size(6).unwrap(), None);

    // Kept across a restart, and the next head goes on from them.
    fixture.reopen();
    let store = fixture.store();
    assert_eq!(store.tree_heads(None, 1).unwrap(), vec![*third.clone()]);
    append(store, 17, 1);
    let Round::Signed(fourth) = notary.round(store, store, Due::IfGrown, later).unwrap() else {
        panic!("grown since");
    };
    assert!(fourth.follows(&third));
}

/// A round in which a head is due (the last is older than a minute).
fn due_now(notary: &Notary, store: &dyn Store) -> Result<Round, NotaryError> {
    let minute = std::time::Duration::from_secs(60);
    notary.round(store, store, Due::Every(minute), Utc::now())
}

pub fn a_log_that_contradicts_its_last_head_is_refused_a_new_one(fixture: &mut Fixture) {
    let store = fixture.store();
    let key = TreeKey::generate().unwrap();
    let notary = Notary::new(key.clone());
    append(store, 0, 20);
    // A head over a root this log never had (as if the log had been altered since).
    let forged = SignedHead::sign(
        &key,
        None,
        UnsignedHead {
            tree_size: 20,
            root: [7; 32],
            signed_at: Utc::now() - Duration::hours(2),
        },
    );
    assert!(store.add_tree_head(&forged).unwrap());
    let refused = due_now(&notary, store).unwrap_err();
    assert!(
        matches!(refused, NotaryError::Contradicted { number: 1, .. }),
        "{refused}"
    );
    // And over more deliveries than the log holds (restored from an older copy).
    let ahead = SignedHead::sign(
        &key,
        Some(&forged),
        UnsignedHead {
            tree_size: 25,
            root: [8; 32],
            signed_at: Utc::now() - Duration::hours(1),
        },
    );
    assert!(store.add_tree_head(&ahead).unwrap());
    let refused = notary.round(store, store, Due::IfGrown, Utc::now());
    assert!(matches!(refused, Ok(Round::NotDue)), "not grown past it");
    let refused = due_now(&notary, store).unwrap_err();
    assert!(
        refused.to_string().contains("only 20 deliveries"),
        "{refused}"
    );
}
