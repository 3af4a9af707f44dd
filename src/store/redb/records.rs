//! How a `deliveries` row is laid out: a version byte, then the record in postcard, a compact
//! binary serde format. The writer encodes one per delivery; as JSON, with its hashes in hex and
//! its time as text, the record was twice the size and several times the work.
//!
//! Rows written as JSON by earlier versions (they start with `{`) still read, so a file needs
//! no migration; `reindex` rewrites them in the current layout as it goes.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::activity::Outcome;
use crate::sources::ReplayKey;
use crate::store::from_json;
use crate::store::{StoreError, StoredDelivery};

/// The first byte of a version-1 record. JSON rows start with `{` (0x7b).
const VERSION_1: u8 = 1;

/// A delivery row, borrowing from the [`StoredDelivery`] it is written from. The body is not
/// part of it: bodies have their own table (retention drops them, the record stays).
#[derive(Serialize, Deserialize)]
struct DeliveryRecord<'a> {
    seq: u64,
    #[serde(borrow)]
    source: Cow<'a, str>,
    received_secs: i64,
    received_nanos: u32,
    #[serde(borrow)]
    headers: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    body_sha256: [u8; 32],
    chain: [u8; 32],
    #[serde(borrow)]
    delivery_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    replay_key: Option<Cow<'a, str>>,
    #[serde(borrow)]
    outcome: OutcomeRecord<'a>,
}

/// [`Outcome`] in a shape postcard can read back (it has no self-describing tags). Postcard
/// writes a variant as its position in this list, so the positions are on disk: never reorder
/// them; a new variant goes at the end. (The same holds for the fields of [`DeliveryRecord`].)
#[derive(Serialize, Deserialize)]
enum OutcomeRecord<'a> {
    Normalized,
    UnknownType(#[serde(borrow)] Cow<'a, str>),
    Malformed(#[serde(borrow)] Cow<'a, str>),
    Unparseable(#[serde(borrow)] Cow<'a, str>),
}

pub fn encode_delivery(delivery: &StoredDelivery) -> Result<Vec<u8>, StoreError> {
    let record = DeliveryRecord {
        seq: delivery.seq,
        source: Cow::Borrowed(&delivery.source),
        received_secs: delivery.received_at.timestamp(),
        received_nanos: delivery.received_at.timestamp_subsec_nanos(),
        headers: delivery
            .headers
            .iter()
            .map(|(name, value)| (Cow::Borrowed(name.as_str()), Cow::Borrowed(value.as_str())))
            .collect(),
        body_sha256: delivery.body_sha256,
        chain: delivery.chain,
        delivery_id: delivery.delivery_id.as_deref().map(Cow::Borrowed),
        replay_key: delivery.replay_key.as_ref().map(ReplayKey::to_stored),
        outcome: match &delivery.outcome {
            Outcome::Normalized => OutcomeRecord::Normalized,
            Outcome::UnknownType { event_type } => OutcomeRecord::UnknownType(event_type.into()),
            Outcome::Malformed { reason } => OutcomeRecord::Malformed(reason.into()),
            Outcome::Unparseable { reason } => OutcomeRecord::Unparseable(reason.into()),
        },
    };
    let mut raw = Vec::with_capacity(256);
    raw.push(VERSION_1);
    postcard::to_extend(&record, raw).map_err(|err| {
        StoreError::Corrupt(format!("cannot encode delivery {}: {err}", delivery.seq))
    })
}

/// The delivery a row holds (without its body, which the caller reads from its own table).
pub fn decode_delivery(raw: &[u8]) -> Result<StoredDelivery, StoreError> {
    match raw.split_first() {
        Some((&VERSION_1, rest)) => from_record(rest),
        Some((b'{', _)) => from_json(raw),
        Some((version, _)) => Err(StoreError::Corrupt(format!(
            "a delivery record of unknown version {version}"
        ))),
        None => Err(StoreError::Corrupt("an empty delivery record".to_owned())),
    }
}

fn from_record(raw: &[u8]) -> Result<StoredDelivery, StoreError> {
    let record: DeliveryRecord<'_> = postcard::from_bytes(raw)
        .map_err(|err| StoreError::Corrupt(format!("unreadable delivery record: {err}")))?;
    let received_at = DateTime::<Utc>::from_timestamp(record.received_secs, record.received_nanos)
        .ok_or_else(|| {
            StoreError::Corrupt(format!("delivery {} has an impossible time", record.seq))
        })?;
    Ok(StoredDelivery {
        seq: record.seq,
        source: record.source.into_owned(),
        received_at,
        headers: record
            .headers
            .into_iter()
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect(),
        body: None,
        body_sha256: record.body_sha256,
        chain: record.chain,
        delivery_id: record.delivery_id.map(Cow::into_owned),
        replay_key: record.replay_key.as_deref().map(ReplayKey::from_stored),
        outcome: match record.outcome {
            OutcomeRecord::Normalized => Outcome::Normalized,
            OutcomeRecord::UnknownType(event_type) => Outcome::UnknownType {
                event_type: event_type.into_owned(),
            },
            OutcomeRecord::Malformed(reason) => Outcome::Malformed {
                reason: reason.into_owned(),
            },
            OutcomeRecord::Unparseable(reason) => Outcome::Unparseable {
                reason: reason.into_owned(),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;
    use crate::store::to_json;

    fn delivery(outcome: Outcome) -> StoredDelivery {
        StoredDelivery {
            seq: 42,
            source: "hoops".into(),
            received_at: Utc.timestamp_opt(1_780_000_000, 123_456_789).unwrap(),
            headers: vec![
                ("webhook-id".into(), "msg_2Y0".into()),
                ("webhook-signature".into(), "v1,abc= v1,déf=".into()),
            ],
            body: None,
            body_sha256: [7; 32],
            chain: [9; 32],
            delivery_id: Some("msg_2Y0".into()),
            replay_key: None,
            outcome,
        }
    }

    #[test]
    fn every_outcome_reads_back_as_written_and_smaller_than_json() {
        for outcome in [
            Outcome::Normalized,
            Outcome::UnknownType {
                event_type: "job.archived".into(),
            },
            Outcome::Malformed {
                reason: "no subject".into(),
            },
            Outcome::Unparseable {
                reason: "expected value at line 1".into(),
            },
        ] {
            let written = delivery(outcome);
            let raw = encode_delivery(&written).unwrap();
            assert_eq!(raw[0], VERSION_1);
            assert_eq!(decode_delivery(&raw).unwrap(), written);
            assert!(raw.len() * 2 < to_json(&written).unwrap().len());
        }
    }

    #[test]
    fn outcome_variants_are_written_as_their_pinned_numbers() {
        let cases = [
            (OutcomeRecord::Normalized, vec![0]),
            (OutcomeRecord::UnknownType("x".into()), vec![1, 1, b'x']),
            (OutcomeRecord::Malformed("x".into()), vec![2, 1, b'x']),
            (OutcomeRecord::Unparseable("x".into()), vec![3, 1, b'x']),
        ];
        for (record, bytes) in cases {
            let written = postcard::to_allocvec(&record).unwrap();
            assert_eq!(written, bytes);
            let read: OutcomeRecord<'_> = postcard::from_bytes(&written).unwrap();
            assert_eq!(postcard::to_allocvec(&read).unwrap(), bytes);
        }
    }

    #[test]
    fn a_record_is_written_byte_for_byte_as_pinned() {
        let mut written = delivery(Outcome::Malformed { reason: "r".into() });
        written.replay_key = Some(ReplayKey::Token("t".into()));
        let raw = encode_delivery(&written).unwrap();
        // Version, seq, source, seconds (zigzag), nanos, headers, body hash, chain, delivery
        // id, replay key, outcome — in that order, as postcard lays them out.
        let pinned = concat!(
            "01",
            "2a",
            "05686f6f7073",
            "8094c5a10d",
            "959aef3a",
            "02",
            "0a776562686f6f6b2d6964",
            "076d73675f325930",
            "11776562686f6f6b2d7369676e6174757265",
            "1076312c6162633d2076312c64c3a9663d",
            "0707070707070707070707070707070707070707070707070707070707070707",
            "0909090909090909090909090909090909090909090909090909090909090909",
            "01076d73675f325930",
            "010174",
            "020172",
        );
        assert_eq!(hex::encode(&raw), pinned);
        assert_eq!(decode_delivery(&raw).unwrap(), written);
    }

    #[test]
    fn replay_keys_are_written_as_pinned_text() {
        let token = ReplayKey::Token("mailgun-token:abc".into());
        let content = ReplayKey::SignedContent([0xab; 32]);
        let content_text = format!("signed-content:{}", "ab".repeat(32));
        assert_eq!(token.to_stored(), "mailgun-token:abc");
        assert_eq!(content.to_stored(), content_text);
        assert_eq!(ReplayKey::from_stored("mailgun-token:abc"), token);
        assert_eq!(ReplayKey::from_stored(&content_text), content);
        // Anything else is a token, as every key of earlier versions was.
        for text in ["token-1", "signed-content:", "signed-content:zz"] {
            assert_eq!(ReplayKey::from_stored(text), ReplayKey::Token(text.into()));
        }
        let mut written = delivery(Outcome::Normalized);
        written.replay_key = Some(content);
        let raw = encode_delivery(&written).unwrap();
        assert_eq!(decode_delivery(&raw).unwrap(), written);
        assert_eq!(
            decode_delivery(&to_json(&written).unwrap()).unwrap(),
            written
        );
    }

    #[test]
    fn rows_written_as_json_still_read() {
        let mut written = delivery(Outcome::Normalized);
        written.replay_key = Some(ReplayKey::Token("token-1".into()));
        let json = to_json(&written).unwrap();
        assert_eq!(decode_delivery(&json).unwrap(), written);
    }

    #[test]
    fn unknown_versions_and_damage_are_reported_not_guessed() {
        let mut raw = encode_delivery(&delivery(Outcome::Normalized)).unwrap();
        assert!(decode_delivery(&[]).is_err());
        assert!(decode_delivery(&[9, 1, 2]).is_err());
        raw.truncate(raw.len() / 2);
        assert!(matches!(decode_delivery(&raw), Err(StoreError::Corrupt(_))));
    }

    proptest! {
        /// A damaged row is an error to report, never a panic or a wild allocation.
        #[test]
        fn any_bytes_decode_to_a_delivery_or_an_error(
            version in prop_oneof![Just(VERSION_1), Just(b'{'), any::<u8>()],
            rest in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            let raw = [vec![version], rest].concat();
            let _ = decode_delivery(&raw);
        }

        #[test]
        fn any_delivery_round_trips(
            seq in any::<u64>(),
            source in ".{0,20}",
            secs in -62_000_000_000i64..250_000_000_000,
            nanos in 0u32..1_000_000_000,
            headers in proptest::collection::vec((".{0,12}", ".{0,40}"), 0..5),
            body_sha256 in any::<[u8; 32]>(),
            chain in any::<[u8; 32]>(),
            delivery_id in proptest::option::of(".{0,30}"),
            replay_key in proptest::option::of(".{0,30}"),
            reason in ".{0,30}",
            kind in 0u8..4,
        ) {
            let outcome = match kind {
                0 => Outcome::Normalized,
                1 => Outcome::UnknownType { event_type: reason },
                2 => Outcome::Malformed { reason },
                _ => Outcome::Unparseable { reason },
            };
            let written = StoredDelivery {
                seq,
                source,
                received_at: Utc.timestamp_opt(secs, nanos).unwrap(),
                headers,
                body: None,
                body_sha256,
                chain,
                delivery_id,
                replay_key: replay_key.as_deref().map(ReplayKey::from_stored),
                outcome,
            };
            let raw = encode_delivery(&written).unwrap();
            prop_assert_eq!(decode_delivery(&raw).unwrap(), written);
        }
    }
}
