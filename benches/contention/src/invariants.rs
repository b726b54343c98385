//! The end-of-run checks. A run passes only if every one holds; the harness
//! exits non-zero otherwise.
//!
//! They compare two views: the engine's (every actor's state, exported once
//! the clients have stopped) and the clients' (what the engine acknowledged
//! to them). Requests whose outcome the client never learned (a transport
//! error, an unexpected answer) are counted, and the money checks then
//! accept any total between "none of them happened" and "all did".
//!
//! - no oversell: no seat in two live reservations (recomputed here from the
//!   reservations, not read from the seat table), sold seats == seats of
//!   confirmed reservations, the engine's own `check_invariants`, no payment
//!   left between saga steps, and no seat in two paid reservations the
//!   clients were told about;
//! - money balances: every wallet's balance == charges − payments + refunds
//!   (and its own invariants), the totals equal what clients were told, and
//!   money kept == the price of confirmed seats (+ refunds still owed);
//! - admission order equals join order among users who did not drop out.

use boxoffice_actors::queue_actor::{ExportQueueState, QueueState};
use boxoffice_actors::schedule_actor::{ExportState, ScheduleState};
use boxoffice_actors::wallet_actor::{ExportWallets, WalletShardState};
use boxoffice_actors::Registry;
use boxoffice_engine::ids::*;
use boxoffice_engine::queue::{Queue, TokenStatus};
use boxoffice_engine::schedule::ReservationStatus;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    fn new(name: &str, ok: bool, detail: impl Into<String>) -> Check {
        Check {
            name: name.to_string(),
            ok,
            detail: detail.into(),
        }
    }
}

/// Every actor's state, exported after the clients stopped.
pub struct EngineState {
    pub schedules: BTreeMap<ScheduleId, ScheduleState>,
    pub wallets: Vec<WalletShardState>,
    pub queue: QueueState,
}

pub async fn export(registry: &Registry) -> Result<EngineState, String> {
    let mut schedules = BTreeMap::new();
    for id in registry.schedule_ids() {
        let handle = registry.schedule(id).map_err(|e| e.to_string())?;
        let state = handle
            .actor
            .query(ExportState)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("schedule {id} has no state loaded"))?;
        schedules.insert(id, state);
    }
    let mut wallets = Vec::new();
    for shard in registry.wallet_shards() {
        wallets.push(
            shard
                .query(ExportWallets)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let queue = registry
        .queue()
        .query(ExportQueueState)
        .await
        .map_err(|e| e.to_string())?;
    Ok(EngineState {
        schedules,
        wallets,
        queue,
    })
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

/// Seats and reservations of every schedule.
pub fn check_schedules(state: &EngineState) -> Vec<Check> {
    let mut engine_errors = Vec::new();
    let (mut double, mut sold_mismatch, mut stuck) = (0u64, Vec::new(), 0u64);
    for (id, s) in &state.schedules {
        let schedule = &s.schedule;
        if let Err(why) = schedule.check_invariants() {
            engine_errors.push(format!("{id}: {why}"));
        }
        let mut taken = vec![false; schedule.seat_count() as usize];
        let mut confirmed_seats = 0u64;
        for reservation in schedule.reservations() {
            if matches!(reservation.status, ReservationStatus::PaymentPending { .. }) {
                stuck += 1;
            }
            if matches!(reservation.status, ReservationStatus::Confirmed { .. }) {
                confirmed_seats += reservation.seats.len() as u64;
            }
            if reservation.status.is_live() {
                for seat in &reservation.seats {
                    match taken.get_mut(seat.0 as usize) {
                        Some(cell) if *cell => double += 1,
                        Some(cell) => *cell = true,
                        None => double += 1,
                    }
                }
            }
        }
        let sold = u64::from(schedule.counts().sold);
        if sold != confirmed_seats {
            sold_mismatch.push(format!(
                "{id}: {sold} sold, {confirmed_seats} in confirmed reservations"
            ));
        }
    }
    vec![
        Check::new(
            "oversell: no seat in two live reservations",
            double == 0,
            format!(
                "{double} double-booked seat(s) over {} schedule(s)",
                state.schedules.len()
            ),
        ),
        Check::new(
            "oversell: sold seats == seats of confirmed reservations",
            sold_mismatch.is_empty(),
            if sold_mismatch.is_empty() {
                "equal on every schedule".to_string()
            } else {
                sold_mismatch.join("; ")
            },
        ),
        Check::new(
            "engine: Schedule::check_invariants",
            engine_errors.is_empty(),
            if engine_errors.is_empty() {
                "every schedule consistent".to_string()
            } else {
                engine_errors.join("; ")
            },
        ),
        Check::new(
            "saga: no payment left between steps",
            stuck == 0,
            format!("{stuck} reservation(s) PaymentPending after the clients stopped"),
        ),
    ]
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

/// Wallets against their ledgers, the acknowledgements, and the seats sold.
pub fn check_money(state: &EngineState, acks: &MoneyAcks) -> Vec<Check> {
    let (mut charged, mut used, mut refunded, mut balance) = (0i64, 0i64, 0i64, 0i64);
    let mut broken = Vec::new();
    let mut wallets = 0usize;
    for wallet in state.wallets.iter().flat_map(|s| s.wallets.values()) {
        wallets += 1;
        let expected = wallet.total_charged().0 - wallet.total_used().0 + wallet.total_refunded().0;
        if let Err(why) = wallet.check_invariants() {
            broken.push(format!("{}: {why}", wallet.user()));
        } else if wallet.balance().0 != expected {
            broken.push(format!(
                "{}: balance {} != {expected}",
                wallet.user(),
                wallet.balance().0
            ));
        }
        charged += wallet.total_charged().0;
        used += wallet.total_used().0;
        refunded += wallet.total_refunded().0;
        balance += wallet.balance().0;
    }
    let load = |a: &AtomicI64| a.load(Ordering::Relaxed);
    let (a_charged, a_paid, a_refunded) =
        (load(&acks.charged), load(&acks.paid), load(&acks.refunded));
    let (u_charge, u_paid, u_refund) = (
        load(&acks.unknown_charge),
        load(&acks.unknown_paid),
        load(&acks.unknown_refund),
    );
    let (mut confirmed, mut owed) = (0i64, 0i64);
    for reservation in state
        .schedules
        .values()
        .flat_map(|s| s.schedule.reservations())
    {
        match reservation.status {
            ReservationStatus::Confirmed { .. } => confirmed += reservation.amount.0,
            ReservationStatus::Cancelled => {
                if let Some(refund) = reservation.refund.as_ref().filter(|r| !r.settled) {
                    owed += refund.amount.0;
                }
            }
            _ => {}
        }
    }
    vec![
        Check::new(
            "money: every balance == charges − payments + refunds",
            broken.is_empty() && balance == charged - used + refunded,
            if broken.is_empty() {
                format!("{wallets} wallet(s); total balance {balance} = {charged} − {used} + {refunded}")
            } else {
                broken.join("; ")
            },
        ),
        Check::new(
            "money: wallet totals == acknowledged charges, payments, refunds",
            within(charged, a_charged, u_charge)
                && within(used, a_paid, u_paid)
                && within(refunded, a_refunded, u_refund),
            format!(
                "charged {charged} (acked {a_charged} + ≤{u_charge} unknown), paid {used} (acked {a_paid} + ≤{u_paid}), refunded {refunded} (acked {a_refunded} + ≤{u_refund}); {} request(s) without an answer",
                acks.unknown_requests.load(Ordering::Relaxed)
            ),
        ),
        Check::new(
            "money: payments − refunds == price of confirmed seats + refunds owed",
            used - refunded == confirmed + owed,
            format!("{used} − {refunded} vs {confirmed} confirmed + {owed} owed"),
        ),
    ]
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
