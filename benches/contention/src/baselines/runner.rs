//! Runs a baseline scenario's logical clients, as `clients.rs` does for
//! Boxoffice, but without a Boxoffice driver: each client gets the shared
//! state (which holds the `Send` PostgreSQL pool or Redis connections) and a
//! recorder. `clients` async tasks spread over `threads` OS threads, each
//! with its own actix runtime and its own [`Recorder`], merged at the end.
//!
//! The database connections themselves are driven by the harness's main
//! runtime (they were opened there), so a client thread only runs the
//! clients' logic, as a Boxoffice client thread does.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::clients::{timed_request, Plan, MAX_CLIENT_THREADS};
use crate::stats::{Op, Outcome, Recorder};

/// What one baseline client task gets.
pub struct BaselineClient<S> {
    pub index: usize,
    pub shared: Arc<S>,
    pub stop: Arc<AtomicBool>,
    pub deadline: Instant,
    recorder: Rc<RefCell<Recorder>>,
}

impl<S> BaselineClient<S> {
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

/// Runs `client` for every index in `0..plan.clients`; returns the merged
/// recorder once every client returned. Awaited inside the harness's actix
/// system, which keeps driving the connections meanwhile.
pub async fn run<S, F, Fut>(
    plan: Plan,
    shared: Arc<S>,
    stop: Arc<AtomicBool>,
    client: F,
) -> Recorder
where
    S: Send + Sync + 'static,
    F: Fn(BaselineClient<S>) -> Fut + Send + Sync + Clone + 'static,
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
        let shared = Arc::clone(&shared);
        let stop = Arc::clone(&stop);
        let client = client.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("baseline-client-{thread}"))
            .spawn(move || {
                let system = actix_rt::System::new();
                let recorder = system.block_on(async move {
                    let recorder = Rc::new(RefCell::new(Recorder::new(plan.window)));
                    let tasks: Vec<_> = (thread..plan.clients)
                        .step_by(threads)
                        .map(|index| {
                            actix_rt::spawn(client(BaselineClient {
                                index,
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
                    let mut merged = Recorder::new(plan.window);
                    merged.merge(std::mem::replace(
                        &mut recorder.borrow_mut(),
                        Recorder::new(plan.window),
                    ));
                    merged
                });
                let _ = done.send(recorder);
            });
        if let Err(err) = spawned {
            eprintln!("contention: cannot start a baseline client thread: {err}");
        }
    }
    let mut merged = Recorder::new(plan.window);
    for result in finished {
        if let Ok(recorder) = result.await {
            merged.merge(recorder);
        } else {
            eprintln!("contention: a baseline client thread died; its samples are lost");
        }
    }
    merged
}
