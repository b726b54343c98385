//! [`KeyedLimiter`]: one rate limit, keyed (per user, per address...).
//!
//! A GCRA limiter (`governor`): a limit of N per minute lets a burst of N
//! through, then one more every 60/N seconds, so a caller who waits is never
//! locked out for a whole window. Time comes from the engine's [`Clock`]
//! through [`EngineClock`].
//!
//! Memory: the limiter keeps one small state (a key and a timestamp) per key
//! it has seen, in a [`BoundedStore`] of at most [`MAX_KEYS_PER_LIMITER`]
//! keys. Every [`PRUNE_EVERY_CHECKS`] checks it drops the keys whose state is
//! back to full (idle keys); past the capacity the store evicts the keys
//! closest to full (see `store.rs`).

use boxoffice_actors::Clock;
use governor::clock::Clock as GovernorClock;
use governor::middleware::StateInformationMiddleware;
use governor::{Quota, RateLimiter};
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::store::BoundedStore;

/// A limiter prunes its keyed state once per this many checks.
pub const PRUNE_EVERY_CHECKS: u64 = 10_000;
/// Most keys one limiter holds: about 32 bytes of state each plus the hash
/// table's slack, so at most about 5 MB per limiter however many distinct
/// callers (addresses) arrive. 100,000 callers active within one minute on
/// one route group is far beyond this server's load (its whole HTTP capacity
/// is about 9,000 requests/s).
pub const MAX_KEYS_PER_LIMITER: usize = 100_000;
const MINUTE_MS: u64 = 60_000;

/// The engine's clock as governor's: the instant is the time since the Unix
/// epoch. A clock that steps back is no harm: governor measures elapsed time
/// with a saturating subtraction, so a step back only delays refills.
#[derive(Clone)]
pub struct EngineClock(Arc<dyn Clock>);

impl EngineClock {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        EngineClock(clock)
    }
}

impl GovernorClock for EngineClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.0.now().0).unwrap_or(0))
    }
}

/// A limit's state for one caller after one request: what the
/// `X-RateLimit-*` headers say, and whether the request is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// Requests per minute (`X-RateLimit-Limit`).
    pub limit: u32,
    /// Requests the caller may still make at once (`X-RateLimit-Remaining`).
    pub remaining: u32,
    /// Seconds until the caller's allowance is whole again (`X-RateLimit-Reset`).
    pub reset_secs: u64,
    /// `Some(seconds)` (at least 1) when this request is refused: the wait
    /// before the next one is let through (`Retry-After`).
    pub retry_after_secs: Option<u64>,
}

type Limiter<K> = RateLimiter<K, BoundedStore<K>, EngineClock, StateInformationMiddleware>;

pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    limiter: Limiter<K>,
    per_minute: u32,
    checks: AtomicU64,
    /// No earlier than governor's own start instant, which its stored states
    /// count from: so "now" measured from here never runs ahead of theirs,
    /// and pruning never drops a key that is not yet whole.
    start: Duration,
    store: BoundedStore<K>,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// `per_minute` requests per key per minute (at least 1: 0 is taken as
    /// 1), holding at most [`MAX_KEYS_PER_LIMITER`] keys.
    pub fn per_minute(per_minute: u32, clock: EngineClock) -> Self {
        Self::with_capacity(per_minute, clock, MAX_KEYS_PER_LIMITER)
    }

    /// As [`KeyedLimiter::per_minute`], holding at most about `capacity` keys.
    pub fn with_capacity(per_minute: u32, clock: EngineClock, capacity: usize) -> Self {
        let burst = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let store = BoundedStore::with_capacity(capacity);
        let limiter = Limiter::<K>::new(Quota::per_minute(burst), store.clone(), clock);
        let start = limiter.clock().now();
        KeyedLimiter {
            limiter,
            per_minute: burst.get(),
            checks: AtomicU64::new(0),
            start,
            store,
        }
    }

    /// Drops the keys whose allowance is whole again.
    fn prune(&self) {
        let since_start = self.limiter.clock().now().saturating_sub(self.start);
        let now_nanos = u64::try_from(since_start.as_nanos()).unwrap_or(u64::MAX);
        self.store().retain_recent(now_nanos);
    }

    fn store(&self) -> &BoundedStore<K> {
        &self.store
    }

    /// Counts one request of `key`.
    pub fn check(&self, key: &K) -> RateLimitInfo {
        let outcome = self.limiter.check_key(key);
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY_CHECKS
            == PRUNE_EVERY_CHECKS - 1
        {
            self.prune();
        }
        let limit = self.per_minute;
        // One request's share of the minute: a refill happens every interval.
        let interval_ms = MINUTE_MS.div_ceil(u64::from(limit));
        match outcome {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity().min(limit);
                let used = u64::from(limit - remaining);
                RateLimitInfo {
                    limit,
                    remaining,
                    reset_secs: (used * interval_ms).div_ceil(1_000),
                    retry_after_secs: None,
                }
            }
            Err(not_until) => {
                let now = self.limiter.clock().now();
                let wait_ms =
                    u64::try_from(not_until.wait_time_from(now).as_millis()).unwrap_or(u64::MAX);
                let retry_after_secs = wait_ms.div_ceil(1_000).max(1);
                let full_ms =
                    wait_ms.saturating_add(u64::from(limit - 1).saturating_mul(interval_ms));
                RateLimitInfo {
                    limit,
                    remaining: 0,
                    reset_secs: full_ms.div_ceil(1_000).max(retry_after_secs),
                    retry_after_secs: Some(retry_after_secs),
                }
            }
        }
    }

    /// Keys held now (pruned every [`PRUNE_EVERY_CHECKS`] checks).
    pub fn keys_tracked(&self) -> usize {
        self.store().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_actors::ManualClock;
    use boxoffice_engine::Timestamp;

    fn limiter(per_minute: u32) -> (KeyedLimiter<u32>, ManualClock) {
        let clock = ManualClock::new(Timestamp(1_773_568_800_000));
        let engine = EngineClock::new(Arc::new(clock.clone()));
        (KeyedLimiter::per_minute(per_minute, engine), clock)
    }

    #[test]
    fn a_burst_of_the_limit_passes_then_one_refills_per_interval() {
        let (limiter, clock) = limiter(3);
        let infos: Vec<_> = (0..3).map(|_| limiter.check(&1)).collect();
        assert_eq!(
            infos.iter().map(|i| i.remaining).collect::<Vec<_>>(),
            [2, 1, 0]
        );
        assert!(infos.iter().all(|i| i.retry_after_secs.is_none()));
        assert_eq!(infos[2].reset_secs, 60);
        let refused = limiter.check(&1);
        assert_eq!(refused.retry_after_secs, Some(20));
        assert_eq!(refused.remaining, 0);
        // Another key has its own allowance.
        assert_eq!(limiter.check(&2).remaining, 2);
        clock.advance_ms(19_999);
        assert_eq!(limiter.check(&1).retry_after_secs, Some(1));
        clock.advance_ms(1);
        assert_eq!(limiter.check(&1).retry_after_secs, None);
    }

    #[test]
    fn idle_keys_are_pruned_every_so_many_checks() {
        let (limiter, clock) = limiter(5);
        for key in 0..100 {
            limiter.check(&key);
        }
        assert_eq!(limiter.keys_tracked(), 100);
        clock.advance_ms(MINUTE_MS as i64);
        for _ in 100..PRUNE_EVERY_CHECKS {
            limiter.check(&0);
        }
        assert_eq!(limiter.keys_tracked(), 1, "only the active key is left");
    }
}
