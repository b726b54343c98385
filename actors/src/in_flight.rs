//! The in-flight bound: a bounded count of requests in flight per actor.
//!
//! actix's mailbox capacity does not push back on `send()` (it queues without
//! end), so the bound is ours: a caller takes a [`Permit`] before sending and
//! gives it back when the reply arrives. Past the bound the caller is told
//! `Unavailable` at once (HTTP 503) instead of waiting in an ever longer line.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Debug)]
pub struct InFlight {
    count: AtomicUsize,
    limit: usize,
}

impl InFlight {
    pub fn new(limit: usize) -> Arc<Self> {
        assert!(limit > 0, "an in-flight limit of 0 would refuse everything");
        Arc::new(InFlight {
            count: AtomicUsize::new(0),
            limit,
        })
    }

    /// A permit if fewer than `limit` are in flight, else `None`.
    pub fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        let mut current = self.count.load(Ordering::Relaxed);
        loop {
            if current >= self.limit {
                return None;
            }
            match self.count.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Some(Permit {
                        owner: Arc::clone(self),
                    })
                }
                Err(seen) => current = seen,
            }
        }
    }

    pub fn current(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// One request in flight; released on drop, whatever the outcome.
#[derive(Debug)]
pub struct Permit {
    owner: Arc<InFlight>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let before = self.owner.count.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(before > 0, "permit released twice");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_limit_and_recovers_on_release() {
        let gate = InFlight::new(2);
        let a = gate.try_acquire().expect("first");
        let _b = gate.try_acquire().expect("second");
        assert!(gate.try_acquire().is_none());
        drop(a);
        assert!(gate.try_acquire().is_some());
    }
}
