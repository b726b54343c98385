//! The key writer: one thread that moves schedules' decided idempotency keys
//! to the [`KeyStore`](super::KeyStore), so that neither the moving nor the
//! keys themselves weigh on a schedule actor's thread and snapshots.
//!
//! Why: every HTTP request is keyed, so a schedule in an on-sale decides tens
//! of thousands of keys a second. Moved at snapshot time on the actor's
//! thread, ~200,000 of them took 3.9-6.3 s to write and then made the
//! snapshot after it 1.9-2.8 s long, and the schedule's holds waited for both
//! (BENCHMARKS.md, issue 21).
//!
//! How: after each commit, at most every [`KEY_OFFER_EVERY_MS`] and with no
//! batch of its own in flight, a schedule actor copies the decided records of
//! its table older than [`ARCHIVE_AFTER_MS`](super::ARCHIVE_AFTER_MS) (and
//! not offered before) into a [`KeyBatch`] and submits it here. This thread
//! writes them ([`KEYS_PER_WRITE`] per paced step, as plain inserts, paced
//! as the archive writer is) and forgets them in the shared index's memory, then calls the
//! actor back (the [`StoreWriter`] contract); the actor's table forgets them
//! at its next snapshot, so the table is always what its snapshot and log
//! recover. A snapshot then holds about `ARCHIVE_AFTER_MS` +
//! `KEY_OFFER_EVERY_MS` + one batch's writing of keys, not every key since
//! the one before.
//!
//! The invariant (a key acknowledged to a client is always found again,
//! across a crash at any point): the key's record is logged with its effect
//! and acknowledged once a flush covers that log record. From then on it is
//! in the actor's table (its snapshot + log) until a snapshot after the
//! callback forgets it; it is written here before the callback, so the
//! store's order is: log record, key-store entry, snapshot lacking the key,
//! trim of the log record. A flush makes a prefix of that durable, and every
//! prefix keeps the key in the log, the snapshot or the key store. A crash
//! before that snapshot leaves the key in the table as well: it is offered
//! (and written, the same entry) again. Memory (the index) forgets it only
//! after it is written here, and a lookup that misses memory reads the key
//! store.
//!
//! Deterministic runs (no background writers, `EngineConfig::archive_in_background`
//! off) write the batch on the actor's thread at the same moments, so a seed
//! replays the same writes.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use boxoffice_engine::Timestamp;

use super::{IdemKey, IdemRecord, IdempotencyIndex, KeyPacing};
use crate::store_writer::{StoreWriter, WriteDone};
use crate::work_times::WorkTimes;

/// How often (by the engine clock) a schedule offers its due keys at most.
pub const KEY_OFFER_EVERY_MS: i64 = 250;
/// Keys per paced step (their records inserted one by one, then their
/// expiry entry: no store batch, see `KeyStore::write_chunk`): about 2 ms on
/// the 2-core test machine, after which the writer pauses as long, so it
/// takes at most about half a core and the actors' appends and flushes run
/// in between.
pub const KEYS_PER_WRITE: usize = 128;
/// The longest pause after a store write of a batch (see
/// [`crate::store_writer::write_paced`]).
pub const LONGEST_PAUSE: Duration = Duration::from_millis(5);
/// Batches waiting for the writer, across all schedules (each schedule has
/// at most one in flight).
pub const KEY_BATCHES_QUEUED: usize = 64;
/// Name of the writer thread (visible in `top -H` and panics).
pub const KEY_WRITER_THREAD_NAME: &str = "boxoffice-keys";

/// Decided records of one schedule to move to the key store. Once written,
/// `records` holds only those the store took (a reply too large for it
/// stays with its actor).
#[derive(Debug)]
pub struct KeyBatch {
    pub records: Vec<IdemRecord>,
    /// When the batch was made (by the engine clock): the store prunes
    /// expired keys against it.
    pub now: Timestamp,
}

/// The key writer: a [`StoreWriter`] of key batches.
pub type KeyWriter = StoreWriter<KeyBatch>;

/// Told once whether the batch was written.
pub type KeysDone = WriteDone<KeyBatch>;

/// The pacing of the key writer's store writes.
pub const PACED: KeyPacing = KeyPacing {
    keys_per_write: KEYS_PER_WRITE,
    longest_pause: LONGEST_PAUSE,
};

/// Starts the key writer thread, writing through `index`'s key store.
pub fn start(
    index: Arc<IdempotencyIndex>,
    times: Arc<WorkTimes>,
) -> std::io::Result<Arc<KeyWriter>> {
    StoreWriter::start(
        KEY_WRITER_THREAD_NAME,
        KEY_BATCHES_QUEUED,
        move |batch: &mut KeyBatch| {
            let written = index.archive(&batch.records, batch.now, PACED, &times.key_archive)?;
            if written.len() < batch.records.len() {
                // Rare (a reply too large for the store): keep only what was written.
                let kept: HashSet<IdemKey> = written.iter().map(|r| r.key.clone()).collect();
                batch.records.retain(|r| kept.contains(&r.key));
            }
            Ok(())
        },
    )
}
