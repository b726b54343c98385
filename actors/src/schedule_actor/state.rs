//! The durable state of one schedule actor, its log entries, and how it is
//! rebuilt from storage.

use boxoffice_engine::ids::*;
use boxoffice_engine::layout::SeatLayout;
use boxoffice_engine::queue::QueueConfig;
use boxoffice_engine::schedule::{
    ReservationStatus, Schedule, ScheduleBeforeCancellation, ScheduleBeforeOrdinals, ScheduleEvent,
    ScheduleRules,
};
use boxoffice_storage::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::directory::Directory;
use crate::idempotency::{IdemTag, IdempotencyIndex, IdempotencyTable};
use crate::journal::read_history_with;
use boxoffice_storage::codec;

/// Everything needed to create a schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    pub schedule_id: ScheduleId,
    pub layout: SeatLayout,
    pub rules: ScheduleRules,
    /// `Some` with `enabled` for a schedule gated by the waiting room.
    pub queue: Option<QueueConfig>,
}

impl ScheduleSpec {
    pub fn is_gated(&self) -> bool {
        self.queue.as_ref().is_some_and(|q| q.enabled)
    }
}

/// One entry of a schedule's log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ScheduleLogEvent {
    Engine(ScheduleEvent),
    /// A payment saga started with this idempotency key and queue token; kept so
    /// that start-up recovery can store the saga's final reply under the key
    /// and end the token.
    PaymentStarted {
        payment_id: PaymentId,
        tag: Option<IdemTag>,
        queue_token: Option<QueueTokenId>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentContext {
    pub tag: Option<IdemTag>,
    pub queue_token: Option<QueueTokenId>,
}

/// Snapshot contents: the engine's schedule plus the actor's own durable bookkeeping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    pub queue: Option<QueueConfig>,
    pub schedule: Schedule,
    pub idempotency: IdempotencyTable,
    pub payments_in_flight: HashMap<PaymentId, PaymentContext>,
    /// Reservations moved to the archive so far (see `archive.rs`): with the
    /// live ones, every reservation ever made here.
    pub archived: u64,
}

/// A snapshot as written before each reservation kept its creation ordinal
/// (its schedule in [`ScheduleBeforeOrdinals`]).
#[derive(Serialize, Deserialize)]
pub struct ScheduleStateBeforeOrdinals {
    pub queue: Option<QueueConfig>,
    pub schedule: ScheduleBeforeOrdinals,
    pub idempotency: IdempotencyTable,
    pub payments_in_flight: HashMap<PaymentId, PaymentContext>,
    pub archived: u64,
}

/// A snapshot as written before whole-schedule cancellation (its schedule in
/// [`ScheduleBeforeCancellation`]); it loads as a schedule never cancelled.
#[derive(Serialize, Deserialize)]
pub struct ScheduleStateBeforeCancellation {
    pub queue: Option<QueueConfig>,
    pub schedule: ScheduleBeforeCancellation,
    pub idempotency: IdempotencyTable,
    pub payments_in_flight: HashMap<PaymentId, PaymentContext>,
    pub archived: u64,
}

impl From<ScheduleStateBeforeCancellation> for ScheduleStateBeforeOrdinals {
    fn from(older: ScheduleStateBeforeCancellation) -> Self {
        ScheduleStateBeforeOrdinals {
            queue: older.queue,
            schedule: older.schedule.into(),
            idempotency: older.idempotency,
            payments_in_flight: older.payments_in_flight,
            archived: older.archived,
        }
    }
}

impl From<ScheduleStateBeforeOrdinals> for ScheduleState {
    fn from(older: ScheduleStateBeforeOrdinals) -> Self {
        ScheduleState {
            queue: older.queue,
            schedule: older.schedule.upgrade(older.archived),
            idempotency: older.idempotency,
            payments_in_flight: older.payments_in_flight,
            archived: older.archived,
        }
    }
}

impl ScheduleState {
    /// Decodes a snapshot of this format or an older one; an error names the
    /// current format's failure. bincode is positional, so an older snapshot
    /// could in principle decode as a newer format: a decode whose ordinals
    /// do not count what was archived is taken as not this format.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<ScheduleState, StoreError> {
        let current = match codec::decode::<ScheduleState>(bytes) {
            Ok(state) if state.counts_agree() => return Ok(state),
            Ok(_) => StoreError::Corrupt(
                "snapshot's reservation count disagrees with its archived count".to_owned(),
            ),
            Err(err) => err,
        };
        if let Ok(older) = codec::decode::<ScheduleStateBeforeOrdinals>(bytes) {
            return Ok(older.into());
        }
        let oldest =
            codec::decode::<ScheduleStateBeforeCancellation>(bytes).map_err(|_| current)?;
        Ok(ScheduleStateBeforeOrdinals::from(oldest).into())
    }

    /// Archived plus in memory is every reservation made.
    fn counts_agree(&self) -> bool {
        self.archived
            .checked_add(self.schedule.reservations().count() as u64)
            == Some(self.schedule.reservations_made())
    }

    /// This state in the format before ordinals (tests write older data dirs with it).
    pub fn as_format_before_ordinals(&self) -> ScheduleStateBeforeOrdinals {
        ScheduleStateBeforeOrdinals {
            queue: self.queue.clone(),
            schedule: self.schedule.as_format_before_ordinals(),
            idempotency: self.idempotency.clone(),
            payments_in_flight: self.payments_in_flight.clone(),
            archived: self.archived,
        }
    }

    /// This state in the format before cancellation, if it has nothing that
    /// format cannot say (tests write older data dirs with it).
    pub fn as_format_before_cancellation(&self) -> Option<ScheduleStateBeforeCancellation> {
        Some(ScheduleStateBeforeCancellation {
            queue: self.queue.clone(),
            schedule: self.schedule.as_format_before_cancellation()?,
            idempotency: self.idempotency.clone(),
            payments_in_flight: self.payments_in_flight.clone(),
            archived: self.archived,
        })
    }

    pub fn new(spec: ScheduleSpec) -> Result<Self, boxoffice_engine::layout::LayoutError> {
        Ok(ScheduleState {
            queue: spec.queue,
            schedule: Schedule::new(spec.schedule_id, spec.layout, spec.rules)?,
            idempotency: IdempotencyTable::default(),
            payments_in_flight: HashMap::new(),
            archived: 0,
        })
    }

    /// Every reservation ever made on this schedule: the ones still in memory
    /// plus the archived ones. (Counting `schedule.reservations()` alone
    /// misses the archived ones.)
    pub fn reservations_made(&self) -> u64 {
        debug_assert!(self.counts_agree(), "archived + in memory = made");
        self.schedule.reservations_made()
    }

    pub fn is_gated(&self) -> bool {
        self.queue.as_ref().is_some_and(|q| q.enabled)
    }

    /// Replays one logged entry (recovery only: live commands have already
    /// changed the state when they produced the entry). An engine event that
    /// breaks a rule here (say, a payment confirmed twice because a record was
    /// appended twice) is refused with the reason, and nothing changes.
    pub fn apply(&mut self, entry: &ScheduleLogEvent) -> Result<(), String> {
        match entry {
            ScheduleLogEvent::Engine(event) => {
                self.schedule.apply_logged(event)?;
                self.forget_finished_payment(event);
            }
            ScheduleLogEvent::PaymentStarted {
                payment_id,
                tag,
                queue_token,
            } => {
                self.payments_in_flight.insert(
                    *payment_id,
                    PaymentContext {
                        tag: tag.clone(),
                        queue_token: *queue_token,
                    },
                );
            }
        }
        Ok(())
    }

    /// A payment that confirmed or aborted no longer needs its saga context.
    pub fn forget_finished_payment(&mut self, event: &ScheduleEvent) {
        match event {
            ScheduleEvent::Confirmed { payment_id, .. }
            | ScheduleEvent::PaymentAborted { payment_id, .. } => {
                self.payments_in_flight.remove(payment_id);
            }
            _ => {}
        }
    }

    /// Loads the state from its snapshot and log.
    pub fn load(store: &dyn Store, log: &str) -> Result<ScheduleState, StoreError> {
        let history = read_history_with::<ScheduleState, ScheduleLogEvent>(
            store,
            log,
            ScheduleState::decode_snapshot,
        )?;
        let Some((_, mut state)) = history.snapshot else {
            return Err(StoreError::Corrupt(format!(
                "{log} has no creation snapshot"
            )));
        };
        for (record, lsn) in history.records.iter().zip(history.lsns) {
            for event in &record.events {
                state.apply(event).map_err(|why| {
                    StoreError::Corrupt(format!(
                        "record {lsn} of log {log} breaks a rule, so recovery stops \
                         rather than apply it: {why}"
                    ))
                })?;
            }
            for idem in &record.idempotency {
                state.idempotency.apply(idem);
            }
        }
        if let Err(broken) = state.schedule.check_invariants() {
            return Err(StoreError::Corrupt(format!(
                "{log} recovered to a state that breaks an invariant: {broken}"
            )));
        }
        Ok(state)
    }

    /// Publishes what this schedule owns to the shared directory and
    /// idempotency index (both derived, in-memory).
    pub fn publish(&self, directory: &Directory, index: &IdempotencyIndex) {
        let schedule_id = self.schedule.id();
        for reservation in self.schedule.reservations() {
            directory.record_reservation(schedule_id, reservation.id, reservation.user);
            match reservation.status {
                ReservationStatus::PaymentPending { payment_id }
                | ReservationStatus::Confirmed { payment_id } => {
                    directory.record_payment(schedule_id, reservation.id, payment_id);
                }
                _ => {}
            }
            if let Some(refund) = &reservation.refund {
                directory.record_payment(schedule_id, reservation.id, refund.payment_id);
            }
            directory.record_tickets(schedule_id, &reservation.tickets);
        }
        for record in self.idempotency.records() {
            index.restore(record);
        }
    }
}

pub fn log_name(schedule: ScheduleId) -> String {
    format!("{}{schedule}", LOG_PREFIX)
}

pub const LOG_PREFIX: &str = "schedule/";
