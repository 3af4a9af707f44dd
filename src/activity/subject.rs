//! What a timeline is about: `job:{id}` or `salesdoc:{id}`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The longest id the business app may use for a job or salesdoc.
const MAX_ID_LEN: usize = 128;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SubjectKind {
    Job,
    Salesdoc,
}

impl SubjectKind {
    pub const ALL: [SubjectKind; 2] = [SubjectKind::Job, SubjectKind::Salesdoc];

    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Job => "job",
            SubjectKind::Salesdoc => "salesdoc",
        }
    }

    /// The plural used in page URLs (`/jobs/{id}`, `/salesdocs/{id}`).
    pub fn plural(self) -> &'static str {
        match self {
            SubjectKind::Job => "jobs",
            SubjectKind::Salesdoc => "salesdocs",
        }
    }
}

impl FromStr for SubjectKind {
    type Err = InvalidSubject;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "job" | "jobs" => Ok(SubjectKind::Job),
            "salesdoc" | "salesdocs" => Ok(SubjectKind::Salesdoc),
            other => Err(InvalidSubject::UnknownKind(other.to_owned())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSubject {
    #[error("unknown subject kind {0:?} (expected job or salesdoc)")]
    UnknownKind(String),
    #[error("subject id is empty")]
    EmptyId,
    #[error("subject id is longer than {MAX_ID_LEN} characters")]
    IdTooLong,
    #[error("subject id contains a control character")]
    ControlCharacter,
    #[error("subject must look like kind:id, e.g. job:1042")]
    Malformed,
}

/// A job or salesdoc, by the business app's id. Valid on construction: the id is non-empty,
/// bounded and free of control characters, so it can be used in keys and URLs safely.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
pub struct Subject {
    kind: SubjectKind,
    /// The business app's id (a number is accepted and kept as text).
    #[schema(min_length = 1, max_length = 128)]
    id: String,
}

impl Subject {
    pub fn new(kind: SubjectKind, id: impl Into<String>) -> Result<Self, InvalidSubject> {
        let id = id.into().trim().to_owned();
        if id.is_empty() {
            return Err(InvalidSubject::EmptyId);
        }
        if id.chars().count() > MAX_ID_LEN {
            return Err(InvalidSubject::IdTooLong);
        }
        if id.chars().any(char::is_control) {
            return Err(InvalidSubject::ControlCharacter);
        }
        Ok(Subject { kind, id })
    }

    pub fn kind(&self) -> SubjectKind {
        self.kind
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The canonical key, `job:1042`, used in indexes and links.
    pub fn key(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.id)
    }
}

impl FromStr for Subject {
    type Err = InvalidSubject;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, id) = s.split_once(':').ok_or(InvalidSubject::Malformed)?;
        Subject::new(kind.parse()?, id)
    }
}

impl<'de> Deserialize<'de> for Subject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            kind: SubjectKind,
            id: IdValue,
        }
        /// The business app sends ids as strings, but numbers are accepted too.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum IdValue {
            Text(String),
            Number(serde_json::Number),
        }
        let raw = Raw::deserialize(deserializer)?;
        let id = match raw.id {
            IdValue::Text(text) => text,
            IdValue::Number(number) => number.to_string(),
        };
        Subject::new(raw.kind, id).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_the_canonical_key() {
        let subject: Subject = "job:1042".parse().unwrap();
        assert_eq!(subject.kind(), SubjectKind::Job);
        assert_eq!(subject.id(), "1042");
        assert_eq!(subject.to_string(), "job:1042");
        assert_eq!(
            "salesdoc:Q-7".parse::<Subject>().unwrap().kind(),
            SubjectKind::Salesdoc
        );
    }

    #[test]
    fn rejects_invalid_subjects() {
        assert_eq!("job:".parse::<Subject>(), Err(InvalidSubject::EmptyId));
        assert_eq!("1042".parse::<Subject>(), Err(InvalidSubject::Malformed));
        assert!(matches!(
            "order:1".parse::<Subject>(),
            Err(InvalidSubject::UnknownKind(_))
        ));
        assert_eq!(
            "job:a\nb".parse::<Subject>(),
            Err(InvalidSubject::ControlCharacter)
        );
        let long = format!("job:{}", "x".repeat(MAX_ID_LEN + 1));
        assert_eq!(long.parse::<Subject>(), Err(InvalidSubject::IdTooLong));
    }

    #[test]
    fn deserializes_numeric_ids() {
        let subject: Subject = serde_json::from_str(r#"{"kind":"job","id":1042}"#).unwrap();
        assert_eq!(subject.key(), "job:1042");
    }
}
