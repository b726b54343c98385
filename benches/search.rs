//! The concert search over 10,000 concerts (issue 16): search and
//! autocomplete latency with one caller and with 64 concurrent callers
//! (threads) in the same run, the index's size on disk, the start-up rebuild
//! time and the start-up check of an intact index.
//!
//! The catalogue and the queries are `boxoffice_search::sample`'s (the
//! contention harness's `search` scenario uses the same): 10,000 concerts on
//! 500 venues from a fixed seed, titles and descriptions mixing Latin,
//! Korean and Chinese words; misspelt, exact, Korean, Chinese and two-word
//! queries, with and without filters. What is timed is the index's answer
//! (`SearchIndex::search` / `autocomplete`, the ids and scores of a page of
//! 20); the HTTP handler adds the page's seat counts from the schedule actors
//! and the JSON, which the contention harness and wrk measure elsewhere.
//!
//! The baseline in the same run is what `GET /concerts?q=` did before the
//! index: a lower-cased substring scan of every concert's title, description
//! and venue (`ConcertSearch::matches`), for the same queries.
//!
//! Each is timed twice: run on the calling thread ("search", as the index
//! answers the concert list's words), and queued for the index's query
//! threads ("search queued", as the API runs it: `boxoffice_search::pool`),
//! where 64 callers wait their turn instead of thrashing 2 cores.
//!
//! Run: `cargo bench --bench search`. Percentiles, sizes and times are
//! printed to stderr; criterion's own estimates follow.

mod support;

use support::{data_dir, id_bytes};

use boxoffice_actors::catalog_actor::CatalogCopy;
use boxoffice_actors::{Concert, ConcertStatus, PriceGrade, ScheduleInfo, Venue, VenueSection};
use boxoffice_engine::ids::{ConcertId, ScheduleId, VenueId};
use boxoffice_engine::layout::RowLayout;
use boxoffice_engine::{Money, Timestamp};
use boxoffice_search::sample::{self, DAY_MS, PREFIXES, SEED, VENUES};
use boxoffice_search::{SearchIndex, SearchRequest};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

const CONCERTS: usize = 10_000;
/// Concurrent callers of the contended run.
const CALLERS: usize = 64;
/// Timed calls per caller (one caller: `CALLERS` times as many).
const CALLS_PER_CALLER: usize = 200;
const NOW: Timestamp = Timestamp(1_795_478_400_000);

/// The sample catalogue (`boxoffice_search::sample`) with ids, as the
/// catalogue actor would hand it to the index.
fn catalogue() -> CatalogCopy {
    let sample = sample::catalogue(CONCERTS);
    let venues: Vec<Venue> = sample
        .venues
        .iter()
        .enumerate()
        .map(|(n, v)| Venue {
            venue_id: VenueId::from_random_bytes(id_bytes(1, n as u64)),
            name: v.name.clone(),
            address: v.address.clone(),
            sections: vec![VenueSection {
                section_id: "A".into(),
                name: "All".into(),
                rows: vec![RowLayout {
                    row: "1".into(),
                    seats: 10,
                }],
            }],
            capacity: 10,
            created_at: NOW,
        })
        .collect();
    let concerts = sample
        .concerts
        .iter()
        .enumerate()
        .map(|(n, c)| {
            let venue = &venues[c.venue];
            let starts = NOW.plus_millis(c.starts_in_days * DAY_MS);
            Concert {
                concert_id: ConcertId::from_random_bytes(id_bytes(2, n as u64)),
                title: c.title.clone(),
                description: c.description.clone(),
                category: c.category.into(),
                venue_id: venue.venue_id,
                venue_name: venue.name.clone(),
                price_grades: vec![PriceGrade {
                    grade: "A".into(),
                    price: Money(c.price),
                    section_ids: vec!["A".into()],
                }],
                schedules: vec![ScheduleInfo {
                    schedule_id: ScheduleId::from_random_bytes(id_bytes(3, n as u64)),
                    starts_at: starts,
                    ends_at: starts.plus_millis(3_600_000),
                    booking_opens_at: NOW,
                    booking_closes_at: starts,
                    queue: None,
                }],
                max_seats_per_user: 4,
                hold_seconds: 300,
                status: ConcertStatus::Published,
                queue: None,
                created_at: NOW,
            }
        })
        .collect();
    CatalogCopy { venues, concerts }
}

/// The sample's searches as the index takes them.
fn requests() -> Vec<SearchRequest> {
    let day = |days: Option<i64>| days.map(|d| NOW.plus_millis(d * DAY_MS).0);
    sample::queries()
        .into_iter()
        .map(|q| SearchRequest {
            q: q.q,
            category: q.category.map(Into::into),
            min_price: q.min_price,
            max_price: q.max_price,
            from_ms: day(q.from_days),
            to_ms: day(q.to_days),
            location: None,
            offset: q.offset,
            limit: sample::PAGE,
        })
        .collect()
}

/// Today's substring scan of the list's `q` (the baseline).
fn substring_scan(catalogue: &CatalogCopy, q: &str) -> usize {
    let words: Vec<String> = q.split_whitespace().map(str::to_lowercase).collect();
    catalogue
        .concerts
        .iter()
        .filter(|c| {
            let text = format!("{} {} {}", c.title, c.description, c.venue_name).to_lowercase();
            words.iter().all(|w| text.contains(w.as_str()))
        })
        .count()
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// An index started on `data`, with its feed's follower (while it lives,
/// the writer thread runs and holds the directory's lock), how long the
/// start took and whether it rebuilt.
fn started(data: &Path, copy: &CatalogCopy) -> (SearchIndex, Follower, Duration, bool) {
    let (index, follower) = SearchIndex::new(data).expect("query threads");
    let clock = Instant::now();
    index.start(copy.clone()).expect("writer thread");
    assert!(
        index.wait_until_started(Duration::from_secs(600)),
        "the index starts"
    );
    let took = clock.elapsed();
    let (_, rebuilt) = index.start_up();
    (index, follower, took, rebuilt)
}

type Follower = std::sync::Arc<dyn boxoffice_actors::catalog_feed::CatalogFollower>;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Each call's latency, over `callers` threads of `calls` calls each, and
/// the whole run's wall time (for calls per second).
fn latencies(
    callers: usize,
    calls: usize,
    call: impl Fn(usize) + Sync,
) -> (Vec<Duration>, Duration) {
    let wall = Instant::now();
    let mut all: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..callers)
            .map(|caller| {
                let call = &call;
                scope.spawn(move || {
                    (0..calls)
                        .map(|n| {
                            let clock = Instant::now();
                            call(caller * calls + n);
                            clock.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("caller"))
            .collect()
    });
    let wall = wall.elapsed();
    all.sort();
    (all, wall)
}

fn report(what: &str, (sorted, wall): &(Vec<Duration>, Duration)) -> Duration {
    let p99 = percentile(sorted, 0.99);
    eprintln!(
        "{what:<44} p50 {:>9.3} ms  p99 {:>9.3} ms  ({} calls, {:>7.0}/s)",
        percentile(sorted, 0.50).as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        sorted.len(),
        sorted.len() as f64 / wall.as_secs_f64()
    );
    p99
}

fn bench(c: &mut Criterion) {
    let copy = catalogue();
    let data = data_dir("search-bench");

    // Start-up on an empty data dir: a full rebuild of 10,000 concerts.
    let (index, follower, rebuild, rebuilt) = started(data.path(), &copy);
    assert!(rebuilt);
    let size = dir_bytes(&data.path().join(boxoffice_search::INDEX_DIR));
    // Dropping the follower ends the writer thread, which lets go of the lock.
    drop((index, follower));
    std::thread::sleep(Duration::from_millis(200));
    // Start-up on the intact index: checksums and the id check, no rebuild.
    let (index, _follower, reuse, rebuilt_again) = started(data.path(), &copy);
    eprintln!("search bench: {CONCERTS} concerts, {VENUES} venues, seed {SEED}");
    eprintln!(
        "start-up rebuild (empty dir):          {:>9.1} ms",
        rebuild.as_secs_f64() * 1e3
    );
    eprintln!(
        "start-up on an intact index:           {:>9.1} ms   (rebuilt: {rebuilt_again})",
        reuse.as_secs_f64() * 1e3
    );
    eprintln!(
        "index size on disk:                    {:>9.2} MiB ({size} bytes)",
        size as f64 / (1 << 20) as f64
    );

    let requests = requests();
    for request in &requests {
        let page = index.search(request).expect("search");
        eprintln!("  {:<24} total {:>5}", request.q, page.total);
    }
    let search = |n: usize| {
        black_box(index.search(&requests[n % requests.len()]).expect("search"));
    };
    let suggest = |n: usize| {
        black_box(
            index
                .autocomplete(PREFIXES[n % PREFIXES.len()], 10)
                .expect("autocomplete"),
        );
    };
    let scan = |n: usize| {
        black_box(substring_scan(&copy, &requests[n % requests.len()].q));
    };
    // What the API does: queue the query for the index's query threads.
    let search_queued = |n: usize| {
        black_box(
            index
                .queue_search(requests[n % requests.len()].clone())
                .wait()
                .expect("search"),
        );
    };
    let suggest_queued = |n: usize| {
        black_box(
            index
                .queue_autocomplete(PREFIXES[n % PREFIXES.len()].into(), 10)
                .wait()
                .expect("autocomplete"),
        );
    };
    let one = CALLERS * CALLS_PER_CALLER;
    let search_one = report("search, 1 caller", &latencies(1, one, search));
    report(
        &format!("search, {CALLERS} callers"),
        &latencies(CALLERS, CALLS_PER_CALLER, search),
    );
    report("search queued, 1 caller", &latencies(1, one, search_queued));
    report(
        &format!("search queued, {CALLERS} callers"),
        &latencies(CALLERS, CALLS_PER_CALLER, search_queued),
    );
    report("autocomplete, 1 caller", &latencies(1, one, suggest));
    report(
        &format!("autocomplete, {CALLERS} callers"),
        &latencies(CALLERS, CALLS_PER_CALLER, suggest),
    );
    report(
        "autocomplete queued, 1 caller",
        &latencies(1, one, suggest_queued),
    );
    report(
        &format!("autocomplete queued, {CALLERS} callers"),
        &latencies(CALLERS, CALLS_PER_CALLER, suggest_queued),
    );
    let scan_one = report(
        "baseline substring scan, 1 caller",
        &latencies(1, 2_000, scan),
    );
    eprintln!(
        "search p99 / substring-scan p99 (1 caller): {:.3}",
        search_one.as_secs_f64() / scan_one.as_secs_f64()
    );

    let mut group = c.benchmark_group("search_10k");
    let mut n = 0;
    group.bench_function("search", |b| {
        b.iter(|| {
            n += 1;
            search(n)
        })
    });
    group.bench_function("autocomplete", |b| {
        b.iter(|| {
            n += 1;
            suggest(n)
        })
    });
    group.bench_function("baseline_substring_scan", |b| {
        b.iter(|| {
            n += 1;
            scan(n)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
