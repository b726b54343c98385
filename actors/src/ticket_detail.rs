//! Tickets as their owner reads them: each with the concert and start time
//! of its schedule, one at a time or a page of the owner's tickets.
//!
//! A ticket lives in its schedule's actor; the concert it is for, in the
//! catalogue. A page of them (`reservation_pages.rs`) asks for all its
//! tickets (and their concerts) at once rather than one round trip after the other.
//!
//! Check-in at a door names the concert and date too, and a door that says
//! which schedule it admits to ([`Registry::check_in_at`]) refuses a ticket
//! for another one before the ticket's actor is asked to use it, so that
//! ticket stays unused.

use boxoffice_engine::ids::*;
use boxoffice_engine::Timestamp;

use crate::error::{EngineError, EngineResult};
use crate::registry::Registry;
use crate::schedule_actor::{CheckedIn, TicketView};

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

/// A ticket admitted at the door, with what it admits to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DoorCheckIn {
    pub checked: CheckedIn,
    /// `None` for a schedule no concert names (see [`TicketDetail::event`]).
    pub event: Option<TicketEvent>,
}

impl Registry {
    /// What `schedule_id` is a date of, or `None` for a schedule no concert names.
    async fn event_of(&self, schedule_id: ScheduleId) -> EngineResult<Option<TicketEvent>> {
        match self.schedule_info(schedule_id).await {
            Ok((concert, info)) => Ok(Some(TicketEvent {
                concert_id: concert.concert_id,
                title: concert.title,
                starts_at: info.starts_at,
            })),
            Err(EngineError::NotFound(_)) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Checks a ticket in at the door of `door` (any schedule when `None`).
    /// `NotFound(Schedule)` when `door` names nothing; `WrongSchedule`,
    /// naming the ticket's own concert and date, when the ticket is for
    /// another schedule (the ticket is not touched); otherwise as
    /// [`Registry::check_in`].
    pub async fn check_in_at(
        &self,
        ticket_id: TicketId,
        door: Option<ScheduleId>,
    ) -> EngineResult<DoorCheckIn> {
        if let Some(door) = door {
            self.schedule(door)?;
        }
        let own = self.context().directory.schedule_of_ticket(ticket_id);
        if let (Some(door), Some(own)) = (door, own) {
            if door != own {
                // A void ticket is INVALID_TICKET at every door.
                let ticket = self.ticket(None, ticket_id).await?;
                if ticket.status == boxoffice_engine::schedule::TicketStatus::Void {
                    return Err(EngineError::InvalidTicket);
                }
                let event = self.event_of(own).await?;
                return Err(EngineError::WrongSchedule {
                    concert_id: event
                        .as_ref()
                        .map(|e| e.concert_id.to_string())
                        .unwrap_or_default(),
                    title: event.as_ref().map(|e| e.title.clone()).unwrap_or_default(),
                    schedule_id: own.to_string(),
                    starts_at: event.map(|e| e.starts_at),
                });
            }
        }
        let checked = self.check_in(ticket_id).await?;
        let event = self.event_of(checked.ticket.schedule_id).await?;
        Ok(DoorCheckIn { checked, event })
    }
}
