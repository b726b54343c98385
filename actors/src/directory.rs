//! Where things live: which schedule actor owns a reservation, a payment or a
//! ticket, and which reservations belong to a user.
//!
//! Requests arrive with only a reservation id (a payment, a cancel) or a
//! ticket id (check-in); the directory routes them to the owning schedule
//! without asking every actor. Schedule actors are its only writers: they
//! record ids when they apply events and when they load from storage, so the
//! directory is derived state and never needs to be stored itself. It holds
//! only reservations still in a schedule's memory: when a schedule archives
//! ended ones it forgets them here, and lookups fall back to the archive
//! (`schedule_actor/archive.rs`), so it does not grow with history.

use boxoffice_engine::ids::*;
use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

#[derive(Default)]
pub struct Directory {
    reservations: RwLock<HashMap<ReservationId, ScheduleId>>,
    payments: RwLock<HashMap<PaymentId, (ScheduleId, ReservationId)>>,
    tickets: RwLock<HashMap<TicketId, ScheduleId>>,
    by_user: RwLock<HashMap<UserId, Vec<(ScheduleId, ReservationId)>>>,
}

// Lock poisoning: every write below is a single insert, so a map behind a
// poisoned lock is still consistent; keep serving rather than cascade the panic.
macro_rules! read {
    ($lock:expr) => {
        $lock.read().unwrap_or_else(|p| p.into_inner())
    };
}
macro_rules! write {
    ($lock:expr) => {
        $lock.write().unwrap_or_else(|p| p.into_inner())
    };
}

impl Directory {
    pub fn record_reservation(
        &self,
        schedule: ScheduleId,
        reservation: ReservationId,
        user: UserId,
    ) {
        if write!(self.reservations)
            .insert(reservation, schedule)
            .is_none()
        {
            write!(self.by_user)
                .entry(user)
                .or_default()
                .push((schedule, reservation));
        }
    }

    pub fn record_payment(
        &self,
        schedule: ScheduleId,
        reservation: ReservationId,
        payment: PaymentId,
    ) {
        write!(self.payments).insert(payment, (schedule, reservation));
    }

    pub fn record_tickets(&self, schedule: ScheduleId, tickets: &[TicketId]) {
        let mut map = write!(self.tickets);
        for ticket in tickets {
            map.insert(*ticket, schedule);
        }
    }

    /// Forgets reservations their schedule archived, with their tickets and payments.
    pub fn forget_archived(&self, archived: &[crate::schedule_actor::archive::Archived]) {
        {
            let mut reservations = write!(self.reservations);
            for entry in archived {
                reservations.remove(&entry.id);
            }
        }
        {
            let mut tickets = write!(self.tickets);
            for ticket in archived.iter().flat_map(|entry| &entry.tickets) {
                tickets.remove(ticket);
            }
        }
        let ids: HashSet<ReservationId> = archived.iter().map(|entry| entry.id).collect();
        // Every payment of them: the refunded one, and any aborted attempt.
        // (The map only holds payments of reservations in memory, so the scan is small.)
        write!(self.payments).retain(|_, (_, reservation)| !ids.contains(reservation));
        let mut by_user = write!(self.by_user);
        let mut gone: HashMap<UserId, HashSet<ReservationId>> = HashMap::new();
        for entry in archived {
            gone.entry(entry.user).or_default().insert(entry.id);
        }
        for (user, ids) in gone {
            if let Some(list) = by_user.get_mut(&user) {
                list.retain(|(_, id)| !ids.contains(id));
                if list.is_empty() {
                    by_user.remove(&user);
                }
            }
        }
    }

    pub fn schedule_of_reservation(&self, reservation: ReservationId) -> Option<ScheduleId> {
        read!(self.reservations).get(&reservation).copied()
    }

    pub fn payment(&self, payment: PaymentId) -> Option<(ScheduleId, ReservationId)> {
        read!(self.payments).get(&payment).copied()
    }

    pub fn schedule_of_ticket(&self, ticket: TicketId) -> Option<ScheduleId> {
        read!(self.tickets).get(&ticket).copied()
    }

    /// The user's reservations still in memory, oldest first per schedule.
    pub fn reservations_of_user(&self, user: UserId) -> Vec<(ScheduleId, ReservationId)> {
        read!(self.by_user).get(&user).cloned().unwrap_or_default()
    }

    pub fn reservation_count(&self) -> usize {
        read!(self.reservations).len()
    }
}
