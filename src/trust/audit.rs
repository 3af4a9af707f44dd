//! Checking a log against signed heads published outside it — what `hooktrail verify
//! --digests` does, and what anyone holding the heads and the public key can do.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use super::heads::SignedHead;
use super::keys::PublicKey;
use super::merkle::{Frontier, leaf_hash};
use super::proofs::Bundle;
use crate::store::ReadSide;

/// Every head in the folder's `*.json` files, by number (the same number twice must be the
/// same head).
pub fn read_published(dir: &Path) -> anyhow::Result<BTreeMap<u64, SignedHead>> {
    let mut heads = BTreeMap::new();
    let listing =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for item in listing {
        let path = item?.path();
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("");
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let text =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        // One head, or a list of them (as `GET /api/v1/digests` answers); the error is the
        // one of the form the file has.
        let found: Vec<SignedHead> = if text.trim_ascii_start().starts_with(b"[") {
            serde_json::from_slice(&text)
        } else {
            serde_json::from_slice::<SignedHead>(&text).map(|head| vec![head])
        }
        .with_context(|| format!("{} holds no signed tree head", path.display()))?;
        for head in found {
            if let Some(other) = heads.insert(head.number, head.clone())
                && other != head
            {
                anyhow::bail!(
                    "{} has another head numbered {}",
                    path.display(),
                    head.number
                );
            }
        }
    }
    if heads.is_empty() {
        anyhow::bail!("no signed tree heads in {}", dir.display());
    }
    Ok(heads)
}

/// The ids of `keys`, for messages.
pub fn key_ids(keys: &[PublicKey]) -> String {
    let ids: Vec<String> = keys.iter().map(PublicKey::key_id).collect();
    ids.join(", ")
}

/// Each head is signed by one of `keys`, and each follows the one numbered before it when that one
/// was published too.
pub fn check_published(heads: &BTreeMap<u64, SignedHead>, keys: &[PublicKey]) -> Vec<String> {
    let mut failures = Vec::new();
    for head in heads.values() {
        if !head.verifies_with_one_of(keys) {
            failures.push(format!(
                "head {} is not signed by key {}",
                head.number,
                key_ids(keys)
            ));
        }
        let previous = head
            .number
            .checked_sub(1)
            .and_then(|number| heads.get(&number));
        if let Some(previous) = previous
            && !head.follows(previous)
        {
            failures.push(format!(
                "head {} does not follow head {} (its chain or tree size)",
                head.number, previous.number
            ));
        }
    }
    failures
}

/// The log's tree, grown from its deliveries' hashes (nothing the store keeps about the tree
/// is trusted), has each published head's root at its size; and the store's own head of each
/// number is the published one.
pub fn check_log(
    store: &dyn ReadSide,
    published: &BTreeMap<u64, SignedHead>,
) -> anyhow::Result<Vec<String>> {
    let mut failures = Vec::new();
    let mut by_size: BTreeMap<u64, Vec<&SignedHead>> = BTreeMap::new();
    for head in published.values() {
        by_size.entry(head.tree_size).or_default().push(head);
        if store.tree_head(head.number)?.as_ref() != Some(head) {
            failures.push(format!(
                "head {} is not in the store as published",
                head.number
            ));
        }
    }
    let mut tree = Frontier::EMPTY;
    let check = |tree: &Frontier, failures: &mut Vec<String>| {
        for head in by_size.get(&tree.size()).into_iter().flatten() {
            if tree.root() != head.root {
                failures.push(format!(
                    "head {} (tree size {}): the log's deliveries make another root — altered, removed or reordered",
                    head.number, head.tree_size
                ));
            }
        }
    };
    check(&tree, &mut failures);
    let mut from = 1;
    loop {
        let chunk = store.delivery_records(from, 1000)?;
        let Some(last) = chunk.last() else { break };
        from = last.seq + 1;
        for delivery in &chunk {
            if delivery.seq != tree.size() + 1 {
                failures.push(format!(
                    "the log jumps from delivery {} to {}",
                    tree.size(),
                    delivery.seq
                ));
                return Ok(failures);
            }
            tree.push(leaf_hash(&delivery.hash()));
            check(&tree, &mut failures);
        }
    }
    if let Some((size, heads)) = by_size.range(tree.size() + 1..).next() {
        failures.push(format!(
            "head {} covers {size} deliveries but the log holds {} — cut short or restored from an older copy",
            heads[0].number,
            tree.size()
        ));
    }
    Ok(failures)
}

/// The bundle proves itself under one of `keys`, and its head is the one published with its number.
pub fn check_bundle(
    bundle: &Bundle,
    published: &BTreeMap<u64, SignedHead>,
    keys: &[PublicKey],
) -> Vec<String> {
    let mut failures = bundle.failures(keys);
    match published.get(&bundle.digest.number) {
        Some(head) if *head == bundle.digest => {}
        Some(_) => failures.push(format!(
            "the bundle's head {} is not the one published",
            bundle.digest.number
        )),
        None => failures.push(format!(
            "the bundle's head {} is not among the published heads",
            bundle.digest.number
        )),
    }
    failures
}
