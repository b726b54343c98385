//! The waiting room's memory per waiting user in the engine (issue 13:
//! 100,000 waiting users under 50 MB, i.e. 500 B each, for the whole server).
//!
//! ```sh
//! cargo test -p boxoffice-engine --test queue_memory -- --nocapture
//! ```
//!
//! A counting allocator (this test binary's own) measures the live heap of
//! the engine's `Queue` with 100,000 users in line, as the queue actor keeps
//! it, and the size of its snapshot; the test fails past the budget below.
//! The harness's `queue-polls` scenario measures the whole process (RSS and
//! live heap); this says what the engine's part of it is. Sizes do not
//! depend on the build profile.

use boxoffice_engine::ids::*;
use boxoffice_engine::queue::{Queue, QueueConfig};
use boxoffice_engine::Timestamp;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// A deterministic id: `kind` in the first byte, `n` in the last eight.
fn id_bytes(kind: u8, n: u64) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[0] = kind;
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    bytes
}

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
const USERS: u64 = 100_000;
/// The issue's target for the whole server.
const TARGET_BYTES_PER_USER: f64 = 500.0;
/// The engine's share that this test enforces (measured 2026-12-07: see
/// the module doc of `queue`); the maps of whole tokens before took ~390.
const ENGINE_BUDGET_BYTES_PER_USER: f64 = 200.0;

fn live() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// The queue-polls scenario's line: one admission a minute, so all wait.
fn config() -> QueueConfig {
    QueueConfig {
        enabled: true,
        batch_size: 1,
        interval_ms: 60_000,
        max_active: 1,
        active_ms: 3_600_000,
        ..QueueConfig::default()
    }
}

fn user(n: u64) -> UserId {
    UserId::from_random_bytes(id_bytes(1, n))
}

fn token(n: u64) -> QueueTokenId {
    QueueTokenId::from_random_bytes(id_bytes(2, n))
}

fn row(name: &str, bytes: isize) -> f64 {
    let per_user = bytes as f64 / USERS as f64;
    println!(
        "| {name} | {:.2} MB | **{per_user:.1}** |",
        bytes as f64 / 1e6
    );
    per_user
}

#[test]
fn a_waiting_user_costs_the_engine_under_its_budget() {
    println!("{USERS} users waiting in one line (target for the whole server: {TARGET_BYTES_PER_USER} B per user)\n");
    println!("| part | live heap | bytes per waiting user |");
    println!("|---|---|---|");
    let before = live();
    let mut queue = Queue::new(config());
    for n in 0..USERS {
        // Joins 10 ms apart, as a burst spread over 1,000 s would.
        let at = NOW.plus_millis(n as i64 * 10);
        let joined = queue.join(user(n), token(n), at).expect("room in line");
        assert!(joined.created);
    }
    let engine = row(
        "engine `Queue` (tokens, lookups, line, poll times)",
        live() - before,
    );
    assert_eq!(queue.waiting_len() as u64, USERS);
    let snapshot = bincode::serde::encode_to_vec(&queue, bincode::config::standard())
        .expect("a queue serializes");
    row(
        "its snapshot, encoded (transient here; stored in sled)",
        snapshot.len() as isize,
    );
    assert!(
        engine <= ENGINE_BUDGET_BYTES_PER_USER,
        "{engine:.1} B per waiting user"
    );
}
