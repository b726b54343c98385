//! What every actor is given at start: the shared services of one engine
//! instance. Passing them in (rather than reaching for globals) is what lets a
//! test or simulation run an engine on a manual clock, a seeded id source and a
//! fault-injecting store.

use boxoffice_storage::GroupCommit;
use std::sync::Arc;

use crate::archive_writer::ArchiveWriter;
use crate::booking_events::Outbox;
use crate::clock::Clock;
use crate::config::EngineConfig;
use crate::directory::Directory;
use crate::entropy::IdSource;
use crate::idempotency::key_writer::KeyWriter;
use crate::idempotency::IdempotencyIndex;
use crate::log_trimmer::LogTrimmer;
use crate::work_times::WorkTimes;

#[derive(Clone)]
pub struct EngineContext {
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<IdSource>,
    pub commit: Arc<GroupCommit>,
    pub directory: Arc<Directory>,
    pub idempotency: Arc<IdempotencyIndex>,
    pub config: EngineConfig,
    /// Writes archive batches off the actors' threads; `None` when
    /// `config.archive_in_background` is off.
    pub archive_writer: Option<Arc<ArchiveWriter>>,
    /// Moves schedules' decided idempotency keys to the key store off their
    /// threads (`idempotency/key_writer.rs`); `None` when
    /// `config.archive_in_background` is off.
    pub key_writer: Option<Arc<KeyWriter>>,
    /// Trims schedules' logs behind their snapshots off their threads
    /// (`log_trimmer.rs`); `None` when `config.archive_in_background` is off.
    pub log_trimmer: Option<Arc<LogTrimmer>>,
    /// The booking-event outbox's durable position (see `booking_events`).
    pub outbox: Arc<Outbox>,
    /// How long the heavy single pieces of work take (see `work_times`).
    pub work_times: Arc<WorkTimes>,
}
