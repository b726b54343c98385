//! Tickets: one per seat of a confirmed reservation. Issued at confirmation,
//! used once at check-in, void when their reservation is cancelled. This
//! module also holds the check-in command, the only thing a ticket does.

use super::errors::ScheduleError;
use super::events::ScheduleEvent;
use super::seat_map::SeatIndex;
use super::Schedule;
use crate::{Money, ReservationId, TicketId, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TicketStatus {
    Issued,
    Used { at: Timestamp },
    Void,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: TicketId,
    pub reservation_id: ReservationId,
    pub seat: SeatIndex,
    pub price: Money,
    pub status: TicketStatus,
    pub issued_at: Timestamp,
}

impl Schedule {
    /// Marks an issued ticket used. A second scan of the same ticket is
    /// refused with the time of the first, so replaying a QR code fails.
    pub fn check_in(
        &mut self,
        ticket: TicketId,
        now: Timestamp,
    ) -> Result<ScheduleEvent, ScheduleError> {
        let ticket = self.ticket(ticket).ok_or(ScheduleError::TicketNotFound)?;
        // The cancellation voids every ticket, batch by batch: none admits meanwhile.
        if self.is_cancelled() && ticket.status == TicketStatus::Issued {
            return Err(ScheduleError::TicketVoid);
        }
        match ticket.status {
            TicketStatus::Issued => {}
            TicketStatus::Void => return Err(ScheduleError::TicketVoid),
            TicketStatus::Used { at } => return Err(ScheduleError::TicketAlreadyUsed { at }),
        }
        let event = ScheduleEvent::CheckedIn {
            ticket_id: ticket.id,
            at: now,
        };
        self.apply(&event);
        Ok(event)
    }
}
