//! Alert records (see [`crate::store::alert_book`]): name → revision and record, swapped in a
//! short transaction of its own. Not a projection of the log: `reindex` leaves it alone.

use redb::ReadableTable;

use super::files::{Files, ReadTxn, WriteTxn};

use super::tables::ALERTS;
use crate::store::StoreError;
use crate::store::alert_book::{self, AlertRecord, StoredAlert};

pub fn create_table(txn: &WriteTxn<'_>) -> Result<(), StoreError> {
    txn.open_table(ALERTS)?;
    Ok(())
}

pub fn swap(
    db: &Files,
    name: &str,
    expected: Option<u64>,
    record: &AlertRecord,
) -> Result<bool, StoreError> {
    let txn = db.begin_write()?;
    {
        let mut table = txn.open_table(ALERTS)?;
        let current = table.get(name)?.map(|row| row.value().0);
        if current != expected {
            return Ok(false);
        }
        let revision = expected.unwrap_or(0) + 1;
        table.insert(name, (revision, alert_book::encode(record).as_slice()))?;
    }
    txn.commit()?;
    Ok(true)
}

pub fn read(txn: &ReadTxn) -> Result<Vec<StoredAlert>, StoreError> {
    let mut alerts = Vec::new();
    for row in txn.open_table(ALERTS)?.iter()? {
        let (name, value) = row?;
        let (revision, bytes) = value.value();
        alerts.push(StoredAlert {
            name: name.value().to_owned(),
            revision,
            record: alert_book::decode(bytes)?,
        });
    }
    Ok(alerts)
}
