//! `check_invariants`: recomputes every derived structure of a schedule from
//! its reservations and tickets and compares. Tests call it after every step;
//! the actors may call it after recovery. It is O(seats + reservations +
//! tickets), so it is not for the hot path.
//!
//! What must hold:
//! - a seat is in at most one live reservation; each live reservation's seats
//!   point back to it, `Held` for Held/PaymentPending, `Sold` for Confirmed;
//!   every other seat is `Available`;
//! - `available + held + sold == total`, and each row's free counter is right;
//! - each user's count is the seats of their live reservations;
//! - the expiry index holds exactly the `Held` reservations;
//! - a reservation's fields fit its status (tickets, paid_at, ended_at, refund);
//! - ordinals grow along the reservations (creation order) and stay below
//!   `reservations_made`;
//! - tickets: one per seat of a paid reservation, `Issued`/`Used` while it is
//!   Confirmed, `Void` once it is Cancelled; ids index correctly.

use super::reservation::{Refund, Reservation, ReservationStatus, MAX_RESERVATION_NUMBER_LEN};
use super::seat_table::{SeatCell, SeatStatus, NO_HOLDER};
use super::ticket::TicketStatus;
use super::Schedule;
use crate::{ReservationId, Timestamp, UserId};
use std::collections::{BTreeMap, BTreeSet};

impl Schedule {
    /// `Err` describes the first broken invariant found.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.check_id_indexes()?;
        self.check_ordinals()?;
        for (slot, reservation) in self.reservations.iter().enumerate() {
            self.check_reservation(reservation)
                .map_err(|why| format!("reservation {slot} ({}): {why}", reservation.id))?;
        }
        self.check_seats()?;
        self.check_tickets()
    }

    fn check_ordinals(&self) -> Result<(), String> {
        let mut next = 0;
        for (slot, reservation) in self.reservations.iter().enumerate() {
            if reservation.ordinal < next {
                return Err(format!(
                    "reservation {slot} ({}) has ordinal {}, not after the one before it",
                    reservation.id, reservation.ordinal
                ));
            }
            next = reservation.ordinal + 1;
        }
        if next > self.reservations_made {
            return Err(format!(
                "ordinal {} but only {} reservations made",
                next - 1,
                self.reservations_made
            ));
        }
        Ok(())
    }

    fn check_id_indexes(&self) -> Result<(), String> {
        if self.reservation_slots.len() != self.reservations.len() {
            return Err("reservation index size differs from the reservation list".into());
        }
        for (slot, reservation) in self.reservations.iter().enumerate() {
            if self.reservation_slots.get(&reservation.id) != Some(&(slot as u32)) {
                return Err(format!(
                    "reservation {} is not indexed at slot {slot}",
                    reservation.id
                ));
            }
        }
        if self.ticket_slots.len() != self.tickets.len() {
            return Err("ticket index size differs from the ticket list".into());
        }
        for (slot, ticket) in self.tickets.iter().enumerate() {
            if self.ticket_slots.get(&ticket.id) != Some(&(slot as u32)) {
                return Err(format!(
                    "ticket {} is not indexed at slot {slot}",
                    ticket.id
                ));
            }
        }
        Ok(())
    }

    fn check_reservation(&self, r: &Reservation) -> Result<(), String> {
        if r.number.is_empty() || r.number.len() > MAX_RESERVATION_NUMBER_LEN {
            return Err("bad reservation number".into());
        }
        if r.seats.is_empty() {
            return Err("no seats".into());
        }
        if let Some(seat) = r.seats.iter().find(|seat| seat.0 >= self.seat_count()) {
            return Err(format!("seat {} out of range", seat.0));
        }
        let distinct: BTreeSet<_> = r.seats.iter().collect();
        if distinct.len() != r.seats.len() {
            return Err("a seat appears twice".into());
        }
        // A comp is free; anything else costs the sum of its seats' prices.
        let price = if self.comps.contains(&r.id) {
            Some(crate::Money::ZERO)
        } else {
            self.seat_map.total_price(&r.seats)
        };
        if price != Some(r.amount) {
            return Err(format!("amount {} is not the sum of seat prices", r.amount));
        }
        if r.expires_at != r.held_at.plus_millis(self.rules.hold_ms) {
            return Err("expires_at is not held_at + hold_ms".into());
        }
        let paid = !r.tickets.is_empty();
        let shape_ok = match r.status {
            ReservationStatus::Held | ReservationStatus::PaymentPending { .. } => {
                !paid && r.paid_at.is_none() && r.ended_at.is_none() && r.refund.is_none()
            }
            ReservationStatus::Confirmed { .. } => {
                paid && r.paid_at.is_some() && r.ended_at.is_none() && r.refund.is_none()
            }
            ReservationStatus::Expired => {
                !paid && r.paid_at.is_none() && r.ended_at.is_some() && r.refund.is_none()
            }
            // Cancelled after payment owes a full refund; a released hold owes nothing.
            ReservationStatus::Cancelled => {
                r.ended_at.is_some()
                    && r.paid_at.is_some() == paid
                    && match &r.refund {
                        None => !paid,
                        Some(Refund { amount, .. }) => paid && *amount == r.amount,
                    }
            }
        };
        if !shape_ok {
            return Err(format!("fields do not fit status {:?}", r.status));
        }
        if paid && r.tickets.len() != r.seats.len() {
            return Err("tickets are not one per seat".into());
        }
        Ok(())
    }

    /// Rebuilds seat cells, counters, per-user counts and the expiry index.
    fn check_seats(&self) -> Result<(), String> {
        let free = SeatCell {
            status: SeatStatus::Available,
            holder: NO_HOLDER,
        };
        let mut cells = vec![free; self.seat_count() as usize];
        let mut seats_by_user: BTreeMap<UserId, u32> = BTreeMap::new();
        let mut expiry: BTreeSet<(Timestamp, ReservationId)> = BTreeSet::new();
        for (slot, r) in self.reservations.iter().enumerate() {
            let status = match r.status {
                ReservationStatus::Held => {
                    expiry.insert((r.expires_at, r.id));
                    SeatStatus::Held
                }
                ReservationStatus::PaymentPending { .. } => SeatStatus::Held,
                ReservationStatus::Confirmed { .. } => SeatStatus::Sold,
                ReservationStatus::Expired | ReservationStatus::Cancelled => continue,
            };
            for seat in &r.seats {
                let cell = &mut cells[seat.0 as usize];
                if cell.status != SeatStatus::Available {
                    return Err(format!(
                        "seat {} is in two live reservations",
                        self.seat_id(*seat)
                    ));
                }
                *cell = SeatCell {
                    status,
                    holder: slot as u32,
                };
            }
            *seats_by_user.entry(r.user).or_insert(0) += r.seats.len() as u32;
        }
        for &seat in self.blocks.keys() {
            let cell = &mut cells[seat.0 as usize];
            if cell.status != SeatStatus::Available {
                return Err(format!(
                    "seat {} is blocked and in a live reservation",
                    self.seat_id(seat)
                ));
            }
            cell.status = SeatStatus::Blocked;
        }
        if let Some(seat) = (0..cells.len()).find(|&seat| cells[seat] != self.seats.cells()[seat]) {
            return Err(format!(
                "seat {seat} is {:?}, its reservations say {:?}",
                self.seats.cells()[seat],
                cells[seat]
            ));
        }
        for row in 0..self.seat_map.row_count() {
            let range = self.seat_map.row(row).seat_range();
            let free_here = cells[range.start as usize..range.end as usize]
                .iter()
                .filter(|c| **c == free)
                .count();
            if self.seats.free_in_row(row) as usize != free_here {
                return Err(format!(
                    "row {row} counts {} free seats, has {free_here}",
                    self.seats.free_in_row(row)
                ));
            }
        }
        let counts = self.counts();
        let held = cells
            .iter()
            .filter(|c| c.status == SeatStatus::Held)
            .count() as u32;
        let sold = cells
            .iter()
            .filter(|c| c.status == SeatStatus::Sold)
            .count() as u32;
        // The public counts fold blocked seats into sold.
        let sold = sold + self.blocked_count();
        if (counts.held, counts.sold) != (held, sold)
            || counts.available + counts.held + counts.sold != counts.total
            || counts.total != self.seat_count()
        {
            return Err(format!(
                "counts {counts:?}, recounted held {held} sold {sold}"
            ));
        }
        if seats_by_user != self.seats_by_user {
            return Err(format!(
                "per-user counts {:?}, recounted {seats_by_user:?}",
                self.seats_by_user
            ));
        }
        if expiry != self.expiry {
            return Err(format!(
                "expiry index {:?}, held reservations {expiry:?}",
                self.expiry
            ));
        }
        Ok(())
    }

    fn check_tickets(&self) -> Result<(), String> {
        let mut listed = 0usize;
        for r in &self.reservations {
            for (position, ticket_id) in r.tickets.iter().enumerate() {
                let ticket = self
                    .ticket(*ticket_id)
                    .ok_or_else(|| format!("ticket {ticket_id} is missing"))?;
                let status_ok = match r.status {
                    ReservationStatus::Confirmed { .. } => {
                        matches!(
                            ticket.status,
                            TicketStatus::Issued | TicketStatus::Used { .. }
                        )
                    }
                    ReservationStatus::Cancelled => ticket.status == TicketStatus::Void,
                    _ => false,
                };
                if ticket.reservation_id != r.id
                    || ticket.seat != r.seats[position]
                    || ticket.price != self.seat_map.price(ticket.seat)
                    || Some(ticket.issued_at) != r.paid_at
                    || !status_ok
                {
                    return Err(format!(
                        "ticket {ticket_id} does not match reservation {}: {ticket:?}",
                        r.id
                    ));
                }
                listed += 1;
            }
        }
        if listed != self.tickets.len() {
            return Err(format!(
                "{} tickets, {listed} listed by reservations",
                self.tickets.len()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixture::*;
    use super::super::*;
    use crate::{Money, Timestamp};

    /// Two users: one confirmed (2 seats), one held (1 seat), one released.
    fn busy() -> Schedule {
        let mut s = uniform_schedule(1, 2, 5);
        hold_ids(&mut s, 1, user(1), &["S0-1-1", "S0-1-2"], T0).expect("hold");
        pay(&mut s, 1, user(1), T0).expect("paid");
        hold_ids(&mut s, 2, user(2), &["S0-2-3"], T0).expect("hold");
        hold_ids(&mut s, 3, user(2), &["S0-2-4"], T0).expect("hold");
        s.cancel(rid(3), user(2), T0).expect("released");
        s.check_invariants().expect("a consistent schedule passes");
        s
    }

    fn broken(corrupt: impl FnOnce(&mut Schedule)) -> String {
        let mut s = busy();
        corrupt(&mut s);
        s.check_invariants().expect_err("corruption is detected")
    }

    #[test]
    fn detects_a_seat_taken_behind_the_reservations_back() {
        let why = broken(|s| s.seats.take(SeatIndex(9), 1, 0));
        assert!(why.contains("seat 9"), "{why}");
    }

    #[test]
    fn detects_wrong_per_user_counts() {
        let why = broken(|s| {
            s.seats_by_user.insert(user(2), 2);
        });
        assert!(why.contains("per-user"), "{why}");
    }

    #[test]
    fn detects_a_stale_expiry_entry() {
        let why = broken(|s| {
            s.expiry.insert((Timestamp(5), rid(3)));
        });
        assert!(why.contains("expiry"), "{why}");
    }

    #[test]
    fn detects_a_wrong_amount() {
        let why = broken(|s| s.reservations[1].amount = Money(1));
        assert!(why.contains("amount"), "{why}");
    }

    #[test]
    fn detects_a_ticket_in_the_wrong_state() {
        let why = broken(|s| s.tickets[0].status = TicketStatus::Void);
        assert!(why.contains("does not match"), "{why}");
    }

    #[test]
    fn detects_a_status_that_does_not_free_seats() {
        let why = broken(|s| s.reservations[2].status = ReservationStatus::Held);
        assert!(why.contains("fields do not fit"), "{why}");
    }

    #[test]
    fn detects_a_broken_index() {
        let why = broken(|s| {
            s.reservation_slots.insert(rid(1), 2);
        });
        assert!(why.contains("not indexed"), "{why}");
    }
}
