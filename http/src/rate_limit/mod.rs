//! Rate limits: how many requests one caller may make per minute, answered
//! `429 RATE_LIMITED` with `Retry-After` past it (API.md, Conventions).
//!
//! - [`KeyedLimiter`] (`limiter.rs`) is one limit: a keyed GCRA limiter from
//!   the `governor` crate, timed by the engine's injected [`Clock`] (so tests
//!   move time by hand), keyed by [`Caller`] (a user, or an address for
//!   anonymous calls), its state in a [`BoundedStore`] (`store.rs`) that
//!   evicts idle keys and never holds more than [`MAX_KEYS_PER_LIMITER`].
//! - [`RateLimits`] (here) is every limit of the API, built from
//!   [`RateLimitSettings`]; `BOXOFFICE_RATE_LIMITS=off` builds none.
//! - [`Limited`] (`extract.rs`) is the extractor a limited handler takes
//!   instead of `AuthUser`: it authenticates, then checks the caller's limit
//!   before the handler does anything, so a 429 runs and stores nothing.
//!   [`LimitedCaller`] is the same for endpoints anyone may call: the user
//!   of a valid access token, else the client address (`crate::client_ip`).
//! - [`headers`] (`headers.rs`) puts `X-RateLimit-Limit`, `-Remaining` and
//!   `-Reset` on every answer of a limited request, the handler's errors too.
//!
//! Limited (API.md's route groups): the keyed POSTs (reservations, payments,
//! wallet charges) per user; login and register per address; the catalogue
//! and search GETs (venues, concerts, schedules, seat maps, search) per user
//! or, anonymous, per address. Not limited: ops endpoints, the OpenAPI document and docs,
//! and the waiting room's joins and polls (paced by `pollAfterMs`).

mod extract;
mod headers;
mod limiter;
mod store;

pub use extract::{
    CatalogueGets, ChargePosts, Limited, LimitedCaller, LimitedEndpoint, LoginPosts, PaymentPosts,
    RegisterPosts, ReservationPosts,
};
pub use headers::headers;
pub use limiter::{
    EngineClock, KeyedLimiter, RateLimitInfo, MAX_KEYS_PER_LIMITER, PRUNE_EVERY_CHECKS,
};
pub use store::BoundedStore;

use boxoffice_actors::Clock;
use boxoffice_engine::ids::UserId;
use std::net::IpAddr;
use std::sync::Arc;

/// Default of [`RateLimitSettings::reservations_per_minute`] (API.md).
pub const DEFAULT_RESERVATIONS_PER_MINUTE: u32 = 20;
/// Default of [`RateLimitSettings::payments_per_minute`] (API.md).
pub const DEFAULT_PAYMENTS_PER_MINUTE: u32 = 30;
/// Default of [`RateLimitSettings::charges_per_minute`]: as many as holds; a
/// person tops a wallet up a few times a day (and at most
/// `WalletLimits::max_charges_per_day` times).
pub const DEFAULT_CHARGES_PER_MINUTE: u32 = 20;
/// Default of [`RateLimitSettings::login_per_minute`] (API.md), per address.
pub const DEFAULT_LOGIN_PER_MINUTE: u32 = 10;
/// Default of [`RateLimitSettings::register_per_minute`] (API.md), per address.
pub const DEFAULT_REGISTER_PER_MINUTE: u32 = 5;
/// Default of [`RateLimitSettings::catalogue_per_minute`] (API.md): the
/// catalogue and search GETs together, per user or address.
pub const DEFAULT_CATALOGUE_PER_MINUTE: u32 = 100;
/// Accepted range of each per-minute limit.
pub const PER_MINUTE_RANGE: std::ops::RangeInclusive<u32> = 1..=1_000_000;

/// The API's rate limits, per route group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Off (`BOXOFFICE_RATE_LIMITS=off`): no limit is checked and no
    /// `X-RateLimit-*` header is sent. Benchmarks and black-box suites run so.
    pub enabled: bool,
    pub reservations_per_minute: u32,
    pub payments_per_minute: u32,
    pub charges_per_minute: u32,
    pub login_per_minute: u32,
    pub register_per_minute: u32,
    pub catalogue_per_minute: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            enabled: true,
            reservations_per_minute: DEFAULT_RESERVATIONS_PER_MINUTE,
            payments_per_minute: DEFAULT_PAYMENTS_PER_MINUTE,
            charges_per_minute: DEFAULT_CHARGES_PER_MINUTE,
            login_per_minute: DEFAULT_LOGIN_PER_MINUTE,
            register_per_minute: DEFAULT_REGISTER_PER_MINUTE,
            catalogue_per_minute: DEFAULT_CATALOGUE_PER_MINUTE,
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
            ("logins", self.login_per_minute),
            ("registrations", self.register_per_minute),
            ("catalogue reads", self.catalogue_per_minute),
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

/// The limited operations as the OpenAPI document names them (method, path):
/// their 429 and `X-RateLimit-*` headers are documented from this list
/// (`crate::openapi`), which a test holds to the document.
pub const LIMITED_OPERATIONS: [(&str, &str); 14] = [
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/register"),
    // Counted with register (the same per-address limit).
    ("post", "/api/v1/auth/password-reset"),
    ("get", "/api/v1/venues"),
    ("get", "/api/v1/venues/{venueId}"),
    ("get", "/api/v1/concerts"),
    ("get", "/api/v1/concerts/{concertId}"),
    ("get", "/api/v1/concerts/{concertId}/schedules"),
    ("get", "/api/v1/schedules/{scheduleId}/seats"),
    ("get", "/api/v1/search/concerts"),
    ("get", "/api/v1/search/autocomplete"),
    ("post", "/api/v1/reservations"),
    ("post", "/api/v1/payments"),
    ("post", "/api/v1/wallet/charges"),
];

/// Whom a limit counts: the user of a valid access token, or, for an
/// anonymous call, the client's address (an IPv6 address by its /64, the
/// block one host is usually given, so one host cannot rotate through its
/// own addresses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Caller {
    User(UserId),
    Address(IpAddr),
}

impl Caller {
    pub fn anonymous(address: IpAddr) -> Caller {
        match address {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                Caller::Address(IpAddr::V6(prefix.into()))
            }
            v4 => Caller::Address(v4),
        }
    }
}

/// What a limited endpoint is; each group has its own limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitedAction {
    /// POST /api/v1/reservations
    Reservations,
    /// POST /api/v1/payments
    Payments,
    /// POST /api/v1/wallet/charges
    Charges,
    /// POST /api/v1/auth/login
    Login,
    /// POST /api/v1/auth/register
    Register,
    /// The catalogue and search GETs: venues, concerts, schedules, seat
    /// maps, search and autocomplete.
    Catalogue,
}

/// Every limit of the API; `None` when rate limits are off.
pub struct RateLimits {
    limiters: Option<Limiters>,
}

struct Limiters {
    reservations: KeyedLimiter<Caller>,
    payments: KeyedLimiter<Caller>,
    charges: KeyedLimiter<Caller>,
    login: KeyedLimiter<Caller>,
    register: KeyedLimiter<Caller>,
    catalogue: KeyedLimiter<Caller>,
}

impl RateLimits {
    pub fn new(settings: &RateLimitSettings, clock: Arc<dyn Clock>) -> Self {
        let limiters = settings.enabled.then(|| {
            let clock = EngineClock::new(clock);
            let limit = |per_minute| KeyedLimiter::per_minute(per_minute, clock.clone());
            Limiters {
                reservations: limit(settings.reservations_per_minute),
                payments: limit(settings.payments_per_minute),
                charges: limit(settings.charges_per_minute),
                login: limit(settings.login_per_minute),
                register: limit(settings.register_per_minute),
                catalogue: limit(settings.catalogue_per_minute),
            }
        });
        RateLimits { limiters }
    }

    /// Whether any limit is checked.
    pub fn enabled(&self) -> bool {
        self.limiters.is_some()
    }

    /// Counts one request of `caller` to `action`; `None` when limits are off.
    pub fn check(&self, action: LimitedAction, caller: Caller) -> Option<RateLimitInfo> {
        let limits = self.limiters.as_ref()?;
        let limiter = match action {
            LimitedAction::Reservations => &limits.reservations,
            LimitedAction::Payments => &limits.payments,
            LimitedAction::Charges => &limits.charges,
            LimitedAction::Login => &limits.login,
            LimitedAction::Register => &limits.register,
            LimitedAction::Catalogue => &limits.catalogue,
        };
        Some(limiter.check(&caller))
    }

    /// Keys (callers) held by all limiters now.
    pub fn keys_tracked(&self) -> usize {
        self.limiters.as_ref().map_or(0, |l| {
            [
                &l.reservations,
                &l.payments,
                &l.charges,
                &l.login,
                &l.register,
                &l.catalogue,
            ]
            .iter()
            .map(|limiter| limiter.keys_tracked())
            .sum()
        })
    }
}
