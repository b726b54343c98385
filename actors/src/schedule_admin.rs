//! Admin operations on one schedule: cancelling it with every refund, its
//! sales figures, and its blocked seats and comps. An `impl Registry` block like the other operations.
//!
//! Cancelling answers once the cancellation is durable (with what it will
//! release and refund); a driver task then ends the reservations batch by
//! batch through the schedule's mailbox (`schedule_actor::cancellation`),
//! paying each batch's refunds through the ordinary refund path (the wallet
//! refunds a payment at most once; the schedule then records it settled)
//! before asking for the next batch. A crash anywhere in that is finished at
//! start-up: recovery pays the refunds already owed, and
//! [`Registry::resume_cancellations`] restarts the driver. Two drivers on one
//! schedule would be harmless (the actor hands out each batch once, the
//! wallet refunds once, a settled refund is skipped), so no lock is needed.

use std::sync::Arc;
use std::time::Duration;

use boxoffice_engine::ids::{ScheduleId, UserId};
use boxoffice_engine::schedule::{CancellationSummary, SalesFigures};
use boxoffice_engine::Money;
use futures_util::future::join_all;

use crate::error::{EngineError, EngineResult, Missing};
use crate::registry::Registry;
use crate::routing::ScheduleHandle;
use crate::schedule_actor::{
    BlockSeats, BlockedSeat, CancelSchedule, CompSeats, ContinueCancellation, GetBlocks, GetSales,
    GetUnfinishedWork, OwedRefund, ReservationView, SettleRefunds, UnblockSeats,
};
use crate::wallet_actor::Refund;

/// How long the driver waits before looking again when only payments in
/// flight at the cancel are left (their sagas end within a flush or two).
const CANCELLATION_POLL_MS: u64 = 20;

/// Most polls the driver waits for such payments (one minute); past that it
/// stops, and the next start-up resumes the cancellation.
const MAX_CANCELLATION_POLLS: u32 = 3_000;

impl Registry {
    /// Cancels the schedule: durable when this answers; the driver that ends
    /// its reservations and pays the refunds runs on in the background.
    pub async fn cancel_schedule(
        self: &Arc<Self>,
        schedule_id: ScheduleId,
    ) -> EngineResult<CancellationSummary> {
        let schedule = self.schedule(schedule_id)?;
        let summary = schedule.actor.command(CancelSchedule).await?;
        self.spawn_cancellation(schedule_id);
        Ok(summary)
    }

    fn spawn_cancellation(self: &Arc<Self>, schedule_id: ScheduleId) {
        let registry = Arc::clone(self);
        actix::spawn(async move {
            if let Err(err) = registry.finish_cancellation(schedule_id).await {
                tracing::error!(schedule = %schedule_id, %err, "cancellation stopped; it resumes at the next start");
            }
        });
    }

    /// Restarts the driver of every cancelled schedule whose cancellation a
    /// stop interrupted (start-up, after recovery paid the refunds owed).
    /// Returns how many were resumed.
    pub(crate) async fn resume_cancellations(self: &Arc<Self>) -> EngineResult<u32> {
        let mut resumed = 0;
        for schedule_id in self.schedule_ids() {
            let schedule = self.schedule(schedule_id)?;
            if !schedule.seats.cancelled() {
                continue;
            }
            if schedule
                .actor
                .query(GetUnfinishedWork)
                .await?
                .cancellation_unfinished
            {
                tracing::info!(schedule = %schedule_id, "resuming a schedule cancellation interrupted by the last stop");
                self.spawn_cancellation(schedule_id);
                resumed += 1;
            }
        }
        Ok(resumed)
    }

    /// Drives a cancelled schedule's cancellation to its end: every
    /// reservation ended, every refund paid. Safe to run again or twice at
    /// once (see the module doc); tests await it directly.
    pub async fn finish_cancellation(&self, schedule_id: ScheduleId) -> EngineResult<()> {
        let schedule = self.schedule(schedule_id)?;
        let mut polls = 0;
        loop {
            // `finish`: a step of work already accepted, not refused by the in-flight bound.
            let step = schedule.actor.finish(ContinueCancellation).await?;
            self.pay_refunds(&schedule, &step.refunds).await?;
            if !step.unfinished {
                return Ok(());
            }
            if step.ended > 0 {
                continue;
            }
            // Nothing to end now: refunds a failed wallet call left unpaid,
            // or payments in flight at the cancel. Retry the first, wait for the second.
            let work = schedule.actor.query(GetUnfinishedWork).await?;
            self.pay_refunds(&schedule, &work.refunds).await?;
            // A card payment in flight waits for its payer, up to the
            // provider's timeout: the cancellation ends it now (FAILED,
            // its intent closed; a success that still comes is refunded).
            for &(_, payment_id, _, _) in &work.payments {
                self.fail_pending_card_payment(payment_id).await?;
            }
            polls += 1;
            if polls > MAX_CANCELLATION_POLLS {
                return Err(EngineError::Internal(format!(
                    "cancellation of {schedule_id} still waits for payments in flight"
                )));
            }
            tokio::time::sleep(Duration::from_millis(CANCELLATION_POLL_MS)).await;
        }
    }

    /// Pays back `refunds` (at most once each, by payment id), then records
    /// those paid as settled in one log record. A failed wallet refund is
    /// logged and stays owed: the next pass or start-up retries it.
    async fn pay_refunds(
        &self,
        schedule: &ScheduleHandle,
        refunds: &[OwedRefund],
    ) -> EngineResult<()> {
        if refunds.is_empty() {
            return Ok(());
        }
        let paid = join_all(refunds.iter().map(|&(reservation_id, payment_id, user, amount)| async move {
            // Paid by card: refunded through the provider (settled there, or owed and retried).
            match self.refund_card_payment(payment_id).await {
                Ok(true) => return None,
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(%reservation_id, %payment_id, %err, "card refund of a cancelled schedule failed; retried");
                    return None;
                }
            }
            // A free ticket was never debited, so there is nothing to pay back.
            if amount == Money::ZERO {
                return Some(reservation_id);
            }
            match self.wallet(user).finish(Refund { user, payment_id }).await {
                Ok(_) => Some(reservation_id),
                Err(err) => {
                    tracing::warn!(%reservation_id, %payment_id, %err, "refund of a cancelled schedule failed; retried");
                    None
                }
            }
        }))
        .await;
        let reservation_ids: Vec<_> = paid.into_iter().flatten().collect();
        schedule
            .actor
            .finish(SettleRefunds { reservation_ids })
            .await
    }

    /// Takes free seats off sale (all or none); every blocked seat after.
    pub async fn block_seats(
        &self,
        schedule_id: ScheduleId,
        seat_ids: Vec<String>,
        reason: String,
    ) -> EngineResult<Vec<BlockedSeat>> {
        self.schedule(schedule_id)?
            .actor
            .command(BlockSeats { seat_ids, reason })
            .await
    }

    /// Puts blocked seats back on sale (all or none); every blocked seat left.
    pub async fn unblock_seats(
        &self,
        schedule_id: ScheduleId,
        seat_ids: Vec<String>,
    ) -> EngineResult<Vec<BlockedSeat>> {
        self.schedule(schedule_id)?
            .actor
            .command(UnblockSeats { seat_ids })
            .await
    }

    /// Every blocked seat of the schedule, with its reason.
    pub async fn blocks(&self, schedule_id: ScheduleId) -> EngineResult<Vec<BlockedSeat>> {
        self.schedule(schedule_id)?.actor.query(GetBlocks).await?
    }

    /// Issues blocked seats free to `user`, who must have an account.
    pub async fn comp_seats(
        &self,
        schedule_id: ScheduleId,
        user: UserId,
        seat_ids: Vec<String>,
    ) -> EngineResult<ReservationView> {
        let schedule = self.schedule(schedule_id)?;
        if self.role_of(user).is_none() {
            return Err(EngineError::NotFound(Missing::User));
        }
        schedule.actor.command(CompSeats { user, seat_ids }).await
    }

    /// The schedule's sales figures (see `boxoffice_engine::schedule::sales`).
    pub async fn sales(&self, schedule_id: ScheduleId) -> EngineResult<SalesFigures> {
        self.schedule(schedule_id)?.actor.query(GetSales).await?
    }
}
