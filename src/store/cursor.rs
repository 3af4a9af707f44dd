//! The opaque cursors: the position of the last entry on a page, and of the last change a
//! live timeline has seen.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::activity::EntryId;

/// A position in a timeline: entries sort by (`occurred_at`, id), so the pair is unique and
/// stable even when late events land between pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cursor {
    pub occurred_micros: i64,
    pub id: EntryId,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode(self.occurred_micros.to_be_bytes(), self.id))
    }
}

/// A position in a subject's changes: entries new to its timeline, or changed on it (an
/// email whose delivery status moved), in the order of the deliveries that changed them. The
/// delivery's seq comes first, so every change committed later sorts after every earlier one,
/// whichever gateway committed it; the entry id orders the changes one delivery made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChangeCursor {
    pub seq: u64,
    pub id: EntryId,
}

impl ChangeCursor {
    /// Before every change.
    pub const START: ChangeCursor = ChangeCursor {
        seq: 0,
        id: EntryId::from_u128(0),
    };
}

impl fmt::Display for ChangeCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode(self.seq.to_be_bytes(), self.id))
    }
}

impl FromStr for ChangeCursor {
    type Err = InvalidCursor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (seq, id) = decode(s)?;
        Ok(ChangeCursor {
            seq: u64::from_be_bytes(seq),
            id,
        })
    }
}

/// Eight bytes of position and an entry id, as 32 characters of base64url.
fn encode(position: [u8; 8], id: EntryId) -> String {
    let mut raw = [0u8; 24];
    raw[..8].copy_from_slice(&position);
    raw[8..].copy_from_slice(&id.as_u128().to_be_bytes());
    URL_SAFE_NO_PAD.encode(raw)
}

fn decode(text: &str) -> Result<([u8; 8], EntryId), InvalidCursor> {
    let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| InvalidCursor)?;
    let raw: [u8; 24] = raw.try_into().map_err(|_| InvalidCursor)?;
    let (position, id) = raw.split_at(8);
    let position = position.try_into().map_err(|_| InvalidCursor)?;
    let id = u128::from_be_bytes(id.try_into().map_err(|_| InvalidCursor)?);
    Ok((position, EntryId::from_u128(id)))
}

#[derive(Debug, thiserror::Error)]
#[error("invalid cursor")]
pub struct InvalidCursor;

impl FromStr for Cursor {
    type Err = InvalidCursor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (micros, id) = decode(s)?;
        Ok(Cursor {
            occurred_micros: i64::from_be_bytes(micros),
            id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let cursor = Cursor {
            occurred_micros: -5,
            id: EntryId::from_u128(u128::MAX - 3),
        };
        assert_eq!(cursor.to_string().parse::<Cursor>().unwrap(), cursor);
        for bad in ["", "abc", "!!!!", &"A".repeat(40)] {
            assert!(bad.parse::<Cursor>().is_err());
            assert!(bad.parse::<ChangeCursor>().is_err());
        }
    }

    #[test]
    fn change_cursors_round_trip_and_sort_by_seq_first() {
        let early = ChangeCursor {
            seq: 7,
            id: EntryId::from_u128(u128::MAX),
        };
        let late = ChangeCursor {
            seq: 8,
            id: EntryId::from_u128(1),
        };
        assert_eq!(early.to_string().parse::<ChangeCursor>().unwrap(), early);
        assert!(ChangeCursor::START < early && early < late);
    }
}
