//! The delivery log: one record per (endpoint, event), its attempts and
//! where it stands, and the retry rule (API.md: a 2xx within 10 s is
//! delivered; anything else is retried with exponential backoff, the first
//! retry within 10 s and then doubling, for up to 3 days; a 410 disables
//! the endpoint). Bounded per endpoint: the oldest finished records go
//! first, and an endpoint that leaves too many pending is disabled.

use boxoffice_engine::Timestamp;
use boxoffice_storage::{codec, Store, StoreError};
use serde::{Deserialize, Serialize};

use super::layout;
use super::WebhookId;
use crate::booking_events::{BookingEventKind, EventCursor};

/// Longest a receiver has to answer one call.
pub const DELIVERY_TIMEOUT_MS: i64 = 10_000;
/// The wait before the first retry; each later one doubles it.
pub const FIRST_RETRY_AFTER_MS: i64 = 10_000;
/// How long after its first attempt a delivery is still retried.
pub const RETRY_FOR_MS: i64 = 3 * 24 * 60 * 60 * 1_000;
/// Delivery records kept per endpoint: past it, the oldest finished ones
/// are deleted (down to nine tenths, so pruning is not per delivery).
pub const MAX_DELIVERY_LOG_PER_WEBHOOK: usize = 100_000;
/// Pending deliveries an endpoint may have: past it, the endpoint is
/// disabled (its receiver has been failing for long; the log stays bounded).
pub const MAX_PENDING_PER_WEBHOOK: usize = 50_000;

/// Stored: new variants go LAST.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

/// One delivery, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub event_id: uuid::Uuid,
    pub kind: BookingEventKind,
    /// Where the event is in the outbox (each attempt re-reads it there).
    pub lsn: u64,
    pub index: u32,
    /// When it was recorded; retries stop [`RETRY_FOR_MS`] after.
    pub recorded_at: Timestamp,
    /// Attempts made so far.
    pub attempt: u32,
    pub status: DeliveryStatus,
    /// The last attempt's HTTP status (none: no answer, or no attempt yet).
    pub response_status: Option<u16>,
    /// The last attempt's time (the record's, before any).
    pub at: Timestamp,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<Timestamp>,
}

impl Delivery {
    pub fn position(&self) -> EventCursor {
        EventCursor {
            lsn: self.lsn,
            consumed: self.index,
        }
    }
}

/// What one attempt got back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptResult {
    /// The receiver answered with this status.
    Answered(u16),
    /// No answer: refused, reset, timed out, or no usable URL.
    NoAnswer(String),
}

/// What the dispatcher does after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterAttempt {
    Done,
    RetryAt(Timestamp),
    /// A 410: this delivery failed and the endpoint is to be disabled.
    DisableEndpoint,
}

/// The record after an attempt that ended at `now` with `result`
/// (`retry_base_ms`: the first retry's wait).
pub fn after_attempt(
    delivery: &Delivery,
    result: &AttemptResult,
    now: Timestamp,
    retry_base_ms: i64,
) -> (Delivery, AfterAttempt) {
    let mut next = delivery.clone();
    next.attempt = delivery.attempt.saturating_add(1);
    next.at = now;
    next.response_status = match result {
        AttemptResult::Answered(status) => Some(*status),
        AttemptResult::NoAnswer(_) => None,
    };
    let outcome = match result {
        AttemptResult::Answered(status) if (200..300).contains(status) => AfterAttempt::Done,
        AttemptResult::Answered(410) => AfterAttempt::DisableEndpoint,
        _ => {
            // attempt 1 failed: base; attempt 2: 2 × base; ...
            let doublings = next.attempt.saturating_sub(1).min(40);
            let wait_ms = retry_base_ms.saturating_mul(1i64 << doublings);
            let due = now.plus_millis(wait_ms);
            if due.millis() > delivery.recorded_at.millis().saturating_add(RETRY_FOR_MS) {
                AfterAttempt::Done
            } else {
                AfterAttempt::RetryAt(due)
            }
        }
    };
    match outcome {
        AfterAttempt::RetryAt(due) => {
            next.status = DeliveryStatus::Pending;
            next.next_attempt_at = Some(due);
        }
        AfterAttempt::Done if matches!(result, AttemptResult::Answered(s) if (200..300).contains(s)) =>
        {
            next.status = DeliveryStatus::Delivered;
            next.next_attempt_at = None;
        }
        AfterAttempt::Done | AfterAttempt::DisableEndpoint => {
            next.status = DeliveryStatus::Failed;
            next.next_attempt_at = None;
        }
    }
    (next, outcome)
}

/// The record of a delivery that ends without an attempt (its endpoint was disabled).
pub fn abandoned(delivery: &Delivery, now: Timestamp) -> Delivery {
    let mut next = delivery.clone();
    next.status = DeliveryStatus::Failed;
    next.next_attempt_at = None;
    next.at = now;
    next
}

/// Up to `limit` records of `id`'s log after the first `offset`, oldest first.
pub(crate) fn page(
    store: &dyn Store,
    id: WebhookId,
    offset: usize,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    let mut skipped = 0;
    let mut items = Vec::new();
    layout::walk(store, &layout::deliveries_prefix(id), |_, value| {
        if skipped < offset {
            skipped += 1;
            return Ok(true);
        }
        items.push(codec::decode::<Delivery>(value)?);
        Ok(items.len() < limit)
    })?;
    Ok(items)
}

/// Deletes `id`'s oldest finished records until at most `keep` of its
/// `logged` remain (or no finished one is left); returns how many went.
pub(crate) fn prune(
    store: &dyn Store,
    id: WebhookId,
    logged: usize,
    keep: usize,
) -> Result<usize, StoreError> {
    let mut doomed = Vec::new();
    let excess = logged.saturating_sub(keep);
    layout::walk(store, &layout::deliveries_prefix(id), |key, value| {
        if codec::decode::<Delivery>(value)?.status != DeliveryStatus::Pending {
            doomed.push(key.to_owned());
        }
        Ok(doomed.len() < excess)
    })?;
    for key in &doomed {
        store.delete_meta(key)?;
    }
    Ok(doomed.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> Delivery {
        Delivery {
            event_id: uuid::Uuid::from_u128(1),
            kind: BookingEventKind::BookingCreated,
            lsn: 1,
            index: 1,
            recorded_at: Timestamp(0),
            attempt: 0,
            status: DeliveryStatus::Pending,
            response_status: None,
            at: Timestamp(0),
            next_attempt_at: Some(Timestamp(0)),
        }
    }

    #[test]
    fn retries_double_from_the_base_for_three_days_then_fail() {
        let mut delivery = pending();
        let mut now = Timestamp(0);
        let mut waits = Vec::new();
        loop {
            let (next, outcome) = after_attempt(
                &delivery,
                &AttemptResult::NoAnswer("refused".into()),
                now,
                FIRST_RETRY_AFTER_MS,
            );
            delivery = next;
            match outcome {
                AfterAttempt::RetryAt(due) => {
                    waits.push(due.millis() - now.millis());
                    now = due;
                }
                other => {
                    assert_eq!(other, AfterAttempt::Done);
                    break;
                }
            }
        }
        assert_eq!(waits[..3], [10_000, 20_000, 40_000]);
        assert_eq!(delivery.status, DeliveryStatus::Failed);
        assert!(now.millis() <= RETRY_FOR_MS);
        assert!(now.millis() > RETRY_FOR_MS / 2, "retried for about 3 days");
        assert_eq!(delivery.attempt as usize, waits.len() + 1);
    }

    #[test]
    fn a_2xx_delivers_a_410_disables_anything_else_retries() {
        let now = Timestamp(5);
        let (ok, outcome) = after_attempt(&pending(), &AttemptResult::Answered(204), now, 10);
        assert_eq!(
            (ok.status, outcome),
            (DeliveryStatus::Delivered, AfterAttempt::Done)
        );
        assert_eq!(ok.response_status, Some(204));
        let (gone, outcome) = after_attempt(&pending(), &AttemptResult::Answered(410), now, 10);
        assert_eq!(
            (gone.status, outcome),
            (DeliveryStatus::Failed, AfterAttempt::DisableEndpoint)
        );
        for status in [301, 400, 404, 500, 503] {
            let (retry, outcome) =
                after_attempt(&pending(), &AttemptResult::Answered(status), now, 10);
            assert_eq!(retry.status, DeliveryStatus::Pending);
            assert_eq!(outcome, AfterAttempt::RetryAt(Timestamp(15)));
        }
    }
}
