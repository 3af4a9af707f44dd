//! The embedded store's search index: tantivy, in a folder beside the store file
//! (`hooktrail.redb.search/`). It is a projection like the others, kept apart because a
//! search index is not a B-tree: it follows the change feed of everything
//! ([`crate::store::Feed::Everything`]), which names every entry new or changed (an email's
//! roll-up, an attachment to a timeline, an erasure), and indexes those entries as they read
//! then. A background task keeps it close behind: about a second, and up to ten while it gives
//! way to a burst of intake (see `app::pacing`). Searches say how far.
//!
//! Each tantivy commit carries where the index stands in the feed and the integrity chain at
//! that delivery. On open, an index that is ahead of the store, or whose chain differs (a
//! backup restored under it), is emptied and rebuilt from the feed. The index can always be
//! deleted: it is rebuilt the same way.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{
    FAST, Field as IndexField, INDEXED, IndexRecordOption, STRING, Schema, TextFieldIndexing,
    TextOptions,
};
use tantivy::tokenizer::{PreTokenizedStream, PreTokenizedString, TextAnalyzer, Token, Tokenizer};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term,
};

use crate::activity::EntryId;
use crate::search::{
    Clause, IndexLag, Indexing, Order, SearchDocument, SearchHits, SearchRequest,
    document::exact_term, words,
};
use crate::store::{ChangeCursor, Cursor, Feed, ReadSide, StoreError};

/// How a ranked exact value (an invoice number, an address) weighs against words.
const EXACT_BOOST: f32 = 5.0;
/// Changes read and indexed at a time.
const BATCH: usize = 200;
/// How long indexed entries may wait for a commit (which makes them searchable).
const COMMIT_EVERY: Duration = Duration::from_millis(500);
/// The indexing arena: tantivy's smallest is 15 MB.
const WRITER_BYTES: usize = 20_000_000;
/// The name the index knows [`WordsTokenizer`] by.
const WORDS_TOKENIZER: &str = "hooktrail_words";

pub struct SearchIndex {
    path: PathBuf,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    /// The delivery the last commit reached: how far behind the index is, without reading
    /// its metadata from disk on every search.
    indexed_seq: AtomicU64,
    /// Made on first write: a store opened for a command that only reads never starts
    /// tantivy's indexing threads.
    writing: Mutex<Option<Writing>>,
}

struct Writing {
    writer: IndexWriter<TantivyDocument>,
    /// The last change indexed (committed or not) and the last committed.
    seen: ChangeCursor,
    committed: ChangeCursor,
    since_commit: Instant,
}

/// What a commit records: where the index stands in the feed, and the chain at that
/// delivery, by which a store restored under the index is recognized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    seq: u64,
    id: u128,
    chain: [u8; 32],
}

impl Position {
    const START: Position = Position {
        seq: 0,
        id: 0,
        chain: [0; 32],
    };

    fn cursor(self) -> ChangeCursor {
        ChangeCursor {
            seq: self.seq,
            id: EntryId::from_u128(self.id),
        }
    }
}

#[derive(Clone, Copy)]
struct Fields {
    id: IndexField,
    id_hi: IndexField,
    id_lo: IndexField,
    occurred: IndexField,
    text: IndexField,
    exact: IndexField,
    category: IndexField,
    kind: IndexField,
    source: IndexField,
    actor: IndexField,
    subject: IndexField,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(WORDS_TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        id: builder.add_text_field("id", STRING),
        id_hi: builder.add_u64_field("id_hi", FAST),
        id_lo: builder.add_u64_field("id_lo", FAST),
        occurred: builder.add_i64_field("occurred", FAST | INDEXED),
        text: builder.add_text_field("text", text),
        exact: builder.add_text_field("exact", STRING),
        category: builder.add_text_field("category", STRING),
        kind: builder.add_text_field("kind", STRING),
        source: builder.add_text_field("source", STRING),
        actor: builder.add_text_field("actor", STRING),
        subject: builder.add_text_field("subject", STRING),
    };
    (builder.build(), fields)
}

/// The index's folder for the store at `store`.
pub fn path_for(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".search");
    PathBuf::from(name)
}

impl SearchIndex {
    /// Opens the index beside the store at `store`, making it on first use. One that cannot
    /// be opened (damaged, or from a build with another layout) is removed and made afresh:
    /// it is rebuilt from the feed.
    pub fn open(store: &Path) -> Result<SearchIndex, StoreError> {
        let path = path_for(store);
        match SearchIndex::open_at(&path) {
            Ok(index) => Ok(index),
            Err(err) => {
                tracing::warn!(
                    path = %path.display(),
                    error = %err,
                    "the search index cannot be opened; it is made afresh and rebuilt from the store"
                );
                std::fs::remove_dir_all(&path).map_err(|err| io_error(&path, err))?;
                SearchIndex::open_at(&path)
            }
        }
    }

    fn open_at(path: &Path) -> Result<SearchIndex, StoreError> {
        std::fs::create_dir_all(path).map_err(|err| io_error(path, err))?;
        let (schema, fields) = schema();
        let directory = tantivy::directory::MmapDirectory::open(path).map_err(search_error)?;
        let index = Index::open_or_create(directory, schema).map_err(search_error)?;
        index
            .tokenizers()
            .register(WORDS_TOKENIZER, TextAnalyzer::from(WordsTokenizer));
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(search_error)?;
        let committed = committed(&index)?;
        Ok(SearchIndex {
            path: path.to_owned(),
            index,
            reader,
            fields,
            indexed_seq: AtomicU64::new(committed.seq),
            writing: Mutex::new(None),
        })
    }

    /// Runs `work` with the writer, made on first use. Making it is when the index is checked
    /// against `store` (once: only a store swapped while closed can differ): one that no
    /// longer matches is emptied, and rebuilt from the feed.
    fn with_writer<T>(
        &self,
        store: &dyn ReadSide,
        work: impl FnOnce(&mut Writing) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let writing = match &mut *guard {
            Some(writing) => writing,
            empty => {
                let writer = self
                    .index
                    .writer_with_num_threads(1, WRITER_BYTES)
                    .map_err(search_error)?;
                let committed = committed(&self.index)?;
                let mut writing = Writing {
                    writer,
                    seen: committed.cursor(),
                    committed: committed.cursor(),
                    since_commit: Instant::now(),
                };
                if !still_matches(store, committed)? {
                    tracing::info!(
                        path = %self.path.display(),
                        "the search index does not match the store (restored from a backup?); rebuilding it"
                    );
                    self.empty(&mut writing, store)?;
                }
                empty.insert(writing)
            }
        };
        work(writing)
    }

    /// Indexes the next changes of `store`'s feed, and commits when enough time has passed
    /// or the feed is caught up.
    pub fn catch_up(&self, store: &dyn ReadSide) -> Result<Indexing, StoreError> {
        self.with_writer(store, |writing| {
            let changes = store.changes(Feed::Everything, writing.seen, BATCH)?;
            for change in &changes {
                // An entry's first change is its creation, at its own delivery's seq (the feed
                // holds one change per entry and seq): nothing indexed can hold it yet, so it
                // needs no delete, which tantivy would otherwise look up in every segment at
                // the next commit. Later changes replace the document.
                let created = change.cursor.seq == change.entry.source.delivery_seq;
                if !created {
                    let id = change.entry.id.to_string();
                    writing
                        .writer
                        .delete_term(Term::from_field_text(self.fields.id, &id));
                }
                writing
                    .writer
                    .add_document(self.document(&SearchDocument::of(&change.entry)))
                    .map_err(search_error)?;
            }
            if let Some(last) = changes.last() {
                writing.seen = last.cursor;
            }
            let behind = changes.len() >= BATCH;
            let due = writing.since_commit.elapsed() >= COMMIT_EVERY || !behind;
            if writing.seen != writing.committed && due {
                self.commit(writing, store)?;
            }
            Ok(if behind {
                Indexing::Behind
            } else {
                Indexing::CaughtUp
            })
        })
    }

    /// Indexes everything in the feed and commits.
    pub fn catch_up_fully(&self, store: &dyn ReadSide) -> Result<(), StoreError> {
        while self.catch_up(store)? == Indexing::Behind {}
        Ok(())
    }

    /// Waits for the merges tantivy has started, and for those they lead to, to be done and
    /// recorded. The index's merge policy runs them in the background after commits; an index
    /// built in one go and then closed (by a bench's fixture, say) would otherwise leave them
    /// to whoever opens it next, who would redo them from the start while taking intake. The
    /// writer goes with them: the next write makes another.
    pub fn settle(&self) -> Result<(), StoreError> {
        // Held while the merges run: tantivy allows one writer an index, and another made
        // meanwhile (by the indexer, say) would find the index locked.
        let mut guard = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(writing) = guard.take() {
            writing
                .writer
                .wait_merging_threads()
                .map_err(search_error)?;
            self.reader.reload().map_err(search_error)?;
        }
        Ok(())
    }

    /// How many segments the index is searched across (merges bring it down), and how many
    /// documents they hold.
    #[cfg(test)]
    pub(super) fn segments_and_documents(&self) -> Result<(usize, u64), StoreError> {
        let segments = self.index.searchable_segment_ids().map_err(search_error)?;
        Ok((segments.len(), self.reader.searcher().num_docs()))
    }

    /// After an erasure: indexes the redacted entries, then rewrites every segment, so that
    /// what was erased is gone from the index's files too, not only hidden by deletes.
    pub fn scrub(&self, store: &dyn ReadSide) -> Result<(), StoreError> {
        self.catch_up_fully(store)?;
        self.with_writer(store, |writing| {
            let segments = self.index.searchable_segment_ids().map_err(search_error)?;
            if !segments.is_empty() {
                writing
                    .writer
                    .merge(&segments)
                    .wait()
                    .map_err(search_error)?;
            }
            writing
                .writer
                .garbage_collect_files()
                .wait()
                .map_err(search_error)?;
            self.reader.reload().map_err(search_error)
        })
    }

    /// Forgets everything indexed, so the index is rebuilt from the start of the feed (after
    /// `reindex`, whose feed is new).
    pub fn reset(&self, store: &dyn ReadSide) -> Result<(), StoreError> {
        self.with_writer(store, |writing| self.empty(writing, store))
    }

    fn empty(&self, writing: &mut Writing, store: &dyn ReadSide) -> Result<(), StoreError> {
        writing
            .writer
            .delete_all_documents()
            .map_err(search_error)?;
        writing.seen = ChangeCursor::START;
        self.commit(writing, store)
    }

    fn commit(&self, writing: &mut Writing, store: &dyn ReadSide) -> Result<(), StoreError> {
        let position = Position {
            seq: writing.seen.seq,
            id: writing.seen.id.as_u128(),
            chain: chain_at(store, writing.seen.seq)?,
        };
        let payload = serde_json::to_string(&position)
            .map_err(|err| StoreError::Unavailable(err.to_string()))?;
        let mut prepared = writing.writer.prepare_commit().map_err(search_error)?;
        prepared.set_payload(&payload);
        prepared.commit().map_err(search_error)?;
        writing.committed = writing.seen;
        writing.since_commit = Instant::now();
        self.indexed_seq.store(position.seq, Ordering::Relaxed);
        self.reader.reload().map_err(search_error)
    }

    fn document(&self, document: &SearchDocument) -> TantivyDocument {
        let f = self.fields;
        let mut doc = TantivyDocument::new();
        let id = document.id.as_u128();
        doc.add_text(f.id, document.id.to_string());
        doc.add_u64(f.id_hi, (id >> 64) as u64);
        doc.add_u64(f.id_lo, id as u64);
        doc.add_i64(f.occurred, document.occurred_at.timestamp_micros());
        doc.add_text(f.text, &document.text);
        for term in document.exact_terms() {
            doc.add_text(f.exact, term);
        }
        doc.add_text(f.category, document.category.as_str());
        doc.add_text(f.kind, &document.kind);
        doc.add_text(f.source, &document.source);
        for actor in document.actors() {
            doc.add_text(f.actor, actor);
        }
        for subject in &document.subjects {
            doc.add_text(f.subject, subject);
        }
        doc
    }

    /// The ids matching `request`, in its order, and how far the index is behind `store`.
    pub fn search(
        &self,
        store: &dyn ReadSide,
        request: &SearchRequest,
    ) -> Result<SearchHits, StoreError> {
        let searcher = self.reader.searcher();
        let query = self.query(request);
        let wanted = request.limit + 1;
        let mut keys = match request.order {
            Order::Relevance => {
                let collector = TopDocs::with_limit(wanted)
                    .and_offset(request.offset())
                    .order_by_score();
                let found = searcher.search(&query, &collector).map_err(search_error)?;
                found
                    .into_iter()
                    .map(|(_, address)| key_of(&searcher, address))
                    .collect::<Result<Vec<_>, _>>()?
            }
            Order::Newest => newest(&searcher, &query, wanted, request.before())?,
        };
        let more = keys.len() > request.limit;
        keys.truncate(request.limit);
        let indexed = self.indexed_seq.load(Ordering::Relaxed);
        let latest = store.latest_change(Feed::Everything)?;
        Ok(SearchHits {
            next: request.next_cursor(keys.last(), more),
            ids: keys.into_iter().map(|key| key.id).collect(),
            behind: IndexLag {
                deliveries: latest.seq.saturating_sub(indexed),
            },
        })
    }

    fn query(&self, request: &SearchRequest) -> Box<dyn Query> {
        let f = self.fields;
        let mut must: Vec<Box<dyn Query>> = request
            .text
            .clauses
            .iter()
            .map(|clause| self.clause(clause))
            .collect();
        let filters = &request.filters;
        let term = |field, value: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, value),
                IndexRecordOption::Basic,
            ))
        };
        if let Some(category) = filters.category {
            must.push(term(f.category, category.as_str()));
        }
        if let Some(kind) = &filters.kind {
            must.push(term(f.kind, kind.as_str()));
        }
        if let Some(source) = &filters.source {
            must.push(term(f.source, source));
        }
        if let Some(actor) = &filters.actor {
            must.push(term(f.actor, actor));
        }
        if let Some(subject) = &filters.subject {
            must.push(term(f.subject, &subject.key()));
        }
        if filters.from.is_some() || filters.to.is_some() {
            let bound = |at: Option<chrono::DateTime<chrono::Utc>>, inclusive: bool| match at {
                Some(at) => {
                    let term = Term::from_field_i64(f.occurred, at.timestamp_micros());
                    if inclusive {
                        Bound::Included(term)
                    } else {
                        Bound::Excluded(term)
                    }
                }
                None => Bound::Unbounded,
            };
            must.push(Box::new(RangeQuery::new(
                bound(filters.from, true),
                bound(filters.to, false),
            )));
        }
        if must.is_empty() {
            return Box::new(AllQuery);
        }
        Box::new(BooleanQuery::new(
            must.into_iter().map(|query| (Occur::Must, query)).collect(),
        ))
    }

    fn clause(&self, clause: &Clause) -> Box<dyn Query> {
        let f = self.fields;
        match clause {
            Clause::Words { words, whole } => {
                let in_text: Box<dyn Query> = match &words[..] {
                    [word] => Box::new(TermQuery::new(
                        Term::from_field_text(f.text, word),
                        IndexRecordOption::WithFreqs,
                    )),
                    _ => Box::new(PhraseQuery::new(
                        words
                            .iter()
                            .map(|word| Term::from_field_text(f.text, word))
                            .collect(),
                    )),
                };
                let exact = exact_query(f.exact, &exact_term(None, whole));
                Box::new(BooleanQuery::new(vec![
                    (Occur::Should, in_text),
                    (Occur::Should, exact),
                ]))
            }
            Clause::Prefix(stem) => prefix_query(f.text, stem),
            Clause::Value {
                field,
                value,
                prefix,
            } => {
                let term = exact_term(*field, value);
                let query = if *prefix {
                    prefix_query(f.exact, &term)
                } else {
                    exact_query(f.exact, &term)
                };
                Box::new(BoostQuery::new(query, EXACT_BOOST))
            }
        }
    }

    /// Every term of the index's text and exact fields, for tests that check an erasure left
    /// nothing behind.
    #[cfg(test)]
    pub fn terms(&self) -> Vec<String> {
        let searcher = self.reader.searcher();
        let mut terms = Vec::new();
        for segment in searcher.segment_readers() {
            for field in [self.fields.text, self.fields.exact] {
                let Ok(inverted) = segment.inverted_index(field) else {
                    continue;
                };
                let mut stream = inverted.terms().stream().expect("a term stream");
                while stream.advance() {
                    terms.push(String::from_utf8_lossy(stream.key()).into_owned());
                }
            }
        }
        terms
    }
}

fn exact_query(field: IndexField, term: &str) -> Box<dyn Query> {
    Box::new(BoostQuery::new(
        Box::new(TermQuery::new(
            Term::from_field_text(field, term),
            IndexRecordOption::WithFreqs,
        )),
        EXACT_BOOST,
    ))
}

/// Terms of `field` that start with `stem`: the range from `stem` to `stem` followed by the
/// last code point, which every such term sorts below.
fn prefix_query(field: IndexField, stem: &str) -> Box<dyn Query> {
    Box::new(RangeQuery::new(
        Bound::Included(Term::from_field_text(field, stem)),
        Bound::Excluded(Term::from_field_text(
            field,
            &format!("{stem}{}", char::MAX),
        )),
    ))
}

/// The text field's tokenizer: the one rule every backend shares ([`words`]), run by tantivy
/// on its indexing thread. (Handing it tokens made here instead costs a JSON encoding of
/// every token list on the way there, and a decoding on arrival.)
#[derive(Clone)]
struct WordsTokenizer;

impl Tokenizer for WordsTokenizer {
    type TokenStream<'a> = PreTokenizedStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> PreTokenizedStream {
        PreTokenizedStream::from(pre_tokenized(text))
    }
}

/// `text` as tantivy's tokens, cut by the one rule every backend shares ([`words`]).
fn pre_tokenized(text: &str) -> PreTokenizedString {
    let tokens = words::words(text)
        .take(words::MAX_WORDS)
        .enumerate()
        .map(|(position, word)| Token {
            offset_from: word.start,
            offset_to: word.end,
            position,
            text: word.text,
            position_length: 1,
        })
        .collect();
    PreTokenizedString {
        text: String::new(),
        tokens,
    }
}

/// The position of the document at `address`, newest first.
fn key_of(searcher: &Searcher, address: DocAddress) -> Result<Cursor, StoreError> {
    let segment = searcher.segment_reader(address.segment_ord);
    let fast = segment.fast_fields();
    let u64_at = |name: &str| -> Result<u64, StoreError> {
        Ok(fast
            .u64(name)
            .map_err(search_error)?
            .first(address.doc_id)
            .unwrap_or(0))
    };
    let occurred = fast
        .i64("occurred")
        .map_err(search_error)?
        .first(address.doc_id)
        .unwrap_or(0);
    let id = (u128::from(u64_at("id_hi")?) << 64) | u128::from(u64_at("id_lo")?);
    Ok(Cursor {
        occurred_micros: occurred,
        id: EntryId::from_u128(id),
    })
}

/// The `wanted` newest documents matching `query` that sort before `before`, by
/// (`occurred_at`, id) as timelines do. Documents at or after `before` get no key, which
/// sorts below every key, and are dropped.
fn newest(
    searcher: &Searcher,
    query: &dyn Query,
    wanted: usize,
    before: Option<Cursor>,
) -> Result<Vec<Cursor>, StoreError> {
    let limit = before.map(|cursor| (cursor.occurred_micros, cursor.id.as_u128()));
    let by_time = move |segment: &tantivy::SegmentReader| {
        let fast = segment.fast_fields();
        let occurred = fast.i64("occurred").ok();
        let hi = fast.u64("id_hi").ok();
        let lo = fast.u64("id_lo").ok();
        move |doc: tantivy::DocId| -> Option<(i64, u128)> {
            let occurred = occurred.as_ref()?.first(doc)?;
            let id =
                (u128::from(hi.as_ref()?.first(doc)?) << 64) | u128::from(lo.as_ref()?.first(doc)?);
            let key = (occurred, id);
            limit.is_none_or(|limit| key < limit).then_some(key)
        }
    };
    let collector = TopDocs::with_limit(wanted).order_by(by_time);
    let found = searcher.search(query, &collector).map_err(search_error)?;
    Ok(found
        .into_iter()
        .filter_map(|(key, _)| key)
        .map(|(occurred_micros, id)| Cursor {
            occurred_micros,
            id: EntryId::from_u128(id),
        })
        .collect())
}

/// Where the last commit left `index`.
fn committed(index: &Index) -> Result<Position, StoreError> {
    let metas = index.load_metas().map_err(search_error)?;
    Ok(metas
        .payload
        .and_then(|payload| serde_json::from_str(&payload).ok())
        .unwrap_or(Position::START))
}

/// Whether `store` still holds what an index at `at` was built from: it is not behind the
/// index, and its chain at the index's last delivery is the one recorded.
fn still_matches(store: &dyn ReadSide, at: Position) -> Result<bool, StoreError> {
    if at == Position::START {
        return Ok(true);
    }
    if store.latest_change(Feed::Everything)? < at.cursor() {
        return Ok(false);
    }
    Ok(chain_at(store, at.seq)? == at.chain)
}

/// The integrity chain at delivery `seq` ([`Position::START`]'s when there is none).
fn chain_at(store: &dyn ReadSide, seq: u64) -> Result<[u8; 32], StoreError> {
    Ok(store
        .delivery(seq)?
        .map_or(Position::START.chain, |delivery| delivery.chain))
}

fn search_error(err: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("search index: {err}"))
}

fn io_error(path: &Path, err: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{}: {err}", path.display()))
}
