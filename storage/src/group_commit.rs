//! Group commit: many actors share one flush.
//!
//! An actor appends a record and registers a callback that answers its callers
//! once the record is durable; it never waits for storage itself. One
//! dedicated OS thread ("boxoffice-flusher") loops: sleep until some callback
//! waits on records not yet flushed, note how many records have been appended
//! (`target`), call [`Store::flush`] with no lock held, then complete every
//! callback registered at or below `target`. While one flush runs, new appends
//! accumulate and share the next one: batching comes only from flush latency,
//! there is no timer gathering a batch. With a flush costing ~0.3 ms, each
//! flush covers whatever arrived during the previous one.
//!
//! Sequencing: `appended` counts appends that have returned from
//! `Store::append`, bumped only after the append returns, and each callback is
//! keyed by the count at its registration. A flush that starts after reading
//! `target = appended` therefore covers every record counted in `target`.
//!
//! Failure is fail-stop: if a flush fails (or panics), the callbacks it
//! covered get that error, every other waiting callback gets
//! [`StoreError::Poisoned`], and every later `append` returns `Poisoned`
//! (memory may now be ahead of disk; the process must restart and recover).
//! An `Err` from `append` means "not acknowledged", not "not written": the
//! record may still become durable, as with any failed write.
//!
//! Callbacks run on the flusher thread, never under a lock; they must be
//! short (send on a channel) and must not call back into this `GroupCommit`
//! (it would not deadlock, but it would delay every other waiter). A panic in
//! a callback is caught and logged so one bad callback cannot stall the rest.
//!
//! Limits: callbacks waiting for one flush are unbounded in number (each
//! costs one boxed closure plus 8 bytes); the actors bound them through their
//! own requests-in-flight limit, which is where back-pressure belongs.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{JoinHandle, ThreadId};

use crate::{Lsn, Store, StoreError};

/// Called once with the outcome of the flush covering a record (or a point).
pub type DurableCallback = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// Name of the flusher thread (visible in `top -H`, debuggers and panics).
pub const FLUSHER_THREAD_NAME: &str = "boxoffice-flusher";

/// Counters of a [`GroupCommit`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushStats {
    /// Calls to `Store::flush` made by the flusher thread (failed ones included).
    pub flushes: u64,
    /// Records appended through this group commit.
    pub records: u64,
    /// Callbacks completed (Ok or Err), including ones completed at once.
    pub callbacks: u64,
    /// Records covered by the last successful flush.
    pub last_batch_records: u64,
    /// Most records covered by one flush so far.
    pub max_batch_records: u64,
}

/// Shares flushes among all appenders; see the module doc.
pub struct GroupCommit {
    shared: Arc<Shared>,
    flusher: Mutex<Option<JoinHandle<()>>>,
    flusher_id: ThreadId,
}

struct Shared {
    store: Arc<dyn Store>,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    /// Appends that have returned from `Store::append` (the sequence clock).
    appended: u64,
    /// Every append counted up to here is durable.
    flushed: u64,
    /// Callbacks keyed by `appended` at registration; keys never decrease.
    waiters: VecDeque<(u64, DurableCallback)>,
    poisoned: bool,
    stopping: bool,
    /// The flusher thread has left its loop; nothing will be flushed any more.
    exited: bool,
    /// The flusher is (about to be) waiting on the condvar and needs a notify.
    flusher_idle: bool,
    stats: FlushStats,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn shut_down_error() -> StoreError {
    StoreError::Io("group commit is shut down".to_owned())
}

impl GroupCommit {
    /// Starts the group commit over `store`, spawning the one flusher thread.
    pub fn start(store: Arc<dyn Store>) -> Arc<GroupCommit> {
        let shared = Arc::new(Shared {
            store,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let for_thread = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name(FLUSHER_THREAD_NAME.to_owned())
            .spawn(move || run_flusher(&for_thread))
            .expect("the OS refused to start the flusher thread; nothing can be made durable");
        let flusher_id = handle.thread().id();
        Arc::new(GroupCommit {
            shared,
            flusher: Mutex::new(Some(handle)),
            flusher_id,
        })
    }

    /// Appends one record to `log` (synchronously, via `Store::append`) and
    /// registers `on_durable`, called exactly once on the flusher thread: with
    /// Ok after a flush covering this record, or Err if that flush failed.
    /// If the append itself fails (or the group commit is poisoned or shut
    /// down), this returns Err and `on_durable` is dropped without being called.
    pub fn append(
        &self,
        log: &str,
        record: &[u8],
        on_durable: DurableCallback,
    ) -> Result<Lsn, StoreError> {
        {
            let state = self.shared.lock();
            if state.poisoned {
                return Err(StoreError::Poisoned);
            }
            if state.stopping {
                return Err(shut_down_error());
            }
        }
        let lsn = self.shared.store.append(log, record)?;
        let mut state = self.shared.lock();
        if state.poisoned {
            return Err(StoreError::Poisoned);
        }
        if state.exited {
            return Err(shut_down_error());
        }
        state.appended += 1;
        let seq = state.appended;
        state.stats.records += 1;
        state.waiters.push_back((seq, on_durable));
        self.wake_flusher(state);
        Ok(lsn)
    }

    /// Registers `on_durable` for "everything appended so far is durable",
    /// without appending. If that is already true (or the group commit is
    /// poisoned or shut down) it is called at once on the caller's thread;
    /// otherwise on the flusher thread after the flush in flight or the next.
    pub fn after_pending(&self, on_durable: DurableCallback) {
        let mut state = self.shared.lock();
        let immediate = if state.poisoned {
            Some(Err(StoreError::Poisoned))
        } else if state.appended == state.flushed {
            Some(Ok(()))
        } else if state.exited {
            Some(Err(shut_down_error()))
        } else {
            None
        };
        match immediate {
            Some(result) => {
                state.stats.callbacks += 1;
                drop(state);
                complete(on_durable, result);
            }
            None => {
                let seq = state.appended;
                state.waiters.push_back((seq, on_durable));
                self.wake_flusher(state);
            }
        }
    }

    fn wake_flusher(&self, mut state: MutexGuard<'_, State>) {
        let idle = std::mem::replace(&mut state.flusher_idle, false);
        drop(state);
        if idle {
            self.shared.wake.notify_one();
        }
    }

    /// Current counters.
    pub fn stats(&self) -> FlushStats {
        self.shared.lock().stats
    }

    /// The store behind this group commit (for snapshots, trims and reads).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// Flushes whatever is pending, completes every registered callback and
    /// stops the flusher thread. Idempotent; also done on Drop. Later appends
    /// fail. Called from a callback (the flusher thread), it only asks the
    /// thread to stop once its queue is empty.
    pub fn shutdown(&self) {
        self.shared.lock().stopping = true;
        self.shared.wake.notify_all();
        if std::thread::current().id() == self.flusher_id {
            return;
        }
        let handle = self
            .flusher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            if handle.join().is_err() {
                tracing::error!("the flusher thread panicked");
            }
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// The flusher thread's loop (see the module doc).
fn run_flusher(shared: &Shared) {
    let mut state = shared.lock();
    loop {
        while state.waiters.is_empty() && !state.stopping {
            state.flusher_idle = true;
            state = shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.flusher_idle = false;
        if state.waiters.is_empty() {
            state.exited = true;
            return;
        }
        debug_assert!(!state.poisoned, "a poisoned group commit has no waiters");
        let target = state.appended;
        drop(state);

        let result = catch_unwind(AssertUnwindSafe(|| shared.store.flush()))
            .unwrap_or_else(|_| Err(StoreError::Io("flush panicked".to_owned())));

        state = shared.lock();
        state.stats.flushes += 1;
        let mut done: Vec<(DurableCallback, Result<(), StoreError>)> = Vec::new();
        match result {
            Ok(()) => {
                let batch = target - state.flushed;
                state.flushed = target;
                state.stats.last_batch_records = batch;
                state.stats.max_batch_records = state.stats.max_batch_records.max(batch);
                while state.waiters.front().is_some_and(|(seq, _)| *seq <= target) {
                    let (_, callback) = state.waiters.pop_front().expect("front exists");
                    done.push((callback, Ok(())));
                }
                debug_assert!(state.waiters.iter().all(|(seq, _)| *seq > state.flushed));
            }
            Err(error) => {
                tracing::error!(%error, "group commit flush failed; poisoning");
                state.poisoned = true;
                for (seq, callback) in state.waiters.drain(..) {
                    let outcome = if seq <= target {
                        Err(error.clone())
                    } else {
                        Err(StoreError::Poisoned)
                    };
                    done.push((callback, outcome));
                }
            }
        }
        state.stats.callbacks += done.len() as u64;
        drop(state);
        for (callback, result) in done {
            complete(callback, result);
        }
        state = shared.lock();
    }
}

/// Runs one callback, containing a panic so it cannot stall the others.
fn complete(callback: DurableCallback, result: Result<(), StoreError>) {
    if catch_unwind(AssertUnwindSafe(move || callback(result))).is_err() {
        tracing::error!("a durability callback panicked");
    }
}
