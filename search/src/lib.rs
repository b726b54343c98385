//! The concert search (API.md, "Search"; DESIGN.md, "Search"): a tantivy
//! full-text index kept in `<data dir>/search/`, following the catalogue.
//!
//! - [`claim`]: one writer thread per index directory in this process.
//! - [`text`]: how text becomes terms (words folded to ASCII, CJK bigrams).
//! - [`schema`]: the fields, their weights, a concert as a document.
//! - [`disk`]: reuse the index on disk when whole and current, else rebuild.
//! - [`writer`]: the one writer thread, fed by the catalogue's durable changes.
//! - [`query`]: search, autocomplete and the concert list's word matching.
//! - [`pool`]: the query threads, one per core, that the API's searches and
//!   autocompletes queue for in order (not the HTTP workers, not a thread each).
//! - `sample` (feature `sample`): the benchmarks' catalogue and query mix.
//!
//! A separate crate so that the actor layer does not depend on tantivy (and
//! compiles in parallel with it): the catalogue actor publishes its durable
//! changes on a `CatalogFeed` this crate follows, and the list's `q` reaches
//! the index through the `ConcertTextIndex` trait it implements.
//!
//! Start-up: [`SearchIndex::new`] gives the index and the feed's follower;
//! once the follower is registered (`Registry::follow_catalog`, which answers
//! the catalogue as it is then), [`SearchIndex::start`] hands that copy to the
//! writer thread, which checks or rebuilds the index and only then marks it
//! ready. Until then searches answer [`SearchError::Unavailable`] (503 with
//! `Retry-After`) and the list's `q` falls back to its substring scan.

pub mod claim;
pub mod disk;
pub mod pool;
pub mod query;
#[cfg(feature = "sample")]
pub mod sample;
pub mod schema;
pub mod text;
pub mod writer;

use boxoffice_actors::catalog_actor::{CatalogCopy, CatalogEvent};
use boxoffice_actors::catalog_feed::CatalogFollower;
use boxoffice_actors::catalog_query::{ConcertTextIndex, TextMatches};
use boxoffice_actors::{ConcertSummary, EngineError, EngineResult, Registry};
use boxoffice_engine::ids::ConcertId;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tantivy::IndexReader;

use pool::QueryPool;

pub use pool::Pending;
pub use query::{Hit, HitPage, SearchRequest, Suggestion};
use schema::Fields;

/// The directory of the index inside the data dir.
pub const INDEX_DIR: &str = "search";

/// Why a search has no answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    /// The index is being built (start-up) or could not be: try again later.
    #[error("the search index is {0}")]
    Unavailable(&'static str),
    /// The index failed while answering (a damaged file read at run time).
    #[error("the search index failed: {0}")]
    Failed(String),
}

const BUILDING: u8 = 0;
const READY: u8 = 1;
const FAILED: u8 = 2;

pub(crate) struct Live {
    pub(crate) reader: IndexReader,
}

pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) fields: Fields,
    status: AtomicU8,
    pub(crate) live: OnceLock<Live>,
    /// The feed's end until [`SearchIndex::start`] hands it to the writer.
    queue: Mutex<Option<Receiver<Vec<CatalogEvent>>>>,
    start_up_ms: AtomicU64,
    rebuilt: AtomicBool,
    /// Where queued queries run (see `pool`).
    queries: QueryPool,
}

impl Shared {
    fn ready(&self, live: Live, took: Duration, rebuilt: bool) {
        if self.live.set(live).is_ok() {
            self.start_up_ms
                .store(took.as_millis() as u64, Ordering::Relaxed);
            self.rebuilt.store(rebuilt, Ordering::Relaxed);
            self.status.store(READY, Ordering::Release);
            tracing::info!(
                took_ms = took.as_millis() as u64,
                rebuilt,
                "search index ready"
            );
        }
    }

    fn failed(&self) {
        self.status.store(FAILED, Ordering::Release);
    }
}

/// The search index of one data dir; cheap to clone.
#[derive(Clone)]
pub struct SearchIndex {
    shared: Arc<Shared>,
}

impl SearchIndex {
    /// The index of `data_dir` (not opened yet) and the follower to register
    /// on the catalogue's feed.
    ///
    /// Starts the query threads ([`pool::query_threads`]); they end with the
    /// last clone of the index.
    pub fn new(data_dir: &Path) -> std::io::Result<(SearchIndex, Arc<dyn CatalogFollower>)> {
        let queries = QueryPool::start(pool::query_threads())?;
        let (sender, receiver) = sync_channel(writer::QUEUE_BATCHES);
        let (_, fields) = Fields::schema();
        let shared = Arc::new(Shared {
            dir: data_dir.join(INDEX_DIR),
            fields,
            status: AtomicU8::new(BUILDING),
            live: OnceLock::new(),
            queue: Mutex::new(Some(receiver)),
            start_up_ms: AtomicU64::new(0),
            rebuilt: AtomicBool::new(false),
            queries,
        });
        let follower = writer::Follower { queue: sender };
        Ok((SearchIndex { shared }, Arc::new(follower)))
    }

    /// Starts the writer thread on `copy`, the catalogue as it was when the
    /// follower was registered. Only the first call does anything.
    pub fn start(&self, copy: CatalogCopy) -> std::io::Result<()> {
        let queue = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let Some(queue) = queue else {
            return Ok(());
        };
        let shared = Arc::clone(&self.shared);
        std::thread::Builder::new()
            .name("search-writer".into())
            .spawn(move || writer::run(shared, copy, queue))
            .map(drop)
    }

    /// Whether searches are answered now.
    pub fn is_ready(&self) -> bool {
        self.shared.status.load(Ordering::Acquire) == READY
    }

    /// Waits until the index is ready or failed, at most `timeout` (tests, benchmarks).
    pub fn wait_until_started(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while self.shared.status.load(Ordering::Acquire) == BUILDING {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.is_ready()
    }

    /// How long the start-up check or rebuild took, and whether it rebuilt.
    pub fn start_up(&self) -> (Duration, bool) {
        (
            Duration::from_millis(self.shared.start_up_ms.load(Ordering::Relaxed)),
            self.shared.rebuilt.load(Ordering::Relaxed),
        )
    }

    /// The index's directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    fn live(&self) -> Result<&Live, SearchError> {
        match self.shared.status.load(Ordering::Acquire) {
            READY => self
                .shared
                .live
                .get()
                .ok_or(SearchError::Unavailable("starting")),
            FAILED => Err(SearchError::Unavailable(
                "out of order; it is rebuilt at the next start",
            )),
            _ => Err(SearchError::Unavailable("being built")),
        }
    }

    /// A page of the concerts matching `request`, best first, run on the
    /// caller's thread (the concert list's words; benchmarks).
    pub fn search(&self, request: &SearchRequest) -> Result<HitPage, SearchError> {
        let live = self.live()?;
        query::search(&live.reader.searcher(), &self.shared.fields, request).map_err(failed)
    }

    /// Up to `limit` titles with a word starting with `q`, run on the caller's thread.
    pub fn autocomplete(&self, q: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError> {
        let live = self.live()?;
        query::autocomplete(&live.reader.searcher(), &self.shared.fields, q, limit).map_err(failed)
    }

    /// [`SearchIndex::search`] queued for the query threads (see `pool`).
    pub fn queue_search(&self, request: SearchRequest) -> Pending<HitPage> {
        let index = self.clone();
        self.shared.queries.submit(move || index.search(&request))
    }

    /// [`SearchIndex::autocomplete`] queued for the query threads.
    pub fn queue_autocomplete(&self, q: String, limit: usize) -> Pending<Vec<Suggestion>> {
        let index = self.clone();
        self.shared
            .queries
            .submit(move || index.autocomplete(&q, limit))
    }
}

/// A search's page as the API shows it: each concert's list line and score.
#[derive(Clone, Debug, Default)]
pub struct ScoredPage {
    pub items: Vec<(ConcertSummary, f32)>,
    pub total: usize,
}

impl SearchIndex {
    /// A page of the concerts matching `request`, best first, with their
    /// list lines (seat counts from the schedules' actors). An index that
    /// cannot answer is [`EngineError::Unavailable`] (503), never a 500.
    pub async fn find_concerts(
        &self,
        registry: &Registry,
        request: &SearchRequest,
    ) -> EngineResult<ScoredPage> {
        let page = self
            .queue_search(request.clone())
            .answer()
            .await
            .map_err(|err| {
                tracing::warn!(%err, "search unavailable");
                EngineError::Unavailable
            })?;
        let ids = page.hits.iter().map(|h| h.concert_id).collect();
        let summaries = registry.concert_summaries(ids).await?;
        let scores: std::collections::HashMap<ConcertId, f32> =
            page.hits.iter().map(|h| (h.concert_id, h.score)).collect();
        let items = summaries
            .into_iter()
            .map(|s| {
                let score = scores.get(&s.concert_id).copied().unwrap_or(0.0);
                (s, score)
            })
            .collect();
        Ok(ScoredPage {
            items,
            total: page.total,
        })
    }
}

fn failed(err: tantivy::TantivyError) -> SearchError {
    tracing::error!(%err, "search failed");
    SearchError::Failed(err.to_string())
}

impl ConcertTextIndex for SearchIndex {
    fn matching(&self, text: &str) -> Option<TextMatches> {
        let live = self.live().ok()?;
        let searcher = live.reader.searcher();
        let ids = query::matching(&searcher, &self.shared.fields, text)
            .map_err(failed)
            .ok()?;
        // Alive documents are distinct concerts (replaced by id), a prefix
        // of the catalogue's creation order (see `TextMatches`).
        let indexed = usize::try_from(searcher.num_docs()).unwrap_or(usize::MAX);
        Some(TextMatches { ids, indexed })
    }
}
