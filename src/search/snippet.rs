//! Snippets: a few words of an entry's text around what matched, as HTML that is escaped
//! everywhere except the `<mark>` elements made here. Cut from the entry as it reads now, so
//! both backends show the same snippet, and an erased address never shows in one.

use serde::Serialize;

use super::SearchDocument;
use super::query::Marks;
use super::words::words;

/// Words a snippet shows.
const SNIPPET_WORDS: usize = 28;
/// Words shown before the first match.
const LEAD_WORDS: usize = 6;

/// A snippet: escaped HTML with `<mark>` around matched words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Snippet(String);

impl Snippet {
    pub fn as_html(&self) -> &str {
        &self.0
    }

    /// The snippet of an entry whose title is its summary: cut from the rest of its text when
    /// a match is there, so that it adds to the title rather than repeat it; from all of it
    /// otherwise.
    pub fn of(document: &SearchDocument, marks: &Marks) -> Snippet {
        let beyond = document.text_beyond_summary();
        if words(beyond).any(|word| marks.matches(&word.text)) {
            Snippet::cut(beyond, marks)
        } else {
            Snippet::cut(&document.text, marks)
        }
    }

    /// The snippet of `text` for `marks`: the words around the first match (the start of the
    /// text when nothing matched: a search by filters alone).
    pub fn cut(text: &str, marks: &Marks) -> Snippet {
        let found: Vec<_> = words(text).collect();
        let first = found
            .iter()
            .position(|word| marks.matches(&word.text))
            .unwrap_or(0);
        let from = first.saturating_sub(LEAD_WORDS);
        let to = (from + SNIPPET_WORDS).min(found.len());
        let Some(window) = found.get(from..to).filter(|w| !w.is_empty()) else {
            return Snippet(String::new());
        };
        let start = if from == 0 { 0 } else { window[0].start };
        let end = if to == found.len() {
            text.len()
        } else {
            window[window.len() - 1].end
        };
        let mut html = String::new();
        if from > 0 {
            html.push_str("… ");
        }
        let mut at = start;
        for word in window {
            push_escaped(&mut html, &text[at..word.start]);
            let shown = &text[word.start..word.end];
            if marks.matches(&word.text) {
                html.push_str("<mark>");
                push_escaped(&mut html, shown);
                html.push_str("</mark>");
            } else {
                push_escaped(&mut html, shown);
            }
            at = word.end;
        }
        push_escaped(&mut html, &text[at..end]);
        if to < found.len() {
            html.push_str(" …");
        }
        Snippet(html)
    }
}

/// Appends `text` with HTML's special characters escaped and line breaks as separators.
fn push_escaped(html: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#x27;"),
            '\n' => html.push_str(" · "),
            c if c.is_control() => html.push(' '),
            c => html.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::search::query::TextQuery;

    fn cut(text: &str, query: &str) -> String {
        Snippet::cut(text, &TextQuery::parse(query).unwrap().marks())
            .as_html()
            .to_owned()
    }

    #[test]
    fn marks_matches_and_escapes_everything_else() {
        assert_eq!(
            cut("Reprint <b>ready</b> & \"paid\"\nfor Acme", "reprint acme"),
            "<mark>Reprint</mark> &lt;b&gt;ready&lt;/b&gt; &amp; &quot;paid&quot; · for <mark>Acme</mark>"
        );
    }

    #[test]
    fn a_match_deep_in_the_text_is_shown_with_a_few_words_before() {
        let text = (0..100)
            .map(|n| format!("w{n}"))
            .collect::<Vec<_>>()
            .join(" ");
        let snippet = cut(&text, "w50");
        assert!(snippet.starts_with("… w44 "), "{snippet}");
        assert!(snippet.contains("<mark>w50</mark>") && snippet.ends_with(" …"));
    }

    #[test]
    fn hostile_text_never_becomes_markup() {
        let hostile = r#"<script>alert(1)</script><img src=x onerror=alert(2)> javascript:alert(3) '"><svg/onload=x>"#;
        let snippet = cut(hostile, "alert script img svg");
        let without_marks = snippet.replace("<mark>", "").replace("</mark>", "");
        assert!(!without_marks.contains('<') && !without_marks.contains('>'));
        assert!(!without_marks.contains('"') && !without_marks.contains('\''));
    }

    proptest! {
        #[test]
        fn no_text_becomes_markup(
            text in r#"([<>&"'\n]|[a-z]{1,5}|é| ){0,80}"#,
            query in r"[a-z]{1,5}( [a-z]{2,5}\*?){0,3}",
        ) {
            let snippet = cut(&text, &query);
            let bare = snippet.replace("<mark>", "").replace("</mark>", "");
            prop_assert!(!bare.contains(['<', '>', '"', '\'']), "{}", snippet);
        }
    }
}
