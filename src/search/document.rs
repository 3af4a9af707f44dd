//! What of an entry is searchable: its text, its whole values by field (addresses, numbers,
//! file names), and what the filters look at. Made from the entry as it reads now, so an
//! erased entry's document no longer holds what was erased.

use chrono::{DateTime, Utc};

use super::query::Field;
use super::words;
use crate::activity::details::{Details, EmailMessage, InvoiceInfo};
use crate::activity::redact::find_ignoring_case;
use crate::activity::{Category, Entry, EntryId};

/// An entry as the search index holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchDocument {
    pub id: EntryId,
    pub occurred_at: DateTime<Utc>,
    pub category: Category,
    pub kind: String,
    pub source: String,
    /// The keys of the subjects the entry is on (`job:1042`).
    pub subjects: Vec<String>,
    /// Everything readable, one piece per line: what words are matched in and snippets cut
    /// from.
    pub text: String,
    /// Whole values by field, folded: what `field:value` and exact matches look at.
    pub values: Vec<(Field, String)>,
}

impl SearchDocument {
    pub fn of(entry: &Entry) -> SearchDocument {
        let mut doc = Builder::default();
        doc.text(&entry.summary);
        doc.value(Field::Actor, &entry.actor.name);
        // Ids are found as whole values only: as words they would crowd every snippet.
        if let Some(id) = &entry.actor.id {
            doc.value_only(Field::Actor, id);
        }
        for subject in &entry.subjects {
            let field = match subject.kind() {
                crate::activity::SubjectKind::Job => Field::Job,
                crate::activity::SubjectKind::Salesdoc => Field::Salesdoc,
            };
            doc.value_only(field, subject.id());
        }
        doc.details(&entry.details);
        SearchDocument {
            id: entry.id,
            occurred_at: entry.occurred_at,
            category: entry.category,
            kind: entry.kind.as_str().to_owned(),
            source: entry.source.name.clone(),
            subjects: entry.subjects.iter().map(|s| s.key()).collect(),
            text: doc.text,
            values: doc.values,
        }
    }

    /// The actor's name and id, folded (see [`words::value`]): what `actor=` matches.
    pub fn actors(&self) -> impl Iterator<Item = &str> {
        self.values
            .iter()
            .filter(|(field, _)| *field == Field::Actor)
            .map(|(_, value)| value.as_str())
    }

    /// The text after the summary, which a result shows as its title: where a snippet says
    /// something new.
    pub fn text_beyond_summary(&self) -> &str {
        self.text.split_once('\n').map_or("", |(_, rest)| rest)
    }

    /// The exact terms of the document: `field:value` for each value, and `any:value` for the
    /// same values under no field (what free text matches exactly).
    pub fn exact_terms(&self) -> Vec<String> {
        let mut terms: Vec<String> = self
            .values
            .iter()
            .flat_map(|(field, value)| [exact_term(Some(*field), value), exact_term(None, value)])
            .collect();
        terms.sort();
        terms.dedup();
        terms
    }
}

/// The term under which a whole value is indexed: `to:maria@acme-coffee.example`, or
/// `any:inv-3307` for free text.
pub fn exact_term(field: Option<Field>, value: &str) -> String {
    format!("{}:{value}", field.map_or("any", Field::key))
}

#[derive(Default)]
struct Builder {
    text: String,
    values: Vec<(Field, String)>,
}

impl Builder {
    fn text(&mut self, piece: &str) {
        let piece = piece.trim();
        if piece.is_empty() {
            return;
        }
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.text.push_str(piece);
    }

    fn maybe_text(&mut self, piece: Option<&str>) {
        if let Some(piece) = piece {
            self.text(piece);
        }
    }

    /// A whole value, which is also readable text.
    fn value(&mut self, field: Field, raw: &str) {
        if self.value_only(field, raw) {
            self.text(raw);
        }
    }

    /// A whole value that is not part of the text; whether it was new.
    fn value_only(&mut self, field: Field, raw: &str) -> bool {
        match words::value(raw) {
            Some(value) if !self.values.iter().any(|(f, v)| *f == field && *v == value) => {
                self.values.push((field, value));
                true
            }
            _ => false,
        }
    }

    fn maybe_value(&mut self, field: Field, raw: Option<&str>) {
        if let Some(raw) = raw {
            self.value(field, raw);
        }
    }

    fn invoice(&mut self, invoice: &InvoiceInfo) {
        self.maybe_value(
            Field::Invoice,
            invoice.number.as_ref().map(|t| t.0.as_str()),
        );
        self.maybe_value(Field::Invoice, invoice.id.as_ref().map(|t| t.0.as_str()));
    }

    fn email(&mut self, message: &EmailMessage) {
        self.maybe_value(Field::From, message.from.as_deref());
        for to in message.to.iter().chain(&message.cc).chain(&message.bcc) {
            self.value(Field::To, to);
        }
        self.maybe_text(message.subject.as_deref());
        match (&message.text, &message.html) {
            (Some(text), _) => self.text(text),
            (None, Some(html)) => self.text(&html_text(html)),
            (None, None) => {}
        }
        for attachment in &message.attachments {
            self.maybe_value(Field::File, attachment.name.as_deref());
        }
        self.maybe_value(Field::Message, message.message_id.as_deref());
        self.maybe_value(Field::Message, message.provider_message_id.as_deref());
    }

    fn details(&mut self, details: &Details) {
        match details {
            Details::Job { job } => {
                self.maybe_value(Field::Job, job.number.as_ref().map(|t| t.0.as_str()));
                self.maybe_value(Field::Job, job.id.as_ref().map(|t| t.0.as_str()));
                self.maybe_text(job.title.as_deref());
                self.maybe_value(Field::Customer, job.customer.as_deref());
            }
            Details::Salesdoc { salesdoc } => {
                let number = salesdoc.number.as_ref().map(|t| t.0.as_str());
                self.maybe_value(Field::Salesdoc, number);
                self.maybe_value(Field::Salesdoc, salesdoc.id.as_ref().map(|t| t.0.as_str()));
                self.maybe_text(salesdoc.doc_type.as_deref());
                self.maybe_value(Field::Customer, salesdoc.customer.as_deref());
            }
            Details::StatusChange { from, to } => {
                self.maybe_text(from.as_deref());
                self.text(to);
            }
            Details::Artwork { file } => self.value(Field::File, &file.name),
            Details::Proof { proof, comment, .. } => {
                self.maybe_value(Field::Proof, proof.version.as_ref().map(|t| t.0.as_str()));
                self.maybe_value(Field::Proof, proof.id.as_ref().map(|t| t.0.as_str()));
                self.maybe_value(Field::File, proof.name.as_deref());
                self.maybe_text(comment.as_deref());
            }
            Details::Invoice { invoice } => self.invoice(invoice),
            Details::AccountingSync {
                invoice,
                platform,
                external_id,
                ..
            } => {
                self.invoice(invoice);
                self.text(platform);
                self.value(Field::Invoice, external_id);
            }
            Details::InvoiceStatus { invoice, from, to } => {
                self.invoice(invoice);
                self.maybe_text(from.as_deref());
                self.text(to);
            }
            Details::Payment {
                invoice, method, ..
            } => {
                if let Some(invoice) = invoice {
                    self.invoice(invoice);
                }
                self.maybe_text(method.as_deref());
            }
            Details::PurchaseOrder { purchase_order, .. } => {
                let number = purchase_order.number.as_ref().map(|t| t.0.as_str());
                self.maybe_value(Field::Po, number);
                self.maybe_value(Field::Po, purchase_order.id.as_ref().map(|t| t.0.as_str()));
                self.maybe_value(Field::Customer, purchase_order.vendor.as_deref());
            }
            Details::Email { message } => self.email(message),
            Details::Notification { channel, to, text } => {
                self.text(channel);
                self.maybe_value(Field::To, to.as_deref());
                self.maybe_text(text.as_deref());
            }
            Details::Automation {
                rule,
                trigger,
                actions,
            } => {
                self.value(Field::Rule, &rule.name);
                self.maybe_value(Field::Rule, rule.id.as_ref().map(|t| t.0.as_str()));
                self.maybe_text(trigger.as_deref());
                for action in actions {
                    self.text(action);
                }
            }
            Details::Note {
                action,
                description,
            } => {
                self.maybe_text(action.as_deref());
                self.maybe_text(description.as_deref());
            }
            Details::EmailEvent { event } => {
                self.text(event.status.label());
                self.maybe_value(Field::To, event.recipient.as_deref());
                self.maybe_text(event.subject.as_deref());
                self.maybe_text(event.reason.as_deref());
                self.maybe_value(Field::Message, event.message_id.as_deref());
                let provider_id = event.provider_message_id.as_deref();
                self.maybe_value(Field::Message, provider_id);
            }
            Details::AccountingEvent { event } => {
                self.text(&event.platform);
                self.text(&event.entity);
                self.text(&event.operation);
                let field = if event.entity.eq_ignore_ascii_case("invoice") {
                    Field::Invoice
                } else {
                    Field::Reference
                };
                self.maybe_value(field, event.number.as_deref());
                self.value(field, &event.entity_id);
                self.maybe_text(event.status.as_deref());
            }
            Details::Generic { event_type, data } => {
                self.text(event_type);
                let mut budget = GENERIC_STRINGS;
                self.json_strings(data, &mut budget);
            }
        }
    }

    /// The strings inside an event the catalog does not know, depth first, at most `budget`.
    fn json_strings(&mut self, value: &serde_json::Value, budget: &mut usize) {
        match value {
            serde_json::Value::String(text) if *budget > 0 => {
                *budget -= 1;
                self.text(text);
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    self.json_strings(item, budget);
                }
            }
            serde_json::Value::Object(fields) => {
                for item in fields.values() {
                    self.json_strings(item, budget);
                }
            }
            _ => {}
        }
    }
}

/// How many strings of an unknown event are indexed.
const GENERIC_STRINGS: usize = 200;

/// The readable text of an HTML email body: tags dropped (and what `<script>`, `<style>` and
/// `<head>` hold), the common character references decoded. It only feeds the index and
/// snippets, which escape what they show, so a crude reading is safe.
pub fn html_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&decode_references(&rest[..open]));
        rest = &rest[open..];
        // A tag starts with a letter, `/` or `!`; any other `<` is text (`a < b`).
        let starts_tag = rest[1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!');
        if !starts_tag {
            out.push('<');
            rest = &rest[1..];
            continue;
        }
        let close = rest.find('>').map_or(rest.len(), |at| at + 1);
        let name_len = rest[1..]
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len() - 1);
        let name = &rest[1..1 + name_len];
        rest = &rest[close..];
        let hidden = ["script", "style", "head", "title"]
            .into_iter()
            .find(|hidden| name.eq_ignore_ascii_case(hidden));
        if let Some(hidden) = hidden {
            // Found in place, so a body of many such elements is read once, not copied
            // once for each.
            let end = format!("</{hidden}");
            let skipped = find_ignoring_case(rest.as_bytes(), end.as_bytes()).unwrap_or(rest.len());
            rest = &rest[skipped..];
        }
        out.push(' ');
    }
    out.push_str(&decode_references(rest));
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn decode_references(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        // `;` is ASCII, so where it is found the text can be cut; a cut at a fixed byte count
        // could fall inside a character.
        let end = rest.bytes().take(12).position(|b| b == b';');
        let decoded = end.and_then(|end| reference(&rest[1..end]).map(|c| (c, end + 1)));
        match decoded {
            Some((c, used)) => {
                out.push(c);
                rest = &rest[used..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn reference(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn html_bodies_read_as_their_text() {
        let html = "<html><head><title>T</title><style>p{color:red}</style></head>\
                    <body><p>Hi Maria,</p><script>alert(1)</script><p>the reprint&nbsp;is \
                    ready &amp; paid &#8211; ok&#x21;</p></body></html>";
        assert_eq!(
            html_text(html),
            "Hi Maria, the reprint is ready & paid – ok!"
        );
        assert_eq!(html_text("a < b & c"), "a < b & c");
        assert_eq!(html_text("<p>unclosed"), "unclosed");
        assert_eq!(html_text("<scripts>kept</scripts>"), "kept");
        assert_eq!(html_text("<SCRIPT>x</Script>y"), "y");
    }

    #[test]
    fn a_reference_that_runs_into_a_wide_character_is_text() {
        // The 12th byte falls inside a character: cutting there used to panic.
        assert_eq!(html_text("&ééééééé; x"), "&ééééééé; x");
    }

    proptest! {
        #[test]
        fn any_body_reads_as_text_without_panicking(html in "(<[a-zA-Z/!]{0,8}|&#?[a-z0-9]{0,6};?|[^<&]{0,6}|é|>)*") {
            let text = html_text(&html);
            prop_assert!(!text.contains("  "));
        }
    }
}
