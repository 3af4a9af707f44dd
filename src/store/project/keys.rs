//! How dedup keys are spelled: one namespace per source, the kind of key in a prefix. These
//! strings are stored, so they are pinned (see the test).

use crate::activity::{NewEntry, Normalized};
use crate::sources::ReplayKey;

/// A delivery id the provider gave (`webhook-id`, `evt_…`).
pub fn delivery(id: &str) -> String {
    format!("d:{id}")
}

/// An event id inside a batch (`sg_event_id`, a QuickBooks entity change).
pub fn event(id: &str) -> String {
    format!("e:{id}")
}

/// A token's key is `r:` + the token; signed content's is `c:` + its hash in hex.
pub fn replay(key: &ReplayKey) -> String {
    match key {
        ReplayKey::Token(token) => format!("r:{token}"),
        ReplayKey::SignedContent(hash) => format!("c:{}", hex::encode(hash)),
    }
}

/// An entry's own dedup key, where it has an event id distinct from its delivery's.
pub fn entry(normalized: &Normalized, entry: &NewEntry) -> Option<String> {
    entry_event(normalized.delivery_id.as_deref(), entry.event_id.as_deref())
}

/// The same, from the ids alone (a kept entry whose delivery cannot be read again).
pub fn entry_event(delivery_id: Option<&str>, event_id: Option<&str>) -> Option<String> {
    let id = event_id?;
    (delivery_id != Some(id)).then(|| event(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_spelled_as_stored() {
        assert_eq!(delivery("msg_1"), "d:msg_1");
        assert_eq!(event("ev_1"), "e:ev_1");
        assert_eq!(replay(&ReplayKey::Token("t".into())), "r:t");
        assert_eq!(
            replay(&ReplayKey::SignedContent([0xab; 32])),
            format!("c:{}", "ab".repeat(32))
        );
        assert_eq!(entry_event(Some("a"), Some("a")), None);
        assert_eq!(entry_event(Some("a"), Some("b")).as_deref(), Some("e:b"));
        assert_eq!(entry_event(None, None), None);
    }
}
