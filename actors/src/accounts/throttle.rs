//! The login throttle: counts of recent failed logins per account *and
//! source address*, with a higher per-account ceiling, so that password
//! guessing is slowed without anyone being able to lock an owner out
//! (API.md, Conventions). Memory only (see [`LoginThrottle`] for why); the
//! accounts actor owns one and consults it on every login.
//!
//! The rule, and why:
//! - An address may fail [`MAX_LOGIN_FAILURES`] times within
//!   [`LOGIN_FAILURE_WINDOW_MS`] for one account; its next attempts on that
//!   account are refused (429) until its oldest failure leaves the window.
//! - Past [`MAX_ACCOUNT_FAILURES`] failures in the window across all
//!   addresses (the ceiling, a GCRA-style level: one failure is worth
//!   `window / ceiling`), an address with *any* recent failure for that
//!   account is refused. So an attacker spreading guesses over many
//!   addresses gets 10 guesses per address and window while the account is
//!   below the ceiling, and one per fresh address once it is above it.
//! - An address with no recent failure for the account is never refused,
//!   ceiling or not: its password is verified. This is what keeps the owner
//!   in: guessing from elsewhere cannot lock them out (the old per-email
//!   throttle refused even the right password for 15 minutes after 10
//!   guesses from anywhere, a denial of service anyone knowing an email
//!   could run). The price is that each fresh address costs one
//!   verification; the per-address route limit on login (HTTP layer) and the
//!   hashing permits bound that cost.
//! - A success clears that address's failures for the account, not the
//!   account's level: the owner logging in does not reset an attack.
//!
//! Memory is bounded by [`MAX_TRACKED_LOGIN_SOURCES`] (account, address)
//! trails and [`MAX_TRACKED_LOGIN_ACCOUNTS`] account levels; past either,
//! the eighth whose last failures are oldest are forgotten (`benches/limiter_memory.rs`
//! measures a spray from 1,000,000 addresses). Unknown emails are
//! counted like known ones, so the answers reveal nothing about which exist.
//!
//! [`LoginTurns`] makes the logins of one (account, address) take turns, so
//! that the throttle's check, the password verification and the failure
//! count act as one step (see [`LoginTurns::take`] for why). The registry
//! owns one; the login operation (`super::Registry::login`) holds a turn
//! throughout.

use boxoffice_engine::Timestamp;
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

use super::model::{normalize_email, MAX_EMAIL_LEN};

/// Failed logins of one account from one address within
/// [`LOGIN_FAILURE_WINDOW_MS`] after which that address's logins to that
/// account are refused until the oldest of them leaves the window.
pub const MAX_LOGIN_FAILURES: usize = 10;
/// Failed logins of one account from all addresses within the window past
/// which an address with any recent failure for it is refused (the
/// per-account ceiling against guesses spread over many addresses).
pub const MAX_ACCOUNT_FAILURES: u32 = 100;
/// The sliding window failed logins are counted in: 15 minutes.
pub const LOGIN_FAILURE_WINDOW_MS: i64 = 15 * 60 * 1_000;
/// Most (account, address) pairs whose failures are tracked at once (about
/// 220 bytes each with the table's slack: 21 MiB at the cap, 30 MiB at the
/// peak of a spray from 1,000,000 addresses, `benches/limiter_memory.rs`); past it the pair whose last failure is oldest is
/// forgotten, so a spray over many addresses cannot grow memory without end.
pub const MAX_TRACKED_LOGIN_SOURCES: usize = 100_000;
/// Most accounts whose ceiling level is tracked at once (under a hundred
/// bytes each); past it the stalest is forgotten.
pub const MAX_TRACKED_LOGIN_ACCOUNTS: usize = 100_000;

/// What one failure adds to an account's level: the ceiling's share of the window.
const ACCOUNT_FAILURE_COST_MS: i64 = LOGIN_FAILURE_WINDOW_MS / MAX_ACCOUNT_FAILURES as i64;

/// Where a login comes from: the client address the HTTP layer resolved.
pub type LoginSource = IpAddr;

/// Failed-login counts per (account, address) and per account, in memory only.
///
/// Not logged, on purpose: a failed login is not a change anyone was promised
/// would survive, logging every one would let an attacker turn password
/// guessing into disk writes, and a restart forgetting at most 15 minutes of
/// failures costs little (the window is short and restarts are rare).
#[derive(Debug)]
pub struct LoginThrottle {
    /// The latest failures (oldest first, at most `MAX_LOGIN_FAILURES`) per
    /// (account key, address).
    sources: Stalest<(AccountKey, LoginSource), VecDeque<Timestamp>>,
    /// Per account key: the instant its level is back to zero (a GCRA
    /// "theoretical arrival time"): `level = tat - now`, over the ceiling
    /// once it reaches the window.
    accounts: Stalest<AccountKey, Timestamp>,
    /// Keys emails: a per-process random SipHash key, so nobody can choose
    /// two emails that share a key.
    hasher: RandomState,
}

/// A normalized email as the throttle keys it: its 64-bit keyed hash, so an
/// entry holds no string (a few dozen bytes instead of a few hundred under a
/// spray). Two emails sharing one is a 2^-64 event per pair and would only
/// share a throttle.
type AccountKey = u64;

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::with_capacities(MAX_TRACKED_LOGIN_SOURCES, MAX_TRACKED_LOGIN_ACCOUNTS)
    }
}

impl LoginThrottle {
    pub fn with_capacities(sources: usize, accounts: usize) -> Self {
        LoginThrottle {
            sources: Stalest::with_capacity(sources),
            accounts: Stalest::with_capacity(accounts),
            hasher: RandomState::new(),
        }
    }

    fn key(&self, email: &str) -> AccountKey {
        self.hasher.hash_one(email)
    }

    /// (account, address) pairs and accounts currently tracked.
    pub fn tracked(&self) -> (usize, usize) {
        (self.sources.len(), self.accounts.len())
    }

    /// `Err(seconds to wait)` when `source` may not try `email` now (see the
    /// module doc); always `Ok` for an address without recent failures.
    pub fn check(&mut self, email: &str, source: LoginSource, now: Timestamp) -> Result<(), u64> {
        let account = self.key(email);
        let key = (account, source);
        let Some(failures) = self.sources.get_mut(&key) else {
            return Ok(());
        };
        forget_before(failures, now);
        let (Some(&oldest), Some(&newest)) = (failures.front(), failures.back()) else {
            self.sources.remove(&key);
            return Ok(());
        };
        let wait_until = if failures.len() >= MAX_LOGIN_FAILURES {
            oldest
        } else if self.over_ceiling(account, now) {
            // Refused until this address has no recent failure left.
            newest
        } else {
            return Ok(());
        };
        let wait_ms = wait_until
            .plus_millis(LOGIN_FAILURE_WINDOW_MS)
            .millis_since(now)
            .max(1);
        // Round up: a client retrying after the advertised wait must get in.
        Err((wait_ms as u64).div_ceil(1_000))
    }

    fn over_ceiling(&self, account: AccountKey, now: Timestamp) -> bool {
        self.accounts
            .get(&account)
            .is_some_and(|tat| tat.millis_since(now) >= LOGIN_FAILURE_WINDOW_MS)
    }

    /// Counts one failure of `source` on `email`. Emails longer than any
    /// account's are not tracked: they can never log in, so there is nothing
    /// to protect, and tracking them would let huge strings fill the table.
    pub fn record_failure(&mut self, email: &str, source: LoginSource, now: Timestamp) {
        if email.len() > MAX_EMAIL_LEN {
            return;
        }
        let account = self.key(email);
        let failures = self.sources.touch((account, source), now, VecDeque::new);
        forget_before(failures, now);
        failures.push_back(now);
        while failures.len() > MAX_LOGIN_FAILURES {
            failures.pop_front();
        }
        let tat = self.accounts.touch(account, now, || now);
        // The level never exceeds the window plus one failure: past the
        // ceiling more failures change nothing, and a capped level drains in
        // at most 15 minutes once the guessing stops.
        let start = if tat.millis_since(now) > 0 { *tat } else { now };
        let next = start.plus_millis(ACCOUNT_FAILURE_COST_MS);
        let cap = now.plus_millis(LOGIN_FAILURE_WINDOW_MS + ACCOUNT_FAILURE_COST_MS);
        *tat = if next.millis_since(cap) > 0 {
            cap
        } else {
            next
        };
    }

    /// Forgets `source`'s failures on `email` (a successful login from it).
    pub fn forget(&mut self, email: &str, source: LoginSource) {
        let key = (self.key(email), source);
        self.sources.remove(&key);
    }
}

fn forget_before(failures: &mut VecDeque<Timestamp>, now: Timestamp) {
    while let Some(&oldest) = failures.front() {
        if now.millis_since(oldest) < LOGIN_FAILURE_WINDOW_MS {
            break;
        }
        failures.pop_front();
    }
}

/// A map of at most `capacity` entries that, when a new one would not fit,
/// forgets the eighth of its entries touched least recently (one selection,
/// linear in the map, per eighth of the capacity: constant per new entry).
#[derive(Debug)]
struct Stalest<K, V> {
    /// Each entry with its last touch.
    entries: HashMap<K, (V, Timestamp)>,
    capacity: usize,
}

/// The share of a full [`Stalest`] forgotten at once: 1/8.
const FORGET_SHARE_DIVISOR: usize = 8;

impl<K: Hash + Eq, V> Stalest<K, V> {
    fn with_capacity(capacity: usize) -> Self {
        assert!(
            capacity > 0,
            "a login throttle must track at least one entry"
        );
        Stalest {
            entries: HashMap::new(),
            capacity,
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(value, _)| value)
    }

    fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.entries.get_mut(key).map(|(value, _)| value)
    }

    fn remove(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// The entry of `key` (made by `new` if absent, after forgetting the
    /// stalest ones at capacity), marked as touched at `now`.
    fn touch(&mut self, key: K, now: Timestamp, new: impl FnOnce() -> V) -> &mut V {
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.forget_stalest();
        }
        let entry = self.entries.entry(key).or_insert_with(|| (new(), now));
        entry.1 = now;
        &mut entry.0
    }

    fn forget_stalest(&mut self) {
        let mut touched: Vec<Timestamp> = self.entries.values().map(|(_, t)| *t).collect();
        if touched.is_empty() {
            return;
        }
        let share = (touched.len() / FORGET_SHARE_DIVISOR).max(1);
        let threshold = *touched.select_nth_unstable(share - 1).1;
        // Exactly `share` entries, even when many were touched at once.
        let mut left = share;
        self.entries.retain(|_, (_, t)| {
            let forget = *t <= threshold && left > 0;
            left -= usize::from(forget);
            !forget
        });
    }
}

/// One gate per (account email, address) with a login in flight. Entries
/// leave with the last login that uses them, so the map holds at most one
/// entry per concurrent login.
#[derive(Debug, Default)]
pub struct LoginTurns {
    gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The right to log in to one account from one address now; the next such
/// login waits until this is dropped.
#[derive(Debug)]
pub struct LoginTurn<'a> {
    // Declared first so it is dropped first: the gate is released before
    // `_entry` decides whether anyone still needs it.
    _turn: OwnedMutexGuard<()>,
    _entry: GateEntry<'a>,
}

/// One login's use of a gate. Removes the gate from the map when the last
/// login using it is done, also when a waiting login is abandoned (its
/// request timed out or the client left), which is why it exists before the
/// turn is taken.
#[derive(Debug)]
struct GateEntry<'a> {
    turns: &'a LoginTurns,
    email: String,
    gate: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl LoginTurns {
    /// Waits for the turn of this account (emails compared normalized) and
    /// address to log in.
    ///
    /// Why: the throttle counts a failure only after the password was
    /// verified (an argon2 hash, tens of milliseconds), so without turns a
    /// burst of concurrent guesses all pass the check before the first
    /// failure is counted, and "10 failures in 15 minutes" becomes as many
    /// guesses as the burst holds. Taking turns costs an honest user nothing
    /// (one login at a time), and once an address is refused each waiting
    /// guess from it is refused by a cheap check. Turns are per address, not
    /// per account, so an attacker's queue of guesses never delays the owner
    /// logging in from elsewhere (the ceiling may then be overshot by the
    /// guesses verified at once, which the hashing permits bound).
    pub async fn take(&self, email: &str, source: LoginSource) -> LoginTurn<'_> {
        let email = format!("{} {source}", normalize_email(email));
        let gate = Arc::clone(self.lock().entry(email.clone()).or_default());
        let entry = GateEntry {
            turns: self,
            email,
            gate: Some(Arc::clone(&gate)),
        };
        LoginTurn {
            _turn: gate.lock_owned().await,
            _entry: entry,
        }
    }

    /// Emails with a login in flight.
    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        // A poisoned lock only means a thread panicked while holding it; the
        // map is still consistent (every change is one insert or remove).
        self.gates.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for GateEntry<'_> {
    fn drop(&mut self) {
        let mut gates = self.turns.lock();
        let Some(ours) = self.gate.take() else {
            return;
        };
        let current = gates
            .get(&self.email)
            .is_some_and(|gate| Arc::ptr_eq(gate, &ours));
        // Dropped under the lock, where every other entry counts too: the
        // last entry out sees only the map's reference and removes the gate.
        drop(ours);
        if current && gates.get(&self.email).map(Arc::strong_count) == Some(1) {
            gates.remove(&self.email);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timestamp = Timestamp(1_000_000_000);
    const A: LoginSource = LoginSource::V4(std::net::Ipv4Addr::new(203, 0, 113, 1));
    const B: LoginSource = LoginSource::V4(std::net::Ipv4Addr::new(203, 0, 113, 2));

    fn address(n: u32) -> LoginSource {
        LoginSource::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n))
    }

    #[test]
    fn an_address_is_refused_at_the_limit_until_its_oldest_failure_leaves_the_window() {
        let mut throttle = LoginThrottle::default();
        for n in 0..MAX_LOGIN_FAILURES as i64 {
            assert_eq!(throttle.check("a@x", A, T.plus_millis(n)), Ok(()));
            throttle.record_failure("a@x", A, T.plus_millis(n));
        }
        let last = T.plus_millis(MAX_LOGIN_FAILURES as i64 - 1);
        assert_eq!(throttle.check("a@x", A, last), Err(900));
        // Another account from that address, and that account from another
        // address (the owner), are not refused.
        assert_eq!(throttle.check("b@x", A, last), Ok(()));
        assert_eq!(throttle.check("a@x", B, last), Ok(()));
        // One millisecond before the first failure is 15 minutes old: still refused, 1 s to wait.
        let almost = T.plus_millis(LOGIN_FAILURE_WINDOW_MS - 1);
        assert_eq!(throttle.check("a@x", A, almost), Err(1));
        assert_eq!(
            throttle.check("a@x", A, T.plus_millis(LOGIN_FAILURE_WINDOW_MS)),
            Ok(())
        );
    }

    #[test]
    fn past_the_ceiling_an_address_gets_one_guess_and_a_fresh_one_is_still_heard() {
        let mut throttle = LoginThrottle::default();
        // Guesses spread over addresses, 5 each, stay below the per-address limit.
        let per_address = 5;
        let spread = MAX_ACCOUNT_FAILURES as usize / per_address;
        for n in 0..spread as u32 {
            for _ in 0..per_address {
                assert_eq!(throttle.check("a@x", address(n), T), Ok(()));
                throttle.record_failure("a@x", address(n), T);
            }
        }
        // The ceiling is reached: every address with a failure is refused
        // until its last failure leaves the window...
        assert_eq!(throttle.check("a@x", address(0), T), Err(900));
        assert_eq!(
            throttle.check("a@x", address(spread as u32 - 1), T),
            Err(900)
        );
        // ...a fresh address is heard once (the owner's right password gets in)...
        let fresh = address(1_000);
        assert_eq!(throttle.check("a@x", fresh, T), Ok(()));
        throttle.record_failure("a@x", fresh, T);
        // ...and refused after one failure.
        assert!(throttle.check("a@x", fresh, T).is_err());
        // Other accounts are not affected.
        assert_eq!(throttle.check("b@x", address(0), T), Ok(()));
        // Once the guessing stops the level drains: after the window, all is heard again.
        let later = T.plus_millis(LOGIN_FAILURE_WINDOW_MS);
        assert_eq!(throttle.check("a@x", address(0), later), Ok(()));
    }

    #[test]
    fn a_success_forgets_its_address_not_the_ceiling_and_stale_entries_are_evicted() {
        let mut throttle = LoginThrottle::with_capacities(2, 2);
        for _ in 0..MAX_LOGIN_FAILURES {
            throttle.record_failure("a@x", A, T);
        }
        assert!(throttle.check("a@x", A, T).is_err());
        throttle.forget("a@x", A);
        assert_eq!(throttle.check("a@x", A, T), Ok(()));
        assert_eq!(throttle.tracked(), (0, 1));

        throttle.record_failure("old@x", A, T);
        throttle.record_failure("new@x", A, T.plus_millis(1));
        throttle.record_failure("old@x", A, T.plus_millis(2)); // old@x is now the freshest
        throttle.record_failure("third@x", A, T.plus_millis(3));
        assert_eq!(throttle.tracked(), (2, 2));
        let old = (throttle.key("old@x"), A);
        assert_eq!(throttle.sources.get(&old).map(VecDeque::len), Some(2));
        let new = (throttle.key("new@x"), A);
        assert!(throttle.sources.get(&new).is_none());
        let a = throttle.key("a@x");
        assert!(
            throttle.accounts.get(&a).is_none(),
            "the stalest account went"
        );
    }

    #[actix_rt::test]
    async fn logins_of_one_account_take_turns_and_leave_no_gate_behind() {
        let turns = LoginTurns::default();
        let wait = std::time::Duration::from_millis(20);
        let first = turns.take("Kim@Example.com", A).await;
        // Another account is not held up.
        let other = tokio::time::timeout(wait, turns.take("lee@example.com", A)).await;
        assert!(other.is_ok(), "another account's login does not wait");
        drop(other);
        // Nor is the same account from another address (the owner, while
        // an attacker's guesses queue up).
        let elsewhere = tokio::time::timeout(wait, turns.take("kim@example.com", B)).await;
        assert!(elsewhere.is_ok(), "another address's login does not wait");
        drop(elsewhere);
        // The same account (compared normalized) waits; this waiter gives up.
        let second = tokio::time::timeout(wait, turns.take(" kim@EXAMPLE.com", A)).await;
        assert!(second.is_err(), "a second login of one account waits");
        assert_eq!(turns.in_flight(), 1);
        drop(first);
        assert_eq!(turns.in_flight(), 0, "the abandoned waiter left no gate");
        let again = tokio::time::timeout(wait, turns.take("kim@example.com", A)).await;
        assert!(again.is_ok(), "the turn is free once released");
        drop(again);
        assert_eq!(turns.in_flight(), 0);
    }

    #[test]
    fn throttle_ignores_emails_no_account_can_have() {
        let mut throttle = LoginThrottle::default();
        let huge = "x".repeat(MAX_EMAIL_LEN + 1);
        for _ in 0..MAX_LOGIN_FAILURES {
            throttle.record_failure(&huge, A, T);
        }
        assert_eq!(throttle.tracked(), (0, 0));
    }
}
