//! A background store writer: one thread that writes batches an actor hands
//! it, then calls the actor back, so that the actor's thread never waits for
//! the store's write lock. The archive writer (ended reservations,
//! `archive_writer.rs`), the key writer (decided idempotency keys,
//! `idempotency/key_writer.rs`) and the log trimmer (`log_trimmer.rs`) are
//! three of these, each with its own thread and queue, so none waits behind
//! another's batches.
//!
//! The contract both rely on: the callback runs after the batch's writes
//! returned, and the actor forgets what the batch holds only in that
//! callback. Whatever the actor writes after forgetting (its next snapshot,
//! which then lacks those items) therefore comes after the batch's writes in
//! the store's order, and a flush makes a prefix of the writes durable: a
//! snapshot that lacks an item is never durable without the item.
//!
//! Bounded: at most `queued` batches wait; past it a submit is refused at
//! once and the actor keeps its items until it offers them again. Runs that
//! read the store as a whole (the simulation's checks) first wait until
//! [`StoreWriter::batches_in_flight`] is zero.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use boxoffice_storage::StoreError;

use crate::work_times::Timings;

/// Told once whether the batch was written (with the batch, as written).
pub type WriteDone<B> = Box<dyn FnOnce(B, Result<(), StoreError>) + Send>;

struct Job<B> {
    batch: B,
    done: WriteDone<B>,
}

/// See the module doc.
pub struct StoreWriter<B> {
    jobs: Mutex<Option<SyncSender<Job<B>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Batches submitted whose callback has not returned yet.
    in_flight: Arc<AtomicUsize>,
}

impl<B: Send + 'static> StoreWriter<B> {
    /// Starts the thread `name`, which writes each batch with `write` (which
    /// may change the batch, e.g. to drop what it could not write) and then
    /// calls the batch's callback.
    pub fn start(
        name: &str,
        queued: usize,
        mut write: impl FnMut(&mut B) -> Result<(), StoreError> + Send + 'static,
    ) -> std::io::Result<Arc<StoreWriter<B>>> {
        let (jobs, queue) = sync_channel::<Job<B>>(queued);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let finished = Arc::clone(&in_flight);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                // Ends when every sender is gone (shutdown).
                for mut job in queue {
                    let written = write(&mut job.batch);
                    (job.done)(job.batch, written);
                    // After the callback: once this reads zero, the actors'
                    // "forget these" messages are already in their mailboxes.
                    finished.fetch_sub(1, Ordering::AcqRel);
                }
            })?;
        Ok(Arc::new(StoreWriter {
            jobs: Mutex::new(Some(jobs)),
            thread: Mutex::new(Some(thread)),
            in_flight,
        }))
    }

    /// Queues `batch`; `done` runs on the writer thread once it is written
    /// (or failed). Gives the batch back, at once, when the queue is full or
    /// the writer has stopped.
    pub fn submit(&self, batch: B, done: WriteDone<B>) -> Result<(), B> {
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
}

impl<B> StoreWriter<B> {
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
                tracing::error!("a background store writer thread panicked");
            }
        }
    }
}

impl<B> Drop for StoreWriter<B> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Runs `writes` steps one after another, each of which makes one store
/// write and returns how long that write took; times each write into
/// `timings` and pauses after each step but the last for as long as its
/// write took, up to `longest_pause` (zero: no pause). A background writer
/// then holds the store's write lock (sled's is global) at most about half
/// the time, and the appends the actors' requests wait for get it in
/// between: without a pause the next write took the lock back before they ran.
pub fn write_paced(
    writes: usize,
    longest_pause: Duration,
    timings: &Timings,
    mut write: impl FnMut(usize) -> Result<Duration, StoreError>,
) -> Result<(), StoreError> {
    for n in 0..writes {
        let took = write(n)?;
        timings.record(took);
        if !longest_pause.is_zero() && n + 1 < writes {
            std::thread::sleep(took.min(longest_pause));
        }
    }
    Ok(())
}

/// Runs one store write and says how long it took (for [`write_paced`]).
pub fn timed(write: impl FnOnce() -> Result<(), StoreError>) -> Result<Duration, StoreError> {
    let started = std::time::Instant::now();
    write()?;
    Ok(started.elapsed())
}
