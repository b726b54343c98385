//! Idempotency keys: the same key from the same user on the same endpoint with
//! the same request does its effect once and replays the first reply, for at
//! least [`RETENTION_MS`].
//!
//! Three parts:
//! - [`IdempotencyTable`] (`table.rs`) is durable actor state. The actor that
//!   performs an effect logs the key's record in the same batch as the
//!   effect's events, so after a crash both exist or neither does.
//! - [`KeyStore`] (`key_store.rs`) is where decided records go once they are
//!   [`ARCHIVE_AFTER_MS`] old: a schedule hands them to the key writer
//!   thread (`key_writer.rs`) a fraction of a second's worth at a time, a
//!   wallet moves them at its snapshots; either forgets them in its table
//!   only once they are written, at a snapshot, so a schedule's snapshots
//!   hold about a second of keys (a wallet's: one snapshot interval) and
//!   memory about a snapshot interval, not days.
//! - [`IdempotencyIndex`] (`index.rs`) is one process-wide index over both,
//!   rebuilt from the tables at start-up. A key it has never seen begins
//!   there, so that is where [`KeyQuota`] (`quota.rs`) counts each user's
//!   new keys per UTC day.

use boxoffice_engine::ids::UserId;
use boxoffice_engine::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::EngineError;
use crate::receipt::StoredReply;

/// Longest accepted key (the HTTP layer validates before it gets here).
pub const MAX_KEY_LEN: usize = 255;
/// Keys are kept at least 24 hours (API.md); we keep them 48.
pub const RETENTION_MS: i64 = 48 * 3_600_000;
/// Decided keys stay in their actor's table (and in memory) at least this
/// long before they move to the key store, so that the request that decided
/// them has recorded its reply in the index first: a schedule's reply is
/// published once a flush covers its record (milliseconds; the longest flush
/// measured under load was 52 ms), a wallet's by its caller after that. Only
/// memory depends on it, not correctness: a key the index still marks in
/// progress is not forgotten there when it moves, and the late reply then
/// stays in memory as a redundant copy until the sweep past retention
/// (`IdempotencyIndex::complete` does not put back a key that already
/// moved). Every key decided in this window is in every snapshot, so it is
/// short: it was 10 s, which at tens of thousands of keyed requests a second
/// made a schedule's snapshot hundreds of thousands of keys long.
pub const ARCHIVE_AFTER_MS: i64 = 1_000;

mod index;
mod key_store;
pub mod key_writer;
mod quota;
mod table;

pub use index::{IdempotencyIndex, Replay};
pub use key_store::{KeyPacing, KeyStore, KEYS_PER_EXPIRY_ENTRY, KEY_STORE_PREFIX};
pub use quota::{KeyQuota, DEFAULT_MAX_NEW_KEYS_PER_DAY};
pub use table::{IdempotencyTable, WrittenKey};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Endpoint {
    Reservations,
    Charges,
    Payments,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IdemKey {
    pub user: UserId,
    pub endpoint: Endpoint,
    pub key: String,
}

/// A digest of the parsed request (the caller decides how to compute it, e.g.
/// a hash of canonical JSON); only equality matters here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestDigest(pub [u8; 32]);

/// What travels inside an actor command so the actor can log the record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdemTag {
    pub key: IdemKey,
    pub digest: RequestDigest,
}

/// Where a durable key stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdemState {
    /// A payment saga started under the key and has not ended; start-up recovery ends it.
    InProgress,
    /// Decided: replay this.
    Done(StoredReply),
    /// The saga ended without a decision (interrupted before the debit): the key is free again.
    Released,
}

/// One durable record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdemRecord {
    pub key: IdemKey,
    pub digest: RequestDigest,
    pub state: IdemState,
    pub at: Timestamp,
}

/// Runs `run` under an optional idempotency key: claims the key, replays a
/// stored reply, or runs and then records or frees the key by the outcome.
/// `wrap`/`unwrap` convert between the command's result and the stored form.
pub async fn run_keyed<T, F, Fut>(
    index: &IdempotencyIndex,
    tag: Option<&IdemTag>,
    now: impl Fn() -> Timestamp,
    wrap: fn(Result<T, EngineError>) -> StoredReply,
    unwrap: fn(&StoredReply) -> Option<Result<T, EngineError>>,
    run: F,
) -> Result<T, EngineError>
where
    T: Clone,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, EngineError>>,
{
    let Some(tag) = tag else { return run().await };
    match index.begin(tag, now())? {
        Replay::Stored(reply) => {
            unwrap(&reply).unwrap_or_else(|| Err(EngineError::IdempotencyKeyReused))
        }
        Replay::Proceed => {
            let outcome = run().await;
            let decided = match &outcome {
                Ok(_) => true,
                Err(e) => e.is_engine_decided(),
            };
            if decided {
                index.complete(tag, wrap(outcome.clone()), now());
            } else {
                index.abandon(&tag.key);
            }
            outcome
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receipt::ChargeReceipt;
    use boxoffice_engine::ids::TransactionId;
    use boxoffice_engine::Money;
    use std::sync::Arc;

    fn tag(key: &str, digest: u8) -> IdemTag {
        IdemTag {
            key: IdemKey {
                user: UserId::from_random_bytes([1; 16]),
                endpoint: Endpoint::Charges,
                key: key.into(),
            },
            digest: RequestDigest([digest; 32]),
        }
    }

    fn reply() -> StoredReply {
        StoredReply::Charge(Ok(ChargeReceipt {
            transaction_id: TransactionId::from_random_bytes([2; 16]),
            amount: Money(5),
            balance: Money(5),
            charged_at: Timestamp(0),
        }))
    }

    #[test]
    fn a_key_moves_from_in_progress_to_replay() {
        let index = IdempotencyIndex::new(Arc::new(boxoffice_storage::MemoryStore::new()));
        let t = tag("k", 1);
        assert!(matches!(index.begin(&t, Timestamp(0)), Ok(Replay::Proceed)));
        assert_eq!(
            index.begin(&t, Timestamp(0)).unwrap_err(),
            EngineError::IdempotencyInProgress
        );
        assert_eq!(
            index.begin(&tag("k", 2), Timestamp(0)).unwrap_err(),
            EngineError::IdempotencyKeyReused
        );
        index.complete(&t, reply(), Timestamp(0));
        assert!(matches!(index.begin(&t, Timestamp(0)), Ok(Replay::Stored(r)) if *r == reply()));
        assert_eq!(
            index.begin(&tag("k", 2), Timestamp(0)).unwrap_err(),
            EngineError::IdempotencyKeyReused
        );
    }

    #[test]
    fn abandoned_keys_can_be_used_again_and_old_ones_are_purged() {
        let index = IdempotencyIndex::new(Arc::new(boxoffice_storage::MemoryStore::new()));
        let t = tag("k", 1);
        assert!(matches!(index.begin(&t, Timestamp(0)), Ok(Replay::Proceed)));
        index.abandon(&t.key);
        assert!(matches!(
            index.begin(&tag("k", 2), Timestamp(0)),
            Ok(Replay::Proceed)
        ));
        index.complete(&tag("k", 2), reply(), Timestamp(0));
        index.purge(Timestamp(RETENTION_MS + 1));
        assert!(matches!(index.begin(&t, Timestamp(0)), Ok(Replay::Proceed)));
    }
}
