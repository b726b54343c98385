//! The messages a schedule actor answers.
//!
//! Commands that change state reply with a [`Pending`]: a receiver the caller
//! awaits, fulfilled only once the change is durable. Returning a receiver
//! (rather than an actix `ResponseFuture`) keeps the actor from spawning a task
//! per message, which measured ~40% faster at high concurrency (DESIGN.md).

use actix::Message;
use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::{SeatCounts, SeatSelection};
use boxoffice_engine::{Money, Timestamp};

use super::state::ScheduleState;
use super::views::{ReservationView, SeatMapView, TicketView};
use crate::error::EngineResult;
use crate::idempotency::IdemTag;
use crate::receipt::{HoldReceipt, PaymentReceipt};

pub use crate::journal::{Pending, ReplyAt};

/// Hold seats by id or best-available quantity.
pub struct HoldSeats {
    pub user: UserId,
    pub selection: SeatSelection,
    pub queue_token: Option<QueueTokenId>,
    pub idem: Option<IdemTag>,
}
impl Message for HoldSeats {
    type Result = Pending<HoldReceipt>;
}

/// Cancel a hold, or a paid reservation (its refund is then owed).
pub struct CancelReservation {
    pub user: UserId,
    pub reservation_id: ReservationId,
}
#[derive(Clone, Debug)]
pub struct Cancelled {
    pub view: ReservationView,
    /// For a paid reservation: the payment to refund and how much.
    pub refund: Option<(PaymentId, Money)>,
}
impl Message for CancelReservation {
    type Result = Pending<Cancelled>;
}

/// Saga step 1: lock the hold against expiry while the wallet is debited.
pub struct BeginPayment {
    pub user: UserId,
    pub reservation_id: ReservationId,
    pub payment_id: PaymentId,
    pub expected_amount: Option<Money>,
    pub queue_token: Option<QueueTokenId>,
    pub idem: Option<IdemTag>,
    /// When a successful begin replies: `Appended` in the saga (its last
    /// step's flush covers it); a refusal always waits for its flush.
    pub reply_at: ReplyAt,
}
#[derive(Clone, Debug)]
pub struct PaymentBegun {
    pub amount: Money,
}
impl Message for BeginPayment {
    type Result = Pending<PaymentBegun>;
}

/// Saga step 3: confirm (the debit succeeded, with this balance after it) or abort.
pub struct FinishPayment {
    pub reservation_id: ReservationId,
    pub payment_id: PaymentId,
    pub debit: EngineResult<Money>,
}
impl Message for FinishPayment {
    type Result = Pending<PaymentReceipt>;
}

/// Marks a cancelled paid reservation's refund as paid back.
pub struct SettleRefund {
    pub reservation_id: ReservationId,
}
impl Message for SettleRefund {
    type Result = Pending<()>;
}

pub struct CheckIn {
    pub ticket_id: TicketId,
}
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedIn {
    pub ticket: TicketView,
    pub used_at: Timestamp,
}
impl Message for CheckIn {
    type Result = Pending<CheckedIn>;
}

/// Reads one reservation; `user: Some` restricts to the owner (others get NotFound).
pub struct GetReservation {
    pub user: Option<UserId>,
    pub reservation_id: ReservationId,
}
impl Message for GetReservation {
    type Result = EngineResult<ReservationView>;
}

/// Those of `ids` that `user` owns and this schedule still holds in memory,
/// each with its creation ordinal (see `archive_index::ListOrder`); ids it
/// no longer holds (archived meanwhile) are left out.
pub struct GetUserReservations {
    pub user: UserId,
    pub ids: Vec<ReservationId>,
}
impl Message for GetUserReservations {
    type Result = EngineResult<Vec<(u64, ReservationView)>>;
}

pub struct GetTicket {
    pub user: Option<UserId>,
    pub ticket_id: TicketId,
}
impl Message for GetTicket {
    type Result = EngineResult<TicketView>;
}

/// The seat map; on a gated schedule `access` must carry an ACTIVE queue token of that user.
pub struct GetSeatMap {
    pub access: Option<(UserId, Option<QueueTokenId>)>,
    pub section: Option<String>,
}
impl Message for GetSeatMap {
    type Result = EngineResult<SeatMapView>;
}

pub struct GetCounts;
impl Message for GetCounts {
    type Result = SeatCounts;
}

/// A copy of the whole durable state (recovery tests compare these).
pub struct ExportState;
impl Message for ExportState {
    /// `None` while the actor could not reload its state.
    type Result = Option<ScheduleState>;
}

/// Work a crash may have left half done, for start-up recovery.
pub struct GetUnfinishedWork;
#[derive(Clone, Debug, Default)]
pub struct UnfinishedWork {
    /// (reservation, payment, user, amount) of payments between saga steps.
    pub payments: Vec<(ReservationId, PaymentId, UserId, Money)>,
    /// (reservation, payment, user, amount) of cancelled paid reservations not yet refunded.
    pub refunds: Vec<(ReservationId, PaymentId, UserId, Money)>,
    /// The schedule is cancelled and its cancellation not finished (see `cancellation.rs`).
    pub cancellation_unfinished: bool,
}
impl Message for GetUnfinishedWork {
    type Result = UnfinishedWork;
}

/// A reservation of this schedule still in memory, as a schedule's list
/// places it (see `schedule_reservations`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveReservation {
    pub order: super::archive_index::ListOrder,
    pub user: UserId,
    /// EXPIRED or CANCELLED: it may be archived already.
    pub ended: bool,
}

/// Every reservation this schedule holds in memory whose status is `status`
/// (any, when `None`), in list order (newest first). Bounded by the live
/// state: the seats' reservations plus the ended ones not yet archived.
pub struct ListLiveReservations {
    pub status: Option<crate::booking::CustomerStatus>,
}
impl Message for ListLiveReservations {
    type Result = EngineResult<Vec<LiveReservation>>;
}

/// The views of those of `ids` this schedule still holds in memory (an
/// admin's page: any owner), in the order named.
pub struct GetReservationViews {
    pub ids: Vec<ReservationId>,
}
impl Message for GetReservationViews {
    type Result = EngineResult<Vec<ReservationView>>;
}
