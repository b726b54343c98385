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
//! - admission order equals join order among users who did not drop out
//!   (with a pre-queue: the PRE_QUEUE joiners first in any order, then the
//!   later joiners in join order).

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
    /// Latest moment the user's poll was sent and answered WAITING (or PRE_QUEUE).
    pub last_waiting_sent: Option<Instant>,
    /// When the first answer saying ACTIVE arrived.
    pub first_active_received: Option<Instant>,
    /// The join's answer said PRE_QUEUE: the user joined before booking
    /// opened, so it was shuffled in at opening, ahead of later joiners.
    pub pre_queue_at_join: bool,
}

/// One user in line: engine join sequence, engine admission time, what the client saw.
type Row = (u64, Option<i64>, QueueObservation);

/// Admission order against join order, in the engine's record (join sequence
/// numbers and admission times) and in what the clients observed.
///
/// Without a pre-queue (no user saw PRE_QUEUE at join): plain FIFO. With
/// one: the users who joined in PRE_QUEUE were shuffled at opening, so
/// they come first in any order among themselves, then the later joiners
/// FIFO (`admission_order_fifo_after_shuffle`).
pub fn check_admission_order(
    queue: &QueueState,
    schedule: ScheduleId,
    users: &[(UserId, QueueObservation)],
) -> Vec<Check> {
    let shuffled = users.iter().any(|(_, o)| o.pre_queue_at_join);
    let Some(queue) = queue.queues.get(&schedule) else {
        return vec![Check::new(
            if shuffled {
                SHUFFLE_CHECK
            } else {
                "queue: admission order == join order"
            },
            false,
            "the schedule has no waiting room",
        )];
    };
    let mut rows: Vec<Row> = Vec::new();
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
    if shuffled {
        return check_shuffled_order(&rows, dropped, unknown);
    }
    // Engine: walking in join order, admission times never go back, and once
    // someone is still waiting nobody behind them was admitted.
    let engine_violations = fifo_violations(&rows, i64::MIN, false);
    // Clients: nobody was seen ACTIVE before someone ahead of them was still seen WAITING.
    let client_violations = seen_violations(&rows, None);
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

/// The name of the pre-queue run's admission-order invariant.
pub const SHUFFLE_CHECK: &str = "admission_order_fifo_after_shuffle";

/// Engine record, in join order (`rows` sorted by sequence): admission times
/// never go back and nobody is admitted behind someone still waiting, given
/// that the users before `rows` were admitted up to `latest` (and some of
/// them are still waiting if `waiting_seen`).
fn fifo_violations(rows: &[Row], mut latest: i64, mut waiting_seen: bool) -> u64 {
    let mut violations = 0;
    for (_, admitted_at, _) in rows {
        match admitted_at {
            Some(at) => {
                if *at < latest || waiting_seen {
                    violations += 1;
                }
                latest = latest.max(*at);
            }
            None => waiting_seen = true,
        }
    }
    violations
}

/// Client observations, in join order: users seen ACTIVE before someone
/// ahead of them (or any user seen waiting as late as `ahead`) was still
/// seen waiting.
fn seen_violations(rows: &[Row], ahead: Option<Instant>) -> u64 {
    let (mut violations, mut last_waiting) = (0u64, ahead);
    for (_, _, observed) in rows {
        if let (Some(active), Some(waiting)) = (observed.first_active_received, last_waiting) {
            if active < waiting {
                violations += 1;
            }
        }
        last_waiting = last_waiting.max(observed.last_waiting_sent);
    }
    violations
}

/// With a pre-queue: the PRE_QUEUE joiners in any order, then the later
/// joiners FIFO behind every one of them.
fn check_shuffled_order(rows: &[Row], dropped: u64, unknown: u64) -> Vec<Check> {
    let (pre, post): (Vec<Row>, Vec<Row>) = rows.iter().partition(|r| r.2.pre_queue_at_join);
    // Engine: every later joiner admitted no earlier than the last
    // pre-queue user, and none while a pre-queue user still waits.
    let pre_latest = pre.iter().filter_map(|r| r.1).max().unwrap_or(i64::MIN);
    let pre_waiting = pre.iter().any(|r| r.1.is_none());
    let engine_violations = fifo_violations(&post, pre_latest, pre_waiting);
    // Clients: no later joiner seen ACTIVE before a pre-queue user (or a
    // later joiner ahead of it) was still seen waiting.
    let pre_last_waiting = pre.iter().filter_map(|r| r.2.last_waiting_sent).max();
    let client_violations = seen_violations(&post, pre_last_waiting);
    let admitted = |rows: &[Row]| rows.iter().filter(|r| r.1.is_some()).count();
    let detail = format!(
        "{} pre-queue users ({} admitted, any order), then {} later joiners in join order ({} admitted); {dropped} dropped out (excluded), {unknown} without a token",
        pre.len(),
        admitted(&pre),
        post.len(),
        admitted(&post),
    );
    vec![
        Check::new(
            &format!("{SHUFFLE_CHECK} (engine record)"),
            engine_violations == 0 && unknown == 0,
            format!("{detail}; {engine_violations} later joiner(s) out of order"),
        ),
        Check::new(
            SHUFFLE_CHECK,
            client_violations == 0,
            format!("{detail}; {client_violations} later joiner(s) seen ACTIVE while a pre-queue user or an earlier joiner was still seen waiting"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn row(
        seq: u64,
        admitted_at: Option<i64>,
        pre: bool,
        base: Instant,
        waiting_ms: Option<u64>,
        active_ms: Option<u64>,
    ) -> Row {
        let at = |ms: u64| base + Duration::from_millis(ms);
        (
            seq,
            admitted_at,
            QueueObservation {
                last_waiting_sent: waiting_ms.map(at),
                first_active_received: active_ms.map(at),
                pre_queue_at_join: pre,
            },
        )
    }

    #[test]
    fn pre_queue_users_come_first_in_any_order_then_fifo() {
        let t = Instant::now();
        // Pre-queue users 1-3 admitted out of join order, then 4 and 5 FIFO.
        let rows = vec![
            row(1, Some(300), true, t, Some(250), Some(310)),
            row(2, Some(100), true, t, Some(50), Some(110)),
            row(3, Some(200), true, t, Some(150), Some(210)),
            row(4, Some(300), false, t, Some(260), Some(320)),
            row(5, Some(400), false, t, Some(350), Some(410)),
        ];
        let checks = check_shuffled_order(&rows, 0, 0);
        assert!(checks.iter().all(|c| c.ok), "{checks:?}");
        assert!(checks.iter().any(|c| c.name == SHUFFLE_CHECK));
    }

    #[test]
    fn a_later_joiner_ahead_of_a_pre_queue_user_is_caught() {
        let t = Instant::now();
        let rows = vec![
            row(1, Some(300), true, t, Some(250), Some(310)),
            row(2, Some(100), false, t, Some(50), Some(110)),
        ];
        let checks = check_shuffled_order(&rows, 0, 0);
        assert!(checks.iter().all(|c| !c.ok), "{checks:?}");
    }

    #[test]
    fn later_joiners_stay_fifo() {
        let t = Instant::now();
        let rows = vec![
            row(1, Some(100), true, t, Some(50), Some(110)),
            row(2, Some(300), false, t, Some(250), Some(310)),
            row(3, Some(200), false, t, Some(150), Some(210)),
        ];
        let checks = check_shuffled_order(&rows, 0, 0);
        assert!(checks.iter().all(|c| !c.ok), "{checks:?}");
    }
}
