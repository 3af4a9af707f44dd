-- Search: one document per entry (see src/store/postgres/search.rs). The words are cut by the
-- gateway, not by a text search configuration, so that both backends match alike; whole
-- values (addresses, numbers) are lexemes of the same vector under weight A. Documents of
-- entries written before this migration are filled in by the gateway that applies it.
CREATE TABLE search_documents (
    id bytea PRIMARY KEY,
    occurred bigint NOT NULL,
    category text NOT NULL,
    kind text NOT NULL,
    source text NOT NULL,
    actors text[] NOT NULL,
    subjects text[] NOT NULL,
    words tsvector NOT NULL
);
CREATE INDEX search_documents_words ON search_documents USING gin (words);
CREATE INDEX search_documents_subjects ON search_documents USING gin (subjects);
CREATE INDEX search_documents_newest ON search_documents (occurred DESC, id DESC);
