//! Tickets as their owner reads them: each with the concert and start time
//! of its schedule, one at a time or a page of the owner's tickets.
//!
//! A ticket lives in its schedule's actor; the concert it is for, in the
//! catalogue. A page of them (`reservation_pages.rs`) asks for all its
//! tickets (and their concerts) at once rather than one round trip after the other.

use boxoffice_engine::ids::*;
use boxoffice_engine::Timestamp;

use crate::error::{EngineError, EngineResult};
use crate::registry::Registry;
use crate::schedule_actor::TicketView;

/// What a ticket admits to, from the catalogue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketEvent {
    pub concert_id: ConcertId,
    pub title: String,
    pub starts_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketDetail {
    pub ticket: TicketView,
    /// `None` for a schedule no concert names (made outside the catalogue,
    /// e.g. by the load tool): the ticket still renders.
    pub event: Option<TicketEvent>,
}

impl Registry {
    /// The caller's ticket with its concert, or `NotFound(Ticket)` (also another user's).
    pub async fn ticket_detail(
        &self,
        user: UserId,
        ticket_id: TicketId,
    ) -> EngineResult<TicketDetail> {
        let ticket = self.ticket(Some(user), ticket_id).await?;
        let event = match self.schedule_info(ticket.schedule_id).await {
            Ok((concert, info)) => Some(TicketEvent {
                concert_id: concert.concert_id,
                title: concert.title,
                starts_at: info.starts_at,
            }),
            Err(EngineError::NotFound(_)) => None,
            Err(other) => return Err(other),
        };
        Ok(TicketDetail { ticket, event })
    }
}
