//! Runs a scenario's logical clients: `clients` async tasks spread over
//! `threads` OS threads, each thread with its own actix runtime, its own
//! client of the target (for HTTP: its own keep-alive pool of
//! `connections / threads` connections; see [`crate::target::Client`]) and
//! its own [`Recorder`], merged at the end.
//!
//! The load is closed-loop by default: each client sends its next request
//! when the previous one is answered, with no think time unless the
//! scenario sleeps, so the offered load is "`clients` requests in flight at
//! all times". With a rate (`Plan::rate`, open-holds' `--rate`) it is open
//! loop: each client's requests are due on a fixed schedule (see
//! `crate::pace`), still one in flight per client, and each is timed from
//! when it was due.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::pace::Pace;
use crate::stats::{Op, Outcome, Recorder, Window};
use crate::target::{Target, User};
use crate::timeline::Windows;

/// Most client threads (the machine has 2 cores; more only adds wake-ups).
pub const MAX_CLIENT_THREADS: usize = 16;
/// A client answered 503 waits this long before its next request, as a
/// polite client would. Without it, an in-process refusal (which returns at
/// once, never yielding) would spin its task and starve the thread's other
/// clients, including those whose replies are waiting.
pub const UNAVAILABLE_BACKOFF: Duration = Duration::from_millis(10);

/// Open loop: how long past the deadline a late client still sends the
/// requests that were due before it (they are in the window, so they count
/// with their whole wait). Bounded so that a rate far above what the server
/// serves ends the run; what is left unsent shows as a shortfall of the
/// achieved rate against the asked one.
pub const MAX_DRAIN: Duration = Duration::from_secs(30);

/// Each client thread runs a probe that sleeps this long, again and again,
/// while its clients run, and records how much later than asked it woke
/// (`Recorder::loop_lag`): a thread too busy to run its clients on time
/// shows there, and that delay is in every latency it measures.
pub const LAG_PROBE_EVERY: Duration = Duration::from_millis(10);

#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub clients: usize,
    pub connections: usize,
    pub threads: usize,
    /// Requests started inside the window are recorded.
    pub window: Window,
    /// Clients stop starting requests after this.
    pub deadline: Instant,
    /// Open loop: requests/s of all clients together, due from `start`
    /// (see `crate::pace`); `None`: closed loop.
    pub rate: Option<u64>,
    /// When the run (its warm-up first) starts.
    pub start: Instant,
}

/// What one client task gets: `api`, its thread's client of the target.
pub struct Client<S, C> {
    pub index: usize,
    pub api: Rc<C>,
    pub shared: Arc<S>,
    pub stop: Arc<AtomicBool>,
    pub deadline: Instant,
    recorder: Rc<RefCell<Recorder>>,
    /// Open loop: this client's schedule.
    pace: Option<Pace>,
}

impl<S, C> Client<S, C> {
    /// True while the client should keep going. Open loop: while its next
    /// request is due before the deadline, however late the client is, but
    /// for at most [`MAX_DRAIN`] past the deadline.
    pub fn running(&self) -> bool {
        let now = Instant::now();
        let going = match &self.pace {
            Some(pace) => pace.next_due() < self.deadline && now < self.deadline + MAX_DRAIN,
            None => now < self.deadline,
        };
        going && !self.stop.load(Ordering::Relaxed)
    }

    /// Runs one request, timing it and recording its outcome under `op`.
    /// Open loop: first waits until the request is due (not at all if it is
    /// overdue), and times it from then.
    pub async fn timed<T>(
        &self,
        op: Op,
        request: impl Future<Output = Result<T, Outcome>>,
    ) -> Result<T, Outcome> {
        let started = self.start().await;
        let result = request.await;
        settle(&self.recorder, op, started, result).await
    }

    /// When the next request starts: now, or, open loop, when it is due
    /// (after waiting for that, if it is not overdue).
    async fn start(&self) -> Instant {
        match &self.pace {
            Some(pace) => {
                let due = pace.take();
                let wait = Pace::wait_at(due, Instant::now());
                if !wait.is_zero() {
                    actix_rt::time::sleep(wait).await;
                }
                due
            }
            None => Instant::now(),
        }
    }
}

impl<S, C: crate::target::Client> Client<S, C> {
    /// [`Client::timed`] for `user`'s request, whose time is also recorded
    /// in two parts (`Recorder::split`) when the target tells how long it
    /// waited for a free connection (HTTP): that wait, and the rest, on the
    /// wire. Also returns that wait (zero when not told: in process).
    pub async fn timed_split<T>(
        &self,
        op: Op,
        user: User,
        request: impl Future<Output = Result<T, Outcome>>,
    ) -> (Result<T, Outcome>, Duration) {
        let started = self.start().await;
        let result = request.await;
        let took = started.elapsed();
        let conn_wait = self.api.take_conn_wait(user);
        if let Some(wait) = conn_wait {
            let nanos = |d: Duration| d.as_nanos().min(u128::from(u64::MAX)) as u64;
            self.recorder.borrow_mut().record_split(
                op,
                started,
                nanos(wait),
                nanos(took.saturating_sub(wait)),
            );
        }
        let result = settle(&self.recorder, op, started, result).await;
        (result, conn_wait.unwrap_or_default())
    }
}

/// Records a request's latency since `started` and its outcome under
/// `op`, and backs off after a 503.
async fn settle<T>(
    recorder: &RefCell<Recorder>,
    op: Op,
    started: Instant,
    result: Result<T, Outcome>,
) -> Result<T, Outcome> {
    let outcome = match &result {
        Ok(_) => Outcome::Ok,
        Err(outcome) => *outcome,
    };
    recorder.borrow_mut().record(op, started, outcome);
    if outcome == Outcome::Unavailable {
        actix_rt::time::sleep(UNAVAILABLE_BACKOFF).await;
    }
    result
}

/// Sleeps [`LAG_PROBE_EVERY`] again and again (until aborted) and records
/// how late each wake-up was, for the wake-ups inside `window`.
async fn probe_loop_lag(recorder: Rc<RefCell<Recorder>>, window: Window) {
    loop {
        let asleep = Instant::now();
        actix_rt::time::sleep(LAG_PROBE_EVERY).await;
        let late = asleep.elapsed().saturating_sub(LAG_PROBE_EVERY);
        if window.contains(asleep) {
            let nanos = late.as_nanos().min(u128::from(u64::MAX)) as u64;
            recorder.borrow_mut().loop_lag.record(nanos);
        }
    }
}

/// How [`run`] makes each thread's client of `target`.
pub fn connect<T: Target>(target: &Arc<T>) -> impl Fn(usize, usize) -> T::Client + Send + Clone {
    let target = Arc::clone(target);
    move |thread, connections| target.client(thread, connections)
}

/// Runs `client` for every index in `0..plan.clients` and returns the merged
/// recorder once every client returned; `connect(thread, connections)` makes
/// each thread's client. Must be awaited inside an actix system (it does not
/// block it: the engine, server or database connections may be driven by
/// the same one).
pub async fn run<C, M, S, F, Fut>(
    connect: M,
    plan: Plan,
    shared: Arc<S>,
    stop: Arc<AtomicBool>,
    client: F,
) -> Result<Recorder, String>
where
    M: Fn(usize, usize) -> C + Send + Clone + 'static,
    C: 'static,
    S: Send + Sync + 'static,
    F: Fn(Client<S, C>) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    run_sampled(connect, plan, shared, stop, client, None).await
}

/// [`run`], each thread's recorder also feeding its shard of `timeline`
/// (see `crate::timeline`), if given.
pub async fn run_sampled<C, M, S, F, Fut>(
    connect: M,
    plan: Plan,
    shared: Arc<S>,
    stop: Arc<AtomicBool>,
    client: F,
    timeline: Option<Arc<Windows>>,
) -> Result<Recorder, String>
where
    M: Fn(usize, usize) -> C + Send + Clone + 'static,
    C: 'static,
    S: Send + Sync + 'static,
    F: Fn(Client<S, C>) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let threads = plan
        .threads
        .clamp(1, MAX_CLIENT_THREADS)
        .min(plan.clients.max(1));
    let mut finished = Vec::new();
    let mut failed = None;
    for thread in 0..threads {
        let (done, result) = tokio::sync::oneshot::channel::<Recorder>();
        finished.push(result);
        let connect = connect.clone();
        let shared = Arc::clone(&shared);
        let thread_stop = Arc::clone(&stop);
        let client = client.clone();
        let connections = plan.connections.div_ceil(threads).max(1);
        let shard = timeline.as_ref().map(|t| t.shard());
        let spawned = std::thread::Builder::new()
            .name(format!("client-{thread}"))
            .spawn(move || {
                let system = actix_rt::System::new();
                let recorder = system.block_on(async move {
                    let api = Rc::new(connect(thread, connections));
                    let mut recorder = Recorder::new(plan.window);
                    if let Some(shard) = shard {
                        recorder.sample_into(shard);
                    }
                    let recorder = Rc::new(RefCell::new(recorder));
                    let probe = actix_rt::spawn(probe_loop_lag(Rc::clone(&recorder), plan.window));
                    let tasks: Vec<_> = (thread..plan.clients)
                        .step_by(threads)
                        .map(|index| {
                            actix_rt::spawn(client(Client {
                                index,
                                api: Rc::clone(&api),
                                shared: Arc::clone(&shared),
                                stop: Arc::clone(&thread_stop),
                                deadline: plan.deadline,
                                recorder: Rc::clone(&recorder),
                                pace: plan
                                    .rate
                                    .map(|rate| Pace::new(plan.start, rate, plan.clients, index)),
                            }))
                        })
                        .collect();
                    for task in tasks {
                        let _ = task.await;
                    }
                    probe.abort();
                    let _ = probe.await;
                    // Every task is done, so this is the last reference.
                    Rc::try_unwrap(recorder)
                        .map(RefCell::into_inner)
                        .unwrap_or_else(|rc| {
                            let mut copy = Recorder::new(plan.window);
                            copy.merge(std::mem::replace(
                                &mut rc.borrow_mut(),
                                Recorder::new(plan.window),
                            ));
                            copy
                        })
                });
                let _ = done.send(recorder);
            });
        if let Err(err) = spawned {
            // Too few threads would measure another load: stop the ones
            // started and fail the run.
            stop.store(true, Ordering::Relaxed);
            failed.get_or_insert(format!("cannot start a client thread: {err}"));
        }
    }
    let mut merged = Recorder::new(plan.window);
    for result in finished {
        if let Ok(recorder) = result.await {
            merged.merge(recorder);
        } else if failed.is_none() {
            eprintln!("contention: a client thread died; its samples are lost");
        }
    }
    match failed {
        Some(err) => Err(err),
        None => Ok(merged),
    }
}
