//! Rate limits: how many requests one caller may make per minute, answered
//! `429 RATE_LIMITED` with `Retry-After` past it (API.md, Conventions).
//!
//! - [`KeyedLimiter`] (`limiter.rs`) is one limit: a keyed GCRA limiter from
//!   the `governor` crate, timed by the engine's injected [`Clock`] (so tests
//!   move time by hand), with its keyed state pruned by count. Generic in its
//!   key, so per-user and per-address limits share it.
//! - [`RateLimits`] (here) is every limit of the API, built from
//!   [`RateLimitSettings`]; `BOXOFFICE_RATE_LIMITS=off` builds none.
//! - [`Limited`] (`extract.rs`) is the extractor a limited handler takes
//!   instead of `AuthUser`: it authenticates, then checks the caller's limit
//!   before the handler does anything, so a 429 runs and stores nothing.
//! - [`headers`] (`headers.rs`) puts `X-RateLimit-Limit`, `-Remaining` and
//!   `-Reset` on every answer of a limited request, the handler's errors too.
//!
//! Limited now: the keyed POSTs (reservations, payments, wallet charges),
//! per authenticated user.

mod extract;
mod headers;
mod limiter;

pub use extract::{ChargePosts, Limited, LimitedEndpoint, PaymentPosts, ReservationPosts};
pub use headers::headers;
pub use limiter::{EngineClock, KeyedLimiter, RateLimitInfo, PRUNE_EVERY_CHECKS};

use boxoffice_actors::Clock;
use boxoffice_engine::ids::UserId;
use std::sync::Arc;

/// Default of [`RateLimitSettings::reservations_per_minute`] (API.md).
pub const DEFAULT_RESERVATIONS_PER_MINUTE: u32 = 20;
/// Default of [`RateLimitSettings::payments_per_minute`] (API.md).
pub const DEFAULT_PAYMENTS_PER_MINUTE: u32 = 30;
/// Default of [`RateLimitSettings::charges_per_minute`]: as many as holds; a
/// person tops a wallet up a few times a day (and at most
/// `WalletLimits::max_charges_per_day` times).
pub const DEFAULT_CHARGES_PER_MINUTE: u32 = 20;
/// Accepted range of each per-minute limit.
pub const PER_MINUTE_RANGE: std::ops::RangeInclusive<u32> = 1..=1_000_000;

/// The API's rate limits, per authenticated user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Off (`BOXOFFICE_RATE_LIMITS=off`): no limit is checked and no
    /// `X-RateLimit-*` header is sent. Benchmarks and black-box suites run so.
    pub enabled: bool,
    pub reservations_per_minute: u32,
    pub payments_per_minute: u32,
    pub charges_per_minute: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            enabled: true,
            reservations_per_minute: DEFAULT_RESERVATIONS_PER_MINUTE,
            payments_per_minute: DEFAULT_PAYMENTS_PER_MINUTE,
            charges_per_minute: DEFAULT_CHARGES_PER_MINUTE,
        }
    }
}

impl RateLimitSettings {
    /// Every limit off.
    pub fn off() -> Self {
        RateLimitSettings {
            enabled: false,
            ..RateLimitSettings::default()
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        for (name, value) in [
            ("reservations", self.reservations_per_minute),
            ("payments", self.payments_per_minute),
            ("charges", self.charges_per_minute),
        ] {
            if !PER_MINUTE_RANGE.contains(&value) {
                return Err(format!(
                    "the rate limit of {name} per minute must be in {PER_MINUTE_RANGE:?}, got {value}"
                ));
            }
        }
        Ok(())
    }
}

/// What a limited endpoint is; each has its own limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitedAction {
    /// POST /api/v1/reservations
    Reservations,
    /// POST /api/v1/payments
    Payments,
    /// POST /api/v1/wallet/charges
    Charges,
}

/// Every limit of the API; `None` when rate limits are off.
pub struct RateLimits {
    per_user: Option<PerUser>,
}

struct PerUser {
    reservations: KeyedLimiter<UserId>,
    payments: KeyedLimiter<UserId>,
    charges: KeyedLimiter<UserId>,
}

impl RateLimits {
    pub fn new(settings: &RateLimitSettings, clock: Arc<dyn Clock>) -> Self {
        let per_user = settings.enabled.then(|| {
            let clock = EngineClock::new(clock);
            PerUser {
                reservations: KeyedLimiter::per_minute(
                    settings.reservations_per_minute,
                    clock.clone(),
                ),
                payments: KeyedLimiter::per_minute(settings.payments_per_minute, clock.clone()),
                charges: KeyedLimiter::per_minute(settings.charges_per_minute, clock),
            }
        });
        RateLimits { per_user }
    }

    /// Counts one request of `user` to `action`; `None` when limits are off.
    pub fn check(&self, action: LimitedAction, user: UserId) -> Option<RateLimitInfo> {
        let limits = self.per_user.as_ref()?;
        let limiter = match action {
            LimitedAction::Reservations => &limits.reservations,
            LimitedAction::Payments => &limits.payments,
            LimitedAction::Charges => &limits.charges,
        };
        Some(limiter.check(&user))
    }

    /// Keys (users) held by all limiters, after the last prune.
    pub fn keys_tracked(&self) -> usize {
        self.per_user.as_ref().map_or(0, |l| {
            l.reservations.keys_tracked() + l.payments.keys_tracked() + l.charges.keys_tracked()
        })
    }
}
