//! Reads whose cost must not grow with history (issue 20, item 7), each
//! against its baseline in the same run.
//!
//! - `reads/reservations_page`: one page (the first, 20 items) of a user's
//!   reservations, `Registry::reservations_page` (what GET /reservations
//!   calls), for a user with 100 and with 10,000 ended reservations (one in
//!   ten paid, then cancelled and refunded: the rest released holds), on a
//!   `SledStore` in a temp dir under `target/tmp`. The figure is the ratio of
//!   the two (target about 1). Baseline, `reads/reservations_brute_force`:
//!   the same page the way the previous version computed it (the whole
//!   history loaded, `Registry::reservations_of`, then paged).
//! - `reads/tickets_page`: one page (20) of the same user's tickets,
//!   `Registry::tickets_page` (GET /tickets); 10 of 100 and 1,000 of 10,000
//!   reservations had tickets.
//! - `reads/concert_list`: `Registry::search_concerts` for a page of 100
//!   concerts of 20 dates each (2,000 schedules), which reads the published
//!   seat counts (`seat_board`), against `per_actor_counts`: the same list
//!   plus the `GetCounts` round trip to each of the page's 2,000 schedule
//!   actors, as `catalog_query::counts_of` asked before. The store plays no
//!   part in it; this one runs on a `MemoryStore`.
//!
//! The history is made through the registry (holds, payments, cancels), with
//! `archive_after_ended` = 32 and `snapshot_every_events` = 128 so that most
//! of it is archived during set-up (the defaults, 4,096 and 20,000, archive
//! the same way, later); what stays live is printed with each case.
//!
//! Run: `cargo bench --bench paged_reads` (set-up about a minute, then a few
//! seconds per case).

mod support;

use support::{data_dir, id_bytes};

use boxoffice_actors::catalog::NewConcert;
use boxoffice_actors::catalog_actor::{PriceGrade, VenueSection};
use boxoffice_actors::catalog_query::ConcertSearch;
use boxoffice_actors::{
    EngineConfig, HoldCommand, IdSource, ManualClock, NewSchedule, PayCommand, Registry,
    ScheduleSpec,
};
use boxoffice_engine::ids::{ScheduleId, UserId};
use boxoffice_engine::layout::{RowLayout, SeatLayout};
use boxoffice_engine::schedule::{ScheduleRules, SeatSelection};
use boxoffice_engine::{Money, Timestamp};
use boxoffice_storage::memory_store::MemoryStore;
use boxoffice_storage::{SledStore, Store};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures_util::future::{join_all, try_join_all};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

/// 2026-11-24T00:00:00Z: the manual clock's start.
const T0: Timestamp = Timestamp(1_795_478_400_000);
/// Ended reservations of the small and the large history.
const HISTORIES: [u64; 2] = [100, 10_000];
/// One in this many cycles is paid, then cancelled and refunded (it has tickets).
const PAID_EVERY: u64 = 10;
/// Schedules the history is spread over, built concurrently (set-up time).
const HISTORY_SCHEDULES: u64 = 10;
/// Items per page, as a client's default page.
const PAGE: usize = 20;
/// The concert list: concerts on one page, and dates per concert.
const CONCERTS: usize = 100;
const DATES: usize = 20;

fn engine_config() -> EngineConfig {
    EngineConfig {
        archive_after_ended: 32,
        snapshot_every_events: 128,
        archive_in_background: false,
        ..EngineConfig::default()
    }
}

fn schedule_spec(n: u64) -> ScheduleSpec {
    ScheduleSpec {
        schedule_id: ScheduleId::from_random_bytes(id_bytes(3, n)),
        layout: SeatLayout::uniform(1, 1, 4),
        rules: ScheduleRules::default(),
        queue: None,
    }
}

/// An engine with one user's history of `ended` reservations.
struct History {
    ended: u64,
    runner: actix_rt::SystemRunner,
    registry: Arc<Registry>,
    user: UserId,
    _dir: tempfile::TempDir,
}

impl History {
    fn make(ended: u64) -> History {
        let dir = data_dir("paged_reads");
        let runner = actix_rt::System::new();
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).expect("open sled store"));
        let user = UserId::from_random_bytes(id_bytes(1, ended));
        let registry = runner.block_on(async {
            let registry = Registry::start(
                store,
                Arc::new(ManualClock::new(T0)),
                Arc::new(IdSource::seeded(ended)),
                engine_config(),
            )
            .await
            .expect("engine starts");
            registry
                .charge(user, Money(10_000_000), None)
                .await
                .expect("funding charge");
            let per_schedule = ended / HISTORY_SCHEDULES;
            let registry = &registry;
            join_all((0..HISTORY_SCHEDULES).map(|s| async move {
                let schedule = registry
                    .create_schedule(schedule_spec(ended * 100 + s))
                    .await
                    .expect("schedule");
                for n in 0..per_schedule {
                    let held = registry
                        .hold(
                            user,
                            HoldCommand {
                                schedule_id: schedule,
                                selection: SeatSelection::Ids(vec!["S0-1-1".into()]),
                                queue_token: None,
                                idem: None,
                            },
                        )
                        .await
                        .expect("hold");
                    if n % PAID_EVERY == 0 {
                        registry
                            .pay(
                                user,
                                PayCommand {
                                    reservation_id: held.reservation_id,
                                    amount: None,
                                    queue_token: None,
                                    idem: None,
                                },
                            )
                            .await
                            .expect("pay");
                    }
                    registry
                        .cancel(user, held.reservation_id)
                        .await
                        .expect("cancel");
                }
            }))
            .await;
            Arc::clone(registry)
        });
        let history = History {
            ended,
            runner,
            registry,
            user,
            _dir: dir,
        };
        let (_, total) = history.page();
        let (_, tickets) = history.tickets();
        let live = history
            .registry
            .context()
            .directory
            .reservations_of_user(user)
            .len();
        eprintln!(
            "history {ended}: {total} reservations ({live} still live, the rest archived), {tickets} tickets"
        );
        assert_eq!(total as u64, ended);
        history
    }

    fn page(&self) -> (usize, usize) {
        self.runner.block_on(async {
            let (page, total) = self
                .registry
                .reservations_page(self.user, None, 0, PAGE)
                .await
                .expect("page");
            (page.len(), total)
        })
    }

    fn tickets(&self) -> (usize, usize) {
        self.runner.block_on(async {
            let (page, total) = self
                .registry
                .tickets_page(self.user, 0, PAGE)
                .await
                .expect("tickets");
            (page.len(), total)
        })
    }

    /// The previous version's page: the whole history, then the page.
    fn brute_force_page(&self) -> usize {
        self.runner.block_on(async {
            let mut all = self
                .registry
                .reservations_of(self.user)
                .await
                .expect("brute force");
            all.reverse();
            all.into_iter().take(PAGE).count()
        })
    }
}

impl Drop for History {
    fn drop(&mut self) {
        self.registry.shutdown();
    }
}

fn reservations_and_tickets(c: &mut Criterion) {
    let histories: Vec<History> = HISTORIES.iter().map(|&n| History::make(n)).collect();
    for (name, read) in [
        (
            "reads/reservations_page",
            History::page as fn(&History) -> (usize, usize),
        ),
        ("reads/tickets_page", History::tickets),
        ("reads/reservations_brute_force", |h: &History| {
            (h.brute_force_page(), 0)
        }),
    ] {
        let mut group = c.benchmark_group(name);
        group
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        for history in &histories {
            group.bench_function(BenchmarkId::new("history", history.ended), |b| {
                b.iter(|| black_box(read(history)))
            });
        }
        group.finish();
    }
}

/// An engine on a memory store with `CONCERTS` concerts of `DATES` dates each.
fn catalogue(runner: &actix_rt::SystemRunner) -> Arc<Registry> {
    runner.block_on(async {
        let registry = Registry::start(
            Arc::new(MemoryStore::new()),
            Arc::new(ManualClock::new(T0)),
            Arc::new(IdSource::seeded(9)),
            EngineConfig::default(),
        )
        .await
        .expect("engine starts");
        let venue = registry
            .create_venue(
                "Hall".into(),
                "1 Main St".into(),
                vec![VenueSection {
                    section_id: "A".into(),
                    name: "All".into(),
                    rows: vec![RowLayout {
                        row: "1".into(),
                        seats: 50,
                    }],
                }],
            )
            .await
            .expect("venue");
        const DAY_MS: i64 = 86_400_000;
        for c in 0..CONCERTS {
            let schedules = (0..DATES)
                .map(|d| {
                    let starts = T0.plus_millis((c * DATES + d + 1) as i64 * DAY_MS);
                    NewSchedule {
                        starts_at: starts,
                        ends_at: starts.plus_millis(3_600_000),
                        booking_opens_at: T0,
                        booking_closes_at: starts,
                        queue: None,
                    }
                })
                .collect();
            registry
                .create_concert(NewConcert {
                    title: format!("Concert {c}"),
                    description: String::new(),
                    category: "MUSIC".into(),
                    venue_id: venue.venue_id,
                    price_grades: vec![PriceGrade {
                        grade: "A".into(),
                        price: Money(10_000),
                        section_ids: vec!["A".into()],
                    }],
                    schedules,
                    max_seats_per_user: 4,
                    hold_seconds: 300,
                    queue: None,
                })
                .await
                .expect("concert");
        }
        registry
    })
}

fn concert_list(c: &mut Criterion) {
    let runner = actix_rt::System::new();
    let registry = catalogue(&runner);
    let search = ConcertSearch::default();
    let mut group = c.benchmark_group("reads/concert_list");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function(
        BenchmarkId::new("published_counts", CONCERTS * DATES),
        |b| {
            b.iter(|| {
                runner.block_on(async {
                    let (page, total) = registry
                        .search_concerts(&search, 0, CONCERTS)
                        .await
                        .expect("list");
                    assert_eq!(total, CONCERTS);
                    black_box(page)
                })
            })
        },
    );
    let schedule_ids = registry.schedule_ids();
    assert_eq!(schedule_ids.len(), CONCERTS * DATES);
    group.bench_function(
        BenchmarkId::new("per_actor_counts", CONCERTS * DATES),
        |b| {
            b.iter(|| {
                runner.block_on(async {
                    let (page, _) = registry
                        .search_concerts(&search, 0, CONCERTS)
                        .await
                        .expect("list");
                    let counts =
                        try_join_all(schedule_ids.iter().map(|&id| registry.seat_counts(id)))
                            .await
                            .expect("every schedule answers");
                    black_box((page, counts))
                })
            })
        },
    );
    group.finish();
    registry.shutdown();
}

criterion_group!(benches, concert_list, reservations_and_tickets);
criterion_main!(benches);
