//! The query language, parsed once for every backend: words, `"quoted phrases"`, `prefix*`,
//! and `field:value` (`to:maria@acme-coffee.example`, `invoice:INV-3307`, `file:"proof v2.pdf"`).
//! Every part must match. `kind:`, `category:` and `source:` are filters written inline.

use super::words::{self, MAX_WORD_CHARS};

/// A field whose whole values can be asked for by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// Recipients: an email's to, cc and bcc, a callback's recipient, a notification's.
    To,
    From,
    Invoice,
    Job,
    Salesdoc,
    Po,
    File,
    Rule,
    /// The customer of a job or sales document, the vendor of a purchase order.
    Customer,
    Actor,
    Proof,
    /// An email's Message-ID or the provider's message id.
    Message,
    /// An accounting record other than an invoice (a payment, a contact, a credit note).
    Reference,
}

impl Field {
    pub const ALL: [Field; 13] = [
        Field::To,
        Field::From,
        Field::Invoice,
        Field::Job,
        Field::Salesdoc,
        Field::Po,
        Field::File,
        Field::Rule,
        Field::Customer,
        Field::Actor,
        Field::Proof,
        Field::Message,
        Field::Reference,
    ];

    /// Its name in queries and in the index's terms.
    pub fn key(self) -> &'static str {
        match self {
            Field::To => "to",
            Field::From => "from",
            Field::Invoice => "invoice",
            Field::Job => "job",
            Field::Salesdoc => "salesdoc",
            Field::Po => "po",
            Field::File => "file",
            Field::Rule => "rule",
            Field::Customer => "customer",
            Field::Actor => "actor",
            Field::Proof => "proof",
            Field::Message => "message",
            Field::Reference => "ref",
        }
    }

    fn named(name: &str) -> Option<Field> {
        let alias = match name {
            "cc" | "bcc" => Some(Field::To),
            "quote" | "order" => Some(Field::Salesdoc),
            "vendor" => Some(Field::Customer),
            _ => None,
        };
        alias.or_else(|| Field::ALL.into_iter().find(|field| field.key() == name))
    }
}

/// One part of a query; every part must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clause {
    /// Free text: its words in this order (a phrase when there are several). The same text as
    /// a whole value of any field (`INV-3307`, an address) also matches, and ranks higher.
    Words { words: Vec<String>, whole: String },
    /// A word that starts with this.
    Prefix(String),
    /// A whole value of `field` (of any field when `None`): equal to `value`, or starting with
    /// it when `prefix`.
    Value {
        field: Option<Field>,
        value: String,
        prefix: bool,
    },
}

/// Filters written inside the query text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InlineFilters {
    pub kind: Option<String>,
    pub category: Option<String>,
    pub source: Option<String>,
}

/// A parsed query text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextQuery {
    pub clauses: Vec<Clause>,
    pub filters: InlineFilters,
}

/// Longest query text accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 500;
/// Most parts a query may have.
pub const MAX_CLAUSES: usize = 16;
/// Shortest prefix: `a*` would match most of the index.
pub const MIN_PREFIX_CHARS: usize = 2;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the query is longer than {MAX_QUERY_CHARS} characters")]
    TooLong,
    #[error("the query has more than {MAX_CLAUSES} parts")]
    TooManyParts,
    #[error("a quote is not closed")]
    UnclosedQuote,
    #[error("“{0}:” is not a field; fields are {fields}", fields = field_list())]
    UnknownField(String),
    #[error("“{0}:” needs a value, as in {0}:something")]
    EmptyField(String),
    #[error("a prefix needs at least {MIN_PREFIX_CHARS} letters or digits before the *")]
    ShortPrefix,
}

fn field_list() -> String {
    let mut names: Vec<&str> = Field::ALL.iter().map(|field| field.key()).collect();
    names.extend(["kind", "category", "source"]);
    names.join(", ")
}

impl TextQuery {
    pub fn parse(text: &str) -> Result<TextQuery, QueryError> {
        if text.chars().count() > MAX_QUERY_CHARS {
            return Err(QueryError::TooLong);
        }
        let mut query = TextQuery::default();
        for item in items(text)? {
            query.add(item)?;
        }
        if query.clauses.len() > MAX_CLAUSES {
            return Err(QueryError::TooManyParts);
        }
        Ok(query)
    }

    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    fn add(&mut self, item: Item) -> Result<(), QueryError> {
        let Item {
            field,
            text,
            quoted,
        } = item;
        let field = match field.as_deref() {
            None => None,
            Some(name) => {
                let slot = match name {
                    "kind" => Some(&mut self.filters.kind),
                    "category" => Some(&mut self.filters.category),
                    "source" => Some(&mut self.filters.source),
                    _ => None,
                };
                if let Some(slot) = slot {
                    *slot = Some(text.trim().to_owned());
                    return Ok(());
                }
                Some(Field::named(name).ok_or_else(|| QueryError::UnknownField(name.to_owned()))?)
            }
        };
        let (text, prefix) = match text.strip_suffix('*') {
            Some(stem) if !quoted => (stem, true),
            _ => (text.as_str(), false),
        };
        let found: Vec<String> = words::words(text).map(|word| word.text).collect();
        if found.is_empty() {
            // Punctuation alone (`-`, `&`) matches nothing and narrows nothing.
            return Ok(());
        }
        let whole = words::value(text).unwrap_or_default();
        let clause = match (field, prefix) {
            (Some(field), _) => Clause::Value {
                field: Some(field),
                value: whole,
                prefix,
            },
            (None, true) if found.len() == 1 => {
                let stem = found.into_iter().next().unwrap_or_default();
                if stem.chars().count() < MIN_PREFIX_CHARS {
                    return Err(QueryError::ShortPrefix);
                }
                Clause::Prefix(stem)
            }
            (None, true) => Clause::Value {
                field: None,
                value: whole,
                prefix: true,
            },
            (None, false) => Clause::Words {
                words: found,
                whole,
            },
        };
        if let Clause::Value {
            value,
            prefix: true,
            ..
        } = &clause
            && value.chars().count() < MIN_PREFIX_CHARS
        {
            return Err(QueryError::ShortPrefix);
        }
        self.clauses.push(clause);
        Ok(())
    }

    /// What a snippet marks: whole words, and words that start with a prefix.
    pub fn marks(&self) -> Marks {
        let mut marks = Marks::default();
        for clause in &self.clauses {
            match clause {
                Clause::Words { words, .. } => marks.words.extend(words.iter().cloned()),
                Clause::Prefix(stem) => marks.prefixes.push(stem.clone()),
                Clause::Value { value, prefix, .. } => {
                    let mut found: Vec<String> =
                        words::words(value).map(|word| word.text).collect();
                    if *prefix && let Some(last) = found.pop() {
                        marks.prefixes.push(last);
                    }
                    marks.words.extend(found);
                }
            }
        }
        marks
    }
}

/// The words a snippet marks (see [`super::snippet`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    pub words: Vec<String>,
    pub prefixes: Vec<String>,
}

impl Marks {
    pub fn matches(&self, word: &str) -> bool {
        self.words.iter().any(|w| w == word)
            || self
                .prefixes
                .iter()
                .any(|stem| word.starts_with(stem.as_str()))
    }
}

/// One item of the query text: `word`, `"a phrase"`, `field:value` or `field:"a value"`.
struct Item {
    field: Option<String>,
    text: String,
    quoted: bool,
}

fn items(text: &str) -> Result<Vec<Item>, QueryError> {
    let mut items = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let (field, after_field) = field_name(rest);
        let (value, quoted, after) = match after_field.strip_prefix('"') {
            Some(inner) => {
                let close = inner.find('"').ok_or(QueryError::UnclosedQuote)?;
                let tail = &inner[close + 1..];
                let star = tail.starts_with('*');
                let value = format!("{}{}", &inner[..close], if star { "*" } else { "" });
                (value, !star, &tail[usize::from(star)..])
            }
            None => {
                let end = after_field
                    .find(char::is_whitespace)
                    .unwrap_or(after_field.len());
                (after_field[..end].to_owned(), false, &after_field[end..])
            }
        };
        if let Some(name) = &field
            && value.trim().is_empty()
        {
            return Err(QueryError::EmptyField(name.clone()));
        }
        items.push(Item {
            field,
            text: value,
            quoted,
        });
        rest = after.trim_start();
    }
    Ok(items)
}

/// `name:` at the start of `text`, when `name` is a word of ASCII letters that is not the
/// scheme of a URL (`https://…` is text).
fn field_name(text: &str) -> (Option<String>, &str) {
    let name_len = text
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let after = &text[name_len..];
    match after.strip_prefix(':') {
        Some(value) if name_len > 0 && name_len <= MAX_WORD_CHARS && !value.starts_with("//") => {
            (Some(text[..name_len].to_ascii_lowercase()), value)
        }
        _ => (None, text),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parse(text: &str) -> Vec<Clause> {
        TextQuery::parse(text).unwrap().clauses
    }

    fn words(list: &[&str], whole: &str) -> Clause {
        Clause::Words {
            words: list.iter().map(|w| w.to_string()).collect(),
            whole: whole.to_owned(),
        }
    }

    #[test]
    fn words_phrases_prefixes_and_fields() {
        assert_eq!(
            parse(r#"email Acme "the reprint" reprin* to:Maria@Acme-Coffee.example"#),
            vec![
                words(&["email"], "email"),
                words(&["acme"], "acme"),
                words(&["the", "reprint"], "the reprint"),
                Clause::Prefix("reprin".into()),
                Clause::Value {
                    field: Some(Field::To),
                    value: "maria@acme-coffee.example".into(),
                    prefix: false,
                },
            ]
        );
        assert_eq!(parse("INV-3307"), vec![words(&["inv", "3307"], "inv-3307")]);
        assert_eq!(
            parse(r#"file:"Proof V2.pdf" invoice:inv-33* inv-33*"#),
            vec![
                Clause::Value {
                    field: Some(Field::File),
                    value: "proof v2.pdf".into(),
                    prefix: false,
                },
                Clause::Value {
                    field: Some(Field::Invoice),
                    value: "inv-33".into(),
                    prefix: true,
                },
                Clause::Value {
                    field: None,
                    value: "inv-33".into(),
                    prefix: true,
                },
            ]
        );
    }

    #[test]
    fn inline_filters_and_aliases() {
        let query = TextQuery::parse("kind:email.bounced category:communication cc:a@b.c").unwrap();
        assert_eq!(query.filters.kind.as_deref(), Some("email.bounced"));
        assert_eq!(query.filters.category.as_deref(), Some("communication"));
        assert!(matches!(
            query.clauses[..],
            [Clause::Value {
                field: Some(Field::To),
                ..
            }]
        ));
    }

    #[test]
    fn urls_times_and_punctuation_are_text() {
        assert_eq!(
            parse("https://files.example/a 10:30 - &"),
            vec![
                words(
                    &["https", "files", "example", "a"],
                    "https://files.example/a"
                ),
                words(&["10", "30"], "10:30"),
            ]
        );
    }

    #[test]
    fn bad_queries_say_what_is_wrong() {
        let error = |text: &str| TextQuery::parse(text).unwrap_err();
        assert_eq!(
            error("colour:red"),
            QueryError::UnknownField("colour".into())
        );
        assert_eq!(error("to:"), QueryError::EmptyField("to".into()));
        assert_eq!(error(r#"to:"  ""#), QueryError::EmptyField("to".into()));
        assert_eq!(error(r#""never closed"#), QueryError::UnclosedQuote);
        assert_eq!(error("a*"), QueryError::ShortPrefix);
        assert_eq!(error(&"x".repeat(MAX_QUERY_CHARS + 1)), QueryError::TooLong);
        assert_eq!(
            error(&"w ".repeat(MAX_CLAUSES + 1)),
            QueryError::TooManyParts
        );
        assert!(error("colour:red").to_string().contains("invoice"));
    }

    #[test]
    fn marks_cover_what_matched() {
        let marks = TextQuery::parse("reprint proo* to:maria@acme.example")
            .unwrap()
            .marks();
        assert!(marks.matches("reprint") && marks.matches("proofs") && marks.matches("maria"));
        assert!(!marks.matches("reprints") && !marks.matches("pro"));
    }

    proptest! {
        #[test]
        fn any_text_parses_or_is_refused_without_panicking(text in r#"([a-z]{0,6}:|"|\*|-|é|[ \t]|[A-Za-z0-9@.]{0,8}){0,40}"#) {
            if let Ok(query) = TextQuery::parse(&text) {
                prop_assert!(query.clauses.len() <= MAX_CLAUSES);
                query.marks();
            }
        }
    }
}
