//! Booking operations as the API layer calls them: holds, cancellations
//! (with the refund saga), reservation and ticket reads, seat maps, check-in.
//! Each routes to the owning schedule actor and, where a key is given, runs
//! under the idempotency index.

use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::{ReservationStatus, SeatCounts, SeatSelection};
use boxoffice_engine::Money;

use crate::error::{EngineError, EngineResult, Missing};
use crate::idempotency::{run_keyed, IdemTag};
use crate::receipt::{HoldReceipt, StoredReply};
use crate::registry::Registry;
use crate::routing::ScheduleHandle;
use crate::schedule_actor::archive;
use crate::schedule_actor::*;
use crate::wallet_actor::Refund;

/// A hold request as the API receives it.
pub struct HoldCommand {
    pub schedule_id: ScheduleId,
    pub selection: SeatSelection,
    pub queue_token: Option<QueueTokenId>,
    pub idem: Option<IdemTag>,
}

/// A reservation's status as its owner sees it (and filters by): a payment
/// in flight does not change what they hold, so a payment-pending
/// reservation is `Held`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CustomerStatus {
    Held,
    Confirmed,
    Expired,
    Cancelled,
}

impl CustomerStatus {
    pub fn of(status: ReservationStatus) -> Self {
        match status {
            ReservationStatus::Held | ReservationStatus::PaymentPending { .. } => Self::Held,
            ReservationStatus::Confirmed { .. } => Self::Confirmed,
            ReservationStatus::Expired => Self::Expired,
            ReservationStatus::Cancelled => Self::Cancelled,
        }
    }
}

/// The result of a cancel: the reservation as it is now and what was refunded.
#[derive(Clone, Debug)]
pub struct CancelReceipt {
    pub reservation: ReservationView,
    pub refund_amount: Money,
}

impl Registry {
    pub async fn hold(&self, user: UserId, cmd: HoldCommand) -> EngineResult<HoldReceipt> {
        self.reachable(cmd.schedule_id, Some(user))?;
        let schedule = self.schedule(cmd.schedule_id)?;
        let now = || self.context().clock.now();
        let unwrap = |r: &StoredReply| match r {
            StoredReply::Hold(result) => Some(result.clone()),
            _ => None,
        };
        let tag = cmd.idem.clone();
        run_keyed(
            &self.context().idempotency,
            tag.as_ref(),
            now,
            StoredReply::Hold,
            unwrap,
            || async move {
                schedule
                    .actor
                    .command(HoldSeats {
                        user,
                        selection: cmd.selection,
                        queue_token: cmd.queue_token,
                        idem: cmd.idem,
                    })
                    .await
            },
        )
        .await
    }

    /// Cancels a hold (seats free at once) or a paid reservation (seats free,
    /// tickets void, full refund to the wallet). The refund is owed durably
    /// before the wallet is touched, so a crash in between is finished at start-up.
    pub async fn cancel(
        &self,
        user: UserId,
        reservation_id: ReservationId,
    ) -> EngineResult<CancelReceipt> {
        let schedule = self.schedule_of(Some(user), reservation_id)?;
        let cancel = || {
            schedule.actor.command(CancelReservation {
                user,
                reservation_id,
            })
        };
        let cancelled = match cancel().await {
            // The owner leaves the card checkout: the card payment fails
            // (its intent closed), then the hold is cancelled as any other.
            Err(EngineError::PaymentInProgress) => {
                if !self
                    .fail_card_payment_of(&schedule, user, reservation_id)
                    .await?
                {
                    return Err(EngineError::PaymentInProgress);
                }
                cancel().await?
            }
            other => other?,
        };
        let refund_amount = match cancelled.refund {
            Some((payment_id, amount)) => {
                self.settle_refund(&schedule, reservation_id, payment_id, user, amount)
                    .await?;
                amount
            }
            None => Money::ZERO,
        };
        let reservation = schedule
            .actor
            .query(GetReservation {
                user: Some(user),
                reservation_id,
            })
            .await??;
        Ok(CancelReceipt {
            reservation,
            refund_amount,
        })
    }

    /// Fails the pending card payment of `user`'s reservation, if that is
    /// what it is waiting for. False: not a card payment (a wallet saga).
    async fn fail_card_payment_of(
        &self,
        schedule: &ScheduleHandle,
        user: UserId,
        reservation_id: ReservationId,
    ) -> EngineResult<bool> {
        let view = schedule
            .actor
            .query(GetReservation {
                user: Some(user),
                reservation_id,
            })
            .await??;
        match view.status {
            ReservationStatus::PaymentPending { payment_id } => {
                self.fail_pending_card_payment(payment_id).await
            }
            _ => Ok(false),
        }
    }

    /// Refund step of a cancellation: wallet refund (at most once per payment), then mark settled.
    pub(crate) async fn settle_refund(
        &self,
        schedule: &ScheduleHandle,
        reservation_id: ReservationId,
        payment_id: PaymentId,
        user: UserId,
        amount: Money,
    ) -> EngineResult<()> {
        // Paid by card: refunded through the provider, which settles the schedule's refund.
        if self.refund_card_payment(payment_id).await? {
            return Ok(());
        }
        // A free ticket was never debited, so there is nothing to pay back.
        if amount != Money::ZERO {
            self.wallet(user)
                .finish(Refund { user, payment_id })
                .await?;
        }
        schedule.actor.finish(SettleRefund { reservation_id }).await
    }

    /// Where an archived reservation found by `lookup` (a ticket or payment
    /// pointer: owner and reservation) lives.
    pub(crate) fn locate_archived(
        &self,
        lookup: Result<Option<(UserId, ReservationId)>, boxoffice_storage::StoreError>,
    ) -> EngineResult<Option<(ScheduleId, ReservationId)>> {
        let found = lookup.map_err(|err| EngineError::Storage(err.to_string()))?;
        let Some((owner, id)) = found else {
            return Ok(None);
        };
        Ok(self
            .locate(Some(owner), id)?
            .map(|schedule_id| (schedule_id, id)))
    }

    /// The schedule that owns a reservation: from the directory while the
    /// reservation is in its schedule's memory, else from the owner's archive
    /// (so without an owner, an archived reservation is not found).
    pub(crate) fn locate(
        &self,
        user: Option<UserId>,
        reservation_id: ReservationId,
    ) -> EngineResult<Option<ScheduleId>> {
        if let Some(schedule_id) = self
            .context()
            .directory
            .schedule_of_reservation(reservation_id)
        {
            return Ok(Some(schedule_id));
        }
        let Some(user) = user else {
            return Ok(None);
        };
        archive::read(self.context().commit.store().as_ref(), user, reservation_id)
            .map_err(|err| EngineError::Storage(err.to_string()))
            .map(|found| found.map(|archived| archived.view.schedule_id))
    }

    pub(crate) fn schedule_of(
        &self,
        user: Option<UserId>,
        reservation_id: ReservationId,
    ) -> EngineResult<ScheduleHandle> {
        let id = self
            .locate(user, reservation_id)?
            .ok_or(EngineError::NotFound(Missing::Reservation))?;
        self.schedule(id)
    }

    /// One reservation; `user: Some` restricts to its owner (others: NotFound).
    pub async fn reservation(
        &self,
        user: Option<UserId>,
        reservation_id: ReservationId,
    ) -> EngineResult<ReservationView> {
        self.schedule_of(user, reservation_id)?
            .actor
            .query(GetReservation {
                user,
                reservation_id,
            })
            .await?
    }

    /// All of a user's reservations, oldest first, the whole history loaded:
    /// the reference the paged reads (`reservation_pages.rs`) are checked
    /// against in tests and the simulation; no API read uses it.
    pub async fn reservations_of(&self, user: UserId) -> EngineResult<Vec<ReservationView>> {
        let mut views = Vec::new();
        let mut seen = std::collections::HashSet::new();
        // Archived ones first: they are older than any still in memory.
        self.push_archived(user, &mut views, &mut seen)?;
        for (schedule_id, reservation_id) in self.context().directory.reservations_of_user(user) {
            match self
                .schedule(schedule_id)?
                .actor
                .query(GetReservation {
                    user: Some(user),
                    reservation_id,
                })
                .await?
            {
                Ok(view) => {
                    if seen.insert(view.reservation_id) {
                        views.push(view);
                    }
                }
                // Recorded in the directory but lost with an actor restart: it never became durable.
                Err(EngineError::NotFound(_)) => {}
                Err(err) => return Err(err),
            }
        }
        // Again, for any archived (and so dropped from the directory) meanwhile.
        self.push_archived(user, &mut views, &mut seen)?;
        // Each part is in creation order per schedule; a stable sort by hold
        // time makes the whole oldest first across schedules.
        views.sort_by_key(|view| view.held_at);
        Ok(views)
    }

    /// Appends the user's archived reservations not in `seen`, oldest first.
    fn push_archived(
        &self,
        user: UserId,
        views: &mut Vec<ReservationView>,
        seen: &mut std::collections::HashSet<ReservationId>,
    ) -> EngineResult<()> {
        let store = self.context().commit.store();
        for archived in archive::reservations_of_user(store.as_ref(), user)
            .map_err(|err| EngineError::Storage(err.to_string()))?
        {
            // Listed under this user's prefix; the check guards the prefix scan.
            if archived.view.user != user {
                return Err(EngineError::Storage(format!(
                    "archive lists {} under {user}",
                    archived.view.reservation_id
                )));
            }
            if seen.insert(archived.view.reservation_id) {
                views.push(archived.view);
            }
        }
        Ok(())
    }

    pub async fn seat_map(
        &self,
        schedule_id: ScheduleId,
        access: Option<(UserId, Option<QueueTokenId>)>,
        section: Option<String>,
    ) -> EngineResult<SeatMapView> {
        self.reachable(schedule_id, access.map(|(user, _)| user))?;
        self.schedule(schedule_id)?
            .actor
            .query(GetSeatMap { access, section })
            .await?
    }

    pub async fn seat_counts(&self, schedule_id: ScheduleId) -> EngineResult<SeatCounts> {
        self.schedule(schedule_id)?.actor.query(GetCounts).await
    }

    pub async fn ticket(
        &self,
        user: Option<UserId>,
        ticket_id: TicketId,
    ) -> EngineResult<TicketView> {
        let schedule_id = match self.context().directory.schedule_of_ticket(ticket_id) {
            Some(schedule_id) => Some(schedule_id),
            // Not routed since the start: a void ticket of an archived reservation.
            None => self
                .locate_archived(archive::reservation_of_ticket(
                    self.context().commit.store().as_ref(),
                    ticket_id,
                ))?
                .map(|(schedule_id, _)| schedule_id),
        };
        let schedule_id = schedule_id.ok_or(EngineError::NotFound(Missing::Ticket))?;
        self.schedule(schedule_id)?
            .actor
            .query(GetTicket { user, ticket_id })
            .await?
    }

    /// Checks a ticket in at the door; a second check-in is refused.
    pub async fn check_in(&self, ticket_id: TicketId) -> EngineResult<CheckedIn> {
        let schedule_id = self
            .context()
            .directory
            .schedule_of_ticket(ticket_id)
            .ok_or(EngineError::InvalidTicket)?;
        self.schedule(schedule_id)?
            .actor
            .command(CheckIn { ticket_id })
            .await
    }
}
