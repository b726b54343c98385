//! The schedule actor's part of blocked seats (see the engine's `blocks.rs`):
//! block, unblock, comp (a blocked seat issued free to a user), and the list
//! of blocked seats with their reasons. Admin operations, through
//! `crate::schedule_admin`.

use actix::prelude::*;
use boxoffice_engine::ids::UserId;
use boxoffice_engine::schedule::CompRequest;
use tokio::sync::oneshot;

use super::state::ScheduleLogEvent;
use super::views::{reservation_view, ReservationView};
use super::{Pending, ScheduleActor};
use crate::error::{EngineError, EngineResult};

/// A blocked seat: (seat id, reason).
pub type BlockedSeat = (String, String);

/// Take these free seats off sale (all or none); replies with every blocked seat.
pub struct BlockSeats {
    pub seat_ids: Vec<String>,
    pub reason: String,
}
impl Message for BlockSeats {
    type Result = Pending<Vec<BlockedSeat>>;
}

/// Put these blocked seats back on sale (all or none); replies with every blocked seat left.
pub struct UnblockSeats {
    pub seat_ids: Vec<String>,
}
impl Message for UnblockSeats {
    type Result = Pending<Vec<BlockedSeat>>;
}

/// Issue these blocked seats free to `user` (all or none): the new reservation.
pub struct CompSeats {
    pub user: UserId,
    pub seat_ids: Vec<String>,
}
impl Message for CompSeats {
    type Result = Pending<ReservationView>;
}

/// Every blocked seat, in seat order, with its reason.
pub struct GetBlocks;
impl Message for GetBlocks {
    type Result = EngineResult<Vec<BlockedSeat>>;
}

impl ScheduleActor {
    fn blocks_now(&self) -> EngineResult<Vec<BlockedSeat>> {
        let state = self.state.as_ref().ok_or(EngineError::Unavailable)?;
        let schedule = &state.schedule;
        Ok(schedule
            .blocked_seats()
            .map(|(seat, reason)| (schedule.seat_id(seat), reason.to_owned()))
            .collect())
    }
}

impl Handler<BlockSeats> for ScheduleActor {
    type Result = MessageResult<BlockSeats>;

    fn handle(&mut self, msg: BlockSeats, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let now = self.now();
        let mut events = Vec::new();
        let outcome =
            match self.guarded(|s| s.schedule.block_seats(&msg.seat_ids, &msg.reason, now)) {
                Ok(Ok(event)) => {
                    events.push(ScheduleLogEvent::Engine(event));
                    self.blocks_now()
                }
                Ok(Err(err)) => Err(self.engine_error(err)),
                Err(err) => Err(err),
            };
        self.finish(ctx, tx, events, outcome, None);
        MessageResult(rx)
    }
}

impl Handler<UnblockSeats> for ScheduleActor {
    type Result = MessageResult<UnblockSeats>;

    fn handle(&mut self, msg: UnblockSeats, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let now = self.now();
        let mut events = Vec::new();
        let outcome = match self.guarded(|s| s.schedule.unblock_seats(&msg.seat_ids, now)) {
            Ok(Ok(event)) => {
                events.push(ScheduleLogEvent::Engine(event));
                self.blocks_now()
            }
            Ok(Err(err)) => Err(self.engine_error(err)),
            Err(err) => Err(err),
        };
        self.finish(ctx, tx, events, outcome, None);
        MessageResult(rx)
    }
}

impl Handler<CompSeats> for ScheduleActor {
    type Result = MessageResult<CompSeats>;

    fn handle(&mut self, msg: CompSeats, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let now = self.now();
        let request = CompRequest {
            reservation_id: self.engine.ids.reservation_id(),
            number: self.engine.ids.reservation_number(),
            user: msg.user,
            payment_id: self.engine.ids.payment_id(),
            tickets: msg
                .seat_ids
                .iter()
                .map(|_| self.engine.ids.ticket_id())
                .collect(),
        };
        let (reservation_id, payment_id) = (request.reservation_id, request.payment_id);
        let tickets = request.tickets.clone();
        let mut events = Vec::new();
        let outcome = match self.guarded(|s| s.schedule.comp_seats(request, &msg.seat_ids, now)) {
            Ok(Ok(event)) => {
                events.push(ScheduleLogEvent::Engine(event));
                let directory = &self.engine.directory;
                directory.record_reservation(self.id, reservation_id, msg.user);
                directory.record_payment(self.id, reservation_id, payment_id);
                directory.record_tickets(self.id, &tickets);
                self.state
                    .as_ref()
                    .and_then(|s| {
                        let reservation = s.schedule.reservation(reservation_id)?;
                        Some(reservation_view(&s.schedule, reservation))
                    })
                    .ok_or_else(|| EngineError::Internal("comp not recorded".into()))
            }
            Ok(Err(err)) => Err(self.engine_error(err)),
            Err(err) => Err(err),
        };
        self.finish(ctx, tx, events, outcome, None);
        MessageResult(rx)
    }
}

impl Handler<GetBlocks> for ScheduleActor {
    type Result = EngineResult<Vec<BlockedSeat>>;

    fn handle(&mut self, _: GetBlocks, _: &mut Context<Self>) -> Self::Result {
        self.blocks_now()
    }
}
