use chrono::TimeZone;
use serde_json::json;

use super::*;

fn ctx() -> CatalogContext<'static> {
    CatalogContext {
        source: "hoops",
        event_id: Some("msg_1"),
        fallback_time: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    }
}

fn event(event_type: &str, data: Value) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"type": event_type, "timestamp": "2026-03-04T15:16:17Z", "data": data}),
    )
    .unwrap()
}

fn one(event_type: &str, data: Value) -> NewEntry {
    let normalized = normalize(&event(event_type, data), &ctx());
    assert_eq!(normalized.outcome, Outcome::Normalized, "{event_type}");
    assert_eq!(normalized.entries.len(), 1);
    normalized.entries.into_iter().next().unwrap()
}

fn job() -> Value {
    json!({"kind": "job", "id": "1042"})
}

#[test]
fn every_catalog_type_becomes_a_typed_entry_in_its_category() {
    let invoice =
        json!({"id": "inv_9", "number": "INV-1001", "total": "1234.50", "currency": "usd"});
    let cases = [
        (
            "job.created",
            json!({"subject": job(), "job": {"id": "1042", "number": 1042, "title": "500 business cards", "customer": "Acme"}}),
            Category::Workflow,
            "Job #1042 created: 500 business cards for Acme",
        ),
        (
            "salesdoc.created",
            json!({"subject": {"kind": "salesdoc", "id": "77"}, "salesdoc": {"id": "77", "number": "Q-77", "doc_type": "quote", "customer": "Acme"}}),
            Category::Workflow,
            "Quote #Q-77 created for Acme",
        ),
        (
            "status.changed",
            json!({"subject": job(), "from": "Proofing", "to": "Printing"}),
            Category::Workflow,
            "Status changed from Proofing to Printing",
        ),
        (
            "artwork.uploaded",
            json!({"subject": job(), "file": {"name": "logo.pdf", "size_bytes": 1_250_000, "content_type": "application/pdf", "url": "https://files.example.com/logo.pdf"}}),
            Category::Workflow,
            "Artwork uploaded: logo.pdf (1.2 MB)",
        ),
        (
            "proof.approved",
            json!({"subject": job(), "proof": {"id": "p1", "version": 2, "name": "Front"}}),
            Category::Workflow,
            "Proof “Front” v2 approved",
        ),
        (
            "proof.rejected",
            json!({"subject": job(), "proof": {"version": 1}, "comment": "Logo is blurry"}),
            Category::Workflow,
            "Proof v1 rejected: “Logo is blurry”",
        ),
        (
            "invoice.created",
            json!({"subject": job(), "invoice": invoice}),
            Category::Accounting,
            "Invoice #INV-1001 created for $1,234.50",
        ),
        (
            "invoice.sent_to_accounting",
            json!({"subject": job(), "invoice": invoice, "platform": "quickbooks", "account_id": "1185883450", "external_id": "130"}),
            Category::Accounting,
            "Invoice #INV-1001 sent to QuickBooks as 130",
        ),
        (
            "invoice.status_changed",
            json!({"subject": job(), "invoice": invoice, "from": "open", "to": "paid"}),
            Category::Accounting,
            "Invoice #INV-1001 changed from open to paid",
        ),
        (
            "payment.recorded",
            json!({"subject": job(), "invoice": invoice, "amount": 500, "currency": "USD", "method": "card"}),
            Category::Accounting,
            "Payment of $500.00 recorded on invoice #INV-1001 by card",
        ),
        (
            "purchase_order.created",
            json!({"subject": job(), "purchase_order": {"number": "PO-5", "vendor": "PaperCo", "total": "99.00", "currency": "USD"}}),
            Category::Purchasing,
            "Purchase order #PO-5 created — PaperCo",
        ),
        (
            "purchase_order.sent",
            json!({"subject": job(), "purchase_order": {"number": "PO-5", "vendor": "PaperCo"}}),
            Category::Purchasing,
            "Purchase order #PO-5 sent to PaperCo",
        ),
        (
            "purchase_order.received",
            json!({"subject": job(), "purchase_order": {"number": "PO-5"}}),
            Category::Purchasing,
            "Purchase order #PO-5 received",
        ),
        (
            "purchase_order.updated",
            json!({"subject": job(), "purchase_order": {"id": "po_5"}}),
            Category::Purchasing,
            "Purchase order po_5 updated",
        ),
        (
            "email.sent",
            json!({"subject": job(), "message": {"message_id": "<a@b>", "provider": "sendgrid", "provider_message_id": "sg1", "from": "shop@example.com", "to": ["ann@acme.test"], "cc": [], "subject": "Your proof is ready", "text": "Hi", "html": "<p>Hi</p>", "sent_at": "2026-03-04T15:16:17Z"}}),
            Category::Communication,
            "Email “Your proof is ready” sent to ann@acme.test",
        ),
        (
            "notification.sent",
            json!({"subject": job(), "channel": "sms", "to": "+15550100", "text": "Ready for pickup"}),
            Category::Communication,
            "SMS notification sent to +15550100: Ready for pickup",
        ),
        (
            "automation.triggered",
            json!({"subject": job(), "rule": {"id": "r1", "name": "Notify on approval"}, "trigger": "proof.approved", "actions": ["send email", {"type": "set_status", "name": "Set status to Printing"}]}),
            Category::Automation,
            "Automation “Notify on approval” ran on proof.approved: send email, Set status to Printing",
        ),
        (
            "user.action",
            json!({"subject": job(), "action": "reopened", "description": "Dana reopened the job"}),
            Category::System,
            "Dana reopened the job",
        ),
        (
            "system.event",
            json!({"subject": job(), "action": "archived"}),
            Category::System,
            "Archived",
        ),
    ];
    let tested: Vec<&str> = cases.iter().map(|case| case.0).collect();
    assert_eq!(
        tested, EVENT_TYPES,
        "the cases are the catalog's types, in its order"
    );
    for (event_type, data, category, summary) in cases {
        let entry = one(event_type, data);
        assert_eq!(entry.kind.as_str(), event_type);
        assert_eq!(entry.category, category, "{event_type}");
        assert_eq!(entry.summary, summary, "{event_type}");
        assert_eq!(entry.subjects.len(), 1);
        assert_eq!(entry.event_id.as_deref(), Some("msg_1"));
        assert_eq!(
            entry.occurred_at,
            Utc.with_ymd_and_hms(2026, 3, 4, 15, 16, 17).unwrap()
        );
        assert!(
            !matches!(entry.details, Details::Generic { .. }),
            "{event_type}"
        );
    }
}

#[test]
fn details_keep_the_typed_fields() {
    let entry = one(
        "status.changed",
        json!({"subject": job(), "from": "A", "to": "B"}),
    );
    assert_eq!(
        entry.details,
        Details::StatusChange {
            from: Some("A".into()),
            to: "B".into()
        }
    );
    let entry = one(
        "email.sent",
        json!({"subject": job(), "message": {"to": ["x@y.z"], "subject": "S", "html": "<b>x</b>"}}),
    );
    let Details::Email { message } = entry.details else {
        panic!("not an email")
    };
    assert_eq!(message.html.as_deref(), Some("<b>x</b>"));
}

#[test]
fn actor_comes_from_data_or_defaults_sensibly() {
    let entry = one(
        "status.changed",
        json!({"subject": job(), "to": "Done", "actor": {"kind": "user", "id": "u7", "name": "Dana"}}),
    );
    assert_eq!(entry.actor.kind, ActorKind::User);
    assert_eq!(entry.actor.name, "Dana");
    let entry = one("status.changed", json!({"subject": job(), "to": "Done"}));
    assert_eq!(entry.actor, Actor::integration("hoops"));
    let entry = one(
        "automation.triggered",
        json!({"subject": job(), "rule": {"id": "r1", "name": "Rule"}}),
    );
    assert_eq!(entry.actor.kind, ActorKind::Automation);
    assert_eq!(entry.actor.name, "Rule");
}

#[test]
fn several_subjects_are_kept_once_each() {
    let data =
        json!({"subjects": [{"kind": "salesdoc", "id": "7"}, job(), job()], "to": "Converted"});
    let entry = one("status.changed", data);
    let keys: Vec<String> = entry.subjects.iter().map(Subject::key).collect();
    assert_eq!(keys, ["job:1042", "salesdoc:7"]);
}

#[test]
fn unknown_types_become_generic_entries() {
    let normalized = normalize(
        &event("job.teleported", json!({"subject": job(), "to": "Mars"})),
        &ctx(),
    );
    assert_eq!(
        normalized.outcome,
        Outcome::UnknownType {
            event_type: "job.teleported".into()
        }
    );
    let entry = &normalized.entries[0];
    assert_eq!(entry.category, Category::System);
    assert!(matches!(&entry.details, Details::Generic { data, .. } if data["to"] == "Mars"));
}

#[test]
fn known_types_with_bad_data_are_kept_and_flagged() {
    let normalized = normalize(
        &event("status.changed", json!({"subject": job(), "from": "A"})),
        &ctx(),
    );
    assert!(matches!(normalized.outcome, Outcome::Malformed { .. }));
    assert!(normalized.outcome.is_flagged());
    assert_eq!(normalized.entries.len(), 1);
}

#[test]
fn unreadable_bodies_are_flagged_without_entries() {
    for body in [
        &b"not json"[..],
        b"{\"type\": 5}",
        b"{\"type\":\"status.changed\",\"data\":{\"to\":\"x\"}}",
        b"[]",
    ] {
        let normalized = normalize(body, &ctx());
        assert!(
            matches!(normalized.outcome, Outcome::Unparseable { .. }),
            "{body:?}"
        );
        assert!(normalized.entries.is_empty());
        assert_eq!(normalized.delivery_id.as_deref(), Some("msg_1"));
    }
}

#[test]
fn missing_or_bad_timestamps_fall_back() {
    let body = br#"{"type":"status.changed","timestamp":"yesterday","data":{"subject":{"kind":"job","id":"1"},"to":"x"}}"#;
    let normalized = normalize(body, &ctx());
    assert_eq!(normalized.entries[0].occurred_at, ctx().fallback_time);
}

#[test]
fn summaries_stay_on_one_line() {
    let entry = one(
        "user.action",
        json!({"subject": job(), "description": format!("line one\nline two {}", "x".repeat(500))}),
    );
    assert!(!entry.summary.contains('\n'));
    assert!(entry.summary.chars().count() <= SUMMARY_MAX_CHARS);
}

#[test]
fn human_sizes() {
    assert_eq!(human_bytes(512), "512 B");
    assert_eq!(human_bytes(1_250_000), "1.2 MB");
    assert_eq!(human_bytes(3_000_000_000), "3.0 GB");
}

#[test]
fn every_listed_type_is_one_the_normalizer_knows() {
    for event_type in EVENT_TYPES {
        // A known type is read (into an entry, or refused as malformed); an unknown one is not.
        assert!(
            !matches!(typed(event_type, &json!({})), Ok(None)),
            "{event_type} is listed but not read"
        );
    }
    assert!(matches!(
        typed("shipment.label_created", &json!({})),
        Ok(None)
    ));
}
