//! How text becomes searchable words, written once: both backends index the words made here
//! (tantivy through a tokenizer that runs this rule, PostgreSQL as a `tsvector` literal), and
//! queries and snippets are cut by the same rule, so a word matches the same way everywhere.

/// Words longer than this are not indexed (a base64 blob is not something anyone types).
pub const MAX_WORD_CHARS: usize = 40;

/// How much of an entry's text is indexed, in words: a long email body is searchable by its
/// first ten thousand words, which bounds a document's size on both backends (PostgreSQL
/// positions stop at 16,383).
pub const MAX_WORDS: usize = 10_000;

/// One word of a text: lowercased, with where it stands in the original (byte offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub start: usize,
    pub end: usize,
}

/// The words of `text`: runs of letters and digits, lowercased. Everything else (spaces,
/// punctuation, `@`, `-`) separates words, so `INV-3307` is `inv` `3307` and an address is
/// its parts; identifiers are also kept whole (see [`super::document`]).
pub fn words(text: &str) -> impl Iterator<Item = Word> + '_ {
    let mut chars = text.char_indices().peekable();
    std::iter::from_fn(move || {
        loop {
            let (start, _) = chars.find(|(_, c)| c.is_alphanumeric())?;
            let mut end = text.len();
            while let Some(&(at, c)) = chars.peek() {
                if !c.is_alphanumeric() {
                    end = at;
                    break;
                }
                chars.next();
            }
            let raw = &text[start..end];
            if raw.chars().count() <= MAX_WORD_CHARS {
                return Some(Word {
                    text: raw.to_lowercase(),
                    start,
                    end,
                });
            }
        }
    })
}

/// An identifier, address or name as a whole: lowercased, inner whitespace and control
/// characters collapsed to one space, at most [`MAX_VALUE_CHARS`]. `None` when nothing is left.
pub fn value(text: &str) -> Option<String> {
    let folded: String = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let folded: String = folded.chars().take(MAX_VALUE_CHARS).collect();
    (!folded.is_empty()).then_some(folded)
}

/// Whole values longer than this are cut (a file name, an address or a number never is).
pub const MAX_VALUE_CHARS: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<String> {
        words(text).map(|word| word.text).collect()
    }

    #[test]
    fn words_are_lowercased_runs_of_letters_and_digits() {
        assert_eq!(
            texts("Invoice INV-3307 sent to Maria@Acme-Coffee.example!"),
            [
                "invoice", "inv", "3307", "sent", "to", "maria", "acme", "coffee", "example"
            ]
        );
        assert_eq!(texts("Café Zoë — ÉTÉ"), ["café", "zoë", "été"]);
        assert!(texts("  ,;- ").is_empty());
    }

    #[test]
    fn offsets_point_into_the_original() {
        let text = "Proof «v2» approved";
        for word in words(text) {
            assert_eq!(text[word.start..word.end].to_lowercase(), word.text);
        }
    }

    #[test]
    fn overlong_words_are_skipped() {
        let blob = "a".repeat(MAX_WORD_CHARS + 1);
        assert_eq!(texts(&format!("before {blob} after")), ["before", "after"]);
    }

    #[test]
    fn values_are_folded_whole() {
        assert_eq!(value("  INV-3307 ").as_deref(), Some("inv-3307"));
        assert_eq!(
            value("Final   Proof\tv2.pdf").as_deref(),
            Some("final proof v2.pdf")
        );
        assert_eq!(value(" \n "), None);
        assert_eq!(value("Ann\u{1f}Lee\u{0}").as_deref(), Some("ann lee"));
        assert_eq!(value(&"x".repeat(500)).unwrap().len(), MAX_VALUE_CHARS);
    }
}
