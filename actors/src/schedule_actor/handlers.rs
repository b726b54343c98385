//! The schedule actor's message handlers: thin wrappers that run one engine
//! command, build the reply, and stage both.

use actix::prelude::*;
use boxoffice_engine::ids::{ReservationId, TicketId, UserId};
use boxoffice_engine::schedule::{HoldRequest, ReservationStatus, ScheduleError, ScheduleEvent};
use boxoffice_engine::Timestamp;
use tokio::sync::oneshot;

use super::archive::{self, ArchivedReservation};
use super::messages::*;
use super::state::ScheduleLogEvent;
use super::views::{reservation_view, seat_lines, seat_map, ticket_lines, ticket_view};
use super::ScheduleActor;
use crate::error::{from_schedule_error, EngineError, EngineResult, Missing};
use crate::idempotency::{IdemRecord, IdemState, IdemTag};
use crate::journal::{reply_when_durable, ReplyAt};
use crate::queue_link::{EndQueueToken, QueueAdmitted};
use crate::receipt::{HoldReceipt, PaymentReceipt, StoredReply};

/// The idempotency record for an outcome, if it is one the engine decided.
fn idem_record<T: Clone>(
    tag: Option<&IdemTag>,
    outcome: &EngineResult<T>,
    wrap: fn(EngineResult<T>) -> StoredReply,
    at: Timestamp,
) -> Option<IdemRecord> {
    let tag = tag?;
    let decided = match outcome {
        Ok(_) => true,
        Err(err) => err.is_engine_decided(),
    };
    decided.then(|| IdemRecord {
        key: tag.key.clone(),
        digest: tag.digest,
        state: IdemState::Done(wrap(outcome.clone())),
        at,
    })
}

impl ScheduleActor {
    /// The archived copy of `user`'s ended reservation this schedule no longer keeps.
    fn archived(
        &self,
        user: UserId,
        id: ReservationId,
    ) -> EngineResult<Option<ArchivedReservation>> {
        archive::read(self.journal.store().as_ref(), user, id)
            .map_err(|err| EngineError::Storage(err.to_string()))
    }

    /// A command on a reservation the engine does not know: if the user's
    /// reservation was archived (it ended), the refusal its end implies, as the
    /// engine would have given it before forgetting; else `err` as it is.
    fn refusal_for_archived(
        &self,
        id: ReservationId,
        user: UserId,
        err: ScheduleError,
        refusal: fn(ReservationStatus) -> ScheduleError,
    ) -> EngineError {
        if err != ScheduleError::ReservationNotFound {
            return self.engine_error(err);
        }
        match self.archived(user, id) {
            Ok(Some(archived)) if archived.view.user == user => {
                self.engine_error(refusal(archived.view.status))
            }
            Ok(_) => self.engine_error(err),
            Err(storage) => storage,
        }
    }

    /// Ok if `user` owns reservation `id`, live here or archived; else
    /// NotFound. Asked before the waiting room's refusal, which would tell a
    /// stranger that the reservation exists (API.md: 404 for another user's).
    fn owned_by(&self, user: UserId, id: ReservationId) -> EngineResult<()> {
        let state = self.state.as_ref().ok_or(EngineError::Unavailable)?;
        let owned = match state.schedule.reservation(id) {
            Some(reservation) => reservation.user == user,
            None => self
                .archived(user, id)?
                .is_some_and(|archived| archived.view.user == user),
        };
        if owned {
            Ok(())
        } else {
            Err(EngineError::NotFound(Missing::Reservation))
        }
    }

    /// Converts an engine error, naming seats by id.
    pub(super) fn engine_error(
        &self,
        err: boxoffice_engine::schedule::ScheduleError,
    ) -> EngineError {
        match self.state.as_ref() {
            Some(state) => from_schedule_error(err, |seat| state.schedule.seat_id(seat)),
            None => EngineError::Unavailable,
        }
    }

    /// Replies (after durability) with `outcome`, staging `events` and the idempotency record.
    pub(super) fn finish<T: Clone + Send + 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        tx: oneshot::Sender<EngineResult<T>>,
        events: Vec<ScheduleLogEvent>,
        outcome: EngineResult<T>,
        idem: Option<IdemRecord>,
    ) {
        self.finish_at(ctx, tx, events, outcome, idem, ReplyAt::Durable);
    }

    /// [`Self::finish`] with the reply released at `at` (see [`ReplyAt`]).
    fn finish_at<T: Clone + Send + 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        tx: oneshot::Sender<EngineResult<T>>,
        events: Vec<ScheduleLogEvent>,
        outcome: EngineResult<T>,
        idem: Option<IdemRecord>,
        at: ReplyAt,
    ) {
        if self.poisoned {
            // Nothing of this command may be logged: the state it ran on is suspect.
            let _ = tx.send(outcome);
            self.after_panic(ctx);
            return;
        }
        self.stage_at(ctx, events, idem, Some(reply_when_durable(tx, outcome)), at);
    }
}

impl Handler<HoldSeats> for ScheduleActor {
    type Result = MessageResult<HoldSeats>;

    fn handle(&mut self, msg: HoldSeats, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let now = self.now();
        let mut events = Vec::new();
        let outcome = if !self.queue_allows_hold(msg.user, msg.queue_token, now) {
            Err(EngineError::QueueNotActive)
        } else {
            let request = HoldRequest {
                reservation_id: self.engine.ids.reservation_id(),
                number: self.engine.ids.reservation_number(),
                user: msg.user,
                selection: msg.selection,
            };
            let reservation_id = request.reservation_id;
            match self.guarded(|s| s.schedule.hold(request, now)) {
                Ok(Ok(event)) => {
                    events.push(ScheduleLogEvent::Engine(event));
                    let state = self
                        .state
                        .as_ref()
                        .expect("state exists after a successful hold");
                    let reservation = state
                        .schedule
                        .reservation(reservation_id)
                        .expect("a successful hold creates its reservation");
                    self.engine
                        .directory
                        .record_reservation(self.id, reservation_id, msg.user);
                    Ok(HoldReceipt {
                        reservation_id,
                        reservation_number: reservation.number.clone(),
                        schedule_id: self.id,
                        seats: seat_lines(&state.schedule, reservation),
                        total_amount: reservation.amount,
                        held_at: reservation.held_at,
                        expires_at: reservation.expires_at,
                    })
                }
                Ok(Err(err)) => Err(self.engine_error(err)),
                Err(err) => Err(err),
            }
        };
        let idem = idem_record(msg.idem.as_ref(), &outcome, StoredReply::Hold, now);
        self.finish(ctx, tx, events, outcome, idem);
        self.arm_timer(ctx);
        MessageResult(rx)
    }
}

impl Handler<CancelReservation> for ScheduleActor {
    type Result = MessageResult<CancelReservation>;

    fn handle(&mut self, msg: CancelReservation, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let now = self.now();
        let mut events = Vec::new();
        let outcome = match self.guarded(|s| s.schedule.cancel(msg.reservation_id, msg.user, now)) {
            Ok(Ok(event)) => {
                let refund = match &event {
                    ScheduleEvent::Cancelled { refund_amount, .. } => {
                        let state = self.state.as_ref().expect("state exists after a cancel");
                        state
                            .schedule
                            .reservation(msg.reservation_id)
                            .and_then(|r| r.refund.as_ref())
                            .map(|refund| (refund.payment_id, *refund_amount))
                    }
                    _ => None,
                };
                events.push(ScheduleLogEvent::Engine(event));
                let state = self.state.as_ref().expect("state exists after a cancel");
                let reservation = state
                    .schedule
                    .reservation(msg.reservation_id)
                    .expect("a cancelled reservation still exists");
                Ok(Cancelled {
                    view: reservation_view(&state.schedule, reservation),
                    refund,
                })
            }
            // Every archived reservation has ended: none can be cancelled.
            Ok(Err(err)) => Err(self.refusal_for_archived(
                msg.reservation_id,
                msg.user,
                err,
                |_| ScheduleError::NotCancellable,
            )),
            Err(err) => Err(err),
        };
        self.finish(ctx, tx, events, outcome, None);
        MessageResult(rx)
    }
}

impl Handler<BeginPayment> for ScheduleActor {
    type Result = MessageResult<BeginPayment>;

    fn handle(&mut self, msg: BeginPayment, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let now = self.now();
        let mut events = Vec::new();
        let mut idem = None;
        let outcome = if let Err(missing) = self.owned_by(msg.user, msg.reservation_id) {
            Err(missing)
        } else if !self.queue_allows_payment(msg.user, msg.queue_token) {
            Err(EngineError::QueueNotActive)
        } else {
            match self.guarded(|s| {
                s.schedule.begin_payment(
                    msg.reservation_id,
                    msg.user,
                    msg.payment_id,
                    msg.expected_amount,
                    now,
                )
            }) {
                Ok(Ok(event)) => {
                    let amount = match &event {
                        ScheduleEvent::PaymentBegun { amount, .. } => *amount,
                        _ => unreachable!("begin_payment returns PaymentBegun"),
                    };
                    let started = ScheduleLogEvent::PaymentStarted {
                        payment_id: msg.payment_id,
                        tag: msg.idem.clone(),
                        queue_token: msg.queue_token,
                    };
                    if let Some(state) = self.state.as_mut() {
                        state
                            .apply(&started)
                            .expect("a payment context always applies");
                    }
                    events.push(ScheduleLogEvent::Engine(event));
                    events.push(started);
                    self.engine.directory.record_payment(
                        self.id,
                        msg.reservation_id,
                        msg.payment_id,
                    );
                    // Mark the key as taken by a saga in flight: recovery completes it.
                    idem = msg.idem.as_ref().map(|tag| IdemRecord {
                        key: tag.key.clone(),
                        digest: tag.digest,
                        state: IdemState::InProgress,
                        at: now,
                    });
                    Ok(PaymentBegun { amount })
                }
                Ok(Err(err)) => Err(self.refusal_for_archived(
                    msg.reservation_id,
                    msg.user,
                    err,
                    |status| match status {
                        ReservationStatus::Expired => ScheduleError::ReservationExpired,
                        _ => ScheduleError::ReservationCancelled,
                    },
                )),
                Err(err) => Err(err),
            }
        };
        if let Err(err) = &outcome {
            idem = idem_record::<PaymentReceipt>(
                msg.idem.as_ref(),
                &Err(err.clone()),
                StoredReply::Payment,
                now,
            );
        }
        // A begun payment is an intermediate saga step (its caller answers
        // nobody before the durable last step); a refusal ends the saga and
        // reaches the client, so it waits for its flush like every answer.
        let at = if outcome.is_ok() {
            msg.reply_at
        } else {
            ReplyAt::Durable
        };
        self.finish_at(ctx, tx, events, outcome, idem, at);
        MessageResult(rx)
    }
}

impl Handler<FinishPayment> for ScheduleActor {
    type Result = MessageResult<FinishPayment>;

    fn handle(&mut self, msg: FinishPayment, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let now = self.now();
        let gated = self.state.as_ref().is_some_and(|s| s.is_gated());
        let saga = self
            .state
            .as_ref()
            .and_then(|s| s.payments_in_flight.get(&msg.payment_id).cloned());
        let mut events = Vec::new();
        let mut end_token = None;

        // Recovery may finish a payment twice (crash after confirm, before the
        // saga heard of it): a confirmed reservation answers with its receipt.
        let already = self.state.as_ref().and_then(|s| {
            let r = s.schedule.reservation(msg.reservation_id)?;
            (r.status
                == ReservationStatus::Confirmed {
                    payment_id: msg.payment_id,
                })
            .then(|| (r.clone(), s.schedule.id()))
        });

        let outcome: EngineResult<PaymentReceipt> = match (msg.debit, already) {
            (Ok(balance_after), Some((reservation, schedule_id))) => {
                let state = self.state.as_ref().expect("state exists");
                Ok(PaymentReceipt {
                    payment_id: msg.payment_id,
                    reservation_id: msg.reservation_id,
                    schedule_id,
                    amount: reservation.amount,
                    paid_at: reservation.paid_at.unwrap_or(now),
                    balance_after,
                    tickets: ticket_lines(&state.schedule, &reservation),
                    queue_token_expired: gated,
                })
            }
            (Ok(balance_after), None) => {
                let seat_count = self
                    .state
                    .as_ref()
                    .and_then(|s| s.schedule.reservation(msg.reservation_id))
                    .map_or(0, |r| r.seats.len());
                let tickets: Vec<_> = (0..seat_count)
                    .map(|_| self.engine.ids.ticket_id())
                    .collect();
                match self.guarded(|s| {
                    s.schedule
                        .confirm(msg.reservation_id, msg.payment_id, tickets.clone(), now)
                }) {
                    Ok(Ok(event)) => {
                        let state = self.state.as_mut().expect("state exists after confirm");
                        state.forget_finished_payment(&event);
                        events.push(ScheduleLogEvent::Engine(event));
                        let reservation = state
                            .schedule
                            .reservation(msg.reservation_id)
                            .expect("confirmed reservation exists");
                        self.engine.directory.record_tickets(self.id, &tickets);
                        let token = saga.as_ref().and_then(|c| c.queue_token).filter(|_| gated);
                        if let Some(token) = token {
                            self.admitted.remove(&token);
                            end_token = Some(token);
                        }
                        Ok(PaymentReceipt {
                            payment_id: msg.payment_id,
                            reservation_id: msg.reservation_id,
                            schedule_id: self.id,
                            amount: reservation.amount,
                            paid_at: now,
                            balance_after,
                            tickets: ticket_lines(&state.schedule, reservation),
                            queue_token_expired: token.is_some(),
                        })
                    }
                    Ok(Err(err)) => Err(self.engine_error(err)),
                    Err(err) => Err(err),
                }
            }
            (Err(declined), _) => match self.guarded(|s| {
                s.schedule
                    .abort_payment(msg.reservation_id, msg.payment_id, now)
            }) {
                Ok(Ok(event)) => {
                    if let Some(state) = self.state.as_mut() {
                        state.forget_finished_payment(&event);
                    }
                    events.push(ScheduleLogEvent::Engine(event));
                    Err(declined)
                }
                Ok(Err(err)) => Err(self.engine_error(err)),
                Err(err) => Err(err),
            },
        };
        let saga_tag = saga.as_ref().and_then(|c| c.tag.as_ref());
        // An undecided end (recovery aborting a payment that never reached the
        // wallet) frees the key, so the client's retry runs afresh.
        let idem = idem_record(saga_tag, &outcome, StoredReply::Payment, now).or_else(|| {
            saga_tag.map(|tag| IdemRecord {
                key: tag.key.clone(),
                digest: tag.digest,
                state: IdemState::Released,
                at: now,
            })
        });
        let waiter = reply_when_durable(tx, outcome);
        let waiter: crate::journal::Waiter = match end_token {
            Some(token) => {
                let queue = self.queue.end_token.clone();
                let schedule_id = self.id;
                Box::new(move |durable| {
                    // The token ends only once the payment that ends it is durable.
                    if durable.is_ok() {
                        queue.do_send(EndQueueToken { schedule_id, token });
                    }
                    waiter(durable)
                })
            }
            None => waiter,
        };
        if self.poisoned {
            waiter(Err(boxoffice_storage::StoreError::Io(
                "schedule actor failed".into(),
            )));
            self.after_panic(ctx);
        } else {
            self.stage(ctx, events, idem, Some(waiter));
            self.arm_timer(ctx);
        }
        MessageResult(rx)
    }
}

impl Handler<SettleRefund> for ScheduleActor {
    type Result = MessageResult<SettleRefund>;

    fn handle(&mut self, msg: SettleRefund, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let now = self.now();
        let mut events = Vec::new();
        let outcome = match self.guarded(|s| s.schedule.settle_refund(msg.reservation_id, now)) {
            Ok(Ok(event)) => {
                events.push(ScheduleLogEvent::Engine(event));
                Ok(())
            }
            Ok(Err(boxoffice_engine::schedule::ScheduleError::RefundNotOwed)) => Ok(()),
            Ok(Err(err)) => Err(self.engine_error(err)),
            Err(err) => Err(err),
        };
        self.finish(ctx, tx, events, outcome, None);
        MessageResult(rx)
    }
}

impl Handler<CheckIn> for ScheduleActor {
    type Result = MessageResult<CheckIn>;

    fn handle(&mut self, msg: CheckIn, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let now = self.now();
        let mut events = Vec::new();
        let outcome = match self.guarded(|s| s.schedule.check_in(msg.ticket_id, now)) {
            Ok(Ok(event)) => {
                events.push(ScheduleLogEvent::Engine(event));
                let state = self.state.as_ref().expect("state exists after check-in");
                ticket_view(&state.schedule, msg.ticket_id)
                    .map(|ticket| CheckedIn {
                        ticket,
                        used_at: now,
                    })
                    .ok_or(EngineError::InvalidTicket)
            }
            Ok(Err(err)) => Err(self.engine_error(err)),
            Err(err) => Err(err),
        };
        self.finish(ctx, tx, events, outcome, None);
        MessageResult(rx)
    }
}

impl Handler<GetReservation> for ScheduleActor {
    type Result = EngineResult<super::views::ReservationView>;

    fn handle(&mut self, msg: GetReservation, _: &mut Context<Self>) -> Self::Result {
        let state = self.state.as_ref().ok_or(EngineError::Unavailable)?;
        let view = match state.schedule.reservation(msg.reservation_id) {
            Some(reservation) => reservation_view(&state.schedule, reservation),
            // Archived ones are found through their owner only.
            None => {
                let user = msg
                    .user
                    .ok_or(EngineError::NotFound(Missing::Reservation))?;
                self.archived(user, msg.reservation_id)?
                    .ok_or(EngineError::NotFound(Missing::Reservation))?
                    .view
            }
        };
        if msg.user.is_some_and(|u| u != view.user) {
            return Err(EngineError::NotFound(Missing::Reservation));
        }
        Ok(view)
    }
}

impl Handler<GetUserReservations> for ScheduleActor {
    type Result = EngineResult<Vec<(u64, super::views::ReservationView)>>;

    fn handle(&mut self, msg: GetUserReservations, _: &mut Context<Self>) -> Self::Result {
        let state = self.state.as_ref().ok_or(EngineError::Unavailable)?;
        let schedule = &state.schedule;
        Ok(msg
            .ids
            .iter()
            .filter_map(|&id| {
                let reservation = schedule.reservation(id)?;
                (reservation.user == msg.user)
                    .then(|| (reservation.ordinal, reservation_view(schedule, reservation)))
            })
            .collect())
    }
}

impl Handler<GetTicket> for ScheduleActor {
    type Result = EngineResult<super::views::TicketView>;

    fn handle(&mut self, msg: GetTicket, _: &mut Context<Self>) -> Self::Result {
        let state = self.state.as_ref().ok_or(EngineError::Unavailable)?;
        let view = match ticket_view(&state.schedule, msg.ticket_id) {
            Some(view) => view,
            None => self
                .archived_ticket(msg.ticket_id)?
                .ok_or(EngineError::NotFound(Missing::Ticket))?,
        };
        if msg.user.is_some_and(|u| u != view.user) {
            return Err(EngineError::NotFound(Missing::Ticket));
        }
        Ok(view)
    }
}

impl ScheduleActor {
    fn archived_ticket(&self, ticket: TicketId) -> EngineResult<Option<super::views::TicketView>> {
        let store = self.journal.store().as_ref();
        let storage = |err: boxoffice_storage::StoreError| EngineError::Storage(err.to_string());
        let Some(reservation) = archive::reservation_of_ticket(store, ticket).map_err(storage)?
        else {
            return Ok(None);
        };
        let (user, reservation) = reservation;
        Ok(self.archived(user, reservation)?.and_then(|archived| {
            archived
                .tickets
                .into_iter()
                .find(|view| view.ticket_id == ticket)
        }))
    }
}

impl Handler<GetSeatMap> for ScheduleActor {
    type Result = EngineResult<super::views::SeatMapView>;

    fn handle(&mut self, msg: GetSeatMap, _: &mut Context<Self>) -> Self::Result {
        let now = self.now();
        let state = self.state.as_ref().ok_or(EngineError::Unavailable)?;
        if state.is_gated() {
            let allowed = msg
                .access
                .is_some_and(|(user, token)| self.queue_allows_hold(user, token, now));
            if !allowed {
                return Err(EngineError::QueueNotActive);
            }
        }
        Ok(seat_map(&state.schedule, msg.section.as_deref()))
    }
}

impl Handler<GetCounts> for ScheduleActor {
    type Result = MessageResult<GetCounts>;

    fn handle(&mut self, _: GetCounts, _: &mut Context<Self>) -> Self::Result {
        MessageResult(super::counts_of(self.state.as_ref()))
    }
}

impl Handler<ExportState> for ScheduleActor {
    type Result = MessageResult<ExportState>;

    fn handle(&mut self, _: ExportState, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.state.clone())
    }
}

impl Handler<GetUnfinishedWork> for ScheduleActor {
    type Result = MessageResult<GetUnfinishedWork>;

    fn handle(&mut self, _: GetUnfinishedWork, _: &mut Context<Self>) -> Self::Result {
        let mut work = UnfinishedWork::default();
        if let Some(state) = self.state.as_ref() {
            for r in state.schedule.pending_payments() {
                if let ReservationStatus::PaymentPending { payment_id } = r.status {
                    work.payments.push((r.id, payment_id, r.user, r.amount));
                }
            }
            for r in state.schedule.unsettled_refunds() {
                if let Some(refund) = &r.refund {
                    work.refunds
                        .push((r.id, refund.payment_id, r.user, refund.amount));
                }
            }
            work.cancellation_unfinished = state.schedule.cancellation_unfinished();
        }
        MessageResult(work)
    }
}

impl Handler<QueueAdmitted> for ScheduleActor {
    type Result = ();

    fn handle(&mut self, msg: QueueAdmitted, _: &mut Context<Self>) {
        for (token, user, until) in msg.tokens {
            self.admitted.insert(token, (user, until));
        }
    }
}

impl Handler<ListLiveReservations> for ScheduleActor {
    type Result = EngineResult<Vec<LiveReservation>>;

    fn handle(&mut self, msg: ListLiveReservations, _: &mut Context<Self>) -> Self::Result {
        let state = self.state.as_ref().ok_or(EngineError::Unavailable)?;
        let mut live: Vec<LiveReservation> = (state.schedule.reservations())
            .filter(|r| {
                (msg.status).is_none_or(|s| crate::booking::CustomerStatus::of(r.status) == s)
            })
            .map(|r| LiveReservation {
                order: super::archive_index::ListOrder {
                    held_at: r.held_at,
                    ordinal: r.ordinal,
                    id: r.id,
                },
                user: r.user,
                ended: matches!(
                    r.status,
                    ReservationStatus::Expired | ReservationStatus::Cancelled
                ),
            })
            .collect();
        live.sort_by_key(|r| r.order);
        Ok(live)
    }
}

impl Handler<GetReservationViews> for ScheduleActor {
    type Result = EngineResult<Vec<super::views::ReservationView>>;

    fn handle(&mut self, msg: GetReservationViews, _: &mut Context<Self>) -> Self::Result {
        let state = self.state.as_ref().ok_or(EngineError::Unavailable)?;
        let schedule = &state.schedule;
        Ok((msg.ids.iter())
            .filter_map(|&id| Some(reservation_view(schedule, schedule.reservation(id)?)))
            .collect())
    }
}
