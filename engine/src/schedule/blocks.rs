//! Blocked seats: the box office takes free seats off sale (a sound desk, a
//! camera platform, seats kept for guests), puts them back, or issues them
//! free to a named user (a comp).
//!
//! A blocked seat is held by no reservation: its cell says `Blocked`, it is
//! not free for best-available or a hold (`SEAT_UNAVAILABLE`), and the public
//! counts and map show it as sold, so they reveal nothing. A comp turns
//! blocked seats into a `Confirmed` reservation of amount 0 with tickets,
//! counted as sold seats but no revenue.

use super::errors::ScheduleError;
use super::events::ScheduleEvent;
use super::reservation::{Reservation, ReservationStatus};
use super::seat_map::SeatIndex;
use super::seat_table::SeatStatus;
use super::ticket::{Ticket, TicketStatus};
use super::Schedule;
use crate::{Money, PaymentId, ReservationId, TicketId, Timestamp, UserId};
use std::collections::BTreeSet;

/// Most seats one block, unblock or comp names (a request's size bound).
pub const MAX_BLOCK_SEATS: usize = 1_000;
/// Longest reason for a block, in bytes (at least one).
pub const MAX_BLOCK_REASON_LEN: usize = 200;

/// A comp's ids, drawn by the caller (the engine draws nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompRequest {
    pub reservation_id: ReservationId,
    pub number: String,
    pub user: UserId,
    pub payment_id: PaymentId,
    /// One per seat, in the order of the seat ids.
    pub tickets: Vec<TicketId>,
}

impl Schedule {
    /// Blocked seats, in seat order, with their reasons.
    pub fn blocked_seats(&self) -> impl Iterator<Item = (SeatIndex, &str)> {
        self.blocks
            .iter()
            .map(|(&seat, reason)| (seat, reason.as_str()))
    }

    pub fn blocked_count(&self) -> u32 {
        self.blocks.len() as u32
    }

    /// True if reservation `id` is a comp still in memory.
    pub fn is_comp(&self, id: ReservationId) -> bool {
        self.comps.contains(&id)
    }

    /// Takes these available seats off sale, all or none.
    pub fn block_seats(
        &mut self,
        ids: &[String],
        reason: &str,
        now: Timestamp,
    ) -> Result<ScheduleEvent, ScheduleError> {
        if self.is_cancelled() {
            return Err(ScheduleError::ScheduleCancelled);
        }
        if reason.trim().is_empty() || reason.len() > MAX_BLOCK_REASON_LEN {
            return Err(ScheduleError::InvalidSelection(
                "reason must be 1-200 bytes, not only blanks",
            ));
        }
        let seats = self.named_seats(ids)?;
        let taken: Vec<SeatIndex> = seats
            .iter()
            .copied()
            .filter(|&seat| !self.seats.is_available(seat))
            .collect();
        if !taken.is_empty() {
            return Err(ScheduleError::SeatUnavailable(taken));
        }
        let event = ScheduleEvent::SeatsBlocked {
            seats,
            reason: reason.to_owned(),
            at: now,
        };
        self.apply(&event);
        Ok(event)
    }

    /// Puts these blocked seats back on sale, all or none.
    pub fn unblock_seats(
        &mut self,
        ids: &[String],
        now: Timestamp,
    ) -> Result<ScheduleEvent, ScheduleError> {
        let seats = self.named_seats(ids)?;
        self.check_blocked(&seats)?;
        let event = ScheduleEvent::SeatsUnblocked { seats, at: now };
        self.apply(&event);
        Ok(event)
    }

    /// Issues these blocked seats free to `req.user`, all or none.
    pub fn comp_seats(
        &mut self,
        req: CompRequest,
        ids: &[String],
        now: Timestamp,
    ) -> Result<ScheduleEvent, ScheduleError> {
        if self.is_cancelled() {
            return Err(ScheduleError::ScheduleCancelled);
        }
        let seats = self.named_seats(ids)?;
        self.check_blocked(&seats)?;
        if self.reservation_slots.contains_key(&req.reservation_id)
            || req.number.is_empty()
            || req.number.len() > super::MAX_RESERVATION_NUMBER_LEN
        {
            return Err(ScheduleError::InvalidSelection(
                "bad reservation id or number",
            ));
        }
        let fresh: BTreeSet<_> = req.tickets.iter().collect();
        if req.tickets.len() != seats.len()
            || fresh.len() != seats.len()
            || req
                .tickets
                .iter()
                .any(|t| self.ticket_slots.contains_key(t))
        {
            return Err(ScheduleError::InvalidSelection(
                "one fresh ticket id per seat",
            ));
        }
        let event = ScheduleEvent::Comped {
            reservation_id: req.reservation_id,
            number: req.number,
            user: req.user,
            payment_id: req.payment_id,
            seats,
            tickets: req.tickets,
            at: now,
        };
        self.apply(&event);
        Ok(event)
    }

    /// The seats named, each known and once; 1..=`MAX_BLOCK_SEATS` of them.
    fn named_seats(&self, ids: &[String]) -> Result<Vec<SeatIndex>, ScheduleError> {
        if ids.is_empty() || ids.len() > MAX_BLOCK_SEATS {
            return Err(ScheduleError::InvalidSelection("1-1000 seat ids"));
        }
        let mut seen = BTreeSet::new();
        let mut seats = Vec::with_capacity(ids.len());
        for id in ids {
            let seat = self
                .seat_map
                .index_of(id)
                .ok_or_else(|| ScheduleError::UnknownSeat(id.clone()))?;
            if !seen.insert(seat) {
                return Err(ScheduleError::InvalidSelection("duplicate seat ids"));
            }
            seats.push(seat);
        }
        Ok(seats)
    }

    fn check_blocked(&self, seats: &[SeatIndex]) -> Result<(), ScheduleError> {
        let not_blocked: Vec<SeatIndex> = seats
            .iter()
            .copied()
            .filter(|seat| !self.blocks.contains_key(seat))
            .collect();
        if not_blocked.is_empty() {
            Ok(())
        } else {
            Err(ScheduleError::SeatsNotBlocked(not_blocked))
        }
    }

    pub(super) fn apply_blocked(&mut self, seats: &[SeatIndex], reason: &str) {
        for &seat in seats {
            let row = self.seat_map.row_of(seat);
            self.seats.block(seat, row);
            let fresh = self.blocks.insert(seat, reason.to_owned()).is_none();
            assert!(fresh, "seat {} blocked twice", seat.0);
        }
    }

    pub(super) fn apply_unblocked(&mut self, seats: &[SeatIndex]) {
        for &seat in seats {
            let row = self.seat_map.row_of(seat);
            self.seats.unblock(seat, row);
            assert!(
                self.blocks.remove(&seat).is_some(),
                "seat {} was blocked",
                seat.0
            );
        }
    }

    #[allow(clippy::too_many_arguments)] // the fields of one Comped event
    pub(super) fn apply_comped(
        &mut self,
        id: ReservationId,
        number: &str,
        user: UserId,
        payment_id: PaymentId,
        seats: &[SeatIndex],
        tickets: &[TicketId],
        at: Timestamp,
    ) {
        assert!(
            !self.reservation_slots.contains_key(&id),
            "reservation {id} made twice"
        );
        assert_eq!(tickets.len(), seats.len(), "one ticket per seat");
        let slot = u32::try_from(self.reservations.len())
            .expect("fewer than 2^32 reservations per schedule");
        for (&seat, &ticket_id) in seats.iter().zip(tickets) {
            assert!(
                self.blocks.remove(&seat).is_some(),
                "a comped seat was blocked"
            );
            self.seats.comp(seat, slot);
            let ticket_slot =
                u32::try_from(self.tickets.len()).expect("fewer than 2^32 tickets per schedule");
            let fresh = self.ticket_slots.insert(ticket_id, ticket_slot).is_none();
            assert!(fresh, "ticket {ticket_id} issued twice");
            self.tickets.push(Ticket {
                id: ticket_id,
                reservation_id: id,
                seat,
                // The face value; the reservation's amount (0) is what was paid.
                price: self.seat_map.price(seat),
                status: TicketStatus::Issued,
                issued_at: at,
            });
        }
        *self.seats_by_user.entry(user).or_insert(0) += seats.len() as u32;
        self.reservation_slots.insert(id, slot);
        self.comps.insert(id);
        let ordinal = self.take_ordinal();
        self.reservations.push(Reservation {
            id,
            number: number.to_owned(),
            user,
            seats: seats.to_vec(),
            amount: Money::ZERO,
            status: ReservationStatus::Confirmed { payment_id },
            held_at: at,
            expires_at: at.plus_millis(self.rules.hold_ms),
            paid_at: Some(at),
            tickets: tickets.to_vec(),
            ended_at: None,
            refund: None,
            ordinal,
        });
    }

    /// `check_logged` for the block events: every precondition `apply` asserts.
    pub(super) fn check_block_event(&self, event: &ScheduleEvent) -> Result<(), String> {
        let distinct = |seats: &[SeatIndex]| -> Result<(), String> {
            let mut seen = BTreeSet::new();
            for seat in seats {
                if seat.0 >= self.seat_count() || !seen.insert(*seat) {
                    return Err(format!("seat index {} out of range or twice", seat.0));
                }
            }
            Ok(())
        };
        let all_blocked = |seats: &[SeatIndex]| -> Result<(), String> {
            match seats.iter().find(|seat| !self.blocks.contains_key(seat)) {
                Some(seat) => Err(format!("seat {} is not blocked", self.seat_id(*seat))),
                None => Ok(()),
            }
        };
        match event {
            ScheduleEvent::SeatsBlocked { seats, .. } => {
                distinct(seats)?;
                match seats
                    .iter()
                    .find(|&&seat| self.seats.status(seat) != SeatStatus::Available)
                {
                    Some(seat) => Err(format!("seat {} blocked while taken", self.seat_id(*seat))),
                    None => Ok(()),
                }
            }
            ScheduleEvent::SeatsUnblocked { seats, .. } => {
                distinct(seats)?;
                all_blocked(seats)
            }
            ScheduleEvent::Comped {
                reservation_id,
                seats,
                tickets,
                ..
            } => {
                distinct(seats)?;
                all_blocked(seats)?;
                if self.reservation_slots.contains_key(reservation_id) {
                    return Err(format!("reservation {reservation_id} made twice"));
                }
                if tickets.len() != seats.len() {
                    return Err(format!("comp {reservation_id}: not one ticket per seat"));
                }
                let mut seen = BTreeSet::new();
                match tickets
                    .iter()
                    .find(|t| self.ticket_slots.contains_key(t) || !seen.insert(**t))
                {
                    Some(ticket) => Err(format!("ticket {ticket} issued twice")),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixture::*;
    use super::super::*;
    use crate::{Money, Timestamp};

    fn names(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| id.to_string()).collect()
    }

    fn comp_request(n: u32, to: u32, seats: u32) -> CompRequest {
        CompRequest {
            reservation_id: rid(n),
            number: format!("BX-{n}"),
            user: user(to),
            payment_id: pid(n),
            tickets: (0..seats).map(|i| tid(n, i)).collect(),
        }
    }

    #[test]
    fn blocked_seats_are_off_sale_and_look_sold() {
        let mut s = uniform_schedule(1, 1, 4);
        s.block_seats(&names(&["S0-1-1", "S0-1-2"]), "sound desk", T0)
            .expect("blocked");
        assert_eq!(s.seat_status(seat(&s, "S0-1-1")), SeatStatus::Blocked);
        assert_eq!(
            s.counts(),
            SeatCounts {
                total: 4,
                available: 2,
                held: 0,
                sold: 2
            }
        );
        assert_eq!(s.blocked_count(), 2);
        assert_eq!(
            hold_ids(&mut s, 1, user(1), &["S0-1-1"], T0),
            Err(ScheduleError::SeatUnavailable(vec![seat(&s, "S0-1-1")]))
        );
        // Best available never picks a blocked seat.
        let held = hold_best(&mut s, 2, user(2), 2, None, None, T0).expect("the two free");
        assert_eq!(held_ids(&s, &held), vec!["S0-1-3", "S0-1-4"]);
        s.check_invariants().expect("invariants");
        // Only free seats are blocked; all or nothing.
        let before = s.clone();
        assert_eq!(
            s.block_seats(&names(&["S0-1-3"]), "camera", T0),
            Err(ScheduleError::SeatUnavailable(vec![seat(&s, "S0-1-3")]))
        );
        assert_eq!(
            s.block_seats(&names(&["S0-1-9"]), "camera", T0),
            Err(ScheduleError::UnknownSeat("S0-1-9".into()))
        );
        assert!(s.block_seats(&names(&["S0-1-1"]), " ", T0).is_err());
        assert_eq!(s, before);
        s.unblock_seats(&names(&["S0-1-2"]), T0).expect("unblocked");
        assert_eq!(
            s.unblock_seats(&names(&["S0-1-2"]), T0),
            Err(ScheduleError::SeatsNotBlocked(vec![seat(&s, "S0-1-2")]))
        );
        assert_eq!(s.counts().available, 1);
        s.check_invariants().expect("invariants");
    }

    #[test]
    fn a_comp_is_a_free_confirmed_reservation_and_replays() {
        let mut s = uniform_schedule(1, 1, 4);
        let start = s.clone();
        let blocked = s
            .block_seats(&names(&["S0-1-1", "S0-1-2"]), "guests", T0)
            .expect("blocked");
        assert_eq!(
            s.comp_seats(comp_request(1, 7, 1), &names(&["S0-1-3"]), T0),
            Err(ScheduleError::SeatsNotBlocked(vec![seat(&s, "S0-1-3")]))
        );
        let comped = s
            .comp_seats(comp_request(1, 7, 2), &names(&["S0-1-1", "S0-1-2"]), T0)
            .expect("comped");
        let reservation = s.reservation(rid(1)).expect("made");
        assert_eq!(reservation.amount, Money::ZERO);
        assert!(matches!(
            reservation.status,
            ReservationStatus::Confirmed { .. }
        ));
        assert!(s.is_comp(rid(1)));
        assert_eq!(s.blocked_count(), 0);
        assert_eq!(s.counts().sold, 2);
        let sales = s.sales().expect("figures");
        assert_eq!((sales.revenue, sales.comps), (Money::ZERO, 2));
        assert_eq!(sales.by_grade[0].revenue, Money::ZERO);
        s.check_invariants().expect("invariants");

        let mut replay = start;
        for event in [&blocked, &comped] {
            replay.apply_logged(event).expect("replays");
            assert!(replay.apply_logged(event).is_err(), "once only");
        }
        assert_eq!(replay, s);

        // Cancelled by its owner: nothing to pay back.
        let cancelled = s
            .cancel(rid(1), user(7), Timestamp(T0.0 + 1))
            .expect("cancelled");
        assert!(matches!(
            cancelled,
            ScheduleEvent::Cancelled {
                refund_amount: Money::ZERO,
                ..
            }
        ));
        s.check_invariants().expect("invariants");
    }
}
