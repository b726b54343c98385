//! The schedule's side of the payment saga: `begin_payment` freezes a hold
//! (it stops expiring), then either `confirm` sells its seats and issues one
//! ticket per seat, or `abort_payment` returns it to `Held` with its original
//! deadline. The wallet debit happens between the two, in another actor.

use super::errors::ScheduleError;
use super::events::ScheduleEvent;
use super::reservation::ReservationStatus;
use super::Schedule;
use crate::{Money, PaymentId, ReservationId, TicketId, Timestamp, UserId};

impl Schedule {
    /// Held (and not past `expires_at`) -> PaymentPending. `expected_amount`,
    /// when given, must equal the reservation's total (the price the client saw).
    pub fn begin_payment(
        &mut self,
        id: ReservationId,
        user: UserId,
        payment_id: PaymentId,
        expected_amount: Option<Money>,
        now: Timestamp,
    ) -> Result<ScheduleEvent, ScheduleError> {
        let slot = self.owned_slot(id, user)?;
        if self.is_cancelled() {
            return Err(ScheduleError::ScheduleCancelled);
        }
        let reservation = &self.reservations[slot];
        match reservation.status {
            // Expired even if the sweep has not run yet: the deadline is the contract.
            ReservationStatus::Held if now >= reservation.expires_at => {
                return Err(ScheduleError::ReservationExpired)
            }
            ReservationStatus::Held => {}
            ReservationStatus::PaymentPending { .. } => {
                return Err(ScheduleError::PaymentInProgress)
            }
            ReservationStatus::Confirmed { .. } => return Err(ScheduleError::AlreadyPaid),
            ReservationStatus::Cancelled => return Err(ScheduleError::ReservationCancelled),
            ReservationStatus::Expired => return Err(ScheduleError::ReservationExpired),
        }
        if expected_amount.is_some_and(|amount| amount != reservation.amount) {
            return Err(ScheduleError::AmountMismatch {
                expected: reservation.amount,
            });
        }
        let event = ScheduleEvent::PaymentBegun {
            reservation_id: id,
            payment_id,
            amount: reservation.amount,
            at: now,
        };
        self.apply(&event);
        Ok(event)
    }

    /// PaymentPending with this payment -> Confirmed: seats sold, one ticket
    /// per seat (`tickets` parallel to the reservation's seats, ids fresh).
    pub fn confirm(
        &mut self,
        id: ReservationId,
        payment_id: PaymentId,
        tickets: Vec<TicketId>,
        now: Timestamp,
    ) -> Result<ScheduleEvent, ScheduleError> {
        let slot = self.slot_of(id).ok_or(ScheduleError::ReservationNotFound)?;
        let reservation = &self.reservations[slot];
        if reservation.status != (ReservationStatus::PaymentPending { payment_id }) {
            return Err(ScheduleError::PaymentMismatch);
        }
        if tickets.len() != reservation.seats.len() {
            return Err(ScheduleError::InvalidSelection("one ticket id per seat"));
        }
        // Ticket ids are drawn at random by the caller; a repeat is a caller bug
        // that would otherwise corrupt the ticket index.
        for (i, ticket) in tickets.iter().enumerate() {
            if tickets[..i].contains(ticket) || self.ticket_slots.contains_key(ticket) {
                return Err(ScheduleError::InvalidSelection("duplicate ticket id"));
            }
        }
        let event = ScheduleEvent::Confirmed {
            reservation_id: id,
            payment_id,
            tickets,
            at: now,
        };
        self.apply(&event);
        Ok(event)
    }

    /// PaymentPending with this payment -> Held, with its original deadline
    /// (already past means the next `expire_due` expires it).
    pub fn abort_payment(
        &mut self,
        id: ReservationId,
        payment_id: PaymentId,
        now: Timestamp,
    ) -> Result<ScheduleEvent, ScheduleError> {
        let slot = self.slot_of(id).ok_or(ScheduleError::ReservationNotFound)?;
        if self.reservations[slot].status != (ReservationStatus::PaymentPending { payment_id }) {
            return Err(ScheduleError::PaymentMismatch);
        }
        let event = ScheduleEvent::PaymentAborted {
            reservation_id: id,
            payment_id,
            at: now,
        };
        self.apply(&event);
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixture::*;
    use super::super::*;
    use crate::{Money, Timestamp};

    fn held(seats: &[&str]) -> Schedule {
        let mut s = uniform_schedule(1, 1, 6);
        hold_ids(&mut s, 1, user(1), seats, T0).expect("hold");
        s
    }

    #[test]
    fn payment_confirms_seats_and_issues_one_ticket_per_seat() {
        let mut s = held(&["S0-1-4", "S0-1-2"]);
        let begun = s
            .begin_payment(rid(1), user(1), pid(1), Some(Money(20_000)), T0)
            .expect("begun");
        assert_eq!(
            begun,
            ScheduleEvent::PaymentBegun {
                reservation_id: rid(1),
                payment_id: pid(1),
                amount: Money(20_000),
                at: T0
            }
        );
        assert_eq!(
            s.reservation(rid(1)).map(|r| r.status),
            Some(ReservationStatus::PaymentPending { payment_id: pid(1) })
        );
        assert_eq!(s.seat_status(seat(&s, "S0-1-4")), SeatStatus::Held);
        assert_eq!(
            s.pending_payments().map(|r| r.id).collect::<Vec<_>>(),
            vec![rid(1)]
        );
        s.check_invariants().expect("invariants");

        let paid_at = Timestamp(T0.0 + 3);
        let confirmed = s
            .confirm(rid(1), pid(1), vec![tid(1, 0), tid(1, 1)], paid_at)
            .expect("confirmed");
        assert_eq!(
            confirmed,
            ScheduleEvent::Confirmed {
                reservation_id: rid(1),
                payment_id: pid(1),
                tickets: vec![tid(1, 0), tid(1, 1)],
                at: paid_at
            }
        );
        let reservation = s.reservation(rid(1)).expect("stored");
        assert_eq!(
            reservation.status,
            ReservationStatus::Confirmed { payment_id: pid(1) }
        );
        assert_eq!(reservation.paid_at, Some(paid_at));
        assert_eq!(reservation.tickets, vec![tid(1, 0), tid(1, 1)]);
        let ticket = s.ticket(tid(1, 1)).expect("issued");
        assert_eq!(
            ticket,
            &Ticket {
                id: tid(1, 1),
                reservation_id: rid(1),
                seat: seat(&s, "S0-1-2"),
                price: Money(10_000),
                status: TicketStatus::Issued,
                issued_at: paid_at,
            }
        );
        assert_eq!(
            s.counts(),
            SeatCounts {
                total: 6,
                available: 4,
                held: 0,
                sold: 2
            }
        );
        assert_eq!(s.seats_of_user(user(1)), 2);
        assert_eq!(s.pending_payments().count(), 0);
        assert_eq!(s.next_deadline(), None);
        s.check_invariants().expect("invariants");
    }

    #[test]
    fn begin_payment_refusals_follow_the_reservation_status() {
        let mut s = held(&["S0-1-1"]);
        assert_eq!(
            s.begin_payment(rid(1), user(2), pid(1), None, T0),
            Err(ScheduleError::ReservationNotFound)
        );
        assert_eq!(
            s.begin_payment(rid(7), user(1), pid(1), None, T0),
            Err(ScheduleError::ReservationNotFound)
        );
        assert_eq!(
            s.begin_payment(rid(1), user(1), pid(1), Some(Money(9_999)), T0),
            Err(ScheduleError::AmountMismatch {
                expected: Money(10_000)
            })
        );
        s.begin_payment(rid(1), user(1), pid(1), None, T0)
            .expect("begun");
        assert_eq!(
            s.begin_payment(rid(1), user(1), pid(2), None, T0),
            Err(ScheduleError::PaymentInProgress)
        );
        s.confirm(rid(1), pid(1), vec![tid(1, 0)], T0)
            .expect("confirmed");
        assert_eq!(
            s.begin_payment(rid(1), user(1), pid(2), None, T0),
            Err(ScheduleError::AlreadyPaid)
        );

        hold_ids(&mut s, 2, user(1), &["S0-1-2"], T0).expect("hold");
        s.cancel(rid(2), user(1), T0).expect("released");
        assert_eq!(
            s.begin_payment(rid(2), user(1), pid(2), None, T0),
            Err(ScheduleError::ReservationCancelled)
        );

        hold_ids(&mut s, 3, user(1), &["S0-1-3"], T0).expect("hold");
        s.expire_due(Timestamp(T0.0 + DEFAULT_HOLD_MS))
            .expect("expired");
        assert_eq!(
            s.begin_payment(rid(3), user(1), pid(3), None, T0),
            Err(ScheduleError::ReservationExpired)
        );
    }

    #[test]
    fn a_payment_at_the_deadline_is_expired_even_before_the_sweep() {
        let mut s = held(&["S0-1-1"]);
        let deadline = Timestamp(T0.0 + DEFAULT_HOLD_MS);
        let before = s.clone();
        assert_eq!(
            s.begin_payment(rid(1), user(1), pid(1), None, deadline),
            Err(ScheduleError::ReservationExpired)
        );
        assert_eq!(s, before);
        assert!(s
            .begin_payment(rid(1), user(1), pid(1), None, Timestamp(deadline.0 - 1))
            .is_ok());
    }

    #[test]
    fn confirm_and_abort_need_the_pending_payment() {
        let mut s = held(&["S0-1-1", "S0-1-2"]);
        assert_eq!(
            s.confirm(rid(1), pid(1), vec![tid(1, 0), tid(1, 1)], T0),
            Err(ScheduleError::PaymentMismatch)
        );
        assert_eq!(
            s.abort_payment(rid(1), pid(1), T0),
            Err(ScheduleError::PaymentMismatch)
        );
        assert_eq!(
            s.confirm(rid(9), pid(1), vec![], T0),
            Err(ScheduleError::ReservationNotFound)
        );
        assert_eq!(
            s.abort_payment(rid(9), pid(1), T0),
            Err(ScheduleError::ReservationNotFound)
        );
        s.begin_payment(rid(1), user(1), pid(1), None, T0)
            .expect("begun");
        let before = s.clone();
        assert_eq!(
            s.confirm(rid(1), pid(2), vec![tid(1, 0), tid(1, 1)], T0),
            Err(ScheduleError::PaymentMismatch)
        );
        assert_eq!(
            s.abort_payment(rid(1), pid(2), T0),
            Err(ScheduleError::PaymentMismatch)
        );
        assert_eq!(
            s.confirm(rid(1), pid(1), vec![tid(1, 0)], T0),
            Err(ScheduleError::InvalidSelection("one ticket id per seat"))
        );
        assert_eq!(
            s.confirm(rid(1), pid(1), vec![tid(1, 0), tid(1, 0)], T0),
            Err(ScheduleError::InvalidSelection("duplicate ticket id"))
        );
        assert_eq!(s, before);
        s.confirm(rid(1), pid(1), vec![tid(1, 0), tid(1, 1)], T0)
            .expect("confirmed");
        // Confirming twice is a mismatch: the payment is no longer pending.
        assert_eq!(
            s.confirm(rid(1), pid(1), vec![tid(1, 2), tid(1, 3)], T0),
            Err(ScheduleError::PaymentMismatch)
        );
        assert_eq!(
            s.abort_payment(rid(1), pid(1), T0),
            Err(ScheduleError::PaymentMismatch)
        );
    }

    #[test]
    fn a_ticket_id_already_issued_is_refused() {
        let mut s = uniform_schedule(1, 1, 6);
        hold_ids(&mut s, 1, user(1), &["S0-1-1"], T0).expect("hold");
        pay(&mut s, 1, user(1), T0).expect("paid");
        hold_ids(&mut s, 2, user(2), &["S0-1-2"], T0).expect("hold");
        s.begin_payment(rid(2), user(2), pid(2), None, T0)
            .expect("begun");
        assert_eq!(
            s.confirm(rid(2), pid(2), vec![tid(1, 0)], T0),
            Err(ScheduleError::InvalidSelection("duplicate ticket id"))
        );
    }

    #[test]
    fn an_aborted_payment_can_be_retried() {
        let mut s = held(&["S0-1-1"]);
        s.begin_payment(rid(1), user(1), pid(1), None, T0)
            .expect("begun");
        let event = s.abort_payment(rid(1), pid(1), T0).expect("aborted");
        assert_eq!(
            event,
            ScheduleEvent::PaymentAborted {
                reservation_id: rid(1),
                payment_id: pid(1),
                at: T0
            }
        );
        assert_eq!(
            s.reservation(rid(1)).map(|r| r.status),
            Some(ReservationStatus::Held)
        );
        assert_eq!(s.seat_status(seat(&s, "S0-1-1")), SeatStatus::Held);
        s.begin_payment(rid(1), user(1), pid(2), None, T0)
            .expect("second attempt");
        s.confirm(rid(1), pid(2), vec![tid(1, 0)], T0)
            .expect("confirmed");
        s.check_invariants().expect("invariants");
    }

    #[test]
    fn check_in_uses_a_ticket_once() {
        let mut s = held(&["S0-1-1"]);
        assert_eq!(
            s.check_in(tid(1, 0), T0),
            Err(ScheduleError::TicketNotFound)
        );
        pay(&mut s, 1, user(1), T0).expect("paid");
        let at = Timestamp(T0.0 + 60_000);
        assert_eq!(
            s.check_in(tid(1, 0), at),
            Ok(ScheduleEvent::CheckedIn {
                ticket_id: tid(1, 0),
                at
            })
        );
        assert_eq!(
            s.ticket(tid(1, 0)).map(|t| t.status),
            Some(TicketStatus::Used { at })
        );
        let before = s.clone();
        assert_eq!(
            s.check_in(tid(1, 0), Timestamp(at.0 + 1)),
            Err(ScheduleError::TicketAlreadyUsed { at })
        );
        assert_eq!(s, before);
        s.check_invariants().expect("invariants");
    }
}
