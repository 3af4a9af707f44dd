//! Search on PostgreSQL: its own full-text search, fed words cut by the same rule as the
//! embedded index ([`crate::search::words`]), so both match alike. Each entry's document is a
//! row of `search_documents`, written in the same statement batch as the entry: never behind.
//!
//! The words go in a `tsvector` as they are (no dictionary: PostgreSQL's stemming and stop
//! words would make the backends disagree), with positions for phrases. Whole values
//! (`to:maria@acme-coffee.example`, `any:inv-3307`) are lexemes of the same vector under
//! weight A, so one GIN index answers words, phrases, prefixes (`:*`) and exact values, and
//! `ts_rank` puts exact values above words.

use std::collections::BTreeMap;
use std::fmt::Write;

use tokio_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::rows::{id_bytes, id_from};
use crate::search::{
    Clause, IndexLag, Order, SearchDocument, SearchHits, SearchRequest, document::exact_term, words,
};
use crate::store::{Cursor, StoreError};

/// The most positions PostgreSQL keeps for one lexeme.
const MAX_POSITIONS: usize = 256;
/// What joins a list in one text parameter (`string_to_array` splits it).
pub const LIST_SEPARATOR: char = '\u{1f}';

/// The document as a `tsvector` literal: each word with its positions, each exact term at
/// position 1 with weight A.
fn tsvector(document: &SearchDocument) -> String {
    let mut positions: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (position, word) in words::words(&document.text)
        .take(words::MAX_WORDS)
        .enumerate()
    {
        let kept = positions.entry(word.text).or_default();
        if kept.len() < MAX_POSITIONS {
            kept.push(position + 1);
        }
    }
    let mut out = String::new();
    for (word, at) in positions {
        let at: Vec<String> = at.iter().map(usize::to_string).collect();
        let _ = write!(out, "{}:{} ", lexeme(&word), at.join(","));
    }
    for term in document.exact_terms() {
        let _ = write!(out, "{}:1A ", lexeme(&term));
    }
    out
}

/// A lexeme quoted for a `tsvector` or `tsquery` literal.
fn lexeme(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// The request's text as a `tsquery` literal; `None` when it has none (filters alone).
fn tsquery(request: &SearchRequest) -> Option<String> {
    let parts: Vec<String> = request
        .text
        .clauses
        .iter()
        .map(|clause| match clause {
            Clause::Words { words, whole } => {
                let phrase: Vec<String> = words.iter().map(|word| lexeme(word)).collect();
                format!(
                    "( {} | {} )",
                    phrase.join(" <-> "),
                    lexeme(&exact_term(None, whole))
                )
            }
            Clause::Prefix(stem) => format!("{}:*", lexeme(stem)),
            Clause::Value {
                field,
                value,
                prefix,
            } => {
                let star = if *prefix { ":*" } else { "" };
                format!("{}{star}", lexeme(&exact_term(*field, value)))
            }
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(" & "))
}

type Param = Box<dyn ToSql + Sync + Send>;

/// Runs `request` in its own transaction, bounded by `statement_timeout`.
pub async fn search(
    client: &mut deadpool_postgres::Object,
    request: &SearchRequest,
) -> Result<SearchHits, StoreError> {
    let mut params: Vec<Param> = Vec::new();
    let mut conditions: Vec<String> = Vec::new();
    let bind = |params: &mut Vec<Param>, value: Param| {
        params.push(value);
        format!("${}", params.len())
    };
    let query = tsquery(request).map(|text| {
        let at = bind(&mut params, Box::new(text));
        conditions.push(format!("words @@ {at}::text::tsquery"));
        at
    });
    let filters = &request.filters;
    if let Some(category) = filters.category {
        let at = bind(&mut params, Box::new(category.as_str().to_owned()));
        conditions.push(format!("category = {at}"));
    }
    if let Some(kind) = &filters.kind {
        let at = bind(&mut params, Box::new(kind.as_str().to_owned()));
        conditions.push(format!("kind = {at}"));
    }
    if let Some(source) = &filters.source {
        let at = bind(&mut params, Box::new(source.clone()));
        conditions.push(format!("source = {at}"));
    }
    if let Some(actor) = &filters.actor {
        let at = bind(&mut params, Box::new(vec![actor.clone()]));
        conditions.push(format!("actors @> {at}::text[]"));
    }
    if let Some(subject) = &filters.subject {
        let at = bind(&mut params, Box::new(vec![subject.key()]));
        conditions.push(format!("subjects @> {at}::text[]"));
    }
    if let Some(from) = filters.from {
        let at = bind(&mut params, Box::new(from.timestamp_micros()));
        conditions.push(format!("occurred >= {at}"));
    }
    if let Some(to) = filters.to {
        let at = bind(&mut params, Box::new(to.timestamp_micros()));
        conditions.push(format!("occurred < {at}"));
    }
    let order = match (request.order, &query) {
        (Order::Relevance, Some(query)) => {
            format!("ts_rank(words, {query}::text::tsquery) DESC, occurred DESC, id DESC")
        }
        _ => {
            if let Some(before) = request.before() {
                let occurred = bind(&mut params, Box::new(before.occurred_micros));
                let id = bind(&mut params, Box::new(id_bytes(before.id)));
                conditions.push(format!("(occurred, id) < ({occurred}, {id})"));
            }
            "occurred DESC, id DESC".to_owned()
        }
    };
    let limit = bind(&mut params, Box::new((request.limit + 1) as i64));
    let offset = bind(&mut params, Box::new(request.offset() as i64));
    let sql = format!(
        "SELECT occurred, id FROM search_documents WHERE {} ORDER BY {order} \
         LIMIT {limit} OFFSET {offset}",
        if conditions.is_empty() {
            "true".to_owned()
        } else {
            conditions.join(" AND ")
        }
    );
    let txn = client.transaction().await?;
    txn.batch_execute(&format!(
        "SET LOCAL statement_timeout = {}",
        crate::search::QUERY_TIMEOUT.as_millis()
    ))
    .await?;
    let params: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|param| param.as_ref() as &(dyn ToSql + Sync))
        .collect();
    let rows = txn.client().query(&sql, &params).await.map_err(|err| {
        if err.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED) {
            StoreError::TimedOut
        } else {
            StoreError::from(err)
        }
    })?;
    txn.commit().await?;
    let mut keys = rows
        .iter()
        .map(|row| {
            Ok(Cursor {
                occurred_micros: row.try_get(0)?,
                id: id_from(row.try_get(1)?)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let more = keys.len() > request.limit;
    keys.truncate(request.limit);
    Ok(SearchHits {
        next: request.next_cursor(keys.last(), more),
        ids: keys.into_iter().map(|key| key.id).collect(),
        behind: IndexLag::default(),
    })
}

/// Writes the search documents of entries written before search existed (an upgrade):
/// `batch` at a time, until every entry has one. Returns how many were written.
pub async fn backfill(client: &impl GenericClient, batch: i64) -> Result<u64, StoreError> {
    let mut written = 0;
    loop {
        let rows = client
            .query(
                "SELECT e.entry FROM entries e \
                 WHERE NOT EXISTS (SELECT 1 FROM search_documents s WHERE s.id = e.id) \
                 LIMIT $1",
                &[&batch],
            )
            .await?;
        if rows.is_empty() {
            return Ok(written);
        }
        let mut columns = DocumentColumns::default();
        for row in &rows {
            let entry: crate::activity::Entry = crate::store::from_json(row.try_get(0)?)?;
            columns.push(&SearchDocument::of(&entry));
        }
        client.execute(UPSERT, &columns.params()).await?;
        written += rows.len() as u64;
    }
}

/// Upserts documents given as columns (see [`DocumentColumns`]).
pub const UPSERT: &str = "INSERT INTO search_documents \
     (id, occurred, category, kind, source, actors, subjects, words) \
     SELECT id, occurred, category, kind, source, \
            string_to_array(actors, E'\\x1f'), string_to_array(subjects, E'\\x1f'), \
            words::tsvector \
     FROM unnest($1::bytea[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], \
                 $7::text[], $8::text[]) \
          AS t(id, occurred, category, kind, source, actors, subjects, words) \
     ON CONFLICT (id) DO UPDATE SET occurred = excluded.occurred, \
         category = excluded.category, kind = excluded.kind, source = excluded.source, \
         actors = excluded.actors, subjects = excluded.subjects, words = excluded.words";

/// Document rows as the columns [`UPSERT`] takes.
#[derive(Default)]
pub struct DocumentColumns {
    ids: Vec<Vec<u8>>,
    occurred: Vec<i64>,
    categories: Vec<String>,
    kinds: Vec<String>,
    sources: Vec<String>,
    actors: Vec<String>,
    subjects: Vec<String>,
    words: Vec<String>,
}

impl DocumentColumns {
    /// Adds `document`'s row. Lists travel as one text each, joined by [`LIST_SEPARATOR`]:
    /// no value holds it, since values have no control characters (see [`words::value`]).
    pub fn push(&mut self, document: &SearchDocument) {
        let separator = LIST_SEPARATOR.to_string();
        self.ids.push(id_bytes(document.id));
        self.occurred.push(document.occurred_at.timestamp_micros());
        self.categories.push(document.category.as_str().to_owned());
        self.kinds.push(document.kind.clone());
        self.sources.push(document.source.clone());
        self.actors
            .push(document.actors().collect::<Vec<_>>().join(&separator));
        self.subjects.push(document.subjects.join(&separator));
        self.words.push(tsvector(document));
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.ids,
            &self.occurred,
            &self.categories,
            &self.kinds,
            &self.sources,
            &self.actors,
            &self.subjects,
            &self.words,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexemes_are_quoted_and_escaped() {
        assert_eq!(lexeme("it's"), "'it''s'");
        assert_eq!(lexeme(r"a\b"), r"'a\\b'");
    }

    #[test]
    fn queries_become_tsquery_literals() {
        let request = crate::search::SearchParams {
            q: Some(r#"INV-3307 reprin* to:maria@acme.example "o'brien""#.into()),
            ..Default::default()
        }
        .parse(chrono_tz::UTC)
        .unwrap();
        assert_eq!(
            tsquery(&request).unwrap(),
            "( 'inv' <-> '3307' | 'any:inv-3307' ) & 'reprin':* & 'to:maria@acme.example' \
             & ( 'o' <-> 'brien' | 'any:o''brien' )"
        );
    }
}
