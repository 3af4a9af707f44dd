//! How the product names things in words, for entry summaries and pages alike: platforms by
//! their brand, sizes in decimal units, a first letter in upper case.

/// Display names for the accounting platforms the business app syncs to.
pub fn platform_name(platform: &str) -> String {
    match platform.to_ascii_lowercase().as_str() {
        "quickbooks" | "qbo" => "QuickBooks".to_owned(),
        "xero" => "Xero".to_owned(),
        "stripe" => "Stripe".to_owned(),
        _ => capitalize(platform),
    }
}

/// The text with its first letter in upper case.
pub fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A machine name (`shipment.label_created`, `deposit-requested`) as words a person reads:
/// `Shipment label created`.
pub fn readable_name(name: &str) -> String {
    let words: Vec<&str> = name
        .split(|c: char| matches!(c, '.' | '_' | '-') || c.is_whitespace())
        .filter(|word| !word.is_empty())
        .collect();
    capitalize(&words.join(" ").to_lowercase())
}

/// A size in bytes as people read it: `512 B`, `1.2 MB` (decimal units, as file managers show).
pub fn human_bytes(size: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if size < 1000 {
        return format!("{size} B");
    }
    let mut value = size as f64;
    let mut unit = "B";
    for next in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn machine_names_read_as_words() {
        assert_eq!(
            readable_name("shipment.label_created"),
            "Shipment label created"
        );
        assert_eq!(readable_name("deposit-requested"), "Deposit requested");
        assert_eq!(readable_name("  "), "");
    }

    use super::*;

    #[test]
    fn words() {
        assert_eq!(platform_name("qbo"), "QuickBooks");
        assert_eq!(platform_name("freshbooks"), "Freshbooks");
        assert_eq!(capitalize("échéance"), "Échéance");
        assert_eq!(capitalize(""), "");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_000), "1.0 KB");
    }
}
