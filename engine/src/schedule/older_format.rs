//! The schedule as snapshots before whole-schedule cancellation and blocked
//! seats stored it (no `cancelled_at`, `refunded`, `blocks`, `comps`), so
//! that an older data dir still loads.
//! bincode is positional: this struct is the old field list, in order.

use super::reservation::{Reservation, ReservationStatus};
use super::seat_map::SeatMap;
use super::seat_table::SeatTable;
use super::ticket::Ticket;
use super::Schedule;
use crate::{Money, ReservationId, ScheduleId, TicketId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use super::rules::ScheduleRules;

/// [`Schedule`] as stored before `cancelled_at` and `refunded` were added.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SchedulePreviousFormat {
    id: ScheduleId,
    rules: ScheduleRules,
    seat_map: SeatMap,
    seats: SeatTable,
    reservations: Vec<Reservation>,
    reservation_slots: BTreeMap<ReservationId, u32>,
    tickets: Vec<Ticket>,
    ticket_slots: BTreeMap<TicketId, u32>,
    seats_by_user: BTreeMap<UserId, u32>,
    expiry: BTreeSet<(Timestamp, ReservationId)>,
}

impl From<SchedulePreviousFormat> for Schedule {
    /// Not cancelled (the older format could not be). `refunded` counts the
    /// refunds still in memory: those of reservations archived before the
    /// upgrade are not known here, so an upgraded schedule may under-count them.
    fn from(older: SchedulePreviousFormat) -> Schedule {
        let refunded = older
            .reservations
            .iter()
            .filter(|r| r.status == ReservationStatus::Cancelled)
            .filter_map(|r| r.refund.as_ref().map(|refund| refund.amount))
            .fold(Money::ZERO, |sum, amount| {
                sum.checked_add(amount).unwrap_or(sum)
            });
        Schedule {
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

impl Schedule {
    /// This schedule in the previous format, if it has nothing that format
    /// cannot say (tests write older data dirs with it).
    pub fn as_previous_format(&self) -> Option<SchedulePreviousFormat> {
        let expressible =
            self.cancelled_at.is_none() && self.blocks.is_empty() && self.comps.is_empty();
        expressible.then(|| SchedulePreviousFormat {
            id: self.id,
            rules: self.rules.clone(),
            seat_map: self.seat_map.clone(),
            seats: self.seats.clone(),
            reservations: self.reservations.clone(),
            reservation_slots: self.reservation_slots.clone(),
            tickets: self.tickets.clone(),
            ticket_slots: self.ticket_slots.clone(),
            seats_by_user: self.seats_by_user.clone(),
            expiry: self.expiry.clone(),
        })
    }
}
