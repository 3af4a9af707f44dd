//! The storage contract: one suite of cases, run against every backend. A backend passes when
//! every case passes on it; the cases know nothing of how it stores rows.
//!
//! The PostgreSQL half needs a server (see [`crate::store::postgres::scratch`]). Under CI it
//! runs, and fails without one; elsewhere it is listed as ignored, with the reason.

mod cases;
mod search_cases;
pub mod support;
mod tree_cases;

use crate::store::Store;
use crate::store::postgres::PgStore;
use crate::store::postgres::scratch::ScratchDatabase;
use crate::store::redb::RedbStore;

/// A fresh, empty store of one backend, which a case may close and open again. (One per
/// test: the size of its variants does not matter.)
#[allow(clippy::large_enum_variant)]
pub enum Fixture {
    Redb {
        dir: tempfile::TempDir,
        store: Option<RedbStore>,
    },
    Postgres {
        // Declared before the database, so the store's connections close before it is
        // dropped.
        store: Option<PgStore>,
        database: ScratchDatabase,
    },
}

impl Fixture {
    pub fn redb() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("contract.redb")).unwrap();
        Fixture::Redb {
            dir,
            store: Some(store),
        }
    }

    pub fn postgres() -> Fixture {
        let database = ScratchDatabase::create("contract")
            .unwrap_or_else(|err| panic!("the PostgreSQL contract suite needs a server: {err}"));
        let store = PgStore::connect(database.url(), 4).unwrap();
        Fixture::Postgres {
            store: Some(store),
            database,
        }
    }

    pub fn store(&self) -> &dyn Store {
        match self {
            Fixture::Redb { store, .. } => store.as_ref().unwrap(),
            Fixture::Postgres { store, .. } => store.as_ref().unwrap(),
        }
    }

    /// Closes the store and opens it again, as a restarted gateway would.
    pub fn reopen(&mut self) {
        match self {
            Fixture::Redb { dir, store } => {
                drop(store.take());
                *store = Some(RedbStore::open(&dir.path().join("contract.redb")).unwrap());
            }
            Fixture::Postgres { store, database } => {
                drop(store.take());
                *store = Some(PgStore::connect(database.url(), 4).unwrap());
            }
        }
    }
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod on_redb {
            $(
                #[test]
                fn $case() {
                    super::cases::$case(&mut super::Fixture::redb());
                }
            )*
        }

        mod on_postgres {
            $(
                #[test]
                #[cfg_attr(
                    not(hooktrail_ci),
                    ignore = "needs PostgreSQL at 127.0.0.1:5432 (HOOKTRAIL_TEST_DATABASE_URL); runs under CI"
                )]
                fn $case() {
                    super::cases::$case(&mut super::Fixture::postgres());
                }
            )*
        }
    };
}

contract!(
    a_batch_is_stored_with_gap_free_seqs_and_dedup,
    overlapping_batches_without_delivery_ids_add_only_what_is_new,
    timelines_are_newest_first_by_occurred_at_even_when_late,
    cursor_pages_cover_everything_once,
    category_pages_use_their_own_index,
    flagged_deliveries_are_kept_without_entries,
    reindex_rebuilds_identical_projections,
    callbacks_attach_to_their_email_and_roll_up_its_status,
    an_entry_attached_later_in_its_own_delivery_is_not_counted_unmatched,
    callbacks_before_their_link_are_unmatched_then_attached_retroactively,
    a_reused_replay_key_is_refused_but_a_provider_retry_is_a_duplicate,
    seen_signed_content_is_a_duplicate_under_any_delivery_id_across_reopens_and_reindex,
    a_delivery_logged_without_a_replay_key_gains_the_one_reindex_reads_again,
    recent_reads_every_subject_by_when_it_happened_in_pages,
    the_origin_is_the_oldest_entry_of_a_timeline,
    the_unmatched_count_survives_reindex,
    stamps_change_with_everything_a_timeline_shows_and_nothing_else,
    retention_drops_old_bodies_and_keeps_hashes_chain_and_entries,
    erasing_an_address_redacts_it_everywhere_and_logs_the_erasure,
    erasing_a_subject_redacts_its_timeline_only,
    exports_read_oldest_first_in_pages_that_cover_everything_once,
    search_finds_words_phrases_prefixes_and_whole_values,
    exact_values_rank_above_words,
    search_filters_combine_with_the_text,
    search_pages_cover_everything_once_in_both_orders,
    search_snippets_mark_matches_and_stay_escaped,
    erased_text_is_not_findable,
    reindex_and_retention_keep_entries_searchable,
    deliveries_read_in_seq_order_from_any_point,
    sign_outs_are_kept_until_every_session_they_cover_expired,
    tallies_add_up_survive_reopening_and_drop_old_buckets,
    alert_records_change_only_from_the_revision_read_and_survive_reopening,
    renormalizing_redoes_in_place_what_it_can_with_the_ids_reindex_gives,
    changes_follow_new_entries_late_attachments_and_email_status_in_commit_order,
    callbacks_that_found_their_email_are_folded_out_of_the_default_view,
    lane_counts_agree_with_the_pages_they_count_and_stop_at_the_cap,
    the_writer_keeps_the_tree_and_every_proof_from_it_verifies,
    reindex_grows_the_same_tree_and_retention_and_erasure_keep_it,
    signed_heads_are_stored_once_per_number_in_order,
    a_log_that_contradicts_its_last_head_is_refused_a_new_one,
);

/// The same deliveries, appended to each backend, give the same entries — ids included — and
/// the same chain; and a reindex on each gives them again.
#[test]
#[cfg_attr(
    not(hooktrail_ci),
    ignore = "needs PostgreSQL at 127.0.0.1:5432 (HOOKTRAIL_TEST_DATABASE_URL); runs under CI"
)]
fn both_backends_store_and_reindex_the_same_entries() {
    use support::*;
    let batches = vec![
        vec![callback(
            "ev0",
            "sg-1",
            crate::activity::details::EmailStatus::Delivered,
            4,
        )],
        vec![single("a", "job:1", 3), email_sent("m1", "job:1", "sg-1")],
        vec![single("b", "salesdoc:2", 1), single("a", "job:1", 3)],
        vec![callback(
            "ev1",
            "sg-1",
            crate::activity::details::EmailStatus::Opened,
            9,
        )],
    ];
    let exported = |fixture: &Fixture| {
        let mut entries = Vec::new();
        fixture
            .store()
            .export(None, &mut |entry| {
                entries.push(entry);
                Ok(())
            })
            .unwrap();
        (entries, fixture.store().verify_chain().unwrap())
    };
    let fixtures = [Fixture::redb(), Fixture::postgres()];
    // What was logged, in seq order: reindex reads it back in that order.
    let mut logged = Vec::new();
    for batch in &batches {
        let outcomes: Vec<_> = fixtures
            .iter()
            .map(|fixture| fixture.store().append(batch).unwrap())
            .collect();
        assert_eq!(outcomes[0], outcomes[1]);
        for (capture, outcome) in batch.iter().zip(&outcomes[0]) {
            if matches!(outcome, crate::store::Appended::Stored { .. }) {
                logged.push(capture.normalized.clone());
            }
        }
    }
    let before = exported(&fixtures[0]);
    assert_eq!(exported(&fixtures[1]), before);
    assert_eq!(before.0.len(), 5);
    for fixture in &fixtures {
        let next = std::sync::Mutex::new(logged.iter());
        let in_seq_order = |_: &crate::sources::RawDelivery<'_>| {
            next.lock()
                .unwrap()
                .next()
                .map(|normalized| normalized.clone().into())
        };
        fixture.store().reindex(&in_seq_order).unwrap();
        assert_eq!(
            exported(fixture),
            before,
            "reindex gives the same entries and ids"
        );
    }
}
