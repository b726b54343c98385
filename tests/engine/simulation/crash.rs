//! Crash points: where, in the store's stream of writes, the simulated
//! process dies, and how much of its unflushed tail a kill leaves behind.
//!
//! A crash point only makes the store refuse writes (it is "dead"); the
//! process is then stopped (`Registry::shutdown`) and only after that does
//! `MemoryStore::crash_keeping` drop the unflushed tail. Completing the crash
//! under a live group commit would let a later flush acknowledge records the
//! crash had already dropped (MemoryStore's note), which no real disk does.

use boxoffice_actors::idempotency::KEY_STORE_PREFIX;
use boxoffice_storage::MemoryStore;
use rand::rngs::SmallRng;
use rand::Rng;
use std::fmt;

/// Operations an armed crash point may wait for before the process is
/// killed anyway (at a quiet moment), so every planned crash happens.
pub const ARMED_PATIENCE_OPS: usize = 40;

/// Where the store dies. Counts are of the store writes that follow arming.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashPoint {
    /// After the n-th append: between a log append and its flush.
    Appends(u64),
    /// After the n-th write of any kind (append, snapshot, trim).
    Writes(u64),
    /// After the n-th snapshot write, before the trim that follows it.
    Snapshots(u64),
    /// During the n-th trim: it removes only half its records, then dies.
    MidTrim(u64),
    /// Trims left undone, then after the n-th append: the next
    /// [`UNDONE_TRIMS`] trims fail (as trims still queued on the log trimmer
    /// when the process dies, `actors/src/log_trimmer.rs`), so the log keeps
    /// records a later snapshot covers while the actor appends past them.
    TrimsLeft(u64),
    /// After the n-th write to the idempotency key store: one record of a
    /// batch of decided keys moving out of a schedule's table (on the key
    /// writer thread, or inline in deterministic seeds), or the expiry entry
    /// written after a chunk's records (they are plain inserts, not one
    /// atomic batch), before the table forgets them and before the snapshot
    /// that lacks them; or a wallet's, at its snapshot.
    KeyWrites(u64),
    /// Now, between two operations.
    Now,
}

impl CrashPoint {
    pub fn arm(self, store: &MemoryStore) {
        match self {
            CrashPoint::Appends(n) => store.crash_after_appends(n),
            CrashPoint::Writes(n) => store.crash_after_writes(n),
            CrashPoint::Snapshots(n) => store.crash_after_snapshots(n),
            CrashPoint::MidTrim(n) => store.crash_mid_trim(n),
            CrashPoint::TrimsLeft(n) => {
                store.fail_trims(UNDONE_TRIMS);
                store.crash_after_appends(n);
            }
            CrashPoint::KeyWrites(n) => store.crash_after_meta_writes_under(KEY_STORE_PREFIX, n),
            CrashPoint::Now => store.crash_after_appends(0),
        }
    }

    /// Index into [`CRASH_POINT_NAMES`], for the run's statistics.
    pub fn kind(self) -> usize {
        match self {
            CrashPoint::Appends(_) => 0,
            CrashPoint::Writes(_) => 1,
            CrashPoint::Snapshots(_) => 2,
            CrashPoint::MidTrim(_) => 3,
            CrashPoint::Now => 4,
            CrashPoint::KeyWrites(_) => 5,
            CrashPoint::TrimsLeft(_) => 6,
        }
    }
}

/// Trims a [`CrashPoint::TrimsLeft`] leaves undone.
pub const UNDONE_TRIMS: u32 = 2;

pub const CRASH_POINT_NAMES: [&str; 7] = [
    "after an append",
    "after any write",
    "after a snapshot",
    "mid-trim",
    "between operations",
    "after a key-store write",
    "with trims left undone",
];

impl fmt::Display for CrashPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrashPoint::Appends(n) => write!(f, "crash after {n} appends"),
            CrashPoint::Writes(n) => write!(f, "crash after {n} writes"),
            CrashPoint::Snapshots(n) => write!(f, "crash after {n} snapshots"),
            CrashPoint::MidTrim(n) => write!(f, "crash during trim {n}"),
            CrashPoint::KeyWrites(n) => write!(f, "crash after {n} key-store writes"),
            CrashPoint::TrimsLeft(n) => write!(f, "crash after {n} appends, trims left undone"),
            CrashPoint::Now => write!(f, "crash now"),
        }
    }
}

/// What to arm at a planned crash moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashPlan {
    /// Arm this now; the workload goes on until the store dies.
    Point(CrashPoint),
    /// Arm this right before the next payment, to land between its saga
    /// steps: a payment appends begin, then debit, then finish, and waits
    /// for one flush, after the finish (`actors/src/payment.rs`).
    DuringPayment(CrashPoint),
}

pub fn choose_plan(rng: &mut SmallRng) -> CrashPlan {
    match rng.gen_range(0..15) {
        0..=2 => CrashPlan::Point(CrashPoint::Appends(rng.gen_range(1..=4))),
        3..=5 => CrashPlan::Point(CrashPoint::Writes(rng.gen_range(1..=10))),
        6..=7 => CrashPlan::Point(CrashPoint::Snapshots(rng.gen_range(1..=2))),
        8..=9 => CrashPlan::Point(CrashPoint::MidTrim(rng.gen_range(1..=2))),
        10..=11 => CrashPlan::Point(CrashPoint::KeyWrites(rng.gen_range(1..=6))),
        // Enough appends for a snapshot (or two) whose trim is left undone.
        12 => CrashPlan::Point(CrashPoint::TrimsLeft(rng.gen_range(4..=30))),
        // The n-th append of the saga is the last: the store dies after it,
        // before any flush, so none of the saga's appends is durable yet.
        // What survives is up to the kill (see `choose_kept`), always a
        // prefix: nothing; the begin alone (recovery must abort); begin and
        // debit (recovery must confirm); all three. Never a debit without
        // its begin: the one-flush saga rests on that.
        _ => CrashPlan::DuringPayment(CrashPoint::Appends(rng.gen_range(1..=3))),
    }
}

/// How many of the `pending` unflushed appends survive the kill (with the
/// writes between them): none (the usual kill -9 model), all (the OS had
/// written everything), or a prefix (a background flush was part way).
/// Counted in appends because snapshots and trims change no state, and when
/// they land relative to the flusher is thread timing.
pub fn choose_kept(rng: &mut SmallRng, pending: usize) -> usize {
    match rng.gen_range(0..4) {
        0 | 1 => 0,
        2 => pending,
        _ => rng.gen_range(0..=pending),
    }
}
