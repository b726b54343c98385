//! One dated performance: its seat table and every reservation and ticket on it.
//!
//! `Schedule` is a pure state machine owned by one actor. Each command
//! (`hold`, `cancel`, `expire_due`, `begin_payment`, `confirm`,
//! `abort_payment`, `settle_refund`, `check_in`, `cancel_schedule`,
//! `next_cancellation_batch`) checks the rules against the
//! current state, builds a [`ScheduleEvent`], applies it with
//! [`Schedule::apply`] and returns it; a refused command returns a
//! [`ScheduleError`] and changes nothing. `apply` is the only code that
//! mutates state, so replaying the logged events on a fresh schedule rebuilds
//! an identical one (recovery depends on that, and the property tests check it).
//!
//! Layout of the state, chosen for speed on large maps: seats are a dense
//! `Vec` indexed by [`SeatIndex`] (see `seat_map` and `seat_table`);
//! reservations and tickets are `Vec`s in creation order with id indexes;
//! holds are also kept in an expiry index ordered by deadline; per-user seat
//! counts and per-row free counts are kept up to date rather than recomputed.
//! `check_invariants` recomputes all of them from scratch and compares.

mod apply;
mod best_available;
mod blocks;
mod cancel;
mod cancel_schedule;
mod ended;
mod errors;
mod events;
mod expiry;
mod hold;
mod invariants;
mod older_format;
mod payment;
mod replay;
mod reservation;
mod row_runs;
mod rules;
mod sales;
mod seat_map;
mod seat_table;
mod ticket;

#[cfg(test)]
mod test_fixture;

pub use blocks::{CompRequest, MAX_BLOCK_REASON_LEN, MAX_BLOCK_SEATS};
pub use cancel_schedule::{CancellationSummary, MAX_CANCEL_BATCH};
pub use errors::ScheduleError;
pub use events::ScheduleEvent;
pub use expiry::MAX_EXPIRE_BATCH;
pub use older_format::{ScheduleBeforeCancellation, ScheduleBeforeOrdinals};
pub use reservation::{
    HoldRequest, Refund, Reservation, ReservationStatus, SeatSelection, MAX_RESERVATION_NUMBER_LEN,
};
pub use rules::{
    ScheduleRules, DEFAULT_HOLD_MS, DEFAULT_MAX_SEATS_PER_USER, MAX_HOLD_MS,
    MAX_SEATS_PER_USER_LIMIT, MIN_HOLD_MS,
};
pub use sales::{GradeSales, SalesFigures};
pub use seat_map::{SeatIndex, SeatInfo};
pub use seat_table::{SeatCounts, SeatStatus};
pub use ticket::{Ticket, TicketStatus};

use crate::layout::{LayoutError, SeatLayout};
use crate::{Money, ReservationId, ScheduleId, TicketId, Timestamp, UserId};
use seat_map::SeatMap;
use seat_table::SeatTable;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One performance date. See the module documentation.
///
/// Every field is serialized (ordered maps, so the encoding is deterministic);
/// the seat map serializes as its layout and rebuilds its lookups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    id: ScheduleId,
    rules: ScheduleRules,
    seat_map: SeatMap,
    seats: SeatTable,
    /// Every reservation made here and not yet forgotten (see `ended.rs`),
    /// in creation order; a seat cell's `holder` is a position in this list.
    reservations: Vec<Reservation>,
    reservation_slots: BTreeMap<ReservationId, u32>,
    /// Every ticket issued here whose reservation is not forgotten, in issue order.
    tickets: Vec<Ticket>,
    ticket_slots: BTreeMap<TicketId, u32>,
    /// Seats in live reservations, per user; users with none are absent.
    seats_by_user: BTreeMap<UserId, u32>,
    /// `(expires_at, id)` of every `Held` reservation, and nothing else.
    expiry: BTreeSet<(Timestamp, ReservationId)>,
    // Fields after this line were added after the first stored format: an
    // older snapshot decodes as `SchedulePreviousFormat` (`older_format.rs`).
    /// When the whole schedule was cancelled (`cancel_schedule.rs`).
    cancelled_at: Option<Timestamp>,
    /// Money owed back by every refund recorded here, archived reservations
    /// included (the sales figures need it after they leave memory).
    refunded: Money,
    /// Seats taken off sale (`blocks.rs`), each with the box office's reason.
    blocks: BTreeMap<SeatIndex, String>,
    /// Reservations issued free from blocked seats (comps), while in memory.
    comps: BTreeSet<ReservationId>,
    // Fields after this line were added after the second stored format: an
    // older snapshot decodes as `ScheduleBeforeOrdinals` (`older_format.rs`).
    /// Reservations ever made here, forgotten ones included: the next one's
    /// [`Reservation::ordinal`].
    reservations_made: u64,
}

impl Schedule {
    /// An empty schedule (every seat available). Only the layout is checked:
    /// the API validates rules with `ScheduleRules::validate`, but any rules
    /// keep the state consistent (tests use holds shorter than the API allows).
    pub fn new(
        id: ScheduleId,
        layout: SeatLayout,
        rules: ScheduleRules,
    ) -> Result<Schedule, LayoutError> {
        let seat_map = SeatMap::new(layout)?;
        let seats = SeatTable::new((0..seat_map.row_count()).map(|row| seat_map.row(row).seats));
        Ok(Schedule {
            id,
            rules,
            seat_map,
            seats,
            reservations: Vec::new(),
            reservation_slots: BTreeMap::new(),
            tickets: Vec::new(),
            ticket_slots: BTreeMap::new(),
            seats_by_user: BTreeMap::new(),
            expiry: BTreeSet::new(),
            cancelled_at: None,
            refunded: Money::ZERO,
            blocks: BTreeMap::new(),
            comps: BTreeSet::new(),
            reservations_made: 0,
        })
    }

    pub fn id(&self) -> ScheduleId {
        self.id
    }

    pub fn layout(&self) -> &SeatLayout {
        self.seat_map.layout()
    }

    pub fn rules(&self) -> &ScheduleRules {
        &self.rules
    }

    pub fn reservation(&self, id: ReservationId) -> Option<&Reservation> {
        let slot = *self.reservation_slots.get(&id)?;
        Some(&self.reservations[slot as usize])
    }

    /// Reservations ever made here, forgotten ones included.
    pub fn reservations_made(&self) -> u64 {
        self.reservations_made
    }

    /// The ordinal of the reservation being made (see [`Reservation::ordinal`]).
    fn take_ordinal(&mut self) -> u64 {
        let ordinal = self.reservations_made;
        self.reservations_made += 1;
        ordinal
    }

    /// All reservations not yet forgotten, ended ones included, oldest first.
    pub fn reservations(&self) -> impl Iterator<Item = &Reservation> {
        self.reservations.iter()
    }

    pub fn ticket(&self, id: TicketId) -> Option<&Ticket> {
        let slot = *self.ticket_slots.get(&id)?;
        Some(&self.tickets[slot as usize])
    }

    /// All tickets, void ones included, in issue order.
    pub fn tickets(&self) -> impl Iterator<Item = &Ticket> {
        self.tickets.iter()
    }

    pub fn seat_count(&self) -> u32 {
        self.seat_map.seat_count()
    }

    /// Panics on an out-of-range index (a caller bug).
    pub fn seat_status(&self, seat: SeatIndex) -> SeatStatus {
        assert!(
            seat.0 < self.seat_count(),
            "seat index {} out of range",
            seat.0
        );
        self.seats.status(seat)
    }

    /// `sectionId-row-number`. Panics on an out-of-range index.
    pub fn seat_id(&self, seat: SeatIndex) -> String {
        self.seat_map.seat_id(seat)
    }

    /// The seat with this id; `None` when the layout has no such seat.
    pub fn seat_index(&self, seat_id: &str) -> Option<SeatIndex> {
        self.seat_map.index_of(seat_id)
    }

    /// Panics on an out-of-range index.
    pub fn seat_info(&self, seat: SeatIndex) -> SeatInfo<'_> {
        self.seat_map.info(seat)
    }

    /// Seat counts as the public sees them: a blocked seat counts as sold
    /// (the map shows it SOLD), so `sold + held + available == total` still
    /// holds; [`Self::blocked_count`] says how many of `sold` are blocked.
    pub fn counts(&self) -> SeatCounts {
        let mut counts = self.seats.counts();
        let blocked = self.blocked_count();
        counts.available -= blocked;
        counts.sold += blocked;
        counts
    }

    /// Seats the user has held, payment-pending or bought on this schedule.
    pub fn seats_of_user(&self, user: UserId) -> u32 {
        self.seats_by_user.get(&user).copied().unwrap_or(0)
    }

    /// Reservations whose payment saga is in flight. A scan: meant for recovery.
    pub fn pending_payments(&self) -> impl Iterator<Item = &Reservation> {
        self.reservations
            .iter()
            .filter(|r| matches!(r.status, ReservationStatus::PaymentPending { .. }))
    }

    /// Cancelled reservations whose refund has not reached the wallet yet. A scan.
    pub fn unsettled_refunds(&self) -> impl Iterator<Item = &Reservation> {
        self.reservations
            .iter()
            .filter(|r| r.refund.as_ref().is_some_and(|refund| !refund.settled))
    }

    /// The slot of reservation `id` if `user` owns it; another user's
    /// reservation is reported as not found so its existence is not revealed.
    fn owned_slot(&self, id: ReservationId, user: UserId) -> Result<usize, ScheduleError> {
        let slot = self.slot_of(id).ok_or(ScheduleError::ReservationNotFound)?;
        if self.reservations[slot].user != user {
            return Err(ScheduleError::ReservationNotFound);
        }
        Ok(slot)
    }

    fn slot_of(&self, id: ReservationId) -> Option<usize> {
        self.reservation_slots.get(&id).map(|&slot| slot as usize)
    }
}
