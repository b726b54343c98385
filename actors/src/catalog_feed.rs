//! The catalogue's durable changes, told to whoever follows them (today the
//! search index, `boxoffice-search`).
//!
//! The catalogue actor publishes each batch of events on this feed from the
//! waiter its journal calls once a flush covers them, before the creator's
//! reply is released: a follower never sees a change that is not durable, and
//! sees every durable one before the client hears of it. Followers run on the
//! flush's thread, so they must not block: the search index only queues the
//! change for its own writer thread.
//!
//! [`FollowCatalog`](crate::catalog_actor::FollowCatalog) registers a follower
//! and answers a copy of the catalogue taken in the actor's order at that
//! moment, so no change falls between the copy and the feed; a change both in
//! the copy and on the feed reaches the follower twice, which is harmless for
//! a follower that replaces by id: every event carries the whole of what it
//! sets (a concert's text after an edit, not the difference), and the feed
//! delivers in the catalogue's order, so the last one a follower applies is
//! the catalogue's latest.

use std::sync::{Arc, RwLock};

use crate::catalog_actor::CatalogEvent;

/// Something kept in step with the catalogue.
pub trait CatalogFollower: Send + Sync {
    /// `events` are durable now, in the catalogue's order. Must not block.
    fn changed(&self, events: &[CatalogEvent]);
}

/// The followers of one catalogue.
#[derive(Default)]
pub struct CatalogFeed {
    followers: RwLock<Vec<Arc<dyn CatalogFollower>>>,
}

impl CatalogFeed {
    pub fn follow(&self, follower: Arc<dyn CatalogFollower>) {
        self.followers
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(follower);
    }

    pub fn publish(&self, events: &[CatalogEvent]) {
        if events.is_empty() {
            return;
        }
        let followers = self
            .followers
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for follower in followers.iter() {
            follower.changed(events);
        }
    }
}
