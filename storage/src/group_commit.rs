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
//! A flush that hangs is fail-stop too. sled's flush was seen to block for
//! ever when the process ran out of file descriptors, and every write then
//! waited behind it without an answer. A watchdog thread
//! ("boxoffice-flush-watchdog") therefore watches the flush in flight: one
//! that has not returned after the flush timeout ([`DEFAULT_FLUSH_TIMEOUT`],
//! or the one given to [`GroupCommit::start_with_flush_timeout`]; noticed
//! within a quarter of the timeout more) poisons the
//! group commit exactly as a failed flush does: the callbacks it covered get
//! a [`StoreError::Io`] saying the flush hung, the others `Poisoned`, later
//! appends `Poisoned`, and [`GroupCommit::health`] reports the cause. The
//! hung flush cannot be interrupted; if it ever returns, its result is
//! ignored (the decision to fail was already given to the callers), and
//! `shutdown` does not wait for it.
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
use std::time::{Duration, Instant};

use crate::{Lsn, Store, StoreError};

/// Called once with the outcome of the flush covering a record (or a point).
pub type DurableCallback = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// [`DurableCallback`] of a pair append, also given the pair's two lsns.
pub type PairCallback = Box<dyn FnOnce((Lsn, Lsn), Result<(), StoreError>) + Send>;

/// Name of the flusher thread (visible in `top -H`, debuggers and panics).
pub const FLUSHER_THREAD_NAME: &str = "boxoffice-flusher";
/// Name of the thread that poisons the group commit when a flush hangs.
pub const WATCHDOG_THREAD_NAME: &str = "boxoffice-flush-watchdog";
/// Longest a flush may take before the group commit gives up on it. A
/// healthy flush takes well under a second even for large snapshots; 30 s is
/// far above that and still short enough that clients get an error, not an
/// endless wait.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times per flush timeout the watchdog looks at the flush in flight.
const WATCHDOG_TICKS_PER_TIMEOUT: u32 = 4;

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
    /// Wall time of every `Store::flush` call so far, and of the longest:
    /// what a durable change waits for, and the first suspect of a stall.
    pub flush_us_total: u64,
    pub longest_flush_us: u64,
}

/// Shares flushes among all appenders; see the module doc.
pub struct GroupCommit {
    shared: Arc<Shared>,
    flusher: Mutex<Option<JoinHandle<()>>>,
    watchdog: Mutex<Option<JoinHandle<()>>>,
    flusher_id: ThreadId,
}

struct Shared {
    store: Arc<dyn Store>,
    state: Mutex<State>,
    /// Wakes the flusher (new waiters, shutdown).
    wake: Condvar,
    /// Wakes the watchdog and `shutdown` (the flusher exited, the group
    /// commit was poisoned, shutdown began).
    watch: Condvar,
    flush_timeout: Duration,
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
    /// Why the group commit is poisoned (the first failure), for `health`.
    poison_cause: Option<StoreError>,
    /// The flush in flight: when it started and the `target` it covers.
    flush_in_flight: Option<(Instant, u64)>,
    /// The watchdog gave up on a flush that never returned: `shutdown`
    /// must not wait for the flusher thread.
    flush_hung: bool,
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
    /// Starts the group commit over `store` with [`DEFAULT_FLUSH_TIMEOUT`],
    /// spawning the flusher thread and its watchdog.
    pub fn start(store: Arc<dyn Store>) -> Arc<GroupCommit> {
        GroupCommit::start_with_flush_timeout(store, DEFAULT_FLUSH_TIMEOUT)
    }

    /// Starts the group commit over `store`; a flush that has not returned
    /// after `flush_timeout` (> 0) poisons it (see the module doc).
    pub fn start_with_flush_timeout(
        store: Arc<dyn Store>,
        flush_timeout: Duration,
    ) -> Arc<GroupCommit> {
        assert!(!flush_timeout.is_zero(), "the flush timeout must be > 0");
        let shared = Arc::new(Shared {
            store,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            watch: Condvar::new(),
            flush_timeout,
        });
        let for_thread = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name(FLUSHER_THREAD_NAME.to_owned())
            .spawn(move || run_flusher(&for_thread))
            .expect("the OS refused to start the flusher thread; nothing can be made durable");
        let flusher_id = handle.thread().id();
        let for_watchdog = Arc::clone(&shared);
        let watchdog = std::thread::Builder::new()
            .name(WATCHDOG_THREAD_NAME.to_owned())
            .spawn(move || run_watchdog(&for_watchdog))
            .expect("the OS refused to start the flush watchdog thread");
        Arc::new(GroupCommit {
            shared,
            flusher: Mutex::new(Some(handle)),
            watchdog: Mutex::new(Some(watchdog)),
            flusher_id,
        })
    }

    /// Ok while writes can still become durable; once poisoned (a failed or
    /// hung flush), the error that poisoned it. For health endpoints.
    pub fn health(&self) -> Result<(), StoreError> {
        let state = self.shared.lock();
        match (&state.poison_cause, state.poisoned) {
            (Some(cause), _) => Err(cause.clone()),
            (None, true) => Err(StoreError::Poisoned),
            (None, false) => Ok(()),
        }
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
        self.append_awaited_by(log, record, Some(on_durable))
    }

    /// Appends one record that nobody waits for: it is counted like any
    /// other, and the next flush anyone waits for covers it, but it asks for
    /// no flush of its own. (An actor whose batch carries no reply, or only
    /// replies released at append, would otherwise start a flush that the
    /// reply waiting on its next record then has to queue behind.)
    pub fn append_unawaited(&self, log: &str, record: &[u8]) -> Result<Lsn, StoreError> {
        self.append_awaited_by(log, record, None)
    }

    fn append_awaited_by(
        &self,
        log: &str,
        record: &[u8],
        on_durable: Option<DurableCallback>,
    ) -> Result<Lsn, StoreError> {
        self.append_with(|store| store.append(log, record), |_| on_durable)
    }

    /// Appends a pair of records as one write ([`Store::append_pair`]),
    /// counted as one append, and registers `on_durable`, given both lsns:
    /// called exactly once on the flusher thread, like [`Self::append`]'s.
    /// (The callback learns the lsns that only the store assigns: a reader
    /// served "up to the durable lsn" is told it by this callback.)
    pub fn append_pair(
        &self,
        first: (&str, &[u8]),
        second: (&str, &[u8]),
        on_durable: PairCallback,
    ) -> Result<(Lsn, Lsn), StoreError> {
        self.append_with(
            |store| store.append_pair(first, second),
            move |&lsns| {
                let callback: DurableCallback = Box::new(move |result| on_durable(lsns, result));
                Some(callback)
            },
        )
    }

    /// One append through `write`, counted in the sequence clock, with the
    /// callback `awaited` makes from its result (none: nobody waits).
    fn append_with<T>(
        &self,
        write: impl FnOnce(&dyn Store) -> Result<T, StoreError>,
        awaited: impl FnOnce(&T) -> Option<DurableCallback>,
    ) -> Result<T, StoreError> {
        {
            let state = self.shared.lock();
            if state.poisoned {
                return Err(StoreError::Poisoned);
            }
            if state.stopping {
                return Err(shut_down_error());
            }
        }
        let written = write(self.shared.store.as_ref())?;
        let on_durable = awaited(&written);
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
        if let Some(on_durable) = on_durable {
            state.waiters.push_back((seq, on_durable));
            self.wake_flusher(state);
        }
        Ok(written)
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
        self.shared.watch.notify_all();
        if std::thread::current().id() == self.flusher_id {
            return;
        }
        // Wait for the flusher to leave its loop, unless its flush hung: that
        // thread may never return, and nothing it does matters any more.
        let mut state = self.shared.lock();
        while !state.exited && !state.flush_hung {
            state = self
                .shared
                .watch
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let hung = state.flush_hung;
        drop(state);
        let flusher = self
            .flusher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if hung {
            tracing::error!("shutting down with a flush that never returned; not waiting for it");
        } else if let Some(handle) = flusher {
            if handle.join().is_err() {
                tracing::error!("the flusher thread panicked");
            }
        }
        let watchdog = self
            .watchdog
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = watchdog {
            if handle.join().is_err() {
                tracing::error!("the flush watchdog thread panicked");
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
            drop(state);
            shared.watch.notify_all();
            return;
        }
        debug_assert!(!state.poisoned, "a poisoned group commit has no waiters");
        let target = state.appended;
        // The watchdog polls (see `run_watchdog`): no wake-up per flush.
        let started = Instant::now();
        state.flush_in_flight = Some((started, target));
        drop(state);

        let result = catch_unwind(AssertUnwindSafe(|| shared.store.flush()))
            .unwrap_or_else(|_| Err(StoreError::Io("flush panicked".to_owned())));
        let flush_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);

        state = shared.lock();
        state.flush_in_flight = None;
        state.stats.flushes += 1;
        state.stats.flush_us_total = state.stats.flush_us_total.saturating_add(flush_us);
        state.stats.longest_flush_us = state.stats.longest_flush_us.max(flush_us);
        let mut done: Vec<(DurableCallback, Result<(), StoreError>)> = Vec::new();
        match result {
            // The watchdog gave up on this flush and already answered every
            // waiter; a late result changes nothing (fail-stop).
            _ if state.flush_hung => {
                tracing::error!("a flush the watchdog gave up on returned after all");
            }
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
                done = poison(&mut state, target, &error);
                shared.watch.notify_all();
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

/// Marks the group commit poisoned by `error` and takes every waiter with
/// its outcome: `error` for those the failed flush covered (up to
/// `target`), `Poisoned` for the rest.
fn poison(
    state: &mut State,
    target: u64,
    error: &StoreError,
) -> Vec<(DurableCallback, Result<(), StoreError>)> {
    state.poisoned = true;
    state.poison_cause.get_or_insert_with(|| error.clone());
    state
        .waiters
        .drain(..)
        .map(|(seq, callback)| {
            let outcome = if seq <= target {
                Err(error.clone())
            } else {
                Err(StoreError::Poisoned)
            };
            (callback, outcome)
        })
        .collect()
}

/// The watchdog thread's loop: wakes every quarter of the flush timeout
/// and poisons the group commit if the flush in flight then started more
/// than the timeout ago, so a hung flush is given up after 1 to 1.25 times
/// the timeout. It polls rather than being woken at each flush start: a
/// wake-up per flush would cost a context switch on the hot path.
/// Leaves when the flusher has exited or the group commit is poisoned.
fn run_watchdog(shared: &Shared) {
    let tick = (shared.flush_timeout / WATCHDOG_TICKS_PER_TIMEOUT).max(Duration::from_millis(1));
    let mut state = shared.lock();
    loop {
        if state.exited || state.poisoned {
            return;
        }
        let hung = state
            .flush_in_flight
            .filter(|(started, _)| started.elapsed() >= shared.flush_timeout);
        let Some((_, target)) = hung else {
            state = shared
                .watch
                .wait_timeout(state, tick)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            continue;
        };
        let error = StoreError::Io(format!(
            "a flush did not return within {} s (is the disk stuck, or are the process's \
             file descriptors exhausted?); storage is poisoned, restart to recover",
            shared.flush_timeout.as_secs_f64()
        ));
        tracing::error!(%error, "flush hung; poisoning the group commit");
        state.flush_hung = true;
        let done = poison(&mut state, target, &error);
        state.stats.callbacks += done.len() as u64;
        drop(state);
        shared.watch.notify_all();
        for (callback, result) in done {
            complete(callback, result);
        }
        return;
    }
}

/// Runs one callback, containing a panic so it cannot stall the others.
fn complete(callback: DurableCallback, result: Result<(), StoreError>) {
    if catch_unwind(AssertUnwindSafe(move || callback(result))).is_err() {
        tracing::error!("a durability callback panicked");
    }
}
