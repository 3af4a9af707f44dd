//! Where alert records live: in the store for rules every gateway on it shares (so a change
//! is notified once between them), in memory for rules about this gateway alone. Both offer
//! the same read and compare-and-swap, so the engine has one set of transitions.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::store::{AlertRecord, ReadSide, StoreError, StoredAlert, WriteSide};

pub trait AlertBook: Send + Sync {
    fn records(&self) -> Result<Vec<StoredAlert>, StoreError>;
    /// Replaces `name`'s record if its revision is still `expected` (`None`: there is none),
    /// storing revision `expected + 1`; false if it was not.
    fn swap(
        &self,
        name: &str,
        expected: Option<u64>,
        record: &AlertRecord,
    ) -> Result<bool, StoreError>;

    fn record(&self, name: &str) -> Result<Option<StoredAlert>, StoreError> {
        Ok(self.records()?.into_iter().find(|alert| alert.name == name))
    }
}

/// The store's records, shared by every gateway on it.
pub struct SharedBook {
    pub read: Arc<dyn ReadSide>,
    pub write: Arc<dyn WriteSide>,
}

impl AlertBook for SharedBook {
    fn records(&self) -> Result<Vec<StoredAlert>, StoreError> {
        self.read.alerts()
    }

    fn swap(
        &self,
        name: &str,
        expected: Option<u64>,
        record: &AlertRecord,
    ) -> Result<bool, StoreError> {
        self.write.swap_alert(name, expected, record)
    }
}

/// This gateway's records, for rules about this gateway (its storage may be the very thing
/// that fails, so they cannot be kept there).
#[derive(Default)]
pub struct LocalBook {
    records: Mutex<BTreeMap<String, (u64, AlertRecord)>>,
}

impl AlertBook for LocalBook {
    fn records(&self) -> Result<Vec<StoredAlert>, StoreError> {
        let records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(records
            .iter()
            .map(|(name, (revision, record))| StoredAlert {
                name: name.clone(),
                revision: *revision,
                record: record.clone(),
            })
            .collect())
    }

    fn swap(
        &self,
        name: &str,
        expected: Option<u64>,
        record: &AlertRecord,
    ) -> Result<bool, StoreError> {
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        let current = records.get(name).map(|(revision, _)| *revision);
        if current != expected {
            return Ok(false);
        }
        let revision = expected.unwrap_or(0) + 1;
        records.insert(name.to_owned(), (revision, record.clone()));
        Ok(true)
    }
}
