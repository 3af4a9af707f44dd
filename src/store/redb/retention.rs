//! Retention: raw bodies older than the configured age are dropped; their sha256 stays in the
//! delivery record, so the integrity chain still verifies, and their entries stay.

use chrono::{DateTime, Utc};
use redb::ReadableTable;

use super::files::Files;

use super::records::decode_delivery;
use super::tables::{BODIES, DELIVERIES};
use crate::store::StoreError;

/// Bodies dropped per write transaction, so the intake writer is never held up for long.
const CHUNK: usize = 1_000;

/// Drops the bodies of deliveries received before `cutoff`, oldest first. Bodies are keyed by
/// seq, which follows receipt order, so the scan stops at the first body young enough to keep.
pub fn prune_bodies(db: &Files, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
    let mut dropped = 0u64;
    loop {
        let txn = db.begin_write()?;
        let (expired, done) = {
            let bodies = txn.open_table(BODIES)?;
            let deliveries = txn.open_table(DELIVERIES)?;
            let mut expired = Vec::with_capacity(CHUNK);
            let mut done = true;
            for item in bodies.iter()? {
                let seq = item?.0.value();
                let received_at = match deliveries.get(seq)? {
                    Some(raw) => decode_delivery(raw.value())?.received_at,
                    None => {
                        return Err(StoreError::Corrupt(format!(
                            "a body without its delivery record (seq {seq})"
                        )));
                    }
                };
                if received_at >= cutoff {
                    break;
                }
                if expired.len() == CHUNK {
                    done = false;
                    break;
                }
                expired.push(seq);
            }
            (expired, done)
        };
        {
            let mut bodies = txn.open_table(BODIES)?;
            for seq in &expired {
                bodies.remove(seq)?;
            }
        }
        txn.commit()?;
        dropped += expired.len() as u64;
        if done {
            return Ok(dropped);
        }
    }
}
