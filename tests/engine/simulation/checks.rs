//! What must hold after every restart, read from the recovered engine's
//! exported state and compared with the model of acknowledged effects:
//!
//! - recovery loaded every actor (a load runs `check_invariants`) and left no
//!   payment or refund between saga steps; every invariant of the shared
//!   checker (`boxoffice_actors::audit`) holds: each schedule's, wallet's and
//!   waiting room's own, no seat in two live reservations, money kept = price
//!   of seats sold;
//! - every acknowledged hold, payment, cancellation, check-in, charge and
//!   queue token is there with its acknowledged outcome; the one operation in
//!   flight at the crash either happened whole or not at all (then the model
//!   adopts what the engine shows); nothing else happened;
//! - money: each wallet's balance is its charges − payments + refunds and
//!   equals the acknowledged history; in total, payments − refunds is the
//!   price of the CONFIRMED reservations, and each payment and refund
//!   matches exactly one reservation;
//! - every decided idempotency key is remembered (another body is refused)
//!   and replays its first reply;
//! - each user's reservations and tickets read a page at a time (from the
//!   archive's per-user index) are the brute-force list (the whole history
//!   loaded) newest first, with the same totals under every status filter,
//!   and each user's archive tally counts exactly their archive entries;
//! - the booking-event outbox pairs with the schedule logs and agrees with
//!   the state (see `simulation/outbox.rs`).

use boxoffice_actors::audit;
use boxoffice_actors::queue_board::{Place, QueuePass};
use boxoffice_actors::schedule_actor::archive::{self, ArchivedReservation};
use boxoffice_actors::schedule_actor::archive_index;
use boxoffice_actors::schedule_actor::GetUnfinishedWork;
use boxoffice_actors::wallet_ledger;
use boxoffice_actors::{Clock, CustomerStatus};
use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::{ReservationStatus, Schedule, TicketStatus};
use boxoffice_engine::wallet::LedgerKind;
use boxoffice_engine::{Money, Timestamp};
use boxoffice_storage::Store;
use std::collections::{BTreeMap, BTreeSet};

use super::keys::{probe_key, replay_key};
use super::model::*;
use super::world::World;
use test_support::engine::{export, EngineState};

/// Compares a reservation's state with its last acknowledged one, allowing
/// only what time alone can do (a hold past its deadline may have expired).
pub fn status_matches(
    model: &ReservationModel,
    status: ReservationStatus,
    tickets: &[TicketId],
    refund_amount: Option<Money>,
    now: Timestamp,
) -> Result<(), String> {
    let ok = match (&model.status, status) {
        (Status::Held, ReservationStatus::Held) => true,
        (Status::Held, ReservationStatus::Expired) => now >= model.expires_at,
        (
            Status::Confirmed {
                payment_id,
                tickets: acknowledged,
            },
            ReservationStatus::Confirmed { payment_id: found },
        ) => *payment_id == found && acknowledged.as_slice() == tickets,
        (Status::Cancelled { refund }, ReservationStatus::Cancelled) => {
            refund.map(|(_, amount)| amount) == refund_amount
        }
        (Status::Expired, ReservationStatus::Expired) => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "acknowledged {:?} (expires {:?}, now {now:?}), found {status:?} with tickets {tickets:?} and refund {refund_amount:?}",
            model.status, model.expires_at
        ))
    }
}

pub async fn after_restart(w: &mut World) {
    let had_effect = w
        .model
        .in_flight
        .as_ref()
        .is_some_and(|op| *op != InFlight::NoNewEffect);
    let adopted_before = w.stats.in_flight_done;
    for schedule in w.schedule_ids() {
        let handle = w.registry.schedule(schedule).expect("schedule recovered");
        let work = handle
            .actor
            .query(GetUnfinishedWork)
            .await
            .expect("schedule answers");
        assert!(
            work.payments.is_empty() && work.refunds.is_empty(),
            "{schedule} has work between saga steps after recovery: {work:?}"
        );
    }
    let state = export(&w.registry).await;
    if let Err(broken) = audit::verdict(&audit::check_at_rest(&state)) {
        panic!("invariants broken after recovery:\n{broken}");
    }
    let schedules: BTreeMap<ScheduleId, &Schedule> = state
        .schedules
        .iter()
        .map(|(id, s)| (*id, &s.schedule))
        .collect();
    let archived = read_archive(w);
    check_cancellations(w, &schedules);
    check_reservations(w, &schedules, &archived);
    check_blocks(w, &schedules);
    check_tickets(w, &schedules, &archived);
    check_money(w, &state, &schedules, &archived);
    check_queue(w, &state);
    super::outbox::check_outbox(w, &schedules, &archived);
    check_pages(w, &archived).await;
    if had_effect && w.stats.in_flight_done == adopted_before {
        w.stats.in_flight_not_done += 1;
    }
    w.model.in_flight = None;
    check_key_replays(w).await;
}

/// Every reservation a schedule moved to the archive, by id.
fn read_archive(w: &World) -> BTreeMap<ReservationId, ArchivedReservation> {
    let store: &dyn Store = w.store.as_ref();
    store
        .list_meta("archive/u/", usize::MAX)
        .expect("list the archive")
        .into_iter()
        .map(|key| {
            let (user, id) = key
                .strip_prefix("archive/u/")
                .and_then(|rest| rest.split_once('/'))
                .and_then(|(user, id)| Some((UserId::parse(user)?, ReservationId::parse(id)?)))
                .unwrap_or_else(|| panic!("archive key {key}"));
            let entry = archive::read(store, user, id)
                .expect("read the archive")
                .expect("a listed entry exists");
            assert_eq!(entry.view.reservation_id, id, "archive entry {key}");
            assert_eq!(entry.view.user, user, "archive entry {key}");
            (id, entry)
        })
        .collect()
}

/// A reservation as recovered: from its schedule's memory or the archive.
struct Found {
    seats: Vec<String>,
    user: UserId,
    amount: Money,
    expires_at: Timestamp,
    status: ReservationStatus,
    tickets: Vec<TicketId>,
    /// The refund: its payment (not in an archived view), amount, settled.
    refund: Option<(Option<PaymentId>, Money, bool)>,
}

fn find(
    schedules: &BTreeMap<ScheduleId, &Schedule>,
    archived: &BTreeMap<ReservationId, ArchivedReservation>,
    schedule: ScheduleId,
    id: ReservationId,
) -> Option<Found> {
    let schedule = schedules[&schedule];
    if let Some(r) = schedule.reservation(id) {
        // Both, after a crash between the archive's writes and the snapshot
        // that forgets: the same ended reservation, archived again later.
        if let Some(entry) = archived.get(&id) {
            assert!(
                r.has_ended() && entry.view.status == r.status,
                "{id} is {:?} in memory but {:?} in the archive",
                r.status,
                entry.view.status
            );
        }
        return Some(Found {
            seats: r.seats.iter().map(|s| schedule.seat_id(*s)).collect(),
            user: r.user,
            amount: r.amount,
            expires_at: r.expires_at,
            status: r.status,
            tickets: r.tickets.clone(),
            refund: r
                .refund
                .as_ref()
                .map(|f| (Some(f.payment_id), f.amount, f.settled)),
        });
    }
    archived.get(&id).map(|entry| {
        let view = &entry.view;
        assert_eq!(view.schedule_id, schedule.id(), "schedule of archived {id}");
        Found {
            seats: view.seats.iter().map(|s| s.seat_id.clone()).collect(),
            user: view.user,
            amount: view.total_amount,
            expires_at: view.expires_at,
            status: view.status,
            tickets: view.tickets.iter().map(|t| t.ticket_id).collect(),
            // Only a reservation whose refund was settled has ended.
            refund: view.refund_amount.map(|amount| (None, amount, true)),
        }
    })
}

fn refund_of(found: &Found) -> Option<Money> {
    found.refund.map(|(_, amount, _)| amount)
}

/// A schedule is cancelled exactly when the model says so, or when the
/// cancel in flight at the crash took (then the model adopts it whole), and
/// every cancellation has finished: `settle` waited for the resumed driver,
/// so no reservation is left live and every refund is settled (that each
/// was paid once, to its payer, is `check_money`'s; that the holds were
/// released and the tickets are void, `check_reservations` and `check_tickets`).
fn check_cancellations(w: &mut World, schedules: &BTreeMap<ScheduleId, &Schedule>) {
    for (id, schedule) in schedules {
        if schedule.is_cancelled() && !w.model.cancelled.contains(id) {
            assert_eq!(
                w.model.in_flight,
                Some(InFlight::CancelSchedule(*id)),
                "{id} is cancelled but no cancel of it was acknowledged"
            );
            w.stats.in_flight_done += 1;
            w.stats.cancellations_adopted += 1;
            w.model.record_schedule_cancelled(*id);
        }
        assert_eq!(
            schedule.is_cancelled(),
            w.model.cancelled.contains(id),
            "{id}: the acknowledged cancellation was lost"
        );
        assert!(
            !schedule.cancellation_unfinished(),
            "{id}: its cancellation did not finish after the restart"
        );
        if schedule.is_cancelled() {
            assert!(
                schedule.reservations().all(|r| !r.status.is_live()),
                "{id}: a live reservation on a cancelled schedule"
            );
        }
    }
}

/// Each schedule's blocked seats (and reasons) are the acknowledged ones; a
/// block, unblock or comp in flight at the crash is there whole or not at all.
fn check_blocks(w: &mut World, schedules: &BTreeMap<ScheduleId, &Schedule>) {
    let in_flight = w.model.in_flight.clone();
    for (id, schedule) in schedules {
        let found: Vec<(String, String)> = schedule
            .blocked_seats()
            .map(|(seat, reason)| (schedule.seat_id(seat), reason.to_owned()))
            .collect();
        let acknowledged = w.model.blocks_of(*id);
        if found == acknowledged {
            continue;
        }
        // Not the acknowledged blocks: only the operation in flight may explain it, whole.
        let mut adopted = w.model.blocked.get(id).cloned().unwrap_or_default();
        match &in_flight {
            Some(InFlight::Block {
                schedule: of,
                seats,
                reason,
            }) if of == id => {
                for seat in seats {
                    adopted.insert(seat.clone(), reason.clone());
                }
            }
            Some(InFlight::Unblock {
                schedule: of,
                seats,
            }) if of == id => {
                for seat in seats {
                    adopted.remove(seat);
                }
            }
            _ => {}
        }
        let previous = w.model.blocked.insert(*id, adopted);
        if w.model.blocks_of(*id) == found {
            w.stats.in_flight_done += 1;
            w.stats.block_ops_adopted += 1;
        } else {
            panic!(
                "{id}: blocked seats {found:?}, acknowledged {acknowledged:?} (before: {previous:?}); in flight was {in_flight:?}"
            );
        }
    }
}

/// Every acknowledged reservation, with its acknowledged state, unless the
/// operation in flight moved it (whole); and no reservation nobody asked for.
fn check_reservations(
    w: &mut World,
    schedules: &BTreeMap<ScheduleId, &Schedule>,
    archived: &BTreeMap<ReservationId, ArchivedReservation>,
) {
    let now = w.clock.now();
    let in_flight = w.model.in_flight.clone();
    let ids: Vec<ReservationId> = w.model.reservations.keys().copied().collect();
    for id in ids {
        let model = w.model.reservations[&id].clone();
        let Some(found) = find(schedules, archived, model.schedule, id) else {
            panic!(
                "acknowledged reservation {id} ({:?}) was lost",
                model.status
            );
        };
        assert_eq!(found.seats, model.seats, "seats of {id}");
        assert_eq!(found.user, model.user, "owner of {id}");
        assert_eq!(found.amount, model.amount, "amount of {id}");
        assert_eq!(found.expires_at, model.expires_at, "deadline of {id}");
        if let Some((_, _, settled)) = found.refund {
            assert!(
                settled,
                "refund of {id} owed but not settled after recovery"
            );
        }
        if status_matches(&model, found.status, &found.tickets, refund_of(&found), now).is_ok() {
            continue;
        }
        // Not the acknowledged state: only the operation in flight may explain it.
        match (&in_flight, &model.status, found.status) {
            (
                Some(InFlight::Pay(paid)),
                Status::Held,
                ReservationStatus::Confirmed { payment_id },
            ) if *paid == id => {
                w.stats.in_flight_done += 1;
                w.model
                    .record_confirmed(id, payment_id, found.tickets.clone());
            }
            (Some(InFlight::Release(released)), Status::Held, ReservationStatus::Cancelled)
                if *released == id && found.refund.is_none() =>
            {
                w.stats.in_flight_done += 1;
                w.model
                    .reservations
                    .get_mut(&id)
                    .expect("in the model")
                    .status = Status::Cancelled { refund: None };
            }
            (
                Some(InFlight::CancelPaid(cancelled)),
                Status::Confirmed { payment_id, .. },
                ReservationStatus::Cancelled,
            ) if *cancelled == id
                && found.refund.is_some_and(|(payment, amount, _)| {
                    payment.is_none_or(|p| p == *payment_id) && amount == model.amount
                }) =>
            {
                w.stats.in_flight_done += 1;
                w.model.record_paid_cancel(id);
            }
            _ => panic!(
                "reservation {id} after recovery: {}; in flight was {in_flight:?}",
                status_matches(&model, found.status, &found.tickets, refund_of(&found), now)
                    .expect_err("checked above")
            ),
        }
    }
    // Time alone may have expired a hold (a sweep logged just before the crash).
    for (id, reservation) in w.model.reservations.iter_mut() {
        if reservation.status == Status::Held
            && find(schedules, archived, reservation.schedule, *id)
                .is_some_and(|r| r.status == ReservationStatus::Expired)
        {
            reservation.status = Status::Expired;
        }
    }
    let mut unknown = Vec::new();
    for (schedule_id, schedule) in schedules {
        for reservation in schedule.reservations() {
            if !w.model.reservations.contains_key(&reservation.id) {
                unknown.push((*schedule_id, reservation.clone()));
            }
        }
    }
    // The archive holds only ended reservations, which someone was told about.
    for (id, entry) in archived {
        assert!(
            w.model.reservations.contains_key(id),
            "archived reservation {id} ({:?}) nobody was told about",
            entry.view.status
        );
    }
    match (unknown.as_slice(), &in_flight) {
        ([], _) => {}
        // A comp in flight: whole (confirmed, free, a ticket per seat) or absent.
        (
            [(schedule_id, found)],
            Some(InFlight::Comp {
                schedule,
                user,
                seats,
            }),
        ) if schedule_id == schedule && found.user == *user => {
            let seat_map = schedules[schedule_id];
            let found_seats: Vec<String> =
                found.seats.iter().map(|s| seat_map.seat_id(*s)).collect();
            let ReservationStatus::Confirmed { payment_id } = found.status else {
                panic!("the comp in flight recovered as {:?}", found.status);
            };
            assert_eq!(&found_seats, seats, "the comp in flight's seats");
            assert_eq!(found.amount, Money::ZERO, "the comp in flight is free");
            assert_eq!(
                found.tickets.len(),
                seats.len(),
                "the comp in flight's tickets"
            );
            w.stats.in_flight_done += 1;
            w.stats.block_ops_adopted += 1;
            w.model.record_comp(
                found.id,
                ReservationModel {
                    schedule: *schedule,
                    user: *user,
                    seats: found_seats,
                    amount: Money::ZERO,
                    expires_at: found.expires_at,
                    status: Status::Confirmed {
                        payment_id,
                        tickets: found.tickets.clone(),
                    },
                    queue_token: None,
                },
            );
        }
        ([(schedule_id, found)], Some(InFlight::Hold { user, schedule }))
            if found.user == *user && schedule_id == schedule =>
        {
            w.stats.in_flight_done += 1;
            let seat_map = schedules[schedule_id];
            let status = match found.status {
                ReservationStatus::Held => Status::Held,
                ReservationStatus::Expired => Status::Expired,
                other => panic!("the hold in flight recovered as {other:?}"),
            };
            w.model.reservations.insert(
                found.id,
                ReservationModel {
                    schedule: *schedule_id,
                    user: found.user,
                    seats: found.seats.iter().map(|s| seat_map.seat_id(*s)).collect(),
                    amount: found.amount,
                    expires_at: found.expires_at,
                    status,
                    queue_token: None,
                },
            );
        }
        _ => panic!(
            "reservations nobody was told about after recovery: {:?}; in flight was {in_flight:?}",
            unknown
                .iter()
                .map(|(_, r)| (r.id, r.user, r.status))
                .collect::<Vec<_>>()
        ),
    }
}

/// Every ticket of a confirmed reservation is issued (or used, if its
/// check-in was acknowledged); a cancelled reservation's tickets are void.
fn check_tickets(
    w: &mut World,
    schedules: &BTreeMap<ScheduleId, &Schedule>,
    archived: &BTreeMap<ReservationId, ArchivedReservation>,
) {
    let in_flight = w.model.in_flight.clone();
    let tickets: Vec<(TicketId, ReservationId, bool)> = w
        .model
        .tickets
        .iter()
        .map(|(t, (r, used))| (*t, *r, *used))
        .collect();
    for (ticket, reservation_id, used) in tickets {
        let reservation = &w.model.reservations[&reservation_id];
        let found = match schedules[&reservation.schedule].ticket(ticket) {
            Some(found) => Some((found.reservation_id, found.status)),
            None => archived.get(&reservation_id).and_then(|entry| {
                entry
                    .tickets
                    .iter()
                    .find(|t| t.ticket_id == ticket)
                    .map(|t| (t.reservation_id, t.status))
            }),
        };
        let Some((found_reservation, found_status)) = found else {
            panic!("ticket {ticket} of {reservation_id} was lost");
        };
        assert_eq!(found_reservation, reservation_id, "ticket {ticket} moved");
        match (&reservation.status, found_status, used) {
            (Status::Confirmed { .. }, TicketStatus::Issued, false) => {}
            (Status::Confirmed { .. }, TicketStatus::Used { .. }, true) => {}
            (Status::Confirmed { .. }, TicketStatus::Used { .. }, false)
                if in_flight == Some(InFlight::CheckIn(ticket)) =>
            {
                w.stats.in_flight_done += 1;
                w.model.tickets.get_mut(&ticket).expect("in the model").1 = true;
            }
            (Status::Cancelled { .. }, TicketStatus::Void, _) => {}
            (status, found, used) => panic!(
                "ticket {ticket}: reservation {status:?}, check-in acknowledged: {used}, found {found:?}"
            ),
        }
    }
}

/// Ledgers against the model and against the schedules.
fn check_money(
    w: &mut World,
    state: &EngineState,
    schedules: &BTreeMap<ScheduleId, &Schedule>,
    archived: &BTreeMap<ReservationId, ArchivedReservation>,
) {
    let in_flight = w.model.in_flight.clone();
    // What the schedules say was paid and refunded, by payment id.
    let mut paid: BTreeMap<PaymentId, (UserId, Money)> = BTreeMap::new();
    let mut refunded: BTreeMap<PaymentId, (UserId, Money)> = BTreeMap::new();
    let mut confirmed_total = Money::ZERO;
    for schedule in schedules.values() {
        for r in schedule.reservations() {
            if let ReservationStatus::Confirmed { payment_id } = r.status {
                paid.insert(payment_id, (r.user, r.amount));
                confirmed_total = Money(confirmed_total.0 + r.amount.0);
            }
            if let Some(refund) = &r.refund {
                paid.insert(refund.payment_id, (r.user, r.amount));
                refunded.insert(refund.payment_id, (r.user, refund.amount));
            }
        }
    }
    // Archived refunds: the view has no payment id; the model's must point
    // back (the pointer is written before the snapshot that forgets).
    for (id, entry) in archived {
        let Some(amount) = entry.view.refund_amount else {
            continue;
        };
        // Still in memory too (a crash cut an archive round short, so its
        // pointers may be missing): the schedule's copy was counted above.
        if schedules.values().any(|s| s.reservation(*id).is_some()) {
            continue;
        }
        let Some(Status::Cancelled {
            refund: Some((payment_id, _)),
        }) = w.model.reservations.get(id).map(|m| &m.status)
        else {
            panic!("archived {id} was refunded {amount:?}, but no paid cancel was acknowledged");
        };
        let pointer = archive::reservation_of_payment(w.store.as_ref(), *payment_id)
            .expect("read the archive");
        assert_eq!(
            pointer,
            Some((entry.view.user, *id)),
            "archive pointer of payment {payment_id}"
        );
        paid.insert(*payment_id, (entry.view.user, entry.view.total_amount));
        refunded.insert(*payment_id, (entry.view.user, amount));
    }
    let mut charges_found = BTreeSet::new();
    let mut debits_seen = BTreeSet::new();
    let mut refunds_seen = BTreeSet::new();
    let (mut all_payments, mut all_refunds) = (0i64, 0i64);
    let mut users_seen = BTreeSet::new();
    for shard in &state.wallets {
        for wallet in shard.wallets.values() {
            let user = wallet.user();
            users_seen.insert(user);
            let (mut charged, mut used, mut returned) = (0i64, 0i64, 0i64);
            // The whole ledger: the archived entries read back from the
            // store (which must be exactly what the wallet counted and
            // summed), then those in memory.
            wallet_ledger::check_with_archive(w.store.as_ref(), wallet)
                .unwrap_or_else(|e| panic!("wallet {user} against its archived ledger: {e}"));
            let ledger = wallet_ledger::full_ledger(w.store.as_ref(), wallet)
                .unwrap_or_else(|e| panic!("wallet {user}: reading its ledger: {e}"));
            let stored = w
                .store
                .list_meta(&format!("ledger/{user}/e/"), usize::MAX)
                .expect("list the ledger archive")
                .len() as u64;
            // More entries stored than the wallet counts archived: a crash cut
            // an archiving round short of its snapshot, and the log rebuilt them.
            if stored > wallet.archived_ledger().entries {
                w.stats.ledgers_archived_ahead += 1;
            }
            for entry in &ledger {
                match entry.kind {
                    LedgerKind::Charge => {
                        charged += entry.amount.0;
                        charges_found.insert(entry.transaction_id);
                        match w.model.charges.get(&entry.transaction_id) {
                            Some(&(owner, amount)) => {
                                assert_eq!((owner, amount), (user, entry.amount), "charge {}", entry.transaction_id)
                            }
                            None if in_flight
                                == Some(InFlight::Charge {
                                    user,
                                    amount: entry.amount,
                                }) =>
                            {
                                w.stats.in_flight_done += 1;
                                w.model.record_charge(entry.transaction_id, user, entry.amount, entry.at);
                            }
                            None => panic!(
                                "charge {} of {} to {user} that nobody was told about; in flight was {in_flight:?}",
                                entry.transaction_id, entry.amount
                            ),
                        }
                    }
                    LedgerKind::Payment => {
                        used += entry.amount.0;
                        let payment = entry.reference.expect("a payment entry names its payment");
                        assert!(
                            debits_seen.insert(payment),
                            "payment {payment} debited twice"
                        );
                        assert_eq!(
                            paid.get(&payment),
                            Some(&(user, entry.amount)),
                            "debit of {payment} ({} from {user}) matches no paid reservation",
                            entry.amount
                        );
                    }
                    LedgerKind::Refund => {
                        returned += entry.amount.0;
                        let payment = entry.reference.expect("a refund entry names its payment");
                        assert!(
                            refunds_seen.insert(payment),
                            "payment {payment} refunded twice"
                        );
                        assert_eq!(
                            refunded.get(&payment),
                            Some(&(user, entry.amount)),
                            "refund of {payment} matches no cancelled paid reservation"
                        );
                    }
                }
            }
            assert_eq!(
                wallet.balance().0,
                charged - used + returned,
                "wallet {user}: balance != charges - payments + refunds"
            );
            assert_eq!(
                wallet.balance(),
                w.model.balance(user),
                "wallet {user}: balance differs from the acknowledged history"
            );
            all_payments += used;
            all_refunds += returned;
        }
    }
    for (transaction, (user, amount)) in &w.model.charges {
        assert!(
            charges_found.contains(transaction),
            "acknowledged charge {transaction} of {amount} to {user} was lost"
        );
    }
    for (user, balance) in &w.model.balances {
        assert!(
            users_seen.contains(user) || *balance == Money::ZERO,
            "wallet of {user} with an acknowledged balance {balance} was lost"
        );
    }
    // A free reservation (amount 0) is confirmed and refunded without the wallet.
    for (payment, (_, amount)) in &paid {
        assert!(
            debits_seen.contains(payment) || *amount == Money::ZERO,
            "paid reservation of {payment} has no debit"
        );
    }
    for (payment, (_, amount)) in &refunded {
        assert!(
            refunds_seen.contains(payment) || *amount == Money::ZERO,
            "refund of {payment} owed but never paid"
        );
    }
    assert_eq!(
        all_payments - all_refunds,
        confirmed_total.0,
        "payments - refunds != price of the confirmed reservations"
    );
}

fn check_queue(w: &mut World, state: &EngineState) {
    let gated = w.gated_schedule();
    let queue = state
        .queue
        .queues
        .get(&gated)
        .expect("the gated schedule has a waiting room");
    if let Some(InFlight::Join(user)) = w.model.in_flight {
        match queue.token_of_user(user) {
            Some(token) if w.model.tokens.get(&user) != Some(&token.token) => {
                w.stats.in_flight_done += 1;
                w.model.tokens.insert(user, token.token);
                w.model.passes.insert(
                    token.token,
                    // As the queue actor's `pass_of` makes it: a pre-queue
                    // arrival keeps its arrival number for good.
                    QueuePass {
                        schedule_id: gated,
                        user,
                        token: token.token,
                        place: token
                            .pre_queue_index
                            .map_or(Place::Line(token.seq), Place::PreQueue),
                    },
                );
            }
            _ => {}
        }
    }
    // The pre-queue's order, once durable, never changes (API.md: "fixed
    // once, durably, so a restart cannot reshuffle it").
    if queue.shuffled() {
        let order: Vec<u64> = (0..)
            .map_while(|index| queue.seq_of_pre_queue_index(index))
            .collect();
        match &w.model.shuffled_order {
            Some(seen) => assert_eq!(seen, &order, "the pre-queue was reshuffled"),
            None => {
                w.stats.shuffles_seen += 1;
                w.model.shuffled_order = Some(order);
            }
        }
    }
    for (user, token) in &w.model.tokens {
        let found = queue.token_of_user(*user).map(|t| t.token);
        assert_eq!(
            found,
            Some(*token),
            "acknowledged queue token of {user} was lost"
        );
    }
}

/// Every decided key is still remembered (cheap: answered by the index, no actor).
pub async fn probe_all_keys(w: &mut World) {
    let decided: Vec<KeyId> = w
        .model
        .keys
        .iter()
        .filter(|(_, state)| matches!(state, KeyState::Decided { .. }))
        .map(|(id, _)| id.clone())
        .collect();
    for id in decided {
        if let Some(forgotten) = probe_key(w, &id).await {
            panic!("{forgotten}");
        }
    }
}

async fn check_key_replays(w: &mut World) {
    let decided: Vec<KeyId> = w
        .model
        .keys
        .iter()
        .filter(|(_, state)| matches!(state, KeyState::Decided { .. }))
        .map(|(id, _)| id.clone())
        .collect();
    for id in decided {
        if let Some(forgotten) = probe_key(w, &id).await {
            panic!("after recovery, {forgotten}");
        }
        if let Some(mismatch) = replay_key(w, &id).await {
            panic!("after recovery, {mismatch}");
        }
    }
}

/// Page sizes the paged reads are walked with: one item at a time, a few,
/// and everything on one page.
const PAGE_SIZES: [usize; 3] = [1, 3, 100];

/// Every user's paged reservations and tickets against the brute-force list,
/// and their archive tally against their archive entries.
async fn check_pages(w: &World, archived: &BTreeMap<ReservationId, ArchivedReservation>) {
    let store: &dyn Store = w.store.as_ref();
    for &user in &w.model.users {
        let mut tally = archive_index::ArchiveTally::default();
        for entry in archived.values().filter(|e| e.view.user == user) {
            let status = archive_index::EndedStatus::of(entry.view.status)
                .unwrap_or_else(|| panic!("archived {:?}", entry.view.status));
            tally.add(status, entry.tickets.len());
        }
        assert_eq!(
            archive_index::tally(store, user).expect("tally"),
            tally,
            "{user}'s archive tally against their entries"
        );
        let mut all = w.registry.reservations_of(user).await.expect("brute force");
        all.reverse(); // newest first
        for status in [
            None,
            Some(CustomerStatus::Held),
            Some(CustomerStatus::Confirmed),
            Some(CustomerStatus::Expired),
            Some(CustomerStatus::Cancelled),
        ] {
            let expected: Vec<_> = all
                .iter()
                .filter(|v| status.is_none_or(|s| CustomerStatus::of(v.status) == s))
                .collect();
            for size in PAGE_SIZES {
                let mut paged = Vec::new();
                // One page past the end too: it must be empty.
                for page in 0..=expected.len().div_ceil(size) {
                    let (items, total) = w
                        .registry
                        .reservations_page(user, status, page * size, size)
                        .await
                        .expect("a page of reservations");
                    assert_eq!(total, expected.len(), "{user} {status:?} total");
                    assert!(items.len() <= size);
                    paged.extend(items);
                }
                let what = format!("{user} {status:?} in pages of {size}");
                let ids = |list: &mut dyn Iterator<Item = ReservationId>| -> Vec<ReservationId> {
                    let mut ids: Vec<_> = list.collect();
                    ids.sort();
                    ids
                };
                assert_eq!(
                    ids(&mut paged.iter().map(|v| v.reservation_id)),
                    ids(&mut expected.iter().map(|v| v.reservation_id)),
                    "{what}: the same reservations, each once"
                );
                for view in &paged {
                    let brute = expected
                        .iter()
                        .find(|v| v.reservation_id == view.reservation_id)
                        .expect("listed");
                    assert_eq!(view, *brute, "{what}: the same view");
                }
                assert!(
                    paged.windows(2).all(|p| p[0].held_at >= p[1].held_at),
                    "{what}: newest first"
                );
            }
        }
        let tickets: Vec<TicketId> = all
            .iter()
            .flat_map(|v| v.tickets.iter().map(|t| t.ticket_id))
            .collect();
        for size in PAGE_SIZES {
            let mut paged = Vec::new();
            for page in 0..=tickets.len().div_ceil(size) {
                let (items, total) = w
                    .registry
                    .tickets_page(user, page * size, size)
                    .await
                    .expect("a page of tickets");
                assert_eq!(total, tickets.len(), "{user}'s ticket total");
                paged.extend(items.into_iter().map(|t| t.ticket.ticket_id));
            }
            let (mut got, mut want) = (paged.clone(), tickets.clone());
            got.sort();
            want.sort();
            assert_eq!(got, want, "{user}'s tickets in pages of {size}, each once");
            // Newest reservation first: the brute-force order, up to
            // reservations held in the same millisecond.
            let held = |id: &TicketId| {
                all.iter()
                    .find(|v| v.tickets.iter().any(|t| t.ticket_id == *id))
                    .map(|v| v.held_at)
            };
            assert!(
                paged.windows(2).all(|p| held(&p[0]) >= held(&p[1])),
                "{user}'s tickets newest first"
            );
        }
    }
}
