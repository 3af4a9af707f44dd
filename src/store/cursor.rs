//! The opaque pagination cursor: the position of the last entry on a page.

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
        let mut raw = [0u8; 24];
        raw[..8].copy_from_slice(&self.occurred_micros.to_be_bytes());
        raw[8..].copy_from_slice(&self.id.as_u128().to_be_bytes());
        f.write_str(&URL_SAFE_NO_PAD.encode(raw))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid cursor")]
pub struct InvalidCursor;

impl FromStr for Cursor {
    type Err = InvalidCursor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let raw = URL_SAFE_NO_PAD.decode(s).map_err(|_| InvalidCursor)?;
        let raw: [u8; 24] = raw.try_into().map_err(|_| InvalidCursor)?;
        let (micros, id) = raw.split_at(8);
        let micros = i64::from_be_bytes(micros.try_into().map_err(|_| InvalidCursor)?);
        let id = u128::from_be_bytes(id.try_into().map_err(|_| InvalidCursor)?);
        Ok(Cursor {
            occurred_micros: micros,
            id: EntryId::from_u128(id),
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
        }
    }
}
