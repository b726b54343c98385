//! Cancellation by the owner, and settling the refund it may owe.
//!
//! A `Held` reservation is released at once (no money moved). A `Confirmed`
//! one may be cancelled until `booking_closes_at` (exclusive): its tickets are
//! voided, its seats freed, and a refund of the full amount is recorded as
//! owed; the actors credit the wallet and then call `settle_refund`, so a crash
//! between the two leaves the refund visible in `unsettled_refunds`.

use super::errors::ScheduleError;
use super::events::ScheduleEvent;
use super::reservation::ReservationStatus;
use super::ticket::TicketStatus;
use super::Schedule;
use crate::{ReservationId, Timestamp, UserId};

impl Schedule {
    /// Held -> `Released`; Confirmed before `booking_closes_at` -> `Cancelled`
    /// with a full refund. Another user's reservation is `ReservationNotFound`.
    pub fn cancel(
        &mut self,
        id: ReservationId,
        user: UserId,
        now: Timestamp,
    ) -> Result<ScheduleEvent, ScheduleError> {
        let slot = self.owned_slot(id, user)?;
        let reservation = &self.reservations[slot];
        let event = match reservation.status {
            // Past its expiry a hold is over even before the sweep marks it:
            // the same moment that makes a payment 410 makes a cancel refused,
            // so a hold ends one way only.
            ReservationStatus::Held if now >= reservation.expires_at => {
                return Err(ScheduleError::NotCancellable)
            }
            ReservationStatus::Held => ScheduleEvent::Released {
                reservation_id: id,
                at: now,
            },
            ReservationStatus::PaymentPending { .. } => {
                return Err(ScheduleError::PaymentInProgress)
            }
            ReservationStatus::Confirmed { .. } => {
                if now >= self.rules.booking_closes_at {
                    return Err(ScheduleError::NotCancellable);
                }
                // A ticket already used at the door cannot be handed back for money.
                if self.reservation_has_used_ticket(slot) {
                    return Err(ScheduleError::NotCancellable);
                }
                ScheduleEvent::Cancelled {
                    reservation_id: id,
                    refund_amount: reservation.amount,
                    at: now,
                }
            }
            ReservationStatus::Expired | ReservationStatus::Cancelled => {
                return Err(ScheduleError::NotCancellable)
            }
        };
        self.apply(&event);
        Ok(event)
    }

    /// Records that the owed refund reached the wallet.
    pub fn settle_refund(
        &mut self,
        id: ReservationId,
        now: Timestamp,
    ) -> Result<ScheduleEvent, ScheduleError> {
        let slot = self.slot_of(id).ok_or(ScheduleError::ReservationNotFound)?;
        match &self.reservations[slot].refund {
            Some(refund) if !refund.settled => {}
            _ => return Err(ScheduleError::RefundNotOwed),
        }
        let event = ScheduleEvent::RefundSettled {
            reservation_id: id,
            at: now,
        };
        self.apply(&event);
        Ok(event)
    }

    fn reservation_has_used_ticket(&self, slot: usize) -> bool {
        self.reservations[slot]
            .tickets
            .iter()
            .filter_map(|&ticket| self.ticket(ticket))
            .any(|ticket| matches!(ticket.status, TicketStatus::Used { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixture::*;
    use super::super::*;
    use crate::layout::SeatLayout;
    use crate::{Money, Timestamp};

    #[test]
    fn cancelling_a_hold_frees_its_seats_at_once() {
        let mut s = uniform_schedule(1, 1, 4);
        hold_ids(&mut s, 1, user(1), &["S0-1-1", "S0-1-2"], T0).expect("hold");
        let now = Timestamp(T0.0 + 5);
        let event = s.cancel(rid(1), user(1), now).expect("released");
        assert_eq!(
            event,
            ScheduleEvent::Released {
                reservation_id: rid(1),
                at: now
            }
        );
        let reservation = s.reservation(rid(1)).expect("queryable");
        assert_eq!(
            (reservation.status, reservation.ended_at),
            (ReservationStatus::Cancelled, Some(now))
        );
        assert_eq!(reservation.refund, None);
        assert_eq!(s.counts().available, 4);
        assert_eq!(s.seats_of_user(user(1)), 0);
        assert_eq!(s.next_deadline(), None);
        assert_eq!(
            s.cancel(rid(1), user(1), now),
            Err(ScheduleError::NotCancellable)
        );
        s.check_invariants().expect("invariants");
    }

    #[test]
    fn another_users_or_unknown_reservation_is_not_found() {
        let mut s = uniform_schedule(1, 1, 4);
        hold_ids(&mut s, 1, user(1), &["S0-1-1"], T0).expect("hold");
        let before = s.clone();
        assert_eq!(
            s.cancel(rid(1), user(2), T0),
            Err(ScheduleError::ReservationNotFound)
        );
        assert_eq!(
            s.cancel(rid(9), user(1), T0),
            Err(ScheduleError::ReservationNotFound)
        );
        assert_eq!(s, before);
    }

    #[test]
    fn expired_and_payment_pending_reservations_are_not_cancelled() {
        let mut s = uniform_schedule(1, 1, 4);
        hold_ids(&mut s, 1, user(1), &["S0-1-1"], T0).expect("hold");
        hold_ids(&mut s, 2, user(1), &["S0-1-2"], T0).expect("hold");
        s.begin_payment(rid(2), user(1), pid(2), None, T0)
            .expect("pending");
        s.expire_due(Timestamp(T0.0 + DEFAULT_HOLD_MS))
            .expect("rid(1) expired");
        assert_eq!(
            s.cancel(rid(1), user(1), T0),
            Err(ScheduleError::NotCancellable)
        );
        assert_eq!(
            s.cancel(rid(2), user(1), T0),
            Err(ScheduleError::PaymentInProgress)
        );
    }

    #[test]
    fn cancelling_a_confirmed_reservation_voids_tickets_and_owes_a_refund() {
        let mut s = uniform_schedule(1, 1, 4);
        hold_ids(&mut s, 1, user(1), &["S0-1-1", "S0-1-2"], T0).expect("hold");
        pay(&mut s, 1, user(1), T0).expect("paid");
        let now = Timestamp(T0.0 + 10);
        let event = s.cancel(rid(1), user(1), now).expect("cancelled");
        assert_eq!(
            event,
            ScheduleEvent::Cancelled {
                reservation_id: rid(1),
                refund_amount: Money(20_000),
                at: now
            }
        );
        let reservation = s.reservation(rid(1)).expect("queryable");
        assert_eq!(reservation.status, ReservationStatus::Cancelled);
        assert_eq!(
            reservation.refund,
            Some(Refund {
                payment_id: pid(1),
                amount: Money(20_000),
                settled: false
            })
        );
        assert!(s.tickets().all(|t| t.status == TicketStatus::Void));
        assert_eq!(s.check_in(tid(1, 0), now), Err(ScheduleError::TicketVoid));
        assert_eq!(
            s.counts(),
            SeatCounts {
                total: 4,
                available: 4,
                held: 0,
                sold: 0
            }
        );
        assert_eq!(s.seats_of_user(user(1)), 0);
        assert_eq!(
            s.unsettled_refunds().map(|r| r.id).collect::<Vec<_>>(),
            vec![rid(1)]
        );
        s.check_invariants().expect("invariants");

        let settled = s.settle_refund(rid(1), now).expect("settled");
        assert_eq!(
            settled,
            ScheduleEvent::RefundSettled {
                reservation_id: rid(1),
                at: now
            }
        );
        assert_eq!(
            s.reservation(rid(1))
                .and_then(|r| r.refund.as_ref())
                .map(|r| r.settled),
            Some(true)
        );
        assert_eq!(s.unsettled_refunds().count(), 0);
        assert_eq!(
            s.settle_refund(rid(1), now),
            Err(ScheduleError::RefundNotOwed)
        );
        s.check_invariants().expect("invariants");
    }

    #[test]
    fn settle_refund_needs_a_refund_owed() {
        let mut s = uniform_schedule(1, 1, 4);
        assert_eq!(
            s.settle_refund(rid(1), T0),
            Err(ScheduleError::ReservationNotFound)
        );
        hold_ids(&mut s, 1, user(1), &["S0-1-1"], T0).expect("hold");
        assert_eq!(
            s.settle_refund(rid(1), T0),
            Err(ScheduleError::RefundNotOwed)
        );
        s.cancel(rid(1), user(1), T0).expect("released");
        assert_eq!(
            s.settle_refund(rid(1), T0),
            Err(ScheduleError::RefundNotOwed),
            "a released hold owes nothing"
        );
    }

    #[test]
    fn confirmed_reservations_cannot_be_cancelled_from_booking_close() {
        let rules = ScheduleRules {
            booking_closes_at: Timestamp(T0.0 + 100),
            ..ScheduleRules::default()
        };
        let mut s = with_rules(SeatLayout::uniform(1, 1, 4), rules);
        hold_ids(&mut s, 1, user(1), &["S0-1-1"], T0).expect("hold");
        pay(&mut s, 1, user(1), T0).expect("paid");
        hold_ids(&mut s, 2, user(1), &["S0-1-2"], T0).expect("hold");
        pay(&mut s, 2, user(1), T0).expect("paid");
        assert_eq!(
            s.cancel(rid(1), user(1), Timestamp(T0.0 + 100)),
            Err(ScheduleError::NotCancellable)
        );
        assert!(s.cancel(rid(2), user(1), Timestamp(T0.0 + 99)).is_ok());
        // A plain hold can still be released after booking closed.
        hold_ids(&mut s, 3, user(1), &["S0-1-3"], T0).expect("hold");
        assert!(s.cancel(rid(3), user(1), Timestamp(T0.0 + 500)).is_ok());
    }

    #[test]
    fn a_reservation_with_a_used_ticket_is_not_refunded() {
        let mut s = uniform_schedule(1, 1, 4);
        hold_ids(&mut s, 1, user(1), &["S0-1-1", "S0-1-2"], T0).expect("hold");
        pay(&mut s, 1, user(1), T0).expect("paid");
        s.check_in(tid(1, 1), T0).expect("used");
        assert_eq!(
            s.cancel(rid(1), user(1), T0),
            Err(ScheduleError::NotCancellable)
        );
    }

    #[test]
    fn a_hold_past_its_expiry_cannot_be_cancelled_even_before_the_sweep() {
        let mut s = uniform_schedule(1, 1, 4);
        hold_ids(&mut s, 1, user(1), &["S0-1-1"], T0).expect("hold");
        let expires_at = s.reservation(rid(1)).expect("held").expires_at;
        assert_eq!(
            s.cancel(rid(1), user(1), expires_at),
            Err(ScheduleError::NotCancellable)
        );
        assert!(s
            .cancel(rid(1), user(1), Timestamp(expires_at.0 - 1))
            .is_ok());
    }
}
