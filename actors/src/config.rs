//! Typed configuration of the actor layer, with its explicit limits.

use boxoffice_engine::wallet::WalletLimits;

/// Lowest accepted per-actor in-flight bound: an ordinary rush must be answered
/// 201/409, not 503 (DESIGN.md, Back-pressure).
pub const MIN_IN_FLIGHT_PER_ACTOR: usize = 1_024;
/// Waiting-room joins in flight at once. Far above `in_flight_per_actor`:
/// API.md promises that joining never fails under a crowd, and a join costs
/// the queue actor a few microseconds and ~200 bytes of mailbox, so 100,000
/// joining at once wait a fraction of a second rather than get a 503.
pub const QUEUE_JOINS_IN_FLIGHT: usize = 262_144;
/// Most events one actor batches into a single log record before it commits
/// early, so one record (and one reply wave) stays bounded.
pub const MAX_EVENTS_PER_RECORD: usize = 4_096;

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Requests in flight per actor before callers get `Unavailable`.
    pub in_flight_per_actor: usize,
    /// An actor writes a snapshot (and trims its log) after this many events.
    pub snapshot_every_events: u64,
    /// Number of wallet actors; users are spread over them by id.
    pub wallet_shards: usize,
    /// Arbiter threads the actors are spread over.
    pub arbiters: usize,
    pub wallet_limits: WalletLimits,
    /// A storage flush that has not returned after this long poisons the
    /// group commit: every pending and later write fails (and /readyz says
    /// so) instead of every caller waiting for ever on a hung disk.
    pub flush_timeout: std::time::Duration,
    /// Ended reservations a schedule keeps in memory before a snapshot moves
    /// them to the archive (`schedule_actor/archive.rs`); simulations lower it.
    pub archive_after_ended: usize,
    /// Archive batches are written by the archive writer thread
    /// (`archive_writer.rs`), off the actors' threads. Off, the schedule
    /// actor writes them itself: deterministic runs (the seeded simulation)
    /// need every write on the actors' own, ordered path.
    pub archive_in_background: bool,
    /// Reservations whose archive entries one store write carries (1 to
    /// `RESERVATIONS_PER_WRITE`, the default); tests lower it so a few
    /// reservations make several writes (and crash points between them).
    pub archive_reservations_per_write: usize,
    /// Ledger entries a wallet keeps in memory before a snapshot moves them
    /// to the store (`wallet_ledger.rs`); simulations lower it.
    pub archive_ledger_after: usize,
    /// New idempotency keys one user may store per UTC day; past it a keyed
    /// request with a new key is refused before it runs (0: no quota). See
    /// `idempotency::KeyQuota`.
    pub max_new_idempotency_keys_per_day: u32,
    /// Reservations one batch of a schedule cancellation ends (1 to
    /// `MAX_CANCEL_BATCH`, the default); simulations lower it so a few
    /// reservations make several batches (and crash points between them).
    pub cancel_batch: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            in_flight_per_actor: 4_096,
            snapshot_every_events: 20_000,
            wallet_shards: 8,
            arbiters: 2,
            wallet_limits: WalletLimits::default(),
            flush_timeout: boxoffice_storage::DEFAULT_FLUSH_TIMEOUT,
            archive_after_ended: crate::schedule_actor::archive::MIN_ENDED_BEFORE_ARCHIVING,
            archive_in_background: true,
            archive_reservations_per_write: crate::schedule_actor::archive::RESERVATIONS_PER_WRITE,
            archive_ledger_after: crate::wallet_ledger::LEDGER_ENTRIES_IN_MEMORY,
            max_new_idempotency_keys_per_day: crate::idempotency::DEFAULT_MAX_NEW_KEYS_PER_DAY,
            cancel_batch: boxoffice_engine::schedule::MAX_CANCEL_BATCH,
        }
    }
}

impl EngineConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.in_flight_per_actor < MIN_IN_FLIGHT_PER_ACTOR {
            return Err(format!(
                "in_flight_per_actor must be at least {MIN_IN_FLIGHT_PER_ACTOR}"
            ));
        }
        if self.snapshot_every_events == 0 {
            return Err("snapshot_every_events must be positive".into());
        }
        if !(1..=256).contains(&self.wallet_shards) {
            return Err("wallet_shards must be 1-256".into());
        }
        if !(1..=64).contains(&self.arbiters) {
            return Err("arbiters must be 1-64".into());
        }
        if !(1..=boxoffice_engine::schedule::MAX_CANCEL_BATCH).contains(&self.cancel_batch) {
            return Err(format!(
                "cancel_batch must be 1-{}",
                boxoffice_engine::schedule::MAX_CANCEL_BATCH
            ));
        }
        if !(1..=crate::schedule_actor::archive::RESERVATIONS_PER_WRITE)
            .contains(&self.archive_reservations_per_write)
        {
            return Err(
                "archive_reservations_per_write must be 1 to RESERVATIONS_PER_WRITE".into(),
            );
        }
        if self.archive_after_ended == 0 {
            return Err("archive_after_ended must be positive".into());
        }
        if self.wallet_limits.max_charges_per_day == 0 {
            return Err("max_charges_per_day must be positive".into());
        }
        if self.flush_timeout.is_zero() {
            return Err("flush_timeout must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cancel_batch_is_bounded_like_the_engine_s() {
        assert_eq!(EngineConfig::default().validate(), Ok(()));
        for (cancel_batch, valid) in [
            (0, false),
            (1, true),
            (boxoffice_engine::schedule::MAX_CANCEL_BATCH, true),
            (boxoffice_engine::schedule::MAX_CANCEL_BATCH + 1, false),
        ] {
            let config = EngineConfig {
                cancel_batch,
                ..EngineConfig::default()
            };
            assert_eq!(
                config.validate().is_ok(),
                valid,
                "cancel_batch {cancel_batch}"
            );
        }
    }
}
