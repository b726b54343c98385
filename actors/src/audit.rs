//! The engine's invariants, checked from outside over an export of every
//! actor's state: the one checker that the simulation, the kill tests, the
//! `load` subcommand and the contention harness share, so "no seat sold
//! twice" and "no money created or lost" mean the same thing everywhere.
//!
//! [`export`] asks every actor for its state; [`check_at_rest`] judges it. It
//! is meant for a moment when no request is in flight (clients stopped, or
//! just after recovery): a payment between saga steps is then a defect, and
//! money kept must equal the price of what was sold. Each check is a
//! [`Check`] with a name, a verdict and a detail, so a caller can print all
//! of them (the harness writes them into its JSON report) or fail on the
//! first. Checks that need the clients' view (what was acknowledged) stay
//! with the caller: this module sees only the engine.
//!
//! Archived reservations (ended ones that left a schedule's memory) are not
//! in the export. That leaves every check below exact: an archived
//! reservation holds no seat, and its payments and refunds cancel out.

use boxoffice_engine::ids::ScheduleId;
use boxoffice_engine::schedule::ReservationStatus;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::error::{EngineError, EngineResult, Missing};
use crate::queue_actor::{ExportQueueState, QueueState};
use crate::schedule_actor::{ExportState, ScheduleState};
use crate::wallet_actor::{ExportWallets, WalletShardState};
use crate::Registry;

/// Every actor's durable state, exported at one moment.
#[derive(Debug, PartialEq)]
pub struct EngineState {
    pub schedules: BTreeMap<ScheduleId, ScheduleState>,
    pub wallets: Vec<WalletShardState>,
    pub queue: QueueState,
}

/// Asks every schedule, wallet shard and the queue actor for its state.
pub async fn export(registry: &Registry) -> EngineResult<EngineState> {
    let mut schedules = BTreeMap::new();
    for id in registry.schedule_ids() {
        let handle = registry.schedule(id)?;
        let state = handle
            .actor
            .query(ExportState)
            .await?
            .ok_or(EngineError::NotFound(Missing::Schedule))?;
        schedules.insert(id, state);
    }
    let mut wallets = Vec::new();
    for shard in registry.wallet_shards() {
        wallets.push(shard.query(ExportWallets).await?);
    }
    let queue = registry.queue().query(ExportQueueState).await?;
    Ok(EngineState {
        schedules,
        wallets,
        queue,
    })
}

/// One invariant's verdict.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    pub fn new(name: &str, ok: bool, detail: impl Into<String>) -> Check {
        Check {
            name: name.to_string(),
            ok,
            detail: detail.into(),
        }
    }

    /// A check over many items: passes when `broken` is empty, else names them.
    fn all(name: &str, broken: Vec<String>, fine: impl Into<String>) -> Check {
        let ok = broken.is_empty();
        Check::new(name, ok, if ok { fine.into() } else { broken.join("; ") })
    }
}

/// The failed checks, one line each; `Ok` when every check passed.
pub fn verdict(checks: &[Check]) -> Result<(), String> {
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("\n"))
    }
}

/// Every engine invariant that holds when nothing is in flight.
pub fn check_at_rest(state: &EngineState) -> Vec<Check> {
    let mut checks = check_schedules(state);
    checks.extend(check_money(state));
    checks.push(check_queues(&state.queue));
    checks
}

/// Seats and reservations of every schedule; the names are those of the
/// harness's JSON report, which other tools read.
pub fn check_schedules(state: &EngineState) -> Vec<Check> {
    let (mut engine_errors, mut double, mut sold_mismatch) = (Vec::new(), Vec::new(), Vec::new());
    let mut stuck = 0u64;
    for (id, s) in &state.schedules {
        let schedule = &s.schedule;
        if let Err(why) = schedule.check_invariants() {
            engine_errors.push(format!("{id}: {why}"));
        }
        // Recomputed from the reservations, independent of the seat table
        // that `check_invariants` trusts.
        let mut owner = vec![None; schedule.seat_count() as usize];
        let mut confirmed_seats = 0u64;
        for reservation in schedule.reservations() {
            match reservation.status {
                ReservationStatus::PaymentPending { .. } => stuck += 1,
                ReservationStatus::Confirmed { .. } => {
                    confirmed_seats += reservation.seats.len() as u64
                }
                _ => {}
            }
            if !reservation.status.is_live() {
                continue;
            }
            for seat in &reservation.seats {
                match owner.get_mut(seat.0 as usize) {
                    Some(Some(other)) => double.push(format!(
                        "{id}: seat {} in {other} and {}",
                        schedule.seat_id(*seat),
                        reservation.id
                    )),
                    Some(cell) => *cell = Some(reservation.id),
                    None => double.push(format!("{id}: seat index {} out of range", seat.0)),
                }
            }
        }
        // The public counts show blocked seats as sold; no reservation holds them.
        // A checked subtraction: more blocked than "sold" is itself a broken
        // invariant to report, not an overflow to panic on in the checker.
        let Some(sold) = schedule.counts().sold.checked_sub(schedule.blocked_count()) else {
            sold_mismatch.push(format!(
                "{id}: {} blocked seats but only {} counted sold",
                schedule.blocked_count(),
                schedule.counts().sold
            ));
            continue;
        };
        let sold = u64::from(sold);
        if sold != confirmed_seats {
            sold_mismatch.push(format!(
                "{id}: {sold} sold, {confirmed_seats} in confirmed reservations"
            ));
        }
    }
    let schedules = state.schedules.len();
    vec![
        Check::all(
            "oversell: no seat in two live reservations",
            double,
            format!("0 double-booked seat(s) over {schedules} schedule(s)"),
        ),
        Check::all(
            "oversell: sold seats == seats of confirmed reservations",
            sold_mismatch,
            "equal on every schedule",
        ),
        Check::all(
            "engine: Schedule::check_invariants",
            engine_errors,
            "every schedule consistent",
        ),
        Check::new(
            "saga: no payment left between steps",
            stuck == 0,
            format!("{stuck} reservation(s) PaymentPending"),
        ),
    ]
}

/// Wallets against their ledgers, and money kept against seats sold.
pub fn check_money(state: &EngineState) -> Vec<Check> {
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
    if balance != charged - used + refunded {
        broken.push(format!(
            "total balance {balance} != {charged} − {used} + {refunded}"
        ));
    }
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
        Check::all(
            "money: every balance == charges − payments + refunds",
            broken,
            format!(
                "{wallets} wallet(s); total balance {balance} = {charged} − {used} + {refunded}"
            ),
        ),
        Check::new(
            "money: payments − refunds == price of confirmed seats + refunds owed",
            used - refunded == confirmed + owed,
            format!("{used} − {refunded} vs {confirmed} confirmed + {owed} owed"),
        ),
    ]
}

/// Every waiting room's own invariants.
pub fn check_queues(queue: &QueueState) -> Check {
    let broken = queue
        .queues
        .iter()
        .filter_map(|(id, q)| q.check_invariants().err().map(|why| format!("{id}: {why}")))
        .collect();
    Check::all(
        "queue: every waiting room consistent",
        broken,
        format!("{} waiting room(s)", queue.queues.len()),
    )
}
