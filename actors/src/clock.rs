//! The one place the engine's notion of "now" comes from.
//!
//! Nothing below the binary's wiring reads the system clock directly: actors
//! ask an injected [`Clock`], so tests and the simulation can move time by hand
//! (a hold expiring, a queue admitting its next batch) without sleeping.

use boxoffice_engine::Timestamp;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// Wall-clock time, for production.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        // A clock before 1970 is a broken machine, not a client error: treat it as the epoch.
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Timestamp(ms)
    }
}

/// A clock that only moves when told to. Cloning shares the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now_ms: Arc<AtomicI64>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            now_ms: Arc::new(AtomicI64::new(start.0)),
        }
    }

    pub fn advance_ms(&self, ms: i64) {
        assert!(ms >= 0, "time only moves forward");
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn set(&self, to: Timestamp) {
        self.now_ms.store(to.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.now_ms.load(Ordering::SeqCst))
    }
}
