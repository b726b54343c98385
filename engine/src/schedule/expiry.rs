//! Expiry of unpaid holds. The schedule keeps every `Held` reservation in an
//! index ordered by deadline, so the actor needs one timer (for
//! `next_deadline`) and each sweep touches only what is due.
//!
//! `PaymentPending` reservations are not in the index: a hold cannot expire
//! while its payment saga is in flight. An aborted payment puts the hold back
//! with its original deadline, so the next sweep expires it if that has passed.

use super::events::ScheduleEvent;
use super::Schedule;
use crate::{ReservationId, Timestamp};

/// Most reservations one `expire_due` call expires, so that one sweep (and
/// its event) stays small; the caller loops while it returns `Some`.
pub const MAX_EXPIRE_BATCH: usize = 4096;

impl Schedule {
    /// Expires every `Held` reservation with `expires_at <= now`, oldest first,
    /// at most [`MAX_EXPIRE_BATCH`] per call. `None` when nothing is due.
    pub fn expire_due(&mut self, now: Timestamp) -> Option<ScheduleEvent> {
        // A cancelled schedule's holds are released by its cancellation instead.
        if self.is_cancelled() {
            return None;
        }
        let due: Vec<ReservationId> = self
            .expiry
            .iter()
            .take_while(|(expires_at, _)| *expires_at <= now)
            .take(MAX_EXPIRE_BATCH)
            .map(|&(_, id)| id)
            .collect();
        if due.is_empty() {
            return None;
        }
        let event = ScheduleEvent::Expired {
            reservation_ids: due,
            at: now,
        };
        self.apply(&event);
        Some(event)
    }

    /// The earliest `expires_at` of a `Held` reservation: when to sweep next.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        if self.is_cancelled() {
            return None;
        }
        self.expiry.first().map(|&(expires_at, _)| expires_at)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixture::*;
    use super::super::*;
    use crate::layout::SeatLayout;
    use crate::Timestamp;

    #[test]
    fn a_hold_expires_at_exactly_its_deadline() {
        let mut s = uniform_schedule(1, 1, 4);
        hold_ids(&mut s, 1, user(1), &["S0-1-1", "S0-1-2"], T0).expect("hold");
        let deadline = Timestamp(T0.0 + DEFAULT_HOLD_MS);
        assert_eq!(s.next_deadline(), Some(deadline));
        assert_eq!(s.expire_due(Timestamp(deadline.0 - 1)), None);
        assert_eq!(
            s.reservation(rid(1)).map(|r| r.status),
            Some(ReservationStatus::Held)
        );
        let event = s.expire_due(deadline).expect("due at the deadline");
        assert_eq!(
            event,
            ScheduleEvent::Expired {
                reservation_ids: vec![rid(1)],
                at: deadline
            }
        );
        let reservation = s.reservation(rid(1)).expect("still queryable");
        assert_eq!(reservation.status, ReservationStatus::Expired);
        assert_eq!(reservation.ended_at, Some(deadline));
        assert_eq!(s.counts().available, 4);
        assert_eq!(s.seats_of_user(user(1)), 0);
        assert_eq!(s.next_deadline(), None);
        assert_eq!(s.expire_due(Timestamp::MAX), None);
        s.check_invariants().expect("invariants");
    }

    #[test]
    fn expiry_takes_the_oldest_first_and_leaves_later_holds() {
        let mut s = uniform_schedule(1, 1, 6);
        hold_ids(&mut s, 1, user(1), &["S0-1-1"], Timestamp(T0.0 + 20)).expect("hold");
        hold_ids(&mut s, 2, user(2), &["S0-1-2"], T0).expect("hold");
        hold_ids(&mut s, 3, user(3), &["S0-1-3"], Timestamp(T0.0 + 50)).expect("hold");
        let now = Timestamp(T0.0 + DEFAULT_HOLD_MS + 20);
        let event = s.expire_due(now).expect("two due");
        assert_eq!(
            event,
            ScheduleEvent::Expired {
                reservation_ids: vec![rid(2), rid(1)],
                at: now
            }
        );
        assert_eq!(
            s.reservation(rid(3)).map(|r| r.status),
            Some(ReservationStatus::Held)
        );
        assert_eq!(
            s.next_deadline(),
            Some(Timestamp(T0.0 + 50 + DEFAULT_HOLD_MS))
        );
    }

    #[test]
    fn payment_pending_never_expires_and_an_abort_restores_the_deadline() {
        let mut s = uniform_schedule(1, 1, 4);
        hold_ids(&mut s, 1, user(1), &["S0-1-1"], T0).expect("hold");
        let deadline = Timestamp(T0.0 + DEFAULT_HOLD_MS);
        s.begin_payment(rid(1), user(1), pid(1), None, Timestamp(deadline.0 - 1))
            .expect("pending");
        assert_eq!(s.next_deadline(), None);
        assert_eq!(s.expire_due(Timestamp(deadline.0 + 1_000_000)), None);
        s.abort_payment(rid(1), pid(1), Timestamp(deadline.0 + 5))
            .expect("aborted");
        assert_eq!(
            s.reservation(rid(1)).map(|r| (r.status, r.expires_at)),
            Some((ReservationStatus::Held, deadline))
        );
        assert_eq!(s.next_deadline(), Some(deadline));
        let event = s
            .expire_due(Timestamp(deadline.0 + 6))
            .expect("past deadline");
        assert_eq!(
            event,
            ScheduleEvent::Expired {
                reservation_ids: vec![rid(1)],
                at: Timestamp(deadline.0 + 6)
            }
        );
        s.check_invariants().expect("invariants");
    }

    #[test]
    fn a_sweep_is_bounded_and_the_caller_loops() {
        let total = MAX_EXPIRE_BATCH as u32 + 10;
        let rules = ScheduleRules {
            max_seats_per_user: 1,
            ..ScheduleRules::default()
        };
        let mut s = with_rules(SeatLayout::uniform(1, 5, 1_000), rules);
        for n in 0..total {
            let id = s.seat_id(SeatIndex(n));
            hold_ids(&mut s, n, user(n), &[&id], Timestamp(T0.0 + n as i64)).expect("hold");
        }
        let now = Timestamp::MAX;
        let Some(ScheduleEvent::Expired {
            reservation_ids, ..
        }) = s.expire_due(now)
        else {
            panic!("a first batch is due");
        };
        assert_eq!(reservation_ids.len(), MAX_EXPIRE_BATCH);
        assert_eq!(reservation_ids[0], rid(0), "oldest first");
        let Some(ScheduleEvent::Expired {
            reservation_ids, ..
        }) = s.expire_due(now)
        else {
            panic!("the rest is due");
        };
        assert_eq!(reservation_ids.len(), 10);
        assert_eq!(s.expire_due(now), None);
        assert_eq!(s.counts().held, 0);
        s.check_invariants().expect("invariants");
    }

    #[test]
    fn holds_shorter_than_the_api_allows_still_behave() {
        // Actor tests use short holds; the engine accepts any rules consistently.
        let rules = ScheduleRules {
            hold_ms: 50,
            ..ScheduleRules::default()
        };
        let mut s = with_rules(SeatLayout::uniform(1, 1, 2), rules);
        hold_ids(&mut s, 1, user(1), &["S0-1-1"], T0).expect("hold");
        assert_eq!(s.next_deadline(), Some(Timestamp(T0.0 + 50)));
        assert_eq!(
            s.begin_payment(rid(1), user(1), pid(1), None, Timestamp(T0.0 + 50)),
            Err(ScheduleError::ReservationExpired)
        );
        assert!(s.expire_due(Timestamp(T0.0 + 50)).is_some());
        s.check_invariants().expect("invariants");
    }
}
