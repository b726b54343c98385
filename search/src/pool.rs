//! The query threads: where searches and autocompletes run, at most one per
//! core at a time, first come first served.
//!
//! A query is a millisecond or two of CPU with no I/O to wait for (the
//! index is memory-mapped and small). Run on the HTTP workers, a query
//! holds up every other request of its worker; run on as many threads as
//! there are callers, 64 callers on 2 cores thrash: the scheduler preempts
//! queries half-way and the unlucky ones wait for dozens of others (the
//! issue-16 bench's 64-caller p99 was 328 ms for a 0.7 ms search, 1.6 s
//! for autocomplete). Here callers queue in one FIFO channel and
//! [`query_threads`] threads take them in order, so each waits its turn
//! once and the workers stay free meanwhile.
//!
//! The queue is bounded ([`MAX_QUERIES_QUEUED`]): past it a query is
//! refused as busy (503, like an index being built) rather than queued for
//! ever. The HTTP door's in-flight bound (1,024 by default) is below it, so
//! a default server never gets there.
//!
//! The threads hold only the channel's receiving end, so they end once the
//! last [`QueryPool`] handle (the [`crate::SearchIndex`]) is dropped.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

use crate::SearchError;

/// Most query threads, whatever the core count.
pub const MAX_QUERY_THREADS: usize = 16;
/// Queries waiting for a thread, at most; more are refused as busy.
pub const MAX_QUERIES_QUEUED: usize = 4_096;

type Job = Box<dyn FnOnce() + Send>;

/// How many query threads a pool starts: one per core, at most
/// [`MAX_QUERY_THREADS`].
pub fn query_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_QUERY_THREADS)
}

/// The queue of queries and the threads that answer it; cheap to share.
pub struct QueryPool {
    jobs: SyncSender<Job>,
}

/// A queued query's answer, to await (async callers) or block on (threads).
pub struct Pending<T> {
    answer: Result<oneshot::Receiver<Result<T, SearchError>>, SearchError>,
}

impl<T> Pending<T> {
    /// The answer, once a query thread has run the query.
    pub async fn answer(self) -> Result<T, SearchError> {
        self.answer?.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// The same, blocking this thread (benchmarks, tests; never on an async worker).
    pub fn wait(self) -> Result<T, SearchError> {
        self.answer?
            .blocking_recv()
            .unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> SearchError {
    SearchError::Unavailable("stopping")
}

impl QueryPool {
    /// Starts `threads` query threads (at least one).
    pub fn start(threads: usize) -> std::io::Result<QueryPool> {
        let (jobs, queue) = sync_channel::<Job>(MAX_QUERIES_QUEUED);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("search-query-{n}"))
                .spawn(move || serve(&queue))?;
        }
        Ok(QueryPool { jobs })
    }

    /// Queues `query`; its answer comes back through the [`Pending`].
    pub fn submit<T: Send + 'static>(
        &self,
        query: impl FnOnce() -> Result<T, SearchError> + Send + 'static,
    ) -> Pending<T> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller may have gone (a closed connection): nobody to tell.
            let _ = reply.send(query());
        });
        let answer = match self.jobs.try_send(job) {
            Ok(()) => Ok(answer),
            Err(TrySendError::Full(_)) => Err(SearchError::Unavailable("busy; try again")),
            Err(TrySendError::Disconnected(_)) => Err(stopped()),
        };
        Pending { answer }
    }
}

/// A query thread: takes the oldest query, runs it, until the pool is dropped.
fn serve(queue: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while taking one job; the channel keeps the order.
        let job = {
            let queue = queue
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            queue.recv()
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn queries_run_on_the_pool_no_more_at_once_than_its_threads() {
        let pool = QueryPool::start(2).unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let pending: Vec<_> = (0..16)
            .map(|n| {
                let (running, most) = (Arc::clone(&running), Arc::clone(&most));
                pool.submit(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(n)
                })
            })
            .collect();
        let answers: Vec<usize> = pending.into_iter().map(|p| p.wait().unwrap()).collect();
        assert_eq!(answers, (0..16).collect::<Vec<_>>());
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_full_queue_refuses_as_busy_and_a_failed_query_says_why() {
        let pool = QueryPool::start(1).unwrap();
        let (release, gate) = std::sync::mpsc::channel::<()>();
        // Holds the only thread until released, so the queue fills.
        let blocker = pool.submit(move || {
            let _ = gate.recv();
            Ok(())
        });
        let queued: Vec<_> = (0..MAX_QUERIES_QUEUED + 8)
            .map(|_| pool.submit(|| Ok(())))
            .collect();
        let refused = queued.iter().filter(|p| p.answer.is_err()).count();
        assert!(refused >= 8, "{refused} refused");
        release.send(()).unwrap();
        blocker.wait().unwrap();
        let failed = pool.submit(|| Err::<(), _>(SearchError::Failed("damaged".into())));
        assert_eq!(failed.wait(), Err(SearchError::Failed("damaged".into())));
    }

    #[test]
    fn a_query_runs_on_a_query_thread_not_the_callers() {
        let pool = QueryPool::start(1).unwrap();
        let done = pool.submit(|| Ok(std::thread::current().name().map(str::to_owned)));
        assert_eq!(done.wait().unwrap().as_deref(), Some("search-query-0"));
    }
}
