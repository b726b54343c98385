//! Start-up recovery of work that spans actors.
//!
//! Each actor rebuilds its own state from its snapshot and log. What no single
//! actor can finish alone is a saga a crash interrupted: a payment between
//! "begun" and "confirmed/aborted", or a cancelled paid reservation whose
//! refund was owed but not yet settled. This drives every one of them to an
//! end before the engine serves anything.
//!
//! Every actor's state was checked against its invariants when it loaded;
//! when this finished any work, the wallets (the state it changed with
//! money in it) are checked again, and a broken one stops the start.
//!
//! Like the other operations, this is an `impl Registry` block: it uses the
//! registry's routing and saga steps, and `Registry::start` calls it; the
//! registry module needs nothing from here.

use boxoffice_engine::ids::{PaymentId, ReservationId, UserId};
use boxoffice_engine::Money;

use std::sync::Arc;

use crate::card_payments;
use crate::error::{EngineError, EngineResult};
use crate::journal::ReplyAt;
use crate::registry::Registry;
use crate::routing::ScheduleHandle;
use crate::schedule_actor::{FinishPayment, GetUnfinishedWork};
use crate::wallet_actor::{CheckInvariants, Debit, WasDebited};

/// What recovery did; it lives with the registry that keeps it.
pub use crate::registry::RecoveryReport;

impl Registry {
    /// Drives every saga a crash interrupted to one end (see the module doc).
    pub(crate) async fn finish_interrupted_work(&self) -> EngineResult<RecoveryReport> {
        let mut report = RecoveryReport::default();
        for schedule_id in self.schedule_ids() {
            let schedule = self.schedule(schedule_id)?;
            let work = schedule.actor.query(GetUnfinishedWork).await?;
            let store = Arc::clone(self.context().commit.store());
            let is_card = |payment_id| {
                card_payments::record::is_card_payment(store.as_ref(), payment_id)
                    .map_err(|err| EngineError::Storage(err.to_string()))
            };
            for (reservation_id, payment_id, user, amount) in work.payments {
                // A card payment stays pending: the provider's answer or its
                // deadline ends it once card payments are attached.
                if is_card(payment_id)? {
                    continue;
                }
                self.finish_interrupted_payment(
                    &schedule,
                    (reservation_id, payment_id, user, amount),
                    &mut report,
                )
                .await?;
            }
            for (reservation_id, payment_id, user, amount) in work.refunds {
                // Refunded through the provider, once card payments are attached.
                if is_card(payment_id)? {
                    continue;
                }
                self.settle_refund(&schedule, reservation_id, payment_id, user, amount)
                    .await?;
                report.refunds_settled += 1;
            }
        }
        if report != RecoveryReport::default() {
            tracing::info!(?report, "finished work interrupted by the last stop");
            for shard in self.wallet_shards() {
                shard.query(CheckInvariants).await?.map_err(|broken| {
                    EngineError::Internal(format!(
                        "wallet invariants broken after finishing interrupted payments: {broken}"
                    ))
                })?;
            }
        }
        Ok(report)
    }

    /// Confirms a payment the wallet was debited for, aborts one it was not,
    /// and counts which (or that it could not be ended) in `report`.
    async fn finish_interrupted_payment(
        &self,
        schedule: &ScheduleHandle,
        (reservation_id, payment_id, user, amount): (ReservationId, PaymentId, UserId, Money),
        report: &mut RecoveryReport,
    ) -> EngineResult<()> {
        let wallet = self.wallet(user);
        // The saga's process is gone, so no debit is in flight: the wallet's
        // answer is final. Debited -> confirm; not debited -> abort.
        let debit = match wallet.query(WasDebited { user, payment_id }).await? {
            // A free ticket has no debit to look for: it was never going to fail.
            None if amount == Money::ZERO => self.wallet_view(user).await.map(|w| w.balance),
            Some(_) => {
                wallet
                    .finish(Debit {
                        user,
                        payment_id,
                        amount,
                        reply_at: ReplyAt::Durable,
                    })
                    .await
            }
            None => Err(EngineError::Internal(
                "payment interrupted by a restart before the debit".into(),
            )),
        };
        let expected = debit.clone().map(|_| ());
        let finished = schedule
            .actor
            .finish(FinishPayment {
                reservation_id,
                payment_id,
                debit,
            })
            .await;
        // An abort answers with the reason it was given; anything else means it did not end.
        match (finished.map(|_| ()), expected) {
            (Ok(()), Ok(())) => report.payments_confirmed += 1,
            (Err(got), Err(declined)) if got == declined => report.payments_aborted += 1,
            (outcome, _) => {
                tracing::error!(%reservation_id, %payment_id, ?outcome, "could not finish an interrupted payment");
                report.payments_stuck += 1;
            }
        }
        Ok(())
    }
}
