//! The catalog as JSON Schema, for the OpenAPI document: the envelope every event shares, and
//! one schema per event type (`event.job.created`, …), so the business app's developers can
//! validate what they send before they send it.
//!
//! What lies inside `data` comes from the structs the normalizer reads it with (their
//! `ToSchema` derives), so a field added to one is in its schema too. The envelope, the
//! subjects and the timestamp are read with lookups rather than structs (see
//! [`super::normalize_value`]), so they are written out here, next to the list of types.

use serde_json::{Value, json};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa::{PartialSchema, ToSchema};

use super::{
    ArtworkUploaded, AutomationTriggered, EVENT_TYPES, EmailSent, InvoiceEvent,
    InvoiceStatusChanged, InvoiceSynced, JobCreated, Note, NotificationSent, PaymentRecorded,
    ProofDecided, PurchaseOrderEvent, RawActor, SalesdocCreated, StatusChanged,
};
use crate::activity::{EntryKind, Subject};

/// The component name of an event type's schema.
pub fn schema_name(event_type: &str) -> String {
    format!("event.{event_type}")
}

/// The schema of what `data` carries beyond subject and actor, with the schemas it refers to;
/// `None` for a type the catalog does not have.
fn data_schema(event_type: &str, referenced: &mut Vec<(String, RefOr<Schema>)>) -> Option<Value> {
    fn of<T: ToSchema>(referenced: &mut Vec<(String, RefOr<Schema>)>) -> RefOr<Schema> {
        T::schemas(referenced);
        T::schema()
    }
    let schema = match event_type {
        "job.created" => of::<JobCreated>(referenced),
        "salesdoc.created" => of::<SalesdocCreated>(referenced),
        "status.changed" => of::<StatusChanged>(referenced),
        "artwork.uploaded" => of::<ArtworkUploaded>(referenced),
        "proof.approved" | "proof.rejected" => of::<ProofDecided>(referenced),
        "invoice.created" => of::<InvoiceEvent>(referenced),
        "invoice.sent_to_accounting" => of::<InvoiceSynced>(referenced),
        "invoice.status_changed" => of::<InvoiceStatusChanged>(referenced),
        "payment.recorded" => of::<PaymentRecorded>(referenced),
        "purchase_order.created"
        | "purchase_order.sent"
        | "purchase_order.received"
        | "purchase_order.updated" => of::<PurchaseOrderEvent>(referenced),
        "email.sent" => of::<EmailSent>(referenced),
        "notification.sent" => of::<NotificationSent>(referenced),
        "automation.triggered" => of::<AutomationTriggered>(referenced),
        "user.action" | "system.event" => of::<Note>(referenced),
        _ => return None,
    };
    serde_json::to_value(schema).ok()
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// The component schemas of the catalog: `CatalogEvent` (any event, known or not),
/// `EventData`, `EventTimestamp`, one `event.{type}` per type of [`EVENT_TYPES`], and every
/// schema they refer to. Each entry is (name, JSON Schema).
pub fn schemas() -> Vec<(String, Value)> {
    let mut referenced = Vec::new();
    RawActor::schemas(&mut referenced);
    referenced.push((RawActor::name().into_owned(), RawActor::schema()));
    Subject::schemas(&mut referenced);
    referenced.push((Subject::name().into_owned(), Subject::schema()));
    referenced.push((EntryKind::name().into_owned(), EntryKind::schema()));

    let mut schemas = vec![
        ("EventTimestamp".to_owned(), timestamp()),
        ("EventData".to_owned(), data()),
        ("CatalogEvent".to_owned(), any_event()),
    ];
    for event_type in EVENT_TYPES {
        let Some(data) = data_schema(event_type, &mut referenced) else {
            continue;
        };
        schemas.push((schema_name(event_type), event(event_type, data)));
    }
    schemas.extend(
        referenced
            .into_iter()
            .filter_map(|(name, schema)| Some((name, serde_json::to_value(schema).ok()?))),
    );
    schemas
}

fn timestamp() -> Value {
    json!({
        "description": "When it happened: RFC 3339 text, or Unix seconds. Without it (or \
            unreadable), the time the delivery was signed is used. Timelines are ordered by it.",
        "oneOf": [
            {"type": "string", "format": "date-time"},
            {"type": "integer"}
        ],
        "examples": ["2026-03-04T15:16:17Z"]
    })
}

/// What every event's `data` carries: the subjects (`subject`, or `subjects` when it concerns
/// several; `subject` wins when both are given) and, usually, the actor.
fn data() -> Value {
    json!({
        "type": "object",
        "description": "What every event's data carries: its job or sales document \
            (`subject`, or `subjects` when it concerns several; `subject` is read when both \
            are given) and usually who did it (`actor`; without one, the source's name is \
            shown). An event without a subject is kept but flagged, and shows on no timeline.",
        "properties": {
            "subject": reference("Subject"),
            "subjects": {"type": "array", "items": reference("Subject"), "minItems": 1},
            "actor": reference("EventActor")
        },
        "anyOf": [{"required": ["subject"]}, {"required": ["subjects"]}]
    })
}

/// Any event, of a type in the catalog or not: an unknown type is kept and shown with its raw
/// data, never refused.
fn any_event() -> Value {
    json!({
        "type": "object",
        "description": "An event as the business app and its automation rules send it to \
            `POST /hooks/{source}` (a `standard-webhooks` or `hmac` source). Each type of the \
            catalog has its own schema (`event.{type}`); an event of another type is kept, \
            shown with its raw data, and counted, never refused.",
        "required": ["type", "data"],
        "properties": {
            "type": reference("EntryKind"),
            "timestamp": reference("EventTimestamp"),
            "data": reference("EventData")
        }
    })
}

/// One type's event: the envelope with its `type`, and its `data`.
fn event(event_type: &str, data: Value) -> Value {
    json!({
        "type": "object",
        "description": format!("The catalog's `{event_type}` event."),
        "required": ["type", "data"],
        "properties": {
            "type": {"type": "string", "const": event_type},
            "timestamp": reference("EventTimestamp"),
            "data": {"allOf": [reference("EventData"), data]}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_type_has_a_schema() {
        let schemas = schemas();
        for event_type in EVENT_TYPES {
            assert!(
                schemas
                    .iter()
                    .any(|(name, _)| *name == schema_name(event_type)),
                "{event_type} has no schema"
            );
        }
    }
}
