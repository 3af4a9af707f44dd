//! The `pages` target's fixture: one store of [`TOTAL_ENTRIES`] entries in which three jobs have
//! 100, 10 000 and 100 000 entries (the rest spread over thousands of other jobs), written
//! straight through the `Store` API in large batches — far faster than over HTTP, and the
//! store is the same either way.
//!
//! The entries mix what a busy shop's timelines hold: status changes, emails with HTML (which
//! every page view sanitizes), invoices and artwork, interleaved in time across jobs so a
//! job's entries are spread through the B-trees as they would be after years of traffic.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};

use hooktrail::activity::details::{Amount, EmailMessage, FileInfo, InvoiceInfo, SafeUrl, Text};
use hooktrail::activity::{Actor, ActorKind, Category, Details, EntryKind, NewEntry, Normalized};
use hooktrail::activity::{Outcome, Subject, SubjectKind};
use hooktrail::config::Config;
use hooktrail::http::session::{Session, SessionCodec};
use hooktrail::search::Indexing;
use hooktrail::store::redb::RedbStore;
use hooktrail::store::{Capture, WriteSide};

pub const TOTAL_ENTRIES: u64 = 1_000_000;
/// The histories measured: jobs with this many entries each.
pub const HISTORIES: [u64; 3] = [100, 10_000, 100_000];
/// Entries per delivery and deliveries per transaction while building.
const ENTRIES_PER_DELIVERY: u64 = 10;
const DELIVERIES_PER_COMMIT: u64 = 2_000;
/// The jobs that share the rest of the entries.
const OTHER_JOBS: u64 = 8_900;
/// The customers the jobs belong to, each with its own address.
pub const CUSTOMERS: u64 = 2_000;
/// What an email is about, one topic each: every topic's word is in about one email in
/// eight, so a search for one matches thousands of entries, as a shop's common words would.
pub const TOPICS: [&str; 8] = [
    "reprint",
    "lamination",
    "envelopes",
    "banners",
    "stickers",
    "letterhead",
    "brochures",
    "menus",
];

/// The job whose timeline has `history` entries.
pub fn job_id(history: u64) -> String {
    format!("history-{history}")
}

/// The job entry `i` of the store belongs to: every 10th to the 100 000 job, every 100th
/// (offset 1) to the 10 000 job, every 10 000th (offset 2) to the 100 job.
fn job_of(i: u64) -> String {
    if i.is_multiple_of(10) {
        job_id(100_000)
    } else if i % 100 == 1 {
        job_id(10_000)
    } else if i % 10_000 == 2 {
        job_id(100)
    } else {
        format!("job-{}", i % OTHER_JOBS)
    }
}

/// The address of customer `n`.
pub fn customer_address(n: u64) -> String {
    format!("orders@customer-{n}.example")
}

/// The customer job `job` belongs to: a hash of its id, so each history job has one too.
fn customer_of(job: &str) -> u64 {
    job.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    }) % CUSTOMERS
}

/// A spread of entry `i` over 0..n that every stride of entries still mixes (a
/// multiplicative hash, taking the bits from `shift` on).
fn spread(i: u64, shift: u32, n: u64) -> u64 {
    (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) % n
}

/// When entry `i` of a store whose first entry is at `base` happened: one every 30 s.
pub fn occurred_at(i: u64, base: DateTime<Utc>) -> DateTime<Utc> {
    base + Duration::seconds(i64::try_from(i).unwrap_or(i64::MAX / 60) * 30)
}

/// Whether entry `i` is an invoice (numbered `INV-{i}`), as [`entry`] makes it.
pub fn is_invoice(i: u64) -> bool {
    spread(i, 32, 10) == 3
}

pub struct PageFixture {
    pub store: Arc<RedbStore>,
    /// The store's file.
    pub path: std::path::PathBuf,
    /// When its first entry happened.
    pub base: DateTime<Utc>,
    _dir: tempfile::TempDir,
}

impl PageFixture {
    /// The store with [`TOTAL_ENTRIES`] entries, its search index caught up.
    pub fn build() -> anyhow::Result<PageFixture> {
        let fixture = PageFixture::build_with(TOTAL_ENTRIES)?;
        fixture.index_for_search()?;
        Ok(fixture)
    }

    /// Brings the store's search index up to its timelines and lets its merges finish, as a
    /// store that has served for a while has it. Left behind, the gateway that opens the store
    /// would index every entry in the background while it is measured, or merge the segments
    /// of an index built in seconds (a third of its CPU, and 30–70 MiB, at 1M entries). How
    /// long the indexing took, merges apart.
    pub fn index_for_search(&self) -> anyhow::Result<std::time::Duration> {
        let started = Instant::now();
        while self.store.index_for_search()? == Indexing::Behind {}
        let took = started.elapsed();
        let merging = Instant::now();
        self.store.settle_search_index()?;
        eprintln!(
            "bench: search index built in {:.1} s, its segments merged in {:.1} s more",
            took.as_secs_f64(),
            merging.elapsed().as_secs_f64()
        );
        Ok(took)
    }

    /// A store with `total` entries, shared out as in the full one (a tenth to the largest
    /// history, and so on).
    pub fn build_with(total: u64) -> anyhow::Result<PageFixture> {
        let dir = tempfile::Builder::new()
            .prefix("hooktrail-bench-pages-")
            .tempdir()?;
        let path = dir.path().join("pages.redb");
        let store = RedbStore::open(&path)?;
        let started = Instant::now();
        let base = Utc::now() - Duration::days(400);
        let received_at = Utc::now();
        let mut delivery = 0u64;
        let mut written = 0u64;
        while written < total {
            let mut batch = Vec::with_capacity(DELIVERIES_PER_COMMIT as usize);
            for _ in 0..DELIVERIES_PER_COMMIT {
                if written >= total {
                    break;
                }
                let entries: Vec<NewEntry> = (written..total)
                    .take(ENTRIES_PER_DELIVERY as usize)
                    .map(|i| entry(i, base))
                    .collect::<anyhow::Result<_>>()?;
                written += entries.len() as u64;
                batch.push(Capture::new(
                    "bench",
                    received_at,
                    Vec::new(),
                    Bytes::from(format!("{{\"bench_delivery\":{delivery}}}")),
                    Normalized {
                        delivery_id: Some(format!("bench-{delivery}")),
                        entries,
                        outcome: Outcome::Normalized,
                    },
                ));
                delivery += 1;
            }
            store.append(&batch)?;
            if written.is_multiple_of(100_000) {
                eprintln!(
                    "bench: page store {written} / {total} entries ({:.0} s)",
                    started.elapsed().as_secs_f64()
                );
            }
        }
        eprintln!(
            "bench: page store built: {total} entries in {delivery} deliveries, {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(PageFixture {
            store: Arc::new(store),
            path,
            base,
            _dir: dir,
        })
    }
}

/// A closed store of some number of entries, shared out as in the page store, for the
/// `gateway-filled` target to open as a gateway would after a restart (its cache cold).
pub struct FilledStore {
    pub path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl FilledStore {
    pub fn build(entries: u64) -> anyhow::Result<FilledStore> {
        let fixture = PageFixture::build_with(entries)?;
        fixture.index_for_search()?;
        let PageFixture {
            store,
            path,
            _dir: dir,
            ..
        } = fixture;
        // The last reference: closing checkpoints, so the gateway opens with nothing to replay.
        drop(store);
        Ok(FilledStore { path, _dir: dir })
    }
}

/// A `Cookie` header value of a signed-in session for the config's first user.
pub fn session_cookie(config: &Config) -> anyhow::Result<String> {
    let user = config
        .auth
        .users
        .first()
        .context("the bench config names no user")?;
    let codec = SessionCodec::from_config(&config.auth)?;
    let session = Session::staff(user, Utc::now())?;
    Ok(format!(
        "{}={}",
        hooktrail::http::session::COOKIE_NAME,
        codec.seal(&session)
    ))
}

fn entry(i: u64, base: DateTime<Utc>) -> anyhow::Result<NewEntry> {
    let job = job_of(i);
    let subject = Subject::new(SubjectKind::Job, job.as_str())?;
    let occurred_at = occurred_at(i, base);
    let to = customer_address(customer_of(&job));
    let topic = TOPICS[spread(i, 40, TOPICS.len() as u64) as usize];
    let dana = Actor {
        kind: ActorKind::User,
        id: Some("u-7".to_owned()),
        name: "Dana Whitfield".to_owned(),
    };
    // Every job (whatever stride picks its entries) gets the mix; `is_invoice` picks the same 3.
    let (kind, category, summary, details) = match spread(i, 32, 10) {
        1 | 5 => (
            "email.sent",
            Category::Communication,
            format!("Email “Proof ready for job {job}” sent to {to}"),
            Details::Email {
                message: EmailMessage {
                    provider: Some("sendgrid".to_owned()),
                    provider_message_id: Some(format!("sg-bench-{i}")),
                    from: Some("orders@lakeside-print.example".to_owned()),
                    to: vec![to],
                    subject: Some(format!("Proof ready for job {job}")),
                    html: Some(format!(
                        "<div style=\"font-family:Arial\"><p>Hi Maria,</p><p>Your proof for \
                         <strong>job {job}</strong> ({topic}) is ready. Please check spelling, phone \
                         numbers and colours carefully: we print exactly what you approve.</p>\
                         <p><a href=\"https://proofs.lakeside-print.example/{i}\">Review your \
                         proof</a></p><table><tr><td>Qty</td><td>500</td></tr><tr><td>Stock\
                         </td><td>16 pt matte</td></tr></table><p>Thanks,<br>Dana</p>\
                         <img src=\"https://tracking.example/o.gif\"></div>"
                    )),
                    text: Some(format!(
                        "Hi Maria, your proof for job {job} ({topic}) is ready."
                    )),
                    sent_at: Some(occurred_at),
                    ..Default::default()
                },
            },
        ),
        3 => (
            "invoice.created",
            Category::Accounting,
            format!("Invoice #INV-{i} created for $1,284.50"),
            Details::Invoice {
                invoice: InvoiceInfo {
                    id: Some(Text(format!("inv-{i}"))),
                    number: Some(Text(format!("INV-{i}"))),
                    total: Amount::parse("1284.50"),
                    currency: Some("USD".to_owned()),
                },
            },
        ),
        7 => (
            "artwork.uploaded",
            Category::Workflow,
            "Artwork uploaded: cards-front-back.pdf (2.5 MB)".to_owned(),
            Details::Artwork {
                file: FileInfo {
                    name: "cards-front-back.pdf".to_owned(),
                    size_bytes: Some(2_481_152),
                    content_type: Some("application/pdf".to_owned()),
                    url: SafeUrl::parse("https://files.lakeside-print.example/cards.pdf"),
                },
            },
        ),
        _ => (
            "status.changed",
            Category::Workflow,
            "Status changed from Proofing to In production".to_owned(),
            Details::StatusChange {
                from: Some("Proofing".to_owned()),
                to: "In production".to_owned(),
            },
        ),
    };
    Ok(NewEntry {
        kind: EntryKind::new(kind).context("entry kind")?,
        category,
        occurred_at,
        actor: dana,
        subjects: vec![subject],
        summary,
        details,
        event_id: None,
        correlation: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hooktrail::store::PageQuery;
    use hooktrail::store::ReadSide;

    #[test]
    fn a_small_store_is_shared_out_like_the_full_one() {
        let fixture = PageFixture::build_with(20_000).unwrap();
        let largest: Subject = format!("job:{}", job_id(100_000)).parse().unwrap();
        let query = PageQuery {
            callbacks: true,
            limit: 50,
            before: None,
            category: None,
        };
        let page = fixture.store.subject_entries(&largest, &query).unwrap();
        assert_eq!(page.entries.len(), 50);
        let kinds: std::collections::HashSet<&str> =
            page.entries.iter().map(|e| e.kind.as_str()).collect();
        assert!(kinds.len() >= 3, "a mix of kinds: {kinds:?}");
        assert!(page.next.is_some());
    }

    /// The gateway that opens it has no indexing to do while it is measured.
    #[test]
    fn the_filled_store_opens_with_its_search_index_caught_up() {
        let filled = FilledStore::build(3_000).unwrap();
        let reopened = RedbStore::open(&filled.path).unwrap();
        assert_eq!(reopened.index_for_search().unwrap(), Indexing::CaughtUp);
    }

    /// The search bench looks for invoices by `is_invoice` and for topics in email text.
    #[test]
    fn invoices_are_where_is_invoice_says_and_every_topic_is_in_some_email_text() {
        let base = Utc::now();
        let mut topics_seen = std::collections::HashSet::<&str>::new();
        for i in 0..2_000 {
            let made = entry(i, base).unwrap();
            assert_eq!(
                is_invoice(i),
                made.kind.as_str() == "invoice.created",
                "{i}"
            );
            if let Details::Email { message } = &made.details {
                let text = message.text.as_deref().unwrap_or_default();
                topics_seen.extend(TOPICS.into_iter().filter(|topic| text.contains(topic)));
                assert!(message.to[0].starts_with("orders@customer-"));
            }
        }
        assert_eq!(topics_seen.len(), TOPICS.len());
    }

    #[test]
    fn the_histories_get_exactly_their_share_of_the_store() {
        let mut counts = std::collections::HashMap::<String, u64>::new();
        for i in 0..TOTAL_ENTRIES {
            *counts.entry(job_of(i)).or_default() += 1;
        }
        for history in HISTORIES {
            assert_eq!(counts[&job_id(history)], history);
        }
        assert_eq!(counts.values().sum::<u64>(), TOTAL_ENTRIES);
    }
}
