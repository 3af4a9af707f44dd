//! Links: external references that point back at an entry and its subjects. `email.sent`
//! records the provider's message id and the RFC 5322 Message-ID, so delivery callbacks find
//! their email; `invoice.sent_to_accounting` records `{platform}:{account}:Invoice:{id}`, so
//! accounting events find their job or salesdoc.

use super::details::Details;

/// The link keys an entry with these details establishes, if any.
pub fn established_by(details: &Details) -> Vec<String> {
    match details {
        Details::Email { message } => {
            let mut keys = Vec::new();
            if let (Some(provider), Some(id)) = (&message.provider, &message.provider_message_id) {
                keys.push(email_provider_key(provider, id));
            }
            if let Some(message_id) = &message.message_id {
                keys.push(message_id_key(message_id));
            }
            keys
        }
        Details::AccountingSync {
            platform,
            account_id,
            external_id,
            ..
        } => {
            vec![accounting_key(platform, account_id, "Invoice", external_id)]
        }
        _ => Vec::new(),
    }
}

/// `email:{provider}:{provider message id}`, e.g. `email:sendgrid:14c5d75ce93`. Angle
/// brackets are dropped (Mailgun returns `<id@domain>` at send, its callbacks carry `id@domain`).
pub fn email_provider_key(provider: &str, provider_message_id: &str) -> String {
    let id = provider_message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    format!("email:{}:{id}", provider.trim().to_ascii_lowercase())
}

/// `message-id:{id}`, without the angle brackets that some providers keep and some drop.
pub fn message_id_key(message_id: &str) -> String {
    let bare = message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    format!("message-id:{bare}")
}

/// `quickbooks:{realm}:Invoice:{id}`, `xero:{tenant}:Invoice:{id}`.
pub fn accounting_key(platform: &str, account_id: &str, entity: &str, external_id: &str) -> String {
    format!(
        "{}:{}:{}:{}",
        platform.trim().to_ascii_lowercase(),
        account_id.trim(),
        entity.trim(),
        external_id.trim()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_normalized() {
        assert_eq!(
            email_provider_key("SendGrid", " abc "),
            "email:sendgrid:abc"
        );
        assert_eq!(message_id_key("<x@y>"), message_id_key("x@y"));
        assert_eq!(
            accounting_key("QuickBooks", "1185883450", "Invoice", "130"),
            "quickbooks:1185883450:Invoice:130"
        );
    }
}
