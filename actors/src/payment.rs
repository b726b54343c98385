//! The payment saga, which spans a schedule actor and a wallet actor:
//!
//! 1. schedule `BeginPayment`: a reservation that is not the caller's is
//!    NotFound (before the waiting room's refusal, which would tell a
//!    stranger it exists); the hold is locked against expiry; the payment
//!    (its id, the idempotency key, the queue token) is logged;
//! 2. wallet `Debit(paymentId)`: at most once per payment id;
//! 3. schedule `FinishPayment`: confirm (tickets issued) if the debit
//!    succeeded, else abort (the hold is back as it was, the wallet untouched).
//!
//! One flush per payment: steps 1 and 2 reply as soon as their records are
//! appended ([`ReplyAt::Appended`]), and only step 3 waits for a flush. A
//! flush makes a prefix of the appends durable, in their order, so the flush
//! that covers step 3 covers steps 1 and 2, and a crash before it leaves a
//! prefix of the saga: nothing, the begin, or the begin and the debit (never
//! a debit without its begin). Each is what a crash between durable steps
//! used to leave, and start-up recovery finishes it: a reservation in
//! PaymentPending is confirmed if the wallet holds the debit and aborted if
//! not, so a payment either moves the money and confirms every seat, or does
//! neither. Nothing reaches the client before that last flush: a refused
//! begin waits for its own flush (it ends the saga), and a declined debit
//! ends in step 3's abort. (The wallet's and the schedule's replies are only
//! released after their actors' appends return, which orders the appends.)

use boxoffice_engine::ids::*;
use boxoffice_engine::Money;

use crate::error::{EngineError, EngineResult, Missing};
use crate::idempotency::{run_keyed, IdemTag};
use crate::journal::ReplyAt;
use crate::receipt::{PaymentReceipt, StoredReply};
use crate::registry::Registry;
use crate::schedule_actor::archive;
use crate::schedule_actor::{BeginPayment, FinishPayment, GetReservation, ReservationView};
use crate::wallet_actor::Debit;

/// Pauses between attempts at a debit whose outcome was unknown.
const DEBIT_RETRY_BACKOFF_MS: [u64; 4] = [5, 20, 100, 400];

pub struct PayCommand {
    pub reservation_id: ReservationId,
    /// When given, must equal the reservation's total (the client confirms the price it saw).
    pub amount: Option<Money>,
    pub queue_token: Option<QueueTokenId>,
    pub idem: Option<IdemTag>,
}

impl Registry {
    pub async fn pay(&self, user: UserId, cmd: PayCommand) -> EngineResult<PaymentReceipt> {
        let now = || self.context().clock.now();
        let unwrap = |r: &StoredReply| match r {
            StoredReply::Payment(result) => Some(result.clone()),
            _ => None,
        };
        let tag = cmd.idem.clone();
        run_keyed(
            &self.context().idempotency,
            tag.as_ref(),
            now,
            StoredReply::Payment,
            unwrap,
            || self.run_saga(user, cmd),
        )
        .await
    }

    async fn run_saga(&self, user: UserId, cmd: PayCommand) -> EngineResult<PaymentReceipt> {
        let schedule = self.schedule_of(Some(user), cmd.reservation_id)?;
        let payment_id = self.context().ids.payment_id();
        let begun = schedule
            .actor
            .command(BeginPayment {
                user,
                reservation_id: cmd.reservation_id,
                payment_id,
                expected_amount: cmd.amount,
                queue_token: cmd.queue_token,
                idem: cmd.idem,
                reply_at: ReplyAt::Appended,
            })
            .await?;
        // A free ticket moves no money: there is nothing to debit (the wallet
        // refuses zero amounts), and the receipt shows the balance as it is.
        let debited = if begun.amount == Money::ZERO {
            self.wallet_view(user).await.map(|w| w.balance)
        } else {
            self.debit_with_retries(user, payment_id, begun.amount)
                .await
        };
        let debit = match debited {
            Ok(balance) => Ok(balance),
            Err(
                declined @ (EngineError::InsufficientBalance { .. } | EngineError::InvalidAmount),
            ) => Err(declined),
            // Still unknown after retries (the wallet overloaded or its storage
            // failing): leave the payment pending rather than guess; start-up
            // recovery ends it from the wallet's durable answer.
            Err(other) => return Err(other),
        };
        schedule
            .actor
            .finish(FinishPayment {
                reservation_id: cmd.reservation_id,
                payment_id,
                debit,
            })
            .await
    }

    /// The debit is keyed by payment id, so retrying an unknown outcome is safe.
    /// It bypasses the in-flight bound (the saga was admitted at its first step).
    async fn debit_with_retries(
        &self,
        user: UserId,
        payment_id: PaymentId,
        amount: Money,
    ) -> EngineResult<Money> {
        let mut outcome = Err(EngineError::Unavailable);
        for backoff_ms in DEBIT_RETRY_BACKOFF_MS {
            outcome = self
                .wallet(user)
                .finish(Debit {
                    user,
                    payment_id,
                    amount,
                    reply_at: ReplyAt::Appended,
                })
                .await;
            match &outcome {
                Err(EngineError::Unavailable | EngineError::Storage(_)) => {
                    tokio::time::sleep(std::time::Duration::from_millis(backoff_ms)).await
                }
                _ => break,
            }
        }
        outcome
    }

    /// A payment as its owner sees it: the reservation it paid for.
    pub async fn payment(
        &self,
        user: UserId,
        payment_id: PaymentId,
    ) -> EngineResult<(PaymentId, ReservationView)> {
        let found = match self.context().directory.payment(payment_id) {
            Some(found) => Some(found),
            // Not routed since the start: a refunded payment whose reservation was archived.
            None => self.locate_archived(archive::reservation_of_payment(
                self.context().commit.store().as_ref(),
                payment_id,
            ))?,
        };
        let (schedule_id, reservation_id) = found.ok_or(EngineError::NotFound(Missing::Payment))?;
        let view = self
            .schedule(schedule_id)?
            .actor
            .query(GetReservation {
                user: Some(user),
                reservation_id,
            })
            .await?;
        match view {
            Ok(view) => Ok((payment_id, view)),
            Err(EngineError::NotFound(_)) => Err(EngineError::NotFound(Missing::Payment)),
            Err(err) => Err(err),
        }
    }
}
