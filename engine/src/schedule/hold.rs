//! The hold command: a user takes seats (named, or chosen by best-available)
//! for `hold_ms`, all or nothing.
//!
//! Checks run in a fixed order so each refusal is the one the API documents:
//! booking window, then the request's shape (ids, quantity, filters), then the
//! per-user seat limit, then availability.

use super::best_available::{find_block, SectionFilter};
use super::errors::ScheduleError;
use super::events::ScheduleEvent;
use super::reservation::{HoldRequest, SeatSelection, MAX_RESERVATION_NUMBER_LEN};
use super::rules::MAX_SEATS_PER_USER_LIMIT;
use super::seat_map::SeatIndex;
use super::Schedule;
use crate::{Timestamp, UserId};

impl Schedule {
    /// Holds seats for `req.user` until `now + hold_ms`. Returns the `Held` event.
    pub fn hold(
        &mut self,
        req: HoldRequest,
        now: Timestamp,
    ) -> Result<ScheduleEvent, ScheduleError> {
        if self.is_cancelled() {
            return Err(ScheduleError::ScheduleCancelled);
        }
        if !self.rules.is_booking_open(now) {
            return Err(ScheduleError::BookingClosed);
        }
        if self.reservation_slots.contains_key(&req.reservation_id) {
            // A caller bug (ids are drawn at random); refusing keeps state intact.
            return Err(ScheduleError::InvalidSelection("duplicate reservation id"));
        }
        if req.number.is_empty() || req.number.len() > MAX_RESERVATION_NUMBER_LEN {
            return Err(ScheduleError::InvalidSelection(
                "reservation number must be 1-32 bytes",
            ));
        }
        if matches!(req.selection, SeatSelection::BestAvailable { .. }) {
            self.seats.refresh_runs(&self.seat_map);
        }
        let seats = match &req.selection {
            SeatSelection::Ids(ids) => self.pick_by_ids(req.user, ids)?,
            SeatSelection::BestAvailable {
                quantity,
                grade,
                section_id,
            } => self.pick_best_available(
                req.user,
                *quantity,
                grade.as_deref(),
                section_id.as_deref(),
            )?,
        };
        let amount = self
            .seat_map
            .total_price(&seats)
            .ok_or(ScheduleError::InvalidSelection("total amount overflows"))?;
        let event = ScheduleEvent::Held {
            reservation_id: req.reservation_id,
            number: req.number,
            user: req.user,
            seats,
            amount,
            at: now,
            expires_at: now.plus_millis(self.rules.hold_ms),
        };
        self.apply(&event);
        Ok(event)
    }

    /// Named seats: distinct, known, within the user's room, all available.
    fn pick_by_ids(&self, user: UserId, ids: &[String]) -> Result<Vec<SeatIndex>, ScheduleError> {
        if ids.is_empty() {
            return Err(ScheduleError::InvalidSelection("no seats requested"));
        }
        if ids.len() > MAX_SEATS_PER_USER_LIMIT as usize {
            // More than any schedule allows: refuse before parsing an unbounded list.
            return Err(self.limit_exceeded(user));
        }
        let mut seats = Vec::with_capacity(ids.len());
        for id in ids {
            let seat = self
                .seat_map
                .index_of(id)
                .ok_or_else(|| ScheduleError::UnknownSeat(id.clone()))?;
            // At most MAX_SEATS_PER_USER_LIMIT ids, so a quadratic check is cheapest.
            if seats.contains(&seat) {
                return Err(ScheduleError::InvalidSelection("duplicate seat ids"));
            }
            seats.push(seat);
        }
        self.check_user_limit(user, seats.len() as u32)?;
        let taken: Vec<SeatIndex> = seats
            .iter()
            .copied()
            .filter(|&seat| !self.seats.is_available(seat))
            .collect();
        if !taken.is_empty() {
            return Err(ScheduleError::SeatUnavailable(taken));
        }
        Ok(seats)
    }

    fn pick_best_available(
        &self,
        user: UserId,
        quantity: u32,
        grade: Option<&str>,
        section_id: Option<&str>,
    ) -> Result<Vec<SeatIndex>, ScheduleError> {
        if quantity == 0 {
            return Err(ScheduleError::InvalidSelection(
                "quantity must be at least 1",
            ));
        }
        let filter = SectionFilter::new(&self.seat_map, grade, section_id)?;
        self.check_user_limit(user, quantity)?;
        find_block(&self.seat_map, &self.seats, quantity, &filter)
            .ok_or(ScheduleError::SeatUnavailable(Vec::new()))
    }

    fn check_user_limit(&self, user: UserId, wanted: u32) -> Result<(), ScheduleError> {
        let already = self.seats_of_user(user);
        if already.saturating_add(wanted) > self.rules.max_seats_per_user {
            return Err(self.limit_exceeded(user));
        }
        Ok(())
    }

    fn limit_exceeded(&self, user: UserId) -> ScheduleError {
        ScheduleError::SeatLimitExceeded {
            limit: self.rules.max_seats_per_user,
            already: self.seats_of_user(user),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixture::*;
    use super::super::*;
    use crate::layout::SeatLayout;
    use crate::{Money, Timestamp};

    #[test]
    fn hold_takes_named_seats_with_their_prices_and_deadline() {
        let mut s = uniform_schedule(2, 2, 5);
        let event =
            hold_ids(&mut s, 1, user(1), &["S0-1-1", "S1-2-5"], Timestamp(1_000)).expect("hold");
        let ScheduleEvent::Held {
            reservation_id,
            seats,
            amount,
            at,
            expires_at,
            ..
        } = &event
        else {
            panic!("expected Held, got {event:?}");
        };
        assert_eq!(*reservation_id, rid(1));
        assert_eq!(seats, &vec![seat(&s, "S0-1-1"), seat(&s, "S1-2-5")]);
        assert_eq!(*amount, Money(20_000 + 10_000));
        assert_eq!(
            (*at, *expires_at),
            (Timestamp(1_000), Timestamp(1_000 + DEFAULT_HOLD_MS))
        );
        let reservation = s.reservation(rid(1)).expect("stored");
        assert_eq!(reservation.status, ReservationStatus::Held);
        assert_eq!(reservation.number, "BX-1");
        assert_eq!(s.seat_status(seat(&s, "S0-1-1")), SeatStatus::Held);
        assert_eq!(s.seats_of_user(user(1)), 2);
        assert_eq!(
            s.counts(),
            SeatCounts {
                total: 20,
                available: 18,
                held: 2,
                sold: 0
            }
        );
        assert_eq!(s.next_deadline(), Some(Timestamp(1_000 + DEFAULT_HOLD_MS)));
        s.check_invariants().expect("invariants");
    }

    #[test]
    fn hold_is_all_or_nothing_and_lists_every_taken_seat() {
        let mut s = uniform_schedule(1, 1, 6);
        hold_ids(&mut s, 1, user(1), &["S0-1-2", "S0-1-4"], T0).expect("first hold");
        let before = s.clone();
        let err = hold_ids(
            &mut s,
            2,
            user(2),
            &["S0-1-1", "S0-1-2", "S0-1-3", "S0-1-4"],
            T0,
        )
        .unwrap_err();
        assert_eq!(
            err,
            ScheduleError::SeatUnavailable(vec![seat(&s, "S0-1-2"), seat(&s, "S0-1-4")])
        );
        assert_eq!(s, before, "a refused hold changes nothing");
        assert_eq!(s.seat_status(seat(&s, "S0-1-1")), SeatStatus::Available);
    }

    #[test]
    fn booking_window_is_checked_first() {
        let rules = ScheduleRules {
            booking_opens_at: Timestamp(100),
            booking_closes_at: Timestamp(200),
            ..ScheduleRules::default()
        };
        let mut s =
            Schedule::new(schedule_id(), SeatLayout::uniform(1, 1, 3), rules).expect("schedule");
        // Even a malformed request is refused as closed: the window comes first.
        assert_eq!(
            hold_ids(&mut s, 1, user(1), &[], Timestamp(99)),
            Err(ScheduleError::BookingClosed)
        );
        assert_eq!(
            hold_ids(&mut s, 1, user(1), &["S0-1-1"], Timestamp(200)),
            Err(ScheduleError::BookingClosed)
        );
        assert!(hold_ids(&mut s, 1, user(1), &["S0-1-1"], Timestamp(100)).is_ok());
        assert!(hold_ids(&mut s, 2, user(1), &["S0-1-2"], Timestamp(199)).is_ok());
    }

    #[test]
    fn malformed_selections_are_invalid() {
        let mut s = uniform_schedule(1, 1, 5);
        let before = s.clone();
        assert_eq!(
            hold_ids(&mut s, 1, user(1), &[], T0),
            Err(ScheduleError::InvalidSelection("no seats requested"))
        );
        assert_eq!(
            hold_ids(&mut s, 1, user(1), &["S0-1-1", "S0-1-1"], T0),
            Err(ScheduleError::InvalidSelection("duplicate seat ids"))
        );
        assert_eq!(
            hold_ids(&mut s, 1, user(1), &["S0-1-1", "S0-1-9"], T0),
            Err(ScheduleError::UnknownSeat("S0-1-9".into()))
        );
        assert_eq!(
            hold_best(&mut s, 1, user(1), 0, None, None, T0),
            Err(ScheduleError::InvalidSelection(
                "quantity must be at least 1"
            ))
        );
        assert_eq!(
            hold_best(&mut s, 1, user(1), 1, Some("VIP"), None, T0),
            Err(ScheduleError::InvalidSelection("unknown grade"))
        );
        assert_eq!(
            hold_best(&mut s, 1, user(1), 1, None, Some("S9"), T0),
            Err(ScheduleError::InvalidSelection("unknown section"))
        );
        let long_number = HoldRequest {
            reservation_id: rid(1),
            number: "X".repeat(MAX_RESERVATION_NUMBER_LEN + 1),
            user: user(1),
            selection: SeatSelection::Ids(vec!["S0-1-1".into()]),
        };
        assert!(matches!(
            s.hold(long_number, T0),
            Err(ScheduleError::InvalidSelection(_))
        ));
        assert_eq!(s, before);
    }

    #[test]
    fn a_reused_reservation_id_is_refused_without_touching_state() {
        let mut s = uniform_schedule(1, 1, 5);
        hold_ids(&mut s, 1, user(1), &["S0-1-1"], T0).expect("hold");
        let before = s.clone();
        assert_eq!(
            hold_ids(&mut s, 1, user(2), &["S0-1-2"], T0),
            Err(ScheduleError::InvalidSelection("duplicate reservation id"))
        );
        assert_eq!(s, before);
    }

    #[test]
    fn per_user_limit_counts_held_pending_and_bought_seats() {
        let mut s = uniform_schedule(1, 2, 10); // default limit 4
        hold_ids(&mut s, 1, user(1), &["S0-1-1", "S0-1-2"], T0).expect("hold");
        pay(&mut s, 1, user(1), T0).expect("paid"); // 2 bought
        hold_ids(&mut s, 2, user(1), &["S0-1-3"], T0).expect("hold");
        s.begin_payment(rid(2), user(1), pid(2), None, T0)
            .expect("pending"); // 1 pending
        assert_eq!(s.seats_of_user(user(1)), 3);
        assert_eq!(
            hold_ids(&mut s, 3, user(1), &["S0-1-5", "S0-1-6"], T0),
            Err(ScheduleError::SeatLimitExceeded {
                limit: 4,
                already: 3
            })
        );
        assert_eq!(
            hold_best(&mut s, 3, user(1), 2, None, None, T0),
            Err(ScheduleError::SeatLimitExceeded {
                limit: 4,
                already: 3
            })
        );
        // The limit comes before availability: taken seats still report the limit.
        assert_eq!(
            hold_ids(&mut s, 3, user(1), &["S0-1-1", "S0-1-2"], T0),
            Err(ScheduleError::SeatLimitExceeded {
                limit: 4,
                already: 3
            })
        );
        hold_ids(&mut s, 3, user(1), &["S0-1-9"], T0).expect("exactly at the limit");
        // Other users are unaffected.
        hold_ids(
            &mut s,
            4,
            user(2),
            &["S0-2-1", "S0-2-2", "S0-2-3", "S0-2-4"],
            T0,
        )
        .expect("other user");
        s.check_invariants().expect("invariants");
    }

    #[test]
    fn one_request_over_the_limit_is_a_limit_error() {
        let mut s = uniform_schedule(1, 2, 30);
        let five: Vec<String> = (1..=5).map(|n| format!("S0-1-{n}")).collect();
        let five: Vec<&str> = five.iter().map(String::as_str).collect();
        assert_eq!(
            hold_ids(&mut s, 1, user(1), &five, T0),
            Err(ScheduleError::SeatLimitExceeded {
                limit: 4,
                already: 0
            })
        );
        assert_eq!(
            hold_best(&mut s, 1, user(1), u32::MAX, None, None, T0),
            Err(ScheduleError::SeatLimitExceeded {
                limit: 4,
                already: 0
            })
        );
        // A list longer than any limit is refused before its ids are even parsed.
        let many: Vec<String> = (0..25).map(|n| format!("junk{n}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            hold_ids(&mut s, 1, user(1), &many, T0),
            Err(ScheduleError::SeatLimitExceeded {
                limit: 4,
                already: 0
            })
        );
    }

    #[test]
    fn released_and_expired_seats_can_be_held_again() {
        let mut s = uniform_schedule(1, 1, 3);
        hold_ids(&mut s, 1, user(1), &["S0-1-1"], T0).expect("hold");
        s.cancel(rid(1), user(1), T0).expect("released");
        hold_ids(&mut s, 2, user(2), &["S0-1-1"], T0).expect("again after release");
        s.expire_due(Timestamp(T0.0 + DEFAULT_HOLD_MS))
            .expect("expired");
        hold_ids(
            &mut s,
            3,
            user(3),
            &["S0-1-1"],
            Timestamp(T0.0 + DEFAULT_HOLD_MS),
        )
        .expect("again after expiry");
        assert_eq!(
            s.reservation(rid(1)).map(|r| r.status),
            Some(ReservationStatus::Cancelled)
        );
        assert_eq!(
            s.reservation(rid(2)).map(|r| r.status),
            Some(ReservationStatus::Expired)
        );
        s.check_invariants().expect("invariants");
    }
}
