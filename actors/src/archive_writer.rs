//! The archive writer: one thread that writes schedules' archive batches, so
//! that moving ended reservations out of a schedule's state never stalls the
//! schedule's actor (or the other actors on its arbiter thread).
//!
//! A schedule actor renders a batch of ended reservations (see
//! `schedule_actor/archive.rs`) and submits it here with a callback; this
//! thread writes the batch's entries to the store, in order, then calls the
//! callback, which tells the actor to forget those reservations. Forgetting
//! (and the snapshot that follows it) therefore comes strictly after the
//! writes returned, so a flush that makes the snapshot durable makes the
//! entries durable too (a flush makes a prefix of the writes durable).
//!
//! Paced: a batch is written a few reservations per store write, with a
//! pause after each (see [`LONGEST_PAUSE`]), because sled applies a write
//! batch under a lock every other write of the process waits for.
//!
//! Bounded: at most [`ARCHIVE_BATCHES_QUEUED`] batches wait; past it a submit
//! is refused at once and the actor keeps its ended reservations until its
//! next snapshot retries. Each actor has at most one batch in flight. The
//! thread, queue and callback are a [`StoreWriter`] (`store_writer.rs`).
//!
//! Deterministic runs (the seeded simulation, crash-window tests) configure
//! no writer (`EngineConfig::archive_in_background = false`): the actor then
//! writes the batch itself, inline, as before, so a seed replays the same
//! interleaving of writes. Runs that do use the writer and then read the
//! archive as a whole (the simulation's checks) first wait until
//! [`StoreWriter::batches_in_flight`] is zero: a batch landing between two
//! reads (the entries, then a tally) would look like a torn archive.

use std::sync::Arc;

use boxoffice_storage::Store;

use crate::schedule_actor::archive::ArchiveBatch;
use crate::store_writer::{StoreWriter, WriteDone};
use crate::work_times::WorkTimes;

/// Batches waiting for the writer, across all schedules.
pub const ARCHIVE_BATCHES_QUEUED: usize = 64;
/// The longest pause between two store writes of one batch (see
/// [`ArchiveBatch::write_paced`]). A write of
/// [`crate::schedule_actor::archive::RESERVATIONS_PER_WRITE`] reservations
/// took about 3 ms on the 2-core test machine (64 then; 16 now, ~1.3 ms);
/// pausing that long after each
/// gave the best holds/s and longest stall in a storm of expiring holds
/// (BENCHMARKS.md, issue 21), at half the writer's top speed.
pub const LONGEST_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);
/// Name of the writer thread (visible in `top -H` and panics).
pub const ARCHIVE_WRITER_THREAD_NAME: &str = "boxoffice-archiver";

/// The archive writer: a [`StoreWriter`] of archive batches.
pub type ArchiveWriter = StoreWriter<ArchiveBatch>;

/// Told once whether the batch was written.
pub type ArchiveDone = WriteDone<ArchiveBatch>;

/// Starts the archive writer thread over `store`.
pub fn start(store: Arc<dyn Store>, times: Arc<WorkTimes>) -> std::io::Result<Arc<ArchiveWriter>> {
    StoreWriter::start(
        ARCHIVE_WRITER_THREAD_NAME,
        ARCHIVE_BATCHES_QUEUED,
        move |batch: &mut ArchiveBatch| {
            batch.write_paced(store.as_ref(), LONGEST_PAUSE, &times.archive_write)
        },
    )
}
