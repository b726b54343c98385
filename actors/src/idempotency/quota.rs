//! [`KeyQuota`]: how many NEW idempotency keys one user may store per UTC day.
//!
//! Every stored key is a record kept at least 24 hours (memory for seconds,
//! then the key store on disk), business refusals included; without a quota
//! one user sending fresh keys grows memory and disk without bound (issue 20,
//! item 3: 160,000 refusals under fresh keys added 145 MB of memory). The
//! index asks [`KeyQuota::check`] before it claims a key it has never seen
//! and calls [`KeyQuota::count`] once the engine decided and the key is
//! stored; a replay of a stored key never reaches the quota. A refused
//! request ran nothing and stored nothing (`EngineError::KeyQuotaExceeded`,
//! 429 over HTTP), so the same key works again the next day.
//!
//! Concurrent first requests of one user are checked before any of them is
//! counted, so a user may pass the quota by the requests they have in flight
//! at that moment (bounded by the in-flight bounds), never more.
//!
//! The counts live in memory only: a restart starts every user at zero for the
//! rest of the day, so the bound is per process lifetime within a day (one
//! more quota per restart). Memory holds one counter per user who stored a key
//! in the current UTC day; the first key of a later day drops the older day.

use boxoffice_engine::ids::UserId;
use boxoffice_engine::Timestamp;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::error::EngineError;

/// Default of [`KeyQuota`]'s limit: 10,000 new keys a day is a request every
/// 9 seconds around the clock, far past any person, and bounds what one user
/// can store in a day to about 10 MB.
pub const DEFAULT_MAX_NEW_KEYS_PER_DAY: u32 = 10_000;
/// Milliseconds in a UTC day.
const DAY_MS: i64 = 86_400_000;

/// The per-user daily quota of stored idempotency keys (0: no quota).
pub struct KeyQuota {
    max_per_day: u32,
    counts: Mutex<DayCounts>,
}

#[derive(Default)]
struct DayCounts {
    /// Days since the epoch (UTC) the counts are for.
    day: i64,
    stored: HashMap<UserId, u32>,
}

impl DayCounts {
    /// The counts of the day `now` is counted in. A clock that steps back
    /// counts in the day already tracked, so a step never resets a quota.
    fn for_day_of(&mut self, now: Timestamp) -> &mut HashMap<UserId, u32> {
        let day = now.0.div_euclid(DAY_MS);
        if day > self.day {
            self.day = day;
            self.stored = HashMap::new();
        }
        &mut self.stored
    }
}

impl KeyQuota {
    pub fn new(max_per_day: u32) -> Self {
        KeyQuota {
            max_per_day,
            counts: Mutex::new(DayCounts {
                day: i64::MIN,
                stored: HashMap::new(),
            }),
        }
    }

    /// The configured limit (0: no quota).
    pub fn max_per_day(&self) -> u32 {
        self.max_per_day
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, DayCounts> {
        // Every operation under the lock is one map update: still consistent.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Err(KeyQuotaExceeded)` when `user` already stored their quota of new
    /// keys in the current UTC day; the retry is at the next UTC midnight.
    pub fn check(&self, user: UserId, now: Timestamp) -> Result<(), EngineError> {
        if self.max_per_day == 0 {
            return Ok(());
        }
        let mut counts = self.counts();
        let stored = counts.for_day_of(now).get(&user).copied().unwrap_or(0);
        if stored < self.max_per_day {
            return Ok(());
        }
        let next_midnight_ms = counts.day.saturating_add(1).saturating_mul(DAY_MS);
        let wait_ms = next_midnight_ms.saturating_sub(now.0).max(1);
        Err(EngineError::KeyQuotaExceeded {
            limit: self.max_per_day,
            retry_after_secs: (wait_ms as u64).div_ceil(1_000),
        })
    }

    /// Counts one new key `user` stored at `now`.
    pub fn count(&self, user: UserId, now: Timestamp) {
        if self.max_per_day == 0 {
            return;
        }
        let mut counts = self.counts();
        let stored = counts.for_day_of(now).entry(user).or_insert(0);
        *stored = stored.saturating_add(1);
    }

    /// Users with a count in the current day (what the quota holds in memory).
    pub fn users_counted(&self) -> usize {
        self.counts().stored.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-03-15T10:00:00Z
    const T0: Timestamp = Timestamp(1_773_568_800_000);
    /// 2026-03-16T00:00:00Z
    const NEXT_MIDNIGHT: Timestamp = Timestamp(1_773_619_200_000);

    fn user(n: u8) -> UserId {
        UserId::from_random_bytes([n; 16])
    }

    #[test]
    fn the_quota_refuses_past_its_limit_until_the_next_utc_day() {
        let quota = KeyQuota::new(2);
        for _ in 0..2 {
            quota.check(user(1), T0).unwrap();
            quota.count(user(1), T0);
        }
        assert_eq!(
            quota.check(user(1), T0),
            Err(EngineError::KeyQuotaExceeded {
                limit: 2,
                retry_after_secs: 50_400,
            })
        );
        // Other users are not affected.
        quota.check(user(2), T0).unwrap();
        // One millisecond before midnight: a second's wait, never zero.
        assert_eq!(
            quota.check(user(1), NEXT_MIDNIGHT.plus_millis(-1)),
            Err(EngineError::KeyQuotaExceeded {
                limit: 2,
                retry_after_secs: 1,
            })
        );
        quota.check(user(1), NEXT_MIDNIGHT).unwrap();
        // The older day was dropped.
        assert_eq!(quota.users_counted(), 0);
    }

    #[test]
    fn a_clock_stepping_back_does_not_reset_the_quota_and_zero_is_no_quota() {
        let quota = KeyQuota::new(1);
        quota.count(user(1), NEXT_MIDNIGHT);
        assert!(quota.check(user(1), T0).is_err());
        let none = KeyQuota::new(0);
        for _ in 0..5 {
            none.count(user(1), T0);
        }
        none.check(user(1), T0).unwrap();
        assert_eq!(none.users_counted(), 0);
    }
}
