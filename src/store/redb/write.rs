//! The projection primitives on redb's tables (see [`crate::store::project::Tables`]): each
//! one a point read, an insert or a range, inside the caller's write transaction.

use redb::ReadableTable;

use super::records::{decode_delivery, encode_delivery};
use super::tables::{CHAIN_HEAD, TimelineKey, WriteTables, decode_head, encode_head};
use crate::activity::details::DeliveryStatus;
use crate::activity::{Entry, EntryId, Subject};
use crate::store::project::{ChainHead, Lanes, LinkTarget, Tables, Visit};
use crate::store::{StoreError, StoredDelivery, from_json, to_json};
use crate::trust::merkle::Subtree;

/// The ids a delivery's entries can have (see [`EntryId::derive`]).
fn entry_id_range(delivery: &StoredDelivery) -> std::ops::RangeInclusive<u128> {
    let first = EntryId::derive(delivery.received_at, delivery.seq, 0).as_u128();
    let last = EntryId::derive(delivery.received_at, delivery.seq, u16::MAX).as_u128();
    first..=last
}

impl Tables for WriteTables<'_> {
    fn chain_head(&mut self) -> Result<ChainHead, StoreError> {
        match self.meta.get(CHAIN_HEAD)? {
            Some(raw) => decode_head(raw.value()),
            None => Ok(ChainHead::EMPTY),
        }
    }

    fn set_chain_head(&mut self, head: &ChainHead) -> Result<(), StoreError> {
        self.meta.insert(CHAIN_HEAD, encode_head(head).as_slice())?;
        Ok(())
    }

    fn put_subtree(&mut self, subtree: &Subtree) -> Result<(), StoreError> {
        let height = u8::try_from(subtree.height)
            .map_err(|_| StoreError::Corrupt("a subtree taller than 255".into()))?;
        self.subtrees
            .insert((height, subtree.index), subtree.hash)?;
        Ok(())
    }

    fn clear_subtrees(&mut self) -> Result<(), StoreError> {
        self.subtrees.retain(|_, _| false)?;
        Ok(())
    }

    fn put_delivery(
        &mut self,
        delivery: &StoredDelivery,
        body: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        self.deliveries
            .insert(delivery.seq, encode_delivery(delivery)?.as_slice())?;
        if let Some(body) = body {
            self.bodies.insert(delivery.seq, body)?;
        }
        Ok(())
    }

    fn delivery_records_from(
        &mut self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<StoredDelivery>, StoreError> {
        let mut out = Vec::with_capacity(limit.min(1024));
        for item in self.deliveries.range(from..)?.take(limit) {
            out.push(decode_delivery(item?.1.value())?);
        }
        Ok(out)
    }

    fn deliveries_from(
        &mut self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<StoredDelivery>, StoreError> {
        let mut out = self.delivery_records_from(from, limit)?;
        for delivery in &mut out {
            delivery.body = self.bodies.get(delivery.seq)?.map(|b| b.value().to_vec());
        }
        Ok(out)
    }

    fn drop_body(&mut self, seq: u64) -> Result<bool, StoreError> {
        Ok(self.bodies.remove(seq)?.is_some())
    }

    fn flag_delivery(&mut self, seq: u64) -> Result<(), StoreError> {
        self.flagged.insert(seq, ())?;
        Ok(())
    }

    fn unflag_delivery(&mut self, seq: u64) -> Result<(), StoreError> {
        self.flagged.remove(seq)?;
        Ok(())
    }

    fn dedup(&mut self, source: &str, key: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.dedup.get((source, key))?.map(|seq| seq.value()))
    }

    fn put_dedup(&mut self, source: &str, key: &str, seq: u64) -> Result<(), StoreError> {
        self.dedup.insert((source, key), seq)?;
        Ok(())
    }

    fn entry(&mut self, id: EntryId) -> Result<Option<Entry>, StoreError> {
        match self.entries.get(id.as_u128())? {
            Some(raw) => from_json(raw.value()).map(Some),
            None => Ok(None),
        }
    }

    fn put_entry(&mut self, entry: &Entry) -> Result<(), StoreError> {
        self.entries
            .insert(entry.id.as_u128(), to_json(entry)?.as_slice())?;
        Ok(())
    }

    fn delivery_entries(&mut self, delivery: &StoredDelivery) -> Result<Vec<Entry>, StoreError> {
        self.entries
            .range(entry_id_range(delivery))?
            .map(|item| {
                item.map_err(StoreError::from)
                    .and_then(|(_, raw)| from_json(raw.value()))
            })
            .collect()
    }

    fn remove_delivery_entries(&mut self, delivery: &StoredDelivery) -> Result<(), StoreError> {
        self.entries
            .retain_in(entry_id_range(delivery), |_, _| false)?;
        Ok(())
    }

    fn add_to_timeline(
        &mut self,
        subject_key: &str,
        entry: &Entry,
        lane: u8,
    ) -> Result<(), StoreError> {
        self.timelines
            .insert(timeline_row(subject_key, entry, lane), ())?;
        Ok(())
    }

    fn remove_from_timeline(
        &mut self,
        subject_key: &str,
        entry: &Entry,
        lane: u8,
    ) -> Result<(), StoreError> {
        self.timelines
            .remove(timeline_row(subject_key, entry, lane))?;
        Ok(())
    }

    fn unindex_by_time(&mut self, entry: &Entry) -> Result<(), StoreError> {
        self.by_time.remove(time_row(entry))?;
        Ok(())
    }

    fn index_by_time(&mut self, entry: &Entry) -> Result<(), StoreError> {
        self.by_time.insert(time_row(entry), ())?;
        Ok(())
    }

    fn add_change(&mut self, subject_key: &str, seq: u64, id: EntryId) -> Result<(), StoreError> {
        self.changes.insert((subject_key, seq, id.as_u128()), ())?;
        Ok(())
    }

    fn timeline_ids(&mut self, subject: &Subject) -> Result<Vec<EntryId>, StoreError> {
        use super::timelines::{Order, positions};
        use std::ops::Bound::Unbounded;
        let key = subject.key();
        positions(
            &self.timelines,
            &key,
            Lanes::EVERYTHING,
            Unbounded,
            Unbounded,
            Order::OldestFirst,
        )?
        .map(|position| position.map(|(_, id)| EntryId::from_u128(id)))
        .collect()
    }

    fn link(&mut self, key: &str) -> Result<Option<LinkTarget>, StoreError> {
        match self.links.get(key)? {
            Some(raw) => from_json(raw.value()).map(Some),
            None => Ok(None),
        }
    }

    fn put_link(&mut self, key: &str, target: &LinkTarget) -> Result<(), StoreError> {
        self.links.insert(key, to_json(target)?.as_slice())?;
        Ok(())
    }

    fn set_unmatched(&mut self, id: EntryId, unmatched: bool) -> Result<(), StoreError> {
        if unmatched {
            self.unmatched.insert(id.as_u128(), ())?;
        } else {
            self.unmatched.remove(id.as_u128())?;
        }
        Ok(())
    }

    fn is_unmatched(&mut self, id: EntryId) -> Result<bool, StoreError> {
        Ok(self.unmatched.get(id.as_u128())?.is_some())
    }

    fn add_pending(&mut self, key: &str, id: EntryId) -> Result<(), StoreError> {
        self.pending_links.insert((key, id.as_u128()), ())?;
        Ok(())
    }

    fn take_pending(&mut self, key: &str) -> Result<Vec<EntryId>, StoreError> {
        let waiting: Vec<u128> = self
            .pending_links
            .range((key, 0u128)..=(key, u128::MAX))?
            .map(|item| item.map(|(k, _)| k.value().1))
            .collect::<Result<_, _>>()?;
        for id in &waiting {
            self.pending_links.remove((key, *id))?;
        }
        Ok(waiting.into_iter().map(EntryId::from_u128).collect())
    }

    fn email_status(&mut self, email: EntryId) -> Result<Option<DeliveryStatus>, StoreError> {
        match self.email_status.get(email.as_u128())? {
            Some(raw) => from_json(raw.value()).map(Some),
            None => Ok(None),
        }
    }

    fn put_email_status(
        &mut self,
        email: EntryId,
        status: &DeliveryStatus,
    ) -> Result<(), StoreError> {
        self.email_status
            .insert(email.as_u128(), to_json(status)?.as_slice())?;
        Ok(())
    }

    fn clear_projections(&mut self) -> Result<(), StoreError> {
        self.timelines.retain(|_, _| false)?;
        self.changes.retain(|_, _| false)?;
        self.by_time.retain(|_, _| false)?;
        self.dedup.retain(|_, _| false)?;
        self.links.retain(|_, _| false)?;
        self.flagged.retain(|_, _| false)?;
        self.unmatched.retain(|_, _| false)?;
        self.pending_links.retain(|_, _| false)?;
        self.email_status.retain(|_, _| false)?;
        Ok(())
    }

    fn scan_entries(&mut self, visit: Visit<'_, EntryId>) -> Result<(), StoreError> {
        for item in self.entries.iter()? {
            let (id, raw) = item?;
            visit(EntryId::from_u128(id.value()), raw.value())?;
        }
        Ok(())
    }

    fn scan_bodies(&mut self, visit: Visit<'_, u64>) -> Result<(), StoreError> {
        for item in self.bodies.iter()? {
            let (seq, body) = item?;
            visit(seq.value(), body.value())?;
        }
        Ok(())
    }

    fn scan_email_statuses(&mut self, visit: Visit<'_, EntryId>) -> Result<(), StoreError> {
        for item in self.email_status.iter()? {
            let (id, raw) = item?;
            visit(EntryId::from_u128(id.value()), raw.value())?;
        }
        Ok(())
    }
}

/// An entry's row in a subject's timeline (see [`super::tables::TimelineKey`]).
fn timeline_row<'k>(subject_key: &'k str, entry: &Entry, lane: u8) -> TimelineKey<'k> {
    (
        subject_key,
        lane,
        entry.occurred_at.timestamp_micros(),
        entry.id.as_u128(),
    )
}

/// An entry's row in the index by time: (occurred µs, id).
fn time_row(entry: &Entry) -> (i64, u128) {
    (entry.occurred_at.timestamp_micros(), entry.id.as_u128())
}
