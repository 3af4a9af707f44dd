//! View models: entries turned into exactly what the templates show. Every value here is plain
//! text that the templates escape, except `EmailView::html`, which [`super::email_html`] has
//! sanitized. Templates render in strict mode, so every field a template names exists here
//! (absent values are `null`, never missing).

use std::cell::Cell;
use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::Serialize;

use super::email_html;
use super::format::{self, TimeView};
use crate::activity::details::{
    AccountingEvent, DeliveryStatus, EmailEvent, EmailMessage, EmailStatus, InvoiceInfo, JobInfo,
    ProofDecision, SalesdocInfo, Text,
};
use crate::activity::money;
use crate::activity::occurred::PLAUSIBLE_RANGE_TEXT;
use crate::activity::severity;
use crate::activity::wording::{capitalize, human_bytes, platform_name, readable_name};
use crate::activity::{ActorKind, Category, Details, Entry, EntryFlag, Subject, SubjectKind};

/// The clock and calendar a page is rendered with, tracking what was read from them: every
/// relative time and day heading shown is remembered, so a rendered page knows when its text
/// would first read differently ([`TrackedClock::fresh_until`]).
#[derive(Debug, Clone)]
pub struct TrackedClock {
    pub now: DateTime<Utc>,
    pub zone: Tz,
    fresh_until: Cell<DateTime<Utc>>,
}

impl TrackedClock {
    pub fn new(now: DateTime<Utc>, zone: Tz) -> TrackedClock {
        TrackedClock {
            now,
            zone,
            // Day headings (`Today`, `Yesterday`) turn at local midnight.
            fresh_until: Cell::new(format::next_local_midnight(now, zone)),
        }
    }

    pub fn time(&self, at: DateTime<Utc>) -> TimeView {
        let changes = format::relative_time_changes_at(at, self.now, self.zone);
        self.fresh_until.set(self.fresh_until.get().min(changes));
        TimeView::new(at, self.now, self.zone)
    }

    /// Until when everything read from this clock so far still reads the same.
    pub fn fresh_until(&self) -> DateTime<Utc> {
        self.fresh_until.get()
    }

    fn today(&self) -> NaiveDate {
        format::local_date(self.now, self.zone)
    }
}

/// The entries of one local day, newest first.
#[derive(Debug, Serialize)]
pub struct DayGroup {
    /// `2026-03-04`.
    pub date: String,
    /// `Today`, `Yesterday`, `Wednesday, March 4`.
    pub heading: String,
    pub entries: Vec<EntryView>,
}

/// Groups entries (already newest first) by their local day. The day is that of
/// `occurred_at`, or of the receipt when `by_receipt` (the home page lists by receipt).
pub fn group_by_day(entries: Vec<Entry>, clock: &TrackedClock, by_receipt: bool) -> Vec<DayGroup> {
    let today = clock.today();
    let mut groups: Vec<DayGroup> = Vec::new();
    for entry in entries {
        let at = if by_receipt {
            entry.received_at
        } else {
            entry.occurred_at
        };
        let day = format::local_date(at, clock.zone);
        let date = day.format("%Y-%m-%d").to_string();
        let view = EntryView::new(entry, clock, by_receipt);
        match groups.last_mut() {
            Some(group) if group.date == date => group.entries.push(view),
            _ => groups.push(DayGroup {
                date,
                heading: format::day_heading(day, today),
                entries: vec![view],
            }),
        }
    }
    groups
}

/// One line of a timeline, and what its `<details>` shows.
#[derive(Debug, Serialize)]
pub struct EntryView {
    pub id: String,
    pub kind: String,
    pub category: &'static str,
    pub category_label: &'static str,
    pub summary: String,
    pub actor: ActorView,
    pub time: TimeView,
    pub subjects: Vec<SubjectLink>,
    /// The template of the detail (`details/email`) and its data.
    pub detail: DetailView,
    pub source: SourceView,
    /// A mark beside the time, and a note in the detail, when the entry is flagged.
    pub flag: Option<FlagView>,
    /// How it went, at a glance: bounced, approved, at risk…
    pub mark: Option<MarkView>,
}

/// An entry's [`severity::Mark`] as a line shows it: an icon and a word, in the tone's colour.
#[derive(Debug, Serialize)]
pub struct MarkView {
    /// bad, good, watch, neutral: picks the colour.
    pub tone: &'static str,
    pub glyph: &'static str,
    pub word: &'static str,
}

impl MarkView {
    fn new(mark: severity::Mark) -> MarkView {
        let (tone, glyph) = match mark.tone {
            severity::Tone::Bad => ("bad", "✕"),
            severity::Tone::Good => ("good", "✓"),
            severity::Tone::Watch => ("watch", "!"),
            severity::Tone::Neutral => ("neutral", "•"),
        };
        MarkView {
            tone,
            glyph,
            word: mark.word,
        }
    }
}

/// What a flagged entry says about itself.
#[derive(Debug, Serialize)]
pub struct FlagView {
    /// Short, beside the time: `Time not used`.
    pub label: &'static str,
    /// The whole story, in the detail and on hover.
    pub note: String,
}

impl FlagView {
    fn new(flag: EntryFlag) -> FlagView {
        match flag {
            EntryFlag::OccurredAtOutOfRange {
                claimed_occurred_at,
            } => FlagView {
                label: "Time not used",
                note: format!(
                    "The event says it happened at {claimed_occurred_at}, outside the times an \
                     entry can plausibly have ({PLAUSIBLE_RANGE_TEXT}), so it is shown when it \
                     was received."
                ),
            },
        }
    }
}

impl EntryView {
    pub fn new(entry: Entry, clock: &TrackedClock, by_receipt: bool) -> EntryView {
        let time = clock.time(if by_receipt {
            entry.received_at
        } else {
            entry.occurred_at
        });
        let mark = severity::mark(&entry).map(MarkView::new);
        EntryView {
            mark,
            id: entry.id.to_string(),
            kind: entry.kind.to_string(),
            category: entry.category.as_str(),
            category_label: category_label(entry.category),
            actor: ActorView {
                name: entry.actor.name,
                kind: actor_kind(entry.actor.kind),
            },
            time,
            subjects: entry.subjects.iter().map(SubjectLink::new).collect(),
            source: SourceView {
                name: entry.source.name,
                event_id: entry.source.event_id,
                delivery_seq: entry.source.delivery_seq,
                entry_href: format!("/api/v1/entries/{}", entry.id),
                received: clock.time(entry.received_at),
            },
            detail: DetailView::new(entry.details, entry.delivery_status, clock),
            summary: entry.summary,
            flag: entry.flag.map(FlagView::new),
        }
    }
}

pub fn category_label(category: Category) -> &'static str {
    match category {
        Category::Workflow => "Workflow",
        Category::Communication => "Communication",
        Category::Accounting => "Accounting",
        Category::Purchasing => "Purchasing",
        Category::Automation => "Automation",
        Category::System => "System",
    }
}

fn actor_kind(kind: ActorKind) -> &'static str {
    match kind {
        ActorKind::User => "staff",
        ActorKind::Customer => "customer",
        ActorKind::Automation => "automation",
        ActorKind::Integration => "integration",
        ActorKind::System => "system",
    }
}

#[derive(Debug, Serialize)]
pub struct ActorView {
    pub name: String,
    /// staff, customer, automation, integration, system.
    pub kind: &'static str,
}

#[derive(Debug, Serialize)]
pub struct SourceView {
    pub name: String,
    pub event_id: Option<String>,
    pub delivery_seq: u64,
    pub entry_href: String,
    pub received: TimeView,
}

/// A link to a subject's timeline page.
#[derive(Debug, Clone, Serialize)]
pub struct SubjectLink {
    /// `Job #1042`, `Quote #Q-2291` once [named](SubjectLink::name).
    pub label: String,
    /// `/jobs/1042`, the id percent-encoded.
    pub href: String,
    #[serde(skip)]
    pub subject: Subject,
}

/// What a path segment may not carry unencoded (the id is the business app's, and may hold
/// anything but control characters).
const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']');

/// For query values: everything but unreserved characters.
const QUERY_VALUE: &AsciiSet = &PATH_SEGMENT
    .add(b'&')
    .add(b'=')
    .add(b'+')
    .add(b';')
    .add(b',')
    .add(b':')
    .add(b'@')
    .add(b'$')
    .add(b'!')
    .add(b'\'')
    .add(b'(')
    .add(b')')
    .add(b'*');

pub fn encode_query_value(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

impl SubjectLink {
    /// A link labelled from the subject alone (`Sales document #Q-7`) until it is named.
    pub fn new(subject: &Subject) -> SubjectLink {
        SubjectLink {
            label: subject_name(subject, None),
            href: subject_path(subject),
            subject: subject.clone(),
        }
    }

    /// Labels the link as the subject's page is headed, from its origin.
    pub fn name(&mut self, origin: Option<&Entry>) {
        self.label = subject_name(&self.subject, origin);
    }
}

/// Names every subject link in `days` as its page is headed, asking `origin_of` once per
/// subject: a page of entries costs one origin lookup per distinct subject on it.
pub fn name_subject_links<E>(
    days: &mut [DayGroup],
    mut origin_of: impl FnMut(&Subject) -> Result<Option<Entry>, E>,
) -> Result<(), E> {
    let mut names: HashMap<Subject, String> = HashMap::new();
    for link in days
        .iter_mut()
        .flat_map(|day| day.entries.iter_mut())
        .flat_map(|entry| entry.subjects.iter_mut())
    {
        if let Some(name) = names.get(&link.subject) {
            link.label.clone_from(name);
            continue;
        }
        link.name(origin_of(&link.subject)?.as_ref());
        names.insert(link.subject.clone(), link.label.clone());
    }
    Ok(())
}

pub fn kind_label(kind: SubjectKind) -> &'static str {
    match kind {
        SubjectKind::Job => "Job",
        SubjectKind::Salesdoc => "Sales document",
    }
}

/// `/jobs/1042`.
pub fn subject_path(subject: &Subject) -> String {
    format!(
        "/{}/{}",
        subject.kind().plural(),
        utf8_percent_encode(subject.id(), PATH_SEGMENT)
    )
}

/// Where a subject's live timeline streams from (see `crate::http::live`).
pub fn subject_stream_path(subject: &Subject) -> String {
    format!(
        "/api/v1/subjects/{}/{}/stream",
        subject.kind().as_str(),
        utf8_percent_encode(subject.id(), PATH_SEGMENT)
    )
}

/// The detail of an entry, tagged with the partial that renders it.
#[derive(Debug, Serialize)]
#[serde(tag = "partial", content = "data")]
pub enum DetailView {
    #[serde(rename = "details/job")]
    Job(JobView),
    #[serde(rename = "details/salesdoc")]
    Salesdoc(SalesdocView),
    #[serde(rename = "details/status")]
    Status(ChangeView),
    #[serde(rename = "details/artwork")]
    Artwork(ArtworkView),
    #[serde(rename = "details/proof")]
    Proof(ProofView),
    #[serde(rename = "details/invoice")]
    Invoice(InvoiceView),
    #[serde(rename = "details/accounting_sync")]
    AccountingSync(AccountingSyncView),
    #[serde(rename = "details/payment")]
    Payment(PaymentView),
    #[serde(rename = "details/purchase_order")]
    PurchaseOrder(PurchaseOrderView),
    #[serde(rename = "details/email")]
    Email(Box<EmailView>),
    #[serde(rename = "details/notification")]
    Notification(NotificationView),
    #[serde(rename = "details/automation")]
    Automation(AutomationView),
    #[serde(rename = "details/note")]
    Note(NoteView),
    #[serde(rename = "details/email_event")]
    EmailEvent(EmailEventView),
    #[serde(rename = "details/accounting_event")]
    AccountingEvent(AccountingEventView),
    #[serde(rename = "details/generic")]
    Generic(GenericView),
}

fn text_of(value: &Option<Text>) -> Option<String> {
    value.as_ref().map(|text| text.0.clone())
}

impl DetailView {
    fn new(details: Details, delivery: Option<DeliveryStatus>, clock: &TrackedClock) -> DetailView {
        match details {
            Details::Job { job } => DetailView::Job(JobView {
                number: text_of(&job.number).or_else(|| text_of(&job.id)),
                title: job.title,
                customer: job.customer,
                more: job
                    .more
                    .into_iter()
                    .filter_map(|(key, value)| Fact::of(&key, &value))
                    .collect(),
            }),
            Details::Salesdoc { salesdoc } => DetailView::Salesdoc(SalesdocView {
                number: text_of(&salesdoc.number).or_else(|| text_of(&salesdoc.id)),
                doc_type: salesdoc.doc_type,
                customer: salesdoc.customer,
            }),
            Details::StatusChange { from, to } => DetailView::Status(ChangeView {
                invoice: None,
                from,
                to,
            }),
            Details::InvoiceStatus { invoice, from, to } => DetailView::Status(ChangeView {
                invoice: Some(InvoiceView::new(&invoice)),
                from,
                to,
            }),
            Details::Artwork { file } => DetailView::Artwork(ArtworkView {
                size: file.size_bytes.map(human_bytes),
                content_type: file.content_type,
                url: file.url.map(|url| url.as_str().to_owned()),
                name: file.name,
            }),
            Details::Proof {
                proof,
                decision,
                comment,
            } => DetailView::Proof(ProofView {
                name: proof.name,
                version: text_of(&proof.version),
                approved: decision == ProofDecision::Approved,
                decision: match decision {
                    ProofDecision::Approved => "Approved",
                    ProofDecision::Rejected => "Rejected",
                },
                comment: comment.filter(|c| !c.trim().is_empty()),
            }),
            Details::Invoice { invoice } => DetailView::Invoice(InvoiceView::new(&invoice)),
            Details::AccountingSync {
                invoice,
                platform,
                account_id,
                external_id,
            } => DetailView::AccountingSync(AccountingSyncView {
                invoice: InvoiceView::new(&invoice),
                platform: platform_name(&platform),
                account_id,
                external_id,
            }),
            Details::Payment {
                invoice,
                amount,
                currency,
                method,
            } => DetailView::Payment(PaymentView {
                amount: money::format(&amount, currency.as_deref()),
                method,
                invoice: invoice.as_ref().map(InvoiceView::new),
            }),
            Details::PurchaseOrder {
                purchase_order: po,
                action,
            } => DetailView::PurchaseOrder(PurchaseOrderView {
                number: text_of(&po.number).or_else(|| text_of(&po.id)),
                vendor: po.vendor,
                total: po
                    .total
                    .as_ref()
                    .map(|total| money::format(total, po.currency.as_deref())),
                action: action.verb(),
            }),
            Details::Email { message } => {
                DetailView::Email(Box::new(EmailView::new(message, delivery, clock)))
            }
            Details::Notification { channel, to, text } => {
                DetailView::Notification(NotificationView { channel, to, text })
            }
            Details::Automation {
                rule,
                trigger,
                actions,
            } => DetailView::Automation(AutomationView {
                rule: rule.name,
                rule_id: text_of(&rule.id),
                trigger,
                actions,
            }),
            Details::Note {
                action,
                description,
            } => DetailView::Note(NoteView {
                action,
                description,
            }),
            Details::EmailEvent { event } => DetailView::EmailEvent(EmailEventView::new(event)),
            Details::AccountingEvent { event } => {
                DetailView::AccountingEvent(AccountingEventView::new(event))
            }
            Details::Generic { event_type, data } => DetailView::Generic(GenericView {
                json: serde_json::to_string_pretty(&data).unwrap_or_else(|_| data.to_string()),
                event_type,
            }),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct JobView {
    pub number: Option<String>,
    pub title: Option<String>,
    pub customer: Option<String>,
    /// Everything else the event said about the job.
    pub more: Vec<Fact>,
}

/// One thing an event said that has no place of its own: its name in words, and its value.
#[derive(Debug, Serialize)]
pub struct Fact {
    pub label: String,
    pub value: String,
}

impl Fact {
    /// Text as it came; numbers and yes/no as written; lists and objects as compact JSON.
    /// Nothing for an empty value.
    fn of(key: &str, value: &serde_json::Value) -> Option<Fact> {
        use serde_json::Value;
        let value = match value {
            Value::Null => return None,
            Value::String(text) if text.trim().is_empty() => return None,
            Value::String(text) => text.clone(),
            Value::Bool(yes) => if *yes { "Yes" } else { "No" }.to_owned(),
            other => other.to_string(),
        };
        Some(Fact {
            label: readable_name(key),
            value,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct SalesdocView {
    pub number: Option<String>,
    pub doc_type: Option<String>,
    pub customer: Option<String>,
}

/// A status change, of the job/salesdoc or (with `invoice`) of an invoice.
#[derive(Debug, Serialize)]
pub struct ChangeView {
    pub invoice: Option<InvoiceView>,
    pub from: Option<String>,
    pub to: String,
}

#[derive(Debug, Serialize)]
pub struct ArtworkView {
    pub name: String,
    pub size: Option<String>,
    pub content_type: Option<String>,
    /// Only ever an http(s) URL ([`crate::activity::details::SafeUrl`]).
    pub url: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ProofView {
    pub name: Option<String>,
    pub version: Option<String>,
    pub decision: &'static str,
    pub approved: bool,
    pub comment: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct InvoiceView {
    pub number: Option<String>,
    /// Formatted in its currency: `$1,234.50`.
    pub total: Option<String>,
}

impl InvoiceView {
    fn new(invoice: &InvoiceInfo) -> InvoiceView {
        InvoiceView {
            number: text_of(&invoice.number).or_else(|| text_of(&invoice.id)),
            total: invoice
                .total
                .as_ref()
                .map(|total| money::format(total, invoice.currency.as_deref())),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AccountingSyncView {
    pub invoice: InvoiceView,
    pub platform: String,
    pub account_id: String,
    pub external_id: String,
}

#[derive(Debug, Serialize)]
pub struct PaymentView {
    pub amount: String,
    pub method: Option<String>,
    pub invoice: Option<InvoiceView>,
}

#[derive(Debug, Serialize)]
pub struct PurchaseOrderView {
    pub number: Option<String>,
    pub vendor: Option<String>,
    pub total: Option<String>,
    pub action: &'static str,
}

#[derive(Debug, Serialize)]
pub struct EmailView {
    pub subject: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub cc: Option<String>,
    pub bcc: Option<String>,
    pub sent: Option<TimeView>,
    pub provider: Option<String>,
    pub message_id: Option<String>,
    /// Sanitized ([`email_html::clean`]): the one value templates output unescaped.
    pub html: Option<String>,
    pub text: Option<String>,
    pub images_removed: usize,
    pub delivery: Option<DeliveryView>,
    pub attachments: Vec<AttachmentView>,
}

/// A file sent with an email: its name and size as people read them.
#[derive(Debug, Serialize)]
pub struct AttachmentView {
    pub name: String,
    pub size: Option<String>,
}

/// Email providers as their own brands spell them.
fn provider_name(provider: &str) -> String {
    match provider.to_ascii_lowercase().as_str() {
        "sendgrid" => "SendGrid".to_owned(),
        "mailgun" => "Mailgun".to_owned(),
        "postmark" => "Postmark".to_owned(),
        "resend" => "Resend".to_owned(),
        "ses" | "amazon_ses" => "Amazon SES".to_owned(),
        _ => provider.to_owned(),
    }
}

fn join(addresses: Vec<String>) -> Option<String> {
    (!addresses.is_empty()).then(|| addresses.join(", "))
}

impl EmailView {
    fn new(
        message: EmailMessage,
        delivery: Option<DeliveryStatus>,
        clock: &TrackedClock,
    ) -> EmailView {
        let clean = message
            .html
            .as_deref()
            .filter(|html| !html.trim().is_empty())
            .map(email_html::clean);
        let attachments = message
            .attachments
            .into_iter()
            .map(|file| AttachmentView {
                name: file
                    .name
                    .filter(|name| !name.trim().is_empty())
                    .unwrap_or_else(|| "(unnamed file)".to_owned()),
                size: file.size_bytes.map(human_bytes),
            })
            .collect();
        EmailView {
            attachments,
            subject: message.subject,
            from: message.from,
            to: join(message.to),
            cc: join(message.cc),
            bcc: join(message.bcc),
            sent: message.sent_at.map(|at| clock.time(at)),
            provider: message.provider.as_deref().map(provider_name),
            message_id: message.message_id,
            images_removed: clean.as_ref().map_or(0, |c| c.images_removed),
            html: clean.map(|c| c.html),
            text: message.text.filter(|text| !text.trim().is_empty()),
            delivery: delivery
                .filter(|d| !d.history.is_empty())
                .map(|d| DeliveryView::new(d, clock)),
        }
    }
}

/// An email's delivery status: the furthest reached, and every callback.
#[derive(Debug, Serialize)]
pub struct DeliveryView {
    pub current: Option<StatusBadge>,
    pub history: Vec<StatusUpdateView>,
}

impl DeliveryView {
    fn new(status: DeliveryStatus, clock: &TrackedClock) -> DeliveryView {
        DeliveryView {
            current: status.current.map(StatusBadge::new),
            history: status
                .history
                .into_iter()
                .map(|update| StatusUpdateView {
                    status: StatusBadge::new(update.status),
                    at: clock.time(update.at),
                    provider: provider_name(&update.provider),
                    recipient: update.recipient,
                    reason: update.reason,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct StatusUpdateView {
    pub status: StatusBadge,
    pub at: TimeView,
    pub provider: String,
    pub recipient: Option<String>,
    pub reason: Option<String>,
}

/// An email status with the tone it is shown in.
#[derive(Debug, Serialize)]
pub struct StatusBadge {
    pub label: &'static str,
    /// good, bad, neutral: picks the badge colour.
    pub tone: &'static str,
}

impl StatusBadge {
    fn new(status: EmailStatus) -> StatusBadge {
        let tone = match status {
            EmailStatus::Delivered | EmailStatus::Opened | EmailStatus::Clicked => "good",
            EmailStatus::Bounced
            | EmailStatus::Dropped
            | EmailStatus::SpamReport
            | EmailStatus::Unsubscribed => "bad",
            EmailStatus::Processed | EmailStatus::Deferred | EmailStatus::Resubscribed => "neutral",
        };
        StatusBadge {
            label: status.label(),
            tone,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct NotificationView {
    pub channel: String,
    pub to: Option<String>,
    pub text: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct AutomationView {
    pub rule: String,
    pub rule_id: Option<String>,
    pub trigger: Option<String>,
    pub actions: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct NoteView {
    pub action: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct EmailEventView {
    pub provider: String,
    pub status: StatusBadge,
    pub provider_event: String,
    pub recipient: Option<String>,
    pub subject: Option<String>,
    pub reason: Option<String>,
    /// The link clicked; only ever http(s).
    pub url: Option<String>,
    pub provider_message_id: Option<String>,
    pub message_id: Option<String>,
}

impl EmailEventView {
    fn new(event: EmailEvent) -> EmailEventView {
        EmailEventView {
            provider: provider_name(&event.provider),
            status: StatusBadge::new(event.status),
            provider_event: event.provider_event,
            recipient: event.recipient,
            subject: event.subject,
            reason: event.reason,
            url: event.url.map(|url| url.as_str().to_owned()),
            provider_message_id: event.provider_message_id,
            message_id: event.message_id,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AccountingEventView {
    pub platform: String,
    pub account_id: Option<String>,
    pub entity: String,
    pub entity_id: String,
    pub operation: String,
    pub number: Option<String>,
    pub amount: Option<String>,
    pub status: Option<String>,
}

impl AccountingEventView {
    fn new(event: AccountingEvent) -> AccountingEventView {
        AccountingEventView {
            platform: platform_name(&event.platform),
            account_id: event.account_id,
            entity: event.entity,
            entity_id: event.entity_id,
            operation: event.operation,
            number: event.number,
            amount: event
                .amount
                .as_ref()
                .map(|amount| money::format(amount, event.currency.as_deref())),
            status: event.status,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct GenericView {
    pub event_type: String,
    /// The raw data, pretty-printed.
    pub json: String,
}

/// The event that created a subject, when its origin (its first entry) is that: a
/// `job.created` for a job, a `salesdoc.created` for a sales document. Another kind's creation
/// (the job made from this quote, which concerns both) says nothing about this one.
enum Creation<'a> {
    Job(&'a JobInfo),
    Salesdoc(&'a SalesdocInfo),
}

impl<'a> Creation<'a> {
    fn of(subject: &Subject, origin: Option<&'a Entry>) -> Option<Creation<'a>> {
        match (subject.kind(), &origin?.details) {
            (SubjectKind::Job, Details::Job { job }) => Some(Creation::Job(job)),
            (SubjectKind::Salesdoc, Details::Salesdoc { salesdoc }) => {
                Some(Creation::Salesdoc(salesdoc))
            }
            _ => None,
        }
    }
}

/// What a subject is called everywhere — its page's heading and every link to it: `Job #1042`,
/// `Quote #Q-2291`. The number and the document's type come from its creation when that is
/// its origin; else the kind and the id.
pub fn subject_name(subject: &Subject, origin: Option<&Entry>) -> String {
    let kind = kind_label(subject.kind());
    let (kind, number) = match Creation::of(subject, origin) {
        Some(Creation::Job(job)) => (kind.to_owned(), job.number.as_ref()),
        Some(Creation::Salesdoc(salesdoc)) => (
            salesdoc
                .doc_type
                .as_deref()
                .map(str::trim)
                .filter(|doc_type| !doc_type.is_empty())
                .map_or_else(|| kind.to_owned(), capitalize),
            salesdoc.number.as_ref(),
        ),
        None => (kind.to_owned(), None),
    };
    let number = number
        .map(|number| number.0.trim())
        .filter(|number| !number.is_empty())
        .unwrap_or(subject.id());
    format!("{kind} #{number}")
}

/// How a timeline is titled: from its first entry when that is the `job.created` or
/// `salesdoc.created` (`Job #1042`, "Business cards · Acme Print Co."), else from the id.
#[derive(Debug, Serialize)]
pub struct SubjectHeading {
    kind_label: &'static str,
    heading: String,
    subtitle: Option<String>,
}

impl SubjectHeading {
    pub fn new(subject: &Subject, origin: &Entry) -> SubjectHeading {
        let joined = |parts: [Option<&String>; 2]| {
            let parts: Vec<&str> = parts
                .into_iter()
                .flatten()
                .map(|part| part.trim())
                .filter(|part| !part.is_empty())
                .collect();
            (!parts.is_empty()).then(|| parts.join(" · "))
        };
        let subtitle = match Creation::of(subject, Some(origin)) {
            Some(Creation::Job(job)) => joined([job.title.as_ref(), job.customer.as_ref()]),
            Some(Creation::Salesdoc(salesdoc)) => joined([salesdoc.customer.as_ref(), None]),
            None => None,
        };
        SubjectHeading {
            kind_label: kind_label(subject.kind()),
            heading: subject_name(subject, Some(origin)),
            subtitle,
        }
    }

    /// The page's title: the heading, and the subtitle after a dash when there is one.
    pub fn page_title(&self) -> String {
        match &self.subtitle {
            Some(subtitle) => format!("{} — {subtitle}", self.heading),
            None => self.heading.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::activity::catalog::{self, CatalogContext};
    use crate::activity::{EntryId, SourceRef};

    /// The one entry the catalog makes of `event_type` with `data`, as a page shows it.
    fn shown(event_type: &str, data: serde_json::Value) -> EntryView {
        let received = Utc.with_ymd_and_hms(2026, 3, 4, 15, 0, 0).unwrap();
        EntryView::new(
            made(event_type, data),
            &TrackedClock::new(received, Tz::UTC),
            false,
        )
    }

    /// The one entry the catalog makes of `event_type` with `data`.
    fn made(event_type: &str, data: serde_json::Value) -> Entry {
        let received = Utc.with_ymd_and_hms(2026, 3, 4, 15, 0, 0).unwrap();
        let body = json!({"type": event_type, "timestamp": "2026-03-04T14:00:00Z", "data": data});
        let context = CatalogContext {
            source: "hoops",
            event_id: Some("msg_1"),
            fallback_time: received,
        };
        let normalized = catalog::normalize_value(body, &context);
        let [new] = <[_; 1]>::try_from(normalized.entries).unwrap();
        let source = SourceRef {
            name: "hoops".to_owned(),
            event_id: None,
            delivery_seq: 1,
        };
        Entry::from_new(new, EntryId::derive(received, 1, 0), received, source)
    }

    #[test]
    fn an_email_lists_its_attachments_and_a_line_shows_how_it_went() {
        let email = shown(
            "email.sent",
            json!({"subject": {"kind": "job", "id": "1042"},
                   "message": {"subject": "Your proof", "to": ["maria@acme.example"],
                               "attachments": [{"filename": "proof-v2.pdf", "size": 2_400_000},
                                               {"name": "", "content_type": "image/png"}]}}),
        );
        assert!(email.mark.is_none(), "no delivery news yet");
        let DetailView::Email(detail) = email.detail else {
            panic!("not an email")
        };
        let files: Vec<(&str, Option<&str>)> = detail
            .attachments
            .iter()
            .map(|file| (file.name.as_str(), file.size.as_deref()))
            .collect();
        assert_eq!(
            files,
            [("proof-v2.pdf", Some("2.4 MB")), ("(unnamed file)", None)]
        );
        let rejected = shown(
            "proof.rejected",
            json!({"subject": {"kind": "job", "id": "1042"}, "proof": {"name": "Front"}}),
        );
        let mark = rejected.mark.unwrap();
        assert_eq!((mark.tone, mark.glyph, mark.word), ("bad", "✕", "Rejected"));
    }

    #[test]
    fn a_new_job_shows_everything_its_event_said() {
        let job = shown(
            "job.created",
            json!({"subject": {"kind": "job", "id": "1042"},
                   "job": {"number": 1042, "title": "Business cards", "due_date": "2026-03-10",
                           "quantity": 500, "rush": true, "notes": "", "tags": ["vip"]}}),
        );
        let DetailView::Job(detail) = job.detail else {
            panic!("not a job")
        };
        let facts: Vec<(&str, &str)> = detail
            .more
            .iter()
            .map(|fact| (fact.label.as_str(), fact.value.as_str()))
            .collect();
        assert_eq!(
            facts,
            [
                ("Due date", "2026-03-10"),
                ("Quantity", "500"),
                ("Rush", "Yes"),
                ("Tags", "[\"vip\"]")
            ]
        );
    }

    #[test]
    fn a_summary_and_its_detail_show_an_amount_the_same_way() {
        let job = json!({"kind": "job", "id": "1042"});
        for (amount, currency, reads) in [
            ("1284.5", "usd", "$1,284.50"),
            ("1284.5", "PYG", "1,285 PYG"),
            ("1284", "XPF", "1,284 XPF"),
            ("1.2345", "KWD", "1.235 KWD"),
            ("1284.5", "xyz", "1,284.50 XYZ"),
        ] {
            let payment = shown(
                "payment.recorded",
                json!({"subject": job, "amount": amount, "currency": currency}),
            );
            assert_eq!(payment.summary, format!("Payment of {reads} recorded"));
            let DetailView::Payment(detail) = payment.detail else {
                panic!("not a payment")
            };
            assert_eq!(detail.amount, reads);

            let invoice = shown(
                "invoice.created",
                json!({"subject": job, "invoice": {"number": 7, "total": amount, "currency": currency}}),
            );
            assert_eq!(invoice.summary, format!("Invoice #7 created for {reads}"));
            let DetailView::Invoice(detail) = invoice.detail else {
                panic!("not an invoice")
            };
            assert_eq!(detail.total.as_deref(), Some(reads));
        }
    }

    #[test]
    fn subject_paths_encode_the_id() {
        let subject = Subject::new(SubjectKind::Job, "A/B 7?#").unwrap();
        assert_eq!(subject_path(&subject), "/jobs/A%2FB%207%3F%23");
        assert_eq!(
            subject_stream_path(&subject),
            "/api/v1/subjects/job/A%2FB%207%3F%23/stream"
        );
        let link = SubjectLink::new(&"salesdoc:Q-7".parse().unwrap());
        assert_eq!(link.label, "Sales document #Q-7");
        assert_eq!(link.href, "/salesdocs/Q-7");
        assert_eq!(
            encode_query_value("/jobs/1?a=b&c"),
            "%2Fjobs%2F1%3Fa%3Db%26c"
        );
    }

    #[test]
    fn a_subject_is_named_the_same_on_its_page_and_in_every_link_to_it() {
        let quote = made(
            "salesdoc.created",
            json!({"subject": {"kind": "salesdoc", "id": "Q-2291"},
                "salesdoc": {"id": "Q-2291", "number": "Q-2291", "doc_type": "quote",
                "customer": "Acme Coffee"}}),
        );
        let job = made(
            "job.created",
            json!({"subject": {"kind": "job", "id": "88"},
                "job": {"id": "88", "number": "1042", "title": "Business cards"}}),
        );
        let salesdoc: Subject = "salesdoc:Q-2291".parse().unwrap();
        let job_subject: Subject = "job:88".parse().unwrap();
        assert_eq!(subject_name(&salesdoc, Some(&quote)), "Quote #Q-2291");
        assert_eq!(subject_name(&job_subject, Some(&job)), "Job #1042");
        assert_eq!(subject_name(&job_subject, None), "Job #88");
        // An origin that is not the subject's creation names nothing.
        assert_eq!(
            subject_name(&salesdoc, Some(&job)),
            "Sales document #Q-2291"
        );
        assert_eq!(
            SubjectHeading::new(&salesdoc, &quote).page_title(),
            "Quote #Q-2291 — Acme Coffee"
        );

        // Links on a page are named from each subject's origin, asked once per subject.
        let mut line = shown(
            "status.changed",
            json!({"subjects": [{"kind": "salesdoc", "id": "Q-2291"}, {"kind": "job", "id": "88"}],
                "from": "open", "to": "won"}),
        );
        line.subjects.push(SubjectLink::new(&salesdoc));
        let mut days = vec![DayGroup {
            date: "2026-03-04".to_owned(),
            heading: "Today".to_owned(),
            entries: vec![line],
        }];
        let mut asked = Vec::new();
        name_subject_links(&mut days, |subject| {
            asked.push(subject.clone());
            Ok::<_, ()>(Some(if *subject == salesdoc {
                quote.clone()
            } else {
                job.clone()
            }))
        })
        .unwrap();
        let labels: Vec<&str> = days[0].entries[0]
            .subjects
            .iter()
            .map(|link| link.label.as_str())
            .collect();
        assert_eq!(labels, ["Job #1042", "Quote #Q-2291", "Quote #Q-2291"]);
        assert_eq!(asked, [job_subject, salesdoc]);
    }
}
