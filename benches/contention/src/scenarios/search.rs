//! `search`: the concert search (issue 16). Set-up loads `--concerts`
//! (default 10,000) concerts of `boxoffice_search::sample` (the criterion
//! bench's catalogue: Latin, Korean and Chinese titles on up to 500 venues)
//! through the engine, and waits until the search index has them all. Then
//! each client, in a closed loop, alternates `GET /search/concerts` (the
//! sample's mix: misspelt, exact, Korean, Chinese and two-word queries, with
//! and without filters, a page of 20) and `GET /search/autocomplete` (its
//! prefixes), each client starting at its own place in the mix. Reported per
//! operation: `search` and `autocomplete`. In process, the same calls the
//! handlers make go to the index and the `Registry`. Run with
//! `--mode http,hello --clients 1 64` to set it against hello world.
//!
//! Checks: every request answered 2xx, and every search of the mix matched
//! at least one concert (the index holds the catalogue).

use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use boxoffice_search::sample::{self, SampleQuery};

use super::{ScenarioRun, Size};
use crate::clients;
use crate::invariants::Check;
use crate::stats::{Op, Outcome};
use crate::target::{Client, Target};

pub const DEFAULT_CONCERTS: usize = 10_000;
/// Longest the index may take to catch up with the loaded catalogue.
const INDEX_CATCH_UP: Duration = Duration::from_secs(120);

struct Shared {
    queries: Vec<SampleQuery>,
    now_ms: i64,
    /// Searches answered with `total` 0, by position in the mix.
    empty: Vec<AtomicU64>,
}

pub async fn run<T: Target>(target: &Arc<T>, size: &Size) -> Result<ScenarioRun, String> {
    if !target.features().catalogue {
        return Err(format!(
            "search needs a catalogue, which {} has not",
            target.system()
        ));
    }
    let concerts = size.concerts.max(1);
    let catalogue = sample::catalogue(concerts);
    let loading = Instant::now();
    let now_ms = target.create_search_catalogue(&catalogue).await?;
    let load_seconds = loading.elapsed().as_secs_f64();
    // The index follows the catalogue's durable changes in order: once the
    // last concert is found (its title ends in its number, a word no other
    // concert has), they all are.
    let probe = SampleQuery {
        q: (concerts - 1).to_string(),
        ..SampleQuery::default()
    };
    let client = target.client(0, 1);
    let waiting = Instant::now();
    loop {
        if client
            .search(&probe, now_ms)
            .await
            .is_ok_and(|total| total >= 1)
        {
            break;
        }
        if waiting.elapsed() > INDEX_CATCH_UP {
            return Err(format!(
                "search: the index did not show the last of {concerts} concerts within {INDEX_CATCH_UP:?}"
            ));
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    let catch_up_seconds = waiting.elapsed().as_secs_f64();
    drop(client);

    let queries = sample::queries();
    let shared = Arc::new(Shared {
        empty: queries.iter().map(|_| AtomicU64::new(0)).collect(),
        queries,
        now_ms,
    });
    let recorder = clients::run(
        clients::connect(target),
        size.plan(),
        Arc::clone(&shared),
        Arc::new(AtomicBool::new(false)),
        searcher,
    )
    .await?;

    let answered = |op: Op| {
        let stats = recorder.op(op);
        (stats.count(), stats.count() - stats.outcome(Outcome::Ok))
    };
    let (searches, searches_failed) = answered(Op::Search);
    let (suggests, suggests_failed) = answered(Op::Autocomplete);
    let empty: Vec<&str> = shared
        .queries
        .iter()
        .zip(&shared.empty)
        .filter(|(_, n)| n.load(Ordering::Relaxed) > 0)
        .map(|(q, _)| q.q.as_str())
        .collect();
    let checks = vec![
        Check::new(
            "every search and autocomplete answered 2xx",
            searches_failed == 0 && suggests_failed == 0 && searches + suggests > 0,
            format!(
                "{searches} searches ({searches_failed} not 2xx), {suggests} autocompletes ({suggests_failed} not 2xx)"
            ),
        ),
        Check::new(
            "every search of the mix matched a concert",
            empty.is_empty(),
            if empty.is_empty() {
                format!("{} queries, each matched", shared.queries.len())
            } else {
                format!("no match for {empty:?}")
            },
        ),
    ];
    let mut facts = std::collections::BTreeMap::new();
    facts.insert("concerts".into(), json!(concerts));
    facts.insert("venues".into(), json!(catalogue.venues.len()));
    facts.insert("catalogue_load_seconds".into(), json!(load_seconds));
    facts.insert("index_catch_up_seconds".into(), json!(catch_up_seconds));
    Ok(ScenarioRun {
        elapsed: recorder.window().length(),
        recorder,
        checks,
        facts,
        notes: vec![format!(
            "{concerts} concerts (boxoffice_search::sample, seed {}); each client alternates a search of the mix ({} queries, page of {}) and an autocomplete ({} prefixes)",
            sample::SEED,
            shared.queries.len(),
            sample::PAGE,
            sample::PREFIXES.len()
        )],
        timeline: Vec::new(),
    })
}

async fn searcher<C: Client>(client: clients::Client<Shared, C>) {
    let s = Arc::clone(&client.shared);
    let mut n = client.index;
    while client.running() {
        let query = n % s.queries.len();
        if let Ok(total) = client
            .timed(Op::Search, client.api.search(&s.queries[query], s.now_ms))
            .await
        {
            if total == 0 {
                s.empty[query].fetch_add(1, Ordering::Relaxed);
            }
        }
        if !client.running() {
            break;
        }
        let prefix = sample::PREFIXES[n % sample::PREFIXES.len()];
        let _ = client
            .timed(Op::Autocomplete, client.api.autocomplete(prefix))
            .await;
        n += 1;
    }
}
