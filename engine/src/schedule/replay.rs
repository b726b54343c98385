//! Replaying logged events safely: [`Schedule::apply_logged`] checks every
//! precondition `apply` asserts before it changes anything, so an event that
//! breaks a rule (a payment confirmed twice, a seat taken twice, a record
//! appended twice by a buggy retry, a corrupt or misordered log) is refused
//! with a reason instead of panicking recovery or being applied twice.
//!
//! Commands never need this: they decide events from the current state, so
//! their events pass by construction (and `apply`'s asserts guard that).
//! Recovery does: its events come from the disk.

use super::events::ScheduleEvent;
use super::reservation::ReservationStatus;
use super::seat_map::SeatIndex;
use super::seat_table::SeatStatus;
use super::ticket::TicketStatus;
use super::Schedule;
use crate::{ReservationId, TicketId};
use std::collections::BTreeSet;

impl Schedule {
    /// Applies a logged event if it is one a command of this schedule could
    /// have produced now; otherwise changes nothing and says why.
    pub fn apply_logged(&mut self, event: &ScheduleEvent) -> Result<(), String> {
        self.check_logged(event)?;
        self.apply(event);
        Ok(())
    }

    /// Every precondition `apply` asserts for `event`, checked without panicking.
    pub fn check_logged(&self, event: &ScheduleEvent) -> Result<(), String> {
        match event {
            ScheduleEvent::Held {
                reservation_id,
                seats,
                amount,
                ..
            } => {
                if self.reservation_slots.contains_key(reservation_id) {
                    return Err(format!("reservation {reservation_id} held twice"));
                }
                if seats.is_empty() {
                    return Err(format!("hold {reservation_id} takes no seat"));
                }
                let mut seen = BTreeSet::new();
                for &seat in seats {
                    self.check_seat_available(seat)?;
                    if !seen.insert(seat) {
                        return Err(format!("hold {reservation_id} takes seat {} twice", seat.0));
                    }
                }
                if self.seat_map.total_price(seats) != Some(*amount) {
                    return Err(format!(
                        "hold {reservation_id}: amount {amount} is not its seats' total"
                    ));
                }
                Ok(())
            }
            ScheduleEvent::Released { reservation_id, .. } => {
                self.check_status(*reservation_id, "released", |s| {
                    s == ReservationStatus::Held
                })
            }
            ScheduleEvent::Expired {
                reservation_ids, ..
            } => {
                let mut seen = BTreeSet::new();
                for &id in reservation_ids {
                    if !seen.insert(id) {
                        return Err(format!("reservation {id} expires twice in one event"));
                    }
                    self.check_status(id, "expired", |s| s == ReservationStatus::Held)?;
                }
                Ok(())
            }
            ScheduleEvent::PaymentBegun {
                reservation_id,
                amount,
                ..
            } => {
                self.check_status(*reservation_id, "paid for", |s| {
                    s == ReservationStatus::Held
                })?;
                let expected = self.known(*reservation_id)?.amount;
                if expected != *amount {
                    return Err(format!(
                        "payment of {reservation_id} for {amount}, the reservation costs {expected}"
                    ));
                }
                Ok(())
            }
            ScheduleEvent::PaymentAborted {
                reservation_id,
                payment_id,
                ..
            } => self.check_status(*reservation_id, "aborted", |s| {
                s == ReservationStatus::PaymentPending {
                    payment_id: *payment_id,
                }
            }),
            ScheduleEvent::Confirmed {
                reservation_id,
                payment_id,
                tickets,
                ..
            } => {
                self.check_status(*reservation_id, "confirmed", |s| {
                    s == ReservationStatus::PaymentPending {
                        payment_id: *payment_id,
                    }
                })?;
                let seats = self.known(*reservation_id)?.seats.len();
                if tickets.len() != seats {
                    return Err(format!(
                        "confirmation of {reservation_id}: {} tickets for {seats} seats",
                        tickets.len()
                    ));
                }
                self.check_fresh_tickets(tickets)
            }
            ScheduleEvent::Cancelled { reservation_id, .. } => {
                self.check_status(*reservation_id, "cancelled with a refund", |s| {
                    matches!(s, ReservationStatus::Confirmed { .. })
                })?;
                for ticket in &self.known(*reservation_id)?.tickets {
                    let status = self.ticket(*ticket).map(|t| t.status);
                    if status != Some(TicketStatus::Issued) {
                        return Err(format!(
                            "cancellation of {reservation_id}: ticket {ticket} is {status:?}"
                        ));
                    }
                }
                match event {
                    ScheduleEvent::Cancelled { refund_amount, .. }
                        if self.refunded.checked_add(*refund_amount).is_none() =>
                    {
                        Err(format!(
                            "refund of {reservation_id} overflows the refunded total"
                        ))
                    }
                    _ => Ok(()),
                }
            }
            ScheduleEvent::RefundSettled { reservation_id, .. } => {
                match &self.known(*reservation_id)?.refund {
                    Some(refund) if !refund.settled => Ok(()),
                    Some(_) => Err(format!("refund of {reservation_id} settled twice")),
                    None => Err(format!("refund of {reservation_id} settled, none owed")),
                }
            }
            ScheduleEvent::CheckedIn { ticket_id, .. } => match self.ticket(*ticket_id) {
                Some(ticket) if ticket.status == TicketStatus::Issued => Ok(()),
                Some(ticket) => Err(format!(
                    "check-in of ticket {ticket_id}, which is {:?}",
                    ticket.status
                )),
                None => Err(format!("check-in of unknown ticket {ticket_id}")),
            },
            ScheduleEvent::ScheduleCancelled { .. } => match self.cancelled_at {
                Some(_) => Err("schedule cancelled twice".into()),
                None => Ok(()),
            },
            ScheduleEvent::CancellationBatch {
                released, refunded, ..
            } => self.check_cancellation_batch(released, refunded),
            ScheduleEvent::SeatsBlocked { .. }
            | ScheduleEvent::SeatsUnblocked { .. }
            | ScheduleEvent::Comped { .. } => self.check_block_event(event),
        }
    }

    fn check_cancellation_batch(
        &self,
        released: &[ReservationId],
        refunded: &[(ReservationId, crate::Money)],
    ) -> Result<(), String> {
        if self.cancelled_at.is_none() {
            return Err("a cancellation batch on a schedule not cancelled".into());
        }
        let mut seen = BTreeSet::new();
        for &id in released {
            if !seen.insert(id) {
                return Err(format!("reservation {id} twice in one cancellation batch"));
            }
            self.check_status(id, "released by the cancellation", |s| {
                s == ReservationStatus::Held
            })?;
        }
        let mut total = self.refunded;
        for &(id, amount) in refunded {
            if !seen.insert(id) {
                return Err(format!("reservation {id} twice in one cancellation batch"));
            }
            self.check_status(id, "refunded by the cancellation", |s| {
                matches!(s, ReservationStatus::Confirmed { .. })
            })?;
            let reservation = self.known(id)?;
            if amount != reservation.amount {
                return Err(format!(
                    "refund of {id} for {amount}, the reservation cost {}",
                    reservation.amount
                ));
            }
            for ticket in &reservation.tickets {
                if self.ticket(*ticket).map(|t| t.status) == Some(TicketStatus::Void) {
                    return Err(format!("refund of {id}: ticket {ticket} already void"));
                }
            }
            total = total
                .checked_add(amount)
                .ok_or_else(|| format!("refund of {id} overflows the refunded total"))?;
        }
        Ok(())
    }

    fn known(&self, id: ReservationId) -> Result<&super::Reservation, String> {
        self.reservation(id)
            .ok_or_else(|| format!("event names reservation {id}, unknown to this schedule"))
    }

    fn check_status(
        &self,
        id: ReservationId,
        what: &str,
        allowed: impl Fn(ReservationStatus) -> bool,
    ) -> Result<(), String> {
        let status = self.known(id)?.status;
        if allowed(status) {
            Ok(())
        } else {
            Err(format!("reservation {id} {what} while {status:?}"))
        }
    }

    fn check_seat_available(&self, seat: SeatIndex) -> Result<(), String> {
        if seat.0 >= self.seat_count() {
            return Err(format!("seat index {} out of range", seat.0));
        }
        match self.seats.status(seat) {
            SeatStatus::Available => Ok(()),
            taken => Err(format!("seat {} held while {taken:?}", self.seat_id(seat))),
        }
    }

    fn check_fresh_tickets(&self, tickets: &[TicketId]) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for ticket in tickets {
            if self.ticket_slots.contains_key(ticket) || !seen.insert(*ticket) {
                return Err(format!("ticket {ticket} issued twice"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixture::*;
    use super::super::*;

    /// Runs a history, then replays each of its events a second time on the
    /// final state: every one must be refused, leaving the state unchanged.
    #[test]
    fn every_repeated_event_is_refused_without_a_change() {
        let mut s = uniform_schedule(1, 1, 6);
        let t = |ms: i64| Timestamp(T0.0 + ms);
        let mut events =
            vec![hold_ids(&mut s, 1, user(1), &["S0-1-1", "S0-1-2"], T0).expect("hold 1")];
        events.push(hold_ids(&mut s, 2, user(2), &["S0-1-3"], T0).expect("hold 2"));
        events.push(hold_ids(&mut s, 3, user(3), &["S0-1-4"], T0).expect("hold 3"));
        events.push(
            s.begin_payment(rid(1), user(1), pid(1), None, t(1))
                .expect("begin"),
        );
        events.push(
            s.confirm(rid(1), pid(1), vec![tid(1, 0), tid(1, 1)], t(2))
                .expect("confirm"),
        );
        events.push(s.check_in(tid(1, 0), t(3)).expect("check in"));
        events.push(s.cancel(rid(2), user(2), t(3)).expect("release"));
        events.push(
            s.begin_payment(rid(3), user(3), pid(3), None, t(4))
                .expect("begin 3"),
        );
        events.push(s.abort_payment(rid(3), pid(3), t(5)).expect("abort 3"));
        let hold_ms = s.rules().hold_ms;
        events.push(s.expire_due(t(hold_ms + 10)).expect("expire 3"));
        let mut paid = uniform_schedule(1, 1, 2);
        let mut paid_events = vec![hold_ids(&mut paid, 9, user(9), &["S0-1-1"], T0).expect("h")];
        paid_events.push(
            paid.begin_payment(rid(9), user(9), pid(9), None, t(1))
                .expect("b"),
        );
        paid_events.push(
            paid.confirm(rid(9), pid(9), vec![tid(9, 0)], t(2))
                .expect("c"),
        );
        paid_events.push(paid.cancel(rid(9), user(9), t(3)).expect("cancel"));
        paid_events.push(paid.settle_refund(rid(9), t(4)).expect("settle"));

        for (schedule, history) in [(&mut s, &events), (&mut paid, &paid_events)] {
            let before = schedule.clone();
            for event in history.iter() {
                let refused = schedule.apply_logged(event);
                assert!(refused.is_err(), "{event:?} applied twice");
                assert_eq!(*schedule, before, "a refused {event:?} changed nothing");
            }
        }
    }

    /// The same events replayed in order on a fresh schedule all pass.
    #[test]
    fn a_true_history_replays() {
        let mut s = uniform_schedule(1, 1, 4);
        let mut events = vec![hold_ids(&mut s, 1, user(1), &["S0-1-1"], T0).expect("hold")];
        events.push(
            s.begin_payment(rid(1), user(1), pid(1), None, T0)
                .expect("begin"),
        );
        events.push(
            s.confirm(rid(1), pid(1), vec![tid(1, 0)], T0)
                .expect("confirm"),
        );
        let mut replay = uniform_schedule(1, 1, 4);
        for event in &events {
            replay.apply_logged(event).expect("a true event replays");
        }
        assert_eq!(replay, s);
    }

    #[test]
    fn a_hold_of_a_taken_or_unknown_seat_is_refused() {
        let mut s = uniform_schedule(1, 1, 4);
        let held = hold_ids(&mut s, 1, user(1), &["S0-1-1"], T0).expect("hold");
        let ScheduleEvent::Held { seats, amount, .. } = held else {
            panic!("a hold event");
        };
        let again = ScheduleEvent::Held {
            reservation_id: rid(2),
            number: "BX-2".into(),
            user: user(2),
            seats: seats.clone(),
            amount,
            at: T0,
            expires_at: T0,
        };
        assert!(s.apply_logged(&again).unwrap_err().contains("held while"));
        let unknown = ScheduleEvent::Held {
            reservation_id: rid(3),
            number: "BX-3".into(),
            user: user(3),
            seats: vec![SeatIndex(99)],
            amount,
            at: T0,
            expires_at: T0,
        };
        assert!(s
            .apply_logged(&unknown)
            .unwrap_err()
            .contains("out of range"));
    }
}
