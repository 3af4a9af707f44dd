//! Search across all activity, written once for every backend: what of an entry is
//! searchable ([`document`]), how text becomes words ([`words`]), the query language
//! ([`query`]), the request and its filters, ordering and cursors (here), and the snippets
//! shown with each result ([`snippet`]). A backend only finds the ids that match, in order
//! (see [`crate::store::ReadSide::search`]): tantivy beside the embedded store, PostgreSQL's
//! own full-text search on the shared one.

pub mod document;
pub mod query;
pub mod snippet;
pub mod words;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::activity::{Category, Entry, EntryId, EntryKind, Subject};
use crate::store::{Cursor, ReadSide, StoreError};

pub use document::SearchDocument;
pub use query::{Clause, Field, QueryError, TextQuery};
pub use snippet::Snippet;

/// How long a query may run before it is answered as timed out. Queries are bounded in size
/// ([`query::MAX_CLAUSES`], [`MAX_LIMIT`]), so this only guards against an index under
/// pressure.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;
/// How deep results by relevance can be paged: past the first thousand, refine the query.
pub const MAX_RELEVANCE_DEPTH: usize = 1000;

/// How results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Best match first; exact values (an invoice number, an address) above words.
    Relevance,
    /// By when it happened, newest first, like a timeline.
    Newest,
}

/// What must hold besides the text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub category: Option<Category>,
    pub kind: Option<EntryKind>,
    pub subject: Option<Subject>,
    pub source: Option<String>,
    /// An actor's name or id, folded like a value (see [`words::value`]).
    pub actor: Option<String>,
    /// Happened at or after.
    pub from: Option<DateTime<Utc>>,
    /// Happened before.
    pub to: Option<DateTime<Utc>>,
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        *self == Filters::default()
    }
}

/// Where the next page of results starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchCursor {
    /// After this many results by relevance.
    Relevance(usize),
    /// Before this entry, newest first.
    Newest(Cursor),
}

impl fmt::Display for SearchCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SearchCursor::Relevance(offset) => write!(f, "r{offset}"),
            SearchCursor::Newest(cursor) => write!(f, "n{cursor}"),
        }
    }
}

impl FromStr for SearchCursor {
    type Err = SearchError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parsed = match text.split_at_checked(1) {
            Some(("r", offset)) => offset
                .parse()
                .ok()
                .filter(|offset| *offset <= MAX_RELEVANCE_DEPTH)
                .map(SearchCursor::Relevance),
            Some(("n", cursor)) => cursor.parse().ok().map(SearchCursor::Newest),
            _ => None,
        };
        parsed.ok_or(SearchError::BadCursor)
    }
}

/// A search, checked: valid on construction (see [`SearchParams::parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    pub text: TextQuery,
    pub filters: Filters,
    pub order: Order,
    pub limit: usize,
    pub after: Option<SearchCursor>,
}

impl SearchRequest {
    /// How many results to skip (by relevance), and the newest-first position to start
    /// before.
    pub fn offset(&self) -> usize {
        match self.after {
            Some(SearchCursor::Relevance(offset)) => offset,
            _ => 0,
        }
    }

    pub fn before(&self) -> Option<Cursor> {
        match self.after {
            Some(SearchCursor::Newest(cursor)) => Some(cursor),
            _ => None,
        }
    }

    /// The cursor after a page when the backend saw that more match: by relevance, the next
    /// offset (none past [`MAX_RELEVANCE_DEPTH`]); newest first, the position of the page's
    /// `last` result, as a timeline's cursor has it.
    pub fn next_cursor(&self, last: Option<&Cursor>, more: bool) -> Option<SearchCursor> {
        if !more {
            return None;
        }
        match self.order {
            Order::Relevance => {
                let next = self.offset() + self.limit;
                (next < MAX_RELEVANCE_DEPTH).then_some(SearchCursor::Relevance(next))
            }
            Order::Newest => last.map(|cursor| SearchCursor::Newest(*cursor)),
        }
    }
}

/// What a backend found: the ids in order, where the next page starts, and how far the index
/// is behind the timelines.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchHits {
    pub ids: Vec<EntryId>,
    pub next: Option<SearchCursor>,
    pub behind: IndexLag,
}

/// How far an index that follows the timelines is behind them (zero for one written in the
/// same commit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, ToSchema)]
pub struct IndexLag {
    /// Deliveries whose entries are not searchable yet.
    pub deliveries: u64,
}

/// Where an index that follows the timelines stands, after a round of indexing: what the
/// background task that drives it does next (see [`crate::store::WriteSide::index_for_search`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexing {
    /// The backend indexes inside each commit: there is nothing to follow.
    InCommit,
    /// Everything committed is searchable.
    CaughtUp,
    /// More is waiting: go on at once.
    Behind,
    /// The store is kept without following it (a bench-only setting): nothing to do.
    Off,
}

/// The query string of both search routes, unchecked. A parameter not named here is refused.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words, all of which must appear; `"a phrase"`; `reprin*`; `field:value` for a whole
    /// value (`to:`, `from:`, `invoice:`, `job:`, `salesdoc:`, `po:`, `file:`, `rule:`,
    /// `customer:`, `actor:`, `proof:`). At most 500 characters and 16 parts.
    #[param(example = "proof")]
    pub q: Option<String>,
    /// Only this category (`all`, or empty, for every one).
    #[param(
        pattern = "^ *(|all|workflow|communication|accounting|purchasing|automation|system) *$"
    )]
    pub category: Option<String>,
    /// Only this kind of entry (`email.bounced`).
    pub kind: Option<String>,
    /// Only this timeline: `job:1042`, `salesdoc:Q-7`.
    pub subject: Option<String>,
    /// Only what this source delivered.
    pub source: Option<String>,
    /// Only what this person or rule did (a name or an id).
    pub actor: Option<String>,
    /// From this time (RFC 3339) or day (in the display timezone).
    pub from: Option<String>,
    /// Until this time (RFC 3339) or day (inclusive).
    pub to: Option<String>,
    /// `relevance` or `newest`; relevance when there is text to rank by.
    #[param(pattern = "^ *(|relevance|newest) *$")]
    pub sort: Option<String>,
    /// Results per page.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<usize>,
    /// Where the page starts: the previous page's `next_cursor`.
    pub before: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("{0}")]
    Query(#[from] QueryError),
    #[error("nothing to search for: give words in q, or a filter")]
    Empty,
    #[error("{0}")]
    Filter(String),
    #[error("the cursor is damaged, or belongs to another order")]
    BadCursor,
}

/// A parameter's value, trimmed, when it is not blank.
pub(crate) fn given(text: &Option<String>) -> Option<&str> {
    text.as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty())
}

impl SearchParams {
    /// The parameters given (not blank), by name, in a fixed order; `limit` and `before`,
    /// which only page, are left out.
    pub fn given(&self) -> Vec<(&'static str, &str)> {
        [
            ("q", &self.q),
            ("category", &self.category),
            ("kind", &self.kind),
            ("subject", &self.subject),
            ("source", &self.source),
            ("actor", &self.actor),
            ("from", &self.from),
            ("to", &self.to),
            ("sort", &self.sort),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, given(value)?)))
        .collect()
    }

    /// Checks every parameter; dates without a time are days in `zone`, `to` inclusive.
    pub fn parse(&self, zone: chrono_tz::Tz) -> Result<SearchRequest, SearchError> {
        let text = TextQuery::parse(given(&self.q).unwrap_or(""))?;
        let inline = &text.filters;
        let filters = Filters {
            category: either(
                "category",
                given(&self.category),
                inline.category.as_deref(),
            )?
            .filter(|name| *name != "all")
            .map(|name| {
                name.parse::<Category>()
                    .map_err(|err| SearchError::Filter(err.to_string()))
            })
            .transpose()?,
            kind: either("kind", given(&self.kind), inline.kind.as_deref())?
                .map(|kind| {
                    EntryKind::new(kind).ok_or_else(|| {
                        SearchError::Filter(format!("“{kind}” is not an entry kind"))
                    })
                })
                .transpose()?,
            subject: given(&self.subject)
                .map(|key| {
                    key.parse::<Subject>().map_err(|_| {
                        SearchError::Filter(format!(
                            "“{key}” is not a subject: use job:ID or salesdoc:ID"
                        ))
                    })
                })
                .transpose()?,
            source: either("source", given(&self.source), inline.source.as_deref())?
                .map(str::to_owned),
            actor: given(&self.actor).and_then(words::value),
            from: given(&self.from)
                .map(|text| moment(text, zone, false))
                .transpose()?,
            to: given(&self.to)
                .map(|text| moment(text, zone, true))
                .transpose()?,
        };
        if let (Some(from), Some(to)) = (filters.from, filters.to)
            && from >= to
        {
            return Err(SearchError::Filter("from must come before to".into()));
        }
        if text.is_empty() && filters.is_empty() {
            return Err(SearchError::Empty);
        }
        let order = match given(&self.sort) {
            None if text.is_empty() => Order::Newest,
            None | Some("relevance") => Order::Relevance,
            Some("newest") => Order::Newest,
            Some(other) => {
                return Err(SearchError::Filter(format!(
                    "“{other}” is not an order: use relevance or newest"
                )));
            }
        };
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(SearchError::Filter(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        let after = given(&self.before).map(str::parse).transpose()?;
        let cursor_fits = matches!(
            (order, after),
            (_, None)
                | (Order::Relevance, Some(SearchCursor::Relevance(_)))
                | (Order::Newest, Some(SearchCursor::Newest(_)))
        );
        if !cursor_fits {
            return Err(SearchError::BadCursor);
        }
        Ok(SearchRequest {
            text,
            filters,
            order,
            limit,
            after,
        })
    }
}

/// A filter given as a parameter or inside the query text (not both, unless they agree).
fn either<'a>(
    name: &str,
    parameter: Option<&'a str>,
    inline: Option<&'a str>,
) -> Result<Option<&'a str>, SearchError> {
    match (parameter, inline) {
        (Some(a), Some(b)) if a != b => Err(SearchError::Filter(format!(
            "{name} is given twice, as {a} and as {b}"
        ))),
        (Some(value), _) | (None, Some(value)) => Ok(Some(value)),
        (None, None) => Ok(None),
    }
}

/// An RFC 3339 time, or a day (`2026-11-30`) in `zone`: its start, or the start of the next
/// day when `end` (an inclusive last day).
pub fn moment(text: &str, zone: chrono_tz::Tz, end: bool) -> Result<DateTime<Utc>, SearchError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        SearchError::Filter(format!(
            "“{text}” is not a date: use 2026-11-30 or an RFC 3339 time"
        ))
    })?;
    let day = if end {
        day.succ_opt().unwrap_or(day)
    } else {
        day
    };
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    zone.from_local_datetime(&midnight)
        .earliest()
        .map(|at| at.with_timezone(&Utc))
        .ok_or_else(|| SearchError::Filter(format!("“{text}” has no midnight in {zone}")))
}

/// One result: the entry as it reads now, and its snippet.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = SearchHit)]
pub struct Found {
    #[serde(flatten)]
    pub entry: Entry,
    /// The words around the match, as escaped HTML whose only markup is `<mark>`.
    #[schema(value_type = String)]
    pub snippet: Snippet,
}

/// A page of results.
#[derive(Debug, Clone)]
pub struct Results {
    pub found: Vec<Found>,
    pub next: Option<SearchCursor>,
    pub behind: IndexLag,
}

/// Runs `request` on `store`: the ids the backend finds, read as entries (O(page)), each
/// with its snippet. An id whose entry is gone (the index a moment behind a reindex) is left
/// out.
pub fn run(store: &dyn ReadSide, request: &SearchRequest) -> Result<Results, StoreError> {
    let hits = store.search(request)?;
    let marks = request.text.marks();
    let mut found = Vec::with_capacity(hits.ids.len());
    for id in hits.ids {
        if let Some(entry) = store.entry(id)? {
            let snippet = Snippet::of(&SearchDocument::of(&entry), &marks);
            found.push(Found { entry, snippet });
        }
    }
    Ok(Results {
        found,
        next: hits.next,
        behind: hits.behind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(params: SearchParams) -> Result<SearchRequest, SearchError> {
        params.parse(chrono_tz::Europe::Berlin)
    }

    fn q(text: &str) -> SearchParams {
        SearchParams {
            q: Some(text.into()),
            ..SearchParams::default()
        }
    }

    #[test]
    fn text_ranks_by_relevance_and_filters_alone_list_newest() {
        assert_eq!(parse(q("reprint")).unwrap().order, Order::Relevance);
        let bounced = SearchParams {
            kind: Some("email.bounced".into()),
            ..SearchParams::default()
        };
        assert_eq!(parse(bounced).unwrap().order, Order::Newest);
        assert_eq!(parse(q("kind:email.bounced")).unwrap().order, Order::Newest);
    }

    #[test]
    fn days_are_local_and_the_last_day_is_included() {
        let request = parse(SearchParams {
            from: Some("2026-11-30".into()),
            to: Some("2026-11-30".into()),
            ..q("x")
        })
        .unwrap();
        assert_eq!(
            request.filters.from.unwrap().to_rfc3339(),
            "2026-11-29T23:00:00+00:00"
        );
        assert_eq!(
            request.filters.to.unwrap().to_rfc3339(),
            "2026-11-30T23:00:00+00:00"
        );
    }

    #[test]
    fn bad_parameters_are_refused() {
        let bad = |params: SearchParams| parse(params).unwrap_err().to_string();
        assert!(bad(q("  ")).contains("nothing to search"));
        assert!(
            bad(SearchParams {
                category: Some("money".into()),
                ..q("x")
            })
            .contains("money")
        );
        assert!(
            bad(SearchParams {
                kind: Some("<b>".into()),
                ..q("x")
            })
            .contains("kind")
        );
        assert!(
            bad(SearchParams {
                subject: Some("job".into()),
                ..q("x")
            })
            .contains("subject")
        );
        assert!(
            bad(SearchParams {
                from: Some("yesterday".into()),
                ..q("x")
            })
            .contains("date")
        );
        assert!(
            bad(SearchParams {
                limit: Some(0),
                ..q("x")
            })
            .contains("limit")
        );
        assert!(
            bad(SearchParams {
                sort: Some("oldest".into()),
                ..q("x")
            })
            .contains("order")
        );
        assert!(
            bad(SearchParams {
                before: Some("zzz".into()),
                ..q("x")
            })
            .contains("cursor")
        );
        assert!(
            bad(SearchParams {
                before: Some("r20".into()),
                sort: Some("newest".into()),
                ..q("x")
            })
            .contains("cursor")
        );
        assert!(
            bad(SearchParams {
                kind: Some("job.created".into()),
                ..q("kind:email.sent")
            })
            .contains("twice")
        );
        let reversed = SearchParams {
            from: Some("2026-12-02".into()),
            to: Some("2026-12-01".into()),
            ..q("x")
        };
        assert!(bad(reversed).contains("before"));
    }

    #[test]
    fn cursors_round_trip_and_relevance_stops_at_its_depth() {
        let request = parse(q("reprint")).unwrap();
        let next = request.next_cursor(None, true).unwrap();
        assert_eq!(next, SearchCursor::Relevance(DEFAULT_LIMIT));
        assert_eq!(next.to_string().parse::<SearchCursor>().unwrap(), next);
        let deep = SearchRequest {
            after: Some(SearchCursor::Relevance(MAX_RELEVANCE_DEPTH - DEFAULT_LIMIT)),
            ..request
        };
        assert_eq!(deep.next_cursor(None, true), None);
        assert!(
            format!("r{}", MAX_RELEVANCE_DEPTH + 1)
                .parse::<SearchCursor>()
                .is_err()
        );
    }
}
