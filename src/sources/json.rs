//! Reading providers' JSON the way every normalizer does: an optional field whose value does
//! not fit its type reads as absent, instead of failing the whole event.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// For `#[serde(default, deserialize_with = "lenient")]` on an `Option` field.
pub fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = Value::deserialize(deserializer)?;
    Ok(T::deserialize(&value).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Event {
        #[serde(default, deserialize_with = "lenient")]
        amount: Option<i64>,
    }

    #[test]
    fn a_field_that_does_not_fit_reads_as_absent() {
        let read = |json: &str| serde_json::from_str::<Event>(json).unwrap().amount;
        assert_eq!(read(r#"{"amount": 12}"#), Some(12));
        assert_eq!(read(r#"{"amount": "twelve"}"#), None);
        assert_eq!(read(r#"{}"#), None);
    }
}
