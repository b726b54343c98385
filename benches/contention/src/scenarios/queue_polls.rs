//! `queue-polls`: the waiting room's poll path, in a closed loop. During
//! set-up `--users` (default 100,000) join one gated schedule that admits one
//! user a minute, so they all stay waiting; then each client polls one of
//! their tokens as fast as it can (ignoring `pollAfterMs`: this measures what
//! a poll costs, not what paced clients ask). Run with `--mode http,hello` to
//! set polls/s against an actix-web hello world in the same invocation.
//!
//! It also reports what the crowd costs in memory: this process's RSS before
//! the joins and once they are all in line. What the clients keep (their
//! tokens) is allocated before the first measurement, or subtracted, so the
//! difference is the server's: the waiting room, its board, the log records
//! in sled's cache, and over HTTP the server's buffers. Next to it, the live
//! heap's growth over the joins (`crowd_heap_bytes_per_user`, from the
//! harness allocator's counter): what is kept, as against pages retained.
//!
//! Checks: every join answered, and every poll answered WAITING (nobody was
//! refused or lost their place).

use boxoffice_engine::queue::QueueConfig;
use serde_json::json;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::{in_batches, schedule_id, ScenarioRun, Size};
use crate::clients;
use crate::heap;
use crate::invariants::Check;
use crate::stats::{Op, Outcome};
use crate::system;
use crate::target::{Client, NewSchedule, QueueCredential, Seats, Target, User};

const KIND: u8 = 5;
/// Joins in flight at once during set-up (and the connections they use).
const JOINS_AT_ONCE: usize = 256;
/// Admissions: one user a minute, at most one active, so the line stays.
const INTERVAL_MS: i64 = 60_000;

struct Shared {
    tokens: Vec<(User, QueueCredential)>,
    polls_not_waiting: AtomicU64,
}

pub async fn run<T: Target>(target: &Arc<T>, size: &Size) -> Result<ScenarioRun, String> {
    if !target.features().waiting_room {
        return Err(format!(
            "queue-polls needs a waiting room, which {} has not",
            target.system()
        ));
    }
    let users = size.users.max(1);
    let schedule = target
        .create_schedule(NewSchedule {
            id: schedule_id(KIND, 0),
            seats: Seats {
                sections: 1,
                rows: 1,
                per_row: 10,
            },
            hold_ms: None,
            max_seats_per_user: None,
            queue: Some(QueueConfig {
                enabled: true,
                batch_size: 1,
                interval_ms: INTERVAL_MS,
                max_active: 1,
                active_ms: 3_600_000,
                ..QueueConfig::default()
            }),
            pre_queue_seconds: None,
            booking_opens_in_ms: None,
        })
        .await?;
    let pid = size.server_pid.unwrap_or_else(std::process::id);
    let joiner = Rc::new(target.client(0, JOINS_AT_ONCE));
    // What the clients keep is allocated before the "before" measurement
    // (and a signed token's text is counted and taken off after), so the
    // difference is the server's.
    let mut tokens: Vec<(User, QueueCredential)> = Vec::with_capacity(users);
    let rss_before_kib = system::rss_kib_of(pid);
    let heap_window = heap::start_counting();
    let mut held_by_clients = 0u64;
    for first in (0..users).step_by(JOINS_AT_ONCE) {
        let batch = in_batches(JOINS_AT_ONCE.min(users - first), JOINS_AT_ONCE, |i| {
            let joiner = Rc::clone(&joiner);
            async move {
                let user = User::new(KIND, (first + i) as u64);
                let place = joiner.join(user, schedule).await.ok()?;
                Some((user, place.token))
            }
        })
        .await;
        for (user, token) in batch.into_iter().flatten() {
            if let QueueCredential::Signed(text) = &token {
                held_by_clients += text.capacity() as u64;
            }
            tokens.push((user, token));
        }
    }
    drop(joiner);
    let heap_growth = heap_window
        .net_bytes()
        .saturating_sub(held_by_clients as i64);
    let rss_crowd_kib =
        system::rss_kib_of(pid).map(|kib| kib.saturating_sub(held_by_clients / 1024));
    let joins_failed = users - tokens.len();
    if tokens.is_empty() {
        return Err("queue-polls: no join succeeded".into());
    }
    let shared = Arc::new(Shared {
        tokens,
        polls_not_waiting: AtomicU64::new(0),
    });
    let recorder = clients::run(
        clients::connect(target),
        size.plan(),
        Arc::clone(&shared),
        Arc::new(AtomicBool::new(false)),
        poller,
    )
    .await?;

    let polls = recorder.op(Op::Poll);
    let failed_polls = polls.count() - polls.outcome(Outcome::Ok);
    let not_waiting = shared.polls_not_waiting.load(Ordering::Relaxed);
    let checks = vec![
        Check::new(
            "every join answered 2xx",
            joins_failed == 0,
            format!("{} of {users} joined", users - joins_failed),
        ),
        Check::new(
            "every poll answered, WAITING",
            failed_polls == 0 && not_waiting == 0,
            format!(
                "{} polls: {failed_polls} refused, {not_waiting} not WAITING",
                polls.count()
            ),
        ),
    ];
    let mb = |kib: Option<u64>| kib.map(|k| k as f64 / 1024.0);
    let mut facts = std::collections::BTreeMap::new();
    facts.insert("waiting_users".into(), json!(shared.tokens.len()));
    facts.insert("rss_before_crowd_mb".into(), json!(mb(rss_before_kib)));
    facts.insert("rss_crowd_in_line_mb".into(), json!(mb(rss_crowd_kib)));
    facts.insert(
        "crowd_bytes_per_user".into(),
        json!(rss_before_kib
            .zip(rss_crowd_kib)
            .map(|(before, after)| after.saturating_sub(before) * 1024 / users as u64)),
    );
    // Live heap: what is kept; the rest of the RSS growth is pages the
    // allocator holds after transient peaks (and sled's mapped files).
    facts.insert(
        "crowd_heap_bytes_per_user".into(),
        json!(heap_growth / users as i64),
    );
    facts.insert("rss_of".into(), json!(size.server_rss_of));
    Ok(ScenarioRun {
        elapsed: recorder.window().length(),
        recorder,
        checks,
        facts,
        notes: vec![format!(
            "{users} users wait in one line (one admission a minute); each client polls one of them in a closed loop"
        )],
        timeline: Vec::new(),
    })
}

async fn poller<C: Client>(client: clients::Client<Shared, C>) {
    let s = Arc::clone(&client.shared);
    // From the back of the line: the front is admitted, one a minute.
    let (user, token) = &s.tokens[s.tokens.len() - 1 - client.index % s.tokens.len()];
    while client.running() {
        if let Ok(place) = client.timed(Op::Poll, client.api.poll(*user, token)).await {
            if place.active || place.pre_queue || place.position.is_none() {
                s.polls_not_waiting.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
