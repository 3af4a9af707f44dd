//! Signed tree heads: the gateway's signature over the Merkle tree's size and root at a
//! moment, chained to the head before it (as CloudTrail's digest files carry the previous
//! digest's signature), so that a head published once pins every delivery before it.
//!
//! What is signed is a short text anyone can rebuild from a head's JSON (see
//! `docs/verifying.md`):
//!
//! ```text
//! hooktrail-tree-head-v1
//! {number}
//! {tree_size}
//! {root, hex}
//! {signed_at, RFC 3339 with microseconds}
//! {previous head's signature, hex; empty for head 1}
//! ```
//! each line ending with a newline.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use super::keys::{PublicKey, TreeKey};
use super::merkle::Hash;

/// What the message starts with: its format and version.
const MESSAGE_TAG: &str = "hooktrail-tree-head-v1";

/// A signed tree head. Valid on construction: made by [`SignedHead::sign`], or read back
/// from JSON whose fields all have their exact form (the signature is checked separately,
/// against a key the reader trusts: [`SignedHead::verifies`]).
/// Its JSON is [`HeadJson`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "HeadJson", into = "HeadJson")]
pub struct SignedHead {
    /// 1 for a log's first head, then one more each time.
    pub number: u64,
    pub tree_size: u64,
    pub root: Hash,
    /// Whole microseconds, so that the text signed and the JSON agree exactly.
    pub signed_at: DateTime<Utc>,
    /// The signature of head `number - 1`; `None` for head 1.
    pub previous: Option<[u8; 64]>,
    /// The signing key's id (see [`PublicKey::key_id`]).
    pub key_id: String,
    pub signature: [u8; 64],
}

/// What a head says before it is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsignedHead {
    pub tree_size: u64,
    pub root: Hash,
    pub signed_at: DateTime<Utc>,
}

impl SignedHead {
    /// Signs `head` as the one after `previous` (the log's latest head, if any).
    pub fn sign(key: &TreeKey, previous: Option<&SignedHead>, head: UnsignedHead) -> SignedHead {
        let mut signed = SignedHead {
            number: previous.map_or(1, |previous| previous.number + 1),
            tree_size: head.tree_size,
            root: head.root,
            signed_at: head.signed_at.trunc_subsecs(6),
            previous: previous.map(|previous| previous.signature),
            key_id: key.public().key_id(),
            signature: [0; 64],
        };
        signed.signature = key.sign(signed.message().as_bytes());
        signed
    }

    /// The exact text the signature covers.
    pub fn message(&self) -> String {
        format!(
            "{MESSAGE_TAG}\n{}\n{}\n{}\n{}\n{}\n",
            self.number,
            self.tree_size,
            hex::encode(self.root),
            signed_at_text(&self.signed_at),
            self.previous.map(hex::encode).unwrap_or_default(),
        )
    }

    /// Whether `key` signed this head (its id, then the signature).
    pub fn verifies(&self, key: &PublicKey) -> bool {
        self.key_id == key.key_id() && key.verifies(self.message().as_bytes(), &self.signature)
    }

    /// Whether one of `keys` signed this head (an operator who rotated keys has several).
    pub fn verifies_with_one_of(&self, keys: &[PublicKey]) -> bool {
        keys.iter().any(|key| self.verifies(key))
    }

    /// Whether this head follows `previous` directly: the next number, carrying its
    /// signature, over a tree at least as large, signed no earlier. (That the larger tree
    /// extends the smaller is what a consistency proof shows.)
    pub fn follows(&self, previous: &SignedHead) -> bool {
        self.number == previous.number + 1
            && self.previous == Some(previous.signature)
            && self.tree_size >= previous.tree_size
            && self.signed_at >= previous.signed_at
    }
}

fn signed_at_text(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A signed tree head as JSON: hashes and signatures in lowercase hex. (The API's documents
/// name it `Digest`.)
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Digest)]
pub struct HeadJson {
    /// 1 for the log's first head, then one more each time.
    number: u64,
    /// How many deliveries the tree covers (seqs 1 to `tree_size`).
    tree_size: u64,
    /// The tree's root (RFC 9162 hashing), hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    root: String,
    /// When the head was signed: RFC 3339, UTC, microseconds.
    #[schema(example = "2026-12-06T08:00:00.123456Z")]
    signed_at: String,
    /// The previous head's signature (hex); null for head 1.
    #[schema(pattern = "^[0-9a-f]{128}$")]
    previous: Option<String>,
    /// The first 8 bytes of the SHA-256 of the signing key, hex.
    #[schema(pattern = "^[0-9a-f]{16}$")]
    key_id: String,
    /// Ed25519 over the head's message (see docs/verifying.md), hex.
    #[schema(pattern = "^[0-9a-f]{128}$")]
    signature: String,
}

impl From<SignedHead> for HeadJson {
    fn from(head: SignedHead) -> Self {
        HeadJson {
            number: head.number,
            tree_size: head.tree_size,
            root: hex::encode(head.root),
            signed_at: signed_at_text(&head.signed_at),
            previous: head.previous.map(hex::encode),
            key_id: head.key_id,
            signature: hex::encode(head.signature),
        }
    }
}

impl TryFrom<HeadJson> for SignedHead {
    type Error = String;

    fn try_from(json: HeadJson) -> Result<Self, Self::Error> {
        let signed_at = DateTime::parse_from_rfc3339(&json.signed_at)
            .map_err(|_| "signed_at is not an RFC 3339 time".to_owned())?
            .with_timezone(&Utc);
        // The text signed is rebuilt from the parsed time: it must read back the same.
        if signed_at_text(&signed_at) != json.signed_at {
            return Err("signed_at is not in UTC with six fractional digits".to_owned());
        }
        let key_id_ok = json.key_id.len() == 16
            && json
                .key_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !key_id_ok {
            return Err("key_id is not 16 lowercase hex digits".to_owned());
        }
        Ok(SignedHead {
            number: json.number,
            tree_size: json.tree_size,
            root: lower_hex(&json.root, "root")?,
            signed_at,
            previous: json
                .previous
                .map(|previous| lower_hex(&previous, "previous"))
                .transpose()?,
            key_id: json.key_id,
            signature: lower_hex(&json.signature, "signature")?,
        })
    }
}

/// `N` bytes from exactly `2N` lowercase hex digits.
pub fn lower_hex<const N: usize>(text: &str, what: &str) -> Result<[u8; N], String> {
    let mut bytes = [0u8; N];
    if text.len() != 2 * N || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!("{what} is not {} lowercase hex digits", 2 * N));
    }
    hex::decode_to_slice(text, &mut bytes)
        .map_err(|_| format!("{what} is not {} lowercase hex digits", 2 * N))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> TreeKey {
        TreeKey::parse("ed25519:nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=").unwrap()
    }

    fn at(micros: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(micros).unwrap()
    }

    fn first() -> SignedHead {
        SignedHead::sign(
            &key(),
            None,
            UnsignedHead {
                tree_size: 7,
                root: [0xab; 32],
                signed_at: at(1_765_008_000_123_456),
            },
        )
    }

    #[test]
    fn the_message_is_the_documented_text() {
        let head = first();
        assert_eq!(
            head.message(),
            format!(
                "hooktrail-tree-head-v1\n1\n7\n{}\n2025-12-06T08:00:00.123456Z\n\n",
                "ab".repeat(32)
            )
        );
        let second = SignedHead::sign(
            &key(),
            Some(&head),
            UnsignedHead {
                tree_size: 9,
                root: [0xcd; 32],
                signed_at: at(1_765_011_600_000_000),
            },
        );
        assert!(second.message().ends_with(&format!(
            "\n2025-12-06T09:00:00.000000Z\n{}\n",
            hex::encode(head.signature)
        )));
        assert!(second.follows(&head));
        assert!(!head.follows(&second));
    }

    #[test]
    fn a_head_verifies_with_its_key_only_and_survives_json() {
        let head = first();
        let public = key().public();
        assert!(head.verifies(&public));
        let json = serde_json::to_value(&head).unwrap();
        assert_eq!(json["signed_at"], "2025-12-06T08:00:00.123456Z");
        assert_eq!(json["previous"], serde_json::Value::Null);
        assert_eq!(json["key_id"], public.key_id());
        let back: SignedHead = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, head);
        assert!(back.verifies(&public));

        let other = TreeKey::generate().unwrap().public();
        assert!(!head.verifies(&other));
        for (field, value) in [
            ("tree_size", serde_json::json!(8)),
            ("number", serde_json::json!(2)),
            ("root", serde_json::json!("cd".repeat(32))),
            (
                "signed_at",
                serde_json::json!("2025-12-06T08:00:00.123457Z"),
            ),
        ] {
            let mut changed = json.clone();
            changed[field] = value;
            let changed: SignedHead = serde_json::from_value(changed).unwrap();
            assert!(!changed.verifies(&public), "{field}");
        }
    }

    #[test]
    fn json_in_any_other_form_is_refused() {
        let json = serde_json::to_value(first()).unwrap();
        for (field, value) in [
            ("root", serde_json::json!("AB".repeat(32))),
            ("root", serde_json::json!("ab".repeat(31))),
            (
                "signed_at",
                serde_json::json!("2025-12-06T08:00:00.123456+00:00"),
            ),
            ("signed_at", serde_json::json!("2025-12-06T08:00:00.1234Z")),
            ("signature", serde_json::json!("00")),
            ("key_id", serde_json::json!("xyz")),
            ("previous", serde_json::json!("ab")),
        ] {
            let mut changed = json.clone();
            changed[field] = value;
            assert!(
                serde_json::from_value::<SignedHead>(changed).is_err(),
                "{field}"
            );
        }
    }
}
