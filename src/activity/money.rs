//! Money: a decimal amount, a currency, and the one way the two read — in summaries, in details
//! on a page, wherever an amount is shown. `$1,284.50`, `€312.40`, `¥5,000`, `1,284.50 CHF`.
//!
//! How many decimals a currency has is ISO 4217's minor unit, from `iso_currency` (kept up to
//! date with the standard: PYG, XPF and BIF have none, KWD and BHD three, CLF four). Providers
//! that send integers in minor units have their own tables where they differ from ISO (Stripe's
//! ISK, see [`crate::sources::stripe`]); they convert with [`Amount::from_minor_units`] and
//! then read like any other amount.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};

use super::details::Text;
use super::entry::one_line;

/// A decimal amount exactly as sent (`"1234.50"` or `1234.5`), validated to be a plain
/// decimal number — an optional `-`, 1 to 18 whole digits, up to 8 fraction digits — so it can
/// be formatted without surprises.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Amount(String);

impl Amount {
    pub fn parse(text: &str) -> Option<Amount> {
        let text = text.trim();
        let digits = text.strip_prefix('-').unwrap_or(text);
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let valid = !whole.is_empty()
            && whole.len() <= 18
            && fraction.len() <= 8
            && whole.bytes().all(|b| b.is_ascii_digit())
            && fraction.bytes().all(|b| b.is_ascii_digit());
        valid.then(|| Amount(text.to_owned()))
    }

    /// `minor` units of which `10^exponent` make one: 128450 with exponent 2 is `1284.50`.
    /// `None` when the result has more whole digits than an amount may (exponent 0 near
    /// `i64::MAX`) or the exponent more than eight.
    pub fn from_minor_units(minor: i64, exponent: u32) -> Option<Amount> {
        let sign = if minor < 0 { "-" } else { "" };
        let units = minor.unsigned_abs();
        let text = match 10u64.checked_pow(exponent) {
            Some(1) => format!("{sign}{units}"),
            Some(scale) => {
                let width = exponent as usize;
                format!("{sign}{}.{:0width$}", units / scale, units % scale)
            }
            None => return None,
        };
        Amount::parse(&text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Text::deserialize(deserializer)?;
        Amount::parse(&text.0).ok_or_else(|| serde::de::Error::custom("expected a decimal amount"))
    }
}

/// Returned as decimal text; sent as decimal text or a JSON number.
impl utoipa::PartialSchema for Amount {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Number]))
            .pattern(Some(r"^-?[0-9]{1,18}(\.[0-9]{0,8})?$"))
            .description(Some(
                "A decimal amount, returned as text exactly as sent (`\"1284.50\"`); sent as \
                 text or a JSON number. At most 18 whole and 8 fraction digits.",
            ))
            .examples(["1284.50"])
            .into()
    }
}

impl ToSchema for Amount {}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A currency code: three ASCII letters, kept in upper case. ISO 4217 codes know their minor
/// unit; any other three-letter code is shown as itself, with two decimals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// `usd`, `USD` and ` Usd ` are USD; anything but three letters is not a code.
    pub fn parse(text: &str) -> Option<Currency> {
        let code: [u8; 3] = text.trim().as_bytes().try_into().ok()?;
        code.iter()
            .all(u8::is_ascii_alphabetic)
            .then(|| Currency(code.map(|b| b.to_ascii_uppercase())))
    }

    pub fn code(&self) -> &str {
        // Three ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// The digits after the decimal point: ISO 4217's minor unit (0 for JPY, 2 for USD, 3 for
    /// KWD, 4 for CLF), 2 for a code ISO does not know, `None` where ISO defines no minor unit
    /// (gold, `XXX`): such amounts keep the digits they were sent with.
    pub fn minor_digits(self) -> Option<u32> {
        match iso_currency::Currency::from_code(self.code()) {
            Some(iso) => iso.exponent().map(u32::from),
            None => Some(2),
        }
    }

    /// Symbols only where they name one currency to the people reading these pages; `$` alone
    /// is the US dollar, other dollars say whose.
    fn symbol(self) -> Option<&'static str> {
        Some(match self.code() {
            "USD" => "$",
            "CAD" => "CA$",
            "AUD" => "A$",
            "NZD" => "NZ$",
            "MXN" => "MX$",
            "EUR" => "€",
            "GBP" => "£",
            "JPY" => "¥",
            "INR" => "₹",
            _ => return None,
        })
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount in a currency (or in none that is known): what normalizers build and pages show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Money {
    pub amount: Amount,
    pub currency: Option<Currency>,
}

impl Money {
    pub fn new(amount: Amount, currency: Option<Currency>) -> Money {
        Money { amount, currency }
    }
}

/// Rounded half away from zero to the currency's minor unit (two decimals without a currency),
/// grouped by thousands, with the currency's symbol in front or its code behind.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.currency.map_or(Some(2), Currency::minor_digits);
        let number = grouped_decimal(self.amount.as_str(), digits);
        let (sign, number) = match number.strip_prefix('-') {
            Some(rest) => ("-", rest),
            None => ("", number.as_str()),
        };
        match self.currency {
            None => write!(f, "{sign}{number}"),
            Some(currency) => match currency.symbol() {
                Some(symbol) => write!(f, "{sign}{symbol}{number}"),
                None => write!(f, "{sign}{number} {currency}"),
            },
        }
    }
}

/// How `amount` reads in the currency an entry names (stored text, as the event sent it):
/// the one formatter of money. Text that is not a currency code is shown after the number as
/// it was sent, so nothing an event said is hidden.
pub fn format(amount: &Amount, currency: Option<&str>) -> String {
    let Some(text) = currency.map(str::trim).filter(|text| !text.is_empty()) else {
        return Money::new(amount.clone(), None).to_string();
    };
    match Currency::parse(text) {
        Some(currency) => Money::new(amount.clone(), Some(currency)).to_string(),
        None => format!(
            "{} {}",
            Money::new(amount.clone(), None),
            one_line(text, UNKNOWN_CURRENCY_MAX_CHARS)
        ),
    }
}

/// A currency that is not a code is shown, but not at any length.
const UNKNOWN_CURRENCY_MAX_CHARS: usize = 24;

/// `-1234.567` with 2 digits → `-1,234.57`; with `None`, the fraction as sent. [`Amount`]
/// guarantees at most 18 whole and 8 fraction digits, so the arithmetic fits a u128 and a
/// minor unit of up to 20 digits.
fn grouped_decimal(text: &str, minor_digits: Option<u32>) -> String {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let minor_digits = minor_digits
        .unwrap_or(u32::try_from(fraction.len()).unwrap_or(8))
        .min(20);
    let whole: u128 = whole.parse().unwrap_or(0);
    let kept: String = fraction
        .chars()
        .chain(std::iter::repeat('0'))
        .take(minor_digits as usize)
        .collect();
    let rounds_up = fraction
        .chars()
        .nth(minor_digits as usize)
        .and_then(|c| c.to_digit(10))
        .is_some_and(|digit| digit >= 5);
    let scale = 10u128.pow(minor_digits);
    let scaled = whole * scale + kept.parse::<u128>().unwrap_or(0) + u128::from(rounds_up);
    let (units, minor) = (scaled / scale, scaled % scale);
    let mut out = String::new();
    if negative && scaled > 0 {
        out.push('-');
    }
    out.push_str(&group_thousands(units));
    if minor_digits > 0 {
        out.push_str(&format!(".{minor:0width$}", width = minor_digits as usize));
    }
    out
}

fn group_thousands(value: u128) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn amount(text: &str) -> Amount {
        Amount::parse(text).unwrap()
    }

    fn code(text: &str) -> Currency {
        Currency::parse(text).unwrap()
    }

    #[test]
    fn minor_units_are_iso_4217s() {
        for (currency, digits) in [
            ("PYG", Some(0)),
            ("XPF", Some(0)),
            ("BIF", Some(0)),
            ("JPY", Some(0)),
            ("ISK", Some(0)),
            ("USD", Some(2)),
            ("EUR", Some(2)),
            ("KWD", Some(3)),
            ("BHD", Some(3)),
            ("CLF", Some(4)),
            ("XAU", None),
            ("XYZ", Some(2)),
        ] {
            assert_eq!(code(currency).minor_digits(), digits, "{currency}");
        }
    }

    #[test]
    fn amounts_read_with_their_currencys_decimals() {
        let read = |text: &str, currency: &str| format(&amount(text), Some(currency));
        assert_eq!(read("1284.5", "PYG"), "1,285 PYG");
        assert_eq!(read("1284.5", "XPF"), "1,285 XPF");
        assert_eq!(read("1284.4", "BIF"), "1,284 BIF");
        assert_eq!(read("5000.4", "JPY"), "¥5,000");
        assert_eq!(read("1284.5", "usd"), "$1,284.50");
        assert_eq!(read("1234567.891", "EUR"), "€1,234,567.89");
        assert_eq!(read("1.2345", "KWD"), "1.235 KWD");
        assert_eq!(read("12.3", "BHD"), "12.300 BHD");
        assert_eq!(read("1.23456", "CLF"), "1.2346 CLF");
        assert_eq!(read("1.5", "XAU"), "1.5 XAU");
        assert_eq!(read("12", "CHF"), "12.00 CHF");
        assert_eq!(read("0.005", "GBP"), "£0.01");
        assert_eq!(read("-45.5", "USD"), "-$45.50");
        assert_eq!(read("-0.001", "USD"), "$0.00");
    }

    #[test]
    fn unknown_and_missing_currencies_still_read() {
        assert_eq!(format(&amount("1284.5"), Some("xyz")), "1,284.50 XYZ");
        assert_eq!(format(&amount("999.999"), None), "1,000.00");
        assert_eq!(format(&amount("100"), Some(" ")), "100.00");
        assert_eq!(format(&amount("100"), Some("dollars")), "100.00 dollars");
        assert_eq!(
            format(&amount("1"), Some(&"<b>".repeat(20))),
            format!("1.00 {}…", "<b>".repeat(7) + "<b")
        );
    }

    #[test]
    fn the_largest_amounts_fit() {
        let most = format!("-{}.{}", "9".repeat(18), "9".repeat(8));
        assert_eq!(
            format(&amount(&most), Some("JPY")),
            "-¥1,000,000,000,000,000,000"
        );
        assert_eq!(
            format(&amount(&most), Some("XAU")),
            "-999,999,999,999,999,999.99999999 XAU"
        );
    }

    #[test]
    fn currencies_are_three_letters() {
        assert_eq!(code(" eur ").code(), "EUR");
        for bad in ["", "US", "USDT", "U$D", "12 ", "ÉUR"] {
            assert!(Currency::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn minor_units_convert_to_decimal_amounts() {
        assert_eq!(
            Amount::from_minor_units(128_450, 2).unwrap().as_str(),
            "1284.50"
        );
        assert_eq!(Amount::from_minor_units(-5, 2).unwrap().as_str(), "-0.05");
        assert_eq!(Amount::from_minor_units(5000, 0).unwrap().as_str(), "5000");
        assert_eq!(Amount::from_minor_units(1234, 3).unwrap().as_str(), "1.234");
        assert_eq!(
            Amount::from_minor_units(i64::MIN, 2).unwrap().as_str(),
            "-92233720368547758.08"
        );
        assert!(Amount::from_minor_units(i64::MAX, 0).is_none());
        assert!(Amount::from_minor_units(1, 40).is_none());
    }

    #[test]
    fn amounts_accept_plain_decimals_only() {
        assert_eq!(Amount::parse("1234.50").unwrap().as_str(), "1234.50");
        assert!(Amount::parse("-5").is_some());
        for bad in ["", "1e5", "12,50", "abc", "1.2.3", "-", ".5"] {
            assert!(Amount::parse(bad).is_none(), "{bad} accepted");
        }
        let from_number: Amount = serde_json::from_str("1234.5").unwrap();
        assert_eq!(from_number.as_str(), "1234.5");
    }

    proptest! {
        #[test]
        fn any_amount_in_any_currency_reads(
            text in "-?[0-9]{1,18}(\\.[0-9]{1,8})?",
            currency in proptest::option::of(".{0,6}"),
        ) {
            let shown = format(&amount(&text), currency.as_deref());
            prop_assert!(shown.chars().any(|c| c.is_ascii_digit()));
        }
    }
}
