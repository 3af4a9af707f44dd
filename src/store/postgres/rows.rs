//! How the domain's values are laid out in PostgreSQL columns.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::activity::{Details, Entry, EntryId, Outcome};
use crate::sources::ReplayKey;
use crate::store::{StoreError, StoredDelivery, from_json, to_json};

/// Entry ids as 16 big-endian bytes: byte order is time order.
pub fn id_bytes(id: EntryId) -> Vec<u8> {
    id.as_u128().to_be_bytes().to_vec()
}

pub fn id_from(bytes: &[u8]) -> Result<EntryId, StoreError> {
    let raw: [u8; 16] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("an entry id is not 16 bytes".into()))?;
    Ok(EntryId::from_u128(u128::from_be_bytes(raw)))
}

pub fn hash_from(bytes: &[u8], what: &str) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} is not 32 bytes")))
}

pub fn seq_to_sql(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("seq {seq} is out of range")))
}

pub fn seq_from_sql(seq: i64) -> Result<u64, StoreError> {
    u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("seq {seq} is negative")))
}

/// Receipt times keep nanoseconds, as the embedded backend does (until 2262).
pub fn nanos(at: DateTime<Utc>) -> Result<i64, StoreError> {
    at.timestamp_nanos_opt()
        .ok_or_else(|| StoreError::Corrupt(format!("{at} cannot be stored")))
}

/// A delivery's record as columns (its body is stored apart).
pub struct DeliveryRow {
    pub seq: i64,
    pub source: String,
    pub received_at_nanos: i64,
    pub headers: Vec<u8>,
    pub body_sha256: Vec<u8>,
    pub chain: Vec<u8>,
    pub delivery_id: Option<String>,
    pub replay_key: Option<String>,
    pub outcome: Vec<u8>,
}

impl DeliveryRow {
    pub fn from_delivery(delivery: &StoredDelivery) -> Result<DeliveryRow, StoreError> {
        Ok(DeliveryRow {
            seq: seq_to_sql(delivery.seq)?,
            source: delivery.source.clone(),
            received_at_nanos: nanos(delivery.received_at)?,
            headers: to_json(&delivery.headers)?,
            body_sha256: delivery.body_sha256.to_vec(),
            chain: delivery.chain.to_vec(),
            delivery_id: delivery.delivery_id.clone(),
            replay_key: delivery
                .replay_key
                .as_ref()
                .map(|key| key.to_stored().into_owned()),
            outcome: to_json(&delivery.outcome)?,
        })
    }
}

/// The columns every delivery read selects, in this order (then, optionally, the body).
pub const DELIVERY_COLUMNS: &str = "d.seq, d.source, d.received_at_nanos, d.headers, \
     d.body_sha256, d.chain, d.delivery_id, d.replay_key, d.outcome";

/// A delivery from [`DELIVERY_COLUMNS`], with `body` (column 9) when selected.
pub fn delivery_from(row: &Row, with_body: bool) -> Result<StoredDelivery, StoreError> {
    let seq = seq_from_sql(row.try_get(0)?)?;
    let outcome: Outcome = from_json(row.try_get::<_, &[u8]>(8)?)?;
    Ok(StoredDelivery {
        seq,
        source: row.try_get(1)?,
        received_at: DateTime::from_timestamp_nanos(row.try_get(2)?),
        headers: from_json(row.try_get::<_, &[u8]>(3)?)?,
        body: if with_body { row.try_get(9)? } else { None },
        body_sha256: hash_from(row.try_get(4)?, "a body hash")?,
        chain: hash_from(row.try_get(5)?, "a chain value")?,
        delivery_id: row.try_get(6)?,
        replay_key: row
            .try_get::<_, Option<&str>>(7)?
            .map(ReplayKey::from_stored),
        outcome,
    })
}

/// An entry from its stored JSON, with its email's roll-up when it is an email.
pub fn entry_from(stored: &[u8], status: Option<&[u8]>) -> Result<Entry, StoreError> {
    let mut entry: Entry = from_json(stored)?;
    if matches!(entry.details, Details::Email { .. }) {
        entry.delivery_status = status.map(from_json).transpose()?;
    }
    Ok(entry)
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(err: tokio_postgres::Error) -> Self {
        // The client's errors never carry the connection's password.
        StoreError::Unavailable(format!("PostgreSQL: {err}"))
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        StoreError::Unavailable(format!("PostgreSQL: {err}"))
    }
}
