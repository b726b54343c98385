//! The seeded workload: one operation at a time, chosen from the model's
//! state, sent through the same `Registry` operations the HTTP API calls, its
//! answer checked against the model (an online oracle: a hold never overlaps
//! a seat the model says is taken, a funded payment is never declined, a
//! replayed key answers exactly as the first time) and then recorded.
//!
//! An answer on a live store is a fact. An answer (or silence) after the store
//! died is not: the operation goes into `Model::in_flight`, its key is burned,
//! and the checks after the restart decide what it did.

use boxoffice_actors::idempotency::Endpoint;
use boxoffice_actors::queue_actor::{DurableBarrier, ExportQueueState};
use boxoffice_actors::queue_board::QueuePass;
use boxoffice_actors::receipt::{HoldReceipt, StoredReply};
use boxoffice_actors::schedule_actor::ExpireNow;
use boxoffice_actors::{Clock, EngineError, EngineResult, HoldCommand, PayCommand};
use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::SeatSelection;
use boxoffice_engine::wallet::{DEFAULT_BALANCE_CAP, DEFAULT_MAX_CHARGE};
use boxoffice_engine::Money;
use rand::Rng;
use std::future::Future;

use super::crash::CrashPoint;
use super::keys::{choose_key, replay_key, settle_key, KeyExpect, Keyed};
use super::model::*;
use super::world::World;

/// How a call ended, from the model's point of view.
pub enum Answer<T> {
    /// Answered on a live store (or a success, which is acknowledged whenever it comes): a fact.
    Known(EngineResult<T>),
    /// The store died before the answer: it may or may not have happened.
    Unknown,
}

/// Runs a call and classifies its answer. Every answer but an
/// infrastructure error is a fact whenever it comes: the engine answers only
/// once what it decided is durable. A storage error or "unavailable" means
/// "unknown" if the store died, and is a failure on a live store (nothing was
/// injected); an internal error is always a failure.
pub async fn call<T>(
    w: &World,
    what: &str,
    fut: impl Future<Output = EngineResult<T>>,
) -> Answer<T> {
    match w.run(what, fut).await {
        None => Answer::Unknown,
        Some(Err(err @ EngineError::Internal(_))) => panic!("{what}: {err:?}"),
        Some(Err(err @ (EngineError::Storage(_) | EngineError::Unavailable))) => {
            assert!(w.store.is_dead(), "{what}: {err:?} on a healthy store");
            Answer::Unknown
        }
        Some(answer) => Answer::Known(answer),
    }
}

/// The answer never came: the operation is in flight, its new key burned.
pub fn lost(w: &mut World, in_flight: InFlight, keyed: Option<Keyed>) {
    if let Some(keyed) = keyed {
        if matches!(keyed.expect, KeyExpect::Proceed) {
            w.model.keys.insert(keyed.id, KeyState::Burned);
        }
    }
    w.trace
        .push(format!("  -> no answer: the store died ({in_flight:?})"));
    w.stats.in_flight += 1;
    w.model.in_flight = Some(in_flight);
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Charge,
    HoldIds,
    HoldBest,
    Release,
    Pay,
    CancelPaid,
    Advance,
    Join,
    Poll,
    Tick,
    CheckIn,
    Replay,
    Read,
    Block,
    Unblock,
    Comp,
    CancelSchedule,
}

const WEIGHTS: [(Kind, u32); 17] = [
    (Kind::Charge, 12),
    (Kind::HoldIds, 10),
    (Kind::HoldBest, 7),
    (Kind::Release, 5),
    (Kind::Pay, 14),
    (Kind::CancelPaid, 4),
    (Kind::Advance, 7),
    (Kind::Join, 8),
    (Kind::Poll, 3),
    (Kind::Tick, 2),
    (Kind::CheckIn, 4),
    (Kind::Replay, 5),
    (Kind::Read, 4),
    (Kind::Block, 4),
    (Kind::Unblock, 2),
    (Kind::Comp, 2),
    // Drawn often, run rarely: see `admin::cancel_schedule`.
    (Kind::CancelSchedule, 2),
];

/// Runs one seeded operation. `pay_crash`, when set, is armed right before
/// the next payment that is likely to go through (and then cleared).
pub async fn step(w: &mut World, pay_crash: &mut Option<CrashPoint>) {
    let total: u32 = WEIGHTS.iter().map(|(_, weight)| weight).sum();
    let mut roll = w.rng.gen_range(0..total);
    let kind = WEIGHTS
        .iter()
        .find(|(_, weight)| {
            let hit = roll < *weight;
            roll = roll.saturating_sub(*weight);
            hit
        })
        .map(|(kind, _)| *kind)
        .expect("the roll is below the total weight");
    let ran = match kind {
        Kind::Charge => charge(w).await,
        Kind::HoldIds => hold(w, false).await,
        Kind::HoldBest => hold(w, true).await,
        Kind::Release => release(w).await,
        Kind::Pay => pay(w, pay_crash).await,
        Kind::CancelPaid => cancel_paid(w).await,
        Kind::Advance => advance(w).await,
        Kind::Join => join(w).await,
        Kind::Poll => poll(w).await,
        Kind::Tick => tick(w).await,
        Kind::CheckIn => check_in(w).await,
        Kind::Replay => replay(w).await,
        Kind::Read => read(w).await,
        Kind::Block => super::admin::block(w).await,
        Kind::Unblock => super::admin::unblock(w).await,
        Kind::Comp => super::admin::comp(w).await,
        Kind::CancelSchedule => super::admin::cancel_schedule(w).await,
    };
    if !ran {
        // Nothing to act on yet (no hold to pay, no ticket to scan): make some.
        hold(w, false).await;
    }
}

async fn charge(w: &mut World) -> bool {
    let user = w.pick_user();
    let amount = match w.rng.gen_range(0..25) {
        0 => Money(0),
        1 => Money(-w.rng.gen_range(1..=1_000)),
        2 => Money(DEFAULT_MAX_CHARGE.0 + 1),
        _ => Money(w.rng.gen_range(1..=300) * 500),
    };
    let keyed = choose_key(w, user, Endpoint::Charges, format!("charge {amount}"));
    w.trace.push(format!(
        "charge {user} {amount} key={:?}",
        keyed.as_ref().map(|k| &k.id.key)
    ));
    let tag = keyed.as_ref().map(Keyed::tag);
    let now = w.clock.now();
    match call(w, "charge", w.registry.charge(user, amount, tag)).await {
        Answer::Known(answer) => {
            w.trace.push(format!("  -> {answer:?}"));
            let request = KeyedRequest::Charge { amount };
            if !settle_key(w, keyed, &answer, StoredReply::Charge, request) {
                return true;
            }
            let balance = w.model.balance(user);
            let within_limits = amount.is_positive()
                && amount <= DEFAULT_MAX_CHARGE
                && balance
                    .checked_add(amount)
                    .is_some_and(|b| b <= DEFAULT_BALANCE_CAP)
                && w.model.charges_today(user, now) < w.config.wallet_limits.max_charges_per_day;
            match answer {
                Ok(receipt) => {
                    assert!(within_limits, "charge of {amount} accepted past the limits");
                    assert_eq!(receipt.amount, amount);
                    assert_eq!(
                        receipt.balance,
                        Money(balance.0 + amount.0),
                        "charge receipt balance disagrees with the acknowledged history"
                    );
                    assert_eq!(receipt.charged_at, now);
                    w.model
                        .record_charge(receipt.transaction_id, user, amount, now);
                }
                Err(err) => assert!(
                    !within_limits,
                    "a charge of {amount} within the limits was refused: {err:?}"
                ),
            }
        }
        Answer::Unknown => lost(w, InFlight::Charge { user, amount }, keyed),
    }
    true
}

async fn hold(w: &mut World, best: bool) -> bool {
    let schedule = w.model.schedules[w.rng.gen_range(0..w.model.schedules.len())].clone();
    let user = w.pick_user();
    let selection = if best {
        let grade = w
            .rng
            .gen_bool(0.3)
            .then(|| schedule.grades[w.rng.gen_range(0..schedule.grades.len())].clone());
        SeatSelection::BestAvailable {
            quantity: w.rng.gen_range(1..=4),
            grade,
            section_id: None,
        }
    } else {
        let count = w.rng.gen_range(1..=3);
        let mut seats: Vec<String> = Vec::new();
        while seats.len() < count.min(schedule.seat_ids.len()) {
            let seat = &schedule.seat_ids[w.rng.gen_range(0..schedule.seat_ids.len())];
            if !seats.contains(seat) {
                seats.push(seat.clone());
            }
        }
        SeatSelection::Ids(seats)
    };
    let queue_token = if schedule.gated && w.rng.gen_range(0..10) > 0 {
        w.model.tokens.get(&user).copied()
    } else {
        None
    };
    let body = format!("hold {} {selection:?}", schedule.id);
    let keyed = choose_key(w, user, Endpoint::Reservations, body);
    w.trace.push(format!(
        "hold {user} on {} {selection:?} token={queue_token:?} key={:?}",
        schedule.id,
        keyed.as_ref().map(|k| &k.id.key)
    ));
    let command = HoldCommand {
        schedule_id: schedule.id,
        selection: selection.clone(),
        queue_token,
        idem: keyed.as_ref().map(Keyed::tag),
    };
    match call(w, "hold", w.registry.hold(user, command)).await {
        Answer::Known(answer) => {
            w.trace.push(format!("  -> {answer:?}"));
            let request = KeyedRequest::Hold {
                schedule: schedule.id,
                selection: selection.clone(),
            };
            if settle_key(w, keyed, &answer, StoredReply::Hold, request) {
                let now = w.clock.now();
                super::oracle::check_hold(&w.model, &schedule, user, &selection, now, &answer);
                if let Ok(receipt) = answer {
                    let token = queue_token.filter(|_| schedule.gated);
                    record_hold(w, user, &schedule, &selection, token, receipt);
                }
            }
        }
        Answer::Unknown => lost(
            w,
            InFlight::Hold {
                user,
                schedule: schedule.id,
            },
            keyed,
        ),
    }
    true
}

/// Checks a new hold against the model (no seat the model says is taken,
/// the seats asked for, the per-user limit) and records it.
fn record_hold(
    w: &mut World,
    user: UserId,
    schedule: &ScheduleModel,
    selection: &SeatSelection,
    queue_token: Option<QueueTokenId>,
    receipt: HoldReceipt,
) {
    let now = w.clock.now();
    let seats: Vec<String> = receipt.seats.iter().map(|s| s.seat_id.clone()).collect();
    assert_eq!(receipt.schedule_id, schedule.id);
    match selection {
        SeatSelection::Ids(asked) => {
            let (mut asked, mut got) = (asked.clone(), seats.clone());
            asked.sort();
            got.sort();
            assert_eq!(got, asked, "a hold by ids took other seats");
        }
        SeatSelection::BestAvailable {
            quantity, grade, ..
        } => {
            assert_eq!(seats.len(), *quantity as usize, "best-available count");
            if let Some(grade) = grade {
                assert!(
                    receipt.seats.iter().all(|s| &s.grade == grade),
                    "best-available ignored the grade {grade}: {:?}",
                    receipt.seats
                );
            }
        }
    }
    let total: i64 = receipt.seats.iter().map(|s| s.price.0).sum();
    assert_eq!(
        receipt.total_amount,
        Money(total),
        "hold total is the sum of its seats"
    );
    assert!(receipt.expires_at > now, "a new hold is already expired");
    if let Some(seat) = seats.iter().find(|s| w.model.is_blocked(schedule.id, s)) {
        panic!("{} holds the blocked seat {seat}", receipt.reservation_id);
    }
    let mut user_seats = seats.len();
    for (id, other) in &w.model.reservations {
        if other.schedule != schedule.id || !other.occupies_seats(now) {
            continue;
        }
        if let Some(seat) = other.seats.iter().find(|s| seats.contains(s)) {
            panic!(
                "seat {seat} sold twice: held by {} although {id} ({:?}) holds it",
                receipt.reservation_id, other.status
            );
        }
        if other.user == user {
            user_seats += other.seats.len();
        }
    }
    assert!(
        user_seats <= schedule.max_seats_per_user as usize,
        "user {user} holds {user_seats} seats, over the limit {}",
        schedule.max_seats_per_user
    );
    let previous = w.model.reservations.insert(
        receipt.reservation_id,
        ReservationModel {
            schedule: schedule.id,
            user,
            seats,
            amount: receipt.total_amount,
            expires_at: receipt.expires_at,
            status: Status::Held,
            queue_token,
        },
    );
    assert!(
        previous.is_none(),
        "reservation id {} handed out twice",
        receipt.reservation_id
    );
}

/// Mostly the owner; sometimes another user, who must be told "not found".
fn owner_or_stranger(w: &mut World, owner: UserId) -> UserId {
    if w.rng.gen_range(0..10) == 0 {
        w.pick_user()
    } else {
        owner
    }
}

async fn release(w: &mut World) -> bool {
    let held = w.model.reservations_where(|r| r.status == Status::Held);
    let Some(id) = w.pick(&held) else {
        return false;
    };
    let reservation = w.model.reservations[&id].clone();
    let user = owner_or_stranger(w, reservation.user);
    let due = w.clock.now() >= reservation.expires_at;
    w.trace.push(format!("release {id} by {user} (due: {due})"));
    match call(w, "release", w.registry.cancel(user, id)).await {
        Answer::Known(Ok(receipt)) => {
            w.trace
                .push(format!("  -> released, refund {}", receipt.refund_amount));
            assert_eq!(user, reservation.user, "a stranger released {id}");
            assert!(!due, "{id} was released after its deadline");
            assert_eq!(receipt.refund_amount, Money::ZERO, "a hold refunds nothing");
            w.model
                .reservations
                .get_mut(&id)
                .expect("in the model")
                .status = Status::Cancelled { refund: None };
        }
        Answer::Known(Err(err)) => {
            w.trace.push(format!("  -> {err:?}"));
            assert!(
                user != reservation.user || due,
                "the owner could not release a live hold {id}: {err:?}"
            );
        }
        Answer::Unknown => lost(w, InFlight::Release(id), None),
    }
    true
}

async fn pay(w: &mut World, pay_crash: &mut Option<CrashPoint>) -> bool {
    let now = w.clock.now();
    let held = w.model.reservations_where(|r| r.status == Status::Held);
    // With a crash planned inside a payment, pick one that will run the whole saga.
    let payable: Vec<ReservationId> = held
        .iter()
        .copied()
        .filter(|id| {
            let r = &w.model.reservations[id];
            now < r.expires_at
                && w.model.balance(r.user) >= r.amount
                && !w.model.schedule(r.schedule).gated
        })
        .collect();
    let planned = pay_crash.is_some() && !payable.is_empty();
    let Some(id) = w.pick(if planned { &payable } else { &held }) else {
        return false;
    };
    let reservation = w.model.reservations[&id].clone();
    let gated = w.model.schedule(reservation.schedule).gated;
    let user = if planned {
        reservation.user
    } else {
        owner_or_stranger(w, reservation.user)
    };
    let amount = match w.rng.gen_range(0..10) {
        _ if planned => None,
        0 => Some(reservation.amount),
        1 => Some(Money(reservation.amount.0 + 500)),
        _ => None,
    };
    let queue_token = gated.then(|| w.model.tokens.get(&user).copied()).flatten();
    let keyed = choose_key(w, user, Endpoint::Payments, format!("pay {id} {amount:?}"));
    w.trace.push(format!(
        "pay {id} by {user} amount={amount:?} token={queue_token:?} key={:?} (balance {}, price {})",
        keyed.as_ref().map(|k| &k.id.key),
        w.model.balance(user),
        reservation.amount
    ));
    if planned {
        if let Some(point) = pay_crash.take() {
            w.arm(point);
        }
    }
    let command = PayCommand {
        reservation_id: id,
        amount,
        queue_token,
        idem: keyed.as_ref().map(Keyed::tag),
    };
    match call(w, "pay", w.registry.pay(user, command)).await {
        Answer::Known(answer) => {
            w.trace.push(format!("  -> {answer:?}"));
            let request = KeyedRequest::Pay {
                reservation: id,
                amount,
            };
            if !settle_key(w, keyed, &answer, StoredReply::Payment, request) {
                return true;
            }
            let balance = w.model.balance(user);
            // A gated hold is payable with the token it was made under, until
            // the hold expires, unless a payment ended that token.
            let queue_allows = !gated
                || (queue_token.is_some()
                    && queue_token == reservation.queue_token
                    && queue_token.is_some_and(|t| !w.model.ended_tokens.contains(&t)));
            let payable_now = user == reservation.user
                && now < reservation.expires_at
                && amount.is_none_or(|a| a == reservation.amount);
            let funded = balance >= reservation.amount;
            match answer {
                Ok(receipt) => {
                    assert!(payable_now, "payment of {id} accepted by {user} at {now:?}");
                    assert!(
                        funded,
                        "payment of {} accepted on a balance of {balance}",
                        reservation.amount
                    );
                    assert_eq!(receipt.reservation_id, id);
                    assert_eq!(receipt.amount, reservation.amount);
                    assert_eq!(
                        receipt.balance_after,
                        Money(balance.0 - reservation.amount.0)
                    );
                    assert_eq!(receipt.tickets.len(), reservation.seats.len());
                    let tickets = receipt.tickets.iter().map(|t| t.ticket_id).collect();
                    w.model.record_confirmed(id, receipt.payment_id, tickets);
                    if let Some(token) = queue_token.filter(|_| gated) {
                        w.model.ended_tokens.insert(token);
                    }
                    if gated && !w.tick_queue("queue after a gated payment").await {
                        // The payment stands; what the queue logged after it may not.
                        w.model.in_flight = Some(InFlight::NoNewEffect);
                    }
                }
                Err(EngineError::InsufficientBalance {
                    balance: told,
                    required,
                }) => {
                    assert!(payable_now, "{id} declined for funds but was not payable");
                    assert_eq!(
                        told, balance,
                        "declined on a balance the history disagrees with"
                    );
                    assert_eq!(required, reservation.amount);
                    assert!(!funded, "a funded payment was declined");
                }
                Err(err) => assert!(
                    !(payable_now && funded && queue_allows),
                    "a payable, funded hold {id} was refused: {err:?} (token {queue_token:?})"
                ),
            }
        }
        Answer::Unknown => {
            if let Some(token) = queue_token.filter(|_| gated) {
                // It may have ended the token: expect nothing of it any more.
                w.model.ended_tokens.insert(token);
            }
            lost(w, InFlight::Pay(id), keyed)
        }
    }
    true
}

async fn cancel_paid(w: &mut World) -> bool {
    let paid = w
        .model
        .reservations_where(|r| matches!(r.status, Status::Confirmed { .. }));
    let Some(id) = w.pick(&paid) else {
        return false;
    };
    let reservation = w.model.reservations[&id].clone();
    let user = owner_or_stranger(w, reservation.user);
    // A ticket used at the door cannot be handed back for money.
    let used = w
        .model
        .tickets
        .values()
        .any(|(of, used)| *of == id && *used);
    let cancellable = user == reservation.user && !used;
    w.trace.push(format!(
        "cancel paid {id} by {user} (a ticket used: {used})"
    ));
    match call(w, "cancel paid", w.registry.cancel(user, id)).await {
        Answer::Known(Ok(receipt)) => {
            w.trace
                .push(format!("  -> refund {}", receipt.refund_amount));
            assert!(
                cancellable,
                "{id} cancelled by {user} (owner {}, a ticket used: {used})",
                reservation.user
            );
            assert_eq!(receipt.refund_amount, reservation.amount, "refund of {id}");
            w.model.record_paid_cancel(id);
        }
        Answer::Known(Err(err)) => {
            w.trace.push(format!("  -> {err:?}"));
            assert!(!cancellable, "the owner could not cancel {id}: {err:?}");
        }
        Answer::Unknown => lost(w, InFlight::CancelPaid(id), None),
    }
    true
}

/// Moves the clock, then lets the queue tick and every schedule sweep at
/// once, so no actor's own timer finds due work at a random moment.
async fn advance(w: &mut World) -> bool {
    let ms = if w.rng.gen_bool(0.6) {
        w.rng.gen_range(100..=3_000)
    } else {
        w.rng.gen_range(3_000..=70_000)
    };
    let before = w.clock.now();
    w.clock.advance_ms(ms);
    let now = w.clock.now();
    w.trace.push(format!("advance {ms} ms to {now:?}"));
    // Crash points around the pre-queue's shuffle: the tick below shuffles
    // (and admits the first batch from it) when this step crosses opening.
    let opens_at = w.model.schedule(w.gated_schedule()).pre_queue_opens_at;
    let crosses_opening = opens_at.is_some_and(|at| before < at && at <= now);
    if crosses_opening && w.armed.is_none() && !w.store.is_dead() && w.rng.gen_bool(0.5) {
        let point = if w.rng.gen_bool(0.5) {
            CrashPoint::Appends(w.rng.gen_range(1..=2))
        } else {
            CrashPoint::Writes(w.rng.gen_range(1..=4))
        };
        w.trace
            .push("  crash point at the pre-queue shuffle".into());
        w.stats.shuffle_crashes_armed += 1;
        w.arm(point);
    }
    if !w.tick_queue("queue tick after advancing").await {
        w.model.in_flight = Some(InFlight::NoNewEffect);
        return true;
    }
    for schedule in w.schedule_ids() {
        let handle = w.registry.schedule(schedule).expect("schedule exists");
        match call(w, "expire", handle.actor.command(ExpireNow)).await {
            Answer::Known(Ok(expired)) => {
                w.trace.push(format!("  -> {schedule}: {expired} expired"));
                w.model.record_expiry(schedule, now);
            }
            Answer::Known(Err(err)) => panic!("expiry sweep of {schedule} refused: {err:?}"),
            Answer::Unknown => {
                lost(w, InFlight::NoNewEffect, None);
                return true;
            }
        }
    }
    true
}

async fn join(w: &mut World) -> bool {
    let user = w.pick_user();
    let gated = w.gated_schedule();
    w.trace.push(format!("join queue {user}"));
    match call(w, "join", w.registry.join_queue(user, gated)).await {
        Answer::Known(Ok(ticket)) => {
            w.trace.push(format!(
                "  -> {} {:?} created={}",
                ticket.view.token, ticket.view.status, ticket.created
            ));
            assert_eq!(ticket.view.user, user);
            assert_eq!(ticket.pass.user, user);
            w.model.tokens.insert(user, ticket.view.token);
            w.model.passes.insert(ticket.view.token, ticket.pass);
            // A join can make an admission due at once, which the queue's own
            // timer would run at a random moment: run it now instead.
            if !w.tick_queue("queue tick after a join").await {
                w.model.in_flight = Some(InFlight::NoNewEffect);
            }
        }
        Answer::Known(Err(err)) => panic!("joining the queue failed: {err:?}"),
        Answer::Unknown => lost(w, InFlight::Join(user), None),
    }
    true
}

/// A poll reads the schedule's board, never the queue actor, so no crash can
/// cut it. The board shows only what is durable, so it may lag the queue
/// actor's memory but never lead it: it never calls a token the queue holds
/// live invalid. Once everything staged is durable (a barrier), the two agree
/// exactly: live on the board if and only if live in the queue.
async fn poll(w: &mut World) -> bool {
    let known: Vec<QueuePass> = w.model.passes.values().copied().collect();
    let Some(pass) = w.pick(&known) else {
        return false;
    };
    let token = pass.token;
    w.trace.push(format!("poll {token} of {}", pass.user));
    let queue = w.registry.queue().clone();
    let settled = matches!(queue.command(DurableBarrier).await, Ok(()));
    let answer = w.registry.poll_queue(pass.user, &pass);
    let Ok(state) = queue.query(ExportQueueState).await else {
        return true; // the queue actor is restarting: nothing to compare
    };
    let live = state
        .queues
        .get(&pass.schedule_id)
        .and_then(|q| q.token(token))
        .is_some_and(|t| t.status.is_live());
    match answer {
        Ok(ticket) => {
            w.trace.push(format!("  -> {:?}", ticket.view.status));
            assert_eq!(ticket.view.user, pass.user, "token {token} changed hands");
            assert!(ticket.view.status.is_live());
            assert!(
                live || !settled,
                "the board shows {token} live, the queue (all durable) does not"
            );
        }
        Err(EngineError::QueueTokenInvalid) => {
            w.trace.push("  -> no longer current".into());
            assert!(!live, "an acknowledged live queue token {token} is unknown");
        }
        Err(err) => panic!("polling {token} failed: {err:?}"),
    }
    true
}

async fn tick(w: &mut World) -> bool {
    w.trace.push("tick queue".into());
    if !w.tick_queue("queue tick").await {
        w.model.in_flight = Some(InFlight::NoNewEffect);
    }
    true
}

async fn check_in(w: &mut World) -> bool {
    let tickets: Vec<TicketId> = w.model.tickets.keys().copied().collect();
    let Some(ticket) = w.pick(&tickets) else {
        return false;
    };
    let (reservation, used) = w.model.tickets[&ticket];
    let status = w.model.reservations[&reservation].status.clone();
    let valid = matches!(status, Status::Confirmed { .. });
    w.trace
        .push(format!("check in {ticket} (used: {used}, valid: {valid})"));
    match call(w, "check-in", w.registry.check_in(ticket)).await {
        Answer::Known(answer) => {
            w.trace.push(format!("  -> {answer:?}"));
            match answer {
                Ok(_) => {
                    assert!(
                        valid && !used,
                        "ticket {ticket} checked in twice or while void"
                    );
                    w.model.tickets.get_mut(&ticket).expect("in the model").1 = true;
                }
                Err(EngineError::TicketAlreadyUsed { .. }) => {
                    assert!(valid && used, "ticket {ticket} refused as used but was not")
                }
                Err(EngineError::InvalidTicket) => {
                    assert!(!valid, "a valid ticket {ticket} refused as invalid")
                }
                Err(err) => panic!("check-in of {ticket}: {err:?}"),
            }
        }
        Answer::Unknown => lost(w, InFlight::CheckIn(ticket), None),
    }
    true
}

/// Sends a decided keyed request again, word for word: the first reply, no new effect.
async fn replay(w: &mut World) -> bool {
    let decided: Vec<KeyId> = w
        .model
        .keys
        .iter()
        .filter(|(_, state)| matches!(state, KeyState::Decided { .. }))
        .map(|(id, _)| id.clone())
        .collect();
    if decided.is_empty() {
        return false;
    }
    let id = decided[w.rng.gen_range(0..decided.len())].clone();
    w.trace.push(format!("replay {id:?}"));
    if let Some(mismatch) = replay_key(w, &id).await {
        panic!("{mismatch}");
    }
    true
}

/// Reads a reservation back and compares it with the model.
async fn read(w: &mut World) -> bool {
    let all: Vec<ReservationId> = w.model.reservations.keys().copied().collect();
    let Some(id) = w.pick(&all) else {
        return false;
    };
    let model = w.model.reservations[&id].clone();
    w.trace.push(format!("read {id}"));
    match call(w, "read", w.registry.reservation(Some(model.user), id)).await {
        Answer::Known(Ok(view)) => {
            let seats: Vec<String> = view.seats.iter().map(|s| s.seat_id.clone()).collect();
            assert_eq!(seats, model.seats, "seats of {id}");
            assert_eq!(view.total_amount, model.amount, "amount of {id}");
            let tickets: Vec<TicketId> = view.tickets.iter().map(|t| t.ticket_id).collect();
            let refund = view.refund_amount;
            if let Err(why) =
                super::checks::status_matches(&model, view.status, &tickets, refund, w.clock.now())
            {
                panic!("reservation {id} read back wrong: {why}");
            }
        }
        Answer::Known(Err(err)) => panic!("acknowledged reservation {id} cannot be read: {err:?}"),
        Answer::Unknown => lost(w, InFlight::NoNewEffect, None),
    }
    true
}
