//! The event catalog: what the business app and its automation rules send, as
//! `{"type": "...", "timestamp": "<RFC 3339>", "data": {...}}`, turned into typed entries.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::ToSchema;

use super::details::{
    Amount, Details, EmailMessage, FileInfo, InvoiceInfo, JobInfo, ProofDecision, ProofInfo,
    PurchaseOrderAction, PurchaseOrderInfo, RuleInfo, SalesdocInfo, Text,
};
use super::entry::{Actor, ActorKind, Category, EntryKind, NewEntry, one_line};
use super::money;
use super::subject::Subject;
use super::wording::{capitalize, human_bytes, platform_name, readable_name};
use super::{Normalized, Outcome};

/// Summaries are one line on a timeline; longer text lives in the details.
const SUMMARY_MAX_CHARS: usize = 200;

/// What the catalog normalizer needs to know besides the body.
pub struct CatalogContext<'a> {
    /// The configured source name, shown as the actor when the event names none.
    pub source: &'a str,
    /// The delivery's id (`webhook-id`), the dedup key and every entry's event id.
    pub event_id: Option<&'a str>,
    /// When the event carries no usable `timestamp`: the signed send time, else receipt.
    pub fallback_time: DateTime<Utc>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    timestamp: Option<Value>,
    #[serde(default)]
    data: Value,
}

/// Normalizes one catalog event. Never fails: unreadable bodies come back flagged.
pub fn normalize(body: &[u8], ctx: &CatalogContext<'_>) -> Normalized {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => normalize_value(value, ctx),
        Err(err) => {
            let reason = format!("not JSON: {err}");
            Normalized::flagged(
                ctx.event_id.map(str::to_owned),
                Outcome::Unparseable { reason },
            )
        }
    }
}

/// [`normalize`] for a body already parsed as JSON.
pub fn normalize_value(body: Value, ctx: &CatalogContext<'_>) -> Normalized {
    let delivery_id = ctx.event_id.map(str::to_owned);
    let envelope: Envelope = match serde_json::from_value(body) {
        Ok(envelope) => envelope,
        Err(err) => {
            let reason = format!("not a catalog event: {err}");
            return Normalized::flagged(delivery_id, Outcome::Unparseable { reason });
        }
    };
    let subjects = match subjects_of(&envelope.data) {
        Ok(subjects) => subjects,
        Err(reason) => return Normalized::flagged(delivery_id, Outcome::Unparseable { reason }),
    };
    let Some(kind) = EntryKind::new(envelope.event_type.as_str()) else {
        let reason = "the event type is not a dot-delimited name".to_owned();
        return Normalized::flagged(delivery_id, Outcome::Unparseable { reason });
    };
    let occurred_at = envelope
        .timestamp
        .as_ref()
        .and_then(parse_time)
        .unwrap_or(ctx.fallback_time);

    let (typed, outcome) = match typed(&envelope.event_type, &envelope.data) {
        Ok(Some(typed)) => (typed, Outcome::Normalized),
        Ok(None) => (
            generic(&envelope.event_type, &envelope.data),
            Outcome::UnknownType {
                event_type: envelope.event_type.clone(),
            },
        ),
        Err(reason) => (
            generic(&envelope.event_type, &envelope.data),
            Outcome::Malformed { reason },
        ),
    };
    let actor = actor_of(&envelope.data).unwrap_or_else(|| typed.default_actor(ctx.source));
    let entry = NewEntry {
        kind,
        category: typed.category,
        occurred_at,
        actor,
        subjects,
        summary: one_line(&typed.summary, SUMMARY_MAX_CHARS),
        details: typed.details,
        event_id: delivery_id.clone(),
        correlation: Vec::new(),
    };
    Normalized {
        delivery_id,
        entries: vec![entry],
        outcome,
    }
}

/// RFC 3339 text, or Unix seconds as a number.
pub fn parse_time(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(text) => DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        Value::Number(number) => DateTime::from_timestamp(number.as_i64()?, 0),
        _ => None,
    }
}

/// `data.subject` or `data.subjects`: at least one, each valid.
fn subjects_of(data: &Value) -> Result<Vec<Subject>, String> {
    let mut subjects: Vec<Subject> = match (data.get("subject"), data.get("subjects")) {
        (Some(one), _) => vec![parse(one).map_err(|e| format!("data.subject: {e}"))?],
        (None, Some(many)) => parse(many).map_err(|e| format!("data.subjects: {e}"))?,
        (None, None) => return Err("the event names no subject (data.subject)".to_owned()),
    };
    subjects.sort();
    subjects.dedup();
    if subjects.is_empty() {
        return Err("data.subjects is empty".to_owned());
    }
    Ok(subjects)
}

/// Who did it, as an event names them (`data.actor`). An actor that does not fit is left out,
/// and the entry shows a default one instead of refusing the event.
#[derive(Deserialize, ToSchema)]
#[schema(as = EventActor)]
struct RawActor {
    kind: ActorKind,
    id: Option<Text>,
    /// Shown on the timeline; the id, else the kind, when it is missing.
    name: Option<String>,
}

fn actor_of(data: &Value) -> Option<Actor> {
    let raw: RawActor = parse(data.get("actor")?).ok()?;
    let id = raw.id.map(|id| id.0);
    let name = raw
        .name
        .filter(|name| !name.trim().is_empty())
        .or_else(|| id.clone())
        .unwrap_or_else(|| format!("{:?}", raw.kind));
    Some(Actor {
        kind: raw.kind,
        id,
        name: one_line(&name, 80),
    })
}

fn parse<T: DeserializeOwned>(value: &Value) -> Result<T, String> {
    T::deserialize(value).map_err(|err| err.to_string())
}

struct Typed {
    category: Category,
    summary: String,
    details: Details,
}

impl Typed {
    fn new(category: Category, summary: String, details: Details) -> Option<Typed> {
        Some(Typed {
            category,
            summary,
            details,
        })
    }

    /// Who to show when the event names no actor.
    fn default_actor(&self, source: &str) -> Actor {
        match &self.details {
            Details::Automation { rule, .. } => Actor {
                kind: ActorKind::Automation,
                id: rule.id.as_ref().map(|id| id.0.clone()),
                name: one_line(&rule.name, 80),
            },
            _ if self.category == Category::System => Actor::system(),
            _ => Actor::integration(source),
        }
    }
}

fn generic(event_type: &str, data: &Value) -> Typed {
    Typed {
        category: Category::System,
        summary: readable_name(event_type),
        details: Details::Generic {
            event_type: event_type.to_owned(),
            data: data.clone(),
        },
    }
}

/// Every type of the catalog, as [`typed`] reads them; each has a schema in the OpenAPI
/// document ([`schema`]). The catalog's tests hold this list to what `typed` knows.
pub const EVENT_TYPES: [&str; 19] = [
    "job.created",
    "salesdoc.created",
    "status.changed",
    "artwork.uploaded",
    "proof.approved",
    "proof.rejected",
    "invoice.created",
    "invoice.sent_to_accounting",
    "invoice.status_changed",
    "payment.recorded",
    "purchase_order.created",
    "purchase_order.sent",
    "purchase_order.received",
    "purchase_order.updated",
    "email.sent",
    "notification.sent",
    "automation.triggered",
    "user.action",
    "system.event",
];

/// The typed entry for a known event type; `Ok(None)` for a type the catalog does not know.
fn typed(event_type: &str, data: &Value) -> Result<Option<Typed>, String> {
    Ok(match event_type {
        "job.created" => {
            let d: JobCreated = parse(data)?;
            let mut summary = format!("Job {} created", number_label(&d.job.number, &d.job.id));
            append_part(&mut summary, ": ", d.job.title.as_deref());
            append_part(&mut summary, " for ", d.job.customer.as_deref());
            Typed::new(Category::Workflow, summary, Details::Job { job: d.job })
        }
        "salesdoc.created" => {
            let d: SalesdocCreated = parse(data)?;
            let doc = d
                .salesdoc
                .doc_type
                .as_deref()
                .map(capitalize)
                .unwrap_or_else(|| "Sales document".into());
            let mut summary = format!(
                "{doc} {} created",
                number_label(&d.salesdoc.number, &d.salesdoc.id)
            );
            append_part(&mut summary, " for ", d.salesdoc.customer.as_deref());
            Typed::new(
                Category::Workflow,
                summary,
                Details::Salesdoc {
                    salesdoc: d.salesdoc,
                },
            )
        }
        "status.changed" => {
            let d: StatusChanged = parse(data)?;
            let summary = match &d.from {
                Some(from) => format!("Status changed from {from} to {}", d.to),
                None => format!("Status set to {}", d.to),
            };
            Typed::new(
                Category::Workflow,
                summary,
                Details::StatusChange {
                    from: d.from,
                    to: d.to,
                },
            )
        }
        "artwork.uploaded" => {
            let d: ArtworkUploaded = parse(data)?;
            let mut summary = format!("Artwork uploaded: {}", d.file.name);
            if let Some(size) = d.file.size_bytes {
                summary.push_str(&format!(" ({})", human_bytes(size)));
            }
            Typed::new(
                Category::Workflow,
                summary,
                Details::Artwork { file: d.file },
            )
        }
        "proof.approved" | "proof.rejected" => {
            let d: ProofDecided = parse(data)?;
            let decision = if event_type == "proof.approved" {
                ProofDecision::Approved
            } else {
                ProofDecision::Rejected
            };
            let verb = if decision == ProofDecision::Approved {
                "approved"
            } else {
                "rejected"
            };
            let mut summary = format!("{} {verb}", proof_label(&d.proof));
            if let Some(comment) = d.comment.as_deref().filter(|c| !c.trim().is_empty()) {
                summary.push_str(&format!(": “{comment}”"));
            }
            Typed::new(
                Category::Workflow,
                summary,
                Details::Proof {
                    proof: d.proof,
                    decision,
                    comment: d.comment,
                },
            )
        }
        "invoice.created" => {
            let d: InvoiceEvent = parse(data)?;
            let mut summary = format!("{} created", invoice_label(&d.invoice));
            if let Some(total) = &d.invoice.total {
                summary.push_str(&format!(
                    " for {}",
                    money::format(total, d.invoice.currency.as_deref())
                ));
            }
            Typed::new(
                Category::Accounting,
                summary,
                Details::Invoice { invoice: d.invoice },
            )
        }
        "invoice.sent_to_accounting" => {
            let d: InvoiceSynced = parse(data)?;
            let summary = format!(
                "{} sent to {} as {}",
                invoice_label(&d.invoice),
                platform_name(&d.platform),
                d.external_id
            );
            Typed::new(
                Category::Accounting,
                summary,
                Details::AccountingSync {
                    invoice: d.invoice,
                    platform: d.platform,
                    account_id: d.account_id.0,
                    external_id: d.external_id.0,
                },
            )
        }
        "invoice.status_changed" => {
            let d: InvoiceStatusChanged = parse(data)?;
            let summary = match &d.from {
                Some(from) => format!(
                    "{} changed from {from} to {}",
                    invoice_label(&d.invoice),
                    d.to
                ),
                None => format!("{} is now {}", invoice_label(&d.invoice), d.to),
            };
            Typed::new(
                Category::Accounting,
                summary,
                Details::InvoiceStatus {
                    invoice: d.invoice,
                    from: d.from,
                    to: d.to,
                },
            )
        }
        "payment.recorded" => {
            let d: PaymentRecorded = parse(data)?;
            let mut summary = format!(
                "Payment of {} recorded",
                money::format(&d.amount, d.currency.as_deref())
            );
            if let Some(invoice) = &d.invoice {
                summary.push_str(&format!(
                    " on invoice {}",
                    number_label(&invoice.number, &invoice.id)
                ));
            }
            append_part(&mut summary, " by ", d.method.as_deref());
            Typed::new(
                Category::Accounting,
                summary,
                Details::Payment {
                    invoice: d.invoice,
                    amount: d.amount,
                    currency: d.currency,
                    method: d.method,
                },
            )
        }
        "purchase_order.created"
        | "purchase_order.sent"
        | "purchase_order.received"
        | "purchase_order.updated" => {
            let d: PurchaseOrderEvent = parse(data)?;
            let action = match event_type {
                "purchase_order.created" => PurchaseOrderAction::Created,
                "purchase_order.sent" => PurchaseOrderAction::Sent,
                "purchase_order.received" => PurchaseOrderAction::Received,
                _ => PurchaseOrderAction::Updated,
            };
            let po = &d.purchase_order;
            let mut summary = format!(
                "Purchase order {} {}",
                number_label(&po.number, &po.id),
                action.verb()
            );
            let preposition = if action == PurchaseOrderAction::Sent {
                " to "
            } else {
                " — "
            };
            append_part(&mut summary, preposition, po.vendor.as_deref());
            Typed::new(
                Category::Purchasing,
                summary,
                Details::PurchaseOrder {
                    purchase_order: d.purchase_order,
                    action,
                },
            )
        }
        "email.sent" => {
            let d: EmailSent = parse(data)?;
            let subject = d.message.subject.as_deref().unwrap_or("(no subject)");
            let mut summary = format!("Email “{subject}” sent");
            if !d.message.to.is_empty() {
                summary.push_str(&format!(" to {}", d.message.to.join(", ")));
            }
            Typed::new(
                Category::Communication,
                summary,
                Details::Email { message: d.message },
            )
        }
        "notification.sent" => {
            let d: NotificationSent = parse(data)?;
            let mut summary = format!("{} notification sent", channel_name(&d.channel));
            append_part(&mut summary, " to ", d.to.as_deref());
            append_part(&mut summary, ": ", d.text.as_deref());
            Typed::new(
                Category::Communication,
                summary,
                Details::Notification {
                    channel: d.channel,
                    to: d.to,
                    text: d.text,
                },
            )
        }
        "automation.triggered" => {
            let d: AutomationTriggered = parse(data)?;
            let mut summary = format!("Automation “{}” ran", d.rule.name);
            append_part(&mut summary, " on ", d.trigger.as_deref());
            let actions: Vec<String> = d.actions.iter().map(action_label).collect();
            if !actions.is_empty() {
                summary.push_str(&format!(": {}", actions.join(", ")));
            }
            Typed::new(
                Category::Automation,
                summary,
                Details::Automation {
                    rule: d.rule,
                    trigger: d.trigger,
                    actions,
                },
            )
        }
        "user.action" | "system.event" => {
            let d: Note = parse(data)?;
            let summary = d
                .description
                .clone()
                .or_else(|| d.action.as_deref().map(readable_name))
                .unwrap_or_else(|| readable_name(event_type));
            Typed::new(
                Category::System,
                summary,
                Details::Note {
                    action: d.action,
                    description: d.description,
                },
            )
        }
        _ => None,
    })
}

#[derive(Deserialize, ToSchema)]
struct JobCreated {
    job: JobInfo,
}

#[derive(Deserialize, ToSchema)]
struct SalesdocCreated {
    salesdoc: SalesdocInfo,
}

#[derive(Deserialize, ToSchema)]
struct StatusChanged {
    from: Option<String>,
    to: String,
}

#[derive(Deserialize, ToSchema)]
struct ArtworkUploaded {
    file: FileInfo,
}

#[derive(Deserialize, ToSchema)]
struct ProofDecided {
    #[serde(default)]
    proof: ProofInfo,
    comment: Option<String>,
}

#[derive(Deserialize, ToSchema)]
struct InvoiceEvent {
    invoice: InvoiceInfo,
}

#[derive(Deserialize, ToSchema)]
struct InvoiceSynced {
    invoice: InvoiceInfo,
    platform: String,
    account_id: Text,
    external_id: Text,
}

#[derive(Deserialize, ToSchema)]
struct InvoiceStatusChanged {
    invoice: InvoiceInfo,
    from: Option<String>,
    to: String,
}

#[derive(Deserialize, ToSchema)]
struct PaymentRecorded {
    invoice: Option<InvoiceInfo>,
    amount: Amount,
    currency: Option<String>,
    method: Option<String>,
}

#[derive(Deserialize, ToSchema)]
struct PurchaseOrderEvent {
    purchase_order: PurchaseOrderInfo,
}

#[derive(Deserialize, ToSchema)]
struct EmailSent {
    message: EmailMessage,
}

#[derive(Deserialize, ToSchema)]
struct NotificationSent {
    channel: String,
    to: Option<String>,
    text: Option<String>,
}

#[derive(Deserialize, ToSchema)]
struct AutomationTriggered {
    rule: RuleInfo,
    trigger: Option<String>,
    #[serde(default)]
    actions: Vec<Value>,
}

#[derive(Deserialize, ToSchema)]
struct Note {
    action: Option<String>,
    description: Option<String>,
}

fn append_part(summary: &mut String, separator: &str, part: Option<&str>) {
    if let Some(part) = part.map(str::trim).filter(|p| !p.is_empty()) {
        summary.push_str(separator);
        summary.push_str(part);
    }
}

fn number_label(number: &Option<Text>, id: &Option<Text>) -> String {
    match (number, id) {
        (Some(number), _) => format!("#{number}"),
        (None, Some(id)) => id.0.clone(),
        (None, None) => "(no number)".to_owned(),
    }
}

fn invoice_label(invoice: &InvoiceInfo) -> String {
    format!("Invoice {}", number_label(&invoice.number, &invoice.id))
}

fn proof_label(proof: &ProofInfo) -> String {
    match (&proof.name, &proof.version) {
        (Some(name), Some(version)) => format!("Proof “{name}” v{version}"),
        (Some(name), None) => format!("Proof “{name}”"),
        (None, Some(version)) => format!("Proof v{version}"),
        (None, None) => "Proof".to_owned(),
    }
}

fn channel_name(channel: &str) -> String {
    match channel.to_ascii_lowercase().as_str() {
        "sms" => "SMS".to_owned(),
        "in_app" => "In-app".to_owned(),
        other => capitalize(other),
    }
}

/// An automation action as one short label: a string as is, an object by its name or type.
fn action_label(action: &Value) -> String {
    match action {
        Value::String(text) => one_line(text, 80),
        Value::Object(fields) => ["name", "description", "type", "action"]
            .iter()
            .find_map(|key| fields.get(*key).and_then(Value::as_str))
            .map(|label| one_line(label, 80))
            .unwrap_or_else(|| "action".to_owned()),
        other => one_line(&other.to_string(), 80),
    }
}

pub mod schema;

#[cfg(test)]
mod tests;
