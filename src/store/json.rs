//! How entries, links and roll-ups are serialized for storage: JSON, the same bytes on every
//! backend.

use serde::Serialize;

use super::StoreError;

pub fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    // Entries and delivery records run to a few hundred bytes: room for them from the start
    // spares the writer a string of reallocations per record.
    let mut json = Vec::with_capacity(JSON_RECORD_CAPACITY);
    serde_json::to_writer(&mut json, value).map_err(|err| StoreError::Corrupt(err.to_string()))?;
    Ok(json)
}

const JSON_RECORD_CAPACITY: usize = 1024;

pub fn from_json<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(raw).map_err(|err| StoreError::Corrupt(err.to_string()))
}
