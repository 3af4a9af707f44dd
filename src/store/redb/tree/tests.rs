//! The tree on the embedded backend: a file from before it grows it on open, and a log
//! tampered with after a head was signed fails inclusion or consistency against that head —
//! each way it can be tampered with.

use std::collections::BTreeMap;

use chrono::Utc;
use redb::ReadableTable;

use super::super::records::{decode_delivery, encode_delivery};
use super::super::tables::{CHAIN_HEAD, DELIVERIES, META, SUBTREES, encode_head};
use super::super::{RedbSnapshot, RedbStore};
use crate::store::contract::support::single;
use crate::store::prelude::*;
use crate::store::project::ChainHead;
use crate::trust::audit::check_log;
use crate::trust::heads::{SignedHead, UnsignedHead};
use crate::trust::keys::TreeKey;
use crate::trust::merkle;
use crate::trust::notary::{Due, Notary, NotaryError, Round};
use crate::trust::proofs::StoredTree;

const DELIVERIES_SIGNED: u64 = 40;

/// A store of 40 deliveries and the head signed over them, published.
fn signed_store() -> (tempfile::TempDir, RedbStore, TreeKey, SignedHead) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("tree.redb")).unwrap();
    let captures: Vec<_> = (0..DELIVERIES_SIGNED)
        .map(|n| single(&format!("d{n}"), "job:1", n as i64))
        .collect();
    for batch in captures.chunks(9) {
        store.append(batch).unwrap();
    }
    let key = TreeKey::generate().unwrap();
    let Round::Signed(head) = Notary::new(key.clone())
        .round(&store, &store, Due::IfGrown, Utc::now())
        .unwrap()
    else {
        panic!("a first head is due");
    };
    (dir, store, key, *head)
}

fn published(head: &SignedHead) -> BTreeMap<u64, SignedHead> {
    BTreeMap::from([(head.number, head.clone())])
}

/// Rewrites delivery records in place, as someone with the file could.
fn rewrite(store: &RedbStore, change: impl FnOnce(&mut redb::Table<u64, &[u8]>)) {
    store.raw(|db| {
        let txn = db.begin_write().unwrap();
        change(&mut txn.open_table(DELIVERIES).unwrap());
        txn.commit().unwrap();
    });
}

fn record(table: &redb::Table<u64, &[u8]>, seq: u64) -> crate::store::StoredDelivery {
    decode_delivery(table.get(seq).unwrap().unwrap().value()).unwrap()
}

/// Whether delivery `seq` still proves its inclusion under `head`.
fn proves(store: &RedbStore, seq: u64, head: &SignedHead) -> bool {
    StoredTree::new(store)
        .inclusion(seq, head.tree_size)
        .is_ok_and(|proof| proof.holds_under(head))
}

#[test]
fn an_untouched_log_holds_its_head_and_every_delivery_proves_inclusion() {
    let (_dir, store, _key, head) = signed_store();
    assert_eq!(
        check_log(&store, &published(&head)).unwrap(),
        Vec::<String>::new()
    );
    for seq in 1..=DELIVERIES_SIGNED {
        assert!(proves(&store, seq, &head), "{seq}");
    }
}

#[test]
fn an_altered_delivery_fails_its_inclusion_and_the_log_check() {
    let (_dir, store, _key, head) = signed_store();
    rewrite(&store, |table| {
        let mut delivery = record(table, 7);
        delivery
            .headers
            .push(("x-note".into(), "edited later".into()));
        table
            .insert(7, encode_delivery(&delivery).unwrap().as_slice())
            .unwrap();
    });
    assert!(!proves(&store, 7, &head));
    assert!(proves(&store, 30, &head), "other blocks are untouched");
    let failures = check_log(&store, &published(&head)).unwrap();
    assert!(failures[0].contains("another root"), "{failures:?}");
}

#[test]
fn a_removed_delivery_fails_inclusion_and_the_log_check() {
    let (_dir, store, _key, head) = signed_store();
    rewrite(&store, |table| {
        table.remove(7).unwrap();
    });
    assert!(!proves(&store, 7, &head));
    assert!(!proves(&store, 8, &head), "its block has a gap");
    let failures = check_log(&store, &published(&head)).unwrap();
    assert!(
        failures[0].contains("jumps from delivery 6 to 8"),
        "{failures:?}"
    );
}

#[test]
fn reordered_deliveries_fail_inclusion_and_the_log_check() {
    let (_dir, store, _key, head) = signed_store();
    rewrite(&store, |table| {
        let (mut seventh, mut eighth) = (record(table, 7), record(table, 8));
        (seventh.seq, eighth.seq) = (8, 7);
        table
            .insert(7, encode_delivery(&eighth).unwrap().as_slice())
            .unwrap();
        table
            .insert(8, encode_delivery(&seventh).unwrap().as_slice())
            .unwrap();
    });
    assert!(!proves(&store, 7, &head));
    assert!(!proves(&store, 8, &head));
    let failures = check_log(&store, &published(&head)).unwrap();
    assert!(failures[0].contains("another root"), "{failures:?}");
}

#[test]
fn a_log_rewritten_with_its_tree_fails_consistency_with_the_earlier_head() {
    let (_dir, store, key, head) = signed_store();
    rewrite(&store, |table| {
        let mut delivery = record(table, 3);
        delivery.source = "forged".into();
        table
            .insert(3, encode_delivery(&delivery).unwrap().as_slice())
            .unwrap();
    });
    // The whole tree grown again from the altered log: every proof is now consistent with
    // itself, and the gateway refuses to sign over it.
    store.reindex(&|_| None).unwrap();
    assert!(
        StoredTree::new(&store)
            .inclusion(3, DELIVERIES_SIGNED)
            .unwrap()
            .holds()
    );
    assert!(!proves(&store, 3, &head));
    let refused = Notary::new(key.clone())
        .round(
            &store,
            &store,
            Due::Every(std::time::Duration::ZERO),
            Utc::now(),
        )
        .unwrap_err();
    assert!(
        matches!(refused, NotaryError::Contradicted { number: 1, .. }),
        "{refused}"
    );
    // A head signed over it anyway (the key taken too) is not consistent with the first.
    let tree = store.chain_head().unwrap().tree;
    let forged = SignedHead::sign(
        &key,
        Some(&head),
        UnsignedHead {
            tree_size: tree.size(),
            root: tree.root(),
            signed_at: Utc::now(),
        },
    );
    let proof = StoredTree::new(&store)
        .consistency(head.tree_size, forged.tree_size)
        .unwrap();
    assert!(!merkle::verify_consistency(
        head.tree_size,
        forged.tree_size,
        &head.root,
        &forged.root,
        &proof
    ));
    assert!(!check_log(&store, &published(&head)).unwrap().is_empty());
}

#[test]
fn a_log_cut_short_or_restored_from_an_older_copy_fails_the_log_check() {
    let (_dir, store, _key, head) = signed_store();
    rewrite(&store, |table| {
        for seq in 35..=DELIVERIES_SIGNED {
            table.remove(seq).unwrap();
        }
    });
    let failures = check_log(&store, &published(&head)).unwrap();
    assert!(
        failures.iter().any(|failure| failure.contains("cut short")),
        "{failures:?}"
    );
}

#[test]
fn a_file_from_before_the_tree_grows_it_when_a_writer_opens_it() {
    let (dir, store, _key, _head) = signed_store();
    let whole = store.chain_head().unwrap();
    let kept = store.subtree(5, 0).unwrap();
    drop(store);
    // As written before the tree: a 40-byte chain head and no subtrees.
    let path = dir.path().join("tree.redb");
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        let old = ChainHead {
            tree: crate::trust::merkle::Frontier::EMPTY,
            ..whole.clone()
        };
        txn.open_table(META)
            .unwrap()
            .insert(CHAIN_HEAD, &encode_head(&old)[..40])
            .unwrap();
        txn.delete_table(SUBTREES).unwrap();
        txn.commit().unwrap();
    }
    let refused = RedbSnapshot::open(&path).err().unwrap();
    assert!(refused.to_string().contains("earlier version"), "{refused}");
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(store.chain_head().unwrap(), whole);
    assert_eq!(store.subtree(5, 0).unwrap(), kept);
    assert!(StoredTree::new(&store).inclusion(33, 40).unwrap().holds());
    drop(store);
    assert!(RedbSnapshot::open(&path).is_ok());
}
