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
//! next snapshot retries. Each actor has at most one batch in flight.
//!
//! Deterministic runs (the seeded simulation, crash-window tests) configure
//! no writer (`EngineConfig::archive_in_background = false`): the actor then
//! writes the batch itself, inline, as before, so a seed replays the same
//! interleaving of writes. Runs that do use the writer and then read the
//! archive as a whole (the simulation's checks) first wait until
//! [`ArchiveWriter::batches_in_flight`] is zero: a batch landing between two
//! reads (the entries, then a tally) would look like a torn archive.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use boxoffice_storage::{Store, StoreError};

use crate::schedule_actor::archive::ArchiveBatch;
use crate::work_times::WorkTimes;

/// Batches waiting for the writer, across all schedules.
pub const ARCHIVE_BATCHES_QUEUED: usize = 64;
/// The longest pause between two store writes of one batch (see
/// [`ArchiveBatch::write_paced`]). A write of
/// [`crate::schedule_actor::archive::RESERVATIONS_PER_WRITE`] reservations
/// took about 3 ms on the 2-core test machine; pausing that long after each
/// gave the best holds/s and longest stall in a storm of expiring holds
/// (BENCHMARKS.md, issue 21), at half the writer's top speed.
pub const LONGEST_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);
/// Name of the writer thread (visible in `top -H` and panics).
pub const ARCHIVE_WRITER_THREAD_NAME: &str = "boxoffice-archiver";

/// Told once whether the batch was written.
pub type ArchiveDone = Box<dyn FnOnce(ArchiveBatch, Result<(), StoreError>) + Send>;

struct Job {
    batch: ArchiveBatch,
    done: ArchiveDone,
}

/// See the module doc.
pub struct ArchiveWriter {
    jobs: Mutex<Option<SyncSender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Batches submitted whose callback has not returned yet.
    in_flight: Arc<AtomicUsize>,
}

impl ArchiveWriter {
    /// Starts the writer thread over `store`.
    pub fn start(
        store: Arc<dyn Store>,
        times: Arc<WorkTimes>,
    ) -> std::io::Result<Arc<ArchiveWriter>> {
        let (jobs, queue) = sync_channel::<Job>(ARCHIVE_BATCHES_QUEUED);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let finished = Arc::clone(&in_flight);
        let thread = std::thread::Builder::new()
            .name(ARCHIVE_WRITER_THREAD_NAME.into())
            .spawn(move || {
                // Ends when every sender is gone (shutdown).
                for job in queue {
                    let written =
                        job.batch
                            .write_paced(store.as_ref(), LONGEST_PAUSE, &times.archive_write);
                    (job.done)(job.batch, written);
                    // After the callback: once this reads zero, the actors'
                    // "forget these" messages are already in their mailboxes.
                    finished.fetch_sub(1, Ordering::AcqRel);
                }
            })?;
        Ok(Arc::new(ArchiveWriter {
            jobs: Mutex::new(Some(jobs)),
            thread: Mutex::new(Some(thread)),
            in_flight,
        }))
    }

    /// Queues `batch`; `done` runs on the writer thread once it is written
    /// (or failed). Gives the batch back, at once, when the queue is full or
    /// the writer has stopped.
    pub fn submit(&self, batch: ArchiveBatch, done: ArchiveDone) -> Result<(), ArchiveBatch> {
        let jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(jobs) = jobs.as_ref() else {
            return Err(batch);
        };
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        match jobs.try_send(Job { batch, done }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => {
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
                Err(job.batch)
            }
        }
    }

    /// Batches queued or being written (their callbacks not yet returned).
    pub fn batches_in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Stops taking batches, lets the thread write the queued ones, and waits
    /// for it. Idempotent.
    pub fn shutdown(&self) {
        drop(
            self.jobs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!("the archive writer thread panicked");
            }
        }
    }
}

impl Drop for ArchiveWriter {
    fn drop(&mut self) {
        self.shutdown();
    }
}
