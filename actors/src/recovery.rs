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

use boxoffice_engine::Money;

use crate::error::EngineResult;
use crate::registry::Registry;
use crate::schedule_actor::{FinishPayment, GetUnfinishedWork};
use crate::wallet_actor::{CheckInvariants, Debit, WasDebited};

/// What recovery did, for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub payments_confirmed: u32,
    pub payments_aborted: u32,
    pub refunds_settled: u32,
    /// Payments recovery could not end (a bug or a failing store): still pending.
    pub payments_stuck: u32,
}

pub async fn finish_interrupted_work(registry: &Registry) -> EngineResult<RecoveryReport> {
    let mut report = RecoveryReport::default();
    for schedule_id in registry.schedule_ids() {
        let schedule = registry.schedule(schedule_id)?;
        let work = schedule.actor.query(GetUnfinishedWork).await?;
        for (reservation_id, payment_id, user, amount) in work.payments {
            let wallet = registry.wallet(user);
            // The saga's process is gone, so no debit is in flight: the wallet's
            // answer is final. Debited -> confirm; not debited -> abort.
            let debit = match wallet.query(WasDebited { user, payment_id }).await? {
                // A free ticket has no debit to look for: it was never going to fail.
                None if amount == Money::ZERO => {
                    registry.wallet_view(user).await.map(|w| w.balance)
                }
                Some(_) => {
                    wallet
                        .finish(Debit {
                            user,
                            payment_id,
                            amount,
                        })
                        .await
                }
                None => Err(crate::error::EngineError::Internal(
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
        }
        for (reservation_id, payment_id, user, amount) in work.refunds {
            registry
                .settle_refund(&schedule, reservation_id, payment_id, user, amount)
                .await?;
            report.refunds_settled += 1;
        }
    }
    if report != RecoveryReport::default() {
        tracing::info!(?report, "finished work interrupted by the last stop");
        for shard in registry.wallet_shards() {
            shard.query(CheckInvariants).await?.map_err(|broken| {
                crate::error::EngineError::Internal(format!(
                    "wallet invariants broken after finishing interrupted payments: {broken}"
                ))
            })?;
        }
    }
    Ok(report)
}
