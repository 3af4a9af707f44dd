//! Rendered timelines, kept for reuse.
//!
//! Staff open the same few timelines all day, and a timeline changes only when something about
//! its subject arrives. So the part of a timeline page that is the same for everyone (heading,
//! filters, days, pager) is kept after rendering, with what it was rendered from:
//!
//! - the subject's stamp ([`crate::store::ChangeFeed::subject_stamp`]), which changes with anything
//!   the timeline shows (new or late entries, email delivery status, erasure, reindex);
//! - how long its relative times and day headings read the same
//!   ([`crate::render::view::TrackedClock::fresh_until`]).
//!
//! A kept page is served only while both still hold; the layout around it (who is signed in,
//! their CSRF token) is rendered for every request. Memory is bounded by the pages' size
//! (`[display] page_cache_mib`), least recently used first out.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use quick_cache::Weighter;
use quick_cache::sync::Cache;

use crate::activity::{Category, Subject};
use crate::store::Cursor;

/// Which page of which timeline.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    pub subject: Subject,
    pub category: Option<Category>,
    /// Email callbacks shown as lines of their own.
    pub callbacks: bool,
    pub before: Option<Cursor>,
}

/// What a kept page must still match to be served: the subject's stamp and the templates'
/// version ([`crate::render::Renderer::templates_version`]) when it was rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderedAgainst {
    pub subject: u64,
    pub templates: u64,
}

/// A rendered timeline, without the layout.
#[derive(Debug)]
pub struct RenderedTimeline {
    /// The subject's and the templates' stamps when it was rendered.
    pub stamps: RenderedAgainst,
    /// When its relative times or day headings would first read differently.
    pub fresh_until: DateTime<Utc>,
    pub title: String,
    pub body: String,
}

impl RenderedTimeline {
    fn still_right(&self, stamps: RenderedAgainst, now: DateTime<Utc>) -> bool {
        self.stamps == stamps && now < self.fresh_until
    }
}

#[derive(Clone)]
struct BySize;

impl Weighter<PageKey, Arc<RenderedTimeline>> for BySize {
    fn weight(&self, _key: &PageKey, page: &Arc<RenderedTimeline>) -> u64 {
        (page.body.len() + page.title.len() + size_of::<RenderedTimeline>()) as u64
    }
}

pub struct PageCache {
    /// `None`: caching is off (`page_cache_mib = 0`).
    pages: Option<Cache<PageKey, Arc<RenderedTimeline>, BySize>>,
}

impl PageCache {
    pub fn new(capacity_bytes: u64) -> PageCache {
        // A page is typically 20–80 KiB: the estimate sizes the cache's index.
        let estimated_pages = usize::try_from(capacity_bytes / 32_768)
            .unwrap_or(usize::MAX)
            .max(16);
        PageCache {
            pages: (capacity_bytes > 0)
                .then(|| Cache::with_weighter(estimated_pages, capacity_bytes, BySize)),
        }
    }

    /// The kept page for `key`, if it is still what rendering it now would give.
    pub fn get(
        &self,
        key: &PageKey,
        stamps: RenderedAgainst,
        now: DateTime<Utc>,
    ) -> Option<Arc<RenderedTimeline>> {
        let pages = self.pages.as_ref()?;
        let page = pages.get(key)?;
        if page.still_right(stamps, now) {
            Some(page)
        } else {
            pages.remove(key);
            None
        }
    }

    pub fn insert(&self, key: PageKey, page: Arc<RenderedTimeline>) {
        if let Some(pages) = &self.pages {
            pages.insert(key, page);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn key(id: &str) -> PageKey {
        PageKey {
            subject: format!("job:{id}").parse().unwrap(),
            category: None,
            callbacks: false,
            before: None,
        }
    }

    fn stamps(subject: u64) -> RenderedAgainst {
        RenderedAgainst {
            subject,
            templates: 0,
        }
    }

    fn page(subject: u64, fresh_until: DateTime<Utc>, body: &str) -> Arc<RenderedTimeline> {
        Arc::new(RenderedTimeline {
            stamps: stamps(subject),
            fresh_until,
            title: "Job 1".to_owned(),
            body: body.to_owned(),
        })
    }

    #[test]
    fn a_page_is_reused_only_while_its_stamp_and_its_times_hold() {
        let cache = PageCache::new(1 << 20);
        let now = Utc::now();
        let until = now + TimeDelta::minutes(5);
        cache.insert(key("1"), page(7, until, "<ol></ol>"));
        assert!(cache.get(&key("1"), stamps(7), now).is_some());
        assert!(cache.get(&key("2"), stamps(7), now).is_none());
        // The subject changed: the page is dropped, not served.
        assert!(cache.get(&key("1"), stamps(8), now).is_none());
        assert!(cache.get(&key("1"), stamps(7), now).is_none());
        // Its relative times went stale.
        cache.insert(key("1"), page(7, until, "<ol></ol>"));
        assert!(cache.get(&key("1"), stamps(7), until).is_none());
        // The templates changed (development).
        cache.insert(key("1"), page(7, until, "<ol></ol>"));
        let edited = RenderedAgainst {
            templates: 1,
            ..stamps(7)
        };
        assert!(cache.get(&key("1"), edited, now).is_none());
    }

    #[test]
    fn filters_and_positions_are_pages_of_their_own() {
        let cache = PageCache::new(1 << 20);
        let now = Utc::now();
        let until = now + TimeDelta::minutes(5);
        let filtered = PageKey {
            category: Some(Category::Communication),
            ..key("1")
        };
        cache.insert(key("1"), page(1, until, "all"));
        cache.insert(filtered.clone(), page(1, until, "emails"));
        assert_eq!(cache.get(&key("1"), stamps(1), now).unwrap().body, "all");
        assert_eq!(cache.get(&filtered, stamps(1), now).unwrap().body, "emails");
    }

    #[test]
    fn the_size_bound_holds_and_zero_turns_caching_off() {
        let cache = PageCache::new(256 * 1024);
        let now = Utc::now();
        let until = now + TimeDelta::minutes(5);
        let body = "x".repeat(40 * 1024);
        for id in 0..64 {
            cache.insert(key(&id.to_string()), page(1, until, &body));
        }
        let kept = (0..64)
            .filter(|id| cache.get(&key(&id.to_string()), stamps(1), now).is_some())
            .count();
        assert!((1..=6).contains(&kept), "{kept} pages of 40 KiB in 256 KiB");

        let off = PageCache::new(0);
        off.insert(key("1"), page(1, until, "body"));
        assert!(off.get(&key("1"), stamps(1), now).is_none());
    }
}
