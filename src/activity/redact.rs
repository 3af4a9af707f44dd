//! Erasure of personal content (privacy requests): email bodies and email addresses are removed
//! from entries, wherever they appear, leaving the business facts (what happened, when, on which
//! job) in place.

use serde_json::Value;

use super::details::{DeliveryStatus, Details, EmailMessage};
use super::entry::Entry;
use super::subject::Subject;

/// What replaces erased text.
pub const ERASED: &str = "[erased]";

/// Whose personal content to erase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErasureTarget {
    /// Everything personal on one job's or salesdoc's timeline.
    Subject(Subject),
    /// One person's address, wherever it appears, and the emails sent to or from it.
    Email(String),
}

impl ErasureTarget {
    pub fn email(address: &str) -> Option<ErasureTarget> {
        let address = address.trim().to_ascii_lowercase();
        (address.contains('@') && address.len() > 2).then_some(ErasureTarget::Email(address))
    }

    /// Whether raw text (an entry's JSON, a delivery's body) may hold this target's content.
    pub fn mentioned_in(&self, text: &[u8]) -> bool {
        match self {
            ErasureTarget::Subject(_) => true,
            ErasureTarget::Email(address) => contains_ignoring_case(text, address.as_bytes()),
        }
    }
}

/// Redacts `entry` in place; returns whether anything changed.
pub fn redact_entry(entry: &mut Entry, target: &ErasureTarget) -> bool {
    let before = serde_json::to_string(entry).unwrap_or_default();
    entry.summary = scrub(&entry.summary, target);
    entry.actor.name = scrub(&entry.actor.name, target);
    redact_details(&mut entry.details, target);
    if let Some(status) = &mut entry.delivery_status {
        redact_status(status, target);
    }
    serde_json::to_string(entry).unwrap_or_default() != before
}

pub fn redact_status(status: &mut DeliveryStatus, target: &ErasureTarget) {
    for update in &mut status.history {
        update.recipient = update.recipient.as_deref().map(|r| scrub_whole(r, target));
        update.reason = update.reason.as_deref().map(|r| scrub(r, target));
    }
}

fn redact_details(details: &mut Details, target: &ErasureTarget) {
    match details {
        Details::Email { message } => redact_email(message, target),
        Details::EmailEvent { event } => {
            event.recipient = event.recipient.as_deref().map(|r| scrub_whole(r, target));
            event.reason = event.reason.as_deref().map(|r| scrub(r, target));
            event.subject = event.subject.as_deref().map(|s| scrub(s, target));
        }
        Details::Notification { to, text, .. } => {
            *to = to.as_deref().map(|t| scrub_whole(t, target));
            *text = text.as_deref().map(|t| scrub(t, target));
        }
        Details::Proof { comment, .. } => *comment = comment.as_deref().map(|c| scrub(c, target)),
        Details::Note { description, .. } => {
            *description = description.as_deref().map(|d| scrub(d, target))
        }
        Details::Generic { data, .. } => scrub_value(data, target),
        _ => {}
    }
}

/// An email to or from the person loses its content and every address; other emails lose
/// only the person's address.
fn redact_email(message: &mut EmailMessage, target: &ErasureTarget) {
    let involves_target = match target {
        ErasureTarget::Subject(_) => true,
        ErasureTarget::Email(address) => message
            .from
            .iter()
            .chain(&message.to)
            .chain(&message.cc)
            .chain(&message.bcc)
            .any(|a| contains_ignoring_case(a.as_bytes(), address.as_bytes())),
    };
    if involves_target {
        message.text = None;
        message.html = None;
        // A file's name can say as much about a person as the message did.
        message.attachments.clear();
    }
    message.from = message.from.as_deref().map(|a| scrub_whole(a, target));
    for list in [&mut message.to, &mut message.cc, &mut message.bcc] {
        for address in list.iter_mut() {
            *address = scrub_whole(address, target);
        }
    }
}

/// A field that is an address (or a name and address): erased whole when it is the target's.
fn scrub_whole(text: &str, target: &ErasureTarget) -> String {
    match target {
        ErasureTarget::Subject(_) if text.contains('@') => ERASED.to_owned(),
        ErasureTarget::Email(address)
            if contains_ignoring_case(text.as_bytes(), address.as_bytes()) =>
        {
            ERASED.to_owned()
        }
        _ => text.to_owned(),
    }
}

/// Free text: every address in it (for a subject) or the target's address is replaced.
fn scrub(text: &str, target: &ErasureTarget) -> String {
    match target {
        ErasureTarget::Subject(_) => text
            .split_inclusive(char::is_whitespace)
            .map(|word| {
                if word.contains('@') {
                    scrub_word(word)
                } else {
                    word.to_owned()
                }
            })
            .collect(),
        ErasureTarget::Email(address) => replace_ignoring_case(text, address),
    }
}

/// Keeps the punctuation around an address (`<a@b.c>,` → `<[erased]>,`).
fn scrub_word(word: &str) -> String {
    let is_address_char = |c: char| c.is_alphanumeric() || "@._%+-".contains(c);
    let start = word.find(is_address_char).unwrap_or(0);
    let end = word.rfind(is_address_char).map_or(word.len(), |i| i + 1);
    format!("{}{ERASED}{}", &word[..start], &word[end..])
}

fn scrub_value(value: &mut Value, target: &ErasureTarget) {
    match value {
        Value::String(text) => *text = scrub(text, target),
        Value::Array(items) => items.iter_mut().for_each(|item| scrub_value(item, target)),
        Value::Object(fields) => fields
            .values_mut()
            .for_each(|item| scrub_value(item, target)),
        _ => {}
    }
}

fn replace_ignoring_case(text: &str, needle: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    while let Some(found) = lower[rest..].find(needle) {
        out.push_str(&text[rest..rest + found]);
        out.push_str(ERASED);
        rest += found + needle.len();
    }
    out.push_str(&text[rest..]);
    out
}

fn contains_ignoring_case(haystack: &[u8], needle: &[u8]) -> bool {
    find_ignoring_case(haystack, needle).is_some()
}

/// Where `needle` first stands in `haystack`, ASCII letters compared without case; never
/// for an empty needle. No copy is made, so searching a large body costs no allocation.
pub fn find_ignoring_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> ErasureTarget {
        ErasureTarget::email("Ann@Acme.test").unwrap()
    }

    #[test]
    fn replaces_the_address_in_any_case() {
        assert_eq!(
            scrub("Sent to ANN@acme.TEST and bob@x.test", &target()),
            "Sent to [erased] and bob@x.test"
        );
        assert!(ErasureTarget::email("not-an-address").is_none());
    }

    #[test]
    fn a_subject_erasure_removes_every_address_but_keeps_punctuation() {
        let subject = ErasureTarget::Subject("job:1".parse().unwrap());
        assert_eq!(
            scrub("to <ann@acme.test>, bob@x.test.", &subject),
            "to <[erased]>, [erased]"
        );
    }

    #[test]
    fn emails_to_the_person_lose_their_content() {
        let mut message = EmailMessage {
            from: Some("shop@example.com".into()),
            to: vec!["ann@acme.test".into()],
            text: Some("Hi Ann".into()),
            html: Some("<p>Hi Ann</p>".into()),
            attachments: vec![crate::activity::details::Attachment {
                name: Some("ann-passport.pdf".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        redact_email(&mut message, &target());
        assert!(message.attachments.is_empty());
        assert_eq!(message.to, [ERASED]);
        assert_eq!(message.from.as_deref(), Some("shop@example.com"));
        assert!(message.text.is_none() && message.html.is_none());
        let mut other = EmailMessage {
            to: vec!["bob@x.test".into()],
            text: Some("Hi Bob".into()),
            ..Default::default()
        };
        redact_email(&mut other, &target());
        assert_eq!(other.text.as_deref(), Some("Hi Bob"));
    }

    #[test]
    fn raw_text_mentions() {
        assert!(target().mentioned_in(br#"{"to":"ANN@ACME.TEST"}"#));
        assert!(!target().mentioned_in(br#"{"to":"bob@acme.test"}"#));
    }
}
