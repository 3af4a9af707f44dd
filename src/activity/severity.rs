//! How an entry reads at a glance: something went wrong, something went right, or something
//! needs watching. A timeline line shows it as an icon and a word beside the summary, so the
//! meaning never rests on colour alone.

use super::details::{Details, EmailStatus, ProofDecision};
use super::entry::Entry;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Bounced, dropped, marked as spam; a rejected proof; a failed payment.
    Bad,
    /// Delivered, opened; an approved proof; paid.
    Good,
    /// At risk, overdue, on hold: someone should look.
    Watch,
    /// A state worth showing that is neither (an email processed, deferred).
    Neutral,
}

/// An entry's mark: its tone and the word that says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub tone: Tone,
    pub word: &'static str,
}

impl Mark {
    const fn new(tone: Tone, word: &'static str) -> Mark {
        Mark { tone, word }
    }
}

/// The mark of `entry`, if it has one.
pub fn mark(entry: &Entry) -> Option<Mark> {
    match &entry.details {
        Details::Email { .. } => entry
            .delivery_status
            .as_ref()
            .and_then(|status| status.current)
            .map(email_mark),
        Details::EmailEvent { event } => Some(email_mark(event.status)),
        Details::Proof { decision, .. } => Some(match decision {
            ProofDecision::Approved => Mark::new(Tone::Good, "Approved"),
            ProofDecision::Rejected => Mark::new(Tone::Bad, "Rejected"),
        }),
        Details::Payment { .. } => Some(payment_mark(entry.kind.as_str())),
        Details::StatusChange { to, .. } | Details::InvoiceStatus { to, .. } => status_mark(to),
        _ => None,
    }
}

fn email_mark(status: EmailStatus) -> Mark {
    match status {
        EmailStatus::Delivered => Mark::new(Tone::Good, "Delivered"),
        EmailStatus::Opened => Mark::new(Tone::Good, "Opened"),
        EmailStatus::Clicked => Mark::new(Tone::Good, "Clicked"),
        EmailStatus::Bounced => Mark::new(Tone::Bad, "Bounced"),
        EmailStatus::Dropped => Mark::new(Tone::Bad, "Dropped"),
        EmailStatus::SpamReport => Mark::new(Tone::Bad, "Marked as spam"),
        EmailStatus::Unsubscribed => Mark::new(Tone::Bad, "Unsubscribed"),
        EmailStatus::Processed => Mark::new(Tone::Neutral, "Sending"),
        EmailStatus::Deferred => Mark::new(Tone::Watch, "Delayed"),
        EmailStatus::Resubscribed => Mark::new(Tone::Neutral, "Resubscribed"),
    }
}

/// Payments from the catalog are received money; a provider's payment event says in its kind
/// whether it failed (`stripe.payment_intent.payment_failed`, `stripe.charge.failed`).
fn payment_mark(kind: &str) -> Mark {
    if kind.contains("fail") {
        Mark::new(Tone::Bad, "Payment failed")
    } else if kind.contains("refund") {
        Mark::new(Tone::Neutral, "Refunded")
    } else {
        Mark::new(Tone::Good, "Paid")
    }
}

/// A status is the business app's own words; the ones that mean the same everywhere get a mark.
fn status_mark(to: &str) -> Option<Mark> {
    // Whole words only ("Plate making" is not late): the words, space-separated and padded.
    let words: String = to
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let to = format!(
        " {} ",
        words.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    let has = |phrases: &[&str]| {
        phrases
            .iter()
            .any(|phrase| to.contains(&format!(" {phrase} ")))
    };
    if has(&["overdue", "past due"]) {
        Some(Mark::new(Tone::Watch, "Overdue"))
    } else if has(&["at risk", "late", "delayed"]) {
        Some(Mark::new(Tone::Watch, "At risk"))
    } else if has(&["on hold", "blocked"]) {
        Some(Mark::new(Tone::Watch, "On hold"))
    } else if has(&["cancelled", "canceled", "void", "voided", "failed"]) {
        Some(Mark::new(Tone::Bad, "Cancelled"))
    } else if has(&["paid"]) && !has(&["unpaid", "partially paid"]) {
        Some(Mark::new(Tone::Good, "Paid"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_in_the_business_apps_words_get_a_mark_only_when_they_mean_one() {
        let word = |to: &str| status_mark(to).map(|mark| (mark.tone, mark.word));
        assert_eq!(word("Due date at risk"), Some((Tone::Watch, "At risk")));
        assert_eq!(word("OVERDUE"), Some((Tone::Watch, "Overdue")));
        assert_eq!(word("On Hold"), Some((Tone::Watch, "On hold")));
        assert_eq!(word("Cancelled"), Some((Tone::Bad, "Cancelled")));
        assert_eq!(word("paid"), Some((Tone::Good, "Paid")));
        assert_eq!(word("Printing"), None);
        assert_eq!(word("Plate making"), None);
        assert_eq!(word("at-risk"), Some((Tone::Watch, "At risk")));
        assert_eq!(word("Partially paid"), None);
        assert_eq!(word("Proofing"), None);
    }

    #[test]
    fn payments_and_emails_read_by_outcome() {
        assert_eq!(payment_mark("payment.recorded").tone, Tone::Good);
        assert_eq!(
            payment_mark("stripe.payment_intent.payment_failed").word,
            "Payment failed"
        );
        assert_eq!(email_mark(EmailStatus::Bounced).tone, Tone::Bad);
        assert_eq!(email_mark(EmailStatus::SpamReport).word, "Marked as spam");
        assert_eq!(email_mark(EmailStatus::Delivered).tone, Tone::Good);
    }
}
