//! The waiting room's memory per waiting user, part by part (issue 13:
//! 100,000 waiting users under 50 MB, i.e. 500 B each, for the whole server).
//!
//! ```sh
//! cargo bench --bench queue_memory
//! ```
//!
//! A counting allocator measures the live heap of the engine's `Queue` with
//! 100,000 users in line (as the queue actor keeps it), of the board polls
//! read (`QueueBoard`), and the size of the queue's snapshot. The harness's
//! `queue-polls` scenario measures the whole process (RSS and live heap);
//! this says which structure the bytes are in.

use boxoffice_actors::queue_board::{place_tag, QueueBoard, SlotChange};
use boxoffice_engine::ids::*;
use boxoffice_engine::queue::{Queue, QueueConfig};
use boxoffice_engine::Timestamp;
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
const USERS: u64 = 100_000;
/// The issue's target for the whole server.
const TARGET_BYTES_PER_USER: f64 = 500.0;

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

fn row(name: &str, bytes: isize) {
    let per_user = bytes as f64 / USERS as f64;
    println!(
        "| {name} | {:.2} MB | **{per_user:.1}** |",
        bytes as f64 / 1e6
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
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
    row(
        "engine `Queue` (tokens, user index, line, poll times)",
        live() - before,
    );
    assert_eq!(queue.waiting_len() as u64, USERS);

    let before = live();
    let board = QueueBoard::new();
    let changes: Vec<SlotChange> = (0..USERS)
        .map(|n| SlotChange::Waiting {
            seq: n,
            at: NOW,
            tag: place_tag(token(n), user(n)),
        })
        .collect();
    board.apply(&changes);
    drop(changes);
    row("the board polls read (`QueueBoard`)", live() - before);

    let snapshot = boxoffice_storage::codec::encode(&queue).expect("a queue serializes");
    row(
        "its snapshot, serialized (transient; in sled)",
        snapshot.len() as isize,
    );
}
