//! What a schedule costs in memory per seat (issue 21: "a 50,000-seat
//! schedule costs ≤ 32 bytes per seat in steady state. Measure it.").
//!
//! Not a timing bench: a counting global allocator (live heap bytes, exact
//! and repeatable, unlike RSS) measures the engine's `Schedule` of 50,000
//! seats in three states, and prints one table:
//! - **on sale, empty**: just created, every seat available;
//! - **sold out**: every seat held then confirmed, in reservations of 1-4
//!   seats (seeded), each with its tickets: the state a sold-out date keeps
//!   until the show;
//! - **half held**: half the seats in live holds (the rush's working state).
//!
//! Bytes per seat = (live heap with the schedule − live heap before) ÷ seats.
//! The schedule actor keeps the same `Schedule` (plus its idempotency table
//! and payment contexts, which are bounded by seats in flight); the process
//! also keeps a routing entry per reservation and ticket (`Directory`), not
//! counted here.
//!
//! Run: `cargo bench --bench seat_memory`.

use boxoffice_engine::ids::{PaymentId, ReservationId, ScheduleId, TicketId, UserId};
use boxoffice_engine::layout::SeatLayout;
use boxoffice_engine::schedule::{HoldRequest, Schedule, ScheduleRules, SeatIndex, SeatSelection};
use boxoffice_engine::Timestamp;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

#[path = "support/mod.rs"]
mod support;
use support::id_bytes;

/// Live heap bytes, counted on every allocation and free.
struct Counting;
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// 2026-12-06T00:00:00Z.
const NOW: Timestamp = Timestamp(1_796_515_200_000);
/// The size: 50,000 seats (10 sections × 100 rows × 50).
const SECTIONS: usize = 10;
const ROWS: usize = 100;
const PER_ROW: u32 = 50;
/// The target.
const TARGET_BYTES_PER_SEAT: f64 = 32.0;

fn live() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

fn empty() -> Schedule {
    let layout = SeatLayout::uniform(SECTIONS, ROWS, PER_ROW);
    let rules = ScheduleRules {
        max_seats_per_user: 4,
        ..ScheduleRules::default()
    };
    Schedule::new(ScheduleId::from_random_bytes(id_bytes(3, 1)), layout, rules)
        .expect("valid layout")
}

/// Holds seats in order in reservations of 1-4 (seeded) until `seats` are
/// taken; confirms each when `pay`. Returns how many reservations.
fn fill(schedule: &mut Schedule, seats: u32, pay: bool) -> u64 {
    let mut rng = SmallRng::seed_from_u64(21);
    let (mut next, mut n) = (0u32, 0u64);
    while next < seats {
        let quantity = rng.gen_range(1..=4).min(seats - next);
        let ids = (next..next + quantity)
            .map(|i| schedule.seat_id(SeatIndex(i)))
            .collect();
        n += 1;
        let id = ReservationId::from_random_bytes(id_bytes(2, n));
        schedule
            .hold(
                HoldRequest {
                    reservation_id: id,
                    number: format!("BX-{n:06}"),
                    user: UserId::from_random_bytes(id_bytes(1, n)),
                    selection: SeatSelection::Ids(ids),
                },
                NOW,
            )
            .expect("hold on a free seat");
        if pay {
            let user = UserId::from_random_bytes(id_bytes(1, n));
            let payment = PaymentId::from_random_bytes(id_bytes(4, n));
            schedule
                .begin_payment(id, user, payment, None, NOW)
                .expect("begin");
            let tickets = (0..quantity)
                .map(|k| TicketId::from_random_bytes(id_bytes(5, n * 4 + k as u64)))
                .collect();
            schedule
                .confirm(id, payment, tickets, NOW)
                .expect("confirm");
        }
        next += quantity;
    }
    n
}

fn measure(name: &str, build: impl FnOnce() -> (Schedule, u64)) {
    let before = live();
    let (schedule, reservations) = build();
    let bytes = live() - before;
    let seats = schedule.seat_count();
    let per_seat = bytes as f64 / f64::from(seats);
    println!(
        "| {name} | {seats} | {reservations} | {:.2} MB | **{per_seat:.1}** | {} |",
        bytes as f64 / 1e6,
        if per_seat <= TARGET_BYTES_PER_SEAT {
            "yes"
        } else {
            "no"
        }
    );
    drop(schedule);
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    println!("| state | seats | reservations | live heap | bytes per seat | ≤ {TARGET_BYTES_PER_SEAT} B? |");
    println!("|---|---|---|---|---|---|");
    measure("on sale, empty", || (empty(), 0));
    measure("half held (live holds)", || {
        let mut s = empty();
        let seats = s.seat_count() / 2;
        let n = fill(&mut s, seats, false);
        (s, n)
    });
    measure("sold out (every seat paid, with tickets)", || {
        let mut s = empty();
        let seats = s.seat_count();
        let n = fill(&mut s, seats, true);
        (s, n)
    });
}
