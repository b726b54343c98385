//! The schedule actor's part of cancelling its whole schedule, and its sales
//! figures (both admin operations, see `crate::schedule_admin`).
//!
//! [`CancelSchedule`] logs the cancellation and answers once it is durable;
//! the reservations are then ended by [`ContinueCancellation`], one engine
//! batch (`EngineConfig::cancel_batch` reservations, by default
//! `MAX_CANCEL_BATCH`; one log record) per message. The registry's
//! cancellation driver sends them one at a time, paying each batch's refunds
//! before it asks for the next, so holds and payments for other schedules on
//! this thread, and reads of this one, are served between batches instead of
//! waiting behind a 50,000-seat cancellation.

use actix::prelude::*;
use boxoffice_engine::ids::ReservationId;
use boxoffice_engine::schedule::{CancellationSummary, SalesFigures, ScheduleEvent};
use boxoffice_engine::{Money, PaymentId, UserId};
use tokio::sync::oneshot;

use super::state::ScheduleLogEvent;
use super::{Pending, ScheduleActor};
use crate::error::{EngineError, EngineResult};

/// Cancel the whole schedule (409 CONFLICT the second time).
pub struct CancelSchedule;
impl Message for CancelSchedule {
    type Result = Pending<CancellationSummary>;
}

/// A refund a cancellation owes: (reservation, payment, user, amount).
pub type OwedRefund = (ReservationId, PaymentId, UserId, Money);

/// Run the next batch of a cancelled schedule's cancellation.
pub struct ContinueCancellation;
#[derive(Clone, Debug, Default)]
pub struct CancellationStep {
    /// Reservations this batch ended (0: nothing was left to end now).
    pub ended: usize,
    /// The refunds this batch made owed, to be paid before the next batch.
    pub refunds: Vec<OwedRefund>,
    /// A reservation is still held, paying or paid, or a refund unpaid.
    pub unfinished: bool,
}
impl Message for ContinueCancellation {
    type Result = Pending<CancellationStep>;
}

/// Mark the refunds of these reservations as paid back (one log record);
/// one whose refund is not owed (already settled) is skipped.
pub struct SettleRefunds {
    pub reservation_ids: Vec<ReservationId>,
}
impl Message for SettleRefunds {
    type Result = Pending<()>;
}

/// The schedule's sales figures now.
pub struct GetSales;
impl Message for GetSales {
    type Result = EngineResult<SalesFigures>;
}

impl Handler<CancelSchedule> for ScheduleActor {
    type Result = MessageResult<CancelSchedule>;

    fn handle(&mut self, _: CancelSchedule, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let now = self.now();
        let mut events = Vec::new();
        let outcome = match self.guarded(|s| s.schedule.cancel_schedule(now)) {
            Ok(Ok((event, summary))) => {
                events.push(ScheduleLogEvent::Engine(event));
                Ok(summary)
            }
            Ok(Err(err)) => Err(self.engine_error(err)),
            Err(err) => Err(err),
        };
        self.finish(ctx, tx, events, outcome, None);
        MessageResult(rx)
    }
}

impl Handler<ContinueCancellation> for ScheduleActor {
    type Result = MessageResult<ContinueCancellation>;

    fn handle(&mut self, _: ContinueCancellation, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let now = self.now();
        let max_batch = self.engine.config.cancel_batch;
        let mut events = Vec::new();
        let outcome = match self.guarded(|s| {
            let event = s.schedule.next_cancellation_batch_of(now, max_batch);
            let mut step = CancellationStep::default();
            if let Some(ScheduleEvent::CancellationBatch {
                released, refunded, ..
            }) = &event
            {
                step.ended = released.len() + refunded.len();
                for &(id, amount) in refunded {
                    let Some(reservation) = s.schedule.reservation(id) else {
                        continue;
                    };
                    if let Some(refund) = &reservation.refund {
                        step.refunds
                            .push((id, refund.payment_id, reservation.user, amount));
                    }
                }
            }
            step.unfinished = s.schedule.cancellation_unfinished();
            (event, step)
        }) {
            Ok((event, step)) => {
                events.extend(event.map(ScheduleLogEvent::Engine));
                Ok(step)
            }
            Err(err) => Err(err),
        };
        self.finish(ctx, tx, events, outcome, None);
        MessageResult(rx)
    }
}

impl Handler<SettleRefunds> for ScheduleActor {
    type Result = MessageResult<SettleRefunds>;

    fn handle(&mut self, msg: SettleRefunds, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let now = self.now();
        let settled = self.guarded(|s| {
            msg.reservation_ids
                .iter()
                // Not owed any more: a retry after its settlement was logged.
                .filter_map(|&id| s.schedule.settle_refund(id, now).ok())
                .map(ScheduleLogEvent::Engine)
                .collect::<Vec<_>>()
        });
        let (events, outcome) = match settled {
            Ok(events) => (events, Ok(())),
            Err(err) => (Vec::new(), Err(err)),
        };
        self.finish(ctx, tx, events, outcome, None);
        MessageResult(rx)
    }
}

impl Handler<GetSales> for ScheduleActor {
    type Result = EngineResult<SalesFigures>;

    fn handle(&mut self, _: GetSales, _: &mut Context<Self>) -> Self::Result {
        let state = self.state.as_ref().ok_or(EngineError::Unavailable)?;
        state
            .schedule
            .sales()
            .ok_or_else(|| EngineError::Internal("sales figures overflow".into()))
    }
}
