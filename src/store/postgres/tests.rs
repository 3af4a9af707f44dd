//! What only the shared backend has: its schema's migrations, its change feed across
//! gateways, and query plans that stay O(batch) however the tables grew. (The storage contract
//! both backends pass is in [`crate::store::contract`].)

use std::time::{Duration, Instant};

use super::PgStore;
use super::scratch::ScratchDatabase;
use super::tables::{READ_AHEAD_DEDUP, READ_AHEAD_LINKS, READ_AHEAD_PENDING};
use crate::activity::Subject;
use crate::store::contract::support::{event_ids, single};
use crate::store::prelude::*;

fn database(purpose: &str) -> ScratchDatabase {
    ScratchDatabase::create(purpose)
        .unwrap_or_else(|err| panic!("these tests need a PostgreSQL server: {err}"))
}

/// What each migration from 4 on made, dropped to put a database back as it was before it.
const UNDO: &[(i32, &str)] = &[
    (4, "DROP TABLE entries_by_time"),
    (5, "DROP TABLE search_documents"),
    (6, "DROP TABLE source_tally; DROP TABLE source_last_stored"),
    (7, "DROP TABLE alerts"),
    (
        8,
        "DROP TABLE tree_heads; DROP TABLE merkle_subtrees; \
         ALTER TABLE chain_head DROP COLUMN tree",
    ),
];

/// Puts `database` back as it was before migration `version` (and so every later one).
fn back_to_before(database: &ScratchDatabase, version: i32) {
    for (_, undo) in UNDO.iter().filter(|(v, _)| *v >= version) {
        database.execute(undo).unwrap();
    }
    database
        .execute(&format!(
            "DELETE FROM schema_migrations WHERE version >= {version}"
        ))
        .unwrap();
}

#[test]
fn every_migration_from_4_on_can_be_undone_by_the_tests() {
    let undone: Vec<i32> = UNDO.iter().map(|(version, _)| *version).collect();
    let expected: Vec<i32> = (4..=super::schema::current_version()).collect();
    assert_eq!(undone, expected, "add the new migration's undo to UNDO");
}

macro_rules! needs_postgres {
    ($($test:item)*) => {$(
        #[test]
        #[cfg_attr(
            not(hooktrail_ci),
            ignore = "needs PostgreSQL at 127.0.0.1:5432 (HOOKTRAIL_TEST_DATABASE_URL); runs under CI"
        )]
        $test
    )*};
}

needs_postgres! {
    fn gateways_starting_together_migrate_once() {
        let database = database("migrate");
        let url = database.url().clone();
        let starts: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || PgStore::connect(&url, 2).map(drop))
            })
            .collect();
        for start in starts {
            start.join().unwrap().unwrap();
        }
        database
            .execute(
                "DO $$ BEGIN IF (SELECT count(*) FROM schema_migrations) <> \
                 (SELECT count(DISTINCT version) FROM schema_migrations) \
                 OR NOT EXISTS (SELECT 1 FROM schema_migrations WHERE version = 1) \
                 THEN RAISE EXCEPTION 'migrations applied more than once, or not at all'; \
                 END IF; END $$",
            )
            .unwrap();
    }

    fn intake_never_makes_the_journal_form_for_the_shared_backend() {
        let database = database("journal_form");
        let store = PgStore::connect(database.url(), 2).unwrap();
        assert!(!store.journals());
        let prepared = single("a", "job:1", 1).prepared_for(&store);
        assert!(prepared.normalized_json.get().is_none(), "made for no journal");
        assert_eq!(store.append(&[prepared]).unwrap().len(), 1);
    }

    fn a_schema_newer_than_the_gateway_is_refused() {
        let database = database("newer");
        drop(PgStore::connect(database.url(), 2).unwrap());
        database
            .execute("INSERT INTO schema_migrations (version, name) VALUES (9999, 'future')")
            .unwrap();
        let refused = PgStore::connect(database.url(), 2).err().unwrap();
        assert!(refused.to_string().contains("newer than this gateway"), "{refused}");
    }

    fn a_commit_on_one_gateway_retires_the_pages_of_another() {
        let database = database("feed");
        let (a, b) = (
            PgStore::connect(database.url(), 2).unwrap(),
            PgStore::connect(database.url(), 2).unwrap(),
        );
        let (job, other): (Subject, Subject) = ("job:1".parse().unwrap(), "job:2".parse().unwrap());
        let before = (a.subject_stamp(&job).unwrap(), b.subject_stamp(&job).unwrap());
        let other_before = b.subject_stamp(&other).unwrap();
        a.append(&[single("x", "job:1", 1)]).unwrap();
        assert_ne!(a.subject_stamp(&job).unwrap(), before.0, "at once on the committer");
        let deadline = Instant::now() + Duration::from_secs(5);
        while b.subject_stamp(&job).unwrap() == before.1 {
            assert!(Instant::now() < deadline, "the other gateway never heard of the commit");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(b.subject_stamp(&other).unwrap(), other_before);
        // And what it reads is what the other committed.
        assert_eq!(b.subject_origin(&job).unwrap().unwrap().summary, "at 1");
    }

    fn the_read_ahead_probes_the_index_however_the_table_grew() {
        let database = database("plans");
        drop(PgStore::connect(database.url(), 2).unwrap());
        // The plans a gateway's connection caches while the tables are small (generic plans,
        // on the statistics of tables never analyzed yet), then the tables grow far beyond.
        let statements = [
            ("dedup", READ_AHEAD_DEDUP, "ARRAY['hoops','hoops'], ARRAY['d:a','d:b']"),
            ("links", READ_AHEAD_LINKS, "ARRAY['k:1','k:2']"),
            ("pending", READ_AHEAD_PENDING, "ARRAY['k:1','k:2']"),
        ];
        let mut sql = String::from("SET plan_cache_mode = force_generic_plan;");
        for (name, statement, args) in statements {
            let types = if name == "dedup" { "text[], text[]" } else { "text[]" };
            sql += &format!("PREPARE {name}({types}) AS {statement}; EXECUTE {name}({args});");
        }
        sql += "
            INSERT INTO dedup_keys SELECT 'hoops', 'd:' || n, n FROM generate_series(1, 50000) n;
            INSERT INTO entries SELECT int8send(n), '{}' FROM generate_series(1, 50000) n;
            INSERT INTO email_status SELECT int8send(n), '{}' FROM generate_series(1, 50000) n;
            INSERT INTO links SELECT 'k:' || n, int8send(n), '{}' FROM generate_series(1, 50000) n;
            INSERT INTO pending_links SELECT 'p:' || n, int8send(n) FROM generate_series(1, 50000) n;";
        for (name, _, args) in statements {
            sql += &format!(
                "DO $$ DECLARE line text; BEGIN
                   FOR line IN EXECUTE 'EXPLAIN EXECUTE {name}({})' LOOP
                     IF line LIKE '%Seq Scan%' THEN
                       RAISE EXCEPTION '{name} scans a whole table: %', line;
                     END IF;
                   END LOOP;
                 END $$;",
                args.replace('\'', "''")
            );
        }
        database
            .execute(&sql)
            .unwrap();
    }
}

needs_postgres! {
    fn a_sign_out_on_one_gateway_reaches_the_others_even_those_started_later() {
        use crate::store::Revocation;
        let database = database("signout");
        let (a, b) = (
            PgStore::connect(database.url(), 2).unwrap(),
            PgStore::connect(database.url(), 2).unwrap(),
        );
        let now = chrono::Utc::now();
        let revocation = Revocation::Session {
            id: 42,
            // Cookies carry whole seconds.
            expires: chrono::DateTime::from_timestamp(now.timestamp() + 3600, 0).unwrap(),
        };
        a.revoke_sessions(&revocation, now).unwrap();
        assert!(a.revocations_from_elsewhere().is_empty(), "its own: recorded already");
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut heard = Vec::new();
        while heard.is_empty() {
            assert!(Instant::now() < deadline, "the other gateway never heard of it");
            std::thread::sleep(Duration::from_millis(10));
            heard = b.revocations_from_elsewhere();
        }
        assert_eq!(heard, std::slice::from_ref(&revocation));
        let later = PgStore::connect(database.url(), 2).unwrap();
        assert!(later.revocations_from_elsewhere().contains(&revocation));
    }
}

needs_postgres! {
    fn a_database_that_could_lose_acknowledged_commits_is_refused() {
        let database = database("durable");
        database
            .execute(&format!(
                "ALTER DATABASE {} SET synchronous_commit = off",
                database.url().connect_config().get_dbname().unwrap()
            ))
            .unwrap();
        let refused = PgStore::connect(database.url(), 2).err().unwrap();
        assert!(refused.to_string().contains("synchronous_commit = off"), "{refused}");
    }
}

needs_postgres! {
    fn a_database_from_before_the_index_by_time_has_its_entries_indexed_when_migrated() {
        let database = database("by_time");
        let store = PgStore::connect(database.url(), 2).unwrap();
        // Received in turn; they happened at 9, 1 and 5.
        for (id, occurred) in [("a", 9), ("b", 1), ("c", 5)] {
            store.append(&[single(id, "job:1", occurred)]).unwrap();
        }
        drop(store);
        back_to_before(&database, 4);
        let store = PgStore::connect(database.url(), 2).unwrap();
        let ids = event_ids(&store.recent(10, None).unwrap().entries);
        assert_eq!(ids, ["a", "c", "b"]);
    }

    fn a_database_from_before_the_tree_has_it_grown_when_migrated() {
        let database = database("before_tree");
        let store = PgStore::connect(database.url(), 2).unwrap();
        for n in 0..40 {
            store.append(&[single(&format!("t{n}"), "job:1", n)]).unwrap();
        }
        let whole = store.chain_head().unwrap();
        let kept = store.subtree(5, 0).unwrap();
        assert!(kept.is_some());
        drop(store);
        back_to_before(&database, 8);
        let store = PgStore::connect(database.url(), 2).unwrap();
        assert_eq!(store.chain_head().unwrap(), whole);
        assert_eq!(store.subtree(5, 0).unwrap(), kept);
        let proof = crate::trust::proofs::StoredTree::new(&store)
            .inclusion(33, 40)
            .unwrap();
        assert!(proof.holds());
        assert!(matches!(
            store.verify_chain().unwrap(),
            crate::store::ChainReport::Intact { deliveries: 40, .. }
        ));
    }

    fn a_tree_left_behind_by_an_earlier_gateway_is_grown_by_the_next_append() {
        use crate::trust::merkle::{Frontier, leaf_hash};
        let database = database("tree_behind");
        let store = PgStore::connect(database.url(), 2).unwrap();
        for n in 0..20 {
            store.append(&[single(&format!("b{n}"), "job:1", n)]).unwrap();
        }
        let leaves: Vec<_> = store
            .deliveries(1, 100)
            .unwrap()
            .iter()
            .map(|d| {
                let hash = d.hash();
                leaf_hash(&hash)
            })
            .collect();
        // As an earlier version leaves it: deliveries 18 to 20 appended without their leaves.
        let mut behind = Frontier::EMPTY;
        leaves[..17].iter().for_each(|leaf| behind.push(*leaf));
        database
            .execute(&format!(
                "UPDATE chain_head SET tree = decode('{}', 'hex')",
                hex::encode(behind.to_bytes())
            ))
            .unwrap();
        store.append(&[single("next", "job:1", 21)]).unwrap();
        let head = store.chain_head().unwrap();
        let mut whole = Frontier::EMPTY;
        leaves.iter().for_each(|leaf| whole.push(*leaf));
        let last = store.delivery(21).unwrap().unwrap();
        whole.push(leaf_hash(&last.hash()));
        assert_eq!(head.tree, whole);
        let proof = crate::trust::proofs::StoredTree::new(&store)
            .inclusion(19, 21)
            .unwrap();
        assert!(proof.holds());
    }

    fn gateways_signing_at_once_store_one_chain_of_heads() {
        use crate::trust::notary::{Due, Notary};
        let database = database("heads");
        let gateways = [
            PgStore::connect(database.url(), 2).unwrap(),
            PgStore::connect(database.url(), 2).unwrap(),
        ];
        let key = crate::trust::keys::TreeKey::generate().unwrap();
        std::thread::scope(|scope| {
            for (g, store) in gateways.iter().enumerate() {
                let notary = Notary::new(key.clone());
                scope.spawn(move || {
                    for n in 0..15 {
                        store.append(&[single(&format!("g{g}-{n}"), "job:1", n)]).unwrap();
                        notary
                            .round(store, store, Due::Every(Duration::ZERO), chrono::Utc::now())
                            .unwrap();
                    }
                });
            }
        });
        let mut heads = gateways[0].tree_heads(None, 100).unwrap();
        heads.reverse();
        assert!(heads.len() >= 2, "{} heads", heads.len());
        assert_eq!(heads[0].number, 1);
        for pair in heads.windows(2) {
            assert!(pair[1].follows(&pair[0]), "{} after {}", pair[1].number, pair[0].number);
        }
        let mut tree = crate::trust::proofs::StoredTree::new(&gateways[1]);
        for head in &heads {
            assert_eq!(tree.root(head.tree_size).unwrap(), head.root, "head {}", head.number);
        }
    }

    fn a_database_from_before_search_has_its_entries_made_searchable_when_migrated() {
        let database = database("before_search");
        let store = PgStore::connect(database.url(), 2).unwrap();
        for (id, occurred) in [("a", 9), ("b", 1), ("c", 5)] {
            store.append(&[single(id, "job:1", occurred)]).unwrap();
        }
        drop(store);
        back_to_before(&database, 5);
        let store = PgStore::connect(database.url(), 2).unwrap();
        let request = crate::search::SearchParams {
            subject: Some("job:1".into()),
            ..Default::default()
        }
        .parse(chrono_tz::UTC)
        .unwrap();
        let found = crate::search::run(&store, &request).unwrap();
        let ids: Vec<_> = found.found.into_iter().map(|found| found.entry).collect();
        assert_eq!(event_ids(&ids), ["a", "c", "b"]);
    }
}
