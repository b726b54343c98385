//! Cancelling a sold-out 50,000-seat schedule through the actors, on a
//! `SledStore` with the group commit, as production runs it: how long until
//! the cancellation is acknowledged and until every refund is paid, and how
//! many holds per second other schedules get meanwhile, against the same
//! load measured just before (the baseline of the same run).
//!
//! Set-up (not timed): 50,000 users each charge their wallet, hold one seat
//! and pay for it (50,000 paid reservations: the most refunds a 50,000-seat
//! schedule can owe). The load: `LOAD_CALLERS` concurrent callers, each
//! holding and releasing its own seat on one of `OTHER_SCHEDULES` other
//! schedules (one hold + release per loop; holds counted).
//!
//! Run: `cargo bench --bench cancel_schedule` (release). Prints one line per
//! figure, and the ratio of holds/s during the cancellation to the baseline.

mod support;

use support::{data_dir, id_bytes};

use boxoffice_actors::schedule_actor::GetUnfinishedWork;
use boxoffice_actors::{
    EngineConfig, HoldCommand, IdSource, PayCommand, Registry, ScheduleSpec, SystemClock,
};
use boxoffice_engine::ids::{ScheduleId, UserId};
use boxoffice_engine::layout::SeatLayout;
use boxoffice_engine::schedule::{ScheduleRules, SeatSelection};
use boxoffice_engine::Money;
use boxoffice_storage::{SledStore, Store};
use futures_util::future::join_all;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 50 rows of 1,000 seats: 50,000 seats, one buyer each.
const ROWS: u32 = 50;
const SEATS_PER_ROW: u32 = 1_000;
const BUYERS: u64 = (ROWS * SEATS_PER_ROW) as u64;
/// Buyers set up at once.
const SETUP_CHUNK: u64 = 1_000;
/// Schedules the hold load runs on (1,000 seats each).
const OTHER_SCHEDULES: u64 = 4;
const LOAD_CALLERS: u64 = 64;
/// How long the baseline load is measured before the cancel.
const BASELINE: Duration = Duration::from_secs(5);
/// How often the cancellation's end is looked for.
const POLL: Duration = Duration::from_millis(20);

fn user(n: u64) -> UserId {
    UserId::from_random_bytes(id_bytes(1, n))
}

fn seat(n: u64, per_row: u64) -> String {
    format!("S0-{}-{}", n / per_row + 1, n % per_row + 1)
}

fn ids(seat: String) -> SeatSelection {
    SeatSelection::Ids(vec![seat])
}

async fn create(registry: &Registry, n: u64, layout: SeatLayout) -> ScheduleId {
    registry
        .create_schedule(ScheduleSpec {
            schedule_id: ScheduleId::from_random_bytes(id_bytes(2, n)),
            layout,
            rules: ScheduleRules::default(),
            queue: None,
        })
        .await
        .expect("schedule")
}

async fn buy(registry: &Registry, schedule_id: ScheduleId, n: u64) {
    let who = user(n);
    registry
        .charge(who, Money(10_000), None)
        .await
        .expect("charge");
    let hold = registry
        .hold(
            who,
            HoldCommand {
                schedule_id,
                selection: ids(seat(n, u64::from(SEATS_PER_ROW))),
                queue_token: None,
                idem: None,
            },
        )
        .await
        .expect("hold");
    registry
        .pay(
            who,
            PayCommand {
                reservation_id: hold.reservation_id,
                amount: None,
                queue_token: None,
                idem: None,
            },
        )
        .await
        .expect("pay");
}

/// Holds and releases its own seat until `stop`, counting holds.
async fn load_caller(
    registry: Arc<Registry>,
    schedule_id: ScheduleId,
    k: u64,
    holds: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let who = user(1_000_000 + k);
    while !stop.load(Ordering::Relaxed) {
        let hold = registry
            .hold(
                who,
                HoldCommand {
                    schedule_id,
                    selection: ids(seat(k / OTHER_SCHEDULES, 100)),
                    queue_token: None,
                    idem: None,
                },
            )
            .await
            .expect("load hold");
        holds.fetch_add(1, Ordering::Relaxed);
        registry
            .cancel(who, hold.reservation_id)
            .await
            .expect("load release");
    }
}

fn rate(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn main() {
    let dir = data_dir("cancel_schedule");
    let runner = actix_rt::System::new();
    runner.block_on(async {
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).expect("open sled store"));
        let registry = Registry::start(
            store,
            Arc::new(SystemClock),
            Arc::new(IdSource::seeded(15)),
            EngineConfig::default(),
        )
        .await
        .expect("engine starts");
        let big = create(
            &registry,
            0,
            SeatLayout::uniform(1, ROWS as usize, SEATS_PER_ROW),
        )
        .await;
        let mut others = Vec::new();
        for n in 1..=OTHER_SCHEDULES {
            others.push(create(&registry, n, SeatLayout::uniform(1, 10, 100)).await);
        }
        let prep = Instant::now();
        for start in (0..BUYERS).step_by(SETUP_CHUNK as usize) {
            join_all((start..start + SETUP_CHUNK).map(|n| buy(&registry, big, n))).await;
        }
        let sales = registry.sales(big).await.expect("sales");
        assert_eq!(sales.counts.sold as u64, BUYERS, "sold out");
        eprintln!(
            "set-up: {BUYERS} paid reservations in {:.1} s",
            prep.elapsed().as_secs_f64()
        );

        let holds = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let callers: Vec<_> = (0..LOAD_CALLERS)
            .map(|k| {
                actix_rt::spawn(load_caller(
                    Arc::clone(&registry),
                    others[(k % OTHER_SCHEDULES) as usize],
                    k,
                    Arc::clone(&holds),
                    Arc::clone(&stop),
                ))
            })
            .collect();
        actix_rt::time::sleep(Duration::from_millis(500)).await; // warm-up
        let (count0, t0) = (holds.load(Ordering::Relaxed), Instant::now());
        actix_rt::time::sleep(BASELINE).await;
        let baseline = rate(holds.load(Ordering::Relaxed) - count0, t0.elapsed());

        let (count1, t1) = (holds.load(Ordering::Relaxed), Instant::now());
        let summary = registry.cancel_schedule(big).await.expect("cancel");
        let acknowledged = t1.elapsed();
        let schedule = registry.schedule(big).expect("handle");
        while schedule
            .actor
            .query(GetUnfinishedWork)
            .await
            .expect("query")
            .cancellation_unfinished
        {
            actix_rt::time::sleep(POLL).await;
        }
        let finished = t1.elapsed();
        let during = rate(holds.load(Ordering::Relaxed) - count1, finished);
        stop.store(true, Ordering::Relaxed);
        for caller in callers {
            caller.await.expect("load caller");
        }

        let sales = registry.sales(big).await.expect("sales");
        assert_eq!(
            (
                sales.counts.sold,
                sales.refunded,
                summary.refunded_reservations as u64
            ),
            (0, Money(10_000 * BUYERS as i64), BUYERS),
            "every paid reservation refunded"
        );
        for n in (0..BUYERS).step_by(997) {
            let wallet = registry.wallet_view(user(n)).await.expect("wallet");
            assert_eq!(wallet.balance, Money(10_000), "buyer {n} refunded once");
        }
        println!(
            "cancel_schedule/acknowledged_ms {:.1}",
            acknowledged.as_secs_f64() * 1e3
        );
        println!(
            "cancel_schedule/all_refunded_ms {:.1}",
            finished.as_secs_f64() * 1e3
        );
        println!(
            "cancel_schedule/refunds_per_s {:.0}",
            rate(BUYERS, finished)
        );
        println!("cancel_schedule/other_holds_per_s_baseline {baseline:.0}");
        println!("cancel_schedule/other_holds_per_s_during {during:.0}");
        println!(
            "cancel_schedule/during_to_baseline {:.2}",
            during / baseline
        );
        registry.shutdown();
    });
}
