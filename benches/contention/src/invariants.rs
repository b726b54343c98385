//! The end-of-run checks. A run passes only if every one holds; the harness
//! exits non-zero otherwise.
//!
//! They compare two views: the engine's (every actor's state, exported once
//! the clients have stopped) and the clients' (what the engine acknowledged
//! to them). The engine's own view is judged by the shared checker,
//! `boxoffice_actors::audit` (the simulation, the kill tests and `boxoffice
//! load` use the same one): no seat in two live reservations, sold seats ==
//! seats of confirmed reservations, each schedule's `check_invariants`, no
//! payment between saga steps, every balance == charges − payments +
//! refunds, money kept == price of confirmed seats (+ refunds still owed).
//!
//! Here are the checks that need the clients' view. Requests whose outcome
//! the client never learned (a transport error, an unexpected answer) are
//! counted, and the money checks then accept any total between "none of
//! them happened" and "all did".
//! - no seat in two paid reservations the clients were told about;
//! - acknowledged live reservations are live;
//! - wallet totals equal what clients were told;
//! - admission order equals join order among users who did not drop out.

use boxoffice_actors::audit;
use boxoffice_actors::queue_actor::QueueState;
use boxoffice_actors::Registry;
use boxoffice_engine::ids::*;
use boxoffice_engine::queue::{Queue, TokenStatus};
use boxoffice_engine::schedule::ReservationStatus;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

pub use audit::{check_schedules, Check, EngineState};

/// Every actor's state, exported after the clients stopped.
pub async fn export(registry: &Registry) -> Result<EngineState, String> {
    audit::export(registry).await.map_err(|e| e.to_string())
}

/// Money the clients were told about, summed as they were told.
#[derive(Default)]
pub struct MoneyAcks {
    pub charged: AtomicI64,
    pub paid: AtomicI64,
    pub refunded: AtomicI64,
    /// Requests that may have moved money without the client knowing, and the
    /// most money each kind could have moved.
    pub unknown_requests: AtomicU64,
    pub unknown_charge: AtomicI64,
    pub unknown_paid: AtomicI64,
    pub unknown_refund: AtomicI64,
}

impl MoneyAcks {
    pub fn add(counter: &AtomicI64, amount: i64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }
}

/// No seat of a schedule in two reservations the clients were told were paid
/// (and not cancelled since): the clients' own view of oversell.
pub fn check_paid_seats(paid: &[(ScheduleId, Vec<String>)]) -> Check {
    let mut seen: HashSet<(ScheduleId, &str)> = HashSet::new();
    let mut double = 0u64;
    let mut seats = 0u64;
    for (schedule, list) in paid {
        for seat in list {
            seats += 1;
            if !seen.insert((*schedule, seat.as_str())) {
                double += 1;
            }
        }
    }
    Check::new(
        "oversell (client view): no seat in two acknowledged payments",
        double == 0,
        format!("{seats} paid seat(s) acknowledged, {double} twice"),
    )
}

/// The reservations clients were told are live (held and not released, or
/// paid and not cancelled) are live in the engine; the engine has no more
/// live ones than that plus the holds whose answer was lost.
pub fn check_live_holds(
    state: &EngineState,
    acked_live: &[ReservationId],
    unknown_holds: u64,
) -> Check {
    let live: HashSet<ReservationId> = state
        .schedules
        .values()
        .flat_map(|s| s.schedule.reservations())
        .filter(|r| r.status.is_live())
        .map(|r| r.id)
        .collect();
    let missing = acked_live.iter().filter(|id| !live.contains(id)).count();
    let extra = live.len().saturating_sub(acked_live.len() - missing);
    Check::new(
        "acknowledged = durable: acknowledged live reservations are live",
        missing == 0 && extra as u64 <= unknown_holds,
        format!(
            "{} acknowledged live, {missing} missing in the engine; {extra} live in the engine unknown to clients (≤ {unknown_holds} holds without an answer)",
            acked_live.len()
        ),
    )
}

fn within(actual: i64, acked: i64, unknown: i64) -> bool {
    actual >= acked && actual <= acked.saturating_add(unknown)
}

/// Wallets against their ledgers and the seats sold (the shared checker),
/// and their totals against what the clients were told.
pub fn check_money(state: &EngineState, acks: &MoneyAcks) -> Vec<Check> {
    let (mut charged, mut used, mut refunded) = (0i64, 0i64, 0i64);
    for wallet in state.wallets.iter().flat_map(|s| s.wallets.values()) {
        charged += wallet.total_charged().0;
        used += wallet.total_used().0;
        refunded += wallet.total_refunded().0;
    }
    let load = |a: &AtomicI64| a.load(Ordering::Relaxed);
    let (a_charged, a_paid, a_refunded) =
        (load(&acks.charged), load(&acks.paid), load(&acks.refunded));
    let (u_charge, u_paid, u_refund) = (
        load(&acks.unknown_charge),
        load(&acks.unknown_paid),
        load(&acks.unknown_refund),
    );
    let mut checks = audit::check_money(state);
    checks.push(Check::new(
        "money: wallet totals == acknowledged charges, payments, refunds",
        within(charged, a_charged, u_charge)
            && within(used, a_paid, u_paid)
            && within(refunded, a_refunded, u_refund),
        format!(
            "charged {charged} (acked {a_charged} + ≤{u_charge} unknown), paid {used} (acked {a_paid} + ≤{u_paid}), refunded {refunded} (acked {a_refunded} + ≤{u_refund}); {} request(s) without an answer",
            acks.unknown_requests.load(Ordering::Relaxed)
        ),
    ));
    checks
}

/// When one virtual user of the stadium joined and saw its place, as the client saw it.
#[derive(Clone, Copy, Debug, Default)]
pub struct QueueObservation {
    /// Latest moment the user's poll was sent and answered WAITING.
    pub last_waiting_sent: Option<Instant>,
    /// When the first answer saying ACTIVE arrived.
    pub first_active_received: Option<Instant>,
}

/// Admission order against join order, in the engine's record (join sequence
/// numbers and admission times) and in what the clients observed.
pub fn check_admission_order(
    queue: &QueueState,
    schedule: ScheduleId,
    users: &[(UserId, QueueObservation)],
) -> Vec<Check> {
    let Some(queue) = queue.queues.get(&schedule) else {
        return vec![Check::new(
            "queue: admission order == join order",
            false,
            "the schedule has no waiting room",
        )];
    };
    let mut rows: Vec<(u64, Option<i64>, QueueObservation)> = Vec::new();
    let (mut dropped, mut unknown) = (0u64, 0u64);
    for (user, observed) in users {
        match token_of(queue, *user) {
            Some((seq, status, admitted_at)) => {
                if status == TokenStatus::Expired && admitted_at.is_none() {
                    dropped += 1; // dropped out of the line: excluded
                } else {
                    rows.push((seq, admitted_at, *observed));
                }
            }
            None => unknown += 1,
        }
    }
    rows.sort_by_key(|r| r.0);
    // Engine: walking in join order, admission times never go back, and once
    // someone is still waiting nobody behind them was admitted.
    let (mut engine_violations, mut latest, mut waiting_seen) = (0u64, i64::MIN, false);
    for (_, admitted_at, _) in &rows {
        match admitted_at {
            Some(at) => {
                if *at < latest || waiting_seen {
                    engine_violations += 1;
                }
                latest = latest.max(*at);
            }
            None => waiting_seen = true,
        }
    }
    // Clients: nobody was seen ACTIVE before someone ahead of them was still seen WAITING.
    let (mut client_violations, mut last_waiting) = (0u64, None::<Instant>);
    for (_, _, observed) in &rows {
        if let (Some(active), Some(waiting)) = (observed.first_active_received, last_waiting) {
            if active < waiting {
                client_violations += 1;
            }
        }
        last_waiting = last_waiting.max(observed.last_waiting_sent);
    }
    let admitted = rows.iter().filter(|r| r.1.is_some()).count();
    vec![
        Check::new(
            "queue: admission order == join order (engine record)",
            engine_violations == 0 && unknown == 0,
            format!(
                "{} users in line order, {admitted} admitted, {dropped} dropped out (excluded), {unknown} without a token, {engine_violations} out of order",
                rows.len()
            ),
        ),
        Check::new(
            "queue: admission order == join order (client observations)",
            client_violations == 0,
            format!("{client_violations} user(s) seen ACTIVE while someone who joined earlier was still seen WAITING"),
        ),
    ]
}

fn token_of(queue: &Queue, user: UserId) -> Option<(u64, TokenStatus, Option<i64>)> {
    queue
        .token_of_user(user)
        .map(|t| (t.seq, t.status, t.admitted_at.map(|a| a.0)))
}

/// Reservations by status over every schedule (for the report).
pub fn reservation_counts(state: &EngineState) -> HashMap<&'static str, u64> {
    let mut counts = HashMap::new();
    for reservation in state
        .schedules
        .values()
        .flat_map(|s| s.schedule.reservations())
    {
        let status = match reservation.status {
            ReservationStatus::Held => "held",
            ReservationStatus::PaymentPending { .. } => "payment_pending",
            ReservationStatus::Confirmed { .. } => "confirmed",
            ReservationStatus::Expired => "expired",
            ReservationStatus::Cancelled => "cancelled",
        };
        *counts.entry(status).or_default() += 1;
    }
    counts
}
