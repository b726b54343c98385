//! Runs a scenario's logical clients: `clients` async tasks spread over
//! `threads` OS threads, each thread with its own actix runtime, its own
//! driver (for HTTP: its own keep-alive pool of `connections / threads`
//! connections) and its own [`Recorder`].
//!
//! The load is closed-loop: each client sends its next request when the
//! previous one is answered, with no think time unless the scenario sleeps,
//! so the offered load is "`clients` requests in flight at all times".

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::driver::{Driver, DriverSpec};
use crate::stats::{Op, Outcome, Recorder, Window};

/// Most client threads (the machine has 2 cores; more only adds wake-ups).
pub const MAX_CLIENT_THREADS: usize = 16;
/// A client answered 503 waits this long before its next request, as a
/// polite client would. Without it, an in-process refusal (which returns at
/// once, never yielding) would spin its task and starve the thread's other
/// clients, including those whose replies are waiting.
pub const UNAVAILABLE_BACKOFF: Duration = Duration::from_millis(10);

#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub clients: usize,
    pub connections: usize,
    pub threads: usize,
    /// Requests started inside the window are recorded.
    pub window: Window,
    /// Clients stop starting requests after this.
    pub deadline: Instant,
}

/// What one client task gets.
pub struct Client<S> {
    pub index: usize,
    pub driver: Rc<Driver>,
    pub shared: Arc<S>,
    pub stop: Arc<AtomicBool>,
    pub deadline: Instant,
    recorder: Rc<RefCell<Recorder>>,
}

impl<S> Client<S> {
    /// True while the client should keep going.
    pub fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && Instant::now() < self.deadline
    }

    /// Runs one request, timing it and recording its outcome under `op`.
    pub async fn timed<T>(
        &self,
        op: Op,
        request: impl Future<Output = Result<T, Outcome>>,
    ) -> Result<T, Outcome> {
        timed_request(&self.recorder, op, request).await
    }
}

/// Runs one request, records its latency and outcome under `op`, and backs
/// off after a 503 (shared by the Boxoffice and the baseline clients).
pub async fn timed_request<T>(
    recorder: &RefCell<Recorder>,
    op: Op,
    request: impl Future<Output = Result<T, Outcome>>,
) -> Result<T, Outcome> {
    let started = Instant::now();
    let result = request.await;
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

/// Runs `client` for every index in `0..plan.clients` and returns the merged
/// recorder once every client returned. Must be awaited inside an actix system
/// (it does not block it: the engine or server may be driven by the same one).
pub async fn run<S, F, Fut>(
    driver: &DriverSpec,
    plan: Plan,
    shared: Arc<S>,
    stop: Arc<AtomicBool>,
    client: F,
) -> Recorder
where
    S: Send + Sync + 'static,
    F: Fn(Client<S>) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let threads = plan
        .threads
        .clamp(1, MAX_CLIENT_THREADS)
        .min(plan.clients.max(1));
    let mut finished = Vec::new();
    for thread in 0..threads {
        let (done, result) = tokio::sync::oneshot::channel::<Recorder>();
        finished.push(result);
        let driver = driver.clone();
        let shared = Arc::clone(&shared);
        let stop = Arc::clone(&stop);
        let client = client.clone();
        let connections = plan.connections.div_ceil(threads).max(1);
        std::thread::Builder::new()
            .name(format!("client-{thread}"))
            .spawn(move || {
                let system = actix_rt::System::new();
                let recorder = system.block_on(async move {
                    let driver = Rc::new(driver.build(thread, connections));
                    let recorder = Rc::new(RefCell::new(Recorder::new(plan.window)));
                    let tasks: Vec<_> = (thread..plan.clients)
                        .step_by(threads)
                        .map(|index| {
                            actix_rt::spawn(client(Client {
                                index,
                                driver: Rc::clone(&driver),
                                shared: Arc::clone(&shared),
                                stop: Arc::clone(&stop),
                                deadline: plan.deadline,
                                recorder: Rc::clone(&recorder),
                            }))
                        })
                        .collect();
                    for task in tasks {
                        let _ = task.await;
                    }
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
            })
            .unwrap_or_else(|e| panic!("cannot start a client thread: {e}"));
    }
    let mut merged = Recorder::new(plan.window);
    for result in finished {
        if let Ok(recorder) = result.await {
            merged.merge(recorder);
        } else {
            eprintln!("contention: a client thread died; its samples are lost");
        }
    }
    merged
}
