//! The schedule as older snapshots stored it, so that an older data dir still
//! loads. bincode is positional: each struct here is an old field list, in
//! order. Two older formats, oldest first:
//! - [`ScheduleBeforeCancellation`]: before whole-schedule cancellation and
//!   blocked seats (no `cancelled_at`, `refunded`, `blocks`, `comps`);
//! - [`ScheduleBeforeOrdinals`]: before each reservation kept its creation
//!   ordinal (no `Reservation::ordinal`, no `reservations_made`).
//!
//! Neither knows how many reservations were forgotten (archived), which the
//! ordinals count: the snapshot around the schedule does, so the upgrade to
//! the current format takes that count ([`ScheduleBeforeOrdinals::upgrade`]).

use super::reservation::{Refund, Reservation, ReservationStatus};
use super::seat_map::{SeatIndex, SeatMap};
use super::seat_table::SeatTable;
use super::ticket::Ticket;
use super::Schedule;
use crate::{Money, ReservationId, ScheduleId, TicketId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use super::rules::ScheduleRules;

/// [`Reservation`] as stored before `ordinal` was added.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReservationBeforeOrdinals {
    id: ReservationId,
    number: String,
    user: UserId,
    seats: Vec<SeatIndex>,
    amount: Money,
    status: ReservationStatus,
    held_at: Timestamp,
    expires_at: Timestamp,
    paid_at: Option<Timestamp>,
    tickets: Vec<TicketId>,
    ended_at: Option<Timestamp>,
    refund: Option<Refund>,
}

impl ReservationBeforeOrdinals {
    fn with_ordinal(self, ordinal: u64) -> Reservation {
        Reservation {
            id: self.id,
            number: self.number,
            user: self.user,
            seats: self.seats,
            amount: self.amount,
            status: self.status,
            held_at: self.held_at,
            expires_at: self.expires_at,
            paid_at: self.paid_at,
            tickets: self.tickets,
            ended_at: self.ended_at,
            refund: self.refund,
            ordinal,
        }
    }
}

impl From<&Reservation> for ReservationBeforeOrdinals {
    fn from(r: &Reservation) -> Self {
        ReservationBeforeOrdinals {
            id: r.id,
            number: r.number.clone(),
            user: r.user,
            seats: r.seats.clone(),
            amount: r.amount,
            status: r.status,
            held_at: r.held_at,
            expires_at: r.expires_at,
            paid_at: r.paid_at,
            tickets: r.tickets.clone(),
            ended_at: r.ended_at,
            refund: r.refund.clone(),
        }
    }
}

/// [`Schedule`] as stored before `cancelled_at` and `refunded` were added.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScheduleBeforeCancellation {
    id: ScheduleId,
    rules: ScheduleRules,
    seat_map: SeatMap,
    seats: SeatTable,
    reservations: Vec<ReservationBeforeOrdinals>,
    reservation_slots: BTreeMap<ReservationId, u32>,
    tickets: Vec<Ticket>,
    ticket_slots: BTreeMap<TicketId, u32>,
    seats_by_user: BTreeMap<UserId, u32>,
    expiry: BTreeSet<(Timestamp, ReservationId)>,
}

/// [`Schedule`] as stored before `Reservation::ordinal` and
/// `reservations_made` were added.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScheduleBeforeOrdinals {
    id: ScheduleId,
    rules: ScheduleRules,
    seat_map: SeatMap,
    seats: SeatTable,
    reservations: Vec<ReservationBeforeOrdinals>,
    reservation_slots: BTreeMap<ReservationId, u32>,
    tickets: Vec<Ticket>,
    ticket_slots: BTreeMap<TicketId, u32>,
    seats_by_user: BTreeMap<UserId, u32>,
    expiry: BTreeSet<(Timestamp, ReservationId)>,
    cancelled_at: Option<Timestamp>,
    refunded: Money,
    blocks: BTreeMap<SeatIndex, String>,
    comps: BTreeSet<ReservationId>,
}

impl From<ScheduleBeforeCancellation> for ScheduleBeforeOrdinals {
    /// Not cancelled (the older format could not be). `refunded` counts the
    /// refunds still in memory: those of reservations archived before the
    /// upgrade are not known here, so an upgraded schedule may under-count them.
    fn from(older: ScheduleBeforeCancellation) -> ScheduleBeforeOrdinals {
        let refunded = older
            .reservations
            .iter()
            .filter(|r| r.status == ReservationStatus::Cancelled)
            .filter_map(|r| r.refund.as_ref().map(|refund| refund.amount))
            .fold(Money::ZERO, |sum, amount| {
                sum.checked_add(amount).unwrap_or(sum)
            });
        ScheduleBeforeOrdinals {
            id: older.id,
            rules: older.rules,
            seat_map: older.seat_map,
            seats: older.seats,
            reservations: older.reservations,
            reservation_slots: older.reservation_slots,
            tickets: older.tickets,
            ticket_slots: older.ticket_slots,
            seats_by_user: older.seats_by_user,
            expiry: older.expiry,
            cancelled_at: None,
            refunded,
            blocks: BTreeMap::new(),
            comps: BTreeSet::new(),
        }
    }
}

impl ScheduleBeforeOrdinals {
    /// The current format, `forgotten` reservations having been archived
    /// before the ones in memory. Each gets the ordinal the archive gave
    /// reservations in this format (`forgotten` plus its position), the best
    /// that can be known: the positions moved whenever a reservation made
    /// after it was forgotten first.
    pub fn upgrade(self, forgotten: u64) -> Schedule {
        let made = forgotten.saturating_add(self.reservations.len() as u64);
        Schedule {
            id: self.id,
            rules: self.rules,
            seat_map: self.seat_map,
            seats: self.seats,
            reservations: self
                .reservations
                .into_iter()
                .enumerate()
                .map(|(position, r)| r.with_ordinal(forgotten + position as u64))
                .collect(),
            reservation_slots: self.reservation_slots,
            tickets: self.tickets,
            ticket_slots: self.ticket_slots,
            seats_by_user: self.seats_by_user,
            expiry: self.expiry,
            cancelled_at: self.cancelled_at,
            refunded: self.refunded,
            blocks: self.blocks,
            comps: self.comps,
            reservations_made: made,
        }
    }
}

impl Schedule {
    /// This schedule in the format before ordinals (tests write older data
    /// dirs with it).
    pub fn as_format_before_ordinals(&self) -> ScheduleBeforeOrdinals {
        ScheduleBeforeOrdinals {
            id: self.id,
            rules: self.rules.clone(),
            seat_map: self.seat_map.clone(),
            seats: self.seats.clone(),
            reservations: self.reservations.iter().map(Into::into).collect(),
            reservation_slots: self.reservation_slots.clone(),
            tickets: self.tickets.clone(),
            ticket_slots: self.ticket_slots.clone(),
            seats_by_user: self.seats_by_user.clone(),
            expiry: self.expiry.clone(),
            cancelled_at: self.cancelled_at,
            refunded: self.refunded,
            blocks: self.blocks.clone(),
            comps: self.comps.clone(),
        }
    }

    /// This schedule in the format before cancellation, if it has nothing
    /// that format cannot say (tests write older data dirs with it).
    pub fn as_format_before_cancellation(&self) -> Option<ScheduleBeforeCancellation> {
        let expressible =
            self.cancelled_at.is_none() && self.blocks.is_empty() && self.comps.is_empty();
        expressible.then(|| ScheduleBeforeCancellation {
            id: self.id,
            rules: self.rules.clone(),
            seat_map: self.seat_map.clone(),
            seats: self.seats.clone(),
            reservations: self.reservations.iter().map(Into::into).collect(),
            reservation_slots: self.reservation_slots.clone(),
            tickets: self.tickets.clone(),
            ticket_slots: self.ticket_slots.clone(),
            seats_by_user: self.seats_by_user.clone(),
            expiry: self.expiry.clone(),
        })
    }
}
