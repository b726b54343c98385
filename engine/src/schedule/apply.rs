//! `Schedule::apply`: the one place state changes. Commands call it with the
//! event they just decided; recovery calls it with logged events in order.
//!
//! It trusts the event's decision (which seats, which amount) and only moves
//! state, but it asserts every precondition the deciding command checked.
//! An event that no command of this schedule could have produced at this point
//! panics rather than silently breaking the seat invariants; the actor layer
//! contains that panic and reloads from storage. Events read from the log go
//! through `Schedule::apply_logged` (`replay.rs`) instead, which refuses such
//! an event with a reason before anything changes.

use super::events::ScheduleEvent;
use super::reservation::{Refund, Reservation, ReservationStatus};
use super::seat_map::{SeatIndex, SeatMap};
use super::seat_table::SeatTable;
use super::ticket::{Ticket, TicketStatus};
use super::Schedule;
use crate::{Money, PaymentId, ReservationId, TicketId, Timestamp, UserId};
use std::collections::BTreeMap;

impl Schedule {
    /// Folds one event into the state. Total for every event this schedule's
    /// commands returned, applied in the order they were returned.
    pub fn apply(&mut self, event: &ScheduleEvent) {
        match event {
            ScheduleEvent::Held {
                reservation_id,
                number,
                user,
                seats,
                amount,
                at,
                expires_at,
            } => self.apply_held(
                *reservation_id,
                number,
                *user,
                seats,
                *amount,
                *at,
                *expires_at,
            ),
            ScheduleEvent::Released { reservation_id, at } => {
                self.end_hold(*reservation_id, ReservationStatus::Cancelled, *at)
            }
            ScheduleEvent::Expired {
                reservation_ids,
                at,
            } => {
                for &id in reservation_ids {
                    self.end_hold(id, ReservationStatus::Expired, *at);
                }
            }
            ScheduleEvent::PaymentBegun {
                reservation_id,
                payment_id,
                amount,
                at: _,
            } => self.apply_payment_begun(*reservation_id, *payment_id, *amount),
            ScheduleEvent::PaymentAborted {
                reservation_id,
                payment_id,
                at: _,
            } => self.apply_payment_aborted(*reservation_id, *payment_id),
            ScheduleEvent::Confirmed {
                reservation_id,
                payment_id,
                tickets,
                at,
            } => self.apply_confirmed(*reservation_id, *payment_id, tickets, *at),
            ScheduleEvent::Cancelled {
                reservation_id,
                refund_amount,
                at,
            } => self.apply_cancelled(*reservation_id, *refund_amount, *at),
            ScheduleEvent::RefundSettled {
                reservation_id,
                at: _,
            } => self.apply_refund_settled(*reservation_id),
            ScheduleEvent::CheckedIn { ticket_id, at } => self.apply_checked_in(*ticket_id, *at),
            ScheduleEvent::ScheduleCancelled { at } => {
                assert!(self.cancelled_at.is_none(), "schedule cancelled twice");
                self.cancelled_at = Some(*at);
            }
            ScheduleEvent::SeatsBlocked { seats, reason, .. } => self.apply_blocked(seats, reason),
            ScheduleEvent::SeatsUnblocked { seats, .. } => self.apply_unblocked(seats),
            ScheduleEvent::Comped {
                reservation_id,
                number,
                user,
                payment_id,
                seats,
                tickets,
                at,
            } => self.apply_comped(
                *reservation_id,
                number,
                *user,
                *payment_id,
                seats,
                tickets,
                *at,
            ),
            ScheduleEvent::CancellationBatch {
                released,
                refunded,
                at,
            } => {
                assert!(
                    self.cancelled_at.is_some(),
                    "a batch of a cancelled schedule"
                );
                for &id in released {
                    self.end_hold(id, ReservationStatus::Cancelled, *at);
                }
                for &(id, amount) in refunded {
                    self.refund_confirmed(id, amount, *at, TicketUse::Refunded);
                }
            }
        }
    }

    fn event_slot(&self, id: ReservationId) -> usize {
        self.slot_of(id)
            .unwrap_or_else(|| panic!("event names reservation {id}, unknown to this schedule"))
    }

    #[allow(clippy::too_many_arguments)] // the fields of one Held event
    fn apply_held(
        &mut self,
        id: ReservationId,
        number: &str,
        user: UserId,
        seats: &[SeatIndex],
        amount: Money,
        at: Timestamp,
        expires_at: Timestamp,
    ) {
        assert!(
            !self.reservation_slots.contains_key(&id),
            "reservation {id} held twice"
        );
        assert!(!seats.is_empty(), "a hold takes at least one seat");
        debug_assert_eq!(
            self.seat_map.total_price(seats),
            Some(amount),
            "amount is the sum of seat prices"
        );
        let slot = u32::try_from(self.reservations.len())
            .expect("fewer than 2^32 reservations per schedule");
        for &seat in seats {
            let row = self.seat_map.row_of(seat);
            self.seats.take(seat, row, slot);
        }
        add_user_seats(&mut self.seats_by_user, user, seats.len() as u32);
        self.expiry.insert((expires_at, id));
        self.reservation_slots.insert(id, slot);
        let ordinal = self.take_ordinal();
        self.reservations.push(Reservation {
            id,
            number: number.to_owned(),
            user,
            seats: seats.to_vec(),
            amount,
            status: ReservationStatus::Held,
            held_at: at,
            expires_at,
            paid_at: None,
            tickets: Vec::new(),
            ended_at: None,
            refund: None,
            ordinal,
        });
    }

    /// `Held` -> `Cancelled` (released) or `Expired`: the seats go back on sale.
    fn end_hold(&mut self, id: ReservationId, end: ReservationStatus, at: Timestamp) {
        let slot = self.event_slot(id);
        let reservation = &mut self.reservations[slot];
        assert_eq!(
            reservation.status,
            ReservationStatus::Held,
            "only a held reservation is released or expires"
        );
        reservation.status = end;
        reservation.ended_at = Some(at);
        let removed = self.expiry.remove(&(reservation.expires_at, id));
        assert!(removed, "held reservation {id} was in the expiry index");
        free_seats(
            &self.seat_map,
            &mut self.seats,
            &reservation.seats,
            slot as u32,
        );
        remove_user_seats(
            &mut self.seats_by_user,
            reservation.user,
            reservation.seats.len() as u32,
        );
    }

    fn apply_payment_begun(&mut self, id: ReservationId, payment_id: PaymentId, amount: Money) {
        let slot = self.event_slot(id);
        let reservation = &mut self.reservations[slot];
        assert_eq!(
            reservation.status,
            ReservationStatus::Held,
            "payment begins on a held reservation"
        );
        assert_eq!(
            reservation.amount, amount,
            "payment amount is the reservation amount"
        );
        reservation.status = ReservationStatus::PaymentPending { payment_id };
        let removed = self.expiry.remove(&(reservation.expires_at, id));
        assert!(removed, "held reservation {id} was in the expiry index");
    }

    fn apply_payment_aborted(&mut self, id: ReservationId, payment_id: PaymentId) {
        let slot = self.event_slot(id);
        let reservation = &mut self.reservations[slot];
        assert_eq!(
            reservation.status,
            ReservationStatus::PaymentPending { payment_id },
            "only the pending payment is aborted"
        );
        reservation.status = ReservationStatus::Held;
        self.expiry.insert((reservation.expires_at, id));
    }

    fn apply_confirmed(
        &mut self,
        id: ReservationId,
        payment_id: PaymentId,
        tickets: &[TicketId],
        at: Timestamp,
    ) {
        let slot = self.event_slot(id);
        let reservation = &mut self.reservations[slot];
        assert_eq!(
            reservation.status,
            ReservationStatus::PaymentPending { payment_id },
            "only the pending payment confirms"
        );
        assert_eq!(
            tickets.len(),
            reservation.seats.len(),
            "one ticket per seat"
        );
        reservation.status = ReservationStatus::Confirmed { payment_id };
        reservation.paid_at = Some(at);
        reservation.tickets = tickets.to_vec();
        for (&seat, &ticket_id) in reservation.seats.iter().zip(tickets) {
            self.seats.sell(seat, slot as u32);
            let ticket_slot =
                u32::try_from(self.tickets.len()).expect("fewer than 2^32 tickets per schedule");
            let fresh = self.ticket_slots.insert(ticket_id, ticket_slot).is_none();
            assert!(fresh, "ticket {ticket_id} issued twice");
            self.tickets.push(Ticket {
                id: ticket_id,
                reservation_id: id,
                seat,
                price: self.seat_map.price(seat),
                status: TicketStatus::Issued,
                issued_at: at,
            });
        }
    }

    fn apply_cancelled(&mut self, id: ReservationId, refund_amount: Money, at: Timestamp) {
        self.refund_confirmed(id, refund_amount, at, TicketUse::Refused);
    }

    /// `Confirmed` -> `Cancelled` with a refund owed: tickets void, seats free.
    /// A ticket already used at the door is voided too when the whole
    /// schedule is cancelled (`TicketUse::Refunded`); an owner's cancel never has one.
    fn refund_confirmed(
        &mut self,
        id: ReservationId,
        refund_amount: Money,
        at: Timestamp,
        used: TicketUse,
    ) {
        self.refunded = self
            .refunded
            .checked_add(refund_amount)
            .expect("refunds fit in Money (checked before the event)");
        let slot = self.event_slot(id);
        let reservation = &mut self.reservations[slot];
        let ReservationStatus::Confirmed { payment_id } = reservation.status else {
            panic!("only a confirmed reservation is cancelled with a refund");
        };
        reservation.status = ReservationStatus::Cancelled;
        reservation.ended_at = Some(at);
        reservation.refund = Some(Refund {
            payment_id,
            amount: refund_amount,
            settled: false,
        });
        for ticket_id in &reservation.tickets {
            let ticket_slot = self.ticket_slots[ticket_id] as usize;
            let ticket = &mut self.tickets[ticket_slot];
            match (ticket.status, used) {
                (TicketStatus::Issued, _) => ticket.status = TicketStatus::Void,
                (TicketStatus::Used { .. }, TicketUse::Refunded) => {
                    ticket.status = TicketStatus::Void
                }
                (status, _) => panic!("ticket {ticket_id} voided while {status:?}"),
            }
        }
        free_seats(
            &self.seat_map,
            &mut self.seats,
            &reservation.seats,
            slot as u32,
        );
        remove_user_seats(
            &mut self.seats_by_user,
            reservation.user,
            reservation.seats.len() as u32,
        );
    }

    fn apply_refund_settled(&mut self, id: ReservationId) {
        let slot = self.event_slot(id);
        let refund = self.reservations[slot]
            .refund
            .as_mut()
            .expect("a settled refund was owed");
        assert!(!refund.settled, "refund settled twice");
        refund.settled = true;
    }

    fn apply_checked_in(&mut self, id: TicketId, at: Timestamp) {
        let slot = *self
            .ticket_slots
            .get(&id)
            .unwrap_or_else(|| panic!("check-in of unknown ticket {id}"));
        let ticket = &mut self.tickets[slot as usize];
        assert_eq!(
            ticket.status,
            TicketStatus::Issued,
            "only an issued ticket is checked in"
        );
        ticket.status = TicketStatus::Used { at };
    }
}

/// Whether a cancellation with a refund may meet a ticket used at the door.
#[derive(Clone, Copy)]
enum TicketUse {
    Refused,
    Refunded,
}

fn free_seats(map: &SeatMap, table: &mut SeatTable, seats: &[SeatIndex], holder: u32) {
    for &seat in seats {
        table.free(seat, map.row_of(seat), holder);
    }
}

fn add_user_seats(counts: &mut BTreeMap<UserId, u32>, user: UserId, seats: u32) {
    *counts.entry(user).or_insert(0) += seats;
}

/// Drops the user's entry at zero so that the map holds only users with seats.
fn remove_user_seats(counts: &mut BTreeMap<UserId, u32>, user: UserId, seats: u32) {
    let count = counts
        .get_mut(&user)
        .expect("a user with live seats has a count");
    *count = count
        .checked_sub(seats)
        .expect("a user's count covers their live seats");
    if *count == 0 {
        counts.remove(&user);
    }
}
