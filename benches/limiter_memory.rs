//! What the rate limiter's memory becomes under a flood of distinct client
//! addresses (issue 14: "a flood of 1,000,000 distinct addresses leaves it
//! under 64 MB. Measure it.").
//!
//! Not a timing bench: a counting global allocator (live heap bytes, exact
//! and repeatable, unlike RSS) measures the limiters of `http::rate_limit`
//! while 1,000,000 distinct anonymous callers each make one request, all at
//! one instant of the engine's clock: no key is ever idle, so pruning idle
//! keys frees nothing and only the key cap bounds memory (the worst case; at
//! any real arrival rate keys of one request go idle within one request's
//! share of the minute, 0.6 s for the catalogue's 100/min). Rows:
//! - **baseline, no cap**: the same limiter with its key cap lifted (only
//!   idle keys pruned, as before issue 14): what the flood costs unbounded;
//! - **catalogue, IPv4**: the catalogue group's limiter as served;
//! - **catalogue, IPv6**: 1,000,000 distinct /64 networks;
//! - **every anonymous group**: the whole `RateLimits` of the default
//!   settings, each flooded address sending a login, a registration and a
//!   catalogue read (3,000,000 checks).
//!
//! Each row: peak and final live heap of the limiter(s), keys held at the
//! end. Then, a minute later and one prune later, what is left.
//!
//! Last, the failed-login throttle (`actors::accounts::throttle`) under
//! 1,000,000 failed logins on one account, each from another address:
//! its (account, address) trails are capped at `MAX_TRACKED_LOGIN_SOURCES`.
//!
//! Run: `cargo bench --bench limiter_memory`.

use boxoffice_actors::accounts::throttle::MAX_TRACKED_LOGIN_SOURCES;
use boxoffice_actors::accounts::LoginThrottle;
use boxoffice_actors::{Clock, ManualClock};
use boxoffice_engine::Timestamp;
use boxoffice_http::rate_limit::{
    Caller, EngineClock, KeyedLimiter, LimitedAction, RateLimitSettings, RateLimits,
    MAX_KEYS_PER_LIMITER, PRUNE_EVERY_CHECKS,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

/// Live heap bytes, counted on every allocation and free, and their peak.
struct Counting;
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static PEAK_BYTES: AtomicIsize = AtomicIsize::new(0);

fn grew(by: isize) {
    let now = LIVE_BYTES.fetch_add(by, Ordering::Relaxed) + by;
    PEAK_BYTES.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size() as isize);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size as isize - layout.size() as isize);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The flood and target.
const ADDRESSES: u32 = 1_000_000;
const TARGET_BYTES: isize = 64 << 20;
/// 2026-12-06T00:00:00Z.
const START: Timestamp = Timestamp(1_796_515_200_000);

fn live() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

fn ipv4(n: u32) -> IpAddr {
    // Spread over the whole space, as a botnet's addresses would be.
    IpAddr::V4(Ipv4Addr::from(n.wrapping_mul(2_654_435_761)))
}

fn ipv6(n: u32) -> IpAddr {
    let network = u128::from(n.wrapping_mul(2_654_435_761)) << 64 | 0x2001_0db8 << 96;
    IpAddr::V6(Ipv6Addr::from(network | u128::from(n)))
}

struct Row {
    name: &'static str,
    peak: isize,
    end: isize,
    keys: usize,
    after_idle: isize,
    keys_after_idle: usize,
}

/// Floods `check` with one request per address, then lets a minute pass and
/// makes one prune happen; measures the heap `check`'s limiters own.
fn measure(
    name: &'static str,
    clock: &ManualClock,
    address: fn(u32) -> IpAddr,
    build: impl FnOnce() -> Box<dyn Limiters>,
) -> Row {
    let before = live();
    PEAK_BYTES.store(before, Ordering::Relaxed);
    let limiters = build();
    for n in 0..ADDRESSES {
        limiters.check(Caller::anonymous(address(n)));
    }
    let peak = PEAK_BYTES.load(Ordering::Relaxed) - before;
    let end = live() - before;
    let keys = limiters.keys();
    // A minute later every flooded key is idle; the next prune drops them.
    clock.advance_ms(61_000);
    for _ in 0..PRUNE_EVERY_CHECKS {
        limiters.check(Caller::anonymous(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
    let row = Row {
        name,
        peak,
        end,
        keys,
        after_idle: live() - before,
        keys_after_idle: limiters.keys(),
    };
    drop(limiters);
    row
}

trait Limiters {
    fn check(&self, caller: Caller);
    fn keys(&self) -> usize;
}

impl Limiters for KeyedLimiter<Caller> {
    fn check(&self, caller: Caller) {
        KeyedLimiter::check(self, &caller);
    }
    fn keys(&self) -> usize {
        self.keys_tracked()
    }
}

impl Limiters for RateLimits {
    fn check(&self, caller: Caller) {
        for action in [
            LimitedAction::Login,
            LimitedAction::Register,
            LimitedAction::Catalogue,
        ] {
            RateLimits::check(self, action, caller);
        }
    }
    fn keys(&self) -> usize {
        self.keys_tracked()
    }
}

/// The failed-login throttle's heap after a guess from every address: (peak, end, tracked).
fn measure_login_throttle(address: fn(u32) -> IpAddr) -> (isize, isize, (usize, usize)) {
    let before = live();
    PEAK_BYTES.store(before, Ordering::Relaxed);
    let mut throttle = LoginThrottle::default();
    for n in 0..ADDRESSES {
        let _ = throttle.check("victim@example.com", address(n), START);
        throttle.record_failure("victim@example.com", address(n), START);
    }
    let peak = PEAK_BYTES.load(Ordering::Relaxed) - before;
    (peak, live() - before, throttle.tracked())
}

fn mib(bytes: isize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn main() {
    let clock = ManualClock::new(START);
    let engine_clock = || EngineClock::new(Arc::new(clock.clone()) as Arc<dyn Clock>);
    let catalogue = RateLimitSettings::default().catalogue_per_minute;
    let rows = [
        measure("baseline, no cap (IPv4)", &clock, ipv4, || {
            Box::new(KeyedLimiter::<Caller>::with_capacity(
                catalogue,
                engine_clock(),
                usize::MAX,
            ))
        }),
        measure("catalogue, IPv4", &clock, ipv4, || {
            Box::new(KeyedLimiter::<Caller>::per_minute(
                catalogue,
                engine_clock(),
            ))
        }),
        measure("catalogue, IPv6 /64s", &clock, ipv6, || {
            Box::new(KeyedLimiter::<Caller>::per_minute(
                catalogue,
                engine_clock(),
            ))
        }),
        measure("every anonymous group (IPv4)", &clock, ipv4, || {
            Box::new(RateLimits::new(
                &RateLimitSettings::default(),
                Arc::new(clock.clone()),
            ))
        }),
    ];
    println!(
        "limiter memory: {ADDRESSES} distinct addresses at one instant; cap {MAX_KEYS_PER_LIMITER} keys per limiter"
    );
    println!(
        "{:<30} {:>11} {:>11} {:>10} {:>18} {:>12}",
        "flood", "peak heap", "end heap", "keys", "heap, idle+prune", "keys left"
    );
    for row in &rows {
        println!(
            "{:<30} {:>11} {:>11} {:>10} {:>18} {:>12}",
            row.name,
            mib(row.peak),
            mib(row.end),
            row.keys,
            mib(row.after_idle),
            row.keys_after_idle
        );
    }
    let (throttle_peak, throttle_end, (pairs, accounts)) = measure_login_throttle(ipv4);
    println!(
        "{:<30} {:>11} {:>11} {:>10}   ({pairs} account-address trails, {accounts} account; cap {MAX_TRACKED_LOGIN_SOURCES})",
        "login throttle, one account",
        mib(throttle_peak),
        mib(throttle_end),
        pairs
    );
    let baseline = rows[0].peak as f64;
    for row in &rows[1..] {
        println!(
            "{}: peak {} = {:.3} x the uncapped baseline; target < {} : {}",
            row.name,
            mib(row.peak),
            row.peak as f64 / baseline,
            mib(TARGET_BYTES),
            if row.peak < TARGET_BYTES {
                "met"
            } else {
                "NOT MET"
            }
        );
    }
    println!(
        "login throttle: peak {} ; target < {} : {}",
        mib(throttle_peak),
        mib(TARGET_BYTES),
        if throttle_peak < TARGET_BYTES {
            "met"
        } else {
            "NOT MET"
        }
    );
    if rows[1..].iter().any(|row| row.peak >= TARGET_BYTES) || throttle_peak >= TARGET_BYTES {
        std::process::exit(1);
    }
}
