//! The index's one writer thread: builds or checks the index at start-up,
//! then applies the catalogue's durable changes as the feed delivers them.
//!
//! The feed's follower only queues (it runs on the flush's thread and must
//! not block); the queue is bounded by the catalogue's own bounds, since a
//! process can see at most `MAX_VENUES + MAX_CONCERTS` creations. The thread
//! takes whatever has queued while it last committed and commits it as one
//! batch, then reloads the reader, so a new or changed concert is searchable
//! one commit after its flush (milliseconds; API.md allows a second). An
//! edit or a publish names only what changed, so the thread keeps each
//! concert as last indexed (at most `MAX_CONCERTS`) to write its new document.

use boxoffice_actors::catalog_actor::{CatalogCopy, CatalogEvent, MAX_CONCERTS, MAX_VENUES};
use boxoffice_actors::catalog_feed::CatalogFollower;
use boxoffice_actors::{Concert, ConcertStatus, Venue};
use boxoffice_engine::ids::{ConcertId, VenueId};
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Instant;
use tantivy::{IndexWriter, Term};

use crate::claim::claim;
use crate::disk::{open_or_rebuild, Opened, WRITER_LOCK_WAIT};
use crate::schema::address_of;
use crate::{Live, Shared};

/// Queued batches of events, at most (see the module doc).
pub const QUEUE_BATCHES: usize = MAX_VENUES + MAX_CONCERTS;
/// Batches applied before one commit, at most.
pub const MAX_BATCHES_PER_COMMIT: usize = 1_000;

/// The feed's end: queues each durable change for the writer thread.
pub struct Follower {
    pub(crate) queue: SyncSender<Vec<CatalogEvent>>,
}

impl CatalogFollower for Follower {
    fn changed(&self, events: &[CatalogEvent]) {
        match self.queue.try_send(events.to_vec()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                // Cannot happen within the catalogue's bounds; if it did, the
                // index would miss a concert until the next start-up rebuild
                // (which its id check forces): say so loudly.
                tracing::error!("search index queue full: the index misses a change until restart");
            }
            // The writer stopped (it failed, or the process is stopping).
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// The writer thread's body.
pub(crate) fn run(shared: Arc<Shared>, copy: CatalogCopy, queue: Receiver<Vec<CatalogEvent>>) {
    let started = Instant::now();
    // Declared first so that it is given up last, after the writer.
    let Some(_claim) = claim(&shared.dir, WRITER_LOCK_WAIT) else {
        tracing::error!(dir = %shared.dir.display(), "search index still held by a writer of this process: search answers 503");
        shared.failed();
        return;
    };
    let opened = open_or_rebuild(&shared.dir, &shared.fields, &copy);
    let mut concerts: HashMap<ConcertId, Concert> = copy
        .concerts
        .iter()
        .map(|c| (c.concert_id, c.clone()))
        .collect();
    drop(copy);
    let Opened {
        index,
        mut writer,
        mut venues,
        rebuilt,
    } = match opened {
        Ok(opened) => opened,
        Err(err) => {
            tracing::error!(%err, "search index cannot be opened or rebuilt: search answers 503");
            shared.failed();
            return;
        }
    };
    let reader = match index
        .reader_builder()
        .reload_policy(tantivy::ReloadPolicy::Manual)
        .try_into()
    {
        Ok(reader) => reader,
        Err(err) => {
            tracing::error!(%err, "search index reader: search answers 503");
            shared.failed();
            return;
        }
    };
    shared.ready(Live { reader }, started.elapsed(), rebuilt);

    while let Ok(first) = queue.recv() {
        let mut batches = vec![first];
        while batches.len() < MAX_BATCHES_PER_COMMIT {
            match queue.try_recv() {
                Ok(more) => batches.push(more),
                Err(_) => break,
            }
        }
        if let Err(err) = apply(&shared, &mut writer, &mut venues, &mut concerts, batches) {
            // The index lags the catalogue until the next start-up, whose id
            // check rebuilds it; searches still answer from what it has.
            tracing::error!(%err, "search index update failed");
        }
    }
    // Merges still running would write into the directory after the claim
    // is given up.
    if let Err(err) = writer.wait_merging_threads() {
        tracing::warn!(%err, "search index merges at stop");
    }
}

fn apply(
    shared: &Shared,
    writer: &mut IndexWriter,
    venues: &mut HashMap<VenueId, Venue>,
    concerts: &mut HashMap<ConcertId, Concert>,
    batches: Vec<Vec<CatalogEvent>>,
) -> tantivy::Result<()> {
    let fields = &shared.fields;
    for event in batches.into_iter().flatten() {
        let changed = match event {
            CatalogEvent::VenueCreated(venue) => {
                venues.insert(venue.venue_id, venue);
                None
            }
            CatalogEvent::ConcertCreated(concert) => Some(Concert {
                status: ConcertStatus::Published,
                ..concert
            }),
            CatalogEvent::DraftCreated(concert) => Some(Concert {
                status: ConcertStatus::Draft,
                ..concert
            }),
            CatalogEvent::ConcertEdited(text) => {
                concerts.get(&text.concert_id).map(|concert| Concert {
                    title: text.title,
                    description: text.description,
                    category: text.category,
                    ..concert.clone()
                })
            }
            CatalogEvent::ConcertPublished(id) => concerts.get(&id).map(|concert| Concert {
                status: ConcertStatus::Published,
                ..concert.clone()
            }),
            // Who may join a waiting room changes nothing searchable.
            CatalogEvent::VerifiedEmailRequired(_) => None,
        };
        let Some(concert) = changed else { continue };
        // Replace by id: the start-up copy and the feed may both carry it.
        writer.delete_term(Term::from_field_text(
            fields.concert_id,
            &concert.concert_id.to_string(),
        ));
        writer.add_document(fields.document(&concert, address_of(venues, &concert)))?;
        concerts.insert(concert.concert_id, concert);
    }
    writer.commit()?;
    if let Some(live) = shared.live.get() {
        live.reader.reload()?;
    }
    Ok(())
}
