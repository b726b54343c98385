//! The workload's admin operations on a schedule: block, unblock and comp
//! seats, and cancel the whole schedule (its driver ending the reservations
//! in `cancel_batch`-sized batches and paying each batch's refunds).
//!
//! Each answer is checked against the model like the fans' operations
//! (`workload.rs`): a block only of free seats on a live schedule, an
//! unblock or comp only of blocked seats, the cancellation's summary equal
//! to what the model holds. Crash points are aimed inside these writes: a
//! block or comp's one append, and the cancellation's chain of appends (the
//! `ScheduleCancelled` record, each `CancellationBatch`, the wallets'
//! refunds, their settlement), so restarts land between any two of them.

use boxoffice_actors::error::Missing;
use boxoffice_actors::schedule_actor::{CompSeats, ExpireNow, GetUnfinishedWork};
use boxoffice_actors::{Clock, EngineError, PayCommand};
use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::ReservationStatus;
use boxoffice_engine::Money;
use rand::Rng;
use std::time::{Duration, Instant};

use super::crash::CrashPoint;
use super::model::*;
use super::workload::{call, lost, Answer};
use super::world::{World, OPERATION_TIMEOUT};

/// Reasons a box office gives (API.md: 1-200 bytes).
const REASONS: [&str; 3] = ["sound desk", "camera platform", "artist's guests"];
/// One seed in this many may cancel a schedule (once): cancelling ends
/// every reservation of one of the three schedules, which would starve the
/// rest of the workload if it came on every seed.
const CANCEL_ONE_SEED_IN: u64 = 3;
/// No cancellation before this many operations: there must be holds to
/// release and payments to refund.
const CANCEL_AFTER_OPS: u64 = 30;
/// Chance of aiming a crash point inside a cancellation / a block write.
const CANCEL_CRASH_CHANCE: f64 = 0.6;
const BLOCK_CRASH_CHANCE: f64 = 0.1;
/// Chance that a payment races the cancel (see `cancel_schedule`).
const RACING_PAYMENT_CHANCE: f64 = 0.5;
/// How often the workload looks whether the cancellation driver is done.
const DRIVER_POLL: Duration = Duration::from_millis(1);

fn pick_schedule(w: &mut World) -> ScheduleModel {
    w.model.schedules[w.rng.gen_range(0..w.model.schedules.len())].clone()
}

/// 1-2 distinct seats of `schedule`, mostly from `preferred` when it has any.
fn pick_seats(w: &mut World, schedule: &ScheduleModel, preferred: &[String]) -> Vec<String> {
    let count = w.rng.gen_range(1..=2);
    let mut seats: Vec<String> = Vec::new();
    for _ in 0..count {
        let from = if !preferred.is_empty() && w.rng.gen_range(0..5) > 0 {
            preferred
        } else {
            &schedule.seat_ids
        };
        let seat = from[w.rng.gen_range(0..from.len())].clone();
        if !seats.contains(&seat) {
            seats.push(seat);
        }
    }
    seats
}

/// Now and then, a crash point on the next write (a block's or comp's one append).
fn maybe_aim_at_block(w: &mut World) {
    if w.armed.is_none() && !w.store.is_dead() && w.rng.gen_bool(BLOCK_CRASH_CHANCE) {
        let point = if w.rng.gen_bool(0.5) {
            CrashPoint::Appends(1)
        } else {
            CrashPoint::Writes(w.rng.gen_range(1..=3))
        };
        w.trace.push("  crash point at a block write".into());
        w.stats.block_crashes_armed += 1;
        w.arm(point);
    }
}

fn blocked_list(w: &World, schedule: ScheduleId) -> Vec<(String, String)> {
    w.model.blocks_of(schedule)
}

pub async fn block(w: &mut World) -> bool {
    let schedule = pick_schedule(w);
    let seats = pick_seats(w, &schedule, &[]);
    let reason = REASONS[w.rng.gen_range(0..REASONS.len())].to_string();
    let taken = w.model.taken_seats(schedule.id, w.clock.now());
    let busy: Vec<String> = seats
        .iter()
        .filter(|s| taken.contains(*s))
        .cloned()
        .collect();
    let cancelled = w.model.cancelled.contains(&schedule.id);
    w.trace
        .push(format!("block {seats:?} of {} ({reason})", schedule.id));
    maybe_aim_at_block(w);
    let answer = call(
        w,
        "block",
        w.registry
            .block_seats(schedule.id, seats.clone(), reason.clone()),
    )
    .await;
    match answer {
        Answer::Known(answer) => {
            w.trace.push(format!("  -> {answer:?}"));
            match answer {
                Ok(list) => {
                    assert!(!cancelled, "seats blocked on the cancelled {}", schedule.id);
                    assert!(busy.is_empty(), "taken seats {busy:?} were blocked");
                    let blocked = w.model.blocked.entry(schedule.id).or_default();
                    for seat in &seats {
                        blocked.insert(seat.clone(), reason.clone());
                    }
                    assert_eq!(
                        list,
                        blocked_list(w, schedule.id),
                        "the blocks after a block"
                    );
                    w.stats.blocks += 1;
                }
                Err(EngineError::ScheduleCancelled) => {
                    assert!(cancelled, "block refused as cancelled on a live schedule");
                    w.stats.admin_refusals += 1;
                }
                Err(EngineError::SeatUnavailable(refused)) => {
                    assert!(!cancelled, "block on a cancelled schedule: {refused:?}");
                    assert_eq!(refused, busy, "the seats a block was refused for");
                    w.stats.admin_refusals += 1;
                }
                Err(err) => panic!("block of {seats:?}: {err:?}"),
            }
        }
        Answer::Unknown => {
            w.stats.block_crashes_fired += 1;
            lost(
                w,
                InFlight::Block {
                    schedule: schedule.id,
                    seats,
                    reason,
                },
                None,
            )
        }
    }
    true
}

pub async fn unblock(w: &mut World) -> bool {
    let schedule = pick_schedule(w);
    let blocked: Vec<String> = blocked_list(w, schedule.id)
        .into_iter()
        .map(|(seat, _)| seat)
        .collect();
    let seats = pick_seats(w, &schedule, &blocked);
    let not_blocked: Vec<String> = seats
        .iter()
        .filter(|s| !blocked.contains(*s))
        .cloned()
        .collect();
    w.trace
        .push(format!("unblock {seats:?} of {}", schedule.id));
    maybe_aim_at_block(w);
    let answer = call(
        w,
        "unblock",
        w.registry.unblock_seats(schedule.id, seats.clone()),
    )
    .await;
    match answer {
        Answer::Known(answer) => {
            w.trace.push(format!("  -> {answer:?}"));
            match answer {
                Ok(list) => {
                    assert!(
                        not_blocked.is_empty(),
                        "unblocked {not_blocked:?}, never blocked"
                    );
                    let entry = w.model.blocked.entry(schedule.id).or_default();
                    for seat in &seats {
                        entry.remove(seat);
                    }
                    assert_eq!(
                        list,
                        blocked_list(w, schedule.id),
                        "the blocks after an unblock"
                    );
                    w.stats.unblocks += 1;
                }
                Err(EngineError::SeatsNotBlocked(refused)) => {
                    assert_eq!(refused, not_blocked, "the seats an unblock was refused for");
                    w.stats.admin_refusals += 1;
                }
                Err(err) => panic!("unblock of {seats:?}: {err:?}"),
            }
        }
        Answer::Unknown => {
            w.stats.block_crashes_fired += 1;
            lost(
                w,
                InFlight::Unblock {
                    schedule: schedule.id,
                    seats,
                },
                None,
            )
        }
    }
    true
}

/// A comp is sent to the schedule actor, not through `Registry::comp_seats`:
/// the simulation's users have no accounts (but in the mail simulation),
/// which that call requires (it is checked here too, as a refusal for a
/// user nobody registered, and over HTTP in tests/http).
pub async fn comp(w: &mut World) -> bool {
    let schedule = pick_schedule(w);
    let blocked: Vec<String> = blocked_list(w, schedule.id)
        .into_iter()
        .map(|(seat, _)| seat)
        .collect();
    let seats = pick_seats(w, &schedule, &blocked);
    let user = w.pick_user();
    if w.rng.gen_range(0..8) == 0 {
        // Someone nobody registered (the mail simulation gives the
        // workload's users accounts).
        let user = UserId::from_random_bytes(w.rng.gen());
        w.trace.push(format!(
            "comp {seats:?} of {} to {user} without an account",
            schedule.id
        ));
        match call(
            w,
            "comp without an account",
            w.registry.comp_seats(schedule.id, user, seats.clone()),
        )
        .await
        {
            Answer::Known(Err(EngineError::NotFound(Missing::User))) => w.stats.admin_refusals += 1,
            Answer::Known(other) => panic!("a comp to a user with no account: {other:?}"),
            Answer::Unknown => lost(w, InFlight::NoNewEffect, None),
        }
        return true;
    }
    let not_blocked: Vec<String> = seats
        .iter()
        .filter(|s| !blocked.contains(*s))
        .cloned()
        .collect();
    let cancelled = w.model.cancelled.contains(&schedule.id);
    w.trace
        .push(format!("comp {seats:?} of {} to {user}", schedule.id));
    maybe_aim_at_block(w);
    let handle = w.registry.schedule(schedule.id).expect("schedule exists");
    let command = CompSeats {
        user,
        seat_ids: seats.clone(),
    };
    match call(w, "comp", handle.actor.command(command)).await {
        Answer::Known(answer) => {
            w.trace.push(format!(
                "  -> {:?}",
                answer.as_ref().map(|v| v.reservation_id)
            ));
            match answer {
                Ok(view) => {
                    assert!(!cancelled, "a comp on the cancelled {}", schedule.id);
                    assert!(
                        not_blocked.is_empty(),
                        "comped {not_blocked:?}, never blocked"
                    );
                    let ReservationStatus::Confirmed { payment_id } = view.status else {
                        panic!("a comp is {:?}", view.status);
                    };
                    assert_eq!(view.user, user);
                    assert_eq!(view.total_amount, Money::ZERO, "a comp is free");
                    let got: Vec<String> = view.seats.iter().map(|s| s.seat_id.clone()).collect();
                    assert_eq!(got, seats, "the seats comped");
                    let tickets: Vec<TicketId> = view.tickets.iter().map(|t| t.ticket_id).collect();
                    assert_eq!(tickets.len(), seats.len(), "a ticket per comped seat");
                    w.model.record_comp(
                        view.reservation_id,
                        ReservationModel {
                            schedule: schedule.id,
                            user,
                            seats,
                            amount: Money::ZERO,
                            expires_at: view.expires_at,
                            status: Status::Confirmed {
                                payment_id,
                                tickets,
                            },
                            queue_token: None,
                        },
                    );
                    w.stats.comps += 1;
                }
                Err(EngineError::ScheduleCancelled) => {
                    assert!(cancelled, "comp refused as cancelled on a live schedule");
                    w.stats.admin_refusals += 1;
                }
                Err(EngineError::SeatsNotBlocked(refused)) => {
                    assert!(!cancelled, "a comp on a cancelled schedule: {refused:?}");
                    assert_eq!(refused, not_blocked, "the seats a comp was refused for");
                    w.stats.admin_refusals += 1;
                }
                Err(err) => panic!("comp of {seats:?}: {err:?}"),
            }
        }
        Answer::Unknown => {
            w.stats.block_crashes_fired += 1;
            lost(
                w,
                InFlight::Comp {
                    schedule: schedule.id,
                    user,
                    seats,
                },
                None,
            )
        }
    }
    true
}

/// Cancels one schedule, on one seed in [`CANCEL_ONE_SEED_IN`], once, and
/// waits for its driver (spawned by `Registry::cancel_schedule`, as in the
/// server) to end every reservation; a second cancel is then refused. Due
/// holds are swept first, so the model knows exactly which holds it releases.
pub async fn cancel_schedule(w: &mut World) -> bool {
    let allowed =
        w.seed.is_multiple_of(CANCEL_ONE_SEED_IN) && w.stats.operations >= CANCEL_AFTER_OPS;
    if !allowed {
        return false;
    }
    if let Some(&again) = w.model.cancelled.iter().next() {
        if w.rng.gen_range(0..4) > 0 {
            return false;
        }
        w.trace.push(format!("cancel schedule {again} again"));
        match call(w, "cancel again", w.registry.cancel_schedule(again)).await {
            Answer::Known(Err(EngineError::AlreadyCancelled)) => w.stats.admin_refusals += 1,
            Answer::Known(other) => panic!("a second cancel of {again}: {other:?}"),
            Answer::Unknown => lost(w, InFlight::NoNewEffect, None),
        }
        return true;
    }
    // The schedule with the most to end (holds and paid reservations), so
    // that its cancellation makes several batches and refunds.
    let schedule = w
        .model
        .schedules
        .iter()
        .map(|s| s.id)
        .max_by_key(|&id| {
            w.model
                .reservations
                .values()
                .filter(|r| {
                    r.schedule == id && matches!(r.status, Status::Held | Status::Confirmed { .. })
                })
                .count()
        })
        .expect("three schedules");
    let handle = w.registry.schedule(schedule).expect("schedule exists");
    let now = w.clock.now();
    w.trace.push(format!("cancel schedule {schedule}"));
    match call(w, "expire before cancel", handle.actor.command(ExpireNow)).await {
        Answer::Known(Ok(_)) => w.model.record_expiry(schedule, now),
        Answer::Known(Err(err)) => panic!("expiry sweep of {schedule} refused: {err:?}"),
        Answer::Unknown => {
            lost(w, InFlight::NoNewEffect, None);
            return true;
        }
    }
    let of_schedule = |pick: fn(&Status) -> bool| {
        w.model
            .reservations
            .values()
            .filter(|r| r.schedule == schedule && pick(&r.status))
            .map(|r| r.amount)
            .collect::<Vec<Money>>()
    };
    let holds = of_schedule(|s| *s == Status::Held).len() as u32;
    let paid = of_schedule(|s| matches!(s, Status::Confirmed { .. }));
    let paid_total = Money(paid.iter().map(|m| m.0).sum());
    // Now and then a payment races the cancel (sent at once, its saga's
    // steps interleaving with the cancel's as thread timing has it): then no
    // crash point is aimed, so that at most one operation is in flight.
    let payable: Vec<ReservationId> = w.model.reservations_where(|r| {
        r.schedule == schedule
            && r.status == Status::Held
            && !w.model.schedule(schedule).gated
            && w.model.balance(r.user) >= r.amount
    });
    let racing = if w.armed.is_none() && w.rng.gen_bool(RACING_PAYMENT_CHANCE) {
        w.pick(&payable)
    } else {
        None
    };
    // The cancellation's appends: its record, then per batch of
    // `cancel_batch` one batch record, the wallets' refunds (free ones are
    // not paid) and, if it refunded any, one settlement. A crash point on
    // any of them (the count is a close estimate: two refunds on one
    // wallet shard at once may share an append).
    let ended = holds as usize + paid.len();
    let batches = ended.div_ceil(w.config.cancel_batch);
    let wallet_refunds = paid.iter().filter(|m| m.is_positive()).count();
    let appends = 1 + batches + wallet_refunds + batches.min(paid.len());
    if racing.is_none() && w.armed.is_none() && w.rng.gen_bool(CANCEL_CRASH_CHANCE) {
        let n = w.rng.gen_range(1..=appends as u64);
        let point = if w.rng.gen_bool(0.8) {
            CrashPoint::Appends(n)
        } else {
            CrashPoint::Writes(w.rng.gen_range(1..=2 * n))
        };
        w.trace.push(format!(
            "  crash point inside the cancellation ({holds} holds, {} paid, {batches} batches, about {appends} appends)",
            paid.len()
        ));
        w.stats.cancel_crashes_armed += 1;
        w.arm(point);
    }
    let (paying, cancelled) = match racing {
        Some(id) => {
            let user = w.model.reservations[&id].user;
            w.trace
                .push(format!("  with a payment of {id} by {user} racing it"));
            w.stats.payments_racing_cancel += 1;
            let command = PayCommand {
                reservation_id: id,
                amount: None,
                queue_token: None,
                idem: None,
            };
            let (paying, cancelled) = futures_util::join!(
                call(w, "pay racing a cancel", w.registry.pay(user, command)),
                call(w, "cancel schedule", w.registry.cancel_schedule(schedule)),
            );
            (Some((id, paying)), cancelled)
        }
        None => (
            None,
            call(w, "cancel schedule", w.registry.cancel_schedule(schedule)).await,
        ),
    };
    // The racing payment: paid before the cancel or while it ran (then the
    // cancellation refunds it), or refused because the cancel came first.
    let mut raced_paid = false;
    if let Some((id, paying)) = paying {
        match paying {
            Answer::Known(Ok(receipt)) => {
                w.trace
                    .push(format!("  -> racing payment {}", receipt.payment_id));
                let tickets = receipt.tickets.iter().map(|t| t.ticket_id).collect();
                w.model.record_confirmed(id, receipt.payment_id, tickets);
                raced_paid = true;
            }
            Answer::Known(Err(EngineError::ScheduleCancelled)) => {
                w.trace
                    .push("  -> racing payment refused: cancelled".into());
            }
            Answer::Known(Err(err)) => panic!("a payment racing a cancel: {err:?}"),
            Answer::Unknown => panic!("the store died with no crash point armed"),
        }
    }
    match cancelled {
        Answer::Known(Ok(summary)) => {
            w.trace.push(format!("  -> {summary:?}"));
            // A racing payment that went through was, at the cancel, still a
            // hold (refused later: not this branch), in flight (counted in
            // neither) or paid (counted as paid).
            let counted = (
                summary.released_holds,
                summary.refunded_reservations as usize,
            );
            let fits = if raced_paid {
                counted == (holds - 1, paid.len()) || counted == (holds - 1, paid.len() + 1)
            } else {
                counted == (holds, paid.len())
            };
            assert!(
                fits,
                "the cancel's summary {summary:?} against {holds} holds and {} paid (a racing payment paid: {raced_paid})",
                paid.len()
            );
            if counted.1 == paid.len() {
                assert_eq!(summary.refunded_amount, paid_total, "the refund total");
            }
            // Acknowledged: durable, and the driver (or, after a crash, the
            // start-up's `resume_cancellations`) must finish it whole.
            w.model.record_schedule_cancelled(schedule);
            w.stats.cancellations += 1;
            if !wait_for_driver(w, schedule).await {
                // Inside the driver or just after its last record: the
                // restart's `cancellations_resumed` tells which.
                w.trace
                    .push("  -> the store died before the driver was seen done".into());
                w.stats.cancel_crashes_in_driver += 1;
                // Nothing new to adopt: the model already has the end state.
                w.model.in_flight = Some(InFlight::NoNewEffect);
            }
        }
        Answer::Known(Err(err)) => panic!("cancel of the live {schedule}: {err:?}"),
        Answer::Unknown => {
            w.stats.cancel_crashes_at_record += 1;
            lost(w, InFlight::CancelSchedule(schedule), None)
        }
    }
    true
}

/// Waits until the cancellation of `schedule` is finished; false if the
/// store died first (the driver stops; the restart resumes it).
pub async fn wait_for_driver(w: &World, schedule: ScheduleId) -> bool {
    let started = Instant::now();
    loop {
        if w.store.is_dead() {
            return false;
        }
        let handle = w.registry.schedule(schedule).expect("schedule exists");
        match handle.actor.query(GetUnfinishedWork).await {
            Ok(work) if !work.cancellation_unfinished => return true,
            _ if w.store.is_dead() => return false,
            Ok(_) => {}
            Err(err) => panic!("{schedule} while cancelling: {err:?}"),
        }
        assert!(
            started.elapsed() < OPERATION_TIMEOUT,
            "the cancellation of {schedule} did not finish within {OPERATION_TIMEOUT:?}"
        );
        tokio::time::sleep(DRIVER_POLL).await;
    }
}
