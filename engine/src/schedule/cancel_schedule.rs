//! Cancelling a whole schedule (the date is called off), in bounded steps.
//!
//! `cancel_schedule` only marks the schedule cancelled: from that event on no
//! hold or payment is accepted (`SCHEDULE_CANCELLED`), expiry stops (the
//! cancellation releases the holds instead) and check-in refuses (the tickets
//! are about to be void). The reservations are then ended by
//! `next_cancellation_batch`, at most [`MAX_CANCEL_BATCH`] per event, so that
//! a sold-out 50,000-seat schedule never needs one huge event or one long turn
//! of its actor: each batch releases `Held` reservations and cancels
//! `Confirmed` ones with a full refund owed, which the actors pay through the
//! ordinary refund path (wallet credit, then `settle_refund`). A payment in
//! flight at the cancel is left to end: aborted, it is `Held` again and the
//! next batch releases it; confirmed, the next batch refunds it.

use super::errors::ScheduleError;
use super::events::ScheduleEvent;
use super::reservation::ReservationStatus;
use super::Schedule;
use crate::{Money, Timestamp};

/// Most reservations one `CancellationBatch` ends. Bounds the event's size and
/// the actor's turn, so holds on the schedule's neighbours on the same thread
/// wait at most one batch (figures: BENCHMARKS.md, issue 15).
pub const MAX_CANCEL_BATCH: usize = 256;

/// What the cancellation will do, counted when the schedule is cancelled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CancellationSummary {
    /// `Held` reservations (no payment in flight) the batches will release.
    pub released_holds: u32,
    /// `Confirmed` reservations the batches will refund in full.
    pub refunded_reservations: u32,
    /// The sum of those refunds.
    pub refunded_amount: Money,
}

impl Schedule {
    /// When the schedule was cancelled, if it was.
    pub fn cancelled_at(&self) -> Option<Timestamp> {
        self.cancelled_at
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled_at.is_some()
    }

    /// The money owed back by every refund recorded on this schedule.
    pub fn refunded_total(&self) -> Money {
        self.refunded
    }

    /// Marks the schedule cancelled and counts what the batches will do;
    /// `AlreadyCancelled` the second time. A refund sum too large for `Money`
    /// is refused (it cannot be paid back either).
    pub fn cancel_schedule(
        &mut self,
        now: Timestamp,
    ) -> Result<(ScheduleEvent, CancellationSummary), ScheduleError> {
        if self.is_cancelled() {
            return Err(ScheduleError::AlreadyCancelled);
        }
        let mut summary = CancellationSummary::default();
        for reservation in &self.reservations {
            match reservation.status {
                ReservationStatus::Held => summary.released_holds += 1,
                ReservationStatus::Confirmed { .. } => {
                    summary.refunded_reservations += 1;
                    summary.refunded_amount = summary
                        .refunded_amount
                        .checked_add(reservation.amount)
                        .ok_or(ScheduleError::InvalidSelection("refund total overflows"))?;
                }
                _ => {}
            }
        }
        let event = ScheduleEvent::ScheduleCancelled { at: now };
        self.apply(&event);
        Ok((event, summary))
    }

    /// The next step of a cancellation: up to [`MAX_CANCEL_BATCH`] `Held` or
    /// `Confirmed` reservations ended. `None` when the schedule is not
    /// cancelled or none is left (a payment in flight may still add one).
    pub fn next_cancellation_batch(&mut self, now: Timestamp) -> Option<ScheduleEvent> {
        self.next_cancellation_batch_of(now, MAX_CANCEL_BATCH)
    }

    /// [`Schedule::next_cancellation_batch`] with batches of at most
    /// `max_batch` (at least 1, at most [`MAX_CANCEL_BATCH`]): the seeded
    /// simulation uses tiny batches so a few reservations make several.
    pub fn next_cancellation_batch_of(
        &mut self,
        now: Timestamp,
        max_batch: usize,
    ) -> Option<ScheduleEvent> {
        if !self.is_cancelled() {
            return None;
        }
        let max_batch = max_batch.clamp(1, MAX_CANCEL_BATCH);
        let mut released = Vec::new();
        let mut refunded = Vec::new();
        for reservation in &self.reservations {
            if released.len() + refunded.len() == max_batch {
                break;
            }
            match reservation.status {
                ReservationStatus::Held => released.push(reservation.id),
                ReservationStatus::Confirmed { .. } => {
                    refunded.push((reservation.id, reservation.amount))
                }
                _ => {}
            }
        }
        if released.is_empty() && refunded.is_empty() {
            return None;
        }
        let event = ScheduleEvent::CancellationBatch {
            released,
            refunded,
            at: now,
        };
        self.apply(&event);
        Some(event)
    }

    /// True while a cancelled schedule still has a reservation to end (held,
    /// paying or paid) or a refund to pay: its cancellation is not finished.
    pub fn cancellation_unfinished(&self) -> bool {
        self.is_cancelled()
            && self.reservations.iter().any(|r| {
                r.status.is_live() || r.refund.as_ref().is_some_and(|refund| !refund.settled)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixture::*;
    use super::super::*;
    use crate::{Money, Timestamp};

    /// Two paid reservations, one hold, one payment in flight.
    fn busy_schedule() -> Schedule {
        let mut s = uniform_schedule(1, 1, 8);
        hold_ids(&mut s, 1, user(1), &["S0-1-1", "S0-1-2"], T0).expect("hold 1");
        pay(&mut s, 1, user(1), T0).expect("paid 1");
        hold_ids(&mut s, 2, user(2), &["S0-1-3"], T0).expect("hold 2");
        pay(&mut s, 2, user(2), T0).expect("paid 2");
        hold_ids(&mut s, 3, user(3), &["S0-1-4"], T0).expect("hold 3");
        hold_ids(&mut s, 4, user(4), &["S0-1-5"], T0).expect("hold 4");
        s.begin_payment(rid(4), user(4), pid(4), None, T0)
            .expect("pending 4");
        s
    }

    #[test]
    fn cancelling_counts_then_batches_end_every_reservation() {
        let mut s = busy_schedule();
        let now = Timestamp(T0.0 + 10);
        let (event, summary) = s.cancel_schedule(now).expect("cancelled");
        assert_eq!(event, ScheduleEvent::ScheduleCancelled { at: now });
        assert_eq!(
            summary,
            CancellationSummary {
                released_holds: 1,
                refunded_reservations: 2,
                refunded_amount: Money(30_000),
            }
        );
        assert_eq!(s.cancel_schedule(now), Err(ScheduleError::AlreadyCancelled));
        // Nothing new is accepted.
        assert_eq!(
            hold_ids(&mut s, 5, user(5), &["S0-1-6"], now),
            Err(ScheduleError::ScheduleCancelled)
        );
        assert_eq!(
            s.begin_payment(rid(3), user(3), pid(3), None, now),
            Err(ScheduleError::ScheduleCancelled)
        );
        assert_eq!(s.check_in(tid(1, 0), now), Err(ScheduleError::TicketVoid));
        assert_eq!(s.next_deadline(), None, "no expiry on a cancelled schedule");

        let batch = s.next_cancellation_batch(now).expect("a batch");
        assert_eq!(
            batch,
            ScheduleEvent::CancellationBatch {
                released: vec![rid(3)],
                refunded: vec![(rid(1), Money(20_000)), (rid(2), Money(10_000))],
                at: now,
            }
        );
        assert!(
            s.cancellation_unfinished(),
            "payment 4 and the refunds remain"
        );
        assert_eq!(s.next_cancellation_batch(now), None);
        assert_eq!(s.unsettled_refunds().count(), 2);
        assert!(s.tickets().all(|t| t.status == TicketStatus::Void));
        assert_eq!(s.refunded_total(), Money(30_000));
        s.check_invariants().expect("invariants");

        // The payment in flight confirms after all: the next batch refunds it.
        s.confirm(rid(4), pid(4), vec![tid(4, 0)], now)
            .expect("confirmed");
        let batch = s.next_cancellation_batch(now).expect("refund 4");
        assert_eq!(
            batch,
            ScheduleEvent::CancellationBatch {
                released: vec![],
                refunded: vec![(rid(4), Money(10_000))],
                at: now,
            }
        );
        for id in [1, 2, 4] {
            s.settle_refund(rid(id), now).expect("settled");
        }
        assert!(!s.cancellation_unfinished());
        assert_eq!(
            s.counts(),
            SeatCounts {
                total: 8,
                available: 8,
                held: 0,
                sold: 0
            }
        );
        s.check_invariants().expect("invariants");
    }

    #[test]
    fn an_aborted_payment_is_released_by_the_next_batch() {
        let mut s = busy_schedule();
        s.cancel_schedule(T0).expect("cancelled");
        while s.next_cancellation_batch(T0).is_some() {}
        s.abort_payment(rid(4), pid(4), T0).expect("aborted");
        assert_eq!(
            s.next_cancellation_batch(T0),
            Some(ScheduleEvent::CancellationBatch {
                released: vec![rid(4)],
                refunded: vec![],
                at: T0,
            })
        );
        assert_eq!(
            s.reservation(rid(4)).map(|r| r.status),
            Some(ReservationStatus::Cancelled)
        );
    }

    #[test]
    fn batches_are_bounded_and_replay_to_the_same_state() {
        let mut s = uniform_schedule(1, 4, 200);
        for n in 0..700u32 {
            let seat = format!("S0-{}-{}", n / 200 + 1, n % 200 + 1);
            hold_ids(&mut s, n + 1, user(n + 1), &[&seat], T0).expect("hold");
            if n % 2 == 0 {
                pay(&mut s, n + 1, user(n + 1), T0).expect("paid");
            }
        }
        let mut replay = s.clone();
        let (cancelled, _) = s.cancel_schedule(T0).expect("cancelled");
        replay.apply_logged(&cancelled).expect("replays");
        let mut batches = 0;
        while let Some(batch) = s.next_cancellation_batch(T0) {
            let ScheduleEvent::CancellationBatch {
                released, refunded, ..
            } = &batch
            else {
                panic!("a batch");
            };
            assert!(released.len() + refunded.len() <= MAX_CANCEL_BATCH);
            replay.apply_logged(&batch).expect("replays");
            assert!(replay.apply_logged(&batch).is_err(), "a batch ends once");
            batches += 1;
        }
        assert_eq!(batches, 700_usize.div_ceil(MAX_CANCEL_BATCH));
        assert_eq!(replay, s);
        assert_eq!(s.unsettled_refunds().count(), 350);
        s.check_invariants().expect("invariants");
    }

    #[test]
    fn a_smaller_batch_size_makes_more_batches_that_end_the_same() {
        for max_batch in [0, 1, 2, 3, MAX_CANCEL_BATCH + 1] {
            let mut s = busy_schedule();
            s.cancel_schedule(T0).expect("cancelled");
            let bound = max_batch.clamp(1, MAX_CANCEL_BATCH);
            let mut ended = 0;
            while let Some(ScheduleEvent::CancellationBatch {
                released, refunded, ..
            }) = s.next_cancellation_batch_of(T0, max_batch)
            {
                assert!(
                    released.len() + refunded.len() <= bound,
                    "batch of {max_batch}"
                );
                ended += released.len() + refunded.len();
            }
            // Three end now (two paid, one hold); the one paying is left to end.
            assert_eq!(ended, 3, "batch of {max_batch}");
            s.check_invariants().expect("invariants");
        }
    }
}
